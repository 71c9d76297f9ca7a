"""Every schema Chairside has shipped opens with today's code: the journal files in fixtures/ were written
by the commits that introduced each version (fixtures/make_fixtures.py), so these tests read what those
versions really wrote, including the side-by-side branches that never got each other's steps (1.5 without
1.2 and 1.4)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from app.domain.clock import ManualClock
from app.export.seals import AnchorLog, anchor_log_path, check_anchor_log, parse_public
from app.store.journal import Journal, JournalError
from app.store.schema import CURRENT, SCHEMA, NewerDatabaseError, encode, step_name

FIXTURES = Path(__file__).parent / "fixtures"
SHIPPED = ("1.0", "1.1", "1.2", "1.4", "1.5", "1.7", "1.7-merged")


def _copy(label: str, into: Path) -> Path:
    target = into / f"journal-{label}.sqlite"
    shutil.copyfile(FIXTURES / f"journal-{label}.db", target)
    anchors = FIXTURES / f"journal-{label}.db.anchors.jsonl"
    if anchors.exists():
        shutil.copyfile(anchors, anchor_log_path(target))
    return target


def _expected(label: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"journal-{label}.json").read_text(encoding="utf-8")))


def _layout(path: Path) -> dict[str, list[str]]:
    """Every table and its columns, as the file really has them."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: [c[1] for c in conn.execute(f"PRAGMA table_info('{t}')")] for t in sorted(tables)}
    finally:
        conn.close()


