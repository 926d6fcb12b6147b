"""The Spotify secrets in Azure Key Vault, read and written by the app's identity.

Spotify refresh tokens expire six months after the user authorized the app, and using one
does not extend it; so the authorization time travels with the token as the secret tag
``authorized_at`` and is carried over to every rotated version. Errors name the vault and
the secret, never a value, and say which permission or sign-in is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from .accounts import DEFAULT_ACCOUNT, auth_args, check_alias
from .accounts import secret_name as account_secret_name
from .credentials import SpotifyCredentials
from .errors import ConfigError
from .token_age import format_authorized_at, parse_authorized_at

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.keyvault.secrets import KeyVaultSecret, SecretClient

AUTHORIZED_AT_TAG = "authorized_at"
CONTENT_TYPE = "text/plain"
#: retries after the first attempt, 0 s, 1 s and 2 s apart: a broken vault fails in seconds, not minutes
RETRY_TOTAL = 3
RETRY_BACKOFF_FACTOR = 0.5
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 30

_VAULT_NAME = re.compile(r"^(?!.*--)[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$")
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
_ERRNO_REASON = re.compile(r"\[Errno -?\d+\] ([^'\"()\]]+)")
_SSL_REASON = re.compile(r"\[SSL: \w+\] ([^(]+)")
_ATTEMPT = re.compile(r"^(\w+Credential): (.+)$")
_ADVISED_CREDENTIALS = ("ManagedIdentityCredential", "AzureCliCredential")
_ACCESS_HINT = (
    "give it an access policy with the secret permissions get and set, or on a vault that uses Azure RBAC "
    "the role Key Vault Secrets Officer (see README: Azure)"
)


@dataclass(frozen=True)
class SecretNames:
    """The secret names in the vault (app settings may rename them)."""

    client_id: str = "Spotify-ClientID"
    client_secret: str = "Spotify-ClientSecret"
    refresh_token: str = "Spotify-RefreshToken"


def vault_url(name_or_url: str) -> str:
    """``myvault`` -> ``https://myvault.vault.azure.net``; an https URL or host name is kept as given."""
    value = name_or_url.strip()
    if "://" not in value and "." in value:
        value = f"https://{value}"  # a pasted DNS name such as myvault.vault.azure.net
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme.lower() != "https" or not parts.netloc or parts.path.strip("/") or parts.query:
            raise ConfigError(
                f"{name_or_url!r} is not a Key Vault URL; give the vault name or its https URL, "
                "e.g. https://myvault.vault.azure.net"
            )
        return f"https://{parts.netloc}"
    if not _VAULT_NAME.match(value):
        raise ConfigError(
            f"{name_or_url!r} is not a valid Key Vault name: use 3-24 letters, digits and single hyphens, "
            "starting with a letter and ending with a letter or digit"
        )
    return f"https://{value.lower()}.vault.azure.net"


