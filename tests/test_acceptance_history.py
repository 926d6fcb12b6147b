"""`list`, `diff`, `report` and `portable` on snapshots of the spec-written stand-in, with a newer
folder that has no manifest (an export that died): readers skip it and say so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from acceptance_standin import JANE, StandinSpotify, World, build_world
from lxml import etree
from test_acceptance_export import run_cli, snapshots


@pytest.fixture
def world() -> Iterator[World]:
    with StandinSpotify() as standin:
        yield build_world(standin)


def test_history_commands_read_complete_snapshots_and_skip_a_dead_one(world: World, tmp_path: Path) -> None:
    assert run_cli(world, ["export"], tmp_path).returncode == 0
    road = world.standin.playlists[world.playlists["road"].id]
    road.name, road.version = "Road Trip 2025", road.version + 1
    del road.entries[0]
    world.standin.accounts[JANE].liked.pop(0)
    assert run_cli(world, ["export"], tmp_path).returncode == 0
    old, new = snapshots(tmp_path / "backups")
    dead = tmp_path / "backups" / JANE / "2099-01-01T00-00-00Z"  # newer than both, no manifest
    dead.mkdir()
    (dead / "library.csv").write_bytes(b"\xef\xbb\xbfadded_at\r\n")

    listing = run_cli(world, ["list"], tmp_path)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [f"{JANE}/{old.name}", f"{JANE}/{new.name}", f"{JANE}/{dead.name}"]
    assert "complete" in lines[0] and "complete" in lines[1] and "no manifest" in lines[2]

    diff = run_cli(world, ["diff"], tmp_path)
    assert diff.returncode == 0, diff.stderr
    assert old.name in diff.stdout and new.name in diff.stdout and dead.name not in diff.stdout
    assert f"{JANE}/{dead.name}" in diff.stderr and "manifest" in diff.stderr  # skipped, and it says so
    assert "Road Trip ☀️ / 2024 -> Road Trip 2025" in diff.stdout
    assert "=SUM(A1:A2)" in diff.stdout  # the liked song removed, and the item removed from the playlist
    changes = json.loads(run_cli(world, ["diff", "--json", str(old), str(new)], tmp_path).stdout)
    assert changes["summary"]["library"]["removed"] == 1
    assert changes == json.loads((new / "changes.json").read_text())  # the document every export writes

    report = run_cli(world, ["report"], tmp_path)
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "backups" / "report.html").read_text()
    assert "Road Trip 2025" in page and "<script" not in page.lower()
    assert "1 unfinished export ignored" in page

    dry_run = run_cli(world, ["restore", "latest", "--dry-run"], tmp_path)
    assert dry_run.returncode == 0, dry_run.stderr
    assert f"{JANE}/{dead.name}" in dry_run.stderr and "Road Trip 2025" in dry_run.stdout

    portable = run_cli(world, ["portable", "latest", "--out", "moving"], tmp_path)
    assert portable.returncode == 0, portable.stderr
    assert new.name in portable.stdout and f"{JANE}/{dead.name}" in portable.stderr
    files = sorted((tmp_path / "moving" / "portable").iterdir())
    assert len(files) == 12  # five playlists and liked songs, as XSPF and JSPF
    xspf = next(p for p in files if p.name.startswith("Road Trip 2025") and p.suffix == ".xspf")
    tracks = etree.parse(str(xspf)).findall(".//{http://xspf.org/ns/0/}track")
    assert len(tracks) == 7  # every item, the local file and the unavailable one included
    identifiers = [[str(i.text) for i in track.findall("{http://xspf.org/ns/0/}identifier")] for track in tracks]
    assert len(identifiers[0]) == 1  # "+1 (Remix)" has no external_ids: its Spotify URL only
    assert identifiers[1][0].startswith("https://open.spotify.com/episode/")
    assert identifiers[2] == [] and identifiers[3] == []  # the local file and the unavailable item: none
    assert identifiers[4][0].startswith("https://open.spotify.com/track/") and identifiers[4][1].startswith("isrc:QZ")
