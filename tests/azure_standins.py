"""Pytest plugin: stand-ins for the Azure endpoints that deploying and triggering the function app use.

Registered by ``pytest_plugins = ["azure_standins"]`` (needs ``keyvault_standin`` for the CA).
Each is a real HTTPS server on 127.0.0.1 speaking exactly the calls our scripts make, so the
real ``requests`` code runs, TLS verification included:

* **SCM site** (``<app>.scm.<region>.azurewebsites.net``): ``POST /api/publish?RemoteBuild=false``
  with a zip body answers 202 with the deployment id (body and ``Location``), as Flex
  Consumption's "one deploy" does; ``GET /api/deployments/{id|latest}`` and ``.../log`` report
  Kudu's statuses (-1 cancelled, 0 pending, 1 building, 2 deploying, 3 failed, 4 success,
  5 conflict, 6 partial success) as scripted by :class:`DeploymentScript`. Basic auth is
  refused, as on apps with basic auth disabled, and so are tokens for any audience but App
  Service's (what the Azure CLI sends to Kudu; ARM tokens are deprecated there).
  What Azure does that a naive client does not expect, each switchable from a test:
  a failed deployment answers 404 by id (Azure/azure-dev issue 4439), so only
  ``/api/deployments/latest`` tells its fate; a deployment may show up in ``latest`` a few polls
  late; while the app's role assignment "propagates" (:attr:`AzureStandIn.storage_refuses_until`)
  every deployment fails with storage's 403, as logged by Flex Consumption
  (Azure/azure-functions-core-tools issue 4346); and a cold SCM site answers 503 from its front
  end (:attr:`AzureStandIn.cold_until`). Both use the stand-in's clock, which tests share with
  the client so minutes pass without sleeping.
* **Azure Resource Manager**: ``GET .../Microsoft.Web/sites/{app}`` (host names in
  ``hostNameSslStates``, the Python runtime in ``functionAppConfig``) and
  ``POST .../sites/{app}/host/default/listkeys`` (``masterKey``).
* **The function app**: ``POST /admin/functions/{name}`` with ``x-functions-key: <master key>``
  answers 202 and runs :attr:`AzureStandIn.on_trigger` in the background, as the host queues
  the invocation.

Every Entra-protected call needs ``Authorization: Bearer <token>`` from :class:`FakeCredential`
with an accepted audience; an expired token gets 401 ``ExpiredAuthenticationToken``.
"""

from __future__ import annotations

import io
import json
import secrets
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from keyvault_standin import HOST, LocalCA, _QuietHandler, make_jwt
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

ARM_API_VERSION = "2023-12-01"
#: the audience the SCM site accepts: App Service's, as the Azure CLI asks for it (``get_bearer_token``
#: in azure-cli's appservice ``custom.py``); ARM-audience tokens are deprecated for Kudu calls
#: (microsoft/vscode-azuretools pull request 2258)
SCM_AUDIENCES = frozenset({"https://appservice.azure.com"})
ARM_AUDIENCES = frozenset({"https://management.azure.com"})
#: what Flex Consumption logs when storage refuses the app's identity (core-tools issue 4346)
STORAGE_REFUSED_LOG = (
    "Failed to upload because Azure Storage responded with Forbidden : Response status code does not indicate "
    "success: 403 (This request is not authorized to perform this operation.).."
)
TOKEN_LIFETIME_S = 3600


# -- tokens -----------------------------------------------------------------------------------


