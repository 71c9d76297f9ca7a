"""Pump readings: stored on change plus a heartbeat in typed columns, compacted, expired, migrated."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.alarm_policy import load_alarm_policy
from app.cli import main as chairside
from app.domain.clock import ManualClock
from app.floor import Floor
from app.store.journal import Journal
from app.store.maintenance import maintain
from app.store.schema import MIGRATIONS, encode
from app.store.telemetry import (
    PumpSample,
    TelemetryRecorder,
    Why,
    compact,
    count_readings,
    delete_expired,
    readings,
    volume_at,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _sample(
    second: float, rate: float = 100.0, state: str = "infusing", alarms: tuple[str, ...] = ()
) -> PumpSample:
    volume = rate * second / 3600.0
    return PumpSample(T0 + timedelta(seconds=second), rate, round(volume, 3), state, alarms, "connected")


def test_a_rate_change_the_journal_documents_is_a_stored_change(journal: Journal) -> None:
    """40 -> 44 mL/h: a change by the one definition of the same rate (AlarmPolicy), though within the
    alarm's tolerance of the plan (max(5 mL/h, 10 %))."""
    policy = load_alarm_policy()
    assert not policy.same_rate(40.0, 44.0)
    assert not policy.off_plan(44.0, 40.0)  # the alarm would not sound: still a different rate
    recorder = TelemetryRecorder(journal.conn, same_rate_ml_h=policy.same_rate_ml_h, heartbeat_s=60.0)
    assert recorder.record("Chair 1", "S1", _sample(0, 40.0))
    assert not recorder.record("Chair 1", "S1", _sample(1, 40.0))
    assert recorder.record("Chair 1", "S1", _sample(2, 44.0))
    assert [r.why for r in readings(journal.conn, "Chair 1", session_id="S1")][-1] == Why.RATE


def test_the_shipped_same_rate_is_the_recorders_default(journal: Journal) -> None:
    assert journal.recorder.same_rate_ml_h == load_alarm_policy().same_rate_ml_h


def test_stores_changes_their_edges_and_a_heartbeat(journal: Journal) -> None:
    recorder = TelemetryRecorder(journal.conn, same_rate_ml_h=5.0, heartbeat_s=60.0)
    stored = [s for s in range(600) if recorder.record("Chair 1", "S1", _sample(s, 100.0 + (s % 3)))]
    # 1 Hz for 10 minutes with jitter below the tolerance: the first reading and one a minute.
    assert stored == [0, 60, 120, 180, 240, 300, 360, 420, 480, 540]
    # A step to 150 mL/h stores the last reading at 100 (the edge, held back at 599 s) and the first at 150.
    assert recorder.record("Chair 1", "S1", _sample(600, 150.0))
    # State and alarm changes are stored at once.
    assert recorder.record("Chair 1", "S1", _sample(601, 150.0, "alarm", ("AL_OCCLU",)))
    assert recorder.record("Chair 1", "S1", _sample(602, 150.0, "alarm", ("AL_LWBAT", "AL_OCCLU")))
    rows = readings(journal.conn, "Chair 1", session_id="S1")
    assert [r.at for r in rows[-4:]] == [_sample(s).at for s in (599, 600, 601, 602)]
    assert rows[-4].rate_ml_h == 100.0 + 599 % 3
    assert [r.why for r in rows[-4:]] == [Why.BEFORE_CHANGE, Why.RATE, Why.STATE | Why.ALARMS, Why.ALARMS]
    assert rows[-1] == PumpSample(
        _sample(602).at,
        150.0,
        _sample(602, 150.0).volume_ml,
        "alarm",
        ("AL_LWBAT", "AL_OCCLU"),
        "connected",
        Why.ALARMS,
    )


def test_no_json_copy_and_typed_columns(journal: Journal) -> None:
    journal.recorder.record("Chair 1", "S1", _sample(0))
    columns = {row[1]: row[2] for row in journal.conn.execute("PRAGMA table_info(pump_readings)")}
    assert columns == {
        "stream": "INTEGER",
        "at_ms": "INTEGER",
        "rate_ml_h": "REAL",
        "volume_ul": "INTEGER",
        "state": "INTEGER",
        "alarm_codes": "TEXT",
        "link": "INTEGER",
        "why": "INTEGER",
    }
    assert journal.conn.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 0


