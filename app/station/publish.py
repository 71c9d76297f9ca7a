"""Publishing the station to the floor's MQTT broker (topic schema: docs/mqtt.md).

The station's journal stays the source of truth; the broker carries copies:

- ``status`` (retained, QoS 1): online with a heartbeat every half keepalive; the last will and a clean
  quit say offline.
- ``chairs/<chair>`` (retained): the chair as the floor sees it (`app.station.snapshot`), on every
  change and again after every (re)connection.
- ``events`` (QoS 1): every journal entry in journal order from the outbox cursor in the database,
  which moves only when the broker has acknowledged (PUBACK). Entries recorded while the broker was
  unreachable go out when it is back; after a restart, publishing resumes after the cursor.
- ``commands`` (subscribed): the overview's acknowledgements, journaled with the charge nurse's identity
  and answered in the chair's state.

paho-mqtt runs its network loop on its own thread; its callbacks only put things on queues. Everything
that touches the station or the database runs in `pump`, on the station's own thread (the tick).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt

from app.accounts.authority import NotPermitted, authorize
from app.accounts.roles import Action, Role
from app.accounts.store import Account
from app.domain.decide import CommandRefused
from app.domain.events import CheckedIn, Event, EventType
from app.station.anchor_check import BrokerAnchorCheck
from app.station.anchor_topic import anchor_topic, publish_anchor
from app.station.broker import (
    BrokerSettings,
    answers_topic,
    chair_topic,
    commands_topic,
    events_topic,
    make_client,
    parse_broker,
    readings_topic,
    refuse_reserved,
    station_id,
    station_root,
    status_topic,
)
from app.station.config import StationConfig
from app.station.floor_messages import SCHEMA, CommandMessage, MessageRefused, parse_command
from app.station.floor_signing import CommandGate, CommandNotAccepted, parse_floor
from app.station.session import ChairListener, ChairSession
from app.station.snapshot import chair_readings, chair_snapshot, iso
from app.station.station import Station
from app.store.journal import STATION_STREAM_PREFIX, JournalEntry, JournalError, SequenceConflict
from app.store.outbox import acknowledge_up_to, acknowledged_position, rewind_to
from drivers.base import LinkState, Telemetry

log = logging.getLogger(__name__)

EVENTS_IN_FLIGHT = 500
"""Journal entries handed to the broker and not yet acknowledged, at most."""
READINGS_EVERY_S = 60.0
"""How often (station clock) each chair's plan-vs-pump plot goes to the floor (and at every connection)."""
FLOOR_STREAM = f"{STATION_STREAM_PREFIX}floor"
RECENT_COMMANDS = 2000
"""Command ids read back from the journal at start (replays across a restart)."""
"""The journal stream of commands from the floor that the station refused."""
REMOVED_IDENTIFIERS = frozenset(
    {"patient_mrn", "mrn", "patient_name", "date_of_birth", "visit_number", "order_number"}
)
"""Payload keys that never leave the station: the broker carries initials only (minimum necessary)."""
CURSOR_WARNING = "broker_position"
"""The station's service warning (status bar, the floor's station status) for a rewound outbox cursor."""


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def wall_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class _Marking:
    """A chair's listener that also marks the chair as changed (published on the next pump), then
    tells the listener it wraps (the Qt relay, or nobody)."""

    def __init__(self, inner: ChairListener, mark: Callable[[], None]) -> None:
        self.inner = inner
        self._mark = mark

    def changed(self) -> None:
        self._mark()
        self.inner.changed()

    def telemetry(self, t: Telemetry) -> None:
        self._mark()
        self.inner.telemetry(t)

    def link(self, link: LinkState) -> None:
        self._mark()
        self.inner.link(link)

    def alarms_changed(self) -> None:
        self._mark()
        self.inner.alarms_changed()

    def message(self, text: str) -> None:
        self.inner.message(text)


