"""A stand-in for the Spotify Web API and Accounts service, over real HTTP on 127.0.0.1.

It serves deterministic accounts (``build_account``) in the shapes of Spotify's OpenAPI spec
as of 2026 (development mode: ``/playlists/{id}/items``, 403 on followed playlists, removed
fields gone), injects reproducible faults (``Faults``) and knows the rows a correct snapshot
must hold (``expected_rows``). It also takes Spotify's writes (playlists, items, covers,
library, followed artists; ``writes.py``), serves custom playlist covers, and builds empty
accounts to restore into (``empty_like``, ``build_account(empty=True)``). It powers the test
suite, ``make demo`` and the benchmarks::

    with SpotifySimulator(build_account("small"), faults=Faults(rate_limit_rate=0.1)) as sim:
        export(api_url=sim.api_url, accounts_url=sim.accounts_url, ...)
        assert rows == sim.expected_rows("library")
"""

from .accounts import RESTORE_USER, SIZES, build_account, empty_like
from .faults import Faults
from .model import Account, Entry, Playlist, User
from .server import SpotifySimulator
from .truth import COLUMNS
from .users import SimulatedUser
from .writes import Editor, WriteError

__all__ = [
    "COLUMNS",
    "RESTORE_USER",
    "SIZES",
    "Account",
    "Editor",
    "Entry",
    "Faults",
    "Playlist",
    "SimulatedUser",
    "SpotifySimulator",
    "User",
    "WriteError",
    "build_account",
    "empty_like",
]
