"""``spotify-exporter``: the command line, a thin shell over :mod:`spotify_exporter.export`.

Exit status: 0 the snapshot is complete, 2 it is partial (what could be read was
written; the manifest says what is missing), 3 it is complete but the next run will
be refused unless the user acts (a rotated refresh token could not be saved), 1
nothing usable was written (bad settings, refused credentials, unreachable store) or
the command line was wrong.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from . import __version__
from .accounts import DEFAULT_ACCOUNT
from .connect import connect
from .credentials import EnvironmentSecrets
from .diff import describe, diff_snapshots
from .errors import ExporterError
from .export import DatasetOutcome, ExportResult, run_export
from .history import (
    SnapshotInfo,
    SnapshotReader,
    list_snapshots,
    read_manifest,
    resolve_snapshot,
    single_account,
    store_for_path,
)
from .locking import local_lock
from .portable import copy_portable_playlists
from .report import write_report
from .restore import Selection, run_restore
from .resume import NothingToResume, resume_latest
from .settings import settings_from_env
from .snapshot import PORTABLE_FOLDER
from .stores import SnapshotStore
from .stores.local import LocalFolderStore
from .terminal import printable, printable_filter

EXIT_COMPLETE, EXIT_ERROR, EXIT_PARTIAL, EXIT_ACTION_REQUIRED = 0, 1, 2, 3
DEFAULT_CONTAINER = "spotify"
log = logging.getLogger("spotify_exporter")


class RichProgress:
    """Progress bars per dataset, for a person at a terminal."""

    def __init__(self, console: Console) -> None:
        self._bars = Progress(
            TextColumn("{task.description:<15}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.stop()

    def started(self, dataset: str, total: int | None) -> None:
        if dataset not in self._tasks:
            self._tasks[dataset] = self._bars.add_task(dataset, total=total)
        else:
            self._bars.update(self._tasks[dataset], total=total)

    def advanced(self, dataset: str, rows: int) -> None:
        self.started(dataset, None) if dataset not in self._tasks else None
        self._bars.advance(self._tasks[dataset], rows)

    def finished(self, dataset: str, outcome: DatasetOutcome) -> None:
        if dataset not in self._tasks:
            self.started(dataset, outcome.count)
        label = dataset if outcome.status == "complete" else f"{dataset} ({outcome.status})"
        self._bars.update(self._tasks[dataset], total=outcome.count, completed=outcome.count, description=label)


def say(text: str, err: bool = False) -> None:
    """Print a line for the user: everything the command line prints goes through here, so names
    from Spotify (playlists, songs, ids) cannot send escape sequences to the terminal."""
    click.echo(printable(text), err=err)


def _configure_logging(verbose: bool, console: Console | None) -> None:
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


def _open_store(
    out: Path | None, blob_url: str | None, connection_string: str | None, container: str | None
) -> SnapshotStore:
    if sum(x is not None for x in (out, blob_url, connection_string)) > 1:
        raise click.UsageError("give only one of --out, --blob-url and --blob-connection-string")
    if connection_string:
        from .stores.blob import BlobStore

        return BlobStore.from_connection_string(connection_string, container or DEFAULT_CONTAINER)
    if blob_url:
        from .stores.blob import BlobStore

        return BlobStore.from_url(blob_url, container, default_container=DEFAULT_CONTAINER)
    return LocalFolderStore(out or Path("backups"))


def _summary(result: ExportResult) -> str:
    manifest = result.manifest
    lines = [f"Snapshot {result.status}{' (resumed)' if result.resumed else ''}: {result.location}/{result.folder}"]
    for name, entry in manifest["datasets"].items():
        note = "" if entry["status"] == "complete" else f"  [{entry['status']}]"
        lines.append(f"  {name:<15} {entry['count']:>7} rows{note}")
    lines.append(f"  {manifest['requests']} requests, {manifest['retries']} retries, {result.duration_s:.1f} s")
    incremental = manifest.get("incremental") or {}
    if incremental.get("playlists_reused"):
        lines.append(f"  {incremental['playlists_reused']} unchanged playlists copied from {incremental['base']}")
    if manifest.get("portable"):
        lines.append(f"  every playlist as XSPF and JSPF, for moving to another service: {result.folder}/portable/")
    if manifest.get("changes_file") and incremental.get("base"):
        lines.append(f"  changes since the previous snapshot: spotify-exporter diff (or {manifest['changes_file']})")
    lines.extend(f"  warning: {warning}" for warning in manifest["warnings"])
    return "\n".join(lines)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.version_option(__version__, prog_name="spotify-exporter")
@click.pass_context
def cli(context: click.Context) -> None:
    """Back up a Spotify account: liked songs, playlists and their items, albums, artists,
    shows, episodes and audiobooks, as CSV + JSON snapshots."""
    if context.invoked_subcommand is None:
        click.echo(context.get_help())  # our own text


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


@cli.command()
@store_options
@click.option("--full", is_flag=True, help="Read every playlist again, even those unchanged since the last snapshot.")
@click.option(
    "--resume",
    is_flag=True,
    help="Finish the account's latest snapshot if it is partial, reading only what it lacks, instead of a new one.",
)
@env_file_option(
    "File with SPOTIFY_CLIENT_ID, SPOTIFY_CLIENT_SECRET, SPOTIFY_REFRESH_TOKEN when not in the environment."
)
@account_option
@click.option(
    "--max-requests-per-30s",
    type=click.IntRange(min=1),
    help="Pacing: requests per rolling 30 s [default: 150].",
)
@click.option(
    "--max-retry-after",
    type=click.FloatRange(min=0),
    help="Longest Retry-After to wait out, in s [default: 60].",
)
@click.option(
    "--rate-limit-budget",
    type=click.FloatRange(min=0),
    help="Total 429 waiting per run, in s [default: 300].",
)
@click.option("-v", "--verbose", is_flag=True, help="Log every step.")
def export(
    out: Path | None,
    blob_url: str | None,
    blob_connection_string: str | None,
    container: str | None,
    env_file: Path,
    account_alias: str,
    max_requests_per_30s: int | None,
    max_retry_after: float | None,
    rate_limit_budget: float | None,
    verbose: bool,
    full: bool,
    resume: bool,
) -> None:
    """Export the account into a new snapshot (exit 0 complete, 2 partial, 1 error).

    Playlists whose version (snapshot_id) is the same as in the latest complete snapshot
    are copied from it instead of being read again; --full reads everything. --resume
    finishes the latest snapshot in place when it is partial (exit 0 if there is none); in a
    write-once Blob container, in a new folder that continues it."""
    interactive = sys.stderr.isatty()
    console = Console(stderr=True) if interactive else None
    _configure_logging(verbose, console)
    settings = settings_from_env(
        max_requests_per_30s=max_requests_per_30s,
        max_retry_after_s=max_retry_after,
        rate_limit_budget_s=rate_limit_budget,
    )
    store = _open_store(out, blob_url, blob_connection_string, container)
    warnings: list[str] = []
    client = connect(EnvironmentSecrets(dotenv_path=env_file, account=account_alias), settings, warnings)
    options: dict[str, Any] = {"warnings": warnings, "incremental": not full}
    guard: AbstractContextManager[None] = nullcontext()
    if resume:
        options["resume"] = resume_latest(store)
        if isinstance(store, LocalFolderStore):  # never two resumes of one folder at once
            guard = local_lock(store.root)
    try:
        with guard:
            if console is not None:
                with RichProgress(console) as progress:
                    result = run_export(client, store, progress=progress, **options)
            else:
                result = run_export(client, store, **options)
    except NothingToResume as nothing:
        say(f"Nothing to resume: {nothing}")
        return
    say(_summary(result))
    action_required = result.manifest.get("action_required") or []
    for problem in action_required:
        say(f"error: {problem}", err=True)
    if result.status != "complete":
        say(f"error: the snapshot is partial: {result.manifest.get('error') or 'see warnings'}", err=True)
        sys.exit(EXIT_PARTIAL)
    if action_required:
        sys.exit(EXIT_ACTION_REQUIRED)


def _snapshot_in(store: SnapshotStore, reference: str | None) -> tuple[SnapshotStore, SnapshotInfo]:
    """A snapshot named by a local folder path or by ``<account>/<time>`` (or time) in ``store``."""
    if reference is not None:
        local = store_for_path(reference)
        if local is not None:
            local_store, folder = local
            return local_store, SnapshotInfo(folder, read_manifest(local_store, folder))
    return store, resolve_snapshot(store, reference)


@cli.command(name="list")
@store_options
def list_command(
    out: Path | None, blob_url: str | None, blob_connection_string: str | None, container: str | None
) -> None:
    """List the snapshots in a store, oldest first."""
    store = _open_store(out, blob_url, blob_connection_string, container)
    listing = list_snapshots(store)
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


@cli.command()
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
    store = _open_store(out, blob_url, blob_connection_string, container)
    if old is None:
        complete = single_account(list_snapshots(store), store)
        if len(complete) < 2:
            raise ExporterError(f"{store.location} has fewer than two complete snapshots: nothing to compare")
        old_store, old_info, new_store, new_info = store, complete[-2], store, complete[-1]
    else:
        old_store, old_info = _snapshot_in(store, old)
        new_store, new_info = _snapshot_in(old_store if new is None else store, new)
    document = diff_snapshots(SnapshotReader(old_store, old_info), SnapshotReader(new_store, new_info))
    if as_json:
        say(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        say("\n".join(describe(document, limit)))


@cli.command()
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
    store = _open_store(out, blob_url, blob_connection_string, container)
    if output is None:
        output = (
            (out or Path("backups")) / "report.html"
            if not (blob_url or blob_connection_string)
            else Path("report.html")
        )
    written = write_report(store, output, account_id)
    say(f"Report written: {written.resolve()}")


@cli.command()
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
    _configure_logging(verbose, Console(stderr=True) if sys.stderr.isatty() else None)
    store, info = _snapshot_in(_open_store(out, blob_url, blob_connection_string, container), snapshot)
    if not info.complete:
        say(f"warning: {info.folder} is a partial snapshot; only what it holds can be restored", err=True)
    selection = Selection(playlists, all_playlists, library, albums, artists)
    client = connect(EnvironmentSecrets(dotenv_path=env_file, account=account_alias), settings_from_env(), [])
    plan, report = run_restore(SnapshotReader(store, info), client, selection, dry_run=dry_run)
    if report is None:
        say("\n".join([*plan.describe(), "Dry run: nothing was changed."]))
        return
    say("\n".join(report.describe()))


# -- portable: XSPF and JSPF of an existing snapshot ---------------------------------------


@cli.command()
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
    store, info = _snapshot_in(_open_store(backups, blob_url, blob_connection_string, container), snapshot)
    if not info.complete:
        click.echo(f"warning: {info.folder} is a partial snapshot; its files say what is missing", err=True)
    target = LocalFolderStore(out)
    index = copy_portable_playlists(SnapshotReader(store, info), target)
    click.echo(
        f"Liked songs and {len(index.playlists)} playlists of {info.folder} as XSPF and JSPF: "
        f"{target.location}/{PORTABLE_FOLDER}"
    )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: one clean line for every expected error, never a traceback."""
    # the next page is fetched on a second thread while this one writes files; a short GIL
    # switch interval lets that thread send its request at once instead of up to 5 ms later
    sys.setswitchinterval(0.0005)
    try:
        cli.main(args=argv, prog_name="spotify-exporter", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_ERROR)
    except click.exceptions.Abort:
        say("aborted", err=True)
        sys.exit(EXIT_ERROR)
    except ExporterError as error:
        say(f"error: {error}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        say("interrupted: no manifest was written, so this snapshot counts as incomplete", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
