"""``python -m spotify_simulator``: serve an account until SIGTERM/SIGINT, e.g. for ``make demo``.

Prints the settings an exporter needs as ``NAME=value`` lines (fake credentials: safe to show).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .accounts import SIZES, build_account
from .faults import Faults
from .server import SpotifySimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="spotify-simulator", description="Serve a simulated Spotify account.")
    parser.add_argument("--account", choices=list(SIZES), default="demo", help="account size (default: demo)")
    parser.add_argument("--seed", type=int, default=0, help="account and fault seed (default: 0)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default: 0)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every API response")
    parser.add_argument("--rotate-refresh-tokens", action="store_true", help="single-use refresh tokens")
    parser.add_argument(
        "--empty", action="store_true", help="an empty account in the same world as --account (to restore into)"
    )
    args = parser.parse_args(argv)

    faults = Faults(seed=args.seed, latency_s=args.latency_ms / 1000, rotate_refresh_tokens=args.rotate_refresh_tokens)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with SpotifySimulator(
        build_account(args.account, seed=args.seed, empty=args.empty), faults=faults, host=args.host, port=args.port
    ) as sim:
        sys.stdout.write(
            f"SPOTIFY_API_URL={sim.api_url}\n"
            f"SPOTIFY_ACCOUNTS_URL={sim.accounts_url}\n"
            f"SPOTIFY_CLIENT_ID={sim.client_id}\n"
            f"SPOTIFY_CLIENT_SECRET={sim.client_secret}\n"
            f"SPOTIFY_REFRESH_TOKEN={sim.refresh_token}\n"
        )
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass


if __name__ == "__main__":
    main()
