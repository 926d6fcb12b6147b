"""`make package`: the function app as one deterministic zip, ready for Flex Consumption.

``functions/`` (without tests, caches, virtualenvs, ``.env`` or ``local.settings.json``)
plus its pinned dependencies installed for Linux x86_64 and the chosen CPython into
``.python_packages/lib/site-packages``, the layout the Functions host loads without a
remote build. Entries are sorted and timestamped 1980-01-01, so the same sources give the
same bytes and the same hash: infrastructure redeploys only when the code changed.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "functions"
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
EXCLUDED_NAMES = {
    "__pycache__", ".venv", "venv", ".env", "local.settings.json", "local.settings.json.example", "tests",
    ".python_packages", ".pytest_cache", ".mypy_cache", ".ruff_cache", "requirements.in", ".funcignore",
}  # fmt: skip
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".egg-info", ".dist-info")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def wanted(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return not any(part in EXCLUDED_NAMES or part.endswith(EXCLUDED_SUFFIXES) for part in parts)


def source_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and wanted(path, root):
            yield path


def install_dependencies(target: Path, python_version: str, requirements: Path) -> None:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--no-deps", "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
        *(f"--platform={platform}" for platform in PLATFORMS), "--target", str(target),
        "-r", str(requirements),
    ]  # fmt: skip
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL if "--quiet" in command else None)
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache)


def add(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    executable = path.stat().st_mode & 0o111
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    archive.writestr(info, path.read_bytes(), compresslevel=9)


def build(output: Path, python_version: str, source: Path = SOURCE) -> str:
    """Build the zip of ``source`` (the function app folder) and return its sha256."""
    with tempfile.TemporaryDirectory() as scratch:
        site_packages = Path(scratch) / "site-packages"
        install_dependencies(site_packages, python_version, source / "requirements.txt")
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_suffix(".zip.tmp")
        with zipfile.ZipFile(partial, "w") as archive:
            for path in source_files(source):
                add(archive, path, path.relative_to(source).as_posix())
            for path in sorted(p for p in site_packages.rglob("*") if p.is_file()):
                add(archive, path, ".python_packages/lib/site-packages/" + path.relative_to(site_packages).as_posix())
        partial.replace(output)
    return hashlib.sha256(output.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the function app package.")
    parser.add_argument("--python-version", default="3.12", help="CPython version of the Functions host")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "function-app.zip")
    args = parser.parse_args(argv)
    digest = build(args.output, args.python_version)
    size_mb = args.output.stat().st_size / 1e6
    print(f"{args.output} ({size_mb:.1f} MB, Python {args.python_version}) sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
