"""The snapshot writer's format rules, as a spreadsheet user or a script reading the files sees them."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

from snapshot_checks import read_csv

from spotify_exporter.snapshot import SnapshotWriter, csv_cell
from spotify_exporter.stores.local import LocalFolderStore


def test_formula_guard_and_empty_values() -> None:
    assert csv_cell("=SUM(A1)") == "'=SUM(A1)"
    assert [csv_cell(v) for v in ("+1", "-x", "@home", "\tx", "\rx")] == ["'+1", "'-x", "'@home", "'\tx", "'\rx"]
    assert csv_cell("a=b") == "a=b"
    assert csv_cell(None) == ""
    assert csv_cell(True) == "true" and csv_cell(False) == "false"
    assert csv_cell(0) == "0"


def test_csv_is_rfc4180_with_bom_and_crlf_and_json_keeps_the_exact_value(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    writer = SnapshotWriter(store, "acct/2026-11-25T00-00-00Z")
    tricky = 'a "quoted", multi\nline name — عربى 🎵'
    with writer.dataset("shows", ("added_at", "name", "uri")) as sink:
        sink.add({"added_at": None, "name": tricky, "uri": "spotify:show:1"}, {"name": tricky})
        sink.add({"added_at": "2026-01-01T00:00:00Z", "name": "=1+1", "uri": "spotify:show:2"}, {"name": "=1+1"})
    raw = (tmp_path / "acct/2026-11-25T00-00-00Z/shows.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfadded_at,name,uri\r\n")
    _, rows = read_csv(store, "acct/2026-11-25T00-00-00Z/shows.csv")
    assert rows[0] == {"added_at": "", "name": tricky, "uri": "spotify:show:1"}
    assert rows[1]["name"] == "'=1+1"
    lines = gzip.decompress((tmp_path / "acct/2026-11-25T00-00-00Z/json/shows.jsonl.gz").read_bytes()).splitlines()
    assert [json.loads(line)["name"] for line in lines] == [tricky, "=1+1"]
    assert writer.files["shows.csv"].rows == 2


def test_an_empty_dataset_still_has_its_header(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path)
    writer = SnapshotWriter(store, "a/t")
    with writer.dataset("artists", ("artist_name", "artist_uri", "genres")):
        pass
    data = (tmp_path / "a/t/artists.csv").read_bytes()
    assert list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))) == [
        ["artist_name", "artist_uri", "genres"]
    ]
    assert writer.files["artists.csv"].rows == 0


def test_same_rows_give_byte_identical_files(tmp_path: Path) -> None:
    digests = []
    for run in ("one", "two"):
        writer = SnapshotWriter(LocalFolderStore(tmp_path / run), "a/t")
        with writer.dataset("shows", ("added_at", "name", "uri")) as sink:
            sink.add({"name": "x"}, {"name": "x"})
        digests.append(writer.file_table())
    assert digests[0] == digests[1]
