"""The HTML report, made from real exports of the simulated account over HTTP.

Three snapshots a week or two apart (the middle one written before ``changes.json`` existed, so
the report computes that diff itself), with known changes made through the simulator between
them; then the page is checked as text and, where Debian's Chromium is installed, in a headless
browser driven by Playwright: no console errors, no requests beyond the file itself, charts that
draw, light and dark screenshots, and screenshots equal to those of the reference pages.

The reference pages (``report_reference/``) are what the report rendered before it became
templates, from the fixed data of ``report_samples`` (hand-made, every branch of the page; not
this history, which would tie them to the simulator's and the exporter's details). Both the
references and today's pages are rendered in the same browser and compared pixel by pixel, so
fonts and browser versions do not matter. After a deliberate change of the page's look,
rewrite them with ``REPORT_REFERENCES=write .venv/bin/pytest tests/test_report.py`` and look
at the new pages before committing them.
"""

from __future__ import annotations

import base64
import os
import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest
from exporter_fixtures import write_env_file
from report_checks import ParsedPage, chromium, needs_chromium
from report_samples import LOCATION, VARIANTS, sample

from spotify_exporter.connect import connect
from spotify_exporter.credentials import EnvironmentSecrets
from spotify_exporter.errors import ExporterError
from spotify_exporter.export import ExportResult, run_export
from spotify_exporter.history import SnapshotReader
from spotify_exporter.report import page as report_page
from spotify_exporter.report import render_page, render_report, write_report
from spotify_exporter.settings import settings_from_env
from spotify_exporter.stores.local import LocalFolderStore
from spotify_simulator import SpotifySimulator, build_account
from spotify_simulator.covers import jpeg

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REFERENCES = Path(__file__).parent / "report_reference"
SCRIPT_NAME = "<script>alert(1)</script>"
RENAMED = 'שירים "חדשים" & <b>more</b> 🎧'
T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # a Monday
T1 = T0 + timedelta(days=7, hours=1)  # the next Monday
T2 = T0 + timedelta(days=22, hours=2)  # Tuesday two weeks later: the week of 7 Dec has no export
NOW = datetime(2026, 12, 16, 9, 30, tzinfo=UTC)


def export_at(sim: SpotifySimulator, store: LocalFolderStore, env: Path, at: datetime, **options: Any) -> ExportResult:
    """One export with the production wiring, as if run at ``at`` (the simulator's clock too)."""
    sim.clock = lambda: at.timestamp()
    config = settings_from_env({}, api_url=sim.api_url, accounts_url=sim.accounts_url)
    warnings: list[str] = []
    client = connect(EnvironmentSecrets(environ={}, dotenv_path=env), config, warnings, sleep=lambda _: None)
    return run_export(client, store, warnings=warnings, now=lambda: at, **options)


@dataclass
class History:
    store: LocalFolderStore
    results: list[ExportResult]
    liked_first: list[str]  # names of songs liked between the first and second export
    liked_last: list[str]  # ... between the second and the third
    unliked_last: str
    created_items: int
    renamed_from: str
    edited: str  # the playlist whose items changed
    edited_added: list[str]
    edited_removed: str
    moved: str
    covered: str  # id of the playlist given a custom cover
    html: str