class KeyVaultSecrets:
    """A :class:`~spotify_exporter.credentials.SecretSource` backed by three Key Vault secrets.

    The ``SecretClient`` is built on first use, so constructing this never touches the network
    or the credential chain. Pass ``client`` to use a configured client instead (tests, retries).
    ``account`` picks whose refresh token: another alias than ``default`` reads and writes the
    secret named after it (``Spotify-RefreshToken-jane``, see :mod:`.accounts`); the client id and
    secret are shared by every account. Nothing here lists secrets: each name is known.
    """

    def __init__(
        self,
        vault: str,
        credential: TokenCredential | None = None,
        names: SecretNames = SecretNames(),
        *,
        client: SecretClient | None = None,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        self._vault = vault.strip()
        self.url = vault_url(vault)
        self.account = check_alias(account)
        self.names = replace(names, refresh_token=account_secret_name(names.refresh_token, self.account))
        self._credential = credential
        self._client_instance = client
        #: the refresh token's tags as loaded, so a rotated version keeps them
        self._token_tags: dict[str, str] | None = None
        self._token_content_type: str | None = None
        self.authorized_at: datetime | None = None

    def __repr__(self) -> str:
        return f"KeyVaultSecrets({self.url!r}, names={self.names!r})"

    @property
    def description(self) -> str:
        return f"Key Vault {self.url}"

    @property
    def _client(self) -> SecretClient:
        if self._client_instance is None:
            from azure.keyvault.secrets import SecretClient

            credential = self._credential
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential()
            self._client_instance = SecretClient(
                self.url,
                credential,
                retry_total=RETRY_TOTAL,
                retry_backoff_factor=RETRY_BACKOFF_FACTOR,
                connection_timeout=CONNECT_TIMEOUT_S,
                read_timeout=READ_TIMEOUT_S,
            )
        return self._client_instance

    @property
    def auth_command(self) -> str:
        """What re-authorizes this account's token into this vault."""
        return f'make auth ARGS="--vault {self._vault}{auth_args(self.account)}"'

    # -- SecretSource --------------------------------------------------------------------------

    def load(self) -> SpotifyCredentials:
        values: dict[str, str] = {}
        for field_name, secret_name in (
            ("client_id", self.names.client_id),
            ("client_secret", self.names.client_secret),
            ("refresh_token", self.names.refresh_token),
        ):
            secret = self._get(secret_name)
            value = (secret.value or "").strip()
            if not value:
                raise ConfigError(
                    f"secret {secret_name!r} in Key Vault {self.url} is empty; run `{self.auth_command}` "
                    "to store the Spotify credentials"
                )
            values[field_name] = value
            if field_name == "refresh_token":
                self._remember(secret)
        return SpotifyCredentials(**values)

    def save_refresh_token(self, refresh_token: str) -> str | None:
        """Write the rotated token as a new version with the old tags; a failure is a warning.

        The export itself already has its access token, so failing here must not fail the run;
        but the next run may be refused, which the warning says.
        """
        name = self.names.refresh_token
        try:
            if self._token_tags is None:  # not loaded through this object: keep what the vault has
                try:
                    self._remember(self._client.get_secret(name))
                except ResourceNotFoundError:
                    self._token_tags = {}
            self._client.set_secret(
                name,
                refresh_token,
                tags=dict(self._token_tags or {}),
                content_type=self._token_content_type or CONTENT_TYPE,
            )
        except (AzureError, ValueError) as exc:
            if isinstance(exc, HttpResponseError) and exc.status_code == 403 and _inner_code(exc) != "SecretDisabled":
                problem = (
                    f"the identity running the exporter may not write secrets in Key Vault {self.url}; {_ACCESS_HINT}"
                )
            else:
                problem = f"Key Vault {self.url} failed: {_reason(exc, (refresh_token,))}"
            return (
                f"Spotify issued a new refresh token but it could not be saved as secret {name!r} ({problem}); "
                f"the next run may be refused, then run `{self.auth_command}`"
            )
        return None

    # -- for `make auth` ----------------------------------------------------------------------

    def store_authorization(self, credentials: SpotifyCredentials, authorized_at: datetime) -> None:
        """Write all three secrets; the refresh token last, tagged with when the user authorized."""
        tag = format_authorized_at(authorized_at)
        secrets = (credentials.client_id, credentials.client_secret, credentials.refresh_token)
        for name, value, tags in (
            (self.names.client_id, credentials.client_id, {}),
            (self.names.client_secret, credentials.client_secret, {}),
            (self.names.refresh_token, credentials.refresh_token, {AUTHORIZED_AT_TAG: tag}),
        ):
            try:
                self._client.set_secret(name, value, tags=tags, content_type=CONTENT_TYPE)
            except AzureError as exc:
                raise self._error(exc, name, "set", secrets) from None
            except ValueError as exc:
                raise self._foreign_challenge(exc) from None
        self._token_tags = {AUTHORIZED_AT_TAG: tag}
        self._token_content_type = CONTENT_TYPE
        self.authorized_at = parse_authorized_at(tag)

    # -- helpers ------------------------------------------------------------------------------

    def _get(self, name: str) -> KeyVaultSecret:
        try:
            return self._client.get_secret(name)
        except AzureError as exc:
            raise self._error(exc, name, "get") from None
        except ValueError as exc:
            raise self._foreign_challenge(exc) from None

    def _remember(self, secret: KeyVaultSecret) -> None:
        tags = dict(secret.properties.tags or {})
        self._token_tags = tags
        self._token_content_type = secret.properties.content_type
        self.authorized_at = parse_authorized_at(tags.get(AUTHORIZED_AT_TAG))

    def _foreign_challenge(self, exc: ValueError) -> ConfigError:
        """The SDK refuses a challenge whose resource is not the vault's domain: not a Key Vault URL."""
        detail = _first_line(str(exc)).split(". ")[0]  # the rest advises turning the check off: no
        return ConfigError(
            f"{self.url} is not a Key Vault: its sign-in challenge is for another domain ({detail}); "
            "check the vault name or URL"
        )

    def _error(self, exc: AzureError, name: str, permission: str, secrets: tuple[str, ...] = ()) -> ConfigError:
        """One actionable line for an SDK error while reading or writing secret ``name``."""
        vault = f"Key Vault {self.url}"
        if isinstance(exc, ResourceNotFoundError):
            return ConfigError(
                f"secret {name!r} not found in {vault}; run `{self.auth_command}` to store the Spotify credentials"
            )
        if isinstance(exc, ClientAuthenticationError):  # includes 401 from the vault and CredentialUnavailableError
            return ConfigError(
                f"could not sign in to {vault}: {_reason(exc, secrets)}; run `az login` locally, "
                "or check the function app's managed identity"
            )
        if isinstance(exc, HttpResponseError) and exc.status_code == 403:
            if _inner_code(exc) == "SecretDisabled":
                return ConfigError(f"secret {name!r} is disabled in {vault}; enable it, or run `{self.auth_command}`")
            verb = "read" if permission == "get" else "write"
            return ConfigError(f"the identity running the exporter may not {verb} secrets in {vault}; {_ACCESS_HINT}")
        if isinstance(exc, HttpResponseError):
            return ConfigError(f"{vault} refused secret {name!r} with {_reason(exc, secrets)}; try again later")
        if isinstance(exc, ServiceRequestError | ServiceResponseError):
            return ConfigError(
                f"could not reach {vault} ({_reason(exc, secrets)}); check the vault name, the network "
                "and the vault's firewall"
            )
        return ConfigError(f"{vault} failed on secret {name!r} ({_reason(exc, secrets)}); try again later")


def _inner_code(exc: HttpResponseError) -> str:
    error: Any = getattr(exc, "error", None)
    inner = getattr(error, "innererror", None) or {}
    return str(inner.get("code") or "") if isinstance(inner, dict) else ""


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:200] if lines else ""


