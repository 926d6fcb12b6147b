"""Names are text, never markup: playlist, artist, song and user names come from other people
(followed playlists, collaborators), and the report is a file people open in their browser.

Every page of ``report_samples`` is filled with hostile names in every place a name appears
(the account id and the store's location too), then parsed, and opened in Chromium where it is
installed: no script runs, no element or attribute came from a name, and each name reads
exactly as it was written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from report_checks import ParsedPage, chromium, needs_chromium
from report_samples import VARIANTS, sample

from spotify_exporter.report import render_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser

NOW = datetime(2026, 12, 16, 9, 30, tzinfo=UTC)
PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "'><svg onload=alert(3)>",
    "</style><script>alert(4)</script>",
    "</title><script>alert(5)</script>",
    "</bdi></span></li></ul></article></section><script>alert(6)</script>",
    "<svg><script>alert(7)</script></svg>",
    "javascript:alert(8)",
    '<a href="javascript:alert(9)">click</a>',
    '<iframe src="data:text/html,<script>alert(10)</script>"></iframe>',
    "Rock & Roll &amp; &lt;b&gt; &#60;i&#62;",
    "<!-- --><![CDATA[<script>alert(11)</script>]]>",
    "<math><mtext></p><script>alert(12)</script>",
    'x" style="background:url(https://example.com/x)" title="',
    "{{ 7 * 7 }}{% raw %}${alert(13)}",
    "\u202eevil\u202c شيء <b>bold</b>",
]
ACCOUNT = '"><img src=x onerror=alert(14)>'
LOCATION = "</code><script>alert(15)</script>/Users/o'brien & co/backups"
#: every element and attribute the page itself writes: anything else came from a name
TAGS = {
    *("html", "head", "meta", "link", "title", "style", "body", "main", "header", "footer", "section", "article"),
    *("h1", "h2", "h3", "h4", "p", "dl", "dt", "dd", "div", "span", "strong", "code", "bdi", "ol", "ul", "li", "img"),
    *("table", "caption", "thead", "tbody", "tr", "th", "td"),
    *("svg", "title", "desc", "line", "text", "path", "circle", "g", "rect"),
}
ATTRIBUTES = {
    *("lang", "charset", "name", "content", "rel", "href", "class", "id", "title", "style", "src", "alt"),
    *("width", "height", "scope", "role", "aria-labelledby", "aria-hidden", "data-dataset", "data-section"),
    *("viewbox", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "rx", "d", "text-anchor"),
}
#: what stands in for a blank name: a URI, a user's id
FALLBACK = re.compile(r"spotify:[a-z]+:\w+|friend\d+")
URL_ATTRIBUTES = {"href", "src", "xlink:href", "action", "formaction", "poster", "srcset", "data", "background"}


def hostile(kind: str, n: int) -> str:
    return f"{PAYLOADS[(len(kind) * 7 + n) % len(PAYLOADS)]} {kind} {n}"


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    return {v: render_page(sample(v, hostile, ACCOUNT), LOCATION, NOW) for v in VARIANTS}


def test_hostile_names_add_no_element_attribute_or_link(pages: dict[str, str]) -> None:
    for variant, document in pages.items():
        parsed = ParsedPage(document)
        assert set(parsed.tags) <= TAGS, (variant, set(parsed.tags) - TAGS)
        assert parsed.tags["script"] == 0 and "<script" not in document.lower()
        names = {name for name, _ in parsed.attributes}
        assert names <= ATTRIBUTES, (variant, names - ATTRIBUTES)
        for name, value in parsed.attributes:
            assert not name.startswith("on"), (variant, name)
            if name in URL_ATTRIBUTES:
                assert re.match(r"data:(,|image/(jpeg|png);base64,[A-Za-z0-9+/=]+$)", value), (variant, name, value)
            if name == "style":
                assert re.fullmatch(r"--hue:\d+|width:\d+\.\d%", value), (variant, value)
        (css,) = parsed.texts("style")
        assert css.strip() == files("spotify_exporter.report").joinpath("report.css").read_text().strip()


def _kinds(texts: list[str]) -> set[str]:
    """Which kinds of hostile names (``song``, ``artist``...) these texts are, all of them whole."""
    kinds = set()
    for text in texts:
        match = re.fullmatch(r"(.*) ([a-z]+) (\d+)", text, re.S)
        assert match and hostile(match[2], int(match[3])) == text, text  # a whole name, as written
        kinds.add(match[2])
    return kinds


def test_hostile_names_read_exactly_as_written(pages: dict[str, str]) -> None:
    sink = ParsedPage(pages["sink"])
    names = [t for t in sink.texts("bdi") if not FALLBACK.fullmatch(t)]
    assert _kinds(names) == {"user", "playlist", "owner", "artist", "song", "album", "show"}
    assert sink.texts("title")[0] == f"Spotify library report: {hostile('user', 1)}"  # the page's; then the charts'
    assert sink.texts("code") == [ACCOUNT, LOCATION]
    tooltips = [value for name, value in sink.attributes if name == "title"]
    assert tooltips and all(re.fullmatch(r".* artist \d+, \w+ 20\d\d: \d+ songs?", t) for t in tooltips)
    assert _kinds([t.split(", ")[0] for t in tooltips]) == {"artist"}
    text = "".join(sink.text)
    assert f"both snapshots: audiobooks, {hostile('dataset', 1)}." in text
    assert f"could not be read ({hostile('error', 1)})." in text
    # where the changes document has no times, the period names the snapshot folders
    empty = ParsedPage(pages["empty"])
    assert f"From {ACCOUNT}/2026-09-07T06-00-00Z to {ACCOUNT}/2026-09-21T07-00-00Z:" in "".join(empty.text)


#: what the browser made of the page: scripts, handlers, links, and the text of every name
INSPECT = """() => {
  const all = [...document.querySelectorAll("*")];
  return {
    scripts: document.scripts.length,
    handlers: all.flatMap((e) => [...e.attributes].filter((a) => a.name.startsWith("on")).map((a) => a.name)),
    links: all.flatMap((e) => [...e.attributes].filter((a) => /^\\s*javascript:/i.test(a.value)).map((a) => a.name)),
    frames: document.querySelectorAll("iframe, object, embed, a, form, math").length,
    names: [...document.querySelectorAll("bdi")].map((e) => e.textContent),
    code: [...document.querySelectorAll("code")].map((e) => e.textContent),
    title: document.title,
  };
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@needs_chromium
def test_hostile_names_run_nothing_in_chromium(pages: dict[str, str], browser: Browser, tmp_path: Path) -> None:
    from playwright.sync_api import Dialog

    context = browser.new_context()
    events: list[str] = []
    requests: list[str] = []
    try:
        context.on("request", lambda request: requests.append(request.url))
        tab = context.new_page()
        tab.on("pageerror", lambda error: events.append(f"page error: {error}"))

        def dialog(box: Dialog) -> None:
            events.append(f"dialog: {box.message}")
            box.dismiss()

        tab.on("dialog", dialog)
        seen: dict[str, Any] = {}
        for variant, document in pages.items():
            path = tmp_path / f"{variant}.html"
            path.write_text(document)
            tab.goto(path.as_uri(), wait_until="load")
            tab.wait_for_timeout(100)  # for anything scheduled to run after load
            seen[variant] = tab.evaluate(INSPECT)
    finally:
        context.close()

    assert events == []
    assert {url for url in requests} <= {(tmp_path / f"{v}.html").as_uri() for v in pages}, requests
    for variant, found in seen.items():
        assert (found["scripts"], found["handlers"], found["links"], found["frames"]) == (0, [], [], 0), variant
        assert found["code"] == [ACCOUNT, LOCATION]
        assert found["names"] == [t for t in ParsedPage(pages[variant]).texts("bdi")]
    assert seen["sink"]["title"] == f"Spotify library report: {hostile('user', 1)}"
    assert _kinds([n for n in seen["sink"]["names"] if not FALLBACK.fullmatch(n)]) >= {"playlist", "song"}
