"""The playlist comparison on its own: what a person would call added, removed and moved."""

from __future__ import annotations

from typing import Any

import pytest

from spotify_exporter.diff import diff_items


def items(*uris: str) -> list[dict[str, Any]]:
    return [{"uri": f"spotify:track:{u}", "name": u} for u in uris]


def summary(before: str, after: str) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[tuple[str, int, int]]]:
    change = diff_items(items(*before), items(*after))
    return (
        [(i["name"], i["position"]) for i in change["added"]],
        [(i["name"], i["position"]) for i in change["removed"]],
        [(i["name"], i["old_position"], i["position"]) for i in change["moved"]],
    )


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("abcde", "abcde", ([], [], [])),
        ("abcde", "xabcde", ([("x", 0)], [], [])),
        ("abcde", "abde", ([], [("c", 2)], [])),
        ("abcde", "eabcd", ([], [], [("e", 4, 0)])),  # one song to the top is one move
        ("abcde", "bcdea", ([], [], [("a", 0, 4)])),
        ("abca", "abcaa", ([("a", 4)], [], [])),  # a third copy is an addition
        ("abca", "abc", ([], [("a", 3)], [])),  # a copy removed, the other kept
        ("", "ab", ([("a", 0), ("b", 1)], [], [])),
        ("ab", "", ([], [("a", 0), ("b", 1)], [])),
    ],
)
def test_playlist_changes(before: str, after: str, expected: object) -> None:
    assert summary(before, after) == expected


def test_a_reshuffle_is_explained_by_the_fewest_moves() -> None:
    change = diff_items(items(*"aXbXc"), items(*"XXabc"))
    assert change["added"] == change["removed"] == []
    assert len(change["moved"]) == 2


def test_items_without_uri_are_compared_by_kind_and_name() -> None:
    gone = [{"uri": None, "name": None, "item_type": "unavailable"}]
    assert diff_items(gone + items("a"), items("a")) == {
        "added": [],
        "removed": [{"uri": None, "name": None, "item_type": "unavailable", "position": 0}],
        "moved": [],
    }
