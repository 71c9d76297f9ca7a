"""One station per database: the OS lock, and the occupied-chair guard inside the write transaction."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.domain.clock import ManualClock
from app.domain.decide import CommandRefused
from app.floor import Floor
from app.protocol_library import ProtocolLibrary
from app.station.lock import StationInUse, StationLock, lock_path
from app.store.journal import Journal
from tests.ui.helpers import check_in_command

ROOT = Path(__file__).resolve().parents[2]

HOLD = """
import sys, time
from app.station.lock import StationLock
lock = StationLock(sys.argv[1]).acquire()
print("held", flush=True)
sys.stdin.readline()
"""


def test_two_floors_on_one_file_cannot_open_two_sessions_on_one_chair(
    db_path: Path, library: ProtocolLibrary, clock: ManualClock
) -> None:
    first = Floor(Journal(db_path, clock), library, clock)
    second = Floor(Journal(db_path, clock), library, clock)  # its own journal, its own memory
    try:
        first.check_in(check_in_command("Chair 1", clock), "AB")
        assert second.session_for_chair("Chair 1") is None  # it does not know from memory
        with pytest.raises(CommandRefused, match="already has a patient"):
            second.check_in(check_in_command("Chair 1", clock), "CD")
        assert len(first.journal.session_ids(open_only=True)) == 1
        second.check_in(check_in_command("Chair 2", clock), "CD")  # another chair is fine
        assert first.journal.verify().intact
    finally:
        first.close()
        second.close()


def test_a_second_station_on_the_database_is_told_who_holds_it(tmp_path: Path) -> None:
    db = tmp_path / "station.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StationInUse, match=rf"in use by \S+ pid {holder.pid} since \d{{4}}-"):
            StationLock(db).acquire()
        assert (lock_path(db).stat().st_mode & 0o777) == 0o600
    finally:
        holder.kill()  # SIGKILL: the OS drops the lock with the process
        holder.communicate(timeout=30)
    with StationLock(db) as lock:
        assert lock.held
    with StationLock(db):
        pass  # released: taken again


def test_read_only_commands_work_while_a_station_holds_the_database(
    db_path: Path, library: ProtocolLibrary, clock: ManualClock, tmp_path: Path
) -> None:
    floor = Floor(Journal(db_path, clock), library, clock)
    floor.check_in(check_in_command("Chair 1", clock), "AB")
    floor.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}

    def chairside(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    with StationLock(db_path):  # a station runs on this database
        status = chairside("status", "--db", str(db_path))
        verify = chairside("verify", "--db", str(db_path))
        export = chairside(
            "export", "--db", str(db_path), "--format", "json", "-o", str(tmp_path / "log.json")
        )
        second = StationLock(db_path)
        with pytest.raises(StationInUse):
            second.acquire()
    assert status.returncode == 0 and "JD" in status.stdout, status.stderr
    assert verify.returncode == 1 and "chain consistent" in verify.stderr, verify.stderr
    assert export.returncode == 0 and (tmp_path / "log.json").stat().st_size > 0, export.stderr
