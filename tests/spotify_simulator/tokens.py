"""The Accounts service's state: app credentials, refresh tokens and issued access tokens.

Credentials are random per simulator (they are fake, but a test that looks for leaked secrets
needs values that cannot appear by accident).

Every token carries the scopes it was granted: a code grants what the authorize request asked
for, a refresh token keeps its code's scopes (also when it rotates), an access token has its
refresh token's. The refresh token a simulator starts with grants ``DEFAULT_SCOPES``, reads and
writes, so a test needs no authorization to restore. Write endpoints check scopes (403
"Insufficient client scope"); reads never did and do not.

One app may be used by several people (a development-mode app admits up to five allow-listed
users): every refresh token, code and access token also carries the index of the user it was
issued to, and an access token reads and writes that user's account only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

SCOPES = "playlist-read-private playlist-read-collaborative user-follow-read user-library-read user-read-private"
WRITE_SCOPES = "playlist-modify-public playlist-modify-private user-library-modify user-follow-modify ugc-image-upload"
#: what the simulator's first refresh token grants: every read and write the simulator serves
DEFAULT_SCOPES = f"{SCOPES} {WRITE_SCOPES}"


class TokenStore:
    def __init__(self, lifetime_s: int, rotate: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self.client_id = secrets.token_hex(16)
        self.client_secret = secrets.token_hex(16)
        self.lifetime_s = lifetime_s
        self.rotate = rotate
        self._clock = clock
        self._lock = threading.Lock()
        self.refresh_token = self._new_refresh_token()
        self._valid_refresh = {self.refresh_token: DEFAULT_SCOPES}  # token -> granted scope
        self._access: dict[str, float] = {}  # token -> expiry on the clock
        self._access_scopes: dict[str, frozenset[str]] = {}
        #: whose account a token opens (an index into the simulator's users; 0 is the first user)
        self._refresh_user: dict[str, int] = {self.refresh_token: 0}
        self._access_user: dict[str, int] = {}
        #: the refresh token that works now, per user (the newest one when tokens rotate)
        self.current_refresh: dict[int, str] = {0: self.refresh_token}
        self.issued_access_tokens: list[str] = []
        #: redirect URIs registered for the app in the (simulated) developer dashboard
        self.redirect_uris = {"http://127.0.0.1:8888/callback"}
        self._codes: dict[str, tuple[str, str, str]] = {}  # code -> (redirect_uri, challenge, scope)
        self._code_user: dict[str, int] = {}

    @staticmethod
    def _new_refresh_token() -> str:
        return "AQ" + secrets.token_urlsafe(96)

    def client_ok(self, authorization: str | None, form: dict[str, str]) -> bool:
        """HTTP Basic ``client_id:client_secret``, or both in the form body."""
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            client_id, _, client_secret = decoded.partition(":")
        return client_id == self.client_id and client_secret == self.client_secret

    def refresh(self, refresh_token: str) -> dict[str, Any] | None:
        """A token response, or None for an unknown, used (rotation) or revoked refresh token."""
        with self._lock:
            scope = self._valid_refresh.get(refresh_token)
            if scope is None:
                return None
            user = self._refresh_user.get(refresh_token, 0)
            body: dict[str, Any] = {
                "access_token": self._new_access_token(scope, user),
                "token_type": "Bearer",
                "expires_in": self.lifetime_s,
                "scope": scope,
            }
            if self.rotate:
                del self._valid_refresh[refresh_token]
                body["refresh_token"] = self._grant_refresh_token(scope, user)
            return body

    def _grant_refresh_token(self, scope: str, user: int) -> str:
        """A new refresh token of ``user``, from now on that user's current one (call with the lock held)."""
        token = self._new_refresh_token()
        self._valid_refresh[token] = scope
        self._refresh_user[token] = user
        self.current_refresh[user] = token
        if user == 0:
            self.refresh_token = token
        return token

    def _new_access_token(self, scope: str, user: int = 0) -> str:
        access = "BQ" + secrets.token_urlsafe(96)
        self._access[access] = self._clock() + self.lifetime_s
        self._access_scopes[access] = frozenset(scope.split())
        self._access_user[access] = user
        self.issued_access_tokens.append(access)
        return access

    def mint_refresh_token(self, scope: str, user: int | None = None) -> str:
        """A further valid refresh token granting ``scope`` (space-separated), as another authorization would.

        With ``user`` it becomes that user's current token (a person joining the app); without, it is
        an extra token of the first user that leaves ``refresh_token`` as it is."""
        with self._lock:
            if user is not None:
                return self._grant_refresh_token(scope, user)
            token = self._new_refresh_token()
            self._valid_refresh[token] = scope
            self._refresh_user[token] = 0
        return token

    def user_of(self, authorization: str | None) -> int:
        """The user a (valid) bearer token belongs to."""
        token = (authorization or "")[7:].strip()
        with self._lock:
            return self._access_user.get(token, 0)

    def scopes(self, authorization: str | None) -> frozenset[str]:
        """The scopes of a (valid) bearer token; empty for an unknown one."""
        token = (authorization or "")[7:].strip()
        with self._lock:
            return self._access_scopes.get(token, frozenset())

    def new_code(self, redirect_uri: str, challenge: str, scope: str, user: int = 0) -> str:
        """An authorization code, usable once, bound to the redirect URI and PKCE challenge, for ``user``."""
        code = "AQ" + secrets.token_urlsafe(48)
        with self._lock:
            self._codes[code] = (redirect_uri, challenge, scope)
            self._code_user[code] = user
        return code

    def exchange(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any] | str:
        """Tokens for a code, or the ``invalid_grant`` description Spotify would give."""
        with self._lock:
            bound = self._codes.pop(code, None)
            user = self._code_user.pop(code, 0)
            if bound is None:
                return "Invalid authorization code"
            expected_uri, challenge, scope = bound
            if redirect_uri != expected_uri:
                return "Invalid redirect URI"
            if challenge:
                digest = hashlib.sha256(verifier.encode()).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
                    return "code_verifier was incorrect"
            access = self._new_access_token(scope, user)
            return {
                "access_token": access,
                "token_type": "Bearer",
                "expires_in": self.lifetime_s,
                "scope": scope,
                "refresh_token": self._grant_refresh_token(scope, user),
            }

    def access_problem(self, authorization: str | None) -> str | None:
        """None when the bearer token is good, else Spotify's 401 message."""
        if not authorization or not authorization.startswith("Bearer "):
            return "No token provided"
        with self._lock:
            expiry = self._access.get(authorization[7:].strip())
        if expiry is None:
            return "Invalid access token"
        if self._clock() >= expiry:
            return "The access token expired"
        return None

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._valid_refresh.clear()
