"""Portable playlists (XSPF, JSPF) checked against the formats' own definitions and the CSVs.

XSPF is validated with the Relax NG schema that xspf.org names for XSPF 1, JSPF with a JSON
Schema written from the published JSPF structure (tests/portable_formats/SOURCES.md says where
each comes from). The round trip is read independently of the exporter's code: every playlist's
entries in the XSPF, in order, say what its rows in ``playlist_items.csv`` say (liked songs:
``library.csv``), and the JSPF says the same as the XSPF.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import unicodedata
from collections.abc import Callable
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import jsonschema
import pytest
from azurite import Azurite
from exporter_fixtures import SpotifyUser, cli_env, export_account, run_cli, write_env_file
from lxml import etree
from snapshot_checks import guard, read_bytes, read_csv, verify_snapshot

from spotify_exporter import rows
from spotify_exporter.export import ExportResult
from spotify_exporter.history import SnapshotInfo, SnapshotReader
from spotify_exporter.pathnames import safe_title
from spotify_exporter.portable import PortableBuilder, PortableError, StoreFiles, write_portable_playlists
from spotify_exporter.snapshot import SnapshotWriter, cover_file, portable_base_name
from spotify_exporter.stores import SnapshotStore
from spotify_exporter.stores.blob import BlobStore
from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import SpotifySimulator

Simulator = Callable[..., SpotifySimulator]
FORMATS = Path(__file__).parent / "portable_formats"
XSPF = "{http://xspf.org/ns/0/}"
SPOTIFY_WEB = "https://open.spotify.com/"
WINDOWS_FORBIDDEN = set('<>:"/\\|?*')
Entry = dict[str, Any]


@cache
def xspf_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(FORMATS / "xspf-1_0.7.rng")))


@cache
def jspf_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((FORMATS / "jspf.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def conformance_files(kind: str) -> list[Path]:
    return sorted((FORMATS / "conformance" / kind).glob("*.xspf"))


# -- the formats' own definitions ----------------------------------------------------------


@pytest.mark.parametrize("path", conformance_files("pass"), ids=lambda p: p.name)
def test_the_xspf_schema_accepts_the_conformance_suites_valid_playlists(path: Path) -> None:
    assert xspf_schema().validate(etree.parse(str(path))), xspf_schema().error_log


@pytest.mark.parametrize("path", conformance_files("fail"), ids=lambda p: p.name)
def test_the_xspf_schema_rejects_the_conformance_suites_invalid_playlists(path: Path) -> None:
    assert not xspf_schema().validate(etree.parse(str(path)))


def test_the_jspf_schema_takes_the_published_example_and_refuses_what_jspf_does_not_allow() -> None:
    example = {
        "playlist": {
            "title": "JSPF example",
            "creator": "Name of playlist author",
            "annotation": "Super playlist",
            "identifier": "http://example.com/",
            "image": "http://example.com/",
            "date": "2005-01-08T17:10:47-05:00",
            "attribution": [{"identifier": "http://example.com/"}, {"location": "http://example.com/"}],
            "link": [{"http://example.com/rel/1/": "http://example.com/body/1/"}],
            "meta": [{"http://example.com/rel/1/": "my meta 14"}],
            "extension": {"http://example.com/app/1/": [{"any": "body"}]},
            "track": [
                {
                    "location": ["http://example.com/1.ogg"],
                    "identifier": ["http://example.com/1/"],
                    "title": "Track title",
                    "creator": "Artist name",
                    "album": "Album name",
                    "trackNum": 1,
                    "duration": 0,
                }
            ],
        }
    }
    assert not list(jspf_validator().iter_errors(example))
    broken_documents: list[dict[str, Any]] = [
        {"playlist": {"track": {"title": "not a list"}}},
        {"playlist": {"track": [{"identifier": "https://example.com/a-string-not-a-list"}]}},
        {"playlist": {"track": [{"duration": -1}]}},
        {"playlist": {"track": [{"length": 1}]}},
        {"playlist": {"extension": {"https://musicbrainz.org/doc/jspf#playlist": {"public": "yes"}}}},
        {"tracks": []},
    ]
    for broken in broken_documents:
        assert list(jspf_validator().iter_errors(broken)), broken


# -- reading the files back, independently of the exporter --------------------------------------


def xspf_document(data: bytes) -> tuple[Entry, list[Entry]]:
    """The head and the entries of an XSPF file, after validating it."""
    root = etree.fromstring(data)
    assert xspf_schema().validate(root), xspf_schema().error_log
    head = {str(child.tag).removeprefix(XSPF): child.text or "" for child in root if child.tag != f"{XSPF}trackList"}
    entries = []
    for track in root.iterfind(f"{XSPF}trackList/{XSPF}track"):
        entry: Entry = {"identifier": [i.text for i in track.iterfind(f"{XSPF}identifier")]}
        for name in ("title", "creator", "album", "annotation"):
            element = track.find(f"{XSPF}{name}")
            if element is not None:
                entry[name] = element.text or ""
        duration = track.findtext(f"{XSPF}duration")
        if duration is not None:
            entry["duration"] = int(duration)
        entries.append(entry)
    return head, entries


def jspf_document(data: bytes) -> tuple[Entry, list[Entry]]:
    document = json.loads(data)
    errors = list(jspf_validator().iter_errors(document))
    assert not errors, errors[0]
    playlist = document["playlist"]
    entries = [{"identifier": [], **track} for track in playlist["track"]]
    return {k: v for k, v in playlist.items() if k not in ("track", "extension")}, entries


def item_type_of_liked(row: dict[str, str]) -> str:
    if not row["track_uri"]:
        return "unavailable"
    return "local" if row["track_uri"].startswith("spotify:local:") else "track"


def assert_entry_matches_row(entry: Entry, row: dict[str, str], item_type: str, where: str) -> None:
    if item_type == "unavailable":
        assert entry == {"identifier": [], "annotation": entry.get("annotation")}, where
        assert "Unavailable" in entry["annotation"], where
        return
    assert guard(entry.get("title", "")) == row["track_name"], where
    assert guard(entry.get("creator", "")) == row["artists"], where
    assert guard(entry.get("album", "")) == row["album"], where
    assert str(entry.get("duration", "")) == row["duration_ms"], where
    if item_type == "local":
        assert entry["identifier"] == [], where
        assert "Local file" in entry["annotation"], where
        return
    kind, _, spotify_id = row["track_uri"].removeprefix("spotify:").partition(":")
    expected = [f"{SPOTIFY_WEB}{kind}/{spotify_id}"] + ([f"isrc:{row['isrc']}"] if row["isrc"] else [])
    assert entry["identifier"] == expected, where
    assert "annotation" not in entry, where


def assert_safe_file_name(path: str) -> None:
    name = PurePosixPath(path).name
    assert path.startswith("portable/") and "/" not in path.removeprefix("portable/"), path
    assert not set(name) & WINDOWS_FORBIDDEN, name
    assert all(unicodedata.category(c)[0] != "C" or c == "\u200d" for c in name), repr(name)
    assert name == unicodedata.normalize("NFC", name), name
    assert len(name.encode()) <= 255 and not name.startswith((".", "-", " ")), name
    stem = name.rsplit(".", 1)[0]
    assert stem == stem.strip(" ."), name


def check_portable_files(store: SnapshotStore, result: ExportResult) -> dict[str, dict[str, list[Entry]]]:
    """Every portable file of the snapshot against its definition, the manifest and the CSVs;
    returns the entries per playlist id ("" for liked songs) for further checks."""
    folder, manifest = result.folder, verify_snapshot(store, result.folder)
    portable = manifest["portable"]
    _, playlists = read_csv(store, f"{folder}/playlists.csv")
    _, items = read_csv(store, f"{folder}/playlist_items.csv")
    _, liked = read_csv(store, f"{folder}/library.csv")
    rows_of: dict[str, list[dict[str, str]]] = {"": liked}
    for row in items:
        rows_of.setdefault(row["playlist_id"], []).append(row)
    files = {"": portable["liked_songs"], **portable["playlists"]}
    assert set(files) == {""} | {p["playlist_id"] for p in playlists}, "one pair per playlist, none dropped"
    names = [name for pair in files.values() for name in pair.values()]
    assert len({n.casefold() for n in names}) == len(names), "names unique even where case is ignored"
    entries_by_playlist: dict[str, dict[str, list[Entry]]] = {}
    details = {p["playlist_id"]: p for p in playlists}
    for playlist_id, pair in files.items():
        assert pair["xspf"].endswith(".xspf") and pair["jspf"] == pair["xspf"].removesuffix(".xspf") + ".jspf"
        heads_and_entries = {}
        for kind, parse in (("xspf", xspf_document), ("jspf", jspf_document)):
            assert_safe_file_name(pair[kind])
            data = read_bytes(store, f"{folder}/{pair[kind]}")
            listed = manifest["files"][pair[kind]]
            assert hashlib.sha256(data).hexdigest() == listed["sha256"] and len(data) == listed["bytes"]
            heads_and_entries[kind] = parse(data)
            assert listed["rows"] == len(heads_and_entries[kind][1]), pair[kind]
        (head, entries), (jspf_head, jspf_entries) = heads_and_entries["xspf"], heads_and_entries["jspf"]
        assert jspf_entries == entries, pair["jspf"]
        assert jspf_head == head, pair["jspf"]
        rows = rows_of.get(playlist_id, [])
        assert len(entries) == len(rows), f"{pair['xspf']}: {len(entries)} entries, {len(rows)} CSV rows"
        for position, (entry, row) in enumerate(zip(entries, rows, strict=True)):
            item_type = row["item_type"] if playlist_id else item_type_of_liked(row)
            assert_entry_matches_row(entry, row, item_type, f"{pair['xspf']} entry {position}")
        if playlist_id:
            check_playlist_head(store, folder, manifest, head, details[playlist_id], pair["xspf"])
        else:
            assert head["title"] == "Liked Songs"
        entries_by_playlist[playlist_id] = {"xspf": entries, "jspf": jspf_entries}
    return entries_by_playlist


def check_playlist_head(
    store: SnapshotStore, folder: str, manifest: dict[str, Any], head: Entry, row: dict[str, str], name: str
) -> None:
    playlist_id = row["playlist_id"]
    assert guard(head.get("title", "")) == row["playlist_name"], name
    assert guard(head.get("creator", "")) == (row["owner_name"] or row["owner_id"]), name
    assert head["identifier"] == f"{SPOTIFY_WEB}playlist/{playlist_id}", name
    description = row["description"]  # the text people see (the CSV unescapes it too), formula-guarded
    if description.startswith("'") and guard(description[1:]) == description:
        description = description[1:]
    if description.strip():
        assert head["annotation"].startswith(description.strip()), name
    if row["items_status"] == "forbidden":
        assert "did not let this app read the items" in head["annotation"], name
    cover = manifest["covers"].get(playlist_id)
    if cover is None:
        assert "image" not in head, name
    else:  # relative to the file: portable/<name>.xspf -> ../covers/<id>.jpg
        target = PurePosixPath(name).parent / head["image"]
        resolved = "/".join(p for p in target.parts if p != "..")[len("portable/") :]
        assert resolved == cover, name
        assert read_bytes(store, f"{folder}/{resolved}") == read_bytes(store, f"{folder}/{cover}")


# -- end to end against the simulator --------------------------------------------------------


@pytest.mark.parametrize("size", ["tiny", "small", "medium"])
def test_every_playlist_and_liked_songs_validate_and_round_trip_to_the_csv_rows(
    simulator: Simulator, tmp_path: Path, size: str
) -> None:
    sim = simulator(size)
    store = LocalFolderStore(tmp_path / "backups")
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim), max_requests_per_30s=100_000)
    assert result.status == "complete"

    entries = check_portable_files(store, result)

    # the edge cases every account carries: a null item, local files, podcast episodes
    _, playlists = read_csv(store, f"{result.folder}/playlists.csv")
    road_trip = next(p["playlist_id"] for p in playlists if p["playlist_name"] == "Road Trip 🚗")
    odd = entries[road_trip]["xspf"][:4]
    assert odd[1] == {"identifier": [], "annotation": odd[1]["annotation"]}
    assert odd[2]["identifier"] == [] and (odd[2]["title"], odd[2]["creator"]) == ("Title", "Artist")
    assert odd[3]["identifier"][0].startswith(f"{SPOTIFY_WEB}episode/")
    assert odd[3]["album"] == "The Daily Sim" and "isrc:" not in " ".join(odd[3]["identifier"])
    assert odd[0]["identifier"][1].startswith("isrc:")
    assert any(manifest_cover for manifest_cover in result.manifest["covers"]), "the account has a custom cover"


def portable_files(store: LocalFolderStore, folder: str) -> dict[str, bytes]:
    root = store.root / folder
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "portable").iterdir())}


def test_an_incremental_export_writes_the_same_portable_files_as_a_full_read(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("small")
    store = LocalFolderStore(tmp_path / "backups")
    env_file = write_env_file(tmp_path / ".env", sim)
    export_account(sim, store, env_file)
    user = SpotifyUser(sim)
    own = [p for p in sim.account.playlists if p.owner == 0 and p.entries]
    user.add(own[0].id, ["spotify:track:" + sim.account.catalog.track(0).id])  # one playlist changes

    incremental = export_account(sim, store, env_file)
    full = export_account(sim, store, env_file, incremental=False)

    assert incremental.manifest["incremental"]["playlists_reused"] > 5
    assert full.manifest["incremental"]["playlists_reused"] == 0
    assert portable_files(store, incremental.folder) == portable_files(store, full.folder)
    check_portable_files(store, incremental)


def test_descriptions_arrive_as_plain_text_and_what_xml_cannot_hold_is_left_out(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("tiny")
    user = SpotifyUser(sim)
    playlist = next(p for p in sim.account.playlists if p.owner == 0 and p.entries)
    # Spotify answers descriptions HTML-escaped ("Rock &amp; Roll &#x27;n&#x27; ..."), and so does the simulator
    user.call("PUT", f"/playlists/{playlist.id}", json={"description": "Rock & Roll 'n' more <3"})
    user.rename(playlist.id, "Tab\there, vertical\x0btab and \u202eRTL override")
    store = LocalFolderStore(tmp_path / "backups")
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim))

    pair = result.manifest["portable"]["playlists"][playlist.id]
    assert PurePosixPath(pair["xspf"]).name == f"Tab here, vertical tab and RTL override ({playlist.id}).xspf"
    head, _ = xspf_document(read_bytes(store, f"{result.folder}/{pair['xspf']}"))
    assert head["annotation"] == "Rock & Roll 'n' more <3"
    assert head["title"] == "Tab\there, verticaltab and \u202eRTL override"  # XML 1.0 has no \x0b
    jspf_head, _ = jspf_document(read_bytes(store, f"{result.folder}/{pair['jspf']}"))
    assert jspf_head["annotation"] == "Rock & Roll 'n' more <3"
    assert jspf_head["title"] == "Tab\there, vertical\x0btab and \u202eRTL override"  # JSON keeps it exactly


def strip_portable(store: LocalFolderStore, folder: str) -> dict[str, bytes]:
    """Make a snapshot look like one from before portable playlists; return what was removed."""
    removed = portable_files(store, folder)
    manifest_path = store.root / folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for name in removed:
        (store.root / folder / name).unlink()
        del manifest["files"][name]
    del manifest["portable"]
    manifest_path.write_text(json.dumps(manifest))
    (store.root / folder / "portable").rmdir()
    return removed


def test_the_portable_command_writes_them_for_an_older_snapshot(simulator: Simulator, tmp_path: Path) -> None:
    sim = simulator("small")
    store = LocalFolderStore(tmp_path / "backups")
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim))
    before = strip_portable(store, result.folder)

    done = run_cli(["portable", str(store.root / result.folder), "--out", "out"], cli_env(sim), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Liked songs and 14 playlists" in done.stdout
    out = LocalFolderStore(tmp_path / "out")
    assert portable_files(out, "") == before
    for cover in result.manifest["covers"].values():  # the relative links from portable/ resolve
        assert (tmp_path / "out" / cover).read_bytes() == (store.root / result.folder / cover).read_bytes()

    by_reference = run_cli(
        ["portable", result.folder, "--backups", "backups", "--out", "again"], cli_env(sim), tmp_path
    )
    assert by_reference.returncode == 0, by_reference.stderr
    assert portable_files(LocalFolderStore(tmp_path / "again"), "") == before


def test_the_portable_command_refuses_a_damaged_snapshot_and_writes_nothing(
    simulator: Simulator, tmp_path: Path
) -> None:
    sim = simulator("tiny")
    store = LocalFolderStore(tmp_path / "backups")
    result = export_account(sim, store, write_env_file(tmp_path / ".env", sim))
    items = store.root / result.folder / "json" / "playlist_items.jsonl.gz"
    lines = gzip.decompress(items.read_bytes()).replace(b'"Colors, Together"', b'"Colours, Together"')
    items.write_bytes(gzip.compress(lines))

    done = run_cli(["portable", str(store.root / result.folder), "--out", "out"], cli_env(sim), tmp_path)

    assert done.returncode == 1
    assert "does not match the SHA-256 in its manifest" in done.stderr, done.stderr
    assert not (tmp_path / "out" / "portable").exists() or not any((tmp_path / "out" / "portable").iterdir())


def test_the_portable_command_reads_a_snapshot_in_blob_storage(
    simulator: Simulator, tmp_path: Path, azurite: Azurite, blob_container: str
) -> None:
    sim = simulator("tiny")
    blob = BlobStore.from_connection_string(azurite.connection_string, blob_container)
    result = export_account(sim, blob, write_env_file(tmp_path / ".env", sim))
    pair = result.manifest["portable"]["liked_songs"]
    properties = blob._container.get_blob_client(f"{result.folder}/{pair['xspf']}").get_blob_properties()
    assert properties.content_settings.content_type == "application/xspf+xml"

    env = cli_env(sim, SNAPSHOT_BLOB_CONNECTION_STRING=azurite.connection_string)
    done = run_cli(["portable", "latest", "--container", blob_container, "--out", "out"], env, tmp_path)

    assert done.returncode == 0, done.stderr
    written = portable_files(LocalFolderStore(tmp_path / "out"), "")
    assert written == {name: read_bytes(blob, f"{result.folder}/{name}") for name in written}
    assert len(written) == 2 * (1 + result.manifest["datasets"]["playlists"]["count"])


# -- file names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Road Trip 🚗", "Road Trip 🚗"),
        ('a/b\\c:d*e?f"g<h>i|j', "a_b_c_d_e_f_g_h_i_j"),
        ("  ..hidden..  ", "hidden"),
        ("-rf *", "_rf _"),
        ("", "Untitled"),
        ("\u202e\u0000\x1f", "Untitled"),
        ("Line\nbreak\ttab", "Line break tab"),
        ("Cafe\u0301", "Café"),  # decomposed (as macOS stores it) becomes composed
        ("CON", "CON"),  # a reserved device name, safe once " (<id>)" follows
        ("👨\u200d👩\u200d👧 family", "👨\u200d👩\u200d👧 family"),
    ],
)
def test_playlist_titles_become_file_names_every_system_accepts(title: str, expected: str) -> None:
    assert safe_title(title) == expected
    assert_safe_file_name(portable_base_name(title, "37i9dQZF1DXcBWIGoYBM5M") + ".xspf")


def test_long_titles_are_cut_on_a_character_boundary_within_the_name_limit() -> None:
    name = portable_base_name("é" * 300, "37i9dQZF1DXcBWIGoYBM5M") + ".jspf"
    assert_safe_file_name(name)
    assert name.endswith(" (37i9dQZF1DXcBWIGoYBM5M).jspf") and "é" * 50 in name


def test_odd_playlist_ids_still_give_distinct_safe_names() -> None:
    names = {portable_base_name("Mix", pid) for pid in ("a/b", "a:b", "a_b", "../x")}
    assert len(names) == 4
    for name in names:
        assert_safe_file_name(name + ".xspf")


def test_a_playlist_id_is_written_in_portable_file_names_as_in_covers() -> None:
    assert portable_base_name("Mix", "37i9dQZF1DXcBWIGoYBM5M") == "portable/Mix (37i9dQZF1DXcBWIGoYBM5M)"
    for pid in ("a/b", "../x", "NUL", "a%b", "p" * 230):
        in_covers = cover_file(pid).removeprefix("covers/").removesuffix(".jpg")
        assert portable_base_name("Mix", pid) == f"portable/Mix ({in_covers})"


def small_snapshot(root: Path, playlists: list[dict[str, Any]]) -> SnapshotReader:
    """A snapshot written by the real writer with just a profile and these playlists (no items)."""
    store = LocalFolderStore(root)
    writer = SnapshotWriter(store, "me/2026-01-01T00-00-00Z")
    writer.write_json("json/profile.json", {"id": "me", "display_name": "Me"})
    for dataset, columns, records in (
        ("library", rows.LIBRARY_COLUMNS, []),
        ("playlists", rows.PLAYLIST_COLUMNS, playlists),
        ("playlist_items", rows.PLAYLIST_ITEM_COLUMNS, []),
    ):
        with writer.dataset(dataset, columns) as sink:
            for record in records:
                sink.add(rows.playlist_row(record, "exported"), record)
    return SnapshotReader(store, SnapshotInfo(writer.folder, {"files": writer.file_table()}))


def test_ids_that_differ_only_in_case_never_share_a_file_name(tmp_path: Path) -> None:
    # Spotify ids are case-sensitive; Windows and macOS file names are not
    source = small_snapshot(tmp_path / "snap", [{"id": "abcDEF", "name": "Mix"}, {"id": "ABCdef", "name": "Mix"}])
    index = write_portable_playlists(source, StoreFiles(LocalFolderStore(tmp_path / "out")))
    names = [index.playlists[pid]["xspf"] for pid in ("abcDEF", "ABCdef")]
    assert names[0] == "portable/Mix (abcDEF).xspf"
    assert names[1].casefold() != names[0].casefold() and names[1].startswith("portable/Mix (ABCdef-")
    assert len({p.name.casefold() for p in (tmp_path / "out" / "portable").iterdir()}) == 6


def test_a_failure_while_building_entries_is_reported_instead_of_breaking_the_export(tmp_path: Path) -> None:
    class Exploding(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("boom")

    source = small_snapshot(tmp_path / "snap", [{"id": "p1", "name": "Mix"}])
    with PortableBuilder() as builder:
        builder.add_item(Exploding(), {"playlist_id": "p1", "position": 0, "entry": {}})  # does not raise
        builder.add_item({}, {"playlist_id": "p1", "position": 1, "entry": {}})
        with pytest.raises(PortableError, match="boom"):
            builder.write(source, StoreFiles(LocalFolderStore(tmp_path / "out")))