class Publisher:
    """One station's copy of itself on the broker."""

    def __init__(
        self,
        station: Station,
        settings: BrokerSettings,
        station_name: str,
        floor: Mapping[str, Any] | None = None,
    ) -> None:
        refuse_reserved(station_name)
        self.station = station
        self.settings = settings
        self.name = station_name
        self.id = station_id(station_name)
        self.root = station_root(self.id)
        self.keepalive_s = settings.keepalive_s
        self.gate = CommandGate(parse_floor(floor or {}), self.id)
        """Which overviews' signed commands this station accepts ([floor] overviews)."""
        self.wall: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._remember_recent_commands()
        self._warnings: tuple[str, ...] = ()
        """What the station's services need someone to see (read on the station's thread, replaced
        whole: the heartbeat thread only reads it)."""
        self._client = make_client(settings, f"chairside-station-{self.id}")
        self._client.will_set(
            status_topic(self.id), self._status("offline", reason="connection lost"), qos=1, retain=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._connected = threading.Event()
        self._fresh = threading.Event()  # a new connection: publish every chair again
        self._closing = threading.Event()
        self._acked: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._ack_arrived = threading.Event()
        self._commands: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self.anchor_check: BrokerAnchorCheck | None = None
        """Hears the station's own anchor retained on the broker (`compare_own_anchor`)."""
        self._anchor_mid: int | None = None
        self._anchor_lock = threading.Lock()
        journal = station.floor.journal
        self.cursor = acknowledged_position(journal.conn, self.root)
        """The last journal position the broker acknowledged (saved in the database)."""
        self._sent = self.cursor
        self._sent_hashes: deque[tuple[int, str]] = deque(maxlen=EVENTS_IN_FLIGHT)
        """The positions and chain hashes of the entries last handed to the broker (this run): where the
        journal still agrees with what the floor received, should it change under the station."""
        self._mids: dict[int, int] = {}
        self._in_flight: deque[int] = deque()
        self._acked_positions: set[int] = set()
        self._published: dict[str, tuple[str, str]] = {}  # chair -> (content, updated_at)
        self._session_chairs: dict[str, str] = {}
        self._online_since = wall_iso()
        self._heartbeat: threading.Thread | None = None
        self._readings_at: datetime | None = None
        self.published_events = 0
        self.published_chairs = 0
        self.statuses_sent = 0
        self._started = False
        self._dirty: set[str] = set()
        self._index = {chair.name: n for n, chair in enumerate(station.chairs, start=1)}
        for chair in station.chairs:
            chair.listener = _Marking(chair.listener, self._marker(chair.name))
        self._within_journal(journal.head()[0])

    def _remember_recent_commands(self) -> None:
        """The last commands journaled (accepted or refused) stay replays after a restart; anything sent
        more than a minute ago is refused for its age anyway."""
        rows = self.station.floor.journal.conn.execute(
            "SELECT json_extract(payload, '$.command_id') FROM events "
            "WHERE type IN ('alarm_acknowledged', 'floor_command_refused') "
            "AND json_extract(payload, '$.command_id') IS NOT NULL ORDER BY position DESC LIMIT ?",
            (RECENT_COMMANDS,),
        ).fetchall()
        now = self.wall()
        for (command_id,) in rows:
            self.gate.remember(str(command_id), now)

    def _marker(self, name: str) -> Callable[[], None]:
        return lambda: self._dirty.add(name)

    # ------------------------------------------------------------------------------------------
    # Life cycle (owner's thread)

    def start(self) -> None:
        self._client.connect_async(self.settings.host, self.settings.port, keepalive=round(self.keepalive_s))
        self._client.loop_start()
        self.station.tick_hooks.append(self._on_tick)
        self._started = True
        self._heartbeat = threading.Thread(target=self._beat, name=f"status-{self.id}", daemon=True)
        self._heartbeat.start()
        log.info("station %s publishing to %s as %s", self.name, self.settings.url, self.root)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def close(self, timeout: float = 3.0) -> None:
        """A clean quit: every entry journaled so far goes out (and is acknowledged) first, then the
        offline status (retained); save how far the broker got, disconnect."""
        if not self._started:
            return
        self._started = False
        self._closing.set()
        if self._heartbeat is not None:
            self._heartbeat.join(timeout)
        if self._on_tick in self.station.tick_hooks:
            self.station.tick_hooks.remove(self._on_tick)
        deadline = time.monotonic() + timeout
        head = self.station.floor.journal.head()[0]
        while self.connected and self.cursor < head and time.monotonic() < deadline:
            self._publish_events()
            self._ack_arrived.wait(0.1)  # the broker's next PUBACK (paho's thread sets it)
            self._ack_arrived.clear()
            self._drain_acks()
        if self.cursor < head:
            log.warning(
                "station %s: closed with entries %d..%d not yet on the broker",
                self.name,
                self.cursor + 1,
                head,
            )
        if self.connected:
            info = self._client.publish(
                status_topic(self.id), self._status("offline", reason="station closed"), qos=1, retain=True
            )
            while not info.is_published() and time.monotonic() < deadline and self.connected:
                self._drain_acks()
                info.wait_for_publish(0.1)
        self._drain_acks()
        self._connected.clear()  # a clean quit, not a lost broker
        self._client.disconnect()
        self._client.loop_stop()

    def publish_anchor(self, record: dict[str, Any]) -> None:
        """A signed journal anchor, retained for the floor's witnesses (app.station.anchor_topic);
        paho keeps it (QoS 1) until the broker has it, across reconnections."""
        publish_anchor(self._client, self.id, record)

    def compare_own_anchor(self, check: BrokerAnchorCheck) -> None:
        """Subscribe to the station's own anchor topic at every connection (now too, if connected: the
        station may be connected already) and hand what the broker retained there to `check`."""
        with self._anchor_lock:
            self.anchor_check = check
            if self._client.is_connected():
                self._subscribe_own_anchor(check)

    def _subscribe_own_anchor(self, check: BrokerAnchorCheck) -> None:
        check.resubscribing()
        self._anchor_mid = self._client.subscribe(anchor_topic(self.id), qos=1)[1]

    def republish(self) -> None:
        """Publish every chair again on the next pump, changed or not (as after a reconnection)."""
        self._fresh.set()

    def _beat(self) -> None:
        """The status heartbeat on its own thread: its period holds whatever the tick is doing."""
        period = self.keepalive_s / 2
        while not self._closing.wait(period):
            if self.connected:
                self._client.publish(status_topic(self.id), self._status("online"), qos=1, retain=True)
                self.statuses_sent += 1

    # ------------------------------------------------------------------------------------------
    # paho's thread: only queues and flags

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("broker %s refused station %s: %s", self.settings.url, self.name, reason)
            return
        self._online_since = wall_iso()
        # Connected means ready to hear the overview: the station says so once the broker has granted
        # the commands subscription (_on_subscribe), or a command sent in between would be lost.
        client.subscribe(commands_topic(self.id), qos=1)
        with self._anchor_lock:
            if self.anchor_check is not None:
                self._subscribe_own_anchor(self.anchor_check)
        client.publish(status_topic(self.id), self._status("online"), qos=1, retain=True)
        self._fresh.set()
        log.info("station %s connected to %s", self.name, self.settings.url)

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, mid: int, reasons: Any, _props: Any
    ) -> None:
        with self._anchor_lock:  # the mid is saved under this lock (the SUBACK may come first)
            own_anchor = mid == self._anchor_mid
        if own_anchor and self.anchor_check is not None:
            if any(getattr(reason, "is_failure", False) for reason in reasons):
                log.warning(  # nothing retained to hear: the check settles without comparing
                    "broker %s refused station %s its anchor topic: %s", self.settings.url, self.name, reasons
                )
            self.anchor_check.subscribed()
            return
        if any(getattr(reason, "is_failure", False) for reason in reasons):
            log.warning(
                "broker %s refused station %s its commands topic: %s", self.settings.url, self.name, reasons
            )
            return
        self._connected.set()

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if self._connected.is_set():
            log.warning("station %s lost the broker %s: %s", self.name, self.settings.url, reason)
        self._connected.clear()

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any, _props: Any) -> None:
        self._acked.put(mid)
        self._ack_arrived.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self.anchor_check is not None and message.topic == anchor_topic(self.id):
            self.anchor_check.heard(bytes(message.payload))
            return
        self._commands.put(bytes(message.payload))

    # ------------------------------------------------------------------------------------------
    # The owner's thread

    def _on_tick(self, now: datetime) -> None:
        self.pump(now, every_chair=True)

    def pump(self, now: datetime | None = None, *, every_chair: bool = False) -> None:
        """Save acknowledged progress, run the overview's commands, publish what changed: the chairs
        that told a change since the last pump, or every chair (the tick: clocks move too)."""
        now = now or self.station.now()
        self._drain_acks()
        self._run_commands(now)
        if not self.connected:
            return
        warnings = tuple(sorted(self.station.service_warnings.values()))
        if warnings != self._warnings:  # said at once, not only at the next heartbeat
            self._warnings = warnings
            self._client.publish(status_topic(self.id), self._status("online"), qos=1, retain=True)
        if (
            self._fresh.is_set()
            or self._readings_at is None
            or (now - self._readings_at).total_seconds() >= READINGS_EVERY_S
        ):
            self._readings_at = now
            self._publish_readings(now)
        if every_chair or self._fresh.is_set():
            self._publish_chairs(now, self.station.chairs, everything=self._fresh.is_set())
        elif self._dirty:
            self._publish_chairs(
                now, [c for c in self.station.chairs if c.name in self._dirty], everything=False
            )
        self._dirty.clear()
        self._fresh.clear()
        self._publish_events()

    def _status(self, state: str, **extra: Any) -> bytes:
        at = wall_iso()
        return _json(
            {
                "schema": SCHEMA,
                "state": state,
                "since": self._online_since if state == "online" else at,
                "at": at,
                "station": self.name,
                "keepalive_s": self.keepalive_s,
                "chairs": len(self.station.chairs),
                "display_tz": self.station.face.name,
                "warnings": list(self._warnings),  # e.g. the HL7 feed's set-aside messages
                **extra,
            }
        )

    def _publish_chairs(self, now: datetime, chairs: Sequence[ChairSession], *, everything: bool) -> None:
        for chair in chairs:
            index = self._index[chair.name]
            snapshot = chair_snapshot(
                chair, now, station=self.name, index=index, zone=self.station.display_tz
            )
            content = json.dumps(snapshot, sort_keys=True)
            last = self._published.get(chair.name)
            if last is not None and last[0] == content and not everything:
                continue
            updated_at = last[1] if last is not None and last[0] == content else iso(now) or ""
            snapshot["updated_at"] = updated_at
            snapshot["published_at"] = wall_iso()
            info = self._client.publish(chair_topic(self.id, chair.name), _json(snapshot), qos=0, retain=True)
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                self._published[chair.name] = (content, updated_at)
                self.published_chairs += 1

    def _publish_readings(self, now: datetime) -> None:
        for chair in self.station.chairs:
            readings = chair_readings(chair, now, station=self.name)
            if readings is not None:
                self._client.publish(readings_topic(self.id, chair.name), _json(readings), qos=0, retain=True)

    def _within_journal(self, head: int) -> None:
        """A saved position past the journal's end (the journal restored from an older backup, or lost
        entries: app.station.anchor_check) would hold back every entry until the journal grew past it,
        and the floor would miss them without a word. Said once in one line (log and status), then
        publishing restarts after the last position the journal still holds as it was published (its
        head at start), saved, with every chair published again."""
        saved = max(self.cursor, self._sent)
        point = self._agreed(head)
        if point >= saved:
            return
        where = (
            f"the broker's saved position (entry {saved}) is past the journal's end (entry {head})"
            if saved > head
            else f"the journal's entries {point + 1}-{saved} are no longer the ones the broker received"
        )
        problem = (
            f"{where}: the journal was restored from an older backup or lost entries; publishing restarts "
            f"after entry {point}; positions {point + 1}-{saved} reach the floor a second time, as new "
            "entries (same seq, new hash)"
        )
        log.warning("station %s: %s", self.name, problem)
        self.station.service_warnings[CURSOR_WARNING] = f"FLOOR FEED RESTARTED: {problem}"
        self._mids.clear()
        self._in_flight.clear()
        self._acked_positions.clear()
        self._sent_hashes.clear()
        self.cursor = self._sent = point
        try:
            rewind_to(self.station.floor.journal.conn, self.root, point)
        except JournalError as error:  # published from the point anyway; said again at the next start
            log.error("station %s: %s", self.name, error)
        self._fresh.set()

    def _agreed(self, head: int) -> int:
        """The last position the journal still holds as it was handed to the broker: the newest entry
        sent this run whose chain hash is unchanged (one lookup while nothing changed), or the head
        when none was sent yet (at start nothing new has been recorded)."""
        if not self._sent_hashes:
            return head
        row = self.station.floor.journal.conn.execute
        for position, sent_hash in reversed(self._sent_hashes):
            found = row("SELECT hash FROM events WHERE position = ?", (position,)).fetchone()
            if position <= head and found is not None and found[0] == sent_hash:
                return position
        return min(head, self._sent_hashes[0][0] - 1)

    def _publish_events(self) -> None:
        journal = self.station.floor.journal
        self._within_journal(journal.head()[0])
        room = EVENTS_IN_FLIGHT - len(self._in_flight)
        if room <= 0:
            return
        for entry in journal.entries_after(self._sent, room):
            info = self._client.publish(events_topic(self.id), _json(self._event(entry)), qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                break
            # paho keeps a QoS 1 message (and resends it, in order) until the broker acknowledges it
            self._mids[info.mid] = entry.position
            self._in_flight.append(entry.position)
            self._sent = entry.position
            self._sent_hashes.append((entry.position, entry.hash))
            self.published_events += 1

    def _event(self, entry: JournalEntry) -> dict[str, Any]:
        data, removed = deidentified(entry.payload)
        return {
            "schema": SCHEMA,
            "station": self.name,
            "seq": entry.position,
            "type": entry.type,
            "occurred_at": iso(entry.occurred_at),
            "recorded_at": iso(entry.recorded_at),
            "actor": entry.actor,
            "session": entry.session_id,
            "session_seq": entry.seq,
            "chair": self._chair_of(entry),
            "data": data,
            "removed": removed,
            "hash": entry.hash,
        }

    def _chair_of(self, entry: JournalEntry) -> str | None:
        chair = self._session_chairs.get(entry.session_id)
        if chair is None:
            if isinstance(entry.event.payload, CheckedIn):
                chair = entry.event.payload.chair
            else:
                row = self.station.floor.journal.conn.execute(
                    "SELECT json_extract(payload, '$.chair') FROM events "
                    "WHERE session_id = ? AND type = 'checked_in'",
                    (entry.session_id,),
                ).fetchone()
                chair = row[0] if row is not None else None
            if chair is not None:
                self._session_chairs[entry.session_id] = str(chair)
        return chair

    def _drain_acks(self) -> None:
        moved = False
        while True:
            try:
                mid = self._acked.get_nowait()
            except queue.Empty:
                break
            position = self._mids.pop(mid, None)
            if position is None:
                continue  # a status or a chair, not an entry
            self._acked_positions.add(position)
            while self._in_flight and self._in_flight[0] in self._acked_positions:
                self.cursor = self._in_flight.popleft()
                self._acked_positions.discard(self.cursor)
                moved = True
        if moved:
            try:
                acknowledge_up_to(self.station.floor.journal.conn, self.root, self.cursor)
            except JournalError as error:
                log.error("station %s: %s", self.name, error)

    # ------------------------------------------------------------------------------------------
    # The overview's commands: parsed, checked (enrolled key, fresh, never seen, role), answered one
    # by one on `answers`; a refused one is journaled with what it claimed.

    def _run_commands(self, now: datetime) -> None:
        while True:
            try:
                raw = self._commands.get_nowait()
            except queue.Empty:
                return
            self._run_command(raw, now)

    def _run_command(self, raw: bytes, now: datetime) -> None:
        try:
            command = parse_command(raw)
        except MessageRefused as error:
            log.warning(
                "station %s: a command that does not fit the schema was dropped: %s", self.name, error
            )
            return
        try:
            self.gate.check(command, self.wall())  # freshness against real time, whatever the station's clock
            chair = next((c for c in self.station.chairs if c.name == command.chair), None)
            if chair is None:
                raise CommandNotAccepted(f"no chair {command.chair!r} at this station")
            if chair.alarms.board.get(command.alarm) is None:
                raise CommandNotAccepted(f"no active alarm {command.alarm!r} at {chair.name}")
            escalated = any(a.id == command.alarm for a in chair.escalated_alarms(now))
            person = Account(command.by.id, command.by.name, Role.parse(command.by.role))
            actions = (
                [Action.CHAIR_ENTRY, Action.ACKNOWLEDGE_ESCALATION] if escalated else [Action.CHAIR_ENTRY]
            )
            authorize(person, actions)
            chair.acknowledge(command.alarm, by=person.id, via=(command.overview, command.id))
        except (CommandNotAccepted, NotPermitted, CommandRefused, ValueError) as error:
            self._refused(command, str(error), now)
        except JournalError as error:
            self._answer(command, "refused", f"not recorded: {error}", now)
        else:
            self._answer(command, "done", f"acknowledged by {command.by.id}", now)
            log.info(
                "station %s: %s: alarm %s acknowledged by %s from overview %s",
                self.name,
                command.chair,
                command.alarm,
                command.by.id,
                command.overview,
            )

    def _refused(self, command: CommandMessage, reason: str, now: datetime) -> None:
        log.warning(
            "station %s: refused command %s from %r: %s", self.name, command.id, command.overview, reason
        )
        claimed = {
            "command_id": command.id,
            "command": command.command,
            "chair": command.chair,
            "alarm": command.alarm,
            "claimed_by": command.by.id,
            "claimed_role": command.by.role,
            "claimed_overview": command.overview,
            "sent_at": command.body.get("sent_at"),
            "signed": command.signature is not None,
            "reason": reason,
        }
        journal = self.station.floor.journal
        event = Event(EventType.FLOOR_COMMAND_REFUSED, now, "system", claimed)
        for attempt in range(3):
            try:
                journal.append(FLOOR_STREAM, [event], journal.last_seq(FLOOR_STREAM))
                break
            except SequenceConflict:
                if attempt == 2:
                    log.error("station %s: the refused command %s was not journaled", self.name, command.id)
            except JournalError as error:
                log.error(
                    "station %s: the refused command %s was not journaled: %s", self.name, command.id, error
                )
                break
        self._answer(command, "refused", reason, now)

    def _answer(self, command: CommandMessage, result: str, message: str, now: datetime) -> None:
        answer = {
            "schema": SCHEMA,
            "id": command.id,
            "command": command.command,
            "chair": command.chair,
            "alarm": command.alarm,
            "by": command.by.id,
            "overview": command.overview,
            "at": iso(now),
            "result": result,
            "message": message,
        }
        self._client.publish(answers_topic(self.id), _json(answer), qos=1)


def deidentified(payload: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The entry's payload without patient identifiers (at any depth); the dotted keys removed."""
    removed: list[str] = []

    def clean(value: Any, path: str) -> Any:
        if isinstance(value, Mapping):
            kept = {}
            for key, item in value.items():
                if key in REMOVED_IDENTIFIERS:
                    removed.append(f"{path}{key}")
                else:
                    kept[key] = clean(item, f"{path}{key}.")
            return kept
        if isinstance(value, list):
            return [clean(item, path) for item in value]
        return value

    return clean(payload, ""), removed


def broker_settings_for(config: StationConfig, broker_url: str | None = None) -> BrokerSettings | None:
    """The station's broker: `--broker URL` (with the file's other [broker] settings), else the
    file's [broker] table, else None (a station on its own: nothing is published)."""
    base = config.path.parent if config.path is not None else None
    table = dict(config.broker)
    if broker_url:
        table["url"] = broker_url
    if not table:
        return None
    return parse_broker(table, base=base)


def start_publishing(
    station: Station, config: StationConfig, broker_url: str | None = None, station_name: str | None = None
) -> Publisher | None:
    """Start publishing when a broker is configured; BrokerError (one clear line) when it is unusable."""
    settings = broker_settings_for(config, broker_url)
    if settings is None:
        return None
    publisher = Publisher(station, settings, station_name or config.name, config.floor)
    publisher.start()
    return publisher
