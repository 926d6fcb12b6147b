"""Only the CLI renders reports: the installed package ships the report's templates and CSS and
depends on Jinja2, while the function app imports neither the report nor Jinja2, so its
package (``functions/requirements.in`` and its per-Python locks) stays without them."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from spotify_exporter.report.page import environment

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = REPO / "functions"
REPORT = FUNCTIONS / "spotify_exporter" / "report"


def test_the_function_app_never_imports_the_report_or_jinja2() -> None:
    # Jinja2 made unimportable, as in the function app's package (MarkupSafe is there: Werkzeug,
    # which azure-functions needs, needs it); the app must import all the same
    probe = (
        "import sys\n"
        "class NoJinja:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] == 'jinja2':\n"
        "            raise ImportError(f'{name} is not in the function app package')\n"
        "sys.meta_path.insert(0, NoJinja())\n"
        "import function_app\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('spotify_exporter.report', 'jinja2')))\n"
        "print(loaded, [f.get_function_name() for f in function_app.app.get_functions()])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=FUNCTIONS, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] ['weekly_export']"


def _names(requirements: Path) -> set[str]:
    lines = (line.split("#")[0].split(";")[0].strip() for line in requirements.read_text().splitlines())
    return {Requirement(line.split(" \\")[0]).name.lower() for line in lines if line and not line.startswith("-")}


def test_jinja2_is_a_dependency_of_the_cli_package_only() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "jinja2" in {Requirement(r).name.lower() for r in project["dependencies"]}
    locks = sorted(path.name for path in FUNCTIONS.glob("requirements-*.txt"))
    assert locks, "no lock of the function app's requirements"
    for requirements in ("requirements.in", *locks):
        assert "jinja2" not in _names(FUNCTIONS / requirements), requirements


def test_the_templates_and_the_css_are_package_data() -> None:
    """``pip install .`` ships what setuptools' package-data globs match: every file the report
    reads besides its modules must match one, or the installed CLI cannot render a report."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = config["package-data"]["spotify_exporter.report"]
    shipped = {path for pattern in globs for path in REPORT.glob(pattern)}
    needed = {p for p in REPORT.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")}
    assert needed and needed <= shipped, sorted(str(p.relative_to(REPORT)) for p in needed - shipped)
    templates = {REPORT / "templates" / name for name in environment().list_templates()}
    assert REPORT / "report.css" in shipped and templates <= shipped and len(templates) > 5
