"""Spotify's Accounts service, as a part of :class:`~.server.SpotifySimulator`: the consent page
(``/authorize``), the token endpoint (``/api/token``: authorization codes with PKCE, refresh
tokens) and the app's credentials as tests read them. The tokens themselves are in :mod:`.tokens`."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from .faults import FaultPlan, Faults
from .tokens import TokenStore
from .wsgi import Reply, oauth_error


class AccountsService:
    """The Accounts service's endpoints and what tests read of the app's credentials."""

    if TYPE_CHECKING:  # what the simulator gives it (see SpotifySimulator)
        _tokens: TokenStore
        _lock: threading.Lock
        _plan: FaultPlan
        consent: str
        consenting_user: int
        granted_scopes: list[str]
        token_requests: int

        @property
        def faults(self) -> Faults: ...

        @property
        def accounts_url(self) -> str: ...

    @property
    def client_id(self) -> str:
        return self._tokens.client_id

    @property
    def client_secret(self) -> str:
        return self._tokens.client_secret

    @property
    def refresh_token(self) -> str:
        """The refresh token that works now (the newest one when tokens rotate)."""
        return self._tokens.refresh_token

    @property
    def issued_access_tokens(self) -> list[str]:
        return list(self._tokens.issued_access_tokens)

    @property
    def authorize_url(self) -> str:
        return f"{self.accounts_url}/authorize"

    def register_redirect_uri(self, uri: str) -> None:
        """Add a redirect URI to the app, as in Spotify's developer dashboard."""
        self._tokens.redirect_uris.add(uri)

    def issue_refresh_token(self, scope: str) -> str:
        """Another valid refresh token, granting only ``scope`` (space-separated), as if the user
        had authorized the app for it; ``refresh_token`` (and ``exporter_env``) stay as they are."""
        return self._tokens.mint_refresh_token(scope)

    def revoke_refresh_tokens(self) -> None:
        """Every refresh token answers ``invalid_grant`` from now on (as after 6 months, or a revoked app)."""
        self._tokens.revoke_refresh_tokens()

    def _authorize(self, request: Request) -> Response:
        """The consent page, answered at once as the user would: ``consent`` says allow or deny.

        Like Spotify, a bad client id or an unregistered redirect URI gets an error page, never
        a redirect; otherwise the browser is sent back with ``code`` (or ``error``) and ``state``.
        """
        query = request.args
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self._tokens.client_id:
            return Response("INVALID_CLIENT: Invalid client", status=400, content_type="text/plain")
        if redirect_uri not in self._tokens.redirect_uris:
            return Response("INVALID_CLIENT: Invalid redirect URI", status=400, content_type="text/plain")
        if query.get("response_type") != "code":
            return Response("unsupported_response_type", status=400, content_type="text/plain")
        if query.get("code_challenge") and query.get("code_challenge_method") != "S256":
            return Response("code_challenge_method must be S256", status=400, content_type="text/plain")
        answer: dict[str, str] = {}
        if self.consent == "allow":
            scope = query.get("scope", "")
            challenge = query.get("code_challenge", "")
            answer["code"] = self._tokens.new_code(redirect_uri, challenge, scope, self.consenting_user)
            self.granted_scopes = scope.split()
        else:
            answer["error"] = "access_denied"
        if "state" in query:
            answer["state"] = query["state"]
        return redirect(f"{redirect_uri}?{urlencode(answer)}", code=302)

    def _token(self, request: Request, routing_error: HTTPException | None) -> Reply:
        with self._lock:
            self.token_requests += 1
        if routing_error is not None:
            return oauth_error(405, "invalid_request", "Only POST is supported")
        if self.faults.token_redirect:
            return Reply(307, None, {"Location": self.faults.token_redirect})
        if self._plan.token_fails():
            return oauth_error(503, "server_error", "The server is temporarily unavailable")
        form = {key: request.form[key] for key in request.form}
        if not self._tokens.client_ok(request.headers.get("Authorization"), form):
            return oauth_error(401, "invalid_client", "Invalid client")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            if not form.get("code") or not form.get("redirect_uri"):
                return oauth_error(400, "invalid_request", "code and redirect_uri must be supplied")
            exchanged = self._tokens.exchange(form["code"], form["redirect_uri"], form.get("code_verifier", ""))
            if isinstance(exchanged, str):
                return oauth_error(400, "invalid_grant", exchanged)
            return Reply(200, exchanged)
        if grant != "refresh_token":
            return oauth_error(400, "unsupported_grant_type", "grant_type must be refresh_token or authorization_code")
        if not form.get("refresh_token"):
            return oauth_error(400, "invalid_request", "refresh_token must be supplied")
        body = self._tokens.refresh(form["refresh_token"])
        if body is None:
            return oauth_error(400, "invalid_grant", "Invalid refresh token")
        return Reply(200, body)
