"""The live HL7 feed: PCD-01, IPEC and ACM messages streamed over MLLP as the station records them.

Configured in the station file (docs/hl7.md, "Live feed")::

    [hl7]
    feed = "mllp://10.1.2.3:2575"        # or "mllps://..." (TLS), or a table:

    [hl7.feed]
    host = "10.1.2.3"
    port = 2575
    tls = true                  # MLLP over TLS (mllps://); the hospital CA and a client certificate:
    ca_file = "/etc/chairside/hospital-ca.pem"
    cert_file = "/etc/chairside/station.pem"     # optional (the engine asks for one)
    key_file = "/etc/chairside/station.key"      # optional (else in cert_file)
    ack_timeout_s = 10          # silence past this after a message: reconnect and send it again
    retry_initial_s = 1         # first wait after a failure; doubled up to retry_max_s
    retry_max_s = 300           # at most 5 min between attempts
    set_aside_after_min = 60    # refusals (AE/AR) of one message for this long: it is set aside
    poll_s = 1                  # how often the outbox is read when nothing woke the feed

Delivery: at least once, in order. The outbox is the database itself: the feed reads journal entries
after its cursor's position and pump readings after its per-stream cursor, turns each into messages
(app.export.hl7.SessionFeed, the export's own builder), sends one message at a time and moves the
cursor (table hl7_feed_cursor, migration 1.7) only when the receiver answered AA (or CA). A crash or a
dropped connection between the send and the cursor's commit sends that message again on resume: the
receiver may see a message twice (same MSH-10), never a gap.

Every failure (no connection, silence, AE, AR) is followed by a wait that doubles from retry_initial_s
up to retry_max_s (5 min), measured on the station's clock (tests move a ManualClock). An engine that
answers AE through its own outage therefore loses nothing: the same message goes again until it is
taken. Only a message the receiver has refused for `set_aside_after_min` (an hour) is set aside
(table hl7_feed_set_aside, with the reply's text) so that one message the engine cannot take does not
hold back the floor; an alarm (ORU^R40) is never set aside. A set-aside message is loud: the station's
status bar, the floor's station status, `chairside feed status`; `chairside feed replay` sends it
again. A station that starts the feed for the first time starts at the journal's head (earlier
entries go with `chairside export --format hl7 --mllp`).

The feed runs on its own thread with its own database connections; it never holds the journal's
connection or the station's thread. Qt-free.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sqlite3
import ssl
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.domain.clock import Clock
from app.domain.events import EventType
from app.export.hl7 import Hl7Builder, Hl7Message, SessionFeed
from app.export.hl7_settings import Hl7Settings
from app.export.mllp import ACCEPTED, Ack, frame, open_mllp, parse_ack
from app.export.shifts import LocalTime
from app.station.config_error import StationConfigError
from app.store.journal import Journal, JournalEntry, open_connection
from app.store.telemetry import _sample

log = logging.getLogger(__name__)

FEED_KEYS = (
    "host",
    "port",
    "tls",
    "ca_file",
    "cert_file",
    "key_file",
    "ack_timeout_s",
    "retry_initial_s",
    "retry_max_s",
    "set_aside_after_min",
    "poll_s",
)
RETRY_CAP_S = 300.0
"""The longest wait between two attempts (5 min): an engine back from an outage is fed within it."""
BATCH = 500
"""Entries (and readings) read from the outbox at a time."""


@dataclass(frozen=True)
class FeedSettings:
    host: str
    port: int
    ack_timeout_s: float = 10.0
    retry_initial_s: float = 1.0
    retry_max_s: float = RETRY_CAP_S
    set_aside_after_min: float = 60.0
    poll_s: float = 1.0
    tls: bool = False
    ca_file: Path | None = None
    """The hospital CA (PEM) the engine's certificate must chain to; None: the system's CAs."""
    cert_file: Path | None = None
    """The station's client certificate (PEM), when the engine asks for one."""
    key_file: Path | None = None

    @property
    def receiver(self) -> str:
        """The cursor's key: a feed to another receiver starts its own cursor (TLS or not: the same)."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'mllps' if self.tls else 'mllp'}://{self.host}:{self.port}"

    def tls_context(self) -> ssl.SSLContext | None:
        """The client's TLS context (certificate and host name checked), None for plain MLLP."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None:
            context.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        return context


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
        try:
            port = parts.port
        except ValueError:
            port = None
        if (
            parts.scheme not in ("mllp", "mllps")
            or not parts.hostname
            or port is None
            or parts.path not in ("", "/")
        ):
            raise fail(
                f'{value!r}: use "mllp://host:port" or "mllps://host:port" (TLS), e.g. "mllp://10.1.2.3:2575"',
                "feed",
            )
        return FeedSettings(parts.hostname, port, tls=parts.scheme == "mllps")
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
    limits = {
        "ack_timeout_s": 600.0,
        "retry_initial_s": RETRY_CAP_S,
        "retry_max_s": RETRY_CAP_S,
        "set_aside_after_min": 24 * 60.0,
        "poll_s": 60.0,
    }
    for key, high in limits.items():
        if key in value:
            number = value[key]
            unit = "minutes" if key.endswith("_min") else "seconds"
            if isinstance(number, bool) or not isinstance(number, int | float) or not 0 < number <= high:
                raise fail(f"{unit} above 0 and at most {high:g}, not {number!r}", key)
            numbers[key] = float(number)
    tls = value.get("tls", False)
    if not isinstance(tls, bool):
        raise fail(f"true or false, not {tls!r}", "tls")
    files: dict[str, Path] = {}
    for key in ("ca_file", "cert_file", "key_file"):
        if key in value:
            path = value[key]
            if not isinstance(path, str) or not path.strip():
                raise fail("the path of a PEM file", key)
            resolved = Path(path).expanduser()
            if not resolved.is_absolute():
                resolved = Path(source).parent / resolved
            if not resolved.is_file():
                raise fail(f"no such file: {resolved}", key)
            files[key] = resolved
    if files and not tls:
        raise fail("certificates are for TLS: add tls = true", next(iter(files)))
    if "key_file" in files and "cert_file" not in files:
        raise fail("a key without its certificate: add cert_file", "key_file")
    settings = FeedSettings(host.strip(), port_value, tls=tls, **numbers, **files)  # type: ignore[arg-type]
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
    """Messages set aside for this receiver and not replayed yet (the table's count)."""
    connected: bool = False
    problem: str = ""
    """The last thing that went wrong (empty while all is well)."""
    failing_since: datetime | None = None
    """When the message at the head of the feed first failed (None while messages go through)."""
    retry_at: datetime | None = None
    """While the feed waits before the next attempt: when it tries again (station clock)."""

    def warning(self, now: datetime) -> str:
        """One line for the station's status bar and the floor ("" while all is well): set-aside
        messages, and a receiver that has not taken a message for more than a minute."""
        parts: list[str] = []
        if self.set_aside:
            parts.append(f"{self.set_aside} message(s) set aside: `chairside feed replay`")
        if self.failing_since is not None and now - self.failing_since >= timedelta(minutes=1):
            minutes = int((now - self.failing_since).total_seconds() // 60)
            parts.append(f"not delivering for {minutes} min ({self.problem})")
        return f"HL7 feed: {'; '.join(parts)}" if parts else ""


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
        self._first: tuple[int, int] | None = None  # (journal head, readings since) when started

    # -- the owner's side

    def start(self) -> Hl7Feed:
        # A feed's first start begins at the journal's head as the station starts it, not when its thread
        # first runs: an entry recorded in between would otherwise never be sent.
        try:
            with Journal(self.db_path, self.clock, read_only=True) as journal:
                self._first = (journal.head()[0], round(self.clock.now().timestamp() * 1000))
        except Exception as exc:  # the thread says what is wrong with the database
            log.debug("HL7 feed: the journal's head not read at start: %s", exc)
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
                    self._pause(self.settings.retry_max_s)
        except Exception as exc:  # a bug must not pass silently: log it, the station keeps running
            log.exception("HL7 feed to %s stopped", self.settings.receiver)
            self._update(problem=f"stopped: {exc}", connected=False)
        finally:
            self._disconnect()
            conn.close()
            journal.close()

    def _pause(self, seconds: float) -> None:
        """Wait `seconds` on the station's clock (a ManualClock only moves when a test says so; `wake()`
        makes the feed look at the clock again). Ends early only when the feed closes."""
        until = self.clock.now() + timedelta(seconds=seconds)
        self._update(retry_at=until)
        while not self._stop.is_set():
            left = (until - self.clock.now()).total_seconds()
            if left <= 0:
                break
            self._wake.wait(min(left, self.settings.poll_s))
            self._wake.clear()
        self._update(retry_at=None)

    def _loop(self, conn: sqlite3.Connection, journal: Journal) -> None:
        pending: deque[_Item] = deque()
        backoff = self.settings.retry_initial_s
        refused_since: datetime | None = None  # the head message's first AE/AR
        set_aside_after = timedelta(minutes=self.settings.set_aside_after_min)
        while not self._stop.is_set():
            if not pending:
                self._save_cursor(conn)
                self._count_set_aside(conn)
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
            now = self.clock.now()
            try:
                ack = self._exchange(item.message)
            except (OSError, ValueError) as exc:
                self._disconnect()
                self._update(
                    connected=False,
                    problem=f"{self.settings.receiver}: {exc}",
                    failing_since=self.status.failing_since or now,
                )
                log.warning("HL7 feed: %s; again in %g s", exc, backoff)
                self._pause(backoff)
                backoff = min(backoff * 2, self.settings.retry_max_s)
                continue
            if ack.code in ACCEPTED:
                backoff = self.settings.retry_initial_s
                refused_since = None
                self._done(item)
                self._save_cursor(conn)
                pending.popleft()
                self._update(
                    delivered=self.status.delivered + 1, problem="", failing_since=None, retry_at=None
                )
                continue
            refused_since = refused_since or now
            what = f"{item.message.control_id} ({item.message.what}): MSA-1 {ack.code} {ack.text}".rstrip()
            alarm = item.message.trigger == "R40"
            if alarm or now - refused_since < set_aside_after:
                self._update(
                    problem=f"{self.settings.receiver} refused {what}",
                    failing_since=self.status.failing_since or now,
                )
                log.warning(
                    "HL7 feed: %s refused %s; again in %g s%s",
                    self.settings.receiver,
                    what,
                    backoff,
                    " (an alarm: never set aside)" if alarm else "",
                )
                self._pause(backoff)
                backoff = min(backoff * 2, self.settings.retry_max_s)
                continue
            log.error(
                "HL7 feed: %s refused %s since %s; set aside (table hl7_feed_set_aside, "
                "`chairside feed replay`), the feed goes on",
                self.settings.receiver,
                what,
                refused_since.isoformat(timespec="seconds"),
            )
            with conn:
                conn.execute(
                    "INSERT INTO hl7_feed_set_aside "
                    "(receiver, control_id, set_aside_at, ack_code, ack_text, er7) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        self.settings.receiver,
                        item.message.control_id,
                        now.isoformat(),
                        ack.code,
                        ack.text,
                        item.message.er7,
                    ),
                )
            refused_since = None
            backoff = self.settings.retry_initial_s
            self._done(item)
            self._save_cursor(conn)
            pending.popleft()
            self._update(set_aside=self.status.set_aside + 1, problem=f"set aside {what}", failing_since=None)

    def _count_set_aside(self, conn: sqlite3.Connection) -> None:
        """The table's count: a replay from the command line takes messages out of it."""
        (count,) = conn.execute(
            "SELECT count(*) FROM hl7_feed_set_aside WHERE receiver = ?", (self.settings.receiver,)
        ).fetchone()
        if count != self.status.set_aside:
            self._update(set_aside=int(count))

    def _exchange(self, message: Hl7Message) -> Ack:
        if self._sock is None:
            self._sock = open_mllp(
                self.settings.host,
                self.settings.port,
                self.settings.ack_timeout_s,
                self.settings.tls_context(),
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
            position, since_ms = self._first or (
                journal.head()[0],
                round(self.clock.now().timestamp() * 1000),
            )
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


def start_feed(config: Any, db_path: Path, clock: Clock, station_id: str = "") -> Hl7Feed | None:
    """The feed the station file configures, started; None when it configures none. `station_id`:
    the station's generated EUI-64 (app.export.hl7_settings.station_eui64), unless [hl7] sets one."""
    from app.export.hl7_settings import settings_from_table

    settings = parse_feed(config.hl7, config.path or "station configuration")
    if settings is None:
        return None
    hl7 = settings_from_table({k: v for k, v in config.hl7.items() if k != "feed"}, config.name, station_id)
    if not settings.tls and not _is_loopback(settings.host):
        log.info("HL7 feed to %s over plain TCP (MLLP has no encryption; docs/hl7.md)", settings.receiver)
    return Hl7Feed(db_path, settings, hl7, LocalTime.named(config.display_tz), clock).start()


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")
