"""app/domain is pure Python: no Qt, no SQLite, no pyserial, no drivers (DESIGN.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "app" / "domain"
FORBIDDEN = ("PySide6", "pyqtgraph", "serial", "sqlite3", "sqlite_utils", "drivers", "app.store", "app.ui")


def test_domain_sources_import_nothing_forbidden() -> None:
    offenders = []
    for path in sorted(DOMAIN.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN or n.startswith(FORBIDDEN)
            ]
    assert offenders == []


def test_importing_the_domain_loads_no_forbidden_module() -> None:
    modules = sorted(p.stem for p in DOMAIN.glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import app.domain.{m}\n" for m in modules)
        + f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN[:5]!r} or m.startswith({FORBIDDEN[5:]!r})]\n"
        + "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
    assert len(modules) >= 8