def _track_uri(sim: SpotifySimulator, ref: int) -> str:
    return f"spotify:track:{sim.account.catalog.track(ref).id}"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    folder = tmp_path_factory.mktemp("report")
    store = LocalFolderStore(folder / "backups")
    with SpotifySimulator(build_account("small")) as sim:
        env = write_env_file(folder / ".env", sim)
        account, catalog = sim.account, sim.account.catalog
        first = export_at(sim, store, env, T0)

        liked = {track for track, _ in account.liked}
        own = [p for p in account.playlists if p.owner == 0 and len(p.entries) >= 8 and len(p.entries) < 100]
        fresh = [  # plain catalogue tracks in no liked list and not in the playlist we edit
            e.ref
            for p in account.playlists[::-1]
            for e in p.entries
            if e.kind == "track" and e.ref >= 0 and e.ref not in liked and p is not own[1]
        ]
        fresh = list(dict.fromkeys(fresh))
        names = [catalog.track(ref).name for ref in fresh]

        # week 1: three songs liked, one unliked; exported as an older version would (no changes.json)
        sim.clock = lambda: T1.timestamp() - 3600
        sim.edit.save([_track_uri(sim, ref) for ref in fresh[:3]])
        sim.edit.unsave([_track_uri(sim, account.liked[-1][0])])
        second = export_at(sim, store, env, T1, changes=False)

        # two weeks later: the known change
        sim.clock = lambda: T2.timestamp() - 3600
        unliked = account.liked[5][0]
        sim.edit.save([_track_uri(sim, ref) for ref in fresh[3:5]])
        sim.edit.unsave([_track_uri(sim, unliked)])
        created = sim.edit.create_playlist(SCRIPT_NAME)
        sim.edit.add_items(created.id, [_track_uri(sim, ref) for ref in fresh[5:7]])
        renamed_from = own[0].name
        sim.edit.change_details(own[0].id, name=RENAMED)
        edited = own[1]
        uris = [_track_uri(sim, e.ref) if e.kind == "track" else "" for e in edited.entries]
        removed_at = next(n for n, u in enumerate(uris) if u and uris.count(u) == 1 and n < len(uris) - 1)
        removed_ref = edited.entries[removed_at].ref
        sim.edit.remove_items(edited.id, [uris[removed_at]])
        moved_ref = edited.entries[-1].ref
        sim.edit.reorder_items(edited.id, len(edited.entries) - 1, 0)
        sim.edit.add_items(edited.id, [_track_uri(sim, ref) for ref in fresh[7:9]], position=2)
        largest = max((p for p in account.playlists if p.owner == 0), key=lambda p: len(p.entries))
        sim.edit.set_cover(largest.id, jpeg("a cover for the report"))
        third = export_at(sim, store, env, T2)

    yield History(
        store,
        [first, second, third],
        names[:3],
        names[3:5],
        catalog.track(unliked).name,
        2,
        renamed_from,
        edited.name,
        names[7:9],
        catalog.track(removed_ref).name,
        catalog.track(moved_ref).name,
        largest.id,
        render_report(store, now=NOW),
    )


