"""`chairside maintenance`: compact closed sessions' pump readings, delete expired ones, and VACUUM.

The hash-chained journal is never touched: the chain is verified before and after, and the command
fails (exit 1) if the head or the verification changed. Run it when the station is closed (for
example at night); while a station writes, SQLite cannot VACUUM and the command says so (exit 2).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.paths import default_db_path
from app.store.journal import Journal, JournalError, Verification
from app.store.telemetry import (
    DEFAULT_KEEP_EVERY_S,
    DEFAULT_RETENTION_DAYS,
    CompactionResult,
    compact,
    count_readings,
    delete_expired,
)


@dataclass(frozen=True)
class MaintenanceReport:
    compaction: CompactionResult
    expired: int
    readings_left: int
    bytes_before: int
    bytes_after: int
    chain_before: Verification
    chain_after: Verification


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def maintain(
    path: Path,
    now: datetime,
    retention_days: float = DEFAULT_RETENTION_DAYS,
    keep_every_s: float = DEFAULT_KEEP_EVERY_S,
) -> MaintenanceReport:
    """Compact, expire and VACUUM the database at `path`. Raises JournalError when it cannot."""
    if not path.exists():
        raise JournalError(f"no database at {path}")
    bytes_before = _size(path)
    with Journal(path) as journal:
        before = journal.verify()
        conn = journal.conn
        try:
            compaction = compact(
                conn, now, same_rate_ml_h=journal.recorder.same_rate_ml_h, keep_every_s=keep_every_s
            )
            expired = delete_expired(conn, now, retention_days)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:
            raise JournalError(
                f"maintenance stopped, nothing of the journal changed: {journal.explain_write_error(exc)}"
            ) from exc
        after = journal.verify()
        left = count_readings(conn)
    return MaintenanceReport(compaction, expired, left, bytes_before, _size(path), before, after)


def run(args: argparse.Namespace) -> int:
    path = Path(args.db) if args.db else default_db_path()
    try:
        report = maintain(path, datetime.now(UTC), args.retention_days, args.keep_every_min * 60.0)
    except JournalError as exc:
        print(f"chairside maintenance: {exc}", file=sys.stderr)
        return 2
    c = report.compaction
    print(
        f"compacted {c.streams} sessions: {c.readings_deleted} of {c.readings_before} pump readings removed; "
        f"{report.expired} expired readings deleted; {report.readings_left} readings kept"
    )
    print(f"database {report.bytes_before / 1e6:.2f} MB -> {report.bytes_after / 1e6:.2f} MB")
    same = report.chain_before == report.chain_after
    if not (same and report.chain_after.intact):
        print(
            f"journal changed or NOT intact: before {report.chain_before}, after {report.chain_after}",
            file=sys.stderr,
        )
        return 1
    a = report.chain_after
    print(f"journal untouched and intact: {a.events_checked} entries, head {a.head_hash[:16]}")
    return 0
