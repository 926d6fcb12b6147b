"""Key Vault secrets through the real SecretClient and real azure-identity credentials.

The vault is the stand-in from ``keyvault_standin`` (HTTPS, challenge auth, access policies);
tokens come from its managed-identity endpoint, exactly as in a function app.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError
from azure.keyvault.secrets import SecretClient
from keyvault_standin import KeyVaultStandIn, jwt_claims, make_jwt

from spotify_exporter.credentials import SpotifyCredentials
from spotify_exporter.errors import ConfigError
from spotify_exporter.keyvault import AUTHORIZED_AT_TAG, KeyVaultSecrets, SecretNames, vault_url

FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"
CLIENT_ID = "client-id-3f9a71"
CLIENT_SECRET = "client-secret-b7e24c90"
REFRESH_TOKEN = "refresh-token-AQD5x81kz"
ROTATED_TOKEN = "refresh-token-AQCrotated22"
SECRET_VALUES = (CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, ROTATED_TOKEN)
AUTHORIZED_AT = "2026-05-25T08:30:00Z"
NAMES = SecretNames()


def seed(keyvault: KeyVaultStandIn, authorized_at: str | None = AUTHORIZED_AT, **extra_tags: str) -> None:
    keyvault.set(NAMES.client_id, CLIENT_ID)
    keyvault.set(NAMES.client_secret, CLIENT_SECRET)
    tags = {AUTHORIZED_AT_TAG: authorized_at} if authorized_at else {}
    keyvault.set(NAMES.refresh_token, REFRESH_TOKEN, {**tags, **extra_tags}, content_type="text/plain")


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        for value in SECRET_VALUES:
            assert value not in str(text)


def load_error(secrets: KeyVaultSecrets) -> str:
    with pytest.raises(ConfigError) as raised:
        secrets.load()
    message = str(raised.value)
    assert "\n" not in message
    assert_no_secret(message, repr(raised.value))
    return message


# -- reading ----------------------------------------------------------------------------------


def test_load_reads_the_three_secrets_and_when_the_user_authorized(keyvault: KeyVaultStandIn) -> None:
    seed(keyvault)
    secrets = KeyVaultSecrets(keyvault.url, keyvault.credential())

    credentials = secrets.load()

    assert credentials == SpotifyCredentials(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    assert secrets.authorized_at == datetime(2026, 5, 25, 8, 30, tzinfo=UTC)
    assert secrets.description == f"Key Vault {keyvault.url}"
    assert_no_secret(repr(secrets), repr(credentials))


def test_the_key_vault_challenge_really_happens(keyvault: KeyVaultStandIn) -> None:
    seed(keyvault)
    KeyVaultSecrets(keyvault.url, keyvault.credential()).load()

    probe, *authorized = keyvault.requests
    assert (probe.method, probe.path, probe.bearer, probe.status) == ("GET", f"/secrets/{NAMES.client_id}/", False, 401)
    assert authorized[0].path == probe.path  # the same request again, now with the token
    assert [(r.bearer, r.status) for r in authorized] == [(True, 200)] * 3
    assert all(r.api_version for r in keyvault.requests)
    # one token, from the managed-identity endpoint, for the resource the challenge named
    (token_request,) = keyvault.token_requests
    assert token_request.bearer and token_request.status == 200  # bearer: the X-IDENTITY-HEADER matched
    (token,) = keyvault.issued_tokens
    claims = jwt_claims(token)
    assert claims["aud"] == keyvault.resource
    assert claims["iss"] == f"https://sts.windows.net/{keyvault.tenant_id}/"


def test_default_azure_credential_finds_the_managed_identity(keyvault: KeyVaultStandIn) -> None:
    """No credential passed: what the function app does."""
    seed(keyvault)
    assert KeyVaultSecrets(keyvault.url).load().refresh_token == REFRESH_TOKEN
    assert len(keyvault.token_requests) == 1


def test_a_process_configured_only_by_environment_reaches_the_vault(keyvault: KeyVaultStandIn) -> None:
    """As the function app will: vault URL, managed identity and CA trust from the environment alone."""
    seed(keyvault)
    script = (
        "import os\n"
        "from spotify_exporter.keyvault import KeyVaultSecrets\n"
        "secrets = KeyVaultSecrets(os.environ['KEY_VAULT_URL'])\n"
        "secrets.load()\n"
        "print(secrets.authorized_at.isoformat())\n"
        f"print(secrets.save_refresh_token({ROTATED_TOKEN!r}) or 'saved')\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(FUNCTIONS),
        "KEY_VAULT_URL": keyvault.url,
        **keyvault.client_env(),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2026-05-25T08:30:00+00:00", "saved"]
    assert keyvault.secrets[NAMES.refresh_token].value == ROTATED_TOKEN


# -- writing ----------------------------------------------------------------------------------


def test_a_rotated_token_is_a_new_version_that_keeps_its_tags(keyvault: KeyVaultStandIn) -> None:
    seed(keyvault, owner="weekly-export")
    secrets = KeyVaultSecrets(keyvault.url, keyvault.credential())
    secrets.load()

    assert secrets.save_refresh_token(ROTATED_TOKEN) is None

    old, new = keyvault.versions(NAMES.refresh_token)
    assert (old.value, new.value) == (REFRESH_TOKEN, ROTATED_TOKEN)
    assert new.tags == {AUTHORIZED_AT_TAG: AUTHORIZED_AT, "owner": "weekly-export"}
    assert new.content_type == "text/plain"
    assert keyvault.requests[-1].method == "PUT"
    # the next run reads the new token and still knows when the user authorized
    again = KeyVaultSecrets(keyvault.url, keyvault.credential())
    assert again.load().refresh_token == ROTATED_TOKEN
    assert again.authorized_at == secrets.authorized_at


def test_saving_without_loading_first_keeps_the_vaults_tags(keyvault: KeyVaultStandIn) -> None:
    seed(keyvault)
    assert KeyVaultSecrets(keyvault.url, keyvault.credential()).save_refresh_token(ROTATED_TOKEN) is None
    assert keyvault.secrets[NAMES.refresh_token].tags == {AUTHORIZED_AT_TAG: AUTHORIZED_AT}


def test_store_authorization_writes_all_three_with_the_time(keyvault: KeyVaultStandIn) -> None:
    names = SecretNames("My-ClientID", "My-ClientSecret", "My-RefreshToken")
    secrets = KeyVaultSecrets(keyvault.url, keyvault.credential(), names)

    secrets.store_authorization(
        SpotifyCredentials(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN), datetime(2026, 11, 25, tzinfo=UTC)
    )

    stored = keyvault.secrets
    assert {name: stored[name].value for name in stored} == {
        "My-ClientID": CLIENT_ID,
        "My-ClientSecret": CLIENT_SECRET,
        "My-RefreshToken": REFRESH_TOKEN,
    }
    assert stored["My-RefreshToken"].tags == {AUTHORIZED_AT_TAG: "2026-11-25T00:00:00Z"}
    assert [r.path for r in keyvault.requests if r.method == "PUT" and r.status == 200][
        -1
    ] == "/secrets/My-RefreshToken"
    loaded = KeyVaultSecrets(keyvault.url, keyvault.credential(), names)
    loaded.load()
    assert loaded.authorized_at == datetime(2026, 11, 25, tzinfo=UTC)


def test_the_standin_serves_versions_and_lists_like_key_vault(keyvault: KeyVaultStandIn) -> None:
    """What the exporter does not use yet, checked through the SDK so the stand-in stays honest."""
    seed(keyvault)
    first = keyvault.versions(NAMES.refresh_token)[0]
    client = SecretClient(keyvault.url, keyvault.credential())
    client.set_secret(NAMES.refresh_token, ROTATED_TOKEN)

    assert client.get_secret(NAMES.refresh_token, first.version).value == REFRESH_TOKEN
    latest = client.get_secret(NAMES.refresh_token)
    assert latest.value == ROTATED_TOKEN and latest.properties.version != first.version
    assert latest.id == f"{keyvault.url}/secrets/{NAMES.refresh_token}/{latest.properties.version}"
    assert sorted(p.name or "" for p in client.list_properties_of_secrets()) == sorted(
        [NAMES.client_id, NAMES.client_secret, NAMES.refresh_token]
    )
    keyvault.deny("list")
    with pytest.raises(HttpResponseError) as raised:
        list(client.list_properties_of_secrets())
    assert raised.value.status_code == 403


# -- refusals ---------------------------------------------------------------------------------


def test_a_missing_secret_says_to_run_make_auth(keyvault: KeyVaultStandIn) -> None:
    keyvault.set(NAMES.client_id, CLIENT_ID)
    keyvault.set(NAMES.client_secret, CLIENT_SECRET)
    message = load_error(KeyVaultSecrets(keyvault.url, keyvault.credential()))
    assert f"secret 'Spotify-RefreshToken' not found in Key Vault {keyvault.url}" in message
    assert "make auth" in message


def test_no_read_permission_names_the_access_policy(keyvault: KeyVaultStandIn) -> None:
    seed(keyvault)
    keyvault.deny("get")
    message = load_error(KeyVaultSecrets(keyvault.url, keyvault.credential()))
    assert f"may not read secrets in Key Vault {keyvault.url}" in message
    assert "access policy with the secret permissions get and set" in message


def test_no_write_permission_is_a_warning_not_a_failure(keyvault: KeyVaultStandIn) -> None:
    seed(keyvault)
    keyvault.deny("set")
    secrets = KeyVaultSecrets(keyvault.url, keyvault.credential())
    secrets.load()

    warning = secrets.save_refresh_token(ROTATED_TOKEN)

    assert warning is not None and "\n" not in warning
    assert "could not be saved" in warning and "may not write secrets" in warning
    assert "permissions get and set" in warning and "next run" in warning
    assert_no_secret(warning)
    assert keyvault.secrets[NAMES.refresh_token].value == REFRESH_TOKEN


def test_store_authorization_without_write_permission_fails(keyvault: KeyVaultStandIn) -> None:
    keyvault.deny("set")
    secrets = KeyVaultSecrets(keyvault.url, keyvault.credential())
    with pytest.raises(ConfigError, match="may not write secrets") as raised:
        secrets.store_authorization(SpotifyCredentials(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN), datetime.now(UTC))
    assert_no_secret(raised.value)


def test_a_disabled_or_empty_secret_is_named(keyvault: KeyVaultStandIn) -> None:
    seed(keyvault)
    keyvault.set(NAMES.client_secret, CLIENT_SECRET, enabled=False)
    assert "secret 'Spotify-ClientSecret' is disabled" in load_error(
        KeyVaultSecrets(keyvault.url, keyvault.credential())
    )
    keyvault.set(NAMES.client_secret, " ")
    assert "secret 'Spotify-ClientSecret' in Key Vault" in load_error(
        KeyVaultSecrets(keyvault.url, keyvault.credential())
    )


def test_an_unreadable_authorized_at_tag_is_no_time(keyvault: KeyVaultStandIn) -> None:
    seed(keyvault, authorized_at="last spring")
    secrets = KeyVaultSecrets(keyvault.url, keyvault.credential())
    secrets.load()
    assert secrets.authorized_at is None


def test_no_managed_identity_is_a_sign_in_error(keyvault: KeyVaultStandIn) -> None:
    seed(keyvault)
    keyvault.identity_error = "No managed identity is assigned to this app"
    for credential in (keyvault.credential(), None):  # alone, and inside DefaultAzureCredential
        message = load_error(KeyVaultSecrets(keyvault.url, credential))
        assert message.startswith(f"could not sign in to Key Vault {keyvault.url}: ")
        assert "No managed identity is assigned" in message
        assert "az login" in message


class ForeignTokenCredential:
    """Hands out a well-formed token the vault never issued (another tenant's, say)."""

    def __init__(self) -> None:
        self.token = make_jwt({"aud": "https://vault.azure.net", "exp": int(time.time()) + 3600})

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


def test_a_token_the_vault_rejects_is_a_sign_in_error(keyvault: KeyVaultStandIn) -> None:
    seed(keyvault)
    credential = ForeignTokenCredential()
    message = load_error(KeyVaultSecrets(keyvault.url, credential))
    assert "could not sign in" in message and "HTTP 401" in message
    assert credential.token not in message
    # probe, then the token once, then no third try
    assert [(r.bearer, r.status) for r in keyvault.requests] == [(False, 401), (True, 401)]


def test_an_unreachable_vault_fails_fast(keyvault: KeyVaultStandIn) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"https://127.0.0.1:{sock.getsockname()[1]}"
    client = SecretClient(closed, keyvault.credential(), retry_total=0)
    message = load_error(KeyVaultSecrets(closed, client=client))
    assert message.startswith(f"could not reach Key Vault {closed} (Connection refused)")


def test_without_the_ca_bundle_the_certificate_is_not_trusted(
    keyvault: KeyVaultStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REQUESTS_CA_BUNDLE is what makes the SDK trust the stand-in, and the error says TLS."""
    seed(keyvault)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    client = SecretClient(keyvault.url, keyvault.credential(), retry_total=0)
    message = load_error(KeyVaultSecrets(keyvault.url, client=client))
    assert "could not reach" in message and "(TLS: certificate verify failed" in message


# -- names and URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("myvault", "https://myvault.vault.azure.net"),
        ("My-Vault-01", "https://my-vault-01.vault.azure.net"),
        ("https://myvault.vault.azure.net/", "https://myvault.vault.azure.net"),
        ("myvault.vault.azure.cn", "https://myvault.vault.azure.cn"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
    ],
)
def test_vault_url(given: str, url: str) -> None:
    assert vault_url(given) == url


@pytest.mark.parametrize(
    "given", ["ab", "1vault", "my_vault", "vault-", "my--vault", "a" * 25, "http://myvault.vault.azure.net", ""]
)
def test_a_bad_vault_name_is_named(given: str) -> None:
    with pytest.raises(ConfigError, match="Key Vault") as raised:
        vault_url(given)
    assert repr(given) in str(raised.value)


def test_a_server_whose_challenge_is_for_another_domain_is_not_taken_for_the_vault(keyvault: KeyVaultStandIn) -> None:
    """The SDK's challenge-resource check stays on: by name, the stand-in is not at ``localhost``."""
    seed(keyvault)
    elsewhere = keyvault.url.replace("127.0.0.1", "localhost")
    message = load_error(KeyVaultSecrets(elsewhere, keyvault.credential()))
    assert message.startswith(f"{elsewhere} is not a Key Vault: its sign-in challenge is for another domain")
    assert "verify_challenge_resource" not in message
    assert not keyvault.token_requests  # no token was fetched for a foreign resource
