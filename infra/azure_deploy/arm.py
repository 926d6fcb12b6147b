"""The few Azure Resource Manager calls the scripts make about a function app.

* ``GET .../Microsoft.Web/sites/{app}``: where the app and its SCM (Kudu) site answer. Both come
  from ``hostNameSslStates``: the ``Standard`` entry is the app, the ``Repository`` entry the SCM
  site, as the Azure CLI reads them (``_get_host_url`` and ``_get_scm_url`` in azure-cli's
  appservice ``custom.py``). Deriving the SCM host from the app's name breaks for apps with a
  unique default host name (``app-hash.region-01.azurewebsites.net``).
* ``POST .../host/default/listkeys``: the host's master key (``make trigger``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .credentials import ARM_SCOPE, LOGIN_HINT, EntraToken
from .http import DeploymentError, HttpClient, detail, json_or_empty, require_https

ARM_URL = "https://management.azure.com"
#: Microsoft.Web api-version of both calls (Web Apps - Get, Web Apps - List Host Keys)
WEB_API_VERSION = "2023-12-01"


def site_path(subscription: str, resource_group: str, app: str) -> str:
    parts = (quote(subscription, safe=""), quote(resource_group, safe=""), quote(app, safe=""))
    return "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Web/sites/{}".format(*parts)


def host_of(site: dict[str, Any], host_type: str) -> str | None:
    """The host name of the ``hostNameSslStates`` entry of ``host_type`` (``Standard``, ``Repository``)."""
    properties = site.get("properties")
    states = properties.get("hostNameSslStates") if isinstance(properties, dict) else None
    for state in states if isinstance(states, list) else []:
        if isinstance(state, dict) and str(state.get("hostType", "")).lower() == host_type.lower():
            name = state.get("name")
            if isinstance(name, str) and name:
                return name
    return None


@dataclass(frozen=True)
class FunctionAppSite:
    """What the scripts need to know about a deployed function app."""

    app_url: str
    """``https://`` + the ``Standard`` host: the function host's own endpoints."""
    scm_url: str
    """``https://`` + the ``Repository`` host: Kudu, where code is published."""
    python_version: str | None
    """``functionAppConfig.runtime.version`` when the runtime is Python (Flex Consumption)."""


def runtime_version(site: dict[str, Any]) -> str | None:
    properties = site.get("properties")
    config = properties.get("functionAppConfig") if isinstance(properties, dict) else None
    runtime = config.get("runtime") if isinstance(config, dict) else None
    if isinstance(runtime, dict) and str(runtime.get("name", "")).lower() == "python":
        version = runtime.get("version")
        return str(version) if version else None
    return None


class ResourceManager:
    """ARM calls about one function app, signed in as the deployer."""

    def __init__(
        self,
        http: HttpClient,
        token: EntraToken,
        subscription: str,
        resource_group: str,
        app: str,
        arm_url: str = ARM_URL,
    ) -> None:
        self.http = http
        self.token = token
        self.app = app
        self.site_url = require_https(arm_url, "Azure Resource Manager") + site_path(subscription, resource_group, app)
        self.where = f"the function app {app} in resource group {resource_group} of subscription {subscription}"

    @classmethod
    def signed_in(
        cls, http: HttpClient, credential: Any, subscription: str, resource_group: str, app: str, arm_url: str = ARM_URL
    ) -> ResourceManager:
        return cls(http, EntraToken(credential, ARM_SCOPE), subscription, resource_group, app, arm_url)

    def _call(self, method: str, url: str) -> dict[str, Any]:
        response = self.http.send(
            method,
            url,
            params={"api-version": WEB_API_VERSION},
            headers=self.token.header(),
            what="Azure Resource Manager",
        )
        if response.status_code in (401, 403):
            raise DeploymentError(
                f"Azure Resource Manager refused the token (HTTP {response.status_code}{detail(response)}); "
                f"{LOGIN_HINT} (the principal needs Website Contributor on the app)"
            )
        if response.status_code == 404:
            raise DeploymentError(f"{self.where} was not found (HTTP 404{detail(response)}); check the names")
        if response.status_code != 200:
            raise DeploymentError(
                f"Azure Resource Manager answered HTTP {response.status_code}{detail(response)} for {self.where}"
            )
        return json_or_empty(response)

    def site(self) -> FunctionAppSite:
        """The app's and its SCM site's HTTPS addresses (``hostNameSslStates``) and its Python."""
        site = self._call("GET", self.site_url)
        app_host = host_of(site, "Standard")
        properties = site.get("properties")
        if app_host is None and isinstance(properties, dict) and isinstance(properties.get("defaultHostName"), str):
            app_host = properties["defaultHostName"]
        scm_host = host_of(site, "Repository")
        if not app_host or not scm_host:
            raise DeploymentError(f"Azure Resource Manager gave no host names for {self.app}; is it a function app?")
        return FunctionAppSite(f"https://{app_host}", f"https://{scm_host}", runtime_version(site))

    def master_key(self) -> str:
        keys = self._call("POST", self.site_url + "/host/default/listkeys")
        master_key = keys.get("masterKey")
        if not isinstance(master_key, str) or not master_key:
            raise DeploymentError(
                f"Azure Resource Manager returned no master key for {self.app}; is the function host running?"
            )
        return master_key
