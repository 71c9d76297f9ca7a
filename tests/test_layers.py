"""The layers hold (pyproject.toml [tool.importlinter], run by `make layers` before pytest), and the
contracts are tight enough that loosening a layer fails them: each case below copies the real `app` and
`drivers` trees, adds one forbidden import to one module (at module level or inside a function, where
import-linter sees it too) and runs the real lint-imports on the copy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

LINT_IMPORTS = (
    "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
)


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports with the project's contracts on the packages under `tree` (found first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--no-logo", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the real tree and its contracts (copied again per case: each case writes one module)."""
    tree = tmp_path_factory.mktemp("layers") / "tree"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("app", "drivers"):
        shutil.copytree(REPO / package, tree / package, ignore=ignore)
    shutil.copy2(REPO / "pyproject.toml", tree / "pyproject.toml")
    return tree


def test_the_real_tree_keeps_every_contract() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--no-logo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_copy_keeps_them_too(pristine: Path) -> None:
    """The cases below fail for the import they add, not for the copying."""
    result = lint_imports(pristine)
    assert result.returncode == 0, result.stdout + result.stderr


LOOSENINGS = {
    "domain imports Qt": ("app/domain/phase.py", "import PySide6.QtCore"),
    "domain imports SQLite": ("app/domain/phase.py", "import sqlite3"),
    "domain imports the store": ("app/domain/phase.py", "import app.store.journal"),
    "domain imports a driver": ("app/domain/phase.py", "import drivers.base"),
    "store imports a driver beyond Telemetry": ("app/store/maintenance.py", "import drivers.link"),
    "station imports the ui": ("app/station/snapshot.py", "def _late():\n    import app.ui.overview"),
    "station imports the Qt facade": ("app/station/config.py", "import app.chairs"),
    "station imports Qt": ("app/station/publish.py", "import PySide6.QtCore"),
    "ui imports the store": ("app/ui/overview.py", "import app.store.journal"),
    "ui imports a driver": ("app/ui/dialogs/pumps.py", "def _probe_here():\n    import drivers.probe"),
    "export imports the station": ("app/export/shifts.py", "def _zone():\n    import app.station.config"),
    "export imports the ui": ("app/export/pdf.py", "import app.ui.theme"),
    "export imports Qt beyond the PDF": ("app/export/tabular.py", "import PySide6.QtWidgets"),
    "drivers import the app": ("drivers/link.py", "import app.domain.clock"),
    "a cycle in the station": ("app/station/session.py", "def _back():\n    import app.station.station"),
    "a cycle between packages": ("app/store/journal.py", "def _up():\n    import app.floor"),
}


@pytest.mark.parametrize("case", sorted(LOOSENINGS))
def test_loosening_a_layer_breaks_a_contract(case: str, pristine: Path, tmp_path: Path) -> None:
    module, extra = LOOSENINGS[case]
    tree = tmp_path / "tree"
    shutil.copytree(pristine, tree)
    target = tree / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n\n{extra}\n", encoding="utf-8")
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
