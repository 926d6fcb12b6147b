"""Pytest plugin: a Key Vault stand-in over HTTPS and a managed-identity token endpoint on 127.0.0.1.

Registered by ``pytest_plugins = ["keyvault_standin"]``. The point is to run the real
``azure-keyvault-secrets`` ``SecretClient`` and real ``azure-identity`` credentials, unmodified
and with every check on, without Azure:

* The vault speaks the secrets REST protocol the SDK uses (``GET``/``PUT /secrets/{name}``,
  ``GET /secrets``, ``api-version`` on every call) and Key Vault's challenge authentication:
  a request without a bearer token gets 401 with ``WWW-Authenticate: Bearer authorization=...,
  resource=...``; a token the stand-in did not issue, or for another audience, gets 401 too.
  Access policies are simulated with :meth:`KeyVaultStandIn.deny` (403 like Azure's).
* The SDK accepts a challenge only when the vault's host ends with ``"." + the resource's host``
  (``myvault.vault.azure.net`` / ``vault.azure.net``). For ``https://127.0.0.1:PORT`` the
  resource is therefore ``https://0.0.1:PORT``: odd, but it is what passes the SDK's default
  ``verify_challenge_resource=True``, which we never turn off.
* Tokens come from an App Service / Azure Functions managed-identity endpoint (plain HTTP, as
  ``IDENTITY_ENDPOINT`` is in App Service): ``GET /msi/token?resource=..&api-version=2019-08-01``
  with header ``X-IDENTITY-HEADER``. Tokens are unsigned but well-formed JWTs with the claims
  Entra ID puts in (``aud``, ``iss``, ``tid``, ``oid``, ``nbf``, ``exp``...), which is what
  Azurite's ``--oauth basic`` checks, so the same endpoint can serve Blob Storage by identity.
* TLS: a session-wide ``trustme`` CA. ``REQUESTS_CA_BUNDLE`` (read by ``requests``, hence by the
  SDK's default transport, in this process or a child) points at its PEM; ``SSL_CERT_FILE`` too,
  for anything using the ``ssl`` module's defaults. Only local servers are trusted then.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_bytes, token_urlsafe
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
import trustme
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from azure.identity import ManagedIdentityCredential

HOST = "127.0.0.1"
LOCAL_HOSTS = "127.0.0.1,localhost"  # never through a proxy
TOKEN_PATH = "/msi/token"
MSI_API_VERSION = "2019-08-01"
TOKEN_LIFETIME_S = 24 * 3600  # managed identity tokens live about a day
PERMISSIONS = frozenset({"get", "list", "set", "delete"})
#: Key Vault's documented limits, so a bug that would hit them in Azure fails here too
MAX_TAGS = 15
MAX_VALUE_BYTES = 25 * 1024
#: variables a managed identity's environment must not have, or azure-identity picks another flavour
FOREIGN_IDENTITY_VARS = (
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME",
    "AZURE_TOKEN_CREDENTIALS",
)


# -- TLS --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalCA:
    """A throwaway CA for servers on 127.0.0.1 and the bundle clients trust it through."""

    ca: trustme.CA
    #: the CA's certificate (PEM), for ``REQUESTS_CA_BUNDLE`` / ``SSL_CERT_FILE``
    bundle_path: Path

    @classmethod
    def create(cls, directory: Path) -> LocalCA:
        """Only this CA in the bundle: tests reach nothing but 127.0.0.1, and ``requests`` parses the
        bundle on every new connection (werkzeug closes each one), 35 ms with certifi's roots added."""
        ca = trustme.CA(organization_name="spotify-exporter tests")
        bundle = directory / "local-ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        return cls(ca, bundle)

    def server_context(self, *hosts: str) -> ssl.SSLContext:
        """A server-side TLS context with a certificate for ``hosts`` (IP addresses become IP SANs)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert(*(hosts or (HOST, "localhost"))).configure_cert(context)
        return context

    def trust_env(self) -> dict[str, str]:
        """Environment that makes ``requests`` (the SDK's transport) and ``ssl`` trust this CA."""
        return {"REQUESTS_CA_BUNDLE": str(self.bundle_path), "SSL_CERT_FILE": str(self.bundle_path)}


# -- tokens -----------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(claims: Mapping[str, Any]) -> str:
    """header.payload.signature, base64url: parseable by any JWT library, signed by nobody."""
    header = {"typ": "JWT", "alg": "RS256", "kid": "keyvault-standin"}
    parts = (json.dumps(header).encode(), json.dumps(dict(claims)).encode(), token_bytes(64))
    return ".".join(_b64url(part) for part in parts)


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a token (no signature check: the stand-in knows what it issued)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


# -- what tests read --------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretVersion:
    """One version of a secret as the vault holds it."""

    name: str
    version: str
    value: str = field(repr=False)
    tags: dict[str, str]
    content_type: str | None
    enabled: bool
    created: int
    updated: int


@dataclass(frozen=True)
class RecordedRequest:
    """One request to the vault or the token endpoint, for assertions."""

    method: str
    path: str
    bearer: bool
    status: int
    api_version: str | None = None


class _QuietHandler(WSGIRequestHandler):
    """No access log; no Nagle delay (headers and body are separate writes, 40 ms apart without this)."""

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=dict(headers or {}), content_type="application/json; charset=utf-8"
    )


