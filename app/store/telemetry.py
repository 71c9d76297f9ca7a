"""Pump readings that last years: what changed, plus a heartbeat, in typed columns.

A pump is read once a second; storing every reading with its JSON cost about 370 bytes a row (770 MB a
48-chair shift). Here a reading is stored when something a nurse or an export would see changes (the
rate, unless it is the same rate by `app.domain.alarms.same_rate`, the delivery state, the pump's alarm codes, the
link), together with the last unstored reading before it so the stored series keeps the step's edge,
plus a heartbeat every `heartbeat_s`. Between two stored points the rate held and the volume grew
linearly (`volume_at` interpolates). A closed session's readings are compacted further by `compact`
(changes plus one point per `keep_every_s`) and deleted after `retention_days` by `delete_expired`; the
hash-chained journal is never touched by either. No Qt here.

Tables (schema 1.2): `telemetry_streams` (one row per chair and session, '' between sessions) and
`pump_readings` (stream, at_ms, rate_ml_h, volume_ul, state, alarm_codes, link, why), keyed by
(stream, at_ms) without a rowid.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntFlag
from typing import TYPE_CHECKING

from app.domain.alarms import SAME_RATE_ML_H, same_rate
from app.domain.chair import parse_time

if TYPE_CHECKING:
    from drivers.base import LinkState, Telemetry

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_S = 60.0
MIN_HEARTBEAT_S = 1.0  # a pump is read once a second: a shorter heartbeat is a typing slip
DEFAULT_KEEP_EVERY_S = 300.0  # a compacted session keeps its changes and one reading per 5 minutes
DEFAULT_RETENTION_DAYS = 400  # the station configuration's default too (the records policy sets it)
MAX_RETENTION_DAYS = 36_500  # a century: anything longer is a typing slip (and past datetime's range)
IDLE_COMPACT_AFTER = timedelta(hours=12)  # readings between sessions are compacted when this old
SETTLE_MS = 2 * 60 * 1000
"""An anchor seals the pump readings up to this long before it is made (and before every chair's newest
reading): a reading still on its way (queued behind 48 pumps, a pump back after a silence) is stored in
a later anchor's window, never in a sealed one."""
SETTLE_STALE_MS = 10 * 60 * 1000
"""A chair whose newest reading is older than this no longer holds the seal back (its pump is gone)."""

# Small integers on disk; the names are drivers.base.DeliveryState / LinkStatus values.
STATES = ("unknown", "infusing", "stopped", "paused", "complete", "kvo", "alarm")
LINKS = ("", "connecting", "negotiating", "connected", "lost")
_STATE_CODE = {name: code for code, name in enumerate(STATES)}
_LINK_CODE = {name: code for code, name in enumerate(LINKS) if name}


class Why(IntFlag):
    """Why a reading was stored (a bit set; 0 is a heartbeat)."""

    HEARTBEAT = 0
    FIRST = 1  # the first reading of a stream, or the first since the station started
    RATE = 2
    STATE = 4
    ALARMS = 8
    LINK = 16
    BEFORE_CHANGE = 32  # the last reading before a change: where the old value ended


@dataclass(frozen=True)
class PumpSample:
    """One reading as stored: the fields the plot, the exports and the compaction use."""

    at: datetime
    rate_ml_h: float
    volume_ml: float | None
    state: str  # a drivers.base.DeliveryState value
    alarm_codes: tuple[str, ...] = ()
    link: str = ""  # a drivers.base.LinkStatus value; '' when not known
    why: Why = Why.HEARTBEAT

    @classmethod
    def from_telemetry(cls, t: Telemetry, link: LinkState | None = None) -> PumpSample:
        return cls(
            t.at,
            t.rate_ml_h,
            t.volume_infused_ml,
            t.state.value,
            tuple(sorted({a.code for a in t.alarms})),
            link.status.value if link is not None else "",
        )

    @property
    def at_ms(self) -> int:
        return round(self.at.timestamp() * 1000)


