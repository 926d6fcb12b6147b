"""The stack configuration, read and checked once so a bad value fails before anything is created.

Every error names the configuration key (``spotify-exporter:alertEmail``), which is what the
user types in ``pulumi config set``. Defaults match `Pulumi.example.yaml`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pulumi
from schedule import Schedule, ScheduleError

from azure_deploy.package import supported_python_versions
from spotify_exporter.accounts import DEFAULT_ACCOUNT, MAX_ACCOUNTS, check_alias
from spotify_exporter.errors import ConfigError

PROJECT = "spotify-exporter"
DEFAULT_SCHEDULE = "0 0 0 * * Sun"
DEFAULT_PYTHON_VERSION = "3.12"
DEFAULT_INSTANCE_MEMORY_MB = 2048
DEFAULT_NAME_PREFIX = "spotify"
#: Python runtimes of Flex Consumption that have not reached their end of life (3.10 did in October
#: 2026) and that our packages install for: one lock each in functions/ (`make lock`, `make check-locks`).
#: A version outside a region's catalog is accepted by ARM but leaves a host that never starts
#: (Azure/Azure-Functions issue 2665): check the region with `az functionapp list-flexconsumption-runtimes`.
PYTHON_VERSIONS = supported_python_versions()
#: Flex Consumption's instance sizes that the service accepts: 512 MB has been refused
#: (Azure/azure-rest-api-specs issue 40898; the Load Testing API documents 2048 and 4096 only).
INSTANCE_MEMORY_SIZES_MB = (2048, 4096)
NAME_PREFIX = re.compile(r"[a-z][a-z0-9]{1,11}")  # fits a storage account and a vault name with the suffix
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
#: a time-based retention policy's interval: "one day ... the maximum is 146,000 days (400 years)"
#: (Microsoft, "Time-based retention policies for immutable blob data")
IMMUTABLE_DAYS_RANGE = (1, 146_000)


class InvalidSetting(pulumi.RunError):
    """A configuration value that is present but unusable; the message names the key."""

    def __init__(self, key: str, value: object, reason: str) -> None:
        self.key = key
        super().__init__(f"invalid configuration {key}={value!r}: {reason}")


@dataclass(frozen=True)
class Settings:
    """What the stack is built from."""

    location: str
    name_prefix: str
    export_schedule: str
    alert_email: str
    python_version: str
    snapshot_retention_days: int
    """Days after which snapshot blobs move to the cool tier; 0 means no lifecycle rule."""
    instance_memory_mb: int
    package_path: Path | None
    """A prebuilt function package to deploy; None builds one from ``functions/``."""
    accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,)
    """The aliases exported every week; ``default`` is the account authorized without one."""
    immutable_days: int = 0
    """Keep every snapshot file write-once for this many days (version-level WORM); 0 is off."""


def load_settings(config: pulumi.Config | None = None, azure: pulumi.Config | None = None) -> Settings:
    """Read ``spotify-exporter:*`` and ``azure-native:location``; raise naming the first bad key."""
    config = config or pulumi.Config(PROJECT)
    azure = azure or pulumi.Config("azure-native")

    def key(name: str) -> str:
        return config.full_key(name)

    location = azure.require("location")
    name_prefix = config.get("namePrefix") or DEFAULT_NAME_PREFIX
    if not NAME_PREFIX.fullmatch(name_prefix):
        raise InvalidSetting(key("namePrefix"), name_prefix, "use 2-12 lowercase letters and digits, a letter first")
    schedule = config.get("exportSchedule") or DEFAULT_SCHEDULE
    try:
        Schedule.parse(schedule).longest_gap()
    except ScheduleError as exc:
        raise InvalidSetting(key("exportSchedule"), schedule, str(exc)) from None
    alert_email = config.require("alertEmail")
    if not EMAIL.fullmatch(alert_email):
        raise InvalidSetting(key("alertEmail"), alert_email, "use an e-mail address")
    python_version = config.get("pythonVersion") or DEFAULT_PYTHON_VERSION
    if python_version not in PYTHON_VERSIONS:
        raise InvalidSetting(key("pythonVersion"), python_version, f"use one of {', '.join(PYTHON_VERSIONS)}")
    retention_days = config.get_int("snapshotRetentionDays") or 0
    if retention_days < 0:
        raise InvalidSetting(key("snapshotRetentionDays"), retention_days, "use 0 (no rule) or a number of days")
    memory_mb = config.get_int("instanceMemoryMb")
    memory_mb = DEFAULT_INSTANCE_MEMORY_MB if memory_mb is None else memory_mb
    if memory_mb not in INSTANCE_MEMORY_SIZES_MB:
        sizes = ", ".join(map(str, INSTANCE_MEMORY_SIZES_MB))
        raise InvalidSetting(key("instanceMemoryMb"), memory_mb, f"use one of {sizes}")
    package = config.get("packagePath")
    package_path = Path(package) if package else None
    if package_path is not None and not package_path.is_file():
        raise InvalidSetting(key("packagePath"), package, "no such file; run `make package` or unset it")
    accounts = _accounts(config.get_object("accounts"), key("accounts"))
    immutable_days = config.get_int("immutableDays") or 0
    low, high = IMMUTABLE_DAYS_RANGE
    if immutable_days and not low <= immutable_days <= high:
        raise InvalidSetting(key("immutableDays"), immutable_days, f"use 0 (off) or {low} to {high:,} days")
    return Settings(
        location=location,
        name_prefix=name_prefix,
        export_schedule=schedule,
        alert_email=alert_email,
        python_version=python_version,
        snapshot_retention_days=retention_days,
        instance_memory_mb=memory_mb,
        package_path=package_path,
        accounts=accounts,
        immutable_days=immutable_days,
    )


def _accounts(value: object, key: str) -> tuple[str, ...]:
    """``spotify-exporter:accounts``: a list of aliases (``pulumi config set --path 'spotify-exporter:accounts[0]'
    jane``); unset, today's single account ``default``."""
    if value is None:
        return (DEFAULT_ACCOUNT,)
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise InvalidSetting(key, value, "use a list of account aliases, e.g. [default, jane]")
    try:
        aliases = tuple(dict.fromkeys(check_alias(item) for item in value))
    except ConfigError as error:
        raise InvalidSetting(key, value, str(error)) from None
    if len(aliases) > MAX_ACCOUNTS:
        raise InvalidSetting(key, value, f"a development-mode Spotify app admits {MAX_ACCOUNTS} users")
    return aliases