def _reason(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """A short cause built from status and code, or the first line of the SDK's message, redacted."""
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        error: Any = getattr(exc, "error", None)
        code = str(getattr(error, "code", None) or "")
        reason = f"HTTP {exc.status_code} {code}".rstrip()
        message = _first_line(str(getattr(error, "message", None) or ""))
        text = f"{reason}: {message}" if message and exc.status_code == 401 else reason
    elif isinstance(exc, ServiceRequestError | ServiceResponseError):
        found = _ERRNO_REASON.findall(str(exc))
        tls = _SSL_REASON.findall(str(exc))
        text = f"TLS: {tls[-1].strip()}" if tls else found[-1].strip() if found else type(exc).__name__
    else:
        message = str(getattr(exc, "message", None) or exc)
        lines = [line.strip() for line in message.splitlines() if line.strip()]
        attempts = {match[1]: match[2] for line in lines if (match := _ATTEMPT.match(line))}
        if attempts:
            # DefaultAzureCredential lists every credential it tried; the ones we advise say what is missing
            picked = [name for name in _ADVISED_CREDENTIALS if name in attempts] or list(attempts)[:2]
            text = "; ".join(f"{name}: {attempts[name][:160]}" for name in picked)
        else:
            text = lines[0][:200] if lines else type(exc).__name__
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _JWT.sub("***", text)
