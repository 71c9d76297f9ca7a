"""The event journal: an append-only, hash-chained record of every chair session in one SQLite file.

Durability first: WAL with synchronous=FULL, one transaction per append, so an event is on disk before
`append` returns (and before any screen says it happened). Each row's SHA-256 covers the previous
row's hash, and `journal_head` holds the last one, so an edit, a deletion or a truncation is found by
`verify()`. A write that fails (disk full, read-only file) raises JournalWriteError and leaves what is
already recorded untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import sqlite_utils

from app.domain.chair import format_time, parse_time
from app.domain.clock import Clock, SystemClock
from app.domain.events import Event, EventType, encode_entry
from app.paths import data_dir
from app.private_files import private_file, private_folder, tighten
from app.store import cipher
from app.store.health import (
    StorageProblem,
    check_integrity,
    check_schema,
    check_structure,
    describe_sqlite_error,
    integrity_problems,
)
from app.store.schema import IncompleteSchemaError, check_version, migrate
from app.store.telemetry import PumpSample, TelemetryRecorder, readings

GENESIS_HASH = "0" * 64
# Streams that belong to the station rather than to a chair session (sign-in, accounts): in the same
# hash chain, never replayed as a chair, left out of a chair's shift log. Session ids are UUIDs.
STATION_STREAM_PREFIX = "station:"


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

    @cached_property
    def event(self) -> Event:
        """The entry as a typed event (its payload and sign-off read by the one codec)."""
        return Event.from_journal(EventType(self.type), self.occurred_at, self.actor, self.payload, self.seq)

    def to_event(self) -> Event:
        return self.event


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


# Built once: `json.dumps` with these options builds a new encoder on every call, which was a third of an
# append's time in Python (bench/journal.py). The same options, so the same text byte for byte.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


# How the canonical encoder writes one string (ensure_ascii=False): its own escaping function.
_json_string: Callable[[str], str] = json.encoder.encode_basestring


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
    """SHA-256 of the entry's fields as the canonical JSON array `[prev_hash, position, session_id, seq,
    occurred_at, recorded_at, actor, type, payload]`. The array is written out here rather than through
    the encoder (half the time of an append's Python work went to the encoder's machinery): the same text
    byte for byte, strings escaped by the encoder's own function (tests/store/test_chain_hash.py holds the
    two equal for any text)."""
    q = _json_string
    material = (
        f"[{q(prev_hash)},{int(position)},{q(session_id)},{int(seq)},{q(occurred_at)},{q(recorded_at)},"
        f"{q(actor)},{q(event_type)},{q(payload_text)}]"
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


_INTEGRITY_ERRORS = cipher.errors("IntegrityError")
_OPERATIONAL_ERRORS = cipher.errors("OperationalError")
_DATABASE_ERRORS = cipher.errors("DatabaseError")
_OPEN_ERRORS: tuple[type[BaseException], ...] = (OSError, *cipher.errors("Error"))


PAGE_CACHE_KIB = 512
"""Each connection's page cache. SQLite's default (2,000 KiB a connection) fills as the journal grows
through a shift and stays filled: in the 12-hour soak the station's connection held 2 MB more at the end
than after warm-up. Bounded here, the one place connections are opened (bench/soak.py prints SQLite's own
memory; bench/journal.py and bench/export.py measured no slower with it)."""


def open_connection(path: Path, read_only: bool = False, key: str | None = None) -> sqlite3.Connection:
    """A connection with the durability settings the journal relies on. A read-only open never writes,
    even the -shm file: in a folder it cannot write to (an archive copy) it opens the file immutable.
    An encrypted journal (app.store.cipher) opens with `key`, or else with the key in the OS keyring."""
    if key is None and cipher.is_encrypted(path):
        key = cipher.key_from_keyring(path)
        if key is None:
            raise JournalError(
                f"{path} is not a Chairside database this computer can read: either it is an encrypted "
                "journal whose key is not in this computer's keyring (start the station with "
                "--journal-key-prompt to type it), or it is not a Chairside database at all. Nothing was "
                "opened or changed."
            )
    try:
        if key is not None:
            conn: sqlite3.Connection = cipher.connect(path, key, read_only)
        elif read_only:
            conn = _connect_read_only(path)
        else:
            if path.exists():
                for companion in (path, _companion(path, "-wal"), _companion(path, "-shm")):
                    tighten(companion)
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
    except cipher.WrongKey:
        raise JournalError(
            f"the key given for the encrypted journal {path} is wrong (or the file is damaged): nothing was "
            "opened or changed"
        ) from None
    except cipher.CipherUnavailable as exc:
        raise JournalError(f"{path}: {exc}") from exc
    except _OPEN_ERRORS as exc:
        raise JournalError(f"cannot open the database {path}: {exc}") from exc
    if key is None:
        conn.row_factory = sqlite3.Row
    try:
        if not read_only:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("PRAGMA foreign_keys=ON")
    except _DATABASE_ERRORS as exc:
        _close(conn)
        raise JournalError(describe_sqlite_error(path, exc)) from exc  # type: ignore[arg-type]
    return conn


def _companion(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Status, verify and export read a journal without writing beside it: an archive copy stays as it
    was (no -wal or -shm created, nothing checkpointed). A journal whose -shm is there is in use by a
    station (or was, before a crash): read it as SQLite readers do, sharing that index. Without one and
    with no unsaved WAL frames: immutable. Without one but with a -wal: a private snapshot of the file and
    its -wal is opened in a temporary folder (SQLite recovers the WAL there), so committed entries still
    in the -wal are read, and whatever the WAL lost is lost in the snapshot only."""
    uri = path.resolve().as_uri()
    shm, wal = _companion(path, "-shm"), _companion(path, "-wal")
    if shm.exists():
        return sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=10.0)
    if not wal.exists() or wal.stat().st_size == 0:
        return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None, timeout=10.0)
    folder = Path(tempfile.mkdtemp(prefix="chairside-read-"))
    snapshot = folder / path.name
    shutil.copyfile(path, snapshot)
    shutil.copyfile(wal, _companion(snapshot, "-wal"))
    conn = sqlite3.connect(str(snapshot), isolation_level=None, timeout=10.0)
    conn.execute("PRAGMA query_only=ON")
    _SNAPSHOTS[id(conn)] = folder
    return conn


_SNAPSHOTS: dict[int, Path] = {}
"""Read-only connections opened on a private snapshot: its folder, removed when the journal closes."""


def _close(conn: sqlite3.Connection) -> None:
    folder = _SNAPSHOTS.pop(id(conn), None)
    conn.close()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _data_folder(folder: Path) -> None:
    """A missing folder is made 0700; an existing one is tightened only if it is Chairside's data folder
    (a folder given with --db may be shared on purpose)."""
    private_folder(folder, tighten_existing=folder.resolve() == data_dir().resolve())


def _create(path: Path) -> None:
    """A new, empty database with the current schema, built beside `path` and linked into place, so a
    crash never leaves a half-made file (a 0-byte file at `path` is refused as damaged), and a second
    process creating it at the same moment keeps the first one's file."""
    _data_folder(path.parent)
    building = _companion(path, f".new-{os.getpid()}")
    for leftover in (building, _companion(building, "-wal"), _companion(building, "-shm")):
        leftover.unlink(missing_ok=True)
    private_file(building)
    try:
        conn = sqlite3.connect(str(building), isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            migrate(conn, str(path))
        finally:
            conn.close()
        with contextlib.suppress(FileExistsError):  # created meanwhile by another process: use that one
            os.link(building, path)
    finally:
        building.unlink(missing_ok=True)


# One statement each for what every append reads and writes (measured in bench/journal.py: the reads
# were two statements, the insert's text was built for every row).
_HEAD_AND_LAST_SEQ = (
    "SELECT h.position, h.hash, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?) "
    "FROM journal_head AS h WHERE h.id = 1"
)
# Entries are stored in position order (schema 1.9), so SQLite would rather read the whole table than
# sort the few rows a partial index (sessions checked in, discharged) finds: `+position` lets it sort.
_BY_POSITION_AFTER_INDEX = "+position"
_EVENT_COLUMNS = (
    "position", "session_id", "seq", "occurred_at", "recorded_at", "actor", "type", "payload", "prev_hash", "hash"
)  # fmt: skip
_SET_HEAD = "UPDATE journal_head SET position = ?, hash = ? WHERE id = 1"


_INSERT_EVENT = (
    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(_EVENT_COLUMNS))})"
)


class Journal:
    def __init__(
        self, path: Path | str, clock: Clock | None = None, read_only: bool = False, key: str | None = None
    ) -> None:
        """Open (and, unless read_only, create or migrate) the journal at `path`. Read-only opens are for
        status, verification and export: they never change the file. `key`: an encrypted journal's (a new
        file given a key is created encrypted, by SQLCipher itself)."""
        self.path = Path(path)
        self.clock: Clock = clock or SystemClock()
        self.read_only = read_only
        try:
            if not read_only and not self.path.exists() and key is not None:
                _data_folder(self.path.parent)
            elif not read_only and not self.path.exists():
                _create(self.path)
            elif not read_only:
                _data_folder(self.path.parent)
            if self.path.exists() and self.path.stat().st_size == 0:
                raise StorageProblem(
                    f"{self.path} is empty (0 bytes): it is not a Chairside database, or it was truncated. "
                    "Nothing was changed. Restore it from a backup, or delete it to start a new journal."
                )
        except OSError as exc:
            raise JournalError(f"cannot open the database {self.path}: {exc}") from exc
        except (StorageProblem, sqlite3.Error) as exc:
            raise JournalError(str(exc)) from exc
        self.conn = open_connection(self.path, read_only, key)
        try:
            self.schema_version = self._check_and_migrate()
        except BaseException:
            _close(self.conn)
            raise
        self.db = sqlite_utils.Database(self.conn)
        self._recorder: TelemetryRecorder | None = None
        self.write_problem = ""  # why the last append failed ('' once one succeeds again)

    def _check_and_migrate(self) -> tuple[int, int]:
        """Refuse a file that is not a sound Chairside journal before anything is written to it."""
        path = self.path
        try:
            check_schema(self.conn, path)
            check_version(self.conn, str(path))  # a newer major version: refused before anything else
            existing = self.conn.execute("PRAGMA user_version").fetchone()[0] != 0
            if existing:
                check_structure(self.conn, path)
                check_integrity(self.conn, path)
            elif self.read_only:
                raise StorageProblem(f"{path} is an empty SQLite database, not a Chairside journal")
            version = check_version(self.conn, str(path)) if self.read_only else migrate(self.conn, str(path))
            check_structure(self.conn, path)
        except (StorageProblem, IncompleteSchemaError) as exc:
            raise JournalError(str(exc)) from exc
        except sqlite3.DatabaseError as exc:
            raise JournalError(describe_sqlite_error(path, exc)) from exc
        return version

    def integrity_problems(self) -> list[str]:
        """SQLite's full `integrity_check` of every table and index ([] when intact): for `verify`."""
        return integrity_problems(self.conn, full=True)

    def close(self) -> None:
        _close(self.conn)

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
        conn = self.conn
        recorded_at = format_time(self.clock.now())
        stored: list[Event] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if guard is not None:
                    guard(conn)
                head = conn.execute(_HEAD_AND_LAST_SEQ, (session_id,)).fetchone()
                position, prev_hash, last_seq = int(head[0]), head[1] or GENESIS_HASH, int(head[2])
                if last_seq != expected_last_seq:
                    raise SequenceConflict(
                        f"session {session_id} is at entry {last_seq}, not {expected_last_seq}: reload and try again"
                    )
                seq = last_seq
                for event in events:
                    position += 1
                    seq += 1
                    occurred_at = format_time(event.at)
                    kind = event.type.value
                    payload = canonical_json(encode_entry(event.payload, event.signoff))
                    row = (position, session_id, seq, occurred_at, recorded_at, event.actor, kind, payload)
                    digest = chain_hash(prev_hash, *row)
                    conn.execute(_INSERT_EVENT, (*row, prev_hash, digest))
                    # What is kept is what a replay reads: the typed payload reads back from its JSON as
                    # itself, times in UTC (tests/domain/test_event_codec.py holds the two equal)
                    stored.append(event.recorded_as(seq))
                    prev_hash = digest
                conn.execute(_SET_HEAD, (position, prev_hash))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self.write_problem = ""
        except _INTEGRITY_ERRORS as exc:
            raise SequenceConflict(f"session {session_id}: entry already recorded ({exc})") from exc
        except _OPERATIONAL_ERRORS as exc:
            self.write_problem = _explain_write_error(self.path, exc)  # type: ignore[arg-type]
            raise JournalWriteError(self.write_problem) from exc
        except ValueError as exc:  # NaN/inf in a payload: refuse rather than write unreadable JSON
            raise JournalWriteError(f"entry not recorded: {exc}") from exc
        return stored

    @property
    def recorder(self) -> TelemetryRecorder:
        """Keeps the pump readings worth keeping (see app.store.telemetry). Created with the defaults on
        first use; a station configured otherwise sets its own (`journal.recorder = TelemetryRecorder(
        journal.conn, heartbeat_s=..., describe_error=journal.explain_write_error)`)."""
        if self._recorder is None:
            self._recorder = TelemetryRecorder(self.conn, describe_error=self.explain_write_error)
        return self._recorder

    @recorder.setter
    def recorder(self, recorder: TelemetryRecorder) -> None:
        self._recorder = recorder

    def storage_problem(self, chair: str) -> str:
        """Why entries or the chair's pump readings are not reaching the disk ('' when they are): the
        station shows the high-priority "entries are not being recorded" alarm while this is set."""
        return self.write_problem or self.recorder.problem_for(chair)

    def explain_write_error(self, exc: sqlite3.Error) -> str:
        return _explain_write_error(self.path, exc)

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

    def last_seq(self, session_id: str) -> int:
        (seq,) = self.conn.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?", (session_id,)
        ).fetchone()
        return int(seq)

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
        return [row[0] for row in self.conn.execute(sql + f" ORDER BY {_BY_POSITION_AFTER_INDEX}")]

    def open_session_on(self, chair: str, conn: sqlite3.Connection | None = None) -> str | None:
        """The session open on `chair` in the database (checked in, not discharged), if any."""
        row = (
            (conn or self.conn)
            .execute(
                "SELECT session_id FROM events WHERE type = 'checked_in' AND json_extract(payload, '$.chair') = ? "
                "AND session_id NOT IN (SELECT session_id FROM events WHERE type = 'discharged') "
                f"ORDER BY {_BY_POSITION_AFTER_INDEX} DESC LIMIT 1",
                (chair,),
            )
            .fetchone()
        )
        return str(row[0]) if row is not None else None

    def session_ids_for_patient(self, mrn: str) -> list[str]:
        """Sessions checked in under this MRN, or corrected to it, in check-in order (for eligibility)."""
        sql = (  # one SELECT per type, so each reads its own partial index
            "SELECT session_id FROM ("
            "SELECT session_id, position FROM events "
            "WHERE type = 'checked_in' AND json_extract(payload, '$.patient_mrn') = ? UNION ALL "
            "SELECT session_id, position FROM events "
            "WHERE type = 'correction_recorded' AND json_extract(payload, '$.corrected.patient_mrn') = ?"
            ") GROUP BY session_id ORDER BY min(position)"
        )
        return [row[0] for row in self.conn.execute(sql, (mrn, mrn))]

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
    ) -> list[PumpSample]:
        """Stored pump readings for a chair in [since, until), optionally only those of one session."""
        return readings(self.conn, chair, since, until, session_id)

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


def _explain_write_error(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "full" in text:
        return f"the disk holding {path} is full: the last entry was NOT recorded. Free space, then enter it again."
    if "readonly" in text or "read-only" in text:
        return f"{path} is read-only: the last entry was NOT recorded. Check the file's permissions."
    if "locked" in text:
        return f"{path} is busy (locked by another program): the last entry was NOT recorded. Try again."
    return f"writing to {path} failed ({text}): the last entry was NOT recorded."
