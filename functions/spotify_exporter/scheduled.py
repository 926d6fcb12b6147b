"""The scheduled export as it runs in Azure: settings from app settings, secrets from Key
Vault, snapshots to Blob Storage, all by the app's managed identity (no keys, no
connection strings). ``function_app.py`` only calls :func:`run_scheduled_export`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .connect import connect
from .errors import ConfigError, ExporterError
from .export import ExportResult, run_export
from .keyvault import KeyVaultSecrets, SecretNames
from .settings import settings_from_env
from .stores.blob import BlobStore

log = logging.getLogger("spotify_exporter")

DEFAULT_TIMEOUT_S = 30 * 60.0  # Flex Consumption's default functionTimeout
#: stop this long before the host's timeout, so the snapshot and its manifest are written in time
TIMEOUT_MARGIN_S = 5 * 60.0


class ExportIncompleteError(ExporterError):
    """Raised after a partial snapshot was written, so the Functions runtime records a failure."""


class ActionRequiredError(ExporterError):
    """Raised after a complete snapshot when next week's run would be refused (a rotated refresh token
    could not be saved): the execution fails, so the alert reaches the user this week."""


@dataclass(frozen=True)
class AppSettings:
    """The function app's settings, validated once with the setting's name in every error."""

    vault: str
    account_url: str
    container: str
    secret_names: SecretNames

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> AppSettings:
        vault = environ.get("KEY_VAULT_URL") or environ.get("KEY_VAULT_NAME")
        if not vault:
            raise ConfigError(
                "the app setting KEY_VAULT_NAME is not set; it names the Key Vault with the Spotify secrets"
            )
        account_url = environ.get("SNAPSHOT_ACCOUNT_URL")
        if not account_url:
            raise ConfigError(
                "the app setting SNAPSHOT_ACCOUNT_URL is not set; it is the blob endpoint of the storage "
                "account for snapshots, e.g. https://ACCOUNT.blob.core.windows.net"
            )
        defaults = SecretNames()
        names = SecretNames(
            client_id=environ.get("SPOTIFY_CLIENT_ID_SECRET_NAME") or defaults.client_id,
            client_secret=environ.get("SPOTIFY_CLIENT_SECRET_SECRET_NAME") or defaults.client_secret,
            refresh_token=environ.get("SPOTIFY_REFRESH_TOKEN_SECRET_NAME") or defaults.refresh_token,
        )
        return cls(vault, account_url, environ.get("SNAPSHOT_CONTAINER") or "spotify", names)


def function_timeout_s(host_json: Path) -> float:
    """The app's ``functionTimeout`` from host.json (``hh:mm:ss``), or the plan default."""
    try:
        value = json.loads(host_json.read_text()).get("functionTimeout")
    except (OSError, ValueError):
        return DEFAULT_TIMEOUT_S
    match = re.fullmatch(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})", str(value or ""))
    if not match:
        return DEFAULT_TIMEOUT_S
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def time_budget_s(timeout_s: float) -> float:
    """Leave a margin before the host kills the run (at least a tenth of short timeouts)."""
    return max(timeout_s - TIMEOUT_MARGIN_S, timeout_s * 0.9 if timeout_s < 2 * TIMEOUT_MARGIN_S else 0.0)


def run_scheduled_export(environ: Mapping[str, str] | None = None, host_json: Path | None = None) -> ExportResult:
    """One export into the app's ``spotify`` container; raises unless the snapshot is complete."""
    environ = os.environ if environ is None else environ
    settings = AppSettings.from_environ(environ)
    host_json = host_json or Path(__file__).resolve().parents[1] / "host.json"
    budget = time_budget_s(function_timeout_s(host_json))
    secrets = KeyVaultSecrets(settings.vault, names=settings.secret_names)
    store = BlobStore.from_url(settings.account_url, settings.container)
    warnings: list[str] = []
    client = connect(secrets, settings_from_env(environ), warnings, time_budget_s=budget)
    result = run_export(client, store, warnings=warnings)
    manifest = result.manifest
    summary = {
        "status": result.status,
        "snapshot": f"{result.location}/{result.folder}",
        "counts": {name: entry["count"] for name, entry in manifest["datasets"].items()},
        "requests": manifest["requests"],
        "retries": manifest["retries"],
        "duration_s": round(result.duration_s, 1),
        "warnings": manifest["warnings"],
        "action_required": manifest.get("action_required") or [],
    }
    log.info("spotify export finished %s", json.dumps(summary, ensure_ascii=False))
    for warning in manifest["warnings"]:
        log.warning("%s", warning)
    if result.status != "complete":
        also = f"; and {'; '.join(summary['action_required'])}" if summary["action_required"] else ""
        raise ExportIncompleteError(
            f"the snapshot {result.folder} is partial: {manifest.get('error') or 'see its manifest'}{also}"
        )
    if summary["action_required"]:
        raise ActionRequiredError(
            f"the snapshot {result.folder} is complete, but {'; '.join(summary['action_required'])}"
        )
    return result
