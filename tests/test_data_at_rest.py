"""Data at rest on the production path: a station started from its database (no demo), a patient checked
in with a known MRN, things logged and a thread failing with the MRN in its message. No file under the
data folder but the journal holds the MRN or the initials, and no file at all holds a PIN or badge code."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from app.redaction import MASK

MRN = "MRN-SECRET-1"
INITIALS = "QZ"
PIN = "482913"
BADGE = "0004411223"


def _fail_in_a_thread() -> None:
    raise ValueError(f"cannot file the reading for {MRN} ({INITIALS})")


def a_session_at_the_station() -> int:
    """Run in its own process (the station's event loop ends with its process): the station started as
    `chairside --chairs 2`, and, once it runs, what a shift does to it."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.accounts.store import SignInRefused
    from app.cli import main as chairside
    from app.domain.clock import ManualClock
    from app.ui.main_window import MainWindow
    from tests.ui.helpers import check_in_command

    app = QApplication([sys.argv[0]])

    def at_the_station() -> None:
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
        floor = window.floor
        assert floor.accounts is not None
        with contextlib.suppress(SignInRefused):
            floor.accounts.sign_in(BADGE, "000000")
        floor.sign_in(floor.accounts.sign_in(BADGE, PIN))
        chair = floor.chair(1)
        command = check_in_command(chair.name, ManualClock(datetime.now(UTC)))
        chair.check_in(replace(command, patient_mrn=MRN, patient_initials=INITIALS))
        logging.getLogger("drivers.alaris").warning("reading for %s while %r", chair.name, chair.state)
        logging.getLogger("app.chairs").info("checked in {'patient_mrn': '%s'}", MRN)
        failing = threading.Thread(target=_fail_in_a_thread)
        failing.start()
        failing.join()
        print("session ran")

    QTimer.singleShot(300, at_the_station)
    code = chairside(["--chairs", "2", "--quit-after", "3"])
    del app
    return code


def test_no_patient_identifier_in_logs_or_crash_log_and_no_pin_anywhere(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "CHAIRSIDE_DATA_DIR": str(data), "QT_QPA_PLATFORM": "offscreen"}
    add = ["users", "add", "ADM-1", "--name", "Ann Admin", "--role", "admin", "--badge", BADGE, "--pin-stdin"]
    added = subprocess.run(
        [sys.executable, "-m", "app", *add],
        input=f"{PIN}\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert added.returncode == 0, added.stderr
    session = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, tests.test_data_at_rest as t; sys.exit(t.a_session_at_the_station())",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert session.returncode == 0 and "session ran" in session.stdout, session.stderr
    for printed in (session.stdout, session.stderr, added.stdout, added.stderr):
        assert MRN not in printed and PIN not in printed and BADGE not in printed

    files = [p for p in data.rglob("*") if p.is_file()]
    journal = [p for p in files if p.name.startswith("chairside.sqlite")]
    others = [p for p in files if p not in journal]
    assert {p.name for p in others} >= {"crash.log", "chairside.log"}
    crash = (data / "crash.log").read_text()
    logged = (data / "chairside.log").read_text()
    assert "ValueError: cannot file the reading for" in crash and MASK in crash
    assert "reading for Chair 1 while ChairState(" in logged and MASK in logged
    for path in others:
        text = path.read_bytes()
        for secret in (MRN, f"'{INITIALS}'", f"({INITIALS})", PIN, BADGE):
            assert secret.encode() not in text, (path.name, secret)
    journal_bytes = b"".join(p.read_bytes() for p in journal)
    assert PIN.encode() not in journal_bytes and BADGE.encode() not in journal_bytes
