"""KQL checked by Microsoft's own Kusto language service, run with Node (npm ``@kusto/language-service-next``).

Azure Monitor validates a log alert's query when the rule is created (unless ``skipQueryValidation``),
so the ARM stand-in does too. There is no maintained KQL parser for Python; the official one
ships for .NET and, compiled with Bridge.NET, for JavaScript, which `make install` brings with
Azurite's npm packages. Queries are analyzed, not only parsed: against the columns of
Application Insights' ``requests`` table, so a misspelt column or a comparison of a string with
a bool is an error, as in Log Analytics.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKER = Path(__file__).resolve().parent / "check.js"
SERVICE = ROOT / "node_modules" / "@kusto" / "language-service-next"

#: Application Insights' classic ``requests`` table, as a log alert scoped to the component sees it
#: (https://learn.microsoft.com/azure/azure-monitor/app/data-model-complete#request).
REQUESTS_SCHEMA: Mapping[str, str] = {
    "timestamp": "datetime", "id": "string", "name": "string", "url": "string", "success": "bool",
    "resultCode": "string", "duration": "real", "performanceBucket": "string", "itemType": "string",
    "customDimensions": "dynamic", "customMeasurements": "dynamic", "operation_Name": "string",
    "operation_Id": "string", "operation_ParentId": "string", "cloud_RoleName": "string",
    "cloud_RoleInstance": "string", "appId": "string", "appName": "string", "iKey": "string",
    "sdkVersion": "string", "itemId": "string", "itemCount": "int", "source": "string",
}  # fmt: skip


class KustoUnavailable(RuntimeError):
    """Node or the npm package is missing: run `make install`."""


def available() -> bool:
    return shutil.which("node") is not None and SERVICE.is_dir()


@functools.lru_cache(maxsize=256)
def _diagnose(request: str) -> tuple[tuple[str, ...], ...]:
    if not available():
        raise KustoUnavailable("KQL checks need node and node_modules/@kusto/language-service-next; run `make install`")
    result = subprocess.run(
        ["node", str(CHECKER)], input=request, capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )
    if result.returncode != 0:
        raise KustoUnavailable(f"the Kusto language service failed: {result.stderr.strip()[-500:]}")
    return tuple(tuple(found) for found in json.loads(result.stdout))


def diagnostics(query: str, tables: Mapping[str, Mapping[str, str]] | None = None) -> list[str]:
    """The parser's errors and warnings for ``query`` (empty when it is valid KQL for ``tables``)."""
    schema = {"requests": dict(REQUESTS_SCHEMA)} if tables is None else {k: dict(v) for k, v in tables.items()}
    request = json.dumps({"tables": schema, "queries": [query]}, sort_keys=True)
    return list(_diagnose(request)[0])
