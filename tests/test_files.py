"""Files people keep are written whole, privately, through symlinks, and leave no temp file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from spotify_exporter.files import write_file_atomically


def test_replaces_the_file_privately_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")
    target.chmod(0o644)
    write_file_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_a_symlink_is_written_through_and_stays_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "secrets" / "spotify.env"
    real.parent.mkdir()
    real.write_text("A=1\n")
    link = tmp_path / ".env"
    link.symlink_to(real)
    written = write_file_atomically(link, b"A=2\n")
    assert link.is_symlink()
    assert written == real.resolve()
    assert real.read_text() == "A=2\n"


def test_a_planted_symlink_at_a_predictable_temp_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    for guess in (f".report.html.{os.getpid()}.tmp", ".report.html.tmp"):
        (tmp_path / guess).symlink_to(victim)
    write_file_atomically(tmp_path / "report.html", b"<html>")
    assert victim.read_text() == "untouched"
    assert (tmp_path / "report.html").read_bytes() == b"<html>"


def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "journal.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_file_atomically(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.json"]


def test_a_kill_mid_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    """SIGKILL a process while it writes 64 MB: the target holds the old bytes or the new ones."""
    target = tmp_path / "big.bin"
    target.write_bytes(b"o" * 1000)
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from spotify_exporter.files import write_file_atomically
        print("go", flush=True)
        write_file_atomically(Path({str(target)!r}), b"n" * (64 << 20))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "functions")}
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    assert process.stdout is not None
    assert process.stdout.readline() == b"go\n"
    process.kill()
    process.wait()
    data = target.read_bytes()
    assert data in (b"o" * 1000, b"n" * (64 << 20))
    leftovers = [p for p in tmp_path.iterdir() if p.name != "big.bin"]
    # the next write removes what the killed writer left, once it is old enough to be surely dead
    for leftover in leftovers:
        os.utime(leftover, (0, 0))
    write_file_atomically(target, b"next")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.bin"]