class FakeCredential:
    """A ``TokenCredential`` minting JWT-shaped tokens the stand-ins (and Azurite's ``--oauth basic``) accept.

    ``expired = True`` hands out tokens that expired an hour ago, as a stale ``az login`` would.
    """

    def __init__(self) -> None:
        self.tenant_id = str(uuid.uuid4())
        self.object_id = str(uuid.uuid4())
        self.expired = False
        self.issued: dict[str, dict[str, Any]] = {}
        self.scopes: list[str] = []
        self._lock = threading.Lock()

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        (scope,) = scopes
        now = int(time.time())
        issued_at = now - 2 * TOKEN_LIFETIME_S if self.expired else now
        token_claims: dict[str, Any] = {
            "aud": scope.removesuffix("/.default").removesuffix("/"),
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + TOKEN_LIFETIME_S,
            "oid": self.object_id,
            "sub": self.object_id,
            "tid": self.tenant_id,
            "ver": "1.0",
        }
        token = make_jwt(token_claims)
        with self._lock:
            self.issued[token] = token_claims
            self.scopes.append(scope)
        return AccessToken(token, token_claims["exp"])

    def check(self, authorization: str, audiences: frozenset[str]) -> Response | None:
        """None when ``authorization`` carries a live token of ours for one of ``audiences``, else the 401."""
        if authorization.lower().startswith("basic "):
            return _error(401, "Unauthorized", "Basic authentication is disabled for this site.")
        if not authorization.startswith("Bearer "):
            return _error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        claims = self.issued.get(authorization.removeprefix("Bearer ").strip())
        if claims is None:
            return _error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if claims["aud"] not in audiences:
            return _error(
                401, "InvalidAuthenticationTokenAudience", "The access token has been obtained for wrong audience."
            )
        if claims["exp"] <= time.time():
            return _error(
                401,
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than current UTC time.",
            )
        return None


# -- scripted deployments ---------------------------------------------------------------------


@dataclass
class DeploymentScript:
    """How the next deployment goes: ``polls`` status reads in progress, then ``final_status``
    (4 success; -1, 3, 5 or 6 not) with ``status_text`` and ``log``; ``final_status=None`` never
    finishes. ``unlisted_polls``: reads of ``latest`` that still show the previous deployment
    (or 404); ``None`` means the deployment is never listed at all."""

    polls: int = 2
    final_status: int | None = 4
    status_text: str = ""
    log: list[str] = field(default_factory=lambda: ["Starting deployment pipeline.", "Deployment successful."])
    unlisted_polls: int | None = 0


@dataclass
class Deployment:
    id: str
    package: bytes = field(repr=False)
    query: dict[str, str]
    content_type: str
    script: DeploymentScript
    polls: int = 0
    latest_reads: int = 0


@dataclass(frozen=True)
class Call:
    """One request to a stand-in, for assertions (the bearer token is kept to compare with the credential's)."""

    server: str
    method: str
    path: str
    query: dict[str, str]
    status: int
    bearer: str | None
    function_key: str | None
    body: bytes = field(repr=False)


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, {"error": {"code": code, "message": message}})


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=dict(headers or {}), content_type="application/json")


