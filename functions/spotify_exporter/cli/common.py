"""What every command shares: where the snapshots are (the store options, opening the store,
naming a snapshot), printing for people, logging, and the exit statuses."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.logging import RichHandler

from ..accounts import DEFAULT_ACCOUNT
from ..credentials import read_dotenv
from ..history import SnapshotInfo, read_manifest, resolve_snapshot, store_for_path
from ..settings import ClientSettings, settings_from_env
from ..stores import SnapshotStore
from ..stores.local import LocalFolderStore
from ..terminal import printable, printable_filter

EXIT_COMPLETE, EXIT_ERROR, EXIT_PARTIAL, EXIT_ACTION_REQUIRED = 0, 1, 2, 3
DEFAULT_CONTAINER = "spotify"
log = logging.getLogger("spotify_exporter")


def say(text: str, err: bool = False) -> None:
    """Print a line for the user: everything the command line prints goes through here, so names
    from Spotify (playlists, songs, ids) cannot send escape sequences to the terminal."""
    click.echo(printable(text), err=err)


def configure_logging(verbose: bool, console: Console | None) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    handler: logging.Handler
    if console is not None:
        handler = RichHandler(console=console, show_path=False, show_time=False, markup=False)
        handler.setLevel(logging.WARNING if not verbose else logging.DEBUG)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
    handler.addFilter(printable_filter())
    root = logging.getLogger("spotify_exporter")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def client_settings(env_file: Path, **overrides: object) -> ClientSettings:
    """The client settings (``SPOTIFY_API_URL``, pacing, ...) from the environment, else from the
    ``.env`` file that holds the credentials, else the defaults; options given win over all."""
    from_file = read_dotenv(env_file) if env_file.is_file() else {}
    return settings_from_env({**from_file, **os.environ}, **overrides)


def open_store(
    out: Path | None, blob_url: str | None, connection_string: str | None, container: str | None
) -> SnapshotStore:
    if sum(x is not None for x in (out, blob_url, connection_string)) > 1:
        raise click.UsageError("give only one of --out, --blob-url and --blob-connection-string")
    if connection_string:
        from ..stores.blob import BlobStore

        return BlobStore.from_connection_string(connection_string, container or DEFAULT_CONTAINER)
    if blob_url:
        from ..stores.blob import BlobStore

        return BlobStore.from_url(blob_url, container, default_container=DEFAULT_CONTAINER)
    return LocalFolderStore(out or Path("backups"))


F = TypeVar("F", bound=Callable[..., Any])


def blob_options(command: F) -> F:
    """The options that say which Blob container holds the snapshots."""
    for option in reversed(
        (
            click.option(
                "--blob-url", help="Azure Blob account or container URL (signs in with DefaultAzureCredential)."
            ),
            click.option(
                "--blob-connection-string",
                envvar="SNAPSHOT_BLOB_CONNECTION_STRING",
                show_envvar=True,
                help="Azure Storage connection string (Azurite, or an account key).",
            ),
            click.option(
                "--container", help="Blob container for snapshots [default: spotify, or the one in --blob-url]."
            ),
        )
    ):
        command = option(command)
    return command


def store_options(command: F) -> F:
    """The options that say where snapshots are: the same for every command."""
    folder = click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        help="Local folder for snapshots [default: ./backups].",
    )
    return folder(blob_options(command))


def account_option(command: F) -> F:
    """``--account``: whose refresh token to use, when one Spotify app serves several people."""
    return click.option(
        "--account",
        "account_alias",
        default=DEFAULT_ACCOUNT,
        show_default=True,
        metavar="ALIAS",
        help='Whose refresh token: SPOTIFY_REFRESH_TOKEN_<ALIAS> (from `make auth ARGS="--account ALIAS"`).',
    )(command)


def env_file_option(help_text: str) -> Callable[[F], F]:
    """``--env-file``: where credentials come from when they are not in the environment."""
    return click.option(
        "--env-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=Path(".env"),
        show_default=True,
        help=help_text,
    )


def snapshot_in(store: SnapshotStore, reference: str | None) -> tuple[SnapshotStore, SnapshotInfo]:
    """A snapshot named by a local folder path or by ``<account>/<time>`` (or time) in ``store``."""
    if reference is not None:
        local = store_for_path(reference)
        if local is not None:
            local_store, folder = local
            return local_store, SnapshotInfo(folder, read_manifest(local_store, folder))
    return store, resolve_snapshot(store, reference)