def changes(before: PumpSample | None, after: PumpSample, same_rate_ml_h: float) -> Why:
    """What differs between two readings, as a nurse would see it (the one rule for the recorder and
    the compaction). Two rates are one by the policy's definition of the same rate (AlarmPolicy): a
    rate the journal documents as a change is a stored change too."""
    if before is None:
        return Why.FIRST
    why = Why.HEARTBEAT
    if not same_rate(before.rate_ml_h, after.rate_ml_h, same_rate_ml_h):
        why |= Why.RATE
    if after.state != before.state:
        why |= Why.STATE
    if set(after.alarm_codes) != set(before.alarm_codes):
        why |= Why.ALARMS
    if after.link != before.link:
        why |= Why.LINK
    return why


def volume_at(samples: Sequence[PumpSample], moment: datetime) -> float | None:
    """The pump's delivered volume at `moment`, interpolated between the stored readings around it
    (the rate held between them); the last known volume after the last one; None before the first."""
    before: PumpSample | None = None
    for sample in samples:
        if sample.volume_ml is None:
            continue
        if sample.at == moment:
            return sample.volume_ml
        if sample.at > moment:
            if before is None or before.volume_ml is None:
                return None
            span = (sample.at - before.at).total_seconds()
            share = (moment - before.at).total_seconds() / span
            return before.volume_ml + (sample.volume_ml - before.volume_ml) * share
        before = sample
    return None if before is None else before.volume_ml


# --------------------------------------------------------------------------------------------------
# Writing


