"""`make package` and `make lock`: what goes to Azure is importable, built for the right platform and
Python from an allowlist, reproducible, and every Python offered has a lock that installs."""

from __future__ import annotations

import hashlib
import importlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from azure_deploy import package
from azure_deploy.package import PackageError, supported_python_versions

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "scripts") not in sys.path:
    sys.path.append(str(REPO / "scripts"))  # last: nothing in scripts/ may shadow an installed module

lock: ModuleType = importlib.import_module("lock")
package_script: ModuleType = importlib.import_module("package")
LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
STRAYS = {
    ".env": "SPOTIFY_CLIENT_SECRET=do-not-ship\n",
    ".env.local": "SPOTIFY_REFRESH_TOKEN=do-not-ship\n",
    "local.settings.json": '{"Values": {"SECRET": "do-not-ship"}}',
    "backups/jane/2026-01-01T00-00-00Z/manifest.json": '{"do-not-ship": true}',
    "notes.txt": "do-not-ship",
    "tests/test_app.py": "# do-not-ship",
    ".venv/lib/junk.py": "# do-not-ship",
    "__pycache__/function_app.cpython-311.pyc": "do-not-ship",
    "spotify_exporter/.secrets.json": '{"do-not-ship": 1}',
    "spotify_exporter/tokens.json": '{"do-not-ship": 1}',
    "spotify_exporter/__pycache__/cli.cpython-311.pyc": "do-not-ship",
}


@pytest.fixture(scope="module")
def source_with_clutter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """functions/ plus everything a developer's folder accumulates that must never ship."""
    source = tmp_path_factory.mktemp("src") / "functions"
    shutil.copytree(REPO / "functions", source, ignore=shutil.ignore_patterns("__pycache__"))
    for name, content in STRAYS.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(content)
    return source


@pytest.fixture(scope="module")
def local_build(tmp_path_factory: pytest.TempPathFactory, source_with_clutter: Path) -> Path:
    output = tmp_path_factory.mktemp("build") / "app.zip"
    package.build(output, LOCAL_PYTHON, source_with_clutter)
    return output


def test_the_package_imports_in_an_isolated_interpreter(local_build: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(local_build) as archive:
        archive.extractall(tmp_path)
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/.python_packages/lib/site-packages'];"
        "import function_app; print([f.get_function_name() for f in function_app.app.get_functions()])"
    )
    # -I: no environment, no user site; -S: not even this interpreter's site-packages
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['weekly_export']"


def test_stray_files_in_functions_never_ship(local_build: Path) -> None:
    """The package is built from an allowlist: a .env.local or a backups/ folder stays home."""
    names = zipfile.ZipFile(local_build).namelist()
    app_files = sorted(name for name in names if not name.startswith(".python_packages/"))
    for stray in STRAYS:
        assert stray not in names
    assert b"do-not-ship" not in local_build.read_bytes()
    assert "function_app.py" in app_files and "host.json" in app_files and "requirements.txt" in app_files


def test_the_allowlist_ships_every_tracked_source_file_and_nothing_else(local_build: Path) -> None:
    """A new kind of file under spotify_exporter/ must be added to the allowlist on purpose."""
    tracked = subprocess.run(
        ["git", "ls-files", "functions"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    expected = {
        name.removeprefix("functions/")
        for name in tracked
        if name.startswith("functions/spotify_exporter/")
        or name in ("functions/function_app.py", "functions/host.json")
    }
    shipped = {
        name
        for name in zipfile.ZipFile(local_build).namelist()
        if not name.startswith(".python_packages/") and name != "requirements.txt"
    }
    assert shipped == expected


@pytest.mark.parametrize("python_version", ["3.12", "3.13"])
def test_the_azure_package_has_only_linux_x86_64_binaries_for_its_python(tmp_path: Path, python_version: str) -> None:
    output = tmp_path / f"app-{python_version}.zip"
    package.build(output, python_version)
    tag_python = "cp" + python_version.replace(".", "")
    with zipfile.ZipFile(output) as archive:
        tags = [
            line.split(":", 1)[1].strip()
            for name in archive.namelist()
            if name.endswith(".dist-info/WHEEL")
            for line in archive.read(name).decode().splitlines()
            if line.startswith("Tag:")
        ]
        binaries = [name for name in archive.namelist() if name.endswith(".so")]
        lock_shipped = archive.read("requirements.txt").decode()
    assert tags and binaries
    for tag in tags:
        python, abi, platform = tag.split("-")
        if platform == "any":
            assert abi == "none", tag
            continue
        assert (python, abi) == (tag_python, tag_python) or abi == "abi3", tag
        assert platform.startswith("manylinux") and platform.endswith("x86_64"), tag
    for name in binaries:
        assert f"cpython-{tag_python[2:]}-x86_64-linux-gnu" in name or ".abi3." in name, name
    assert lock_shipped == (REPO / "functions" / f"requirements-{python_version}.txt").read_text()


def test_the_same_sources_give_the_same_bytes(local_build: Path, source_with_clutter: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    package.build(again, LOCAL_PYTHON, source_with_clutter)
    assert hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(local_build.read_bytes()).hexdigest()


def test_a_python_without_a_lock_is_refused_naming_the_ones_offered(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match=r"no lock for CPython 3\.10 .*supported: 3\.11, 3\.12, 3\.13"):
        package.build(tmp_path / "app.zip", "3.10")
    assert not (tmp_path / "app.zip").exists()


def test_make_package_prints_pips_own_error(
    source_with_clutter: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "functions"
    shutil.copytree(source_with_clutter, source)
    (source / "requirements-3.12.txt").write_text("azure-functions==0.0.0-does-not-exist\n")
    monkeypatch.setattr(package_script, "build", lambda output, version: package.build(output, version, source))
    assert package_script.main(["--python-version", "3.12", "--output", str(tmp_path / "app.zip")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("package: pip could not install requirements-3.12.txt for CPython 3.12 on Linux x86_64:\n")
    assert "ERROR:" in err and "azure-functions" in err


def test_every_offered_python_has_a_lock_that_installs() -> None:
    """pip's dry run of each lock for its own Python on Linux x86_64 (also `make check-locks`)."""
    assert supported_python_versions() == ("3.11", "3.12", "3.13")
    for version in supported_python_versions():
        assert lock.installs(version) == "", version


def test_a_lock_resolved_for_another_python_is_caught(tmp_path: Path) -> None:
    """The 3.12 lock pins azure-functions 1.x, which does not install on 3.13: one lock per Python."""
    source = tmp_path / "functions"
    source.mkdir()
    (source / "requirements-3.13.txt").write_text((REPO / "functions" / "requirements-3.12.txt").read_text())
    assert "azure-functions" in lock.installs("3.13", source)
