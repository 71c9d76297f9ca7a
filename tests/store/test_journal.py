"""The journal: durable, append-only, hash-chained; crashes lose nothing committed; tampering shows."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from app.cli import main as chairside
from app.domain.chair import ChairState
from app.domain.clock import ManualClock
from app.domain.commands import ChangeRate, RecordVitals
from app.domain.events import Event, EventType
from app.floor import Floor
from app.store.journal import Journal, JournalWriteError, SequenceConflict
from app.store.schema import CURRENT, NewerDatabaseError, encode


def _session(chair_script: Any, vitals: int = 3) -> str:
    chair_script.check_in()
    for hr in range(70, 70 + vitals):
        chair_script.run(RecordVitals({"heart_rate_bpm": hr}))
    return str(chair_script.session_id)


def _raw(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER events_are_append_only_update")
    conn.execute("DROP TRIGGER events_are_append_only_delete")
    return conn


def test_durability_pragmas(journal: Journal) -> None:
    assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_events_get_consecutive_seqs_and_a_chain(chair_script: Any, journal: Journal) -> None:
    session = _session(chair_script)
    entries = list(journal.entries(session))
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert journal.verify().intact and journal.verify().events_checked == 4


def test_a_second_write_of_the_same_seq_fails(
    chair_script: Any, journal: Journal, clock: ManualClock
) -> None:
    session = _session(chair_script)
    event = Event(EventType.NOTE_ADDED, clock.now(), "RN", {"text": "x"})
    with pytest.raises(SequenceConflict):
        journal.append(session, [event], expected_last_seq=2)
    with pytest.raises(
        sqlite3.IntegrityError, match="UNIQUE constraint failed: events.session_id, events.seq"
    ):
        journal.conn.execute(
            "INSERT INTO events SELECT position + 100, session_id, seq, occurred_at, recorded_at, actor, type, "
            "payload, prev_hash, hash FROM events WHERE seq = 1"
        )
    assert journal.verify().intact


def test_triggers_refuse_edits_and_deletes(chair_script: Any, journal: Journal) -> None:
    _session(chair_script)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        journal.conn.execute("UPDATE events SET actor = 'someone else'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        journal.conn.execute("DELETE FROM events")


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (
            "UPDATE events SET payload = replace(payload, '71', '17') WHERE seq = 3",
            r"event 3 .*\(edited after recording\)",
        ),
        ("DELETE FROM events WHERE seq = 2", "event 3 .*entries 2 to 2 are missing"),
        ("DELETE FROM events WHERE seq = 4", "ends at entry 3 but entry 4 was recorded"),
        ("UPDATE events SET actor = 'XX' WHERE seq = 2", r"event 2 .*\(edited after recording\)"),
    ],
)
def test_verify_names_the_first_bad_event(
    chair_script: Any,
    journal: Journal,
    db_path: Path,
    capsys: pytest.CaptureFixture[str],
    tamper: str,
    expected: str,
) -> None:
    _session(chair_script)
    assert chairside(["verify", "--db", str(db_path)]) == 1  # no witness: never "intact"
    assert "journal NOT confirmed: 4 entries" in capsys.readouterr().err
    conn = _raw(db_path)
    conn.execute(tamper)
    conn.commit()
    conn.close()
    assert chairside(["verify", "--db", str(db_path)]) == 1
    err = capsys.readouterr().err
    assert "journal NOT intact: first bad entry is" in err
    assert re.search(expected, err), err


def test_rehashed_edit_is_still_caught_by_the_next_link(
    chair_script: Any, journal: Journal, db_path: Path
) -> None:
    _session(chair_script)
    conn = _raw(db_path)
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM events WHERE seq = 2").fetchone())
    row["payload"] = row["payload"].replace("70", "99")
    from app.store.journal import row_hash

    conn.execute("UPDATE events SET payload = ?, hash = ? WHERE seq = 2", (row["payload"], row_hash(row)))
    conn.commit()
    conn.close()
    problem = journal.verify().first_problem
    assert problem is not None and problem.seq == 3 and "chain broken" in problem.problem


def test_a_newer_major_schema_is_refused_with_a_clear_message(db_path: Path, clock: ManualClock) -> None:
    Journal(db_path, clock).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {encode((CURRENT[0] + 1, 0))}")
    conn.close()
    with pytest.raises(NewerDatabaseError, match="written by a newer Chairside .* Nothing was changed"):
        Journal(db_path, clock)


def test_a_newer_minor_schema_opens(db_path: Path, clock: ManualClock) -> None:
    Journal(db_path, clock).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {encode((CURRENT[0], CURRENT[1] + 5))}")
    conn.close()
    with Journal(db_path, clock) as journal:
        assert journal.verify().intact


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(Exception, match="not a Chairside database"):
        Journal(path)


def test_disk_full_is_a_clear_error_and_loses_nothing_recorded(chair_script: Any, journal: Journal) -> None:
    session = _session(chair_script, vitals=1)
    before = journal.events(session)
    (pages,) = journal.conn.execute("PRAGMA page_count").fetchone()
    journal.conn.execute(f"PRAGMA max_page_count = {pages}")  # the file cannot grow: as if the disk were full
    big = "x" * 200_000
    with pytest.raises(JournalWriteError, match="disk .* is full: the last entry was NOT recorded"):
        journal.append(
            session, [Event(EventType.NOTE_ADDED, chair_script.clock.now(), "RN", {"text": big})], len(before)
        )
    assert journal.events(session) == before
    assert journal.verify().intact
    journal.conn.execute("PRAGMA max_page_count = 1073741823")
    chair_script.run(RecordVitals({"heart_rate_bpm": 75}))
    assert len(journal.events(session)) == len(before) + 1


def test_read_only_file_is_a_clear_error(chair_script: Any, db_path: Path, clock: ManualClock) -> None:
    _session(chair_script, vitals=1)
    with (
        Journal(db_path, clock, read_only=True) as journal,
        pytest.raises(JournalWriteError, match="read-only"),
    ):
        journal.append(
            chair_script.session_id, [Event(EventType.NOTE_ADDED, clock.now(), "RN", {"text": "x"})], 2
        )


WRITER = textwrap.dedent(
    """
    import json, sys
    from datetime import date, timedelta
    from app.domain.clock import SystemClock
    from app.domain.commands import ChangeRate, CheckIn, RecordVitals
    from app.floor import Floor

    floor = Floor.open(__import__("pathlib").Path(sys.argv[1]), SystemClock())
    now = floor.clock.now()
    state = floor.check_in(CheckIn("Chair 9", "MRN-9", "KW", "natalizumab-300", 115, "L1", date(2030, 1, 1),
                                   now - timedelta(minutes=5), 3, False, now.date() - timedelta(days=28)), "RN")
    i = 0
    while True:
        i += 1
        command = RecordVitals({"heart_rate_bpm": 60 + i % 40}) if i % 2 else None
        if command is None:
            state = floor.execute(state.session_id, RecordVitals({"spo2_percent": 90 + i % 10}), "RN")
        else:
            state = floor.execute(state.session_id, command, "RN")
        print(json.dumps({"session": state.session_id, "seq": state.last_seq, "vitals": len(state.vitals)}), flush=True)
    """
)


def test_sigkill_mid_stream_keeps_every_committed_event(tmp_path: Path) -> None:
    db_path = tmp_path / "crash.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert writer.stdout is not None
    acknowledged = [json.loads(writer.stdout.readline()) for _ in range(60)]
    writer.send_signal(signal.SIGKILL)  # mid-stream: it keeps writing until the signal lands
    rest = writer.stdout.read()
    writer.wait()
    writer.stdout.close()
    acknowledged += [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert writer.returncode == -signal.SIGKILL
    last = acknowledged[-1]

    with Journal(db_path) as journal:
        assert journal.verify().intact
        events = journal.events(last["session"])
        assert len(events) >= last["seq"]  # every acknowledged event is on disk
        assert len(events) <= last["seq"] + 1  # at most the one in flight was committed unacknowledged
        replayed_at_ack = ChairState.replay(last["session"], events[: last["seq"]])
        assert len(replayed_at_ack.vitals) == last["vitals"]
        floor = Floor(journal)
        assert floor.sessions[last["session"]] == ChairState.replay(last["session"], events)
    _ = ChangeRate  # the writer also exercises the same command types as the app


def test_two_writers_on_one_file_keep_one_chain(db_path: Path, clock: ManualClock) -> None:
    """Another writer (a second process, `chairside accounts` beside a running station) moves the
    journal's end between two appends; the next append reads it where it is: one chain, no seq given
    twice."""
    station, other = Journal(db_path, clock), Journal(db_path, clock)
    try:
        seqs = {"a": 0, "b": 0}
        for turn in range(12):
            writer = (station, other)[turn % 3 == 2]  # the other writer comes in every third entry
            session = "ab"[turn % 2]
            event = Event(EventType.NOTE_ADDED, clock.now(), "RN", {"text": f"entry {turn}"})
            (written,) = writer.append(session, [event], expected_last_seq=seqs[session])
            seqs[session] = written.seq
            if turn == 7:  # the station's pump readings share its connection
                station.conn.execute("INSERT INTO telemetry_streams (chair, session_id) VALUES ('c', 'a')")
        with pytest.raises(SequenceConflict):
            station.append("a", [Event(EventType.NOTE_ADDED, clock.now(), "RN", {"text": "late"})], 1)
        verification = station.verify()
        assert verification.intact, verification.first_problem
        assert verification.events_checked == 12
        assert [e.seq for e in station.events("a")] == [1, 2, 3, 4, 5, 6]
        assert station.head() == other.head()
    finally:
        station.close()
        other.close()