def _row(stream: int, sample: PumpSample, why: Why) -> tuple[object, ...]:
    return (
        stream,
        sample.at_ms,
        float(sample.rate_ml_h),
        None if sample.volume_ml is None else round(sample.volume_ml * 1000),
        _STATE_CODE.get(sample.state, 0),
        " ".join(sample.alarm_codes) or None,
        _LINK_CODE.get(sample.link),
        int(why),
    )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One durable transaction (the journal's connection is in autocommit mode)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


_INSERT = (
    "INSERT OR REPLACE INTO pump_readings (stream, at_ms, rate_ml_h, volume_ul, state, alarm_codes, link, why) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def stream_id(conn: sqlite3.Connection, chair: str, session_id: str | None) -> int:
    key = (chair, session_id or "")
    conn.execute("INSERT OR IGNORE INTO telemetry_streams (chair, session_id) VALUES (?, ?)", key)
    (found,) = conn.execute(
        "SELECT id FROM telemetry_streams WHERE chair = ? AND session_id = ?", key
    ).fetchone()
    return int(found)


class TelemetryRecorder:
    """Decides which readings to keep and writes them. One per database; called on one thread.

    A failed write (disk full) is kept in `problem_for(chair)` until a later write succeeds: the chair shows the
    storage alarm meanwhile, and the reading is tried again with the next one (it is still a change
    against the last stored reading)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        same_rate_ml_h: float = SAME_RATE_ML_H,
        heartbeat_s: float = DEFAULT_HEARTBEAT_S,
        retention_days: float = DEFAULT_RETENTION_DAYS,
        keep_every_s: float = DEFAULT_KEEP_EVERY_S,
        describe_error: Callable[[sqlite3.Error], str] | None = None,
    ) -> None:
        for name, value in (
            ("heartbeat_s", heartbeat_s),
            ("retention_days", retention_days),
            ("keep_every_s", keep_every_s),
        ):
            if not 0 < value < math.inf:
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        self.retention_days = retention_days
        self.keep_every_s = keep_every_s
        self._housekept_at: datetime | None = None
        self.conn = conn
        self.same_rate_ml_h = same_rate_ml_h  # a station sets its policy's (Station.__init__)
        self.heartbeat_s = heartbeat_s
        self._problems: dict[str, str] = {}  # chair -> why its last reading was not stored
        self.stored = 0  # readings written since start (for benchmarks and the soak)
        self._describe = describe_error or str
        self._streams: dict[tuple[str, str], int] = {}
        self._last: dict[str, tuple[int, PumpSample]] = {}  # chair -> (stream, last stored)
        self._pending: dict[str, PumpSample] = {}  # chair -> latest reading not stored
        self._newest_ms: dict[str, int] = {}  # chair -> its newest reading's time, stored or not
        self._sealed_ms = 0  # readings up to here are sealed by a signed anchor: none is added
        self.late = 0  # readings refused because an anchor had already sealed their moment

    def settled_ms(self, now_ms: int) -> int:
        """Up to when no reading can still be written: SETTLE_MS ago, and before every recent chair's
        newest reading (that one may be written later, as the reading before a change; later ones come
        with later times). An anchor seals the samples up to here, so a reading stored after it never
        lands in its window; one that comes later still is refused as late (`late`)."""
        recent = [ms - 1 for ms in self._newest_ms.values() if ms >= now_ms - SETTLE_STALE_MS]
        return min([now_ms - SETTLE_MS, *recent])

    def seal(self, until_ms: int) -> None:
        """A signed anchor sealed the readings up to `until_ms`: none at or before it is written now."""
        self._sealed_ms = max(self._sealed_ms, until_ms)

    def record_telemetry(
        self, chair: str, session_id: str | None, t: Telemetry, link: LinkState | None = None
    ) -> bool:
        """A driver's reading (see `record`)."""
        return self.record(chair, session_id, PumpSample.from_telemetry(t, link))

    def record_link(self, chair: str, session_id: str | None, at: datetime, link: LinkState) -> bool:
        """The link to the chair's pump changed (no reading comes with a lost link): stored as the last
        reading's values with the new link state, so the gap is explicit. Nothing before a first reading."""
        last = self._last.get(chair)
        if last is None:
            return False
        previous = last[1]
        return self.record(
            chair,
            session_id,
            PumpSample(
                at,
                previous.rate_ml_h,
                previous.volume_ml,
                previous.state,
                previous.alarm_codes,
                link.status.value,
            ),
        )

    def record(self, chair: str, session_id: str | None, sample: PumpSample) -> bool:
        """Store `sample` if it changes something or the heartbeat is due. Returns whether it was stored
        (False also when the write failed: see `problem_for`). Never raises for a storage failure."""
        at_ms = sample.at_ms
        self._newest_ms[chair] = max(at_ms, self._newest_ms.get(chair, at_ms))
        if at_ms <= self._sealed_ms:
            self.late += 1
            if self.late == 1 or self.late % 1000 == 0:
                log.warning(
                    "%s: a pump reading older than the last anchor was not stored (%d so far)",
                    chair,
                    self.late,
                )
            return False
        try:
            stream = self._stream(chair, session_id)
            last = self._last.get(chair)
            rows: list[tuple[object, ...]] = []
            if last is None or last[0] != stream:
                why = Why.FIRST
            else:
                why = changes(last[1], sample, self.same_rate_ml_h)
                if why == Why.HEARTBEAT and (sample.at - last[1].at).total_seconds() < self.heartbeat_s:
                    self._pending[chair] = sample
                    return False
                pending = self._pending.get(chair)
                if (
                    why != Why.HEARTBEAT
                    and pending is not None
                    and pending.at > last[1].at
                    and pending.at_ms > self._sealed_ms
                ):
                    rows.append(_row(stream, pending, Why.BEFORE_CHANGE))
            rows.append(_row(stream, sample, why))
            with transaction(self.conn):
                self.conn.executemany(_INSERT, rows)
        except sqlite3.DatabaseError as exc:
            if chair not in self._problems:
                log.error("%s: pump readings not recorded: %s", chair, self._describe(exc))
            self._problems[chair] = self._describe(exc)
            return False
        self._last[chair] = (stream, sample)
        self._pending.pop(chair, None)
        self.stored += len(rows)
        if self._problems.pop(chair, None) is not None:
            log.info("%s: pump readings are recorded again", chair)
        return True

    def housekeeping(self, now: datetime, every: timedelta = timedelta(hours=1)) -> CompactionResult | None:
        """Compact closed sessions and delete expired readings, at most once per `every` (the station
        calls this from its tick; no VACUUM here: `chairside maintenance` gives the space back)."""
        if self._housekept_at is not None and now - self._housekept_at < every:
            return None
        self._housekept_at = now
        try:
            result = compact(
                self.conn, now, same_rate_ml_h=self.same_rate_ml_h, keep_every_s=self.keep_every_s
            )
            delete_expired(self.conn, now, self.retention_days)
        except sqlite3.DatabaseError as exc:
            log.warning("pump readings not compacted this time: %s", self._describe(exc))
            return None
        return result

    def problem_for(self, chair: str) -> str:
        """Why the chair's last reading could not be stored ('' when it was)."""
        return self._problems.get(chair, "")

    def _stream(self, chair: str, session_id: str | None) -> int:
        key = (chair, session_id or "")
        found = self._streams.get(key)
        if found is None:
            with transaction(self.conn):
                found = stream_id(self.conn, chair, session_id)
            for old in [k for k in self._streams if k[0] == chair]:
                del self._streams[old]  # the chair moved on: keep only its current stream
            self._streams[key] = found
        return found

    def plot_points(self, chair: str, session_id: str | None) -> list[tuple[float, float, float]]:
        """(time s since epoch, rate mL/h, volume mL) of the stored readings, oldest first: what the
        chair's plot shows again after a restart."""
        return [
            (s.at.timestamp(), s.rate_ml_h, math.nan if s.volume_ml is None else s.volume_ml)
            for s in readings(self.conn, chair, session_id=session_id or "")
        ]


# --------------------------------------------------------------------------------------------------
# Reading


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
    return row is not None


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, UTC)


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def readings(
    conn: sqlite3.Connection,
    chair: str,
    since: datetime | None = None,
    until: datetime | None = None,
    session_id: str | None = None,
) -> list[PumpSample]:
    """A chair's stored readings in [since, until), oldest first; only one session's when `session_id`
    is given ('' for the readings between sessions). A schema 1.1 file opened read-only (an archive
    that cannot be migrated) is read from its old table."""
    if not _has_table(conn, "pump_readings"):
        return _legacy_readings(conn, chair, since, until, session_id)
    where: list[str] = ["s.chair = ?"]
    params: list[object] = [chair]
    if session_id is not None:
        where.append("s.session_id = ?")
        params.append(session_id)
    if since is not None:
        where.append("r.at_ms >= ?")
        params.append(_ms(since))
    if until is not None:
        where.append("r.at_ms < ?")
        params.append(_ms(until))
    rows = conn.execute(
        "SELECT r.at_ms, r.rate_ml_h, r.volume_ul, r.state, r.alarm_codes, r.link, r.why "
        "FROM pump_readings AS r JOIN telemetry_streams AS s ON s.id = r.stream "
        f"WHERE {' AND '.join(where)} ORDER BY r.at_ms, r.stream",
        params,
    )
    return [_sample(row) for row in rows]


def _sample(row: Sequence[object]) -> PumpSample:
    at_ms, rate, volume_ul, state, codes, link, why = row
    assert isinstance(at_ms, int)
    state_code = int(state) if isinstance(state, int) else 0
    link_code = int(link) if isinstance(link, int) else 0
    return PumpSample(
        _from_ms(at_ms),
        float(rate) if isinstance(rate, int | float) else 0.0,
        None if not isinstance(volume_ul, int | float) else volume_ul / 1000.0,
        STATES[state_code] if 0 <= state_code < len(STATES) else "unknown",
        tuple(str(codes).split()) if codes else (),
        LINKS[link_code] if 0 <= link_code < len(LINKS) else "",
        Why(int(why) if isinstance(why, int) else 0),
    )


def _legacy_readings(
    conn: sqlite3.Connection,
    chair: str,
    since: datetime | None,
    until: datetime | None,
    session_id: str | None,
) -> list[PumpSample]:
    if not _has_table(conn, "telemetry"):
        return []
    samples = []
    for row in conn.execute(
        "SELECT at, rate_ml_h, volume_infused_ml, state, session_id FROM telemetry WHERE chair = ? ORDER BY id",
        (chair,),
    ):
        at = parse_time(row[0])
        if session_id is not None and (row[4] or "") != session_id:
            continue
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        volume = None if row[2] is None else float(row[2])
        samples.append(PumpSample(at, float(row[1] or 0.0), volume, str(row[3] or "unknown")))
    return samples


# --------------------------------------------------------------------------------------------------
# Compaction and retention


def keep(samples: Sequence[PumpSample], same_rate_ml_h: float, keep_every_s: float) -> list[int]:
    """Indices of the readings a compacted stream keeps: the first and last, every change (against the
    last kept reading, by `changes`) with the reading just before it, and one per `keep_every_s`."""
    if not samples:
        return []
    kept = [0]
    last = samples[0]
    for i in range(1, len(samples)):
        sample = samples[i]
        why = changes(last, sample, same_rate_ml_h)
        due = (sample.at - last.at).total_seconds() >= keep_every_s
        if why == Why.HEARTBEAT and not due:
            continue
        if why != Why.HEARTBEAT and kept[-1] != i - 1:
            kept.append(i - 1)
        kept.append(i)
        last = sample
    if kept[-1] != len(samples) - 1:
        kept.append(len(samples) - 1)
    return kept


@dataclass(frozen=True)
class CompactionResult:
    streams: int
    readings_before: int
    readings_deleted: int


def _stream_readings(conn: sqlite3.Connection, stream: int, until_ms: int) -> list[PumpSample]:
    rows = conn.execute(
        "SELECT at_ms, rate_ml_h, volume_ul, state, alarm_codes, link, why FROM pump_readings "
        "WHERE stream = ? AND at_ms < ? ORDER BY at_ms",
        (stream, until_ms),
    )
    return [_sample(row) for row in rows]


def compact(
    conn: sqlite3.Connection,
    now: datetime,
    *,
    same_rate_ml_h: float = SAME_RATE_ML_H,
    keep_every_s: float = DEFAULT_KEEP_EVERY_S,
) -> CompactionResult:
    """Thin the readings of every closed (discharged) session, and the readings between sessions older
    than IDLE_COMPACT_AFTER, to `keep`. Open sessions are left as recorded. One transaction per stream."""
    closed = {str(row[0]) for row in conn.execute("SELECT session_id FROM events WHERE type = 'discharged'")}
    idle_until = _ms(now - IDLE_COMPACT_AFTER)
    streams = conn.execute("SELECT id, session_id, compacted_until_ms FROM telemetry_streams").fetchall()
    touched = before = deleted = 0
    for stream, session_id, compacted_until in streams:
        if session_id == "":
            until = idle_until
        elif session_id in closed:
            until = _ms(now) + 1
        else:
            continue
        (newest,) = conn.execute(
            "SELECT max(at_ms) FROM pump_readings WHERE stream = ? AND at_ms < ?", (stream, until)
        ).fetchone()
        if newest is None or newest <= compacted_until:
            continue  # nothing new since the last compaction
        samples = _stream_readings(conn, stream, until)
        kept = set(keep(samples, same_rate_ml_h, keep_every_s))
        gone = [(stream, samples[i].at_ms) for i in range(len(samples)) if i not in kept]
        with transaction(conn):
            conn.executemany("DELETE FROM pump_readings WHERE stream = ? AND at_ms = ?", gone)
            conn.execute("UPDATE telemetry_streams SET compacted_until_ms = ? WHERE id = ?", (newest, stream))
        touched += 1
        before += len(samples)
        deleted += len(gone)
    return CompactionResult(touched, before, deleted)


def delete_expired(conn: sqlite3.Connection, now: datetime, retention_days: float) -> int:
    """Delete readings older than `retention_days`, except those of sessions still open. Returns how many."""
    if not retention_days > 0:
        raise ValueError(f"retention must be a positive number of days, not {retention_days!r}")
    cutoff = _ms(now - timedelta(days=retention_days))
    open_streams = (
        "SELECT id FROM telemetry_streams WHERE session_id <> '' AND session_id NOT IN "
        "(SELECT session_id FROM events WHERE type = 'discharged')"
    )
    with transaction(conn):  # the streams stay (a few bytes each): a running recorder may hold their ids
        cursor = conn.execute(
            f"DELETE FROM pump_readings WHERE at_ms < ? AND stream NOT IN ({open_streams})", (cutoff,)
        )
    return int(cursor.rowcount)


def count_readings(conn: sqlite3.Connection) -> int:
    (count,) = conn.execute("SELECT count(*) FROM pump_readings").fetchone()
    return int(count)


def chairs_with_readings(conn: sqlite3.Connection) -> Iterable[str]:
    return [
        str(row[0]) for row in conn.execute("SELECT DISTINCT chair FROM telemetry_streams ORDER BY chair")
    ]