def _applied(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [m.name for m in SCHEMA.applied(sqlite_utils.Database(conn))]
    finally:
        conn.close()


@pytest.fixture
def fresh_layout(tmp_path: Path, clock: ManualClock) -> dict[str, list[str]]:
    path = tmp_path / "fresh" / "new.sqlite"
    Journal(path, clock).close()
    return _layout(path)


@pytest.mark.parametrize("label", SHIPPED)
def test_each_shipped_schema_upgrades_verifies_and_reads_the_same_entries(
    label: str, tmp_path: Path, clock: ManualClock, fresh_layout: dict[str, list[str]]
) -> None:
    expected = _expected(label)
    path = _copy(label, tmp_path)
    assert _layout(path).keys() == set(expected["tables"])  # the file is what that version wrote

    with Journal(path, clock) as journal:
        assert journal.schema_version == CURRENT
        check = journal.verify()
        assert check.intact, str(check.first_problem)
        assert check.events_checked == len(expected["entries"])
        entries = [
            [e.position, e.session_id, e.seq, e.type, e.payload_text, e.hash] for e in journal.entries()
        ]
        assert entries == expected["entries"]
        assert journal.head() == (len(entries), entries[-1][5])
        if expected["head"] is not None:
            assert list(journal.head()) == expected["head"]
        for chair, rows in expected["readings"].items():
            read = [[r.at, r.rate_ml_h, r.volume_ml, r.state] for r in journal.telemetry(chair)]
            assert read == [[datetime.fromisoformat(at), rate, vol, state] for at, rate, vol, state in rows]
        assert journal.session_ids() == expected["sessions"]["all"]
        assert journal.session_ids(open_only=True) == expected["sessions"]["open"]
        assert journal.integrity_problems() == []
        if (
            expected["anchors"] is not None
        ):  # signed anchors (from 1.7): signature, head hash, sealed readings
            trusted = parse_public(expected["anchors"]["public_key"])
            assert check_anchor_log(journal, AnchorLog(anchor_log_path(path)), trusted) == 1

    # Never short of a table: the upgraded file has every table and column a new one has.
    assert _layout(path) == fresh_layout
    assert sorted(_applied(path)) == [step_name(v) for v in SCHEMA_VERSIONS]


SCHEMA_VERSIONS = ((1, 0), (1, 1), (1, 2), (1, 4), (1, 5), (1, 7), (1, 8))


def test_a_database_that_reached_1_5_without_1_4_gets_the_accounts_table(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = _copy("1.5", tmp_path)
    assert "accounts" not in _layout(path)
    with Journal(path, clock) as journal:
        (salt,) = journal.conn.execute("SELECT badge_salt FROM account_station WHERE id = 1").fetchone()
        assert len(salt) == 32
        journal.conn.execute(
            "INSERT INTO accounts (id, name, role, pin_hash, created_at, updated_at) "
            "VALUES ('rn1', 'R N', 'nurse', 'x', '2026-11-20T07:00:00Z', '2026-11-20T07:00:00Z')"
        )
        # and the pump readings of the 1.1 table were moved into typed columns (1.2, also skipped)
        assert len(journal.telemetry("C1")) == 3
    assert _applied(path)[-3:] == ["1.2_pump_readings", "1.4_accounts", "1.7_hl7_feed"]


def test_an_upgrade_is_recorded_once_and_a_second_open_changes_nothing(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = _copy("1.4", tmp_path)
    Journal(path, clock).close()
    conn = sqlite3.connect(path)
    before = conn.execute("SELECT * FROM _sqlite_migrations ORDER BY id").fetchall()
    (badge_salt,) = conn.execute("SELECT badge_salt FROM account_station").fetchone()
    conn.close()
    Journal(path, clock).close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT * FROM _sqlite_migrations ORDER BY id").fetchall() == before
    assert conn.execute("SELECT badge_salt FROM account_station").fetchone() == (badge_salt,)
    (accounts,) = conn.execute("SELECT count(*) FROM accounts").fetchone()
    conn.close()
    assert accounts == 1  # the 1.4 branch's administrator is still there


def test_the_old_version_number_is_kept_for_older_readers(tmp_path: Path, clock: ManualClock) -> None:
    path = _copy("1.2", tmp_path)
    Journal(path, clock).close()
    conn = sqlite3.connect(path)
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    conn.close()
    assert version == encode(CURRENT)


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _drop(path: Path, table: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"DROP TABLE {table}")
    conn.commit()
    conn.close()


def test_a_step_only_partly_there_is_refused_in_one_line(tmp_path: Path, clock: ManualClock) -> None:
    path = _copy("1.7-merged", tmp_path)
    _drop(path, "account_station")  # accounts without the station's badge salt: cannot be guessed
    before = _dump(path)
    with pytest.raises(JournalError) as refused:
        Journal(path, clock)
    message = str(refused.value)
    assert "\n" not in message
    assert "1.4_accounts" in message and "account_station" in message and "Nothing was changed" in message
    assert _dump(path) == before  # (opening switches the file to WAL: its content is unchanged)


def test_a_table_missing_behind_the_applied_set_is_refused(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "edited.sqlite"
    Journal(path, clock).close()
    _drop(path, "mqtt_outbox")  # the applied set says 1.5 ran: the bookkeeping alone would not notice
    with pytest.raises(JournalError, match=r"1\.5_mqtt_outbox .*mqtt_outbox") as refused:
        Journal(path, clock)
    assert "\n" not in str(refused.value)


def test_a_newer_major_step_in_the_applied_set_is_refused(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "newer.sqlite"
    Journal(path, clock).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, ?, '2027-01-01')",
        (SCHEMA.name, f"{CURRENT[0] + 1}.0_something_new"),
    )
    conn.commit()
    conn.close()
    with pytest.raises(NewerDatabaseError, match="written by a newer Chairside .* Nothing was changed"):
        Journal(path, clock)


def test_a_newer_minor_step_in_the_applied_set_opens(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "newer-minor.sqlite"
    Journal(path, clock).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, ?, '2027-01-01')",
        (SCHEMA.name, f"{CURRENT[0]}.{CURRENT[1] + 3}_something_new"),
    )
    conn.commit()
    conn.close()
    with Journal(path, clock) as journal:
        assert journal.verify().intact


def test_a_new_database_is_wal_with_full_sync(tmp_path: Path, clock: ManualClock) -> None:
    with Journal(tmp_path / "new.sqlite", clock) as journal:
        assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert journal.conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert _applied(tmp_path / "new.sqlite") == [step_name(v) for v in SCHEMA_VERSIONS]


def test_an_encrypted_journal_from_before_the_applied_set_upgrades(
    tmp_path: Path, clock: ManualClock
) -> None:
    dbapi = pytest.importorskip("sqlcipher3.dbapi2")
    plain, path, key = _copy("1.5", tmp_path), tmp_path / "encrypted.sqlite", "correct horse battery staple"
    conn = dbapi.connect(str(plain), isolation_level=None)
    conn.execute(f"ATTACH DATABASE '{path}' AS encrypted KEY '{key}'")
    conn.execute("SELECT sqlcipher_export('encrypted')")
    conn.execute(f"PRAGMA encrypted.user_version = {_expected('1.5')['user_version']}")
    conn.execute("DETACH DATABASE encrypted")
    conn.close()

    with Journal(path, clock, key=key) as journal:
        assert journal.verify().intact
        assert [e.hash for e in journal.entries()] == [e[5] for e in _expected("1.5")["entries"]]
        names = [m.name for m in SCHEMA.applied(sqlite_utils.Database(journal.conn))]
        assert sorted(names) == [step_name(v) for v in SCHEMA_VERSIONS]
        assert journal.conn.execute("SELECT count(*) FROM account_station").fetchone()[0] == 1
