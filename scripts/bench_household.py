"""`make bench`, the function app's part: a household's scheduled run and a ban that heals itself.

Both run the real function app (``functions/function_app.py``) as the host runs it, in the
stand-ins' world the tests use (``tests/function_app_scene.py``): the Spotify simulator with
several users, the Key Vault stand-in and its managed identity, Azurite's Blob and Queue services
over HTTPS, and the host's queue listener.

* **Household**: five accounts of one app exported in one scheduled run, at the default pace
  (150 requests per rolling 30 s): the most requests in any 30 s window, across all accounts,
  and the total against the sum of the five minimal counts.
* **Ban**: one account banned after 40 % of its requests with a ``Retry-After`` of a few seconds:
  the run stops as partial and queues its own resume; the figures say whether the account ended
  in one complete, exact snapshot and how many pages were read twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from azurite import oauth_options, running_azurite
from function_app_scene import FunctionAppScene
from keyvault_standin import FOREIGN_IDENTITY_VARS, KeyVaultStandIn, LocalCA
from snapshot_checks import DATASETS, assert_matches_truth

from spotify_exporter.history import list_snapshots
from spotify_simulator import Faults, SimulatedUser, SpotifySimulator, build_account

ALIASES = ("default", "jane", "max", "anna", "lee")
WINDOW_S = 30.0
TARGET_TOTAL = 1.02


@contextlib.contextmanager
def function_app_world(sim: SpotifySimulator) -> Iterator[FunctionAppScene]:
    """The scene, with this process made to look like the function app (identity, TLS trust, settings)."""
    saved = dict(os.environ)
    logging.getLogger().addHandler(logging.NullHandler())  # no "last resort" printing of library warnings
    logging.getLogger("spotify_exporter").addHandler(logging.NullHandler())
    logging.getLogger("spotify_exporter").propagate = False  # the bench prints figures, not the export's log
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        folder = Path(scratch)
        ca = LocalCA.create(folder)
        vault = stack.enter_context(KeyVaultStandIn(ca))
        for name in FOREIGN_IDENTITY_VARS:
            os.environ.pop(name, None)
        os.environ.update(vault.client_env())
        services = []
        for service in ("blob", "queue"):
            workdir = folder / service
            workdir.mkdir()
            services.append(
                stack.enter_context(running_azurite(workdir, "https", oauth_options(workdir, ca), service=service))
            )
        scene = FunctionAppScene.prepare(sim, vault, services[0], services[1], "spotify", vault.credential())
        os.environ.update(scene.settings)
        try:
            yield scene
        finally:
            os.environ.clear()
            os.environ.update(saved)


def busiest_window(times: list[float], window_s: float = WINDOW_S) -> int:
    """The most requests in any rolling window of ``window_s`` (times in seconds, any order)."""
    ordered = sorted(times)
    most = start = 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - window_s:
            start += 1
        most = max(most, end - start + 1)
    return most


def exact(scene: FunctionAppScene, user: SimulatedUser) -> bool:
    """The user has one snapshot, complete, that holds their account row by row."""
    finished = list_snapshots(scene.store, user.id).finished
    if len(finished) != 1 or not finished[0].complete:
        return False
    try:
        assert_matches_truth(scene.store, finished[0].folder, {name: user.expected_rows(name) for name in DATASETS})
    except AssertionError:
        return False
    return True


@dataclass
class HouseholdFigures:
    accounts: int
    pace: int
    busiest_30s: int
    requests: int
    minimal: int
    wall_s: float
    all_exact: bool


def measure_household(size: str = "medium", accounts: int = 5, pace: int = 150) -> HouseholdFigures:
    with SpotifySimulator(build_account(size, seed=0)) as sim, function_app_world(sim) as scene:
        for seed, alias in enumerate(ALIASES[1:accounts], start=1):
            scene.authorize(alias, sim.add_user(build_account(size, seed=seed)))
        os.environ["EXPORT_ACCOUNTS"] = ",".join(ALIASES[:accounts])
        os.environ["SPOTIFY_MAX_REQUESTS_PER_30S"] = str(pace)
        started = time.monotonic()
        scene.run_timer()
        host = scene.host()
        host.run_until(lambda: sum(1 for m in scene.manifests() if m["status"] == "complete") == accounts, 3600, 0.5)
        wall = time.monotonic() - started
        return HouseholdFigures(
            accounts,
            pace,
            busiest_window(sim.api_request_times),
            sim.requests_total,
            sum(user.minimal_requests() for user in sim.users),
            wall,
            all(exact(scene, user) for user in sim.users),
        )


@dataclass
class BanFigures:
    requests_before_ban: int
    minimal: int
    ban_s: float
    resumed_after_s: float
    snapshots: int
    status: str
    exact: bool
    pages_read_twice: int
    extra_requests: int
    runs: int


def measure_ban(size: str = "large", share: float = 0.4, ban_s: float = 4.0) -> BanFigures:
    with SpotifySimulator(build_account(size)) as sim, function_app_world(sim) as scene:
        minimal = sim.minimal_requests()
        sim.faults = Faults(ban_after_requests=int(minimal * share), ban_duration_s=ban_s)
        os.environ.update(
            SPOTIFY_MAX_RETRY_AFTER_S="1",  # a ban longer than this is not sat out: the run stops
            SPOTIFY_MAX_REQUESTS_PER_30S="1000000",  # pacing is a policy, not what is measured here
            EXPORT_RESUME_JITTER_S="1",
        )
        scene.run_timer()
        host = scene.host()
        host.run_until(lambda: any(m["status"] == "complete" for m in scene.manifests()), 900, 0.2)
        answered = {key: count for key, count in sim.counters.items() if key[0].startswith("/v1") and key[1] != 429}
        looks = sum(n for (template, _), n in answered.items() if template in ("/v1/me", "/v1/playlists/{id}"))
        pages = sum(answered.values()) - looks
        manifests = scene.manifests()
        first, *rest = host.invocations
        return BanFigures(
            int(minimal * share),
            minimal,
            ban_s,
            rest[0].started - first.ended if rest else float("nan"),
            len(manifests),
            str(manifests[-1]["status"]) if manifests else "none",
            exact(scene, sim.users[0]),
            pages - (minimal - 1),
            looks - 1,
            len(host.invocations),
        )


def report() -> bool:
    """Print both figures; True when every target is met."""
    from bench import verdict

    household = measure_household()
    total_ratio = household.requests / household.minimal
    print(
        f"household, {household.accounts} medium accounts in one scheduled run at {household.pace} per 30 s: "
        f"busiest 30 s {household.busiest_30s} requests {verdict(household.busiest_30s <= household.pace)}, "
        f"{household.requests} requests for {household.minimal} minimal ({total_ratio:.3f} "
        f"{verdict(total_ratio <= TARGET_TOTAL)}), every snapshot exact {verdict(household.all_exact)}, "
        f"{household.wall_s:.0f} s",
        flush=True,
    )
    ban = measure_ban()
    print(
        f"ban after {ban.requests_before_ban} of {ban.minimal} requests (large account, "
        f"Retry-After {ban.ban_s:.0f} s): "
        f"resumed {ban.resumed_after_s:.1f} s after the partial run ended, {ban.runs} runs, {ban.snapshots} snapshot "
        f"{ban.status} {verdict(ban.snapshots == 1 and ban.status == 'complete')}, exact {verdict(ban.exact)}, "
        f"pages read twice {ban.pages_read_twice} {verdict(ban.pages_read_twice == 0)}, "
        f"other requests {ban.extra_requests} (/me and snapshot_id looks of the resume)",
        flush=True,
    )
    return (
        household.busiest_30s <= household.pace
        and total_ratio <= TARGET_TOTAL
        and household.all_exact
        and ban.snapshots == 1
        and ban.status == "complete"
        and ban.exact
        and ban.pages_read_twice == 0
    )


if __name__ == "__main__":
    sys.exit(0 if report() else 1)