def section(document: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', document, re.S)
    assert match, name
    return match.group(1)


# -- the page as text --------------------------------------------------------------------------


def test_the_report_shows_the_history_and_the_latest_changes(history: History) -> None:
    page = history.html
    first, second, third = (r.manifest["datasets"] for r in history.results)
    assert "Sim Listener" in page and history.results[0].account_id in page
    assert "23 Nov 2026 – 15 Dec 2026" in page and "3 complete snapshots" in page

    # library size over time: the manifests' counts, first to last
    sizes = section(page, "library-size")
    liked = [d["library"]["count"] for d in (first, second, third)]
    assert liked == [liked[0], liked[0] + 2, liked[0] + 3]
    assert f"From {liked[0]:,} on 23 Nov 2026 to {liked[2]:,} on 15 Dec 2026." in sizes
    assert f'<p class="big">{third["playlist_items"]["count"]:,}</p>' in sizes
    assert sizes.count('<svg class="chart spark"') == 8

    # per week: the middle snapshot's diff was computed, the last one read from changes.json;
    # the week of 7 Dec had no export
    weekly = section(page, "weekly")
    assert "Week of 30 Nov 2026: added 3 liked songs; removed 1 liked song" in weekly
    assert "Week of 7 Dec 2026: nothing recorded" in weekly
    assert "Week of 14 Dec 2026: added 2 liked songs, 4 playlist items; removed 1 liked song, 1 playlist item" in weekly
    assert "In the last 4 weeks:" in weekly

    # the latest changes, readable
    changes = ParsedPage(section(page, "changes"))
    assert "From 30 Nov 2026 to 15 Dec 2026" in "".join(changes.text)
    names = changes.texts("bdi")
    for name in [*history.liked_last, *history.edited_added, history.unliked_last]:
        assert name in names
    assert history.renamed_from in names and RENAMED in names and SCRIPT_NAME in names
    assert "Created (1)" in changes.texts("h4") and "Renamed (1)" in changes.texts("h4")
    edited = changes.texts("li", class_="removed") + changes.texts("li", class_="moved")
    assert any(re.fullmatch(rf"−{re.escape(history.edited_removed)} · .*was at \d+", item) for item in edited)
    assert any(re.fullmatch(rf"↕{re.escape(history.moved)} · .*\d+ → 1", item) for item in edited)


def test_user_names_are_text_and_the_page_fetches_nothing(history: History) -> None:
    page = history.html
    parsed = ParsedPage(page)
    text = "".join(parsed.text)
    assert SCRIPT_NAME in text and RENAMED in text  # shown as the user wrote them ...
    assert parsed.tags["script"] == 0 and parsed.tags["b"] == 0  # ... never as markup
    assert "<script" not in page.lower()
    for name, value in parsed.attributes:
        if name in ("src", "href", "srcset", "action", "poster"):
            assert value.startswith("data:"), (name, value[:80])
    assert "http://" not in page and "https://" not in page
    assert "@import" not in page and "url(" not in page


def test_largest_playlists_come_from_the_latest_snapshot_with_their_covers(history: History) -> None:
    latest = SnapshotReader.open(history.store, history.results[-1].folder)
    records = list(latest.records("playlists"))
    expected = sorted(records, key=lambda p: -int(p["items"]["total"]))[:10]
    shown = section(history.html, "playlists")
    rows = ParsedPage(shown).texts("p", class_="plname")  # the name, then "by ..." for others' playlists
    assert len(rows) == len(expected)
    for row, playlist in zip(rows, expected, strict=True):
        assert row.startswith(str(playlist["name"]) or "(no name)"), (row, playlist["name"])
    first = expected[0]
    assert f"<strong>{first['items']['total']:,}</strong> items" in shown
    assert first["id"] == history.covered
    cover = latest.read_bytes(latest.manifest["covers"][history.covered])
    assert f'src="data:image/jpeg;base64,{base64.b64encode(cover).decode()}"' in shown
    assert f"of the {len(records)} playlists" in shown


def test_liked_songs_per_month_reach_back_before_the_first_export(history: History) -> None:
    latest = SnapshotReader.open(history.store, history.results[-1].folder)
    library = list(latest.records("library"))
    december = sum(1 for s in library if s["added_at"].startswith("2026-12"))
    january = sum(1 for s in library if s["added_at"].startswith("2026-01"))
    shown = section(history.html, "artists")
    assert f"December 2026: {december} songs liked" in shown
    assert f"January 2026: {january} song{'' if january == 1 else 's'} liked" in shown
    assert f"the {len(library)} liked songs in the latest snapshot" in shown
    assert "before your first export" in shown
    assert shown.count('<th scope="row">') == 10


def test_one_snapshot_says_there_is_no_history_yet(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "backups")
    with SpotifySimulator(build_account("tiny")) as sim:
        export_at(sim, store, write_env_file(tmp_path / ".env", sim), T0)
    page = render_report(store, now=NOW)
    assert "1 complete snapshot<" in page
    assert "no history yet" in page and "No history yet" in page
    assert "This is your first snapshot" in page
    assert '<svg class="chart spark"' not in page and '<svg class="chart weeks"' not in page
    assert '<svg class="chart months"' in page  # the liked songs have dates all the same


def test_an_empty_account_gets_a_report_that_says_so(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "backups")
    with SpotifySimulator(build_account("tiny", empty=True)) as sim:
        env = write_env_file(tmp_path / ".env", sim)
        export_at(sim, store, env, T0)
        export_at(sim, store, env, T1)
    page = render_report(store, now=NOW)
    assert "No liked songs yet." in page and "No playlists yet." in page
    assert "No changes since the snapshot before." in page
    assert "Week of 30 Nov 2026: added nothing; removed nothing" in page
    assert page.count('<p class="big">0</p>') == 8


def test_no_snapshot_or_several_accounts_is_a_one_line_error(tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "backups")
    with pytest.raises(ExporterError, match=r"no complete snapshot in .*; run `spotify-exporter export` first"):
        render_report(store)
    ids = []
    for seed in (0, 1):
        with SpotifySimulator(build_account("tiny", seed=seed)) as sim:
            ids.append(export_at(sim, store, write_env_file(tmp_path / f".env{seed}", sim), T0).account_id)
    with pytest.raises(ExporterError, match="several accounts") as raised:
        render_report(store)
    message = str(raised.value)
    assert "\n" not in message and all(i in message for i in ids) and "--account" in message
    assert ids[1] in render_report(store, ids[1], now=NOW)
    with pytest.raises(ExporterError, match=f"no complete snapshot of account nobody in .*; it holds .*{ids[1]}"):
        render_report(store, "nobody")

    written = write_report(store, tmp_path / "out" / "report.html", ids[0])
    assert written == tmp_path / "out" / "report.html"
    assert written.read_text().startswith("<!doctype html>")
    assert [p.name for p in written.parent.iterdir()] == ["report.html"]


# -- in a browser ----------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking its signature, chunk CRCs and image data size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, image, header = 8, b"", b""
    while position < len(data):
        (length, kind), body = struct.unpack(">I4s", data[position : position + 8]), b""
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            image += body
        position += 12 + length
        if kind == b"IEND":
            break
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0) and color in (2, 6)
    assert len(zlib.decompress(image)) == height * (1 + width * (3 if color == 2 else 4))
    return width, height


