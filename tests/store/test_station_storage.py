"""The station's storage on its production path: private files, the plot refilled after a restart, and
a full disk shown as a high-priority alarm (never a traceback from the demo's timer)."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from app import errors
from app.chairs import FloorController
from app.cli import main as chairside
from app.demo import Demo
from app.domain.alarms import Priority
from app.domain.clock import ManualClock
from app.export.api import ExportRequest, run_export
from app.export.shifts import ExportRange
from app.floor import Floor
from app.paths import data_dir
from app.store.journal import Journal
from tests.e2e.pumps import PumpOnPty, connect, pump_on_pty, wait_polls
from tests.test_chairs import _to_infusing

__all__ = ["pump_on_pty"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_wal_shm_exports_and_crash_log_are_private(
    qapp: object,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    previous = os.umask(0o022)  # a usual desktop umask: without our care, everything would be 0644
    try:
        folder = tmp_path / "data"
        folder.mkdir(mode=0o755)
        os.chmod(folder, 0o755)
        monkeypatch.setenv("CHAIRSIDE_DATA_DIR", str(folder))
        db = data_dir() / "chairside.sqlite"
        with caplog.at_level(logging.WARNING):
            floor = Floor(Journal(db, clock), clock=clock)
        assert _mode(folder) == 0o700
        assert any("was open to others" in r.getMessage() for r in caplog.records)
        from tests.conftest import ChairScript

        script = ChairScript(floor, clock)
        script.to_infusing()
        floor.journal.recorder.record("Chair 1", script.session_id, _reading(clock.now()))
        companions = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        assert all(p.exists() for p in companions)
        assert {p.name: _mode(p) for p in companions} == {p.name: 0o600 for p in companions}

        out = tmp_path / "exports"
        out.mkdir()
        since = clock.now() - timedelta(hours=2)
        for fmt in ("csv", "pdf", "json", "hl7"):
            target = out / f"shift.{fmt}"
            result = run_export(
                ExportRequest(db, ExportRange(since, clock.now() + timedelta(hours=1), "test"), fmt, target)
            )
            assert result.manifest is not None
            assert (_mode(target), _mode(result.manifest)) == (0o600, 0o600), fmt

        crash_log = folder / "crash.log"
        errors.install(crash_log, qt=False)
        try:
            try:
                raise RuntimeError("boom")
            except RuntimeError as exc:
                errors.report(RuntimeError, exc, exc.__traceback__, "a test")
        finally:
            errors.uninstall()
        assert "boom" in crash_log.read_text() and _mode(crash_log) == 0o600
        floor.close()
    finally:
        os.umask(previous)


def test_every_command_sets_the_private_umask(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    previous = os.umask(0o022)
    try:
        chairside(["status", "--db", str(tmp_path / "missing.sqlite")])
        assert os.umask(0o022) == 0o077
    finally:
        os.umask(previous)
    capsys.readouterr()


def test_an_existing_database_is_tightened(tmp_path: Path, clock: ManualClock) -> None:
    db = tmp_path / "old.sqlite"
    Journal(db, clock).close()
    os.chmod(db, 0o644)
    Journal(db, clock).close()
    assert _mode(db) == 0o600


def _reading(at: datetime, rate: float = 40.0) -> object:
    from app.store.telemetry import PumpSample

    return PumpSample(at, rate, 1.0, "infusing")


def test_a_restart_refills_the_plot_from_the_stored_readings(
    qtbot: QtBot, db_path: Path, clock: ManualClock, pump_on_pty: PumpOnPty
) -> None:
    floor = Floor(Journal(db_path, clock), clock=clock)
    floor.journal.recorder = type(floor.journal.recorder)(floor.journal.conn, heartbeat_s=1.0)
    controller = FloorController(floor, 1, clock)
    controller.set_nurse("AB")
    chair = controller.chair(1)
    _to_infusing(controller, clock)
    pump_on_pty.program(40, 500)
    pump_on_pty.pump.start()
    connect(qtbot, chair, pump_on_pty)
    try:
        wait_polls(qtbot, chair)
        pump_on_pty.advance(minutes=10)
        pump_on_pty.pump.set_rate(80)
        qtbot.waitUntil(lambda: chair.state.pump_rate_ml_h == 80, timeout=10_000)  # type: ignore[union-attr]
        pump_on_pty.advance(minutes=10)
        wait_polls(qtbot, chair)
    finally:
        chair.detach_driver()
    session = chair.state.session_id  # type: ignore[union-attr]
    stored = floor.journal.telemetry("Chair 1", session_id=session)
    assert len(stored) >= 3 and {s.rate_ml_h for s in stored} >= {40.0, 80.0}
    controller.close()
    floor.close()

    restarted = FloorController(Floor(Journal(db_path, clock), clock=clock), 1, clock)
    t, rate, volume = restarted.chair(1).history.arrays()
    assert len(t) == len(stored) > 0
    assert np.array_equal(t, [s.at.timestamp() for s in stored])
    assert np.array_equal(rate, [s.rate_ml_h for s in stored])
    assert np.allclose(volume, [s.volume_ml for s in stored])
    restarted.floor.close()


def _fill_the_disk(conn: sqlite3.Connection) -> None:
    """Use every page the file may have (max_page_count = its size), as a full disk would."""
    conn.execute("CREATE TABLE IF NOT EXISTS filler (x BLOB)")
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    for size in (4000, 500, 50, 5):
        while True:
            try:
                conn.execute("INSERT INTO filler VALUES (zeroblob(?))", (size,))
            except sqlite3.OperationalError:
                break


def test_a_full_disk_is_a_high_alarm_until_storage_returns_and_the_demo_timer_never_raises(
    qtbot: QtBot, floor: Floor, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    controller = FloorController(floor, 2, clock, tick_ms=20)
    demo = Demo(floor, clock, chairs=2, chair_names=[c.name for c in controller.chairs])
    controller.add_tick_hook(lambda _now: demo.advance(clock.advance(minutes=1)))  # a minute per tick
    chair = controller.chair(1)

    def storage_alarm() -> list[object]:
        return [a for a in chair.active_alarms if a.rule == "storage_failing"]

    with caplog.at_level(logging.INFO):
        controller.start()  # the real timer: the demo's entries soon need a page the file cannot have
        # the disk fills once chair 1 has a session (a check-in carries its whole protocol definition,
        # sources and all: it would not fit in the last free bytes)
        qtbot.waitUntil(lambda: chair.state is not None, timeout=10_000)
        _fill_the_disk(floor.journal.conn)
        qtbot.waitUntil(lambda: bool(storage_alarm()), timeout=10_000)
        (alarm,) = storage_alarm()
        assert alarm.priority is Priority.HIGH  # type: ignore[attr-defined]
        assert "entries are not being recorded" in alarm.message  # type: ignore[attr-defined]
        assert floor.journal.write_problem and "is full" in floor.journal.write_problem
        floor.journal.conn.execute("DELETE FROM filler")  # space again
        qtbot.waitUntil(lambda: not storage_alarm(), timeout=10_000)
        assert floor.journal.write_problem == ""
        controller.stop()
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert floor.journal.verify().intact
