"""The hand-made oddities every account carries: what real libraries contain and naive code breaks on.

Null playlist items, local files, podcast episodes in playlists, followed playlists that answer
403, 1970 and missing dates, unknown adders, duplicate and empty names, right-to-left scripts,
CJK, emoji, text that spreadsheets take for a formula, and CSV's commas, quotes and newlines.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import (
    AlbumRec,
    ArtistRec,
    AudiobookRec,
    Domain,
    EpisodeRec,
    LocalFileRec,
    ShowRec,
    TrackRec,
    base62,
    hash_of,
    spotify_id,
)
from .model import EPISODE, EPOCH_1970, LOCAL, TRACK, UNAVAILABLE, Entry, User

MIXED_NAME = "Road Trip 🚗"
MIXED_DESC = "Everything at once: gone tracks, local files, a podcast, old dates"
#: descriptions as people type them, with every character Spotify escapes when it sends them
#: (``rules.py``); about one playlist in three has one (``accounts._descriptions``)
DESCRIPTIONS = (
    "Songs for the road & more",
    "Rock 'n' roll / blues <live>",
    'The "best" of 2019 & 2020',
    "Tom's mix: R&B/soul, no skips",
    "&amp; is how HTML writes &",
)


@dataclass(frozen=True)
class PlainPlaylist:
    name: str
    owner: int  # index into Account.users
    collaborative: bool
    public: bool | None
    adders: tuple[int, ...] = (0,)
    empty: bool = False


PLAIN_PLAYLISTS = (
    # followed, someone else's, not collaborative: development mode answers 403 on its items
    PlainPlaylist("Friday Faves", 1, False, True, (1,)),
    # collaborative, owned by someone else: readable, items added by several people
    PlainPlaylist("Band practice 🥁", 2, True, False, (2, 0, 3)),
    PlainPlaylist("Chill", 0, False, None),  # duplicate names; ``public`` null
    PlainPlaylist("Chill", 0, False, True),
    PlainPlaylist("", 0, False, False, empty=True),  # no name, no items
    PlainPlaylist("أغاني عربية 🎶", 0, False, True),
    PlainPlaylist("שירים בעברית", 0, False, False),
    PlainPlaylist("東京 Nights 夜の歌", 0, False, True),
    PlainPlaylist("=SUM(A1)", 0, False, True),
    PlainPlaylist("+1 mix", 0, False, False),
    PlainPlaylist("-minus", 0, False, True),
    PlainPlaylist("@home", 0, False, None),
    PlainPlaylist('Rock, Paper, "Scissors"\nPart 2', 0, False, True),
)


def users(seed: int) -> list[User]:
    me = "31" + base62(hash_of(Domain.USER, seed), 11).lower() + base62(hash_of(Domain.USER, seed, 1), 13).lower()
    return [
        User(me, "Sim Listener"),
        User("spotifyfan42", "Fan 42"),
        User("marta.k", "Marta K."),
        User("d_jay", None),
    ]


def special_tracks(seed: int) -> dict[int, TrackRec]:
    """Tracks at negative catalogue indices; all of them are liked, several sit in playlists."""

    def artist(key: int, name: str, *genres: str) -> ArtistRec:
        return ArtistRec(spotify_id(Domain.ARTIST, seed, -key), name, genres)

    def album(key: int, name: str, artists: tuple[ArtistRec, ...], kind: str = "album") -> AlbumRec:
        upc = f"{hash_of(Domain.ALBUM, seed, -key) % 10**12:012d}"
        return AlbumRec(spotify_id(Domain.ALBUM, seed, -key), name, artists, "2019-03-08", "day", kind, 12, upc, -key)

    def track(key: int, name: str, artists: tuple[ArtistRec, ...], on: AlbumRec, has_isrc: bool = True) -> TrackRec:
        isrc = f"QZ{base62(hash_of(Domain.TRACK, seed, -key), 3).upper()}19{key:05d}" if has_isrc else None
        return TrackRec(
            spotify_id(Domain.TRACK, seed, -key), name, artists, on, 180_000 + 7_919 * key, isrc, False, key
        )

    ada, bjork = artist(1, "Ada Dreams", "indie pop"), artist(2, "Björk Guðmundsdóttir", "art pop", "electronica")
    munir, zoe = artist(3, "محمد منير"), artist(4, "Zoë & the Owls", "folk")
    formula, smith = artist(5, "@dj_formula"), artist(6, 'Smith, Jones & "Co"')
    arabic, hebrew, tokyo = artist(7, "فرقة النور"), artist(8, "להקת הים"), artist(9, "夜遊び", "j-pop")
    emoji, plus = artist(10, "Emoji Band 😀"), artist(11, "+Plus Artist")
    tracks = [
        track(
            1, "Colors, Together", (ada, bjork, munir, zoe), album(1, "Collaborations Vol. 1", (ada,), "compilation")
        ),
        track(2, "Bootleg (Live at the Roxy, 1978)", (ada,), album(2, "Live Rarities", (ada,)), has_isrc=False),
        track(3, "=SUM(A1)", (formula,), album(3, "+Plus Sessions", (formula,))),
        track(4, 'Hello, "World"\nSecond line', (smith,), album(4, "Commas, Quotes\nand Newlines", (smith,))),
        track(5, "يا حبيبي تعال", (arabic,), album(5, "ليالي", (arabic,))),
        track(6, "שיר אהבה", (hebrew,), album(6, "ים", (hebrew,))),
        track(7, "夜に駆ける", (tokyo,), album(7, "東京", (tokyo,))),
        track(8, "🔥🔥 Fire 🔥🔥", (emoji,), album(8, "🎶", (emoji,), "single")),
        track(9, "-Minus Track", (plus,), album(9, "@Album", (plus,))),
        track(10, "  spaced out  ", (zoe,), album(10, "", (zoe,))),  # a taken-down album has an empty name
    ]
    return {-(n + 1): t for n, t in enumerate(tracks)}


def local_files() -> list[LocalFileRec]:
    return [
        LocalFileRec("Title", "Artist", "Album", 210_000),
        LocalFileRec("Garage Demo #2 (rough)", "Mañana Club", "", 185_500),
        LocalFileRec("=cmd|' /C calc'!A0", "@local", "-tapes", 61_000),
    ]


def shows(seed: int, count: int) -> list[ShowRec]:
    names = ("The Daily Sim", "Podcast «Ünïcode»", "=Formula Hour", "بودكاست المساء", "Deep Dive, Weekly")
    return [
        ShowRec(
            spotify_id(Domain.SHOW, seed, n),
            names[n] if n < len(names) else f"Show #{n}",
            f"Publisher {n % 7}" if n else "Sim Media, Inc.",
            20 + n % 200,
        )
        for n in range(count)
    ]


def episodes(seed: int, show_list: list[ShowRec], count: int) -> list[EpisodeRec]:
    names = ("Episode 1: Beginnings", "حلقة ٢: البداية", '"Quoted", with commas', "@mention me", "🎙️ Live")
    result = []
    for n in range(count):
        h = hash_of(Domain.EPISODE, seed, n)
        result.append(
            EpisodeRec(
                spotify_id(Domain.EPISODE, seed, n),
                names[n] if n < len(names) else f"Episode {n}",
                show_list[n % len(show_list)],
                600_000 + h % 4_000_000,
                f"20{15 + h % 11:02d}-{1 + (h >> 8) % 12:02d}-{1 + (h >> 12) % 28:02d}",
                explicit=(h >> 20) % 5 == 0,
            )
        )
    return result


def audiobooks(seed: int, count: int) -> list[AudiobookRec]:
    names = ("The Long Way Home", "Ψυχή: a novel", '-Dashes-, "Quotes"')
    return [
        AudiobookRec(
            spotify_id(Domain.AUDIOBOOK, seed, n),
            names[n] if n < len(names) else f"Audiobook {n}",
            ("Jane Doe",) if n % 2 else ("Jane Doe", "Ravi Ó Briain"),
            ("John Roe",),
            f"House {n % 3}",
            3 + n % 9,
        )
        for n in range(count)
    ]


KEEP = -1  # keep the filler's date

#: (kind, ref, added_at or KEEP, added_by) of the first items of the "Road Trip" playlist
MIXED_ODD: tuple[tuple[str, int, int | None, int | None], ...] = (
    (TRACK, -1, KEEP, 0),  # several artists
    (UNAVAILABLE, -1, KEEP, 0),  # a null item: the track is gone
    (LOCAL, 0, KEEP, 0),
    (EPISODE, 0, KEEP, 0),
    (TRACK, -2, EPOCH_1970, 0),  # no ISRC, added "in 1970"
    (TRACK, -3, KEEP, None),  # unknown adder
    (TRACK, -4, None, 0),  # no date at all
    (UNAVAILABLE, -1, None, None),
    (LOCAL, 1, KEEP, 0),
    (EPISODE, 1, KEEP, 3),
    (TRACK, -5, KEEP, 0),
    (TRACK, -6, KEEP, 0),
    (TRACK, -7, KEEP, 0),
    (TRACK, -8, KEEP, 0),
    (LOCAL, 2, KEEP, 0),
)
#: more odd items right at page boundaries, when the playlist is long enough
MIXED_AT_BOUNDARIES = ((49, UNAVAILABLE, -1), (50, LOCAL, 0), (100, EPISODE, 0))


def mixed_entries(filler: list[Entry]) -> list[Entry]:
    """The "Road Trip" playlist: ``filler`` (dated tracks) with the odd items written over it."""
    entries = list(filler)
    for slot, (kind, ref, added_at, adder) in enumerate(MIXED_ODD):
        entries[slot] = Entry(kind, ref, entries[slot].added_at if added_at == KEEP else added_at, adder)
    for position, kind, ref in MIXED_AT_BOUNDARIES:
        if len(MIXED_ODD) <= position < len(entries):
            entries[position] = Entry(kind, ref, entries[position].added_at, 0)
    return entries
