"""Named schema steps for the Chairside database, applied through sqlite-utils `Migrations`.

Each step is named after the version that introduced it ("1.4_accounts") and recorded, once applied, in
sqlite-utils' applied-set table (`_sqlite_migrations`, set "chairside"). Before that table existed the
version lived only in `PRAGMA user_version` (major * 1000 + minor), and branches that ran side by side
each applied only their own steps: a file could reach 1.5 without 1.4. So a file from before the applied
set is adopted once (a Python step, set "chairside-adoption"): every step whose tables and columns are
really there is recorded as applied; one whose tables are all missing stays pending and is applied now;
one that is only partly there is refused in one line. After every upgrade (and on every open) the real
tables and columns of every applied step are checked, so a file is never silently short of a table.

`PRAGMA user_version` is still written (the highest version applied) so older Chairsides, which read only
that, keep opening the file as before. A newer minor version only adds things we can ignore; a newer
major version (in `user_version` or in the applied set) may mean anything, so we refuse to open it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

Migration = tuple[str, ...]  # SQL statements, run together in one transaction


class NewerDatabaseError(RuntimeError):
    """The database was written by a newer Chairside whose data this version cannot read safely."""


class IncompleteSchemaError(RuntimeError):
    """A step's tables or columns are only partly there: the file was edited, or a step was lost. One line."""


_V1_JOURNAL: Migration = (
    """CREATE TABLE events (
        position INTEGER NOT NULL,
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        occurred_at TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    )""",
    "CREATE UNIQUE INDEX idx_events_position ON events (position)",
    "CREATE INDEX idx_events_type_session ON events (type, session_id)",
    "CREATE INDEX idx_events_occurred_at ON events (occurred_at)",
    "CREATE TABLE journal_head (id INTEGER PRIMARY KEY CHECK (id = 1), position INTEGER NOT NULL, hash TEXT NOT NULL)",
    "INSERT INTO journal_head (id, position, hash) VALUES (1, 0, '')",
    # The journal is append-only. These triggers stop an accidental edit; the hash chain catches a
    # deliberate one (someone who drops the triggers first).
    "CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events "
    "BEGIN SELECT RAISE(ABORT, 'the journal is append-only: add a correction instead'); END",
    "CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events "
    "BEGIN SELECT RAISE(ABORT, 'the journal is append-only: entries cannot be deleted'); END",
)

_V1_TELEMETRY: Migration = (
    """CREATE TABLE telemetry (
        id INTEGER PRIMARY KEY,
        chair TEXT NOT NULL,
        session_id TEXT,
        at TEXT NOT NULL,
        rate_ml_h REAL,
        volume_infused_ml REAL,
        state TEXT,
        payload TEXT
    )""",
    "CREATE INDEX idx_telemetry_chair_at ON telemetry (chair, at)",
)