@dataclass
class FakeClock:
    """A monotonic clock that only moves when someone sleeps: minutes of Azure's patience in no time."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(seconds, 0.0)


# -- the stand-in -----------------------------------------------------------------------------


class AzureStandIn:
    """The SCM site, ARM and the function app of one Flex Consumption app, each on its own HTTPS port."""

    def __init__(
        self,
        ca: LocalCA,
        credential: FakeCredential,
        *,
        app_name: str = "spotify-exporter-func",
        subscription: str = "00000000-1111-2222-3333-444444444444",
        resource_group: str = "rg-spotify",
        functions: Iterable[str] = ("weekly_export",),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ca = ca
        self.credential = credential
        self.app_name = app_name
        self.subscription = subscription
        self.resource_group = resource_group
        self.functions = set(functions)
        self.master_key = secrets.token_urlsafe(40)
        self.clock = clock
        self.python_version = "3.12"
        self.script = DeploymentScript()
        #: until this moment of :attr:`clock`, storage refuses the app's identity (a role still propagating)
        self.storage_refuses_until = float("-inf")
        #: until this moment of :attr:`clock`, the SCM site's front end answers 503 (a cold site)
        self.cold_until = float("-inf")
        self.deployments: list[Deployment] = []
        self.calls: list[Call] = []
        #: answer the next N publish requests with 503, as a front end does while the site restarts
        self.publish_failures = 0
        #: 403 for every Entra-protected call, as for a principal without a role on the app
        self.deny_all = False
        #: what the function app runs when its admin endpoint is called (after answering 202)
        self.on_trigger: Callable[[], object] | None = None
        self.trigger_errors: list[BaseException] = []
        self._trigger_threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._servers: dict[str, BaseWSGIServer] = {}
        self._threads: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> AzureStandIn:
        context = self.ca.server_context(HOST)
        for name, app in (("scm", self._scm_app), ("arm", self._arm_app), ("app", self._function_app)):
            server = make_server(HOST, 0, app, threaded=True, request_handler=_QuietHandler, ssl_context=context)
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"azure-standin-{name}", daemon=True
            )
            thread.start()
            self._servers[name] = server
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for thread in self._trigger_threads:
            thread.join(timeout=60)
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers = {}

    def wait_for_triggers(self, timeout: float = 60) -> None:
        for thread in self._trigger_threads:
            thread.join(timeout=timeout)

    # -- addresses ----------------------------------------------------------------------------

    def _url(self, name: str) -> str:
        return f"https://{HOST}:{self._servers[name].server_port}"

    @property
    def scm_url(self) -> str:
        return self._url("scm")

    @property
    def arm_url(self) -> str:
        return self._url("arm")

    @property
    def app_url(self) -> str:
        return self._url("app")

    @property
    def site_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Web/sites/{self.app_name}"
        )

    def calls_to(self, server: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.server == server]

    # -- plumbing -----------------------------------------------------------------------------

    def _serve(
        self, server: str, environ: dict[str, Any], start_response: Any, handler: Callable[[Request], Response]
    ) -> Iterable[bytes]:
        request = Request(environ)
        body = request.get_data()  # drained even for a 401, so the connection stays usable
        response = handler(request)
        authorization = request.headers.get("Authorization", "")
        with self._lock:
            self.calls.append(
                Call(
                    server,
                    request.method,
                    request.path,
                    dict(request.args.items()),
                    response.status_code,
                    authorization.removeprefix("Bearer ").strip() if authorization.startswith("Bearer ") else None,
                    request.headers.get("x-functions-key"),
                    body,
                )
            )
        return response(environ, start_response)

    def _entra(self, request: Request, audiences: frozenset[str]) -> Response | None:
        refused = self.credential.check(request.headers.get("Authorization", ""), audiences)
        if refused is None and self.deny_all:
            return _error(
                403,
                "AuthorizationFailed",
                f"The client '{self.credential.object_id}' does not have authorization to perform this action.",
            )
        return refused

    # -- the SCM site -------------------------------------------------------------------------

    def _scm_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self._serve("scm", environ, start_response, self._scm)

    def _scm(self, request: Request) -> Response:
        if self.clock() < self.cold_until:
            return Response("Service Unavailable", status=503)  # the front end, before Kudu is up
        refused = self._entra(request, SCM_AUDIENCES)
        if refused is not None:
            return refused
        parts = [p for p in request.path.split("/") if p]
        if parts == ["api", "publish"] and request.method == "POST":
            return self._publish(request)
        if parts[:2] == ["api", "deployments"] and request.method == "GET" and len(parts) in (3, 4):
            with self._lock:
                if parts[2] == "latest":
                    found = self._latest()
                else:  # a failed Flex deployment answers 404 by id (Azure/azure-dev issue 4439)
                    found = [d for d in self.deployments if d.id == parts[2] and not self._failed(d)]
            if not found:
                return _error(404, "NotFound", f"Deployment '{parts[2]}' not found.")
            if len(parts) == 4 and parts[3] == "log":
                return _json(200, self._log(found[0]))
            if len(parts) == 3:
                return _json(200, self._status(found[0]))
        return _error(404, "NotFound", f"{request.method} {request.path} is not served by the stand-in")

    def _latest(self) -> list[Deployment]:
        """What ``/api/deployments/latest`` shows: the newest deployment once it is listed."""
        listed = []
        for deployment in self.deployments:
            deployment.latest_reads += 1
            delay = deployment.script.unlisted_polls
            if delay is not None and deployment.latest_reads > delay:
                listed.append(deployment)
        return listed[-1:]

    @staticmethod
    def _failed(deployment: Deployment) -> bool:
        script = deployment.script
        return script.final_status not in (None, 4) and deployment.polls >= script.polls

    def _publish(self, request: Request) -> Response:
        with self._lock:
            if self.publish_failures > 0:
                self.publish_failures -= 1
                return Response("Service Unavailable", status=503)
            if any(self._in_progress(d) for d in self.deployments):
                return _error(409, "Conflict", "There is a deployment currently in progress.")
        if request.args.get("RemoteBuild", "").lower() != "false":
            return _error(400, "BadRequest", "this app's package brings its dependencies: RemoteBuild=false expected")
        if request.mimetype != "application/zip":
            return Response(f"Unsupported Media Type: {request.mimetype}", status=415)
        package = request.get_data()
        try:
            zipfile.ZipFile(io.BytesIO(package)).testzip()
        except zipfile.BadZipFile:
            return _error(400, "BadRequest", "The package is not a valid zip file.")
        script = self.script
        if self.clock() < self.storage_refuses_until:  # the app's new role has not applied yet
            script = DeploymentScript(polls=1, final_status=3, status_text="Deployment Failed.", log=[
                "Starting deployment pipeline.", "Uploading package to storage.", STORAGE_REFUSED_LOG,
            ])  # fmt: skip
        deployment = Deployment(uuid.uuid4().hex, package, dict(request.args.items()), request.mimetype, script)
        with self._lock:
            self.deployments.append(deployment)
        location = f"{self.scm_url}/api/deployments/{deployment.id}"
        return Response(deployment.id, status=202, headers={"Location": location}, content_type="text/plain")

    @staticmethod
    def _in_progress(deployment: Deployment) -> bool:
        script = deployment.script
        return script.final_status is None or deployment.polls < script.polls

    def _status(self, deployment: Deployment) -> dict[str, Any]:
        with self._lock:
            deployment.polls += 1
            script = deployment.script
            done = script.final_status is not None and deployment.polls > script.polls
            status = script.final_status if done else min(deployment.polls - 1, 2)
        return {
            "id": deployment.id,
            "status": status,
            "status_text": script.status_text if done else "",
            "author": "N/A",
            "deployer": deployment.query.get("Deployer", ""),
            "message": "OneDeploy",
            "progress": "" if done else "Deploying",
            "complete": done,
            "active": done and status == 4,
            "is_temp": False,
            "is_readonly": True,
            "url": f"{self.scm_url}/api/deployments/{deployment.id}",
            "log_url": f"{self.scm_url}/api/deployments/{deployment.id}/log",  # 404 once failed, as the status
            "site_name": self.app_name,
        }

    def _log(self, deployment: Deployment) -> list[dict[str, Any]]:
        script = deployment.script
        failed = script.final_status not in (None, 4)
        return [
            {
                "log_time": "2026-11-25T00:00:00Z",
                "id": str(uuid.uuid4()),
                "message": message,
                "type": 2 if failed and index == len(script.log) - 1 else 0,
                "details_url": None,
            }
            for index, message in enumerate(script.log)
        ]

    # -- Azure Resource Manager ---------------------------------------------------------------

    def _arm_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self._serve("arm", environ, start_response, self._arm)

    def _arm(self, request: Request) -> Response:
        refused = self._entra(request, ARM_AUDIENCES)
        if refused is not None:
            return refused
        if request.args.get("api-version") != ARM_API_VERSION:
            return _error(
                400, "InvalidApiVersionParameter", f"The api-version '{request.args.get('api-version')}' is invalid."
            )
        path = request.path.rstrip("/")
        site = self.site_id.lower()
        if path.lower() == site and request.method == "GET":
            return _json(200, self._site())
        if path.lower() == site + "/host/default/listkeys" and request.method == "POST":
            return _json(
                200,
                {
                    "masterKey": self.master_key,
                    "functionKeys": {"default": secrets.token_urlsafe(30)},
                    "systemKeys": {},
                },
            )
        if path.lower().startswith(f"/subscriptions/{self.subscription.lower()}/resourcegroups/"):
            name = path.split("/sites/", 1)[-1].split("/", 1)[0]
            return _error(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Web/sites/{name}' under resource group was not found.",
            )
        return _error(404, "SubscriptionNotFound", "The subscription could not be found.")

    def _site(self) -> dict[str, Any]:
        host = self.app_url.removeprefix("https://")
        return {
            "id": self.site_id,
            "name": self.app_name,
            "type": "Microsoft.Web/sites",
            "kind": "functionapp,linux",
            "location": "westeurope",
            "properties": {
                "state": "Running",
                "defaultHostName": host,
                "hostNameSslStates": [
                    {"name": host, "hostType": "Standard"},
                    {"name": self.scm_url.removeprefix("https://"), "hostType": "Repository"},
                ],
                "sku": "FlexConsumption",
                "functionAppConfig": {"runtime": {"name": "python", "version": self.python_version}},
            },
        }

    # -- the function app ---------------------------------------------------------------------

    def _function_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return self._serve("app", environ, start_response, self._admin)

    def _admin(self, request: Request) -> Response:
        parts = [p for p in request.path.split("/") if p]
        if parts[:2] != ["admin", "functions"] or len(parts) != 3 or request.method != "POST":
            return Response(status=404)
        if request.headers.get("x-functions-key") != self.master_key:
            return Response(status=401)
        if parts[2] not in self.functions:
            return Response(status=404)
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "BadRequest", "The request body must be a JSON object.")
        if self.on_trigger is not None:
            thread = threading.Thread(target=self._run_trigger, args=(self.on_trigger,), daemon=True)
            thread.start()
            self._trigger_threads.append(thread)
        return Response(status=202)

    def _run_trigger(self, action: Callable[[], object]) -> None:
        try:
            action()
        except BaseException as exc:  # recorded for the test; a thread's exception is otherwise lost
            self.trigger_errors.append(exc)


# -- Microsoft Entra ID ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ServicePrincipal:
    client_id: str
    secret: str


class EntraStandIn:
    """The token endpoint of Microsoft Entra ID for one tenant, over HTTPS: the client credentials grant.

    MSAL (under azure-identity's ``ClientSecretCredential``) first reads the tenant's OpenID
    configuration (``/{tenant}/v2.0/.well-known/openid-configuration``), then posts
    ``grant_type=client_credentials`` with the client id, the secret and one ``scope`` to its
    ``token_endpoint``. Tokens are minted by the :class:`FakeCredential`, so the other stand-ins
    accept them; a wrong secret gets Entra's ``invalid_client`` (AADSTS7000215).
    """

    def __init__(self, ca: LocalCA, credential: FakeCredential, principal: ServicePrincipal) -> None:
        self.credential = credential
        self.principal = principal
        self.grants: list[dict[str, str]] = []
        self._server = make_server(
            HOST, 0, self._app, threaded=True, request_handler=_QuietHandler, ssl_context=ca.server_context(HOST)
        )
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def authority_host(self) -> str:
        return f"https://{HOST}:{self._server.server_port}"

    def start(self) -> EntraStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        tenant = self.credential.tenant_id
        base = f"{self.authority_host}/{tenant}"
        if request.path == f"/{tenant}/v2.0/.well-known/openid-configuration":
            response = _json(200, {
                "issuer": f"https://login.microsoftonline.com/{tenant}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "tenant_region_scope": "EU",
            })  # fmt: skip
        elif request.path == f"/{tenant}/oauth2/v2.0/token" and request.method == "POST":
            response = self._token(dict(request.form.items()))
        else:
            response = _json(400, {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found."})
        return response(environ, start_response)

    def _token(self, form: dict[str, str]) -> Response:
        self.grants.append({key: value for key, value in form.items() if key != "client_secret"})
        if form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003"})
        if form.get("client_id") != self.principal.client_id or form.get("client_secret") != self.principal.secret:
            return _json(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."})
        access = self.credential.get_token(form.get("scope", ""))
        return _json(200, {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME_S, "access_token": access.token})


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def fake_credential() -> FakeCredential:
    """A credential whose tokens the stand-ins accept (``expired = True`` for a stale login)."""
    return FakeCredential()


@pytest.fixture
def azure_standin(
    local_ca: LocalCA, fake_credential: FakeCredential, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AzureStandIn]:
    """The SCM site, ARM and the function app of one app, trusted through the session CA."""
    for name, value in local_ca.trust_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    standin = AzureStandIn(local_ca, fake_credential).start()
    try:
        yield standin
    finally:
        standin.stop()


__all__ = [
    "AzureStandIn", "Call", "DeploymentScript", "EntraStandIn", "FakeClock", "FakeCredential", "ServicePrincipal",
    "azure_standin", "fake_credential",
]  # fmt: skip
