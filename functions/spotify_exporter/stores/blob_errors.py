"""What Azure Blob Storage's answers mean to the person running the exporter: one short reason
and what to do about it, built from status and error codes rather than the SDK's long messages,
with keys, SAS signatures and URL query strings taken out (SDK messages can carry request URLs).
"""

from __future__ import annotations

import re

from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ServiceRequestError

#: the app setting (and environment variable) that makes a :class:`~.blob.BlobStore` write-once whatever
#: the container says; infra sets it with ``spotify-exporter:immutableDays``
WRITE_ONCE_SETTING = "SNAPSHOT_WRITE_ONCE"
#: what Azure answers when an immutability policy or a legal hold refuses a write or a delete
IMMUTABILITY_CODES = ("BlobImmutableDueToPolicy", "BlobImmutableDueToLegalHold")

_ERRNO_REASON = re.compile(r"\[Errno -?\d+\] ([^'\"()\]]+)")
_SECRET_PARAM = re.compile(r"(?i)\b(sig|signature|accountkey|sharedaccesssignature|access_token)=[^&;\s'\"]+")
_URL_QUERY = re.compile(r"(https?://[^\s?'\"]+)\?[^\s'\"]*")

_ROLE_HINT = (
    "check that the identity has the Storage Blob Data Contributor role (new assignments take a few "
    "minutes), that a SAS token allows this, and that the account's firewall admits this network"
)


def error_code(exc: AzureError) -> str:
    code = getattr(exc, "error_code", None) or ""
    return str(getattr(code, "value", code))  # the SDK gives a str enum or a plain str


def describe(exc: AzureError) -> tuple[str, str]:
    """A short reason and what to do about it, built from codes rather than the SDK's long messages."""
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        code = error_code(exc)
        reason = f"HTTP {exc.status_code} {code}".rstrip()
        if exc.status_code == 403 and code == "AuthenticationFailed":
            return reason, "check the account key or SAS token (has it expired?)"
        if exc.status_code in (401, 403):
            return reason, _ROLE_HINT
        if exc.status_code == 404:
            return reason, "check the storage account URL and the container name"
        if code in IMMUTABILITY_CODES:
            return reason, (
                "the container is write-once (an immutability policy or legal hold): its files cannot be "
                f"replaced or deleted until their retention ends; set {WRITE_ONCE_SETTING}=true if this tool "
                "did not notice"
            )
        return reason, "try again later"
    if isinstance(exc, ClientAuthenticationError):
        lines = str(exc.message or "").strip().splitlines()
        return (
            f"no access token ({lines[0][:160]})" if lines else "no access token",
            "sign in with `az login`, or give the app a managed identity with the Storage Blob Data Contributor role",
        )
    if isinstance(exc, ServiceRequestError):
        found = _ERRNO_REASON.findall(str(exc))
        detail = found[-1].strip() if found else "no connection"
        return f"could not connect ({detail})", "check the storage URL and the network connection"
    return type(exc).__name__, "check the network connection and try again later"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Last line of defence: drop known secrets, SAS signatures and URL query strings."""
    for secret in secrets:
        text = text.replace(secret, "***")
    text = _SECRET_PARAM.sub(r"\1=***", text)
    return _URL_QUERY.sub(r"\1", text)
