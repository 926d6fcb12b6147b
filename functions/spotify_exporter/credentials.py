"""Spotify app credentials and where they come from.

A secret source loads the client id, client secret and refresh token, and persists a
refresh token that Spotify rotates (PKCE refresh tokens are single-use, so losing the
new one would lock the next run out).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from .accounts import DEFAULT_ACCOUNT, auth_args, check_alias, env_name
from .errors import ConfigError
from .files import write_file_atomically
from .redaction import remember, remember_basic_credential
from .token_age import parse_authorized_at

CLIENT_ID = "SPOTIFY_CLIENT_ID"
CLIENT_SECRET = "SPOTIFY_CLIENT_SECRET"
REFRESH_TOKEN = "SPOTIFY_REFRESH_TOKEN"
AUTHORIZED_AT = "SPOTIFY_AUTHORIZED_AT"


@dataclass(frozen=True)
class SpotifyCredentials:
    """What the refresh-token grant needs. ``repr`` shows none of the secrets."""

    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)

    def __post_init__(self) -> None:
        remember_basic_credential(self.client_id, self.client_secret)
        remember(self.refresh_token)


class SecretSource(Protocol):
    """Loads credentials and keeps a rotated refresh token."""

    @property
    def description(self) -> str:
        """Where the secrets live, for messages (never the secrets themselves)."""
        ...

    def load(self) -> SpotifyCredentials: ...

    @property
    def auth_command(self) -> str:
        """The command that authorizes this account again (for messages)."""
        ...

    @property
    def authorized_at(self) -> datetime | None:
        """When the user authorized the refresh token (known after ``load``), if recorded."""
        ...

    def save_refresh_token(self, refresh_token: str) -> str | None:
        """Persist a rotated token; return a warning for the user when it could not be kept."""
        ...


class EnvironmentSecrets:
    """Credentials from the process environment, falling back to a ``.env`` file.

    A rotated refresh token is written back to the ``.env`` file (other lines kept, mode 0600)
    when the token came from there; a token from the environment cannot be updated in place,
    so the caller gets a warning to pass on instead.

    ``account`` picks whose refresh token (and authorization time): another alias than
    ``default`` reads ``SPOTIFY_REFRESH_TOKEN_<ALIAS>`` and ``SPOTIFY_AUTHORIZED_AT_<ALIAS>``;
    the client id and secret are shared (see :mod:`.accounts`).
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        dotenv_path: Path | None = Path(".env"),
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        self._environ = os.environ if environ is None else environ
        self._dotenv_path = dotenv_path
        self.account = check_alias(account)
        self._refresh_key = env_name(REFRESH_TOKEN, self.account)
        self._authorized_key = env_name(AUTHORIZED_AT, self.account)
        self._token_from_file = False
        self._authorized_at: datetime | None = None

    @property
    def description(self) -> str:
        if self._dotenv_path is not None and self._dotenv_path.exists():
            return f"the environment and {self._dotenv_path}"
        return "the environment"

    def _file_values(self) -> dict[str, str]:
        if self._dotenv_path is None or not self._dotenv_path.is_file():
            return {}
        return read_dotenv(self._dotenv_path)

    def load(self) -> SpotifyCredentials:
        from_file = self._file_values()
        values: dict[str, str] = {}
        keys = (CLIENT_ID, CLIENT_SECRET, self._refresh_key)
        for name in keys:
            value = self._environ.get(name) or from_file.get(name)
            if value:
                values[name] = value.strip()
        missing = [name for name in keys if name not in values]
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} not set; put {'them' if len(missing) > 1 else 'it'} in the environment "
                f"or in a .env file (run `{self.auth_command}` to get a refresh token)"
            )
        self._token_from_file = not self._environ.get(self._refresh_key)
        source = from_file if self._token_from_file else self._environ
        authorized_at = source.get(self._authorized_key)
        self._authorized_at = parse_authorized_at(authorized_at)
        return SpotifyCredentials(values[CLIENT_ID], values[CLIENT_SECRET], values[self._refresh_key])

    @property
    def auth_command(self) -> str:
        """What re-authorizes this account's token into ``.env``."""
        extra = auth_args(self.account).strip()
        return f'make auth ARGS="{extra}"' if extra else "make auth"

    @property
    def authorized_at(self) -> datetime | None:
        return self._authorized_at

    def save_refresh_token(self, refresh_token: str) -> str | None:
        """Write the rotated token to ``.env``; its ``SPOTIFY_AUTHORIZED_AT`` stays, as Spotify's clock does."""
        if not self._token_from_file or self._dotenv_path is None:
            return (
                f"Spotify issued a new refresh token but {self._refresh_key} comes from the environment, "
                f"so it could not be saved; run `{self.auth_command}` if the next export is refused"
            )
        try:
            write_dotenv(self._dotenv_path, {self._refresh_key: refresh_token})
        except (OSError, ValueError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            return (
                f"Spotify issued a new refresh token but it could not be saved to {self._dotenv_path} ({reason}); "
                f"the next export will be refused: run `{self.auth_command}` to authorize again"
            )
        return None


def read_dotenv(path: Path) -> dict[str, str]:
    """The non-empty values of a .env file, as python-dotenv reads them."""
    return {key: value for key, value in dotenv_values(path).items() if value}


def write_dotenv(path: Path, values: Mapping[str, str]) -> Path:
    """Set ``values`` in the .env file at ``path``, all in one atomic write; the file written is returned.

    The one writer of ``.env``: every other line is kept as it was (comments, other keys, ``export``
    prefixes), a key set twice keeps only its first place (python-dotenv takes the last one), new
    keys are appended, and the file is replaced whole through a temp file (mode 0600, a symlink
    stays a symlink: :func:`~spotify_exporter.files.write_file_atomically`). Values are single-quoted
    so that newlines, quotes, ``#`` and spaces read back identically; a value python-dotenv cannot
    give back as it was (a carriage return, ``${``) is refused with ``ValueError``: nothing is written.
    """
    for key, value in values.items():
        if "\r" in value or "${" in value:
            raise ValueError(f"the value for {key} holds a carriage return or '${{', which .env cannot keep as it is")
    target = Path(path).expanduser()
    text = target.read_bytes().decode("utf-8") if target.is_file() else ""  # line ends kept as they are
    pending = dict(values)
    lines: list[str] = []
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original.string
        if binding.key not in values:
            lines.append(original)
        elif binding.key in pending:
            export = "export " if original.lstrip().startswith("export ") else ""
            lines.append(f"{export}{binding.key}={_single_quoted(pending.pop(binding.key))}\n")
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    lines.extend(f"{key}={_single_quoted(value)}\n" for key, value in pending.items())
    return write_file_atomically(target, "".join(lines).encode("utf-8"))


def _single_quoted(value: str) -> str:
    """python-dotenv's single quotes: only ``\\`` and ``\'`` are escapes, a newline is kept as it is."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
