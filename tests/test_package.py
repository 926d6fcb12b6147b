"""`make package`: what goes to Azure is importable, built for the right platform, and reproducible."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def _package_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("package_script", REPO / "scripts" / "package.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


package = _package_script()
LOCAL_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture(scope="module")
def source_with_clutter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """functions/ plus everything a developer's folder accumulates that must never ship."""
    source = tmp_path_factory.mktemp("src") / "functions"
    shutil.copytree(REPO / "functions", source, ignore=shutil.ignore_patterns("__pycache__"))
    (source / ".env").write_text("SPOTIFY_CLIENT_SECRET=do-not-ship\n")
    (source / "local.settings.json").write_text('{"Values": {"SECRET": "do-not-ship"}}')
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "function_app.cpython-311.pyc").write_bytes(b"\0")
    (source / "tests").mkdir()
    (source / "tests" / "test_app.py").write_text("")
    (source / ".venv" / "lib").mkdir(parents=True)
    (source / ".venv" / "lib" / "junk.py").write_text("")
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
    assert result.stdout.strip() == "['weekly_export', 'export_account', 'export_gave_up']"


def test_nothing_that_must_stay_local_is_inside(local_build: Path) -> None:
    names = zipfile.ZipFile(local_build).namelist()
    assert "function_app.py" in names and "host.json" in names and "requirements.txt" in names
    for name in names:
        parts = name.split("/")
        assert ".env" not in parts and "local.settings.json" not in parts, name
        assert "__pycache__" not in parts and not name.endswith(".pyc"), name
        assert parts[0] not in ("tests", ".venv"), name
    assert b"do-not-ship" not in local_build.read_bytes()


def test_the_azure_package_has_only_linux_x86_64_binaries_for_its_python(tmp_path: Path) -> None:
    output = tmp_path / "app-312.zip"
    package.build(output, "3.12")
    with zipfile.ZipFile(output) as archive:
        tags = [
            line.split(":", 1)[1].strip()
            for name in archive.namelist()
            if name.endswith(".dist-info/WHEEL")
            for line in archive.read(name).decode().splitlines()
            if line.startswith("Tag:")
        ]
        binaries = [name for name in archive.namelist() if name.endswith(".so")]
    assert tags and binaries
    for tag in tags:
        python, abi, platform = tag.split("-")
        if platform == "any":
            assert abi == "none", tag
            continue
        assert (python, abi) == ("cp312", "cp312") or abi == "abi3", tag
        assert platform.startswith("manylinux") and platform.endswith("x86_64"), tag
    for name in binaries:
        assert "cpython-312-x86_64-linux-gnu" in name or ".abi3." in name, name


def test_the_same_sources_give_the_same_bytes(local_build: Path, source_with_clutter: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    package.build(again, LOCAL_PYTHON, source_with_clutter)
    assert hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(local_build.read_bytes()).hexdigest()
