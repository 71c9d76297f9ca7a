"""The station core runs where PySide6 cannot even be imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_chair_session_runs_an_infusion_without_qt(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.station.headless", str(tmp_path / "core.sqlite")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["qt_loaded"] == []
    assert "rate_changed" in result["events"] and "infusion_completed" in result["events"]
    assert result["rate_source"] == "pump"
    assert result["completed_source"] == "pump"
    assert result["telemetry_rows"] > 0 and result["history"] >= 3
    assert result["verified"] is True


def test_the_blocker_really_blocks_qt() -> None:
    """The subprocess's guard works: importing Qt after it fails (so the test above can fail)."""
    code = "from tests.station.headless import _block_qt; _block_qt(); import PySide6.QtCore"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "ModuleNotFoundError" in done.stderr or "ImportError" in done.stderr
