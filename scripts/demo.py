"""`make demo`: export the bundled simulator's demo account into ./backups, no accounts needed.

It runs the real `spotify-exporter export` command against the Spotify simulator on
127.0.0.1, exactly as it would run against api.spotify.com.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from spotify_simulator import SpotifySimulator, build_account


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", default="backups", help="folder for the snapshot (default: ./backups)")
    parser.add_argument("--account", default="demo", help="simulated account size: tiny, small, demo, large, huge")
    args = parser.parse_args(argv)

    print(f"Starting the Spotify simulator with the '{args.account}' account ...", flush=True)
    with SpotifySimulator(build_account(args.account)) as sim:
        env = sim.exporter_env()
        started = time.monotonic()
        command = [sys.executable, "-m", "spotify_exporter.cli", "export", "--out", args.out, "--env-file", os.devnull]
        status = subprocess.call(command, env=env)
        elapsed = time.monotonic() - started
        print(
            f"\nThe simulator served {sim.requests_total} API requests "
            f"(a full read takes at least {sim.minimal_requests()}; a run after the first copies unchanged "
            f"playlists from the previous snapshot) and {sim.token_requests} token refresh(es) in {elapsed:.1f} s."
        )
    if status == 0:
        print(f"Open the CSVs in {Path(args.out).resolve()} with any spreadsheet; manifest.json says what is there.")
        print("Run `make demo` again, then `.venv/bin/spotify-exporter diff` and `.venv/bin/spotify-exporter report`.")
    return status


if __name__ == "__main__":
    sys.exit(main())