# Accounts (app.accounts): who may sign in, and with what. Secrets are stored only as scrypt hashes: a PIN
# with its own salt and parameters ("scrypt$n$r$p$salt$hash"), a badge as a digest keyed by the station's
# badge salt (so a scan is one indexed look-up). Every change is also a journal entry.
_V1_ACCOUNTS: Migration = (
    """CREATE TABLE accounts (
        id TEXT PRIMARY KEY COLLATE NOCASE,
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('nurse', 'charge', 'admin')),
        badge_hash TEXT UNIQUE,
        pin_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE TABLE account_station (id INTEGER PRIMARY KEY CHECK (id = 1), badge_salt TEXT NOT NULL)",
    "INSERT INTO account_station (id, badge_salt) VALUES (1, lower(hex(randomblob(16))))",
)


_V1_5_MQTT_OUTBOX: Migration = (
    # How far each topic tree (chairside/v1/<station>) has had the journal acknowledged by the
    # broker (PUBACK): publishing resumes after it, across broker and station restarts.
    "CREATE TABLE mqtt_outbox (topic_root TEXT PRIMARY KEY, position INTEGER NOT NULL)",
)


# Pump readings in typed columns (app/store/telemetry.py): one row per change or heartbeat, no JSON copy.
# A stream is one chair's readings within one session ('' between sessions), so a reading row carries a
# small integer instead of the chair name and the session's UUID. The 1.1 rows are moved over (state and
# alarm codes taken from their columns and JSON) and the old table is left empty, so a 1.1 Chairside
# still opens this file as "a newer minor version".
_V1_2_TELEMETRY: Migration = (
    """CREATE TABLE telemetry_streams (
        id INTEGER PRIMARY KEY,
        chair TEXT NOT NULL,
        session_id TEXT NOT NULL,
        compacted_until_ms INTEGER NOT NULL DEFAULT 0,
        UNIQUE (chair, session_id)
    )""",
    """CREATE TABLE pump_readings (
        stream INTEGER NOT NULL REFERENCES telemetry_streams (id),
        at_ms INTEGER NOT NULL,
        rate_ml_h REAL NOT NULL,
        volume_ul INTEGER,
        state INTEGER NOT NULL,
        alarm_codes TEXT,
        link INTEGER,
        why INTEGER NOT NULL,
        PRIMARY KEY (stream, at_ms)
    ) WITHOUT ROWID""",
    "INSERT OR IGNORE INTO telemetry_streams (chair, session_id) "
    "SELECT DISTINCT chair, COALESCE(session_id, '') FROM telemetry",
    """INSERT OR IGNORE INTO pump_readings (stream, at_ms, rate_ml_h, volume_ul, state, alarm_codes, link, why)
    SELECT s.id,
        CAST(round((julianday(t.at) - 2440587.5) * 86400000.0) AS INTEGER),
        COALESCE(t.rate_ml_h, 0.0),
        CASE WHEN t.volume_infused_ml IS NULL THEN NULL ELSE CAST(round(t.volume_infused_ml * 1000.0) AS INTEGER) END,
        CASE t.state WHEN 'infusing' THEN 1 WHEN 'stopped' THEN 2 WHEN 'paused' THEN 3 WHEN 'complete' THEN 4
            WHEN 'kvo' THEN 5 WHEN 'alarm' THEN 6 ELSE 0 END,
        (SELECT group_concat(json_extract(a.value, '$.code'), ' ') FROM json_each(
            CASE WHEN json_valid(t.payload) THEN json_extract(t.payload, '$.alarms') END) AS a),
        NULL,
        0
    FROM telemetry AS t JOIN telemetry_streams AS s ON s.chair = t.chair AND s.session_id = COALESCE(t.session_id, '')""",
    "DELETE FROM telemetry",
)


# The live HL7 feed's outbox cursor (app/station/hl7_feed.py), per receiver: the journal position and,
# per reading stream, the last reading whose messages the receiver acknowledged (AA), and the messages
# it kept refusing (AE/AR), set aside with their text so nothing is lost.
_V1_7_HL7_FEED: Migration = (
    """CREATE TABLE hl7_feed_cursor (
        receiver TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        samples_since_ms INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE hl7_feed_samples (
        receiver TEXT NOT NULL,
        stream INTEGER NOT NULL,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (receiver, stream)
    ) WITHOUT ROWID""",
    """CREATE TABLE hl7_feed_set_aside (
        id INTEGER PRIMARY KEY,
        receiver TEXT NOT NULL,
        control_id TEXT NOT NULL,
        set_aside_at TEXT NOT NULL,
        ack_code TEXT NOT NULL,
        ack_text TEXT NOT NULL,
        er7 TEXT NOT NULL
    )""",
)


# Every durable append writes one page per index of `events`; nothing ever looked entries up by
# `occurred_at` (readers go by session, by type or by position), so that index only cost each append a
# page (bench/journal.py: durable appends against plain sqlite3 in the same run).
_V1_8_APPEND_PAGES: Migration = ("DROP INDEX IF EXISTS idx_events_occurred_at",)


# (major, minor) -> the SQL of that step, in version order (the history; tests and the bench build old
# layouts from it).
MIGRATIONS: dict[tuple[int, int], Migration] = {
    (1, 0): _V1_JOURNAL,
    (1, 1): _V1_TELEMETRY,
    (1, 2): _V1_2_TELEMETRY,
    (1, 4): _V1_ACCOUNTS,
    (1, 5): _V1_5_MQTT_OUTBOX,
    (1, 7): _V1_7_HL7_FEED,
    (1, 8): _V1_8_APPEND_PAGES,
}
CURRENT = max(MIGRATIONS)

_STEP_NAMES: dict[tuple[int, int], str] = {
    (1, 0): "journal",
    (1, 1): "telemetry",
    (1, 2): "pump_readings",
    (1, 4): "accounts",
    (1, 5): "mqtt_outbox",
    (1, 7): "hl7_feed",
    (1, 8): "no_occurred_at_index",
}


def step_name(version: tuple[int, int]) -> str:
    """The step's name in the applied set: its version, then what it adds ("1.4_accounts")."""
    return f"{version[0]}.{version[1]}_{_STEP_NAMES[version]}"


def step_version(name: str) -> tuple[int, int] | None:
    """The version a step name starts with (also a newer Chairside's step), None if it has none."""
    number = name.split("_", 1)[0]
    major, _, minor = number.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        return None
    return int(major), int(minor)


def _sql_step(statements: Migration) -> Callable[[Database], None]:
    def run(db: Database) -> None:
        for statement in statements:
            db.conn.execute(statement)

    return run


SCHEMA = Migrations("chairside")
for _version, _statements in MIGRATIONS.items():
    SCHEMA(name=step_name(_version))(_sql_step(_statements))

ADOPTION = Migrations("chairside-adoption")


def encode(version: tuple[int, int]) -> int:
    return version[0] * 1000 + version[1]


def decode(value: int) -> tuple[int, int]:
    return divmod(value, 1000)


# ------------------------------------------------------------------------------------------------
# What each step really leaves in a file: found by running the step itself on an empty database, so the
# check can never disagree with the step.


@dataclass(frozen=True)
class StepShape:
    version: tuple[int, int]
    tables: dict[str, frozenset[str]]  # table -> its columns

    def missing_in(self, layout: dict[str, frozenset[str]]) -> list[str]:
        """What of this step `layout` lacks: 'table t' or 'column t.c'."""
        missing: list[str] = []
        for table, columns in self.tables.items():
            if table not in layout:
                missing.append(f"table {table}")
            else:
                missing += [f"column {table}.{c}" for c in sorted(columns - layout[table])]
        return missing


def _layout(conn: Any) -> dict[str, frozenset[str]]:
    tables = [str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: frozenset(str(c[1]) for c in conn.execute(f"PRAGMA table_info('{t}')")) for t in tables}


@cache
def step_shapes() -> dict[tuple[int, int], StepShape]:
    scratch = sqlite3.connect(":memory:", isolation_level=None)
    try:
        shapes: dict[tuple[int, int], StepShape] = {}
        for version, statements in MIGRATIONS.items():
            before = _layout(scratch)
            _sql_step(statements)(Database(scratch, execute_plugins=False))
            after = _layout(scratch)
            shapes[version] = StepShape(version, {t: c for t, c in after.items() if before.get(t) != c})
        return shapes
    finally:
        scratch.close()


def _refuse_incomplete(version: tuple[int, int], missing: list[str], why: str) -> None:
    raise IncompleteSchemaError(
        f"schema step {step_name(version)} is {why} ({', '.join(missing)} missing), so it cannot be "
        "repaired safely. Nothing was changed. Restore the file from a backup, or open another database."
    )


# ------------------------------------------------------------------------------------------------
# Adopting a file from before the applied set


def _record(db: Database, names: Iterable[str]) -> None:
    now = str(datetime.now(UTC))
    for name in names:
        db.conn.execute(
            f"INSERT INTO {SCHEMA.migrations_table} (migration_set, name, applied_at) VALUES (?, ?, ?)",
            (SCHEMA.name, name, now),
        )


@ADOPTION(name="adopt_user_version")
def adopt_user_version(db: Database) -> None:
    """Record the steps a file from before the applied set really has (by its tables and columns, not by
    its user_version alone); a step whose tables are all missing stays pending and is applied next."""
    (raw,) = db.conn.execute("PRAGMA user_version").fetchone()
    if int(raw) == 0:
        return  # a new database: every step is still to come
    layout = _layout(db.conn)
    present: list[str] = []
    for version, shape in step_shapes().items():
        missing = shape.missing_in(layout)
        if not missing:
            present.append(step_name(version))
        elif len(missing) < len(shape.tables) or any(m.startswith("column") for m in missing):
            _refuse_incomplete(version, missing, "only partly there")
    _record(db, present)


# ------------------------------------------------------------------------------------------------
# Opening


def check_version(conn: sqlite3.Connection, path_for_messages: str) -> tuple[int, int]:
    """The database's schema version; refuses one from a newer major version or an empty file."""
    (raw,) = conn.execute("PRAGMA user_version").fetchone()
    found = decode(int(raw))
    _refuse_newer(found, path_for_messages)
    return found


def _refuse_newer(found: tuple[int, int], path_for_messages: str) -> None:
    if found[0] > CURRENT[0]:
        raise NewerDatabaseError(
            f"{path_for_messages} was written by a newer Chairside (schema {found[0]}.{found[1]}; this version "
            f"reads up to {CURRENT[0]}.x). Nothing was changed. Use the newer version, or open another database."
        )


def _check_applied(db: Database, path_for_messages: str) -> None:
    """A newer major step refuses the file; every applied step of ours must really be there."""
    applied = [m.name for m in SCHEMA.applied(db)]
    for name in applied:
        version = step_version(name)
        if version is not None:
            _refuse_newer(version, path_for_messages)
    layout = _layout(db.conn)
    for version, shape in step_shapes().items():
        if step_name(version) in applied:
            missing = shape.missing_in(layout)
            if missing:
                _refuse_incomplete(version, missing, "recorded as applied but not all there")


def migrate(conn: sqlite3.Connection, path_for_messages: str) -> tuple[int, int]:
    """Bring the database to the current schema. Returns the version it is at now (from user_version).

    Nothing is written when nothing is pending. Otherwise everything (adoption, the pending steps, the
    user_version) happens in one write transaction, and what is pending is read again inside it, so two
    processes opening an old file at once upgrade it once."""
    check_version(conn, path_for_messages)
    db = Database(conn, execute_plugins=False)
    try:
        if not (ADOPTION.pending(db) or SCHEMA.pending(db)):
            _check_applied(db, path_for_messages)
            return check_version(conn, path_for_messages)
        conn.execute("BEGIN IMMEDIATE")
        try:
            _check_applied(db, path_for_messages)  # a newer major step: refused before anything is added
            ADOPTION.apply(db)
            SCHEMA.apply(db)
            _check_applied(db, path_for_messages)
            (raw,) = conn.execute("PRAGMA user_version").fetchone()
            conn.execute(f"PRAGMA user_version = {max(int(raw), encode(CURRENT))}")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except IncompleteSchemaError as exc:
        raise IncompleteSchemaError(f"{path_for_messages}: {exc}") from None
    return check_version(conn, path_for_messages)
