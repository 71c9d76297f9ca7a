"""The live HL7 feed: PCD-01, IPEC and ACM messages streamed over MLLP as the station records them.

Configured in the station file (docs/hl7.md, "Live feed")::

    [hl7]
    feed = "mllp://10.1.2.3:2575"        # or a table:

    [hl7.feed]
    host = "10.1.2.3"
    port = 2575
    ack_timeout_s = 10          # silence past this after a message: reconnect and send it again
    retry_initial_s = 1         # first wait after a failure; doubled up to retry_max_s
    retry_max_s = 60
    max_attempts = 5            # AE/AR replies to one message before it is set aside
    poll_s = 1                  # how often the outbox is read when nothing woke the feed

Delivery: at least once, in order. The outbox is the database itself: the feed reads journal entries
after its cursor's position and pump readings after its per-stream cursor, turns each into messages
(app.export.hl7.SessionFeed, the export's own builder), sends one message at a time and moves the
cursor (table hl7_feed_cursor, migration 1.7) only when the receiver answered AA (or CA). A crash or a
dropped connection between the send and the cursor's commit sends that message again on resume: the
receiver may see a message twice (same MSH-10), never a gap. A message the receiver keeps refusing
(AE or AR `max_attempts` times in a row) is set aside (table hl7_feed_set_aside, with the reply's
text), logged as an error, and the feed moves on: one bad message must not hold back every later
one. A station that starts the feed for the first time starts at the journal's head (earlier
entries go with `chairside export --format hl7 --mllp`).

The feed runs on its own thread with its own database connections; it never holds the journal's
connection or the station's thread. Qt-free.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.domain.clock import Clock
from app.domain.events import EventType
from app.export.hl7 import Hl7Builder, Hl7Message, SessionFeed
from app.export.hl7_settings import Hl7Settings
from app.export.mllp import ACCEPTED, Ack, frame, parse_ack
from app.export.shifts import LocalTime
from app.station.config_error import StationConfigError
from app.store.journal import Journal, JournalEntry, open_connection
from app.store.telemetry import _sample

log = logging.getLogger(__name__)

FEED_KEYS = ("host", "port", "ack_timeout_s", "retry_initial_s", "retry_max_s", "max_attempts", "poll_s")
BATCH = 500
"""Entries (and readings) read from the outbox at a time."""


@dataclass(frozen=True)
class FeedSettings:
    host: str
    port: int
    ack_timeout_s: float = 10.0
    retry_initial_s: float = 1.0
    retry_max_s: float = 60.0
    max_attempts: int = 5
    poll_s: float = 1.0

    @property
    def receiver(self) -> str:
        """The cursor's key: a feed to another receiver starts its own cursor."""
        return f"{self.host}:{self.port}"


def parse_feed(hl7: Mapping[str, Any], source: Path | str) -> FeedSettings | None:
    """The `[hl7] feed` setting (a URL or a table), None when there is none. StationConfigError names
    the file and the key."""
    value = hl7.get("feed")
    if value is None:
        return None

    def fail(problem: str, key: str) -> StationConfigError:
        return StationConfigError(
            problem, file=source, section="hl7.feed" if key != "feed" else "hl7", key=key
        )

    if isinstance(value, str):
        parts = urlsplit(value.strip())
        if parts.scheme == "mllps":
            raise fail("TLS (mllps://) is not supported; use mllp://host:port (docs/hl7.md)", "feed")
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme != "mllp" or not parts.hostname or port is None or parts.path not in ("", "/"):
            raise fail(f'{value!r}: use "mllp://host:port", e.g. "mllp://10.1.2.3:2575"', "feed")
        return FeedSettings(parts.hostname, port)
    if not isinstance(value, Mapping):
        raise fail('use "mllp://host:port" or a [hl7.feed] table with host and port', "feed")
    unknown = sorted(set(value) - set(FEED_KEYS))
    if unknown:
        raise fail(f"unknown setting (known: {', '.join(FEED_KEYS)})", unknown[0])
    host = value.get("host")
    if not isinstance(host, str) or not host.strip():
        raise fail("the receiver's host name or address is required", "host")
    port_value = value.get("port")
    if isinstance(port_value, bool) or not isinstance(port_value, int) or not 0 < port_value < 65536:
        raise fail(f"a TCP port from 1 to 65535 is required, not {port_value!r}", "port")
    numbers: dict[str, float] = {}
    limits = {"ack_timeout_s": 600.0, "retry_initial_s": 600.0, "retry_max_s": 3600.0, "poll_s": 60.0}
    for key, high in limits.items():
        if key in value:
            number = value[key]
            if isinstance(number, bool) or not isinstance(number, int | float) or not 0 < number <= high:
                raise fail(f"seconds above 0 and at most {high:g}, not {number!r}", key)
            numbers[key] = float(number)
    attempts = value.get("max_attempts", FeedSettings.max_attempts)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 1000:
        raise fail(f"a whole number from 1 to 1000, not {attempts!r}", "max_attempts")
    settings = FeedSettings(host.strip(), port_value, max_attempts=attempts, **numbers)
    if settings.retry_max_s < settings.retry_initial_s:
        raise fail("must not be below retry_initial_s", "retry_max_s")
    return settings


