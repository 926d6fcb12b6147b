"""Who deploys: the same Microsoft Entra sign-in for `pulumi up`, `make deploy` and `make trigger`.

``DefaultAzureCredential`` reads ``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``/``AZURE_CLIENT_SECRET``
(and a workload identity, a managed identity, ``az login``...), but Pulumi's azure-native
provider is usually given a service principal as ``ARM_CLIENT_ID``, ``ARM_TENANT_ID`` and
``ARM_CLIENT_SECRET`` (or ``ARM_CLIENT_CERTIFICATE_PATH``, ``ARM_USE_OIDC``, ``ARM_USE_MSI``).
Without this module, `pulumi up` in CI would create everything with the ``ARM_*`` principal and
then fail to publish the code. :func:`deploy_credential` honours both: ``AZURE_*`` first (what
the Azure SDKs document), then the ``ARM_*`` variables as Pulumi reads them
(https://www.pulumi.com/registry/packages/azure-native/installation-configuration/), then
``DefaultAzureCredential``'s own chain (``az login`` on a workstation).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from azure.core.exceptions import ClientAuthenticationError

from .http import Clock, DeploymentError, one_line

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

#: The App Service audience the Azure CLI asks for when it calls a Flex Consumption app's SCM site
#: (``get_bearer_token`` in azure-cli's appservice ``custom.py`` uses the cloud's
#: ``app_service_resource_id``, ``https://appservice.azure.com``); tokens for ARM's audience are
#: deprecated for Kudu calls (microsoft/vscode-azuretools pull request 2258).
SCM_SCOPE = "https://appservice.azure.com/.default"
#: Azure Resource Manager, as the management SDKs ask for it.
ARM_SCOPE = "https://management.azure.com/.default"
#: renew a cached token this long before it expires
TOKEN_MARGIN_S = 300.0
#: GitHub Actions' OIDC token for Entra (what Pulumi's azure-native provider requests too)
GITHUB_OIDC_AUDIENCE = "api://AzureADTokenExchange"

LOGIN_HINT = (
    "run `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET or Pulumi's "
    "ARM_CLIENT_ID/ARM_TENANT_ID/ARM_CLIENT_SECRET"
)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def deploy_credential(environ: Mapping[str, str] | None = None) -> TokenCredential:
    """The deployer's credential: ``AZURE_*``, else Pulumi's ``ARM_*``, else ``DefaultAzureCredential``.

    Imports azure-identity only when called (the import takes a second).
    """
    import azure.identity as identity

    env = os.environ if environ is None else environ
    if env.get("AZURE_CLIENT_ID") or env.get("AZURE_TENANT_ID"):
        return identity.DefaultAzureCredential()  # its EnvironmentCredential reads AZURE_*
    client_id, tenant_id = env.get("ARM_CLIENT_ID", ""), env.get("ARM_TENANT_ID", "")
    if _flag(env.get("ARM_USE_MSI")):
        return identity.ManagedIdentityCredential(client_id=client_id or None)
    if client_id and tenant_id:
        if env.get("ARM_CLIENT_SECRET"):
            return identity.ClientSecretCredential(tenant_id, client_id, env["ARM_CLIENT_SECRET"])
        if env.get("ARM_CLIENT_CERTIFICATE_PATH"):
            return identity.CertificateCredential(
                tenant_id,
                client_id,
                certificate_path=env["ARM_CLIENT_CERTIFICATE_PATH"],
                password=env.get("ARM_CLIENT_CERTIFICATE_PASSWORD") or None,
            )
        if _flag(env.get("ARM_USE_OIDC")):
            return identity.ClientAssertionCredential(tenant_id, client_id, _oidc_assertion(env))
    return identity.DefaultAzureCredential()


def _oidc_assertion(env: Mapping[str, str]) -> Callable[[], str]:
    """The federated token Pulumi's provider would use: ``ARM_OIDC_TOKEN``, a token file, or GitHub's."""

    def assertion() -> str:
        if env.get("ARM_OIDC_TOKEN"):
            return env["ARM_OIDC_TOKEN"]
        if env.get("ARM_OIDC_TOKEN_FILE_PATH"):
            return Path(env["ARM_OIDC_TOKEN_FILE_PATH"]).read_text().strip()
        url, bearer = env.get("ARM_OIDC_REQUEST_URL", ""), env.get("ARM_OIDC_REQUEST_TOKEN", "")
        if url and bearer:
            import requests

            answer = requests.get(
                url,
                params={"audience": GITHUB_OIDC_AUDIENCE},
                headers={"Authorization": f"Bearer {bearer}"},
                timeout=30,
            )
            answer.raise_for_status()
            return str(answer.json()["value"])
        raise DeploymentError(
            "ARM_USE_OIDC is set but there is no ARM_OIDC_TOKEN, ARM_OIDC_TOKEN_FILE_PATH or GitHub's "
            "ARM_OIDC_REQUEST_URL/ARM_OIDC_REQUEST_TOKEN"
        )

    return assertion


class EntraToken:
    """Bearer tokens for one scope, kept until shortly before they expire.

    ``AzureCliCredential`` (what ``DefaultAzureCredential`` ends up using on a workstation)
    runs ``az`` on every call, about a second each: too slow to repeat on every poll.
    """

    def __init__(self, credential: TokenCredential, scope: str, clock: Clock = time.time) -> None:
        self._credential = credential
        self._scope = scope
        self._clock = clock
        self._token = ""
        self._expires_on = 0.0

    def header(self) -> dict[str, str]:
        if self._clock() > self._expires_on - TOKEN_MARGIN_S:
            try:
                access = self._credential.get_token(self._scope)
            except ClientAuthenticationError as exc:
                reason = one_line(str(exc.message or exc))[:200]
                raise DeploymentError(f"could not get a Microsoft Entra token ({reason}); {LOGIN_HINT}") from None
            self._token, self._expires_on = access.token, float(access.expires_on)
        return {"Authorization": f"Bearer {self._token}"}
