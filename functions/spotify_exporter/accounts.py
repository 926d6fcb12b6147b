"""Whose Spotify accounts one deployment backs up: aliases, each with a refresh token of its own.

A development-mode Spotify app may be used by up to five allow-listed people, so one
deployment can back up a household. They share the app's client id and secret (and so its
rate limit); each person is an *alias* (``jane``) with their own refresh token and
authorization time. The account authorized without an alias is ``default``: its secrets keep
the names they always had (``Spotify-RefreshToken`` in Key Vault, ``SPOTIFY_REFRESH_TOKEN`` in
``.env``), so a single-account setup needs no migration. Another alias's token lives under a
name derived from the alias: ``Spotify-RefreshToken-jane``, ``SPOTIFY_REFRESH_TOKEN_JANE``.

Snapshots need no alias: they are kept under the Spotify user id, which differs per person.
"""

from __future__ import annotations

import json
import re

from .errors import ConfigError

DEFAULT_ACCOUNT = "default"
#: lowercase letters, digits and inner hyphens: valid in Key Vault secret names (which ignore case),
#: in environment variable names (hyphens become underscores) and in queue messages and logs
_ALIAS = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,22}[a-z0-9])?$")
#: a development-mode app admits five users; more aliases than that cannot all be authorized
MAX_ACCOUNTS = 5


def check_alias(text: str) -> str:
    """The alias as stored (lowercase), or a ConfigError that says what an alias may be."""
    alias = text.strip().lower()
    if not _ALIAS.match(alias) or "--" in alias:
        raise ConfigError(
            f"{text!r} is not an account alias: use 1-24 lowercase letters, digits and single inner hyphens, "
            "e.g. jane (the alias names the person's refresh token in Key Vault and in .env)"
        )
    return alias


def parse_accounts(value: str | None) -> tuple[str, ...]:
    """The accounts a deployment exports, from the ``EXPORT_ACCOUNTS`` setting: aliases separated by
    commas or spaces, or a JSON list. Unset or empty: ``("default",)``, today's single account."""
    text = (value or "").strip()
    if not text:
        return (DEFAULT_ACCOUNT,)
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            raise ConfigError(f"EXPORT_ACCOUNTS={text!r} is not a JSON list of aliases") from None
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise ConfigError(f"EXPORT_ACCOUNTS={text!r} is not a JSON list of aliases")
        raw = items
    else:
        raw = re.split(r"[\s,]+", text)
    aliases = tuple(dict.fromkeys(check_alias(item) for item in raw if item.strip()))
    if not aliases:
        return (DEFAULT_ACCOUNT,)
    if len(aliases) > MAX_ACCOUNTS:
        raise ConfigError(
            f"EXPORT_ACCOUNTS lists {len(aliases)} accounts; a development-mode Spotify app admits {MAX_ACCOUNTS} users"
        )
    return aliases


def secret_name(base: str, alias: str) -> str:
    """The Key Vault secret of ``alias``'s refresh token: ``base`` itself for the default account."""
    return base if alias == DEFAULT_ACCOUNT else f"{base}-{check_alias(alias)}"


def env_name(base: str, alias: str) -> str:
    """The ``.env``/environment key of ``alias``'s value: ``SPOTIFY_REFRESH_TOKEN_JANE`` (``base`` for the default)."""
    return base if alias == DEFAULT_ACCOUNT else f"{base}_{check_alias(alias).upper().replace('-', '_')}"


def auth_args(alias: str) -> str:
    """The ``--account`` option of `make auth` for ``alias`` (nothing for the default account)."""
    return "" if alias == DEFAULT_ACCOUNT else f" --account {alias}"


def describe(alias: str) -> str:
    """How messages name an account."""
    return "the default account" if alias == DEFAULT_ACCOUNT else f"account {alias!r}"
