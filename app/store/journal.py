"""The event journal: an append-only, hash-chained record of every chair session in one SQLite file.

Durability first: WAL with synchronous=FULL, one transaction per append, so an event is on disk before
`append` returns (and before any screen says it happened). Each row's SHA-256 covers the previous
row's hash, and `journal_head` holds the last one, so an edit, a deletion or a truncation is found by
`verify()`. A write that fails (disk full, read-only file) raises JournalWriteError and leaves what is
already recorded untouched.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from app.domain.chair import format_time, parse_time
from app.domain.clock import Clock, SystemClock
from app.domain.events import Event, EventType
from app.store.schema import check_version, migrate

GENESIS_HASH = "0" * 64


class JournalError(RuntimeError):
    """A problem with the journal file that the user must be told about."""


class JournalWriteError(JournalError):
    """An append did not reach the disk. Nothing of it was recorded; everything before it is intact."""


class SequenceConflict(JournalError):
    """Someone else appended to this session first (a second write of the same sequence number)."""


@dataclass(frozen=True)
class JournalEntry:
    position: int
    session_id: str
    seq: int
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    type: str
    payload: dict[str, Any]
    payload_text: str
    prev_hash: str
    hash: str

    def to_event(self) -> Event:
        return Event(EventType(self.type), self.occurred_at, self.actor, self.payload, self.seq)


@dataclass(frozen=True)
class VerificationProblem:
    position: int
    session_id: str
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"event {self.position} (session {self.session_id}, seq {self.seq}): {self.problem}"


@dataclass(frozen=True)
class Verification:
    events_checked: int
    head_hash: str
    first_problem: VerificationProblem | None

    @property
    def intact(self) -> bool:
        return self.first_problem is None


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chain_hash(
    prev_hash: str,
    position: int,
    session_id: str,
    seq: int,
    occurred_at: str,
    recorded_at: str,
    actor: str,
    event_type: str,
    payload_text: str,
) -> str:
    material = canonical_json(
        [prev_hash, position, session_id, seq, occurred_at, recorded_at, actor, event_type, payload_text]
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def row_hash(row: sqlite3.Row | dict[str, Any]) -> str:
    return chain_hash(
        row["prev_hash"],
        row["position"],
        row["session_id"],
        row["seq"],
        row["occurred_at"],
        row["recorded_at"],
        row["actor"],
        row["type"],
        row["payload"],
    )


def open_connection(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """A connection with the durability settings the journal relies on."""
    try:
        if read_only:
            conn = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=10.0
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
    except (OSError, sqlite3.Error) as exc:
        raise JournalError(f"cannot open the database {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    try:
        if not read_only:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise JournalError(f"{path} is not a Chairside database (or it is damaged): {exc}") from exc
    return conn


class Journal:
    def __init__(self, path: Path | str, clock: Clock | None = None, read_only: bool = False) -> None:
        """Open (and, unless read_only, create or migrate) the journal at `path`. Read-only opens are for
        status, verification and export: they never change the file."""
        self.path = Path(path)
        self.clock: Clock = clock or SystemClock()
        self.read_only = read_only
        self.conn = open_connection(self.path, read_only)
        try:
            self.schema_version = (
                check_version(self.conn, str(self.path)) if read_only else migrate(self.conn, str(self.path))
            )
        except BaseException:
            self.conn.close()
            raise
        self.db = sqlite_utils.Database(self.conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------
    # Writing

    def append(
        self,
        session_id: str,
        events: Sequence[Event],
        expected_last_seq: int,
        guard: Callable[[sqlite3.Connection], None] | None = None,
    ) -> list[Event]:
        """Append `events` to a session atomically and durably. Returns them with their seq numbers.

        `expected_last_seq` is the seq the caller's state ends at; if the journal has moved on, nothing
        is written and SequenceConflict is raised. `guard` runs inside the same write transaction, before
        anything is written, against the database as it is (whoever else writes to it): it raises to
        refuse the entry.
        """
        if not events:
            return []
        recorded_at = format_time(self.clock.now())
        stored: list[Event] = []
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                if guard is not None:
                    guard(self.conn)
                head = self.conn.execute("SELECT position, hash FROM journal_head WHERE id = 1").fetchone()
                position, prev_hash = int(head["position"]), head["hash"] or GENESIS_HASH
                (last_seq,) = self.conn.execute(
                    "SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?", (session_id,)
                ).fetchone()
                if last_seq != expected_last_seq:
                    raise SequenceConflict(
                        f"session {session_id} is at entry {last_seq}, not {expected_last_seq}: reload and try again"
                    )
                seq = last_seq
                for event in events:
                    position += 1
                    seq += 1
                    row: dict[str, Any] = {
                        "position": position,
                        "session_id": session_id,
                        "seq": seq,
                        "occurred_at": format_time(event.at),
                        "recorded_at": recorded_at,
                        "actor": event.actor,
                        "type": str(event.type),
                        "payload": canonical_json(dict(event.data)),
                        "prev_hash": prev_hash,
                    }
                    row["hash"] = digest = row_hash(row)
                    columns = ", ".join(row)
                    self.conn.execute(
                        f"INSERT INTO events ({columns}) VALUES ({', '.join('?' * len(row))})",
                        tuple(row.values()),
                    )
                    stored.append(Event(event.type, event.at, event.actor, json.loads(row["payload"]), seq))
                    prev_hash = digest
                self.conn.execute(
                    "UPDATE journal_head SET position = ?, hash = ? WHERE id = 1", (position, prev_hash)
                )
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        except sqlite3.IntegrityError as exc:
            raise SequenceConflict(f"session {session_id}: entry already recorded ({exc})") from exc
        except sqlite3.OperationalError as exc:
            raise JournalWriteError(_explain_write_error(self.path, exc)) from exc
        except ValueError as exc:  # NaN/inf in a payload: refuse rather than write unreadable JSON
            raise JournalWriteError(f"entry not recorded: {exc}") from exc
        return stored

    def record_telemetry(
        self,
        chair: str,
        session_id: str | None,
        at: datetime,
        rate_ml_h: float,
        volume_ml: float,
        state: str,
        payload: dict[str, Any],
    ) -> None:
        """Pump samples for the rate plot and export. Not part of the hash chain (it is not a clinical
        entry); a failure here is reported but never blocks the journal."""
        try:
            self.conn.execute(
                "INSERT INTO telemetry (chair, session_id, at, rate_ml_h, volume_infused_ml, state, payload) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (chair, session_id, format_time(at), rate_ml_h, volume_ml, state, canonical_json(payload)),
            )
        except sqlite3.OperationalError as exc:
            raise JournalWriteError(_explain_write_error(self.path, exc)) from exc

    # ------------------------------------------------------------------------------------------
    # Reading

    def _entry(self, row: sqlite3.Row) -> JournalEntry:
        return JournalEntry(
            position=row["position"],
            session_id=row["session_id"],
            seq=row["seq"],
            occurred_at=parse_time(row["occurred_at"]),
            recorded_at=parse_time(row["recorded_at"]),
            actor=row["actor"],
            type=row["type"],
            payload=json.loads(row["payload"]),
            payload_text=row["payload"],
            prev_hash=row["prev_hash"],
            hash=row["hash"],
        )

    def entries(
        self, session_id: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> Iterator[JournalEntry]:
        """Entries in journal order, optionally one session's, optionally recorded in [since, until)."""
        clauses, params = [], []
        if session_id is not None:
            clauses.append("session_id = ?")
            params.append(session_id)
        if since is not None:
            clauses.append("recorded_at >= ?")
            params.append(format_time(since))
        if until is not None:
            clauses.append("recorded_at < ?")
            params.append(format_time(until))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        for row in self.conn.execute(f"SELECT * FROM events {where} ORDER BY position", params):
            yield self._entry(row)

    def entries_after(self, position: int, limit: int) -> list[JournalEntry]:
        """Up to `limit` entries after journal position `position`, in order (the MQTT outbox)."""
        rows = self.conn.execute(
            "SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?", (position, limit)
        ).fetchall()
        return [self._entry(row) for row in rows]

    def events(self, session_id: str) -> list[Event]:
        return [entry.to_event() for entry in self.entries(session_id)]

    def session_ids(self, open_only: bool = False) -> list[str]:
        """Sessions in check-in order; `open_only` leaves out discharged ones."""
        sql = "SELECT session_id FROM events WHERE type = 'checked_in'"  # see also open_session_on
        if open_only:
            sql += " AND session_id NOT IN (SELECT session_id FROM events WHERE type = 'discharged')"
        return [row[0] for row in self.conn.execute(sql + " ORDER BY position")]

    def open_session_on(self, chair: str, conn: sqlite3.Connection | None = None) -> str | None:
        """The session open on `chair` in the database (checked in, not discharged), if any."""
        row = (
            (conn or self.conn)
            .execute(
                "SELECT session_id FROM events WHERE type = 'checked_in' AND json_extract(payload, '$.chair') = ? "
                "AND session_id NOT IN (SELECT session_id FROM events WHERE type = 'discharged') "
                "ORDER BY position DESC LIMIT 1",
                (chair,),
            )
            .fetchone()
        )
        return str(row[0]) if row is not None else None

    def head(self) -> tuple[int, str]:
        """The position and hash of the last recorded entry (0 and '' for an empty journal)."""
        row = self.conn.execute("SELECT position, hash FROM journal_head WHERE id = 1").fetchone()
        return int(row["position"]), str(row["hash"])

    def telemetry(
        self,
        chair: str,
        since: datetime | None = None,
        until: datetime | None = None,
        session_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Pump samples for a chair in [since, until), optionally only those of one session."""
        where, params = "chair = ?", [chair]
        for clause, value in (("at >= ?", since), ("at < ?", until)):
            if value is not None:
                where += f" AND {clause}"
                params.append(format_time(value))
        if session_id is not None:
            where += " AND session_id = ?"
            params.append(session_id)
        query = f"SELECT * FROM telemetry WHERE {where} ORDER BY id"
        return [dict(row) for row in self.db.query(query, params)]

    # ------------------------------------------------------------------------------------------
    # Verification

    def verify(self) -> Verification:
        """Walk the chain: every hash recomputes, every link points at the previous row, positions have
        no gaps, and the last row is the recorded head."""
        prev_hash = GENESIS_HASH
        expected_position = 1
        checked = 0
        problem: VerificationProblem | None = None
        last: sqlite3.Row | None = None
        for row in self.conn.execute("SELECT * FROM events ORDER BY position"):
            checked += 1
            where = (row["position"], row["session_id"], row["seq"])
            if row["position"] != expected_position:
                problem = VerificationProblem(
                    *where, f"entries {expected_position} to {row['position'] - 1} are missing"
                )
            elif row["prev_hash"] != prev_hash:
                problem = VerificationProblem(*where, "does not follow the entry before it (chain broken)")
            elif row_hash(row) != row["hash"]:
                problem = VerificationProblem(
                    *where, "content does not match its hash (edited after recording)"
                )
            if problem is not None:
                break
            prev_hash = row["hash"]
            expected_position += 1
            last = row
        if problem is None:
            head = self.conn.execute("SELECT position, hash FROM journal_head WHERE id = 1").fetchone()
            last_position = last["position"] if last is not None else 0
            if head["position"] != last_position or (last is not None and head["hash"] != prev_hash):
                problem = VerificationProblem(
                    head["position"],
                    "",
                    0,
                    f"the journal ends at entry {last_position} but entry {head['position']} was recorded (entries deleted)",
                )
        return Verification(checked, prev_hash, problem)


def range_digest(entries: Sequence[JournalEntry]) -> str:
    """A digest of exactly these journal entries (their chain hashes, in order), for export footers."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(entry.hash.encode("ascii"))
    return digest.hexdigest()


def _explain_write_error(path: Path, exc: sqlite3.OperationalError) -> str:
    text = str(exc)
    if "full" in text:
        return f"the disk holding {path} is full: the last entry was NOT recorded. Free space, then enter it again."
    if "readonly" in text or "read-only" in text:
        return f"{path} is read-only: the last entry was NOT recorded. Check the file's permissions."
    if "locked" in text:
        return f"{path} is busy (locked by another program): the last entry was NOT recorded. Try again."
    return f"writing to {path} failed ({text}): the last entry was NOT recorded."
