"""`make package`: the function app as one deterministic zip (see :mod:`azure_deploy.package`).

Prints pip's own error and exits 1 when the lock of that Python cannot be installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from azure_deploy.package import DEFAULT_OUTPUT, PackageError, build, supported_python_versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the function app package.")
    parser.add_argument(
        "--python-version",
        default="3.12",
        help=f"CPython of the Functions host: {', '.join(supported_python_versions())} (default 3.12)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    try:
        digest = build(args.output, args.python_version)
    except PackageError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    size_mb = args.output.stat().st_size / 1e6
    print(f"{args.output} ({size_mb:.1f} MB, Python {args.python_version}) sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
