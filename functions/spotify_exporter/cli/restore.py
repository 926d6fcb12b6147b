"""``spotify-exporter restore``: a snapshot put back into the authorized account."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from ..connect import connect
from ..credentials import EnvironmentSecrets
from ..history import SnapshotReader
from ..restore import Selection, run_restore
from .common import (
    account_option,
    client_settings,
    configure_logging,
    env_file_option,
    open_store,
    say,
    snapshot_in,
    store_options,
)


@click.command()
@click.argument("snapshot")
@store_options
@click.option("--playlists", "playlists", multiple=True, metavar="NAME|ID", help="A playlist to restore (repeatable).")
@click.option("--all-playlists", is_flag=True, help="Every playlist of the snapshot.")
@click.option("--library", is_flag=True, help="Liked songs, saved shows, episodes and audiobooks.")
@click.option("--albums", is_flag=True, help="Saved albums.")
@click.option("--artists", is_flag=True, help="Followed artists.")
@click.option("--dry-run", is_flag=True, help="Print what would be done; change nothing.")
@env_file_option("Credentials of the account to restore into (authorized with `make auth ARGS=--restore`).")
@account_option
@click.option("-v", "--verbose", is_flag=True, help="Log every step.")
def restore(
    snapshot: str,
    out: Path | None,
    blob_url: str | None,
    blob_connection_string: str | None,
    container: str | None,
    playlists: tuple[str, ...],
    all_playlists: bool,
    library: bool,
    albums: bool,
    artists: bool,
    dry_run: bool,
    env_file: Path,
    account_alias: str,
    verbose: bool,
) -> None:
    """Put SNAPSHOT (a folder, <account>/<time> or "latest") back into the authorized account.

    With no selection everything is restored. Playlists are recreated with their items in
    order, flags, description and cover; followed playlists are followed again. Running it
    again after an interruption resumes: nothing is added twice."""
    configure_logging(verbose, Console(stderr=True) if sys.stderr.isatty() else None)
    store, info = snapshot_in(open_store(out, blob_url, blob_connection_string, container), snapshot)
    if not info.complete:
        say(f"warning: {info.folder} is a partial snapshot; only what it holds can be restored", err=True)
    selection = Selection(playlists, all_playlists, library, albums, artists)
    client = connect(EnvironmentSecrets(dotenv_path=env_file, account=account_alias), client_settings(env_file), [])
    plan, report = run_restore(SnapshotReader(store, info), client, selection, dry_run=dry_run)
    if report is None:
        say("\n".join([*plan.describe(), "Dry run: nothing was changed."]))
        return
    say("\n".join(report.describe()))