def _kv_error(status: int, code: str, message: str, inner: str | None = None, **headers: str) -> Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if inner:
        error["innererror"] = {"code": inner}
    return _json(status, {"error": error}, headers)


# -- the stand-in -----------------------------------------------------------------------------

_used_vault_ports: set[int] = set()


class KeyVaultStandIn:
    """A Key Vault (HTTPS) and its managed-identity token endpoint (HTTP) on 127.0.0.1."""

    def __init__(self, ca: LocalCA, vault_name: str = "standin") -> None:
        self.ca = ca
        self.vault_name = vault_name
        self.tenant_id = str(uuid.uuid4())
        self.object_id = str(uuid.uuid4())  # the managed identity's principal
        self.client_id = str(uuid.uuid4())
        self.identity_header = token_urlsafe(24)
        self.permissions: set[str] = set(PERMISSIONS)
        #: when set, the token endpoint answers 400 with this message (no identity assigned, ...)
        self.identity_error: str | None = None
        self.requests: list[RecordedRequest] = []
        self.token_requests: list[RecordedRequest] = []
        self.issued_tokens: dict[str, dict[str, Any]] = {}
        self._versions: dict[str, list[SecretVersion]] = {}
        self._lock = threading.Lock()
        self._vault: BaseWSGIServer | None = None
        self._identity: BaseWSGIServer | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> KeyVaultStandIn:
        if self._vault is None:
            self._vault = self._fresh_vault_server()
            self._identity = make_server(HOST, 0, self._identity_app, threaded=True, request_handler=_QuietHandler)
            for server, role in ((self._vault, "vault"), (self._identity, "identity")):
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.05},
                    name=f"keyvault-standin-{role}:{server.server_port}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
        return self

    def _fresh_vault_server(self) -> BaseWSGIServer:
        """A port no earlier stand-in in this process had: the SDK caches challenges process-wide by
        host and port, and a cached one would skip the challenge a test wants to see."""
        context = self.ca.server_context(HOST, "localhost")
        rejected: list[BaseWSGIServer] = []
        try:
            while True:
                server = make_server(
                    HOST, 0, self._vault_app, threaded=True, request_handler=_QuietHandler, ssl_context=context
                )
                if server.server_port not in _used_vault_ports:
                    _used_vault_ports.add(server.server_port)
                    return server
                rejected.append(server)  # kept open until we have another port, so it is not handed out again
        finally:
            for server in rejected:
                server.server_close()

    def stop(self) -> None:
        for server in (self._vault, self._identity):
            if server is not None:
                server.shutdown()
                server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._vault = self._identity = None
        self._threads = []

    def __enter__(self) -> KeyVaultStandIn:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses and environment ------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._vault is not None, "the stand-in is not running"
        return int(self._vault.server_port)

    @property
    def url(self) -> str:
        """The vault URL, as ``https://myvault.vault.azure.net`` is in Azure."""
        return f"https://{HOST}:{self.port}"

    @property
    def resource(self) -> str:
        """The challenge's resource (the token audience); see the module docstring for its shape."""
        return f"https://{HOST.split('.', 1)[1]}:{self.port}"

    @property
    def identity_endpoint(self) -> str:
        assert self._identity is not None, "the stand-in is not running"
        return f"http://{HOST}:{self._identity.server_port}{TOKEN_PATH}"

    @property
    def ca_bundle_path(self) -> Path:
        return self.ca.bundle_path

    def managed_identity_env(self) -> dict[str, str]:
        """What App Service sets for a managed identity: azure-identity's ManagedIdentityCredential
        (alone or in DefaultAzureCredential) then asks this stand-in for tokens."""
        return {"IDENTITY_ENDPOINT": self.identity_endpoint, "IDENTITY_HEADER": self.identity_header}

    def client_env(self) -> dict[str, str]:
        """Everything a fresh process needs to use this vault by identity: managed identity and TLS trust."""
        return {**self.managed_identity_env(), **self.ca.trust_env(), "NO_PROXY": LOCAL_HOSTS, "no_proxy": LOCAL_HOSTS}

    def credential(self) -> ManagedIdentityCredential:
        """A real azure-identity credential that gets its tokens here.

        MSAL reads ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` from ``os.environ`` at every token
        request, so they must stay set (the ``keyvault`` fixture sets them for the test).
        """
        from azure.identity import ManagedIdentityCredential

        missing = {k: v for k, v in self.managed_identity_env().items() if os.environ.get(k) != v}
        if missing:
            raise RuntimeError(f"set {', '.join(missing)} from managed_identity_env() before credential()")
        return ManagedIdentityCredential()

    # -- state --------------------------------------------------------------------------------

    def set(
        self,
        name: str,
        value: str,
        tags: Mapping[str, str] | None = None,
        content_type: str | None = None,
        enabled: bool = True,
    ) -> SecretVersion:
        """Seed a secret (a new version, as ``PUT`` makes one), bypassing auth and policies."""
        now = int(time.time())
        version = SecretVersion(name, uuid.uuid4().hex, value, dict(tags or {}), content_type, enabled, now, now)
        with self._lock:
            self._versions.setdefault(name.lower(), []).append(version)
        return version

    @property
    def secrets(self) -> dict[str, SecretVersion]:
        """Secret name -> its latest version (``.value``, ``.tags``...)."""
        with self._lock:
            return {versions[-1].name: versions[-1] for versions in self._versions.values()}

    def versions(self, name: str) -> list[SecretVersion]:
        """Every version of a secret, oldest first."""
        with self._lock:
            return list(self._versions.get(name.lower(), []))

    def deny(self, *permissions: str) -> None:
        """Take secret permissions (``get``, ``list``, ``set``, ``delete``) away from the identity."""
        unknown = set(permissions) - PERMISSIONS
        if unknown:
            raise ValueError(f"unknown secret permissions {sorted(unknown)}")
        self.permissions -= set(permissions)

    def allow(self, *permissions: str) -> None:
        self.permissions |= set(permissions) & PERMISSIONS

    # -- the token endpoint -------------------------------------------------------------------

    def issue_token(self, resource: str) -> str:
        """A token for ``resource`` as Entra ID would issue it to the managed identity."""
        now = int(time.time())
        claims = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME_S,
            "appid": self.client_id,
            "appidacr": "2",
            "idtyp": "app",
            "oid": self.object_id,
            "sub": self.object_id,
            "tid": self.tenant_id,
            "ver": "1.0",
        }
        token = make_jwt(claims)
        with self._lock:
            self.issued_tokens[token] = claims
        return token

    def _identity_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self._token_response(request)
        with self._lock:
            self.token_requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    request.headers.get("X-IDENTITY-HEADER") == self.identity_header,
                    response.status_code,
                    request.args.get("api-version"),
                )
            )
        return response(environ, start_response)

    def _token_response(self, request: Request) -> Response:
        """The App Service flavour (api-version 2019-08-01), errors in its ``statusCode``/``message`` shape."""
        if request.path != TOKEN_PATH or request.method != "GET":
            return _json(404, {"statusCode": 404, "message": "Not found"})
        if request.headers.get("X-IDENTITY-HEADER") != self.identity_header:
            return _json(401, {"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong"})
        if request.args.get("api-version") != MSI_API_VERSION:
            return _json(400, {"statusCode": 400, "message": f"api-version must be {MSI_API_VERSION}"})
        resource = request.args.get("resource")
        if not resource:
            return _json(400, {"statusCode": 400, "message": "resource is required"})
        if self.identity_error:
            return _json(400, {"statusCode": 400, "message": self.identity_error})
        requested_client = request.args.get("client_id")
        if requested_client and requested_client != self.client_id:
            return _json(400, {"statusCode": 400, "message": f"no identity with client_id {requested_client}"})
        token = self.issue_token(resource)
        claims = self.issued_tokens[token]
        return _json(
            200,
            {
                "access_token": token,
                "expires_on": str(claims["exp"]),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": self.client_id,
            },
        )

    # -- the vault ----------------------------------------------------------------------------

    def _vault_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request.get_data()  # drain the body even when answering 401, so the connection stays usable
        authorization = request.headers.get("Authorization", "")
        response = self._vault_response(request, authorization)
        response.headers["x-ms-keyvault-service-version"] = "1.9.0.0"
        response.headers["x-ms-request-id"] = str(uuid.uuid4())
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    authorization.startswith("Bearer "),
                    response.status_code,
                    request.args.get("api-version"),
                )
            )
        return response(environ, start_response)

    def _challenge(self, message: str) -> Response:
        challenge = (
            f'Bearer authorization="https://login.microsoftonline.com/{self.tenant_id}", resource="{self.resource}"'
        )
        return _kv_error(401, "Unauthorized", message, **{"WWW-Authenticate": challenge})

    def _vault_response(self, request: Request, authorization: str) -> Response:
        # authentication comes first, as in Azure: the SDK's bodiless probe must get the challenge
        if not authorization.startswith("Bearer "):
            return self._challenge("AKV10000: Request is missing a Bearer or PoP token.")
        claims = self.issued_tokens.get(authorization.removeprefix("Bearer ").strip())
        if claims is None:
            return self._challenge("AKV10022: Invalid token: not issued by this tenant.")
        if claims["aud"].rstrip("/") != self.resource:
            return self._challenge(f"AKV10022: Invalid audience. Expected {self.resource}, found: {claims['aud']}.")
        if claims["exp"] <= time.time():
            return self._challenge("AKV10032: Token expired.")
        if not request.args.get("api-version"):
            return _kv_error(400, "BadParameter", "The 'api-version' query parameter is missing.")

        parts = [part for part in request.path.split("/") if part]
        if parts == ["secrets"] and request.method == "GET":
            return self._list()
        if len(parts) in (2, 3) and parts[0] == "secrets" and parts[1] != "restore":
            version = parts[2] if len(parts) == 3 else None
            if request.method == "GET" and version != "versions":
                return self._get(parts[1], version)
            if request.method == "PUT" and version is None:
                return self._put(parts[1], request)
        return _kv_error(404, "NotFound", f"{request.method} {request.path} is not served by the stand-in")

    def _forbidden(self, permission: str) -> Response | None:
        if permission in self.permissions:
            return None
        principal = f"appid={self.client_id};oid={self.object_id};iss=https://sts.windows.net/{self.tenant_id}/"
        return _kv_error(
            403,
            "Forbidden",
            f"The user, group or application '{principal}' does not have secrets {permission} permission on "
            f"key vault '{self.vault_name};location=westeurope'. For help resolving this issue, please see "
            "https://go.microsoft.com/fwlink/?linkid=2125287",
            inner="AccessDenied",
        )

    def _bundle(self, secret: SecretVersion, with_value: bool = True) -> dict[str, Any]:
        bundle: dict[str, Any] = {
            "id": f"{self.url}/secrets/{quote(secret.name)}" + (f"/{secret.version}" if with_value else ""),
            "attributes": {
                "enabled": secret.enabled,
                "created": secret.created,
                "updated": secret.updated,
                "recoveryLevel": "Recoverable+Purgeable",
                "recoverableDays": 90,
            },
        }
        if with_value:
            bundle["value"] = secret.value
        if secret.tags:
            bundle["tags"] = secret.tags
        if secret.content_type:
            bundle["contentType"] = secret.content_type
        return bundle

    def _get(self, name: str, version: str | None) -> Response:
        denied = self._forbidden("get")
        if denied:
            return denied
        versions = self.versions(name)
        found = versions[-1:] if not version else [v for v in versions if v.version == version]
        if not found:
            what = f"{name}/{version}" if version else name
            return _kv_error(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {what} was not found in this key vault. If you recently deleted this "
                "secret you may be able to recover it using the correct recovery command. For help resolving "
                "this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
            )
        if not found[0].enabled:
            return _kv_error(
                403, "Forbidden", "Operation get is not allowed on a disabled secret.", inner="SecretDisabled"
            )
        return _json(200, self._bundle(found[0]))

    def _put(self, name: str, request: Request) -> Response:
        denied = self._forbidden("set")
        if denied:
            return denied
        if not (1 <= len(name) <= 127 and all(c.isascii() and (c.isalnum() or c == "-") for c in name)):
            return _kv_error(
                400, "BadParameter", "The request URI contains an invalid name: " + name, inner="InvalidSecretName"
            )
        try:
            body = json.loads(request.get_data() or b"null")
        except ValueError:
            return _kv_error(400, "BadParameter", "The request body is not valid JSON.")
        if not isinstance(body, dict) or not isinstance(body.get("value"), str):
            return _kv_error(400, "BadParameter", "Property value is required.")
        tags = body.get("tags") or {}
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            return _kv_error(400, "BadParameter", "Tags must be a map of strings.")
        if len(tags) > MAX_TAGS:
            return _kv_error(400, "BadParameter", f"The number of tags exceeds the maximum of {MAX_TAGS}.")
        if len(body["value"].encode()) > MAX_VALUE_BYTES:
            return _kv_error(400, "BadParameter", "The secret value exceeds the maximum size of 25 KB.")
        attributes = body.get("attributes") or {}
        content_type = body.get("contentType")
        existing = self.versions(name)
        secret = self.set(
            existing[-1].name if existing else name,
            body["value"],
            tags,
            content_type if isinstance(content_type, str) else None,
            bool(attributes.get("enabled", True)),
        )
        return _json(200, self._bundle(secret))

    def _list(self) -> Response:
        denied = self._forbidden("list")
        if denied:
            return denied
        items = [self._bundle(secret, with_value=False) for secret in self.secrets.values()]
        return _json(200, {"value": items, "nextLink": None})


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    """One CA for every local HTTPS server of the session (Key Vault here; Azurite can use it too)."""
    return LocalCA.create(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def keyvault(local_ca: LocalCA, monkeypatch: pytest.MonkeyPatch) -> Iterator[KeyVaultStandIn]:
    """A fresh, empty vault; this process looks like a function app with a managed identity.

    The environment gets :meth:`KeyVaultStandIn.client_env` (and loses variables that would make
    azure-identity choose another identity), so ``DefaultAzureCredential`` and a ``SecretClient``
    built with defaults reach the stand-in exactly as the function app reaches Azure.
    """
    with KeyVaultStandIn(local_ca) as standin:
        for name in FOREIGN_IDENTITY_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in standin.client_env().items():
            monkeypatch.setenv(name, value)
        yield standin
