"""The commands that read snapshots back: ``list``, ``diff``, ``report`` and ``portable``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..diff import describe, diff_snapshots
from ..errors import ExporterError
from ..history import SnapshotReader, list_snapshots, single_account
from ..portable import copy_portable_playlists
from ..report import write_report
from ..snapshot import PORTABLE_FOLDER
from ..stores.local import LocalFolderStore
from .common import blob_options, open_store, say, snapshot_in, store_options


@click.command(name="list")
@store_options
def list_command(
    out: Path | None, blob_url: str | None, blob_connection_string: str | None, container: str | None
) -> None:
    """List the snapshots in a store, oldest first."""
    store = open_store(out, blob_url, blob_connection_string, container)
    listing = list_snapshots(store, say_skipped=False)  # listed below
    if not listing.finished and not listing.unfinished:
        say(f"no snapshots in {store.location}")
        return
    for info in listing.finished:
        datasets = info.manifest.get("datasets", {})
        counts = ", ".join(
            f"{datasets[name]['count']} {label}"
            for name, label in (("library", "liked"), ("playlists", "playlists"), ("playlist_items", "items"))
            if isinstance(datasets.get(name), dict)
        )
        continues = info.manifest.get("continues")
        say(
            f"{info.folder}  {info.manifest.get('status', '?'):<8}  {counts}"
            + (f"  (continues {continues})" if continues else "")
        )
    for folder in listing.unfinished:
        say(f"{folder}  unfinished (no manifest: the export died; ignored)")


@click.command()
@click.argument("old", required=False)
@click.argument("new", required=False)
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON (the format of changes.json).")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True, help="Lines per list (0: all).")
def diff(
    old: str | None,
    new: str | None,
    out: Path | None,
    blob_url: str | None,
    blob_connection_string: str | None,
    container: str | None,
    as_json: bool,
    limit: int,
) -> None:
    """What changed between two snapshots.

    OLD and NEW are snapshot folders (paths) or <account>/<time> in the store; by default
    the two latest complete snapshots, and with OLD alone, OLD against the latest."""
    store = open_store(out, blob_url, blob_connection_string, container)
    if old is None:
        complete = single_account(list_snapshots(store), store)
        if len(complete) < 2:
            raise ExporterError(f"{store.location} has fewer than two complete snapshots: nothing to compare")
        old_store, old_info, new_store, new_info = store, complete[-2], store, complete[-1]
    else:
        old_store, old_info = snapshot_in(store, old)
        new_store, new_info = snapshot_in(old_store if new is None else store, new)
    document = diff_snapshots(SnapshotReader(old_store, old_info), SnapshotReader(new_store, new_info))
    if as_json:
        say(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        say("\n".join(describe(document, limit)))


@click.command()
@store_options
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The HTML file to write [default: report.html in the --out folder, or ./report.html for Blob].",
)
@click.option("--account", "account_id", help="The Spotify account to report on, when the store holds several.")
def report(
    out: Path | None,
    blob_url: str | None,
    blob_connection_string: str | None,
    container: str | None,
    output: Path | None,
    account_id: str | None,
) -> None:
    """Write one self-contained HTML page about the account's history: library size over time,
    additions and removals per week, artists liked per month, largest playlists, latest changes."""
    store = open_store(out, blob_url, blob_connection_string, container)
    if output is None:
        output = (
            (out or Path("backups")) / "report.html"
            if not (blob_url or blob_connection_string)
            else Path("report.html")
        )
    written = write_report(store, output, account_id)
    say(f"Report written: {written.resolve()}")


# -- portable: XSPF and JSPF of an existing snapshot ---------------------------------------


@click.command()
@click.argument("snapshot")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write portable/ (and the covers/ its files point to) into.",
)
@click.option(
    "--backups",
    type=click.Path(file_okay=False, path_type=Path),
    help="Local folder holding the snapshots, when SNAPSHOT is <account>/<time> [default: ./backups].",
)
@blob_options
def portable(
    snapshot: str,
    out: Path,
    backups: Path | None,
    blob_url: str | None,
    blob_connection_string: str | None,
    container: str | None,
) -> None:
    """Write the portable playlists (XSPF and JSPF) of SNAPSHOT into --out.

    SNAPSHOT is a snapshot folder, <account>/<time> or "latest". Every snapshot has them in
    its portable/ folder; this makes them for snapshots from before they existed, and copies
    them out of Blob Storage. Every file read is checked against the snapshot's manifest."""
    store, info = snapshot_in(open_store(backups, blob_url, blob_connection_string, container), snapshot)
    if not info.complete:
        click.echo(f"warning: {info.folder} is a partial snapshot; its files say what is missing", err=True)
    target = LocalFolderStore(out)
    index = copy_portable_playlists(SnapshotReader(store, info), target)
    click.echo(
        f"Liked songs and {len(index.playlists)} playlists of {info.folder} as XSPF and JSPF: "
        f"{target.location}/{PORTABLE_FOLDER}"
    )
