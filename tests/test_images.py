"""Cover images are optional work: an image host that is down, swallows connections, redirects
elsewhere or answers with something else never stretches or breaks a run (issue 12)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from exporter_fixtures import NoSleep, export_account, write_env_file
from snapshot_checks import DATASETS, assert_matches_truth, verify_snapshot

from spotify_exporter.covers import IMAGE_HOST_FAILURES_IN_A_ROW, OptionalDownloads
from spotify_exporter.errors import OptionalWorkSkipped
from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import Account, Faults, SpotifySimulator, build_account
from spotify_simulator.covers import jpeg

Simulator = Callable[..., SpotifySimulator]


def custom_covers(sim: SpotifySimulator) -> set[str]:
    return {p.id for p in sim.account.playlists if p.owner == 0 and p.cover is not None}


def export_with_image_host(sim: SpotifySimulator, tmp_path: Path, image_timeout_s: float = 5.0) -> Any:
    """The manifest of a complete, exact snapshot (whatever the image host did)."""
    store = LocalFolderStore(tmp_path / "backups")
    env_file = write_env_file(tmp_path / ".env", sim)
    result = export_account(sim, store, env_file, sleep=NoSleep(), image_timeout_s=image_timeout_s)
    assert result.status == "complete", result.manifest
    assert_matches_truth(store, result.folder, {name: sim.expected_rows(name) for name in DATASETS})
    return verify_snapshot(store, result.folder)


def with_covers_everywhere(size: str) -> Account:
    """The account with a custom cover on every playlist its user owns (the demo account: 23)."""
    account = build_account(size)
    for playlist in account.playlists:
        if playlist.owner == 0:
            playlist.cover = jpeg(f"cover of {playlist.id}")
    return account


@pytest.mark.parametrize("host", ["down", "black hole"])
def test_an_unreachable_image_host_is_given_up_after_a_few_tries_and_the_snapshot_stays_complete(
    tmp_path: Path, host: str
) -> None:
    with SpotifySimulator(with_covers_everywhere("demo"), faults=Faults(image_host=host)) as sim:
        # short image timeouts keep the black hole quick here; the defaults bound it at 3 x 5 s
        manifest = export_with_image_host(sim, tmp_path, image_timeout_s=0.2)

    covers = custom_covers(sim)
    assert len(covers) == 23
    assert manifest["image_downloads"] == IMAGE_HOST_FAILURES_IN_A_ROW, "then the rest are skipped"
    assert manifest["covers"] == dict.fromkeys(sorted(covers))
    assert not any(name.startswith("covers/") for name in manifest["files"])
    assert any(
        f"{23 - IMAGE_HOST_FAILURES_IN_A_ROW} custom cover(s) were not downloaded: the image host failed to answer "
        f"{IMAGE_HOST_FAILURES_IN_A_ROW} times in a row" in warning
        for warning in manifest["warnings"]
    )


def test_covers_skipped_by_one_run_are_downloaded_by_the_next(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "backups")
    with SpotifySimulator(build_account("small"), faults=Faults(image_host="down")) as sim:
        first = export_account(sim, store, write_env_file(tmp_path / ".env", sim))
    with SpotifySimulator(build_account("small")) as sim:
        second = export_account(sim, store, write_env_file(tmp_path / ".env", sim))

    assert first.status == second.status == "complete"
    assert set(first.manifest["covers"].values()) == {None}
    assert second.manifest["incremental"]["base"] == first.folder
    for playlist_id, name in second.manifest["covers"].items():
        assert (store.root / second.folder / name).read_bytes() == sim.cover_of(playlist_id)


def test_a_redirect_from_the_image_host_is_not_followed(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("demo", faults=Faults(image_host="redirect"))
    manifest = export_with_image_host(sim, tmp_path)

    assert sim.image_requests == len(custom_covers(sim)), "one request per cover, none to the other host"
    assert set(manifest["covers"].values()) == {None}
    assert any("could not be downloaded" in warning for warning in manifest["warnings"])


def test_what_is_not_an_image_is_not_kept(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("demo", faults=Faults(image_host="not an image"))
    manifest = export_with_image_host(sim, tmp_path)

    assert set(manifest["covers"].values()) == {None}
    assert not any(name.startswith("covers/") for name in manifest["files"])


def test_the_budget_for_optional_downloads_closes_after_failures_in_a_row_or_once_spent() -> None:
    budget = OptionalDownloads(30.0)
    for _ in range(IMAGE_HOST_FAILURES_IN_A_ROW - 1):
        budget.spent(1.0, connection_failed=True)
    budget.spent(0.1)  # an answer (of any status) ends the run of failures
    for _ in range(IMAGE_HOST_FAILURES_IN_A_ROW - 1):
        budget.spent(1.0, connection_failed=True)
    budget.check()
    assert budget.remaining_s() == pytest.approx(30.0 - 4.1)
    budget.spent(1.0, connection_failed=True)
    with pytest.raises(OptionalWorkSkipped, match="failed to answer 3 times in a row"):
        budget.check()

    spent = OptionalDownloads(30.0)
    spent.spent(29.0)
    spent.check()
    spent.spent(1.0)
    with pytest.raises(OptionalWorkSkipped, match="the 30 s allowed per run for cover images were spent"):
        spent.check()