def test_volume_is_interpolated_between_stored_points() -> None:
    samples = [_sample(0), _sample(600)]
    assert volume_at(samples, T0 + timedelta(seconds=300)) == pytest.approx(100.0 * 300 / 3600, abs=1e-3)
    assert volume_at(samples, T0 - timedelta(seconds=1)) is None
    assert volume_at(samples, T0 + timedelta(hours=1)) == samples[-1].volume_ml


def test_a_full_disk_is_kept_as_a_problem_until_a_write_succeeds(journal: Journal) -> None:
    recorder = journal.recorder
    recorder.record("Chair 1", "S1", _sample(0))
    (pages,) = journal.conn.execute("PRAGMA page_count").fetchone()
    journal.conn.execute(f"PRAGMA max_page_count = {pages}")
    second = 1
    while recorder.record("Chair 1", "S1", _sample(second, 100.0 + 10 * (second % 2))):
        second += 1  # fills the last free page
    assert "is full" in journal.storage_problem("Chair 1")
    assert journal.storage_problem("Chair 2") == ""
    journal.conn.execute("PRAGMA max_page_count = 1073741823")
    assert recorder.record("Chair 1", "S1", _sample(second + 1, 300.0))
    assert journal.storage_problem("Chair 1") == ""


def test_compaction_keeps_changes_and_one_per_interval(journal: Journal) -> None:
    recorder = TelemetryRecorder(journal.conn, same_rate_ml_h=5.0, heartbeat_s=60.0)
    for s in range(3600):
        recorder.record("Chair 1", "S1", _sample(s, 100.0 if s < 1800 else 200.0))
    before = readings(journal.conn, "Chair 1", session_id="S1")
    assert len(before) == 61  # 59 heartbeats and the first reading, the edge before the step, the step
    # Open session: untouched.
    assert compact(journal.conn, T0 + timedelta(hours=2), same_rate_ml_h=5.0).readings_deleted == 0
    journal.conn.execute(
        "INSERT INTO events (position, session_id, seq, occurred_at, recorded_at, actor, type, payload, prev_hash, hash) "
        "VALUES (1, 'S1', 1, '', '', 'RN', 'discharged', '{}', '', '')"
    )
    result = compact(journal.conn, T0 + timedelta(hours=2), same_rate_ml_h=5.0, keep_every_s=600)
    after = readings(journal.conn, "Chair 1", session_id="S1")
    assert result.readings_deleted == len(before) - len(after)
    seconds = [int((r.at - T0).total_seconds()) for r in after]
    assert seconds == [0, 600, 1200, 1799, 1800, 2400, 3000, 3540]  # the step keeps both its edges
    # Compacting again changes nothing.
    assert compact(journal.conn, T0 + timedelta(hours=3), same_rate_ml_h=5.0, keep_every_s=600).streams == 0


def test_retention_deletes_old_readings_but_not_open_sessions(journal: Journal) -> None:
    recorder = journal.recorder
    recorder.record("Chair 1", "closed", _sample(0))
    recorder.record("Chair 2", "open", _sample(0))
    journal.conn.execute(
        "INSERT INTO events (position, session_id, seq, occurred_at, recorded_at, actor, type, payload, prev_hash, hash) "
        "VALUES (1, 'closed', 1, '', '', 'RN', 'discharged', '{}', '', '')"
    )
    assert delete_expired(journal.conn, T0 + timedelta(days=29), 30) == 0
    assert delete_expired(journal.conn, T0 + timedelta(days=31), 30) == 1
    assert readings(journal.conn, "Chair 1") == [] and len(readings(journal.conn, "Chair 2")) == 1


