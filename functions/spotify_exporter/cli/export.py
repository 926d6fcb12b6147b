"""``spotify-exporter export``: a new snapshot of the account, or the latest partial one finished."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from ..connect import connect
from ..credentials import EnvironmentSecrets
from ..export import DatasetOutcome, ExportResult, run_export
from ..locking import local_lock
from ..resume import NothingToResume, resume_latest
from ..stores.local import LocalFolderStore
from .common import (
    EXIT_ACTION_REQUIRED,
    EXIT_PARTIAL,
    account_option,
    client_settings,
    configure_logging,
    env_file_option,
    open_store,
    say,
    store_options,
)


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


@click.command()
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
    """Export the account into a new snapshot (exit 0 complete, 2 partial, 3 complete but you must act, 1 error).

    Playlists whose version (snapshot_id) is the same as in the latest complete snapshot
    are copied from it instead of being read again; --full reads everything. --resume
    finishes the latest snapshot in place when it is partial (exit 0 if there is none); in a
    write-once Blob container, in a new folder that continues it."""
    interactive = sys.stderr.isatty()
    console = Console(stderr=True) if interactive else None
    configure_logging(verbose, console)
    settings = client_settings(
        env_file,
        max_requests_per_30s=max_requests_per_30s,
        max_retry_after_s=max_retry_after,
        rate_limit_budget_s=rate_limit_budget,
    )
    store = open_store(out, blob_url, blob_connection_string, container)
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
