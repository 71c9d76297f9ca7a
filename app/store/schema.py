"""Versioned schema migrations for the Chairside database.

The version lives in `PRAGMA user_version` as major * 1000 + minor. A newer minor version only adds
things we can ignore; a newer major version may mean anything, so we refuse to open it.
"""

from __future__ import annotations

import sqlite3

Migration = tuple[str, ...]  # SQL statements, run together in one transaction


class NewerDatabaseError(RuntimeError):
    """The database was written by a newer Chairside whose data this version cannot read safely."""


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


# (major, minor) -> migration; applied in order, each in its own transaction.
MIGRATIONS: dict[tuple[int, int], Migration] = {
    (1, 0): _V1_JOURNAL,
    (1, 1): _V1_TELEMETRY,
    (1, 2): _V1_2_TELEMETRY,
    (1, 4): _V1_ACCOUNTS,
    (1, 5): _V1_5_MQTT_OUTBOX,
    (1, 7): _V1_7_HL7_FEED,
}
CURRENT = max(MIGRATIONS)


def encode(version: tuple[int, int]) -> int:
    return version[0] * 1000 + version[1]


def decode(value: int) -> tuple[int, int]:
    return divmod(value, 1000)


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


def migrate(conn: sqlite3.Connection, path_for_messages: str) -> tuple[int, int]:
    """Bring the database to the current schema. Returns the version it is at now."""
    found = check_version(conn, path_for_messages)
    for version in sorted(MIGRATIONS):
        if version <= found:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {encode(version)}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        found = version
    return found
