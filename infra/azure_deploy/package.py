"""The function app as one deterministic zip, ready for Flex Consumption, built from an allowlist.

What ships is named, not what is left out: ``function_app.py``, ``host.json`` and the
``spotify_exporter`` package's source files (nothing hidden, no caches, no tests), plus the
pinned dependencies of the chosen CPython installed for Linux x86_64 into
``.python_packages/lib/site-packages``, the layout the Functions host loads without a remote
build. A stray ``.env.local``, ``backups/`` or ``local.settings.json`` in ``functions/`` is
never packaged. Entries are sorted and timestamped 1980-01-01, so the same sources give the
same bytes and the same hash: infrastructure redeploys only when the code changed.

Each supported Python has its own lock, ``functions/requirements-<version>.txt`` (``make lock``):
one resolution cannot serve them all (``azure-functions`` 2.x exists only for 3.13+, the newest
``pycparser`` and ``cryptography`` need 3.11+). The supported versions are exactly the locks present.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

#: the project root (this package lives in infra/azure_deploy/, installed editable by `make install`)
ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "functions"
DEFAULT_OUTPUT = ROOT / "build" / "function-app.zip"
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64")
FIXED_TIME = (1980, 1, 1, 0, 0, 0)

#: the files of functions/ that ship, and the one package folder whose source files ship
APP_FILES = ("function_app.py", "host.json")
APP_PACKAGE = "spotify_exporter"
#: the kinds of file the package folder may ship (code, typing marker, report templates and styles)
PACKAGE_SUFFIXES = frozenset({".py", ".typed", ".css", ".html", ".j2", ".jinja"})
NEVER = frozenset({"__pycache__", "tests", "test"})

LOCK_NAME = re.compile(r"requirements-(3\.\d+)\.txt")
PIP_ERROR_LINES = 12


class PackageError(Exception):
    """The package could not be built; the message carries pip's own words."""


def lock_path(python_version: str, source: Path = SOURCE) -> Path:
    return source / f"requirements-{python_version}.txt"


def supported_python_versions(source: Path = SOURCE) -> tuple[str, ...]:
    """The CPython versions with a lock in ``functions/``, oldest first."""
    found = [m.group(1) for p in source.glob("requirements-3.*.txt") if (m := LOCK_NAME.fullmatch(p.name))]
    return tuple(sorted(found, key=lambda v: tuple(map(int, v.split(".")))))


def shipped(relative: Path) -> bool:
    """Whether ``functions/<relative>`` belongs in the package (the allowlist)."""
    parts = relative.parts
    if any(part.startswith(".") or part in NEVER for part in parts):
        return False
    if len(parts) == 1:
        return parts[0] in APP_FILES
    return parts[0] == APP_PACKAGE and relative.suffix in PACKAGE_SUFFIXES


def source_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and shipped(path.relative_to(root)):
            yield path


def install_dependencies(target: Path, python_version: str, requirements: Path) -> None:
    """pip installs the lock for Linux x86_64; PackageError with pip's last lines when it cannot."""
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--no-deps", "--only-binary=:all:", "--implementation", "cp", "--python-version", python_version,
        *(f"--platform={platform}" for platform in PLATFORMS), "--target", str(target),
        "-r", str(requirements),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip() and "is ignored" not in line]
        raise PackageError(
            f"pip could not install {requirements.name} for CPython {python_version} on Linux x86_64:\n"
            + "\n".join(lines[-PIP_ERROR_LINES:])
        )
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache)


def add(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    executable = path.stat().st_mode & 0o111
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    archive.writestr(info, path.read_bytes(), compresslevel=9)


def build(output: Path, python_version: str, source: Path = SOURCE) -> str:
    """Build the zip of ``source`` (the function app folder) for ``python_version``; its sha256."""
    requirements = lock_path(python_version, source)
    if not requirements.is_file():
        offered = ", ".join(supported_python_versions(source)) or "none"
        raise PackageError(f"no lock for CPython {python_version} ({requirements.name}); supported: {offered}")
    with tempfile.TemporaryDirectory() as scratch:
        site_packages = Path(scratch) / "site-packages"
        install_dependencies(site_packages, python_version, requirements)
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_suffix(".zip.tmp")
        with zipfile.ZipFile(partial, "w") as archive:
            for path in source_files(source):
                add(archive, path, path.relative_to(source).as_posix())
            add(archive, requirements, "requirements.txt")  # what .python_packages holds, for the curious
            for path in sorted(p for p in site_packages.rglob("*") if p.is_file()):
                add(archive, path, ".python_packages/lib/site-packages/" + path.relative_to(site_packages).as_posix())
        partial.replace(output)
    return hashlib.sha256(output.read_bytes()).hexdigest()