@dataclass(frozen=True)
class _Item:
    """One thing read from the outbox: a message to send (or None: nothing to send for it) and where
    the cursor stands once it is done."""

    message: Hl7Message | None
    position: int | None = None  # the journal position done once this is acknowledged
    stream: int | None = None  # or the reading stream and reading done
    at_ms: int = 0


@dataclass
class FeedStatus:
    delivered: int = 0
    """Messages acknowledged (AA) since this feed started."""
    set_aside: int = 0
    connected: bool = False
    problem: str = ""
    """The last thing that went wrong (empty while all is well)."""


class Hl7Feed:
    """The feed's thread. `start()` after the station opened its floor; `close()` at shutdown."""

    def __init__(
        self, db_path: Path, settings: FeedSettings, hl7: Hl7Settings, local: LocalTime, clock: Clock
    ) -> None:
        self.db_path = db_path
        self.settings = settings
        self.hl7 = hl7
        self.local = local
        self.clock = clock
        self.status = FeedStatus()
        self.changed = threading.Condition()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._feeds: dict[str, SessionFeed] = {}
        self._position = 0
        self._samples_since_ms = 0
        self._streams: dict[int, int] = {}
        self._saved: tuple[int, dict[int, int]] = (-1, {})
        self._buffer = bytearray()
        self._builder = Hl7Builder(hl7, local, clock.now())

    # -- the owner's side

    def start(self) -> Hl7Feed:
        self._thread = threading.Thread(target=self._run, name="hl7-feed", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Something was recorded: read the outbox now instead of at the next poll."""
        self._wake.set()

    def close(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def wait_for(self, predicate: Callable[[FeedStatus], bool], timeout_s: float) -> bool:
        """Wait until predicate(status) holds (tests, the bench)."""
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self.status), timeout_s)

    def _update(self, **changes: Any) -> None:
        with self.changed:
            for key, value in changes.items():
                setattr(self.status, key, value)
            self.changed.notify_all()

    # -- the feed's thread

    def _run(self) -> None:
        try:
            journal = Journal(self.db_path, self.clock, read_only=True)
            conn = open_connection(self.db_path)
        except Exception as exc:  # the station runs on without its feed; say why
            log.error("HL7 feed to %s not started: %s", self.settings.receiver, exc)
            self._update(problem=f"not started: {exc}")
            return
        try:
            while not self._stop.is_set():
                try:
                    self._load_cursor(conn, journal)
                    self._loop(conn, journal)
                except sqlite3.Error as exc:  # a busy or full disk: start again from the saved cursor
                    log.warning("HL7 feed: the database: %s; again in %g s", exc, self.settings.retry_max_s)
                    self._update(problem=f"database: {exc}")
                    self._feeds.clear()
                    self._stop.wait(self.settings.retry_max_s)
        except Exception as exc:  # a bug must not pass silently: log it, the station keeps running
            log.exception("HL7 feed to %s stopped", self.settings.receiver)
            self._update(problem=f"stopped: {exc}", connected=False)
        finally:
            self._disconnect()
            conn.close()
            journal.close()

    def _loop(self, conn: sqlite3.Connection, journal: Journal) -> None:
        pending: deque[_Item] = deque()
        backoff = self.settings.retry_initial_s
        refusals = 0
        while not self._stop.is_set():
            if not pending:
                self._save_cursor(conn)
                pending.extend(self._collect(conn, journal))
                if not pending:
                    self._wake.wait(self.settings.poll_s)
                    self._wake.clear()
                    continue
            item = pending[0]
            if item.message is None:
                self._done(item)
                pending.popleft()
                continue
            try:
                ack = self._exchange(item.message)
            except (OSError, ValueError) as exc:
                self._disconnect()
                self._update(connected=False, problem=f"{self.settings.receiver}: {exc}")
                log.warning("HL7 feed: %s; again in %g s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.settings.retry_max_s)
                continue
            backoff = self.settings.retry_initial_s
            if ack.code in ACCEPTED:
                refusals = 0
                self._done(item)
                self._save_cursor(conn)
                pending.popleft()
                self._update(delivered=self.status.delivered + 1, problem="")
                continue
            refusals += 1
            what = f"{item.message.control_id} ({item.message.what}): MSA-1 {ack.code} {ack.text}".rstrip()
            if refusals < self.settings.max_attempts:
                self._update(problem=f"{self.settings.receiver} refused {what}")
                log.warning("HL7 feed: %s refused %s; attempt %d", self.settings.receiver, what, refusals)
                self._stop.wait(backoff)
                continue
            log.error(
                "HL7 feed: %s refused %s %d times; set aside (table hl7_feed_set_aside), the feed goes on",
                self.settings.receiver,
                what,
                refusals,
            )
            with conn:
                conn.execute(
                    "INSERT INTO hl7_feed_set_aside "
                    "(receiver, control_id, set_aside_at, ack_code, ack_text, er7) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        self.settings.receiver,
                        item.message.control_id,
                        datetime.now(UTC).isoformat(),
                        ack.code,
                        ack.text,
                        item.message.er7,
                    ),
                )
            refusals = 0
            self._done(item)
            self._save_cursor(conn)
            pending.popleft()
            self._update(set_aside=self.status.set_aside + 1, problem=f"set aside {what}")

    def _exchange(self, message: Hl7Message) -> Ack:
        if self._sock is None:
            self._sock = socket.create_connection(
                (self.settings.host, self.settings.port), timeout=self.settings.ack_timeout_s
            )
            self._buffer = bytearray()
            self._update(connected=True)
            log.info("HL7 feed connected to %s", self.settings.receiver)
        sock = self._sock
        sock.sendall(frame(message.er7))
        while True:
            end = self._buffer.find(b"\x1c\r")
            if end != -1:
                start = self._buffer.find(b"\x0b")
                payload = bytes(self._buffer[start + 1 if -1 < start < end else 0 : end])
                del self._buffer[: end + 2]
                break
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the receiver closed the connection")
            self._buffer.extend(chunk)
        ack = parse_ack(payload.decode("utf-8", errors="replace"))
        if ack.control_id != message.control_id:
            raise ValueError(f"acknowledged {ack.control_id!r} when {message.control_id!r} was sent")
        return ack

    def _disconnect(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    # -- the outbox

    def _load_cursor(self, conn: sqlite3.Connection, journal: Journal) -> None:
        receiver = self.settings.receiver
        row = conn.execute(
            "SELECT position, samples_since_ms FROM hl7_feed_cursor WHERE receiver = ?", (receiver,)
        ).fetchone()
        if row is None:  # a new feed starts at the head: history goes with `export --mllp`
            position, _ = journal.head()
            since_ms = round(self.clock.now().timestamp() * 1000)
            with conn:
                conn.execute(
                    "INSERT INTO hl7_feed_cursor (receiver, position, samples_since_ms, updated_at) "
                    "VALUES (?, ?, ?, ?)",
                    (receiver, position, since_ms, datetime.now(UTC).isoformat()),
                )
            row = (position, since_ms)
        self._position, self._samples_since_ms = int(row[0]), int(row[1])
        self._streams = {
            int(stream): int(at_ms)
            for stream, at_ms in conn.execute(
                "SELECT stream, at_ms FROM hl7_feed_samples WHERE receiver = ?", (receiver,)
            )
        }
        self._saved = (self._position, dict(self._streams))
        log.info("HL7 feed to %s resumes after journal entry %d", receiver, self._position)

    def _done(self, item: _Item) -> None:
        if item.position is not None:
            self._position = max(self._position, item.position)
        if item.stream is not None:
            self._streams[item.stream] = max(self._streams.get(item.stream, 0), item.at_ms)

    def _save_cursor(self, conn: sqlite3.Connection) -> None:
        if self._saved == (self._position, self._streams):
            return
        receiver = self.settings.receiver
        conn.execute("BEGIN IMMEDIATE")  # the journal position and the reading streams together
        try:
            conn.execute(
                "UPDATE hl7_feed_cursor SET position = ?, updated_at = ? WHERE receiver = ?",
                (self._position, datetime.now(UTC).isoformat(), receiver),
            )
            conn.executemany(
                "INSERT INTO hl7_feed_samples (receiver, stream, at_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (receiver, stream) DO UPDATE SET at_ms = excluded.at_ms",
                [
                    (receiver, stream, at_ms)
                    for stream, at_ms in self._streams.items()
                    if self._saved[1].get(stream) != at_ms  # only the streams that moved
                ],
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._saved = (self._position, dict(self._streams))

    def _session(self, journal: Journal, session_id: str, through: int) -> SessionFeed:
        """The session's feed, rebuilt from its entries up to `through` (already sent) when new."""
        feed = self._feeds.get(session_id)
        if feed is None:
            feed = SessionFeed(self._builder, session_id)
            for entry in journal.entries(session_id=session_id):
                if entry.position > through:
                    break
                feed.on_entry(entry, emit=False)
            self._feeds[session_id] = feed
        return feed

    def _collect(self, conn: sqlite3.Connection, journal: Journal) -> list[_Item]:
        """The next entries and readings after the cursor, as messages in the order recorded."""
        self._builder = Hl7Builder(self.hl7, self.local, self.clock.now())
        # Readings first, entries after: a reading's session (its check-in) is then always among the
        # entries read, so the reading is judged against the session's state at that moment.
        streams = {
            int(row[0]): str(row[1])
            for row in conn.execute("SELECT id, session_id FROM telemetry_streams WHERE session_id != ''")
        }
        readings: list[tuple[int, Any]] = []
        for stream in streams:
            after = self._streams.get(stream, self._samples_since_ms)
            rows = conn.execute(
                "SELECT at_ms, rate_ml_h, volume_ul, state, alarm_codes, link, why FROM pump_readings "
                "WHERE stream = ? AND at_ms > ? ORDER BY at_ms LIMIT ?",
                (stream, after, BATCH),
            )
            readings.extend((stream, tuple(row)) for row in rows)
        readings.sort(key=lambda r: (r[1][0], r[0]))
        entries: list[JournalEntry] = [
            journal._entry(row)
            for row in journal.conn.execute(
                "SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?", (self._position, BATCH)
            )
        ]
        if len(entries) == BATCH:  # more entries wait: readings after the last one read wait with them
            until_ms = _ms(entries[-1].occurred_at)
            readings = [r for r in readings if r[1][0] < until_ms]
        items: list[_Item] = []
        index = 0
        last_position = self._position
        for entry in entries:
            # a reading goes before the first entry recorded after it (one at the same moment: after)
            while index < len(readings) and readings[index][1][0] < _ms(entry.occurred_at):
                items.extend(self._reading(journal, streams, *readings[index], last_position))
                index += 1
            feed = self._session(journal, entry.session_id, entry.position - 1)
            messages = feed.on_entry(entry)
            for number, message in enumerate(messages, start=1):
                # the entry counts as done only with its last message: a resume sends the rest
                items.append(
                    _Item(message, entry.position if number == len(messages) else entry.position - 1)
                )
            if not messages:
                items.append(_Item(None, entry.position))
            if entry.type == EventType.DISCHARGED:
                del self._feeds[entry.session_id]  # a later reading of it rebuilds it from the journal
            last_position = entry.position
        for stream, row in readings[index:]:
            items.extend(self._reading(journal, streams, stream, row, last_position))
        return items

    def _reading(
        self, journal: Journal, streams: dict[int, str], stream: int, row: Any, through: int
    ) -> list[_Item]:
        sample = _sample(row)
        feed = self._session(journal, streams[stream], through)
        messages = feed.on_sample(sample, self.hl7.sample_interval_min)
        at_ms = int(row[0])
        if not messages:
            return [_Item(None, stream=stream, at_ms=at_ms)]
        return [
            _Item(m, stream=stream, at_ms=at_ms if n == len(messages) else at_ms - 1)
            for n, m in enumerate(messages, start=1)
        ]


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def start_feed(config: Any, db_path: Path, clock: Clock) -> Hl7Feed | None:
    """The feed the station file configures, started; None when it configures none."""
    from app.export.hl7_settings import settings_from_table

    settings = parse_feed(config.hl7, config.path or "station configuration")
    if settings is None:
        return None
    hl7 = settings_from_table({k: v for k, v in config.hl7.items() if k != "feed"}, config.name)
    if not _is_loopback(settings.host):
        log.info("HL7 feed to %s over plain TCP (MLLP has no encryption; docs/hl7.md)", settings.receiver)
    return Hl7Feed(db_path, settings, hl7, LocalTime.named(config.display_tz), clock).start()


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")
