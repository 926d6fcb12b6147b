"""`make bench`: what an export costs against the simulator, in requests, time and memory.

For each latency it starts the simulator with the chosen account, runs the real CLI in a
child process and reports:

* requests made vs the minimal count (one page of 50 per request);
* wall time vs requests x latency (the floor for one request at a time);
* the exporter's peak RSS (the child's maximum resident set);
* then a second export into the same folder (incremental), and exports while the image host is
  down or black-holed: what optional cover downloads may add to a run.

Pacing is lifted for the measurement (``--max-requests-per-30s``) because it is a policy
towards Spotify, not a cost of the exporter; with the default of 150 per 30 s an export
takes at least requests / 5 seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from spotify_simulator import Faults, SpotifySimulator, build_account

TARGET_REQUESTS = 1.02
TARGET_WALL = 1.10
TARGET_RSS_MB = 150.0
#: what an image host that is down or swallows connections may add to an export (issue 12: ~30 s)
TARGET_IMAGE_HOST_EXTRA_S = 32.0


@dataclass
class Measurement:
    latency_s: float
    requests: int
    minimal: int
    wall_s: float
    peak_rss_mb: float
    exit_status: int
    exporter_cpu_s: float
    simulator_cpu_s: float
    round_trip_s: float


def measure(account_size: str, latency_s: float) -> Measurement:
    account = build_account(account_size)
    with SpotifySimulator(account, faults=Faults(latency_s=latency_s)) as sim, tempfile.TemporaryDirectory() as out:
        env = sim.exporter_env()
        command = [
            sys.executable, "-m", "spotify_exporter.cli", "export", "--out", out, "--env-file", os.devnull,
            "--max-requests-per-30s", "1000000",
        ]  # fmt: skip
        started = time.monotonic()
        own_cpu = time.process_time()
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, wait_status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - started
        simulator_cpu = time.process_time() - own_cpu
        requests_made, minimal = sim.requests_total, sim.minimal_requests()
        round_trip = bare_round_trip_s(sim)  # after the counters were read
        child.returncode = os.waitstatus_to_exitcode(wait_status)
        if child.returncode != 0 and child.stderr is not None:
            sys.stderr.write(child.stderr.read().decode(errors="replace"))
        return Measurement(
            latency_s, requests_made, minimal, wall, usage.ru_maxrss / 1024, child.returncode,
            usage.ru_utime + usage.ru_stime, simulator_cpu, round_trip,
        )  # fmt: skip


def bare_round_trip_s(sim: SpotifySimulator, samples: int = 60) -> float:
    """Mean time of one bare GET of a 50-song page with `requests`: what a request costs here
    before the exporter does anything (the simulator's and the HTTP stack's own overhead)."""
    import requests

    session = requests.Session()
    token = session.post(
        sim.accounts_url + "/api/token",
        data={"grant_type": "refresh_token", "refresh_token": sim.refresh_token},
        auth=(sim.client_id, sim.client_secret),
        timeout=10,
    ).json()["access_token"]
    started = time.monotonic()
    for index in range(samples):
        _ = session.get(
            f"{sim.api_url}/me/tracks", params={"limit": 50, "offset": 50 * index},
            headers={"Authorization": f"Bearer {token}"}, timeout=10,
        ).content  # fmt: skip
    return (time.monotonic() - started) / samples


@dataclass
class IncrementalMeasurement:
    full_requests: int
    full_wall_s: float
    requests: int
    item_requests: int
    playlists_reused: int
    wall_s: float
    exit_status: int


def measure_incremental(account_size: str) -> IncrementalMeasurement:
    """Export twice into one folder with nothing changed between: the second run reuses every
    playlist (same ``snapshot_id``) and reads no playlist items at all."""
    import json
    from pathlib import Path

    items = "/v1/playlists/{id}/items"
    with SpotifySimulator(build_account(account_size)) as sim, tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable, "-m", "spotify_exporter.cli", "export", "--out", out, "--env-file", os.devnull,
            "--max-requests-per-30s", "1000000",
        ]  # fmt: skip
        figures: list[tuple[int, int, float, int]] = []
        for _ in range(2):
            before_total = sim.requests_total
            before_items = sum(n for (template, _), n in sim.counters.items() if template == items)
            started = time.monotonic()
            done = subprocess.run(command, env=sim.exporter_env(), capture_output=True, check=False)
            wall = time.monotonic() - started
            after_items = sum(n for (template, _), n in sim.counters.items() if template == items)
            figures.append((sim.requests_total - before_total, after_items - before_items, wall, done.returncode))
        manifests = sorted(Path(out).glob("*/*/manifest.json"))
        reused = json.loads(manifests[-1].read_text())["incremental"]["playlists_reused"]
    (full_requests, _, full_wall, _), (requests, item_requests, wall, status) = figures
    return IncrementalMeasurement(full_requests, full_wall, requests, item_requests, reused, wall, status)


@dataclass
class ImageHostMeasurement:
    host: str
    wall_s: float
    covers: int
    missing: int
    image_requests: int
    status: str
    exit_status: int


def measure_image_host(account_size: str, host: str) -> ImageHostMeasurement:
    """An export (0 ms latency, default settings) while the image CDN is ``host`` ("down": refused,
    "black hole": connections swallowed): custom covers are optional work and must not stretch
    the run by more than their budget (about 30 s), and the snapshot must stay complete."""
    import json
    from pathlib import Path

    with (
        SpotifySimulator(build_account(account_size), faults=Faults(image_host=host)) as sim,
        tempfile.TemporaryDirectory() as out,
    ):
        command = [
            sys.executable, "-m", "spotify_exporter.cli", "export", "--out", out, "--env-file", os.devnull,
            "--max-requests-per-30s", "1000000",
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, env=sim.exporter_env(), capture_output=True, check=False)
        wall = time.monotonic() - started
        manifests = list(Path(out).glob("*/*/manifest.json"))
        manifest = json.loads(manifests[0].read_text()) if manifests else {}
    covers = manifest.get("covers") or {}
    missing = sum(1 for name in covers.values() if name is None)
    status = str(manifest.get("status", "none"))
    return ImageHostMeasurement(
        host, wall, len(covers), missing, int(manifest.get("image_downloads", 0)), status, done.returncode
    )


def function_app_figures() -> tuple[float, float]:
    """Size of the Azure package (MB) and ``import function_app`` time (s) from it, cold."""
    import zipfile
    from pathlib import Path

    from azure_deploy import package

    with tempfile.TemporaryDirectory() as scratch:
        azure_zip = Path(scratch) / "azure.zip"
        package.build(azure_zip, "3.12")
        size_mb = azure_zip.stat().st_size / 1e6
        local_zip = Path(scratch) / "local.zip"
        package.build(local_zip, f"{sys.version_info.major}.{sys.version_info.minor}")
        unpacked = Path(scratch) / "app"
        with zipfile.ZipFile(local_zip) as archive:
            archive.extractall(unpacked)
        # an interpreter without this checkout's site-packages (-S -s), given the PYTHONPATH the
        # Functions host's Python worker gives an app: its folder, then its .python_packages
        app_path = os.pathsep.join([str(unpacked), str(unpacked / ".python_packages/lib/site-packages")])
        probe = "import time; t = time.perf_counter(); import function_app; print(time.perf_counter() - t)"
        timings = [
            float(subprocess.run([sys.executable, "-S", "-s", "-c", probe], cwd=scratch,
                                 env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": app_path},
                                 capture_output=True, text=True, check=True).stdout)
            for _ in range(3)
        ]  # fmt: skip
    return size_mb, min(timings)


def function_app_report() -> bool:
    """The figures of ``bench_household.py``, from a child process that imports the function app
    (``functions/``) and the stand-ins (``tests/``) as the test suite does: from its ``PYTHONPATH``."""
    root = Path(__file__).resolve().parents[1]
    paths = [str(root / "functions"), str(root / "tests"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}
    script = Path(__file__).with_name("bench_household.py")
    return subprocess.run([sys.executable, str(script)], env=env, check=False).returncode == 0


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export cost against the Spotify simulator.")
    parser.add_argument("--account", default="large", help="simulated account (default: large)")
    parser.add_argument("--latency-ms", type=float, nargs="*", default=[50.0, 0.0], help="latencies to run at")
    parser.add_argument(
        "--skip-function-app", action="store_true", help="leave out the household run and the ban resumed (4 min)"
    )
    args = parser.parse_args(argv)

    account = build_account(args.account)
    print(f"account '{args.account}': {account.describe()}")
    print(
        "| latency | requests | minimal | ratio | wall s | requests x latency s | ratio | peak RSS MB "
        "| exporter CPU s | simulator CPU s | bare GET ms | wall / (requests x bare GET) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    ok = True
    healthy_wall_s: float | None = None
    for latency_ms in args.latency_ms:
        m = measure(args.account, latency_ms / 1000)
        if latency_ms == 0:
            healthy_wall_s = m.wall_s
        ratio = m.requests / m.minimal
        floor = m.requests * m.latency_s
        wall_ratio = m.wall_s / floor if floor else float("nan")
        print(
            f"| {latency_ms:g} ms | {m.requests} | {m.minimal} | {ratio:.3f} {verdict(ratio <= TARGET_REQUESTS)} "
            f"| {m.wall_s:.1f} | {floor:.1f} | "
            + (f"{wall_ratio:.3f} {verdict(wall_ratio <= TARGET_WALL)}" if floor else "n/a")
            + f" | {m.peak_rss_mb:.0f} {verdict(m.peak_rss_mb <= TARGET_RSS_MB)} "
            f"| {m.exporter_cpu_s:.1f} | {m.simulator_cpu_s:.1f} | {m.round_trip_s * 1000:.1f} "
            f"| {m.wall_s / (m.requests * m.round_trip_s):.3f} |",
            flush=True,
        )
        ok &= m.exit_status == 0 and ratio <= TARGET_REQUESTS and m.peak_rss_mb <= TARGET_RSS_MB
        ok &= not floor or wall_ratio <= TARGET_WALL
    print(
        f"targets: requests <= {TARGET_REQUESTS} x minimal, wall <= {TARGET_WALL} x requests x latency, "
        f"peak RSS <= {TARGET_RSS_MB:.0f} MB"
    )
    inc = measure_incremental(args.account)
    print(
        f"unchanged account, second export into the same folder (0 ms): {inc.requests} requests "
        f"(first: {inc.full_requests}), {inc.item_requests} playlist-item requests "
        f"{verdict(inc.item_requests == 0)}, {inc.playlists_reused} playlists reused, "
        f"{inc.wall_s:.1f} s (first: {inc.full_wall_s:.1f} s)",
        flush=True,
    )
    ok &= inc.exit_status == 0 and inc.item_requests == 0
    if healthy_wall_s is None:
        healthy_wall_s = measure(args.account, 0.0).wall_s
    for host in ("down", "black hole"):
        im = measure_image_host(args.account, host)
        extra = im.wall_s - healthy_wall_s
        fine = im.exit_status == 0 and im.status == "complete" and extra <= TARGET_IMAGE_HOST_EXTRA_S
        print(
            f"image host {host} (0 ms): {im.wall_s:.1f} s, {extra:+.1f} s over the healthy run "
            f"{verdict(extra <= TARGET_IMAGE_HOST_EXTRA_S)}; snapshot {im.status}, {im.missing} of {im.covers} "
            f"covers missing (null in the manifest), {im.image_requests} image requests",
            flush=True,
        )
        ok &= fine
    if not args.skip_function_app:
        ok &= function_app_report()
    size_mb, import_s = function_app_figures()
    print(f"function app package (Python 3.12, Linux x86_64): {size_mb:.1f} MB; "
          f"`import function_app` from it: {import_s * 1000:.0f} ms (best of 3, this machine's Python)")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