#: draws an image into a canvas and counts the distinct colours on a grid of samples
COUNT_COLOURS = """async (source) => {
  const image = new Image();
  image.src = source;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  for (let y = 0; y < canvas.height; y += 7)
    for (let x = 0; x < canvas.width; x += 7) {
      const i = (y * canvas.width + x) * 4;
      colours.add(pixels[i] * 65536 + pixels[i + 1] * 256 + pixels[i + 2]);
    }
  return colours.size;
}"""

#: the box of every chart and of what draws inside it
MEASURE = """() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  return {
    charts: [...document.querySelectorAll("svg.chart")].map(box),
    lines: [...document.querySelectorAll("svg.spark path.line")].map(box),
    bars: [...document.querySelectorAll("svg.weeks rect.seg, svg.months rect.seg")].map(box),
    playlistBars: [...document.querySelectorAll(".bar span")].map(box),
    heat: document.querySelectorAll("table.heat td[class^=h]:not(.h0)").length,
    background: getComputedStyle(document.documentElement).backgroundColor,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    scripts: document.scripts.length,
  };
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@needs_chromium
def test_the_report_renders_in_chromium_without_errors(history: History, browser: Browser, tmp_path: Path) -> None:
    from playwright.sync_api import ConsoleMessage, Request

    report = write_report(history.store, tmp_path / "report.html", now=NOW)
    url = report.as_uri()
    problems: list[str] = []
    requests: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    def failed(request: Request) -> None:
        problems.append(f"failed request {request.url}: {request.failure}")

    results: dict[str, dict[str, Any]] = {}
    context = browser.new_context(viewport={"width": 1200, "height": 900})  # a new, empty profile
    try:
        context.on("request", lambda request: requests.append(request.url))
        context.on("requestfailed", failed)
        page = context.new_page()
        page.on("console", console)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.goto(url, wait_until="load")
            results[scheme] = page.evaluate(MEASURE)
            page.screenshot(path=str(tmp_path / f"report-{scheme}.png"), full_page=True)
        assert page.get_by_text(SCRIPT_NAME, exact=True).count() == 1  # the created playlist, as text
        assert page.locator("bdi", has_text=RENAMED).count() >= 1
        page.set_viewport_size({"width": 390, "height": 800})  # a phone
        page.goto(url, wait_until="load")
        results["phone"] = page.evaluate(MEASURE)
        page.goto("about:blank")
        colours = {
            scheme: page.evaluate(COUNT_COLOURS, "data:image/png;base64," + _b64(tmp_path / f"report-{scheme}.png"))
            for scheme in ("light", "dark")
        }
    finally:
        context.close()

    assert problems == []
    assert set(requests) <= {url, "about:blank"}, requests
    light = results["light"]
    assert light["scripts"] == 0
    assert len(light["charts"]) == 8 + 2  # a line per dataset, the weeks, the months
    for kind in ("charts", "bars", "playlistBars"):
        assert light[kind], kind
        assert all(width > 0 and height > 0 for width, height in light[kind]), (kind, light[kind])
    assert len(light["lines"]) == 8 and all(width > 100 for width, _ in light["lines"])  # flat ones have no height
    assert len(light["playlistBars"]) == 10 and light["heat"] > 10
    assert results["dark"]["background"] != light["background"]  # prefers-color-scheme is honoured
    assert results["phone"]["overflow"] <= 0  # nothing sticks out on a narrow screen
    for scheme in ("light", "dark"):
        width, height = png_size((tmp_path / f"report-{scheme}.png").read_bytes())
        assert width == 1200 and height > 2000
        assert colours[scheme] > 50  # text, charts, covers: not a blank page


# -- the same look as the reference pages --------------------------------------------------------


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    """Today's pages of the reference data, the footer's version as in the references."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report_page, "__version__", "VERSION")
        return {variant: render_page(sample(variant), LOCATION, NOW) for variant in VARIANTS}


def _structure(document: str) -> tuple[list[tuple[str, dict[str, str], str]], list[str]]:
    """Every element with its attributes and the text in it, and every piece of text; white space
    between elements (which does not show) left out."""
    parsed = ParsedPage(document)
    elements = [(e.tag, e.attributes, "".join(e.text.split())) for e in parsed.elements]
    return elements, [" ".join(text.split()) for text in parsed.text if text.strip()]


