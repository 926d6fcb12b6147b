"""What the report tests share: the page as a parser sees it, and Debian's Chromium driven by
Playwright (the tests that need it are skipped where it is not installed)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium: `make install` installs Debian's where apt-get runs as root"
)
#: elements that have no end tag
VOID = {"meta", "link", "img", "br", "hr", "input", "source", "wbr", "col", "area", "base", "embed", "track"}


@dataclass(frozen=True)
class Element:
    tag: str
    attributes: dict[str, str]
    text: str  # everything inside it, as text


class ParsedPage(HTMLParser):
    """The text, tags and attributes of a page, as a browser's parser sees them, and every
    element with the text inside it."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.tags: Counter[str] = Counter()
        self.attributes: list[tuple[str, str]] = []
        self.elements: list[Element] = []
        self._open: list[tuple[str, dict[str, str], int]] = []  # tag, attributes, where its text starts
        self.feed(document)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attributes.extend((name, value or "") for name, value in attrs)
        if tag not in VOID:
            self._open.append((tag, {name: value or "" for name, value in attrs}, len(self.text)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attributes.extend((name, value or "") for name, value in attrs)

    def handle_endtag(self, tag: str) -> None:
        assert self._open and self._open[-1][0] == tag, (tag, [t for t, _, _ in self._open[-3:]])
        _, attributes, start = self._open.pop()
        self.elements.append(Element(tag, attributes, "".join(self.text[start:])))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def texts(self, tag: str, **attributes: str) -> list[str]:
        """The text of every ``tag`` element with these attributes (``class_`` for class)."""
        wanted = {name.rstrip("_"): value for name, value in attributes.items()}
        return [
            e.text for e in self.elements if e.tag == tag and all(e.attributes.get(k) == v for k, v in wanted.items())
        ]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium; each test opens its own context (an empty profile)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