def test_maintenance_compacts_and_vacuums_without_touching_the_chain(
    db_path: Path, clock: ManualClock, library: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.export.sample_shift import demo_visits, run_shift

    floor = Floor(Journal(db_path, clock), clock=clock)
    floor.journal.recorder = TelemetryRecorder(floor.journal.conn, heartbeat_s=1.0)  # every 1-min sample
    run_shift(floor, clock, demo_visits(4), clock.now() + timedelta(hours=8), sample_min=0.25)
    before = floor.journal.verify()
    entries_before = [e.hash for e in floor.journal.entries()]
    readings_before = count_readings(floor.journal.conn)
    floor.close()
    report = maintain(db_path, clock.now() + timedelta(hours=1), retention_days=365, keep_every_s=600)
    assert report.chain_before == report.chain_after == before and before.intact
    assert report.compaction.readings_deleted > 0 and report.readings_left < readings_before
    assert report.bytes_after < report.bytes_before
    with Journal(db_path, read_only=True) as journal:
        assert [e.hash for e in journal.entries()] == entries_before
        assert journal.verify() == before
    assert chairside(["maintenance", "--db", str(db_path), "--retention-days", "400"]) == 0
    assert "journal untouched and intact" in capsys.readouterr().out
    assert chairside(["verify", "--db", str(db_path)]) == 1  # consistent, not witnessed
    assert "journal NOT confirmed" in capsys.readouterr().err


def test_maintenance_refuses_bad_numbers(
    db_path: Path, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    Journal(db_path, clock).close()
    for option, bad in [
        *(("--retention-days", b) for b in ("nan", "0", "-1", "inf", "x", "739947")),  # 739947: past datetime
        *(("--keep-every-min", b) for b in ("0", "-5", "1e300", "nan")),
    ]:
        with pytest.raises(SystemExit) as exit_:
            chairside(["maintenance", "--db", str(db_path), option, bad])
        assert exit_.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_schema_1_1_rows_are_moved_to_typed_columns(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    for version in sorted(MIGRATIONS):
        if version > (1, 1):
            break
        for statement in MIGRATIONS[version]:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {encode((1, 1))}")
    payload = {"alarms": [{"code": "AL_OCCLU", "text": "occlusion", "kind": "occlusion"}], "rate_ml_h": 42.5}
    conn.execute(
        "INSERT INTO telemetry (chair, session_id, at, rate_ml_h, volume_infused_ml, state, payload) VALUES (?,?,?,?,?,?,?)",
        ("Chair 3", "S9", "2026-01-05T09:00:01.250000+00:00", 42.5, 12.345, "alarm", json.dumps(payload)),
    )
    conn.commit()
    conn.close()
    with Journal(db_path, read_only=True) as old:  # an archive that cannot be migrated still reads
        assert [r.rate_ml_h for r in old.telemetry("Chair 3")] == [42.5]
    with Journal(db_path) as journal:
        assert journal.schema_version >= (1, 2)  # and whatever later minors add (1.5: MQTT outbox)
        (row,) = journal.telemetry("Chair 3", session_id="S9")
        assert row == PumpSample(
            T0 + timedelta(seconds=1.25), 42.5, 12.345, "alarm", ("AL_OCCLU",), "", Why.HEARTBEAT
        )
        assert journal.conn.execute("SELECT count(*) FROM telemetry").fetchone()[0] == 0


def test_housekeeping_compacts_closed_sessions_at_most_hourly(journal: Journal) -> None:
    recorder = TelemetryRecorder(journal.conn, same_rate_ml_h=5.0, heartbeat_s=1.0, keep_every_s=600)
    for s in range(1200):
        recorder.record("Chair 1", "S1", _sample(s))
    journal.conn.execute(
        "INSERT INTO events (position, session_id, seq, occurred_at, recorded_at, actor, type, payload, prev_hash, hash) "
        "VALUES (1, 'S1', 1, '', '', 'RN', 'discharged', '{}', '', '')"
    )
    now = T0 + timedelta(hours=1)
    result = recorder.housekeeping(now)
    assert result is not None and result.readings_deleted == 1200 - 3  # 0, 600 and the last
    assert recorder.housekeeping(now + timedelta(minutes=59)) is None
    with pytest.raises(ValueError, match="retention_days"):
        TelemetryRecorder(journal.conn, retention_days=float("nan"))


def test_a_lost_link_is_stored_as_a_link_change(journal: Journal) -> None:
    from drivers.base import LinkState, LinkStatus

    recorder = journal.recorder
    assert not recorder.record_link("Chair 1", "S1", T0, LinkState(LinkStatus.LOST))  # nothing read yet
    recorder.record("Chair 1", "S1", _sample(0))
    assert recorder.record_link(
        "Chair 1", "S1", T0 + timedelta(seconds=12), LinkState(LinkStatus.LOST, "quiet")
    )
    assert recorder.record("Chair 1", "S1", _sample(40))  # back: connected again
    rows = readings(journal.conn, "Chair 1")
    assert [(r.link, r.why) for r in rows] == [
        ("connected", Why.FIRST),
        ("lost", Why.LINK),
        ("connected", Why.LINK),
    ]