def test_the_pages_have_the_elements_and_text_of_the_reference_pages(pages: dict[str, str]) -> None:
    if os.environ.get("REPORT_REFERENCES") == "write":
        for name, document in pages.items():
            (REFERENCES / f"{name}.html").write_text(document)
        pytest.skip("REPORT_REFERENCES=write: the reference pages were rewritten from today's report")
    for name, document in pages.items():
        assert _structure(document) == _structure((REFERENCES / f"{name}.html").read_text()), name


#: compares two screenshots pixel by pixel: a pixel counts as different unless it matches (each
#: channel within 3) the same pixel of the other image; one that only matches a neighbour in both
#: directions is an antialiasing difference (an edge drawn a fraction of a pixel apart)
COMPARE = """async ([first, second]) => {
  const load = async (source) => {
    const image = new Image();
    image.src = source;
    await image.decode();
    const canvas = document.createElement("canvas");
    [canvas.width, canvas.height] = [image.naturalWidth, image.naturalHeight];
    const context = canvas.getContext("2d");
    context.drawImage(image, 0, 0);
    return context.getImageData(0, 0, canvas.width, canvas.height);
  };
  const [a, b] = [await load(first), await load(second)];
  if (a.width !== b.width || a.height !== b.height)
    return {sizes: [[a.width, a.height], [b.width, b.height]], different: -1, antialiased: 0, box: null};
  const [w, h, p, q] = [a.width, a.height, a.data, b.data];
  const same = (x, i, y, j) => Math.abs(x[i] - y[j]) <= 3 && Math.abs(x[i + 1] - y[j + 1]) <= 3
    && Math.abs(x[i + 2] - y[j + 2]) <= 3;
  const nearby = (x, y, i, px, py) => {
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) {
        const [nx, ny] = [px + dx, py + dy];
        if (nx >= 0 && ny >= 0 && nx < w && ny < h && same(x, i, y, (ny * w + nx) * 4)) return true;
      }
    return false;
  };
  let [different, antialiased, box] = [0, 0, null];
  for (let py = 0; py < h; py++)
    for (let px = 0; px < w; px++) {
      const i = (py * w + px) * 4;
      if (same(p, i, q, i)) continue;
      if (nearby(p, q, i, px, py) && nearby(q, p, i, px, py)) { antialiased++; continue; }
      different++;
      box = box ? [Math.min(box[0], px), Math.min(box[1], py), Math.max(box[2], px), Math.max(box[3], py)]
        : [px, py, px, py];
    }
  return {sizes: [[w, h]], different, antialiased, box};
}"""

Scheme = Literal["light", "dark"]
#: which pages are compared how: (page, colour scheme, viewport width)
LOOKS: list[tuple[str, Scheme, int]] = [
    ("sink", "light", 1200),
    ("sink", "dark", 1200),
    ("sink", "light", 390),
    ("sink", "dark", 390),
    ("first", "light", 1200),
    ("first", "dark", 390),
    ("quiet", "dark", 1200),
    ("empty", "light", 1200),
    ("empty", "light", 390),
]


def _screenshot(tab: Page, document: str, scheme: Scheme, width: int) -> bytes:
    tab.set_viewport_size({"width": width, "height": 900})
    tab.emulate_media(color_scheme=scheme)
    tab.set_content(document, wait_until="load")
    return tab.screenshot(full_page=True)


@needs_chromium
def test_the_pages_look_like_the_reference_pages(pages: dict[str, str], browser: Browser, tmp_path: Path) -> None:
    context = browser.new_context()
    try:
        tab = context.new_page()
        for name, scheme, width in LOOKS:
            shots = [
                _screenshot(tab, document, scheme, width)
                for document in (pages[name], (REFERENCES / f"{name}.html").read_text())
            ]
            tab.goto("about:blank")
            sources = ["data:image/png;base64," + base64.b64encode(shot).decode() for shot in shots]
            result = tab.evaluate(COMPARE, sources)
            where = tmp_path / f"{name}-{scheme}-{width}"
            if result["different"] or result["antialiased"]:
                for shot, suffix in zip(shots, ("today", "reference"), strict=True):
                    where.with_name(f"{where.name}-{suffix}.png").write_bytes(shot)
            width_px, height_px = result["sizes"][0]
            assert result["different"] == 0, (name, scheme, width, result, f"screenshots in {tmp_path}")
            assert result["antialiased"] <= width_px * height_px // 10_000, (name, scheme, width, result)
    finally:
        context.close()


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()
