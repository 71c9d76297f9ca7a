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
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from app.domain.events import CheckedIn
from app.station.broker import (
    BrokerSettings,
    chair_topic,
    commands_topic,
    events_topic,
    parse_broker,
    refuse_plaintext,
    station_id,
    station_root,
    status_topic,
)
from app.station.config import StationConfig
from app.station.session import ChairListener, ChairSession
from app.station.snapshot import chair_snapshot, iso
from app.station.station import Station
from app.store.journal import JournalEntry, JournalError
from app.store.outbox import acknowledge_up_to, acknowledged_position
from drivers.base import LinkState, Telemetry

log = logging.getLogger(__name__)

EVENTS_IN_FLIGHT = 500
"""Journal entries handed to the broker and not yet acknowledged, at most."""
MAX_IDENTITY_CHARS = 40


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def wall_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def make_client(settings: BrokerSettings, client_id: str) -> mqtt.Client:
    """A paho client (MQTT 3.1.1) with the settings' credentials and TLS; not connected yet."""
    refuse_plaintext(settings)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=True,
        protocol=mqtt.MQTTv311,
    )
    if settings.username:
        client.username_pw_set(settings.username, settings.password())
    if settings.tls:
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file is not None else None
        )
        client.tls_set_context(context)
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    return client


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

    def __init__(self, station: Station, settings: BrokerSettings, station_name: str) -> None:
        self.station = station
        self.settings = settings
        self.name = station_name
        self.id = station_id(station_name)
        self.root = station_root(self.id)
        self.keepalive_s = settings.keepalive_s
        self._client = make_client(settings, f"chairside-station-{self.id}")
        self._client.will_set(
            status_topic(self.id), self._status("offline", reason="connection lost"), qos=1, retain=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._connected = threading.Event()
        self._fresh = threading.Event()  # a new connection: publish every chair again
        self._acked: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._commands: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        journal = station.floor.journal
        self.cursor = acknowledged_position(journal.conn, self.root)
        """The last journal position the broker acknowledged (saved in the database)."""
        self._sent = self.cursor
        self._mids: dict[int, int] = {}
        self._in_flight: deque[int] = deque()
        self._acked_positions: set[int] = set()
        self._published: dict[str, tuple[str, str]] = {}  # chair -> (content, updated_at)
        self._answers: dict[str, dict[str, Any]] = {}
        self._session_chairs: dict[str, str] = {}
        self._online_since = wall_iso()
        self._last_heartbeat = 0.0
        self._warnings: list[str] = []  # the station status last published says these
        self.published_events = 0
        self.published_chairs = 0
        self._started = False
        self._dirty: set[str] = set()
        self._index = {chair.name: n for n, chair in enumerate(station.chairs, start=1)}
        for chair in station.chairs:
            chair.listener = _Marking(chair.listener, self._marker(chair.name))

    def _marker(self, name: str) -> Callable[[], None]:
        return lambda: self._dirty.add(name)

    # ------------------------------------------------------------------------------------------
    # Life cycle (owner's thread)

    def start(self) -> None:
        self._client.connect_async(self.settings.host, self.settings.port, keepalive=round(self.keepalive_s))
        self._client.loop_start()
        self.station.tick_hooks.append(self._on_tick)
        self._started = True
        log.info("station %s publishing to %s as %s", self.name, self.settings.url, self.root)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def close(self, timeout: float = 3.0) -> None:
        """A clean quit: say offline (retained), save how far the broker got, disconnect."""
        if not self._started:
            return
        self._started = False
        if self._on_tick in self.station.tick_hooks:
            self.station.tick_hooks.remove(self._on_tick)
        if self.connected:
            info = self._client.publish(
                status_topic(self.id), self._status("offline", reason="station closed"), qos=1, retain=True
            )
            deadline = time.monotonic() + timeout
            while not info.is_published() and time.monotonic() < deadline and self.connected:
                self._drain_acks()
                info.wait_for_publish(0.1)
        self._drain_acks()
        self._connected.clear()  # a clean quit, not a lost broker
        self._client.disconnect()
        self._client.loop_stop()

    # ------------------------------------------------------------------------------------------
    # paho's thread: only queues and flags

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("broker %s refused station %s: %s", self.settings.url, self.name, reason)
            return
        self._online_since = wall_iso()
        client.subscribe(commands_topic(self.id), qos=1)
        client.publish(status_topic(self.id), self._status("online"), qos=1, retain=True)
        self._last_heartbeat = time.monotonic()
        self._fresh.set()
        self._connected.set()
        log.info("station %s connected to %s", self.name, self.settings.url)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if self._connected.is_set():
            log.warning("station %s lost the broker %s: %s", self.name, self.settings.url, reason)
        self._connected.clear()

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, _reason: Any, _props: Any) -> None:
        self._acked.put(mid)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
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
        warnings = sorted(self.station.service_warnings.values())
        if time.monotonic() - self._last_heartbeat >= self.keepalive_s / 2 or warnings != self._warnings:
            self._last_heartbeat = time.monotonic()
            self._client.publish(status_topic(self.id), self._status("online"), qos=1, retain=True)
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
                "state": state,
                "since": self._online_since if state == "online" else at,
                "at": at,
                "station": self.name,
                "keepalive_s": self.keepalive_s,
                "chairs": len(self.station.chairs),
                "warnings": self._warnings_now(),  # e.g. the HL7 feed's set-aside messages
                **extra,
            }
        )

    def _warnings_now(self) -> list[str]:
        self._warnings = sorted(self.station.service_warnings.values())
        return self._warnings

    def _publish_chairs(self, now: datetime, chairs: Sequence[ChairSession], *, everything: bool) -> None:
        for chair in chairs:
            index = self._index[chair.name]
            snapshot = chair_snapshot(chair, now, station=self.name, index=index)
            answer = self._answers.get(chair.name)
            if answer is not None:
                snapshot["answer"] = answer
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

    def _publish_events(self) -> None:
        room = EVENTS_IN_FLIGHT - len(self._in_flight)
        if room <= 0:
            return
        journal = self.station.floor.journal
        for entry in journal.entries_after(self._sent, room):
            info = self._client.publish(events_topic(self.id), _json(self._event(entry)), qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                break
            # paho keeps a QoS 1 message (and resends it, in order) until the broker acknowledges it
            self._mids[info.mid] = entry.position
            self._in_flight.append(entry.position)
            self._sent = entry.position
            self.published_events += 1

    def _event(self, entry: JournalEntry) -> dict[str, Any]:
        return {
            "station": self.name,
            "seq": entry.position,
            "type": entry.type,
            "occurred_at": iso(entry.occurred_at),
            "recorded_at": iso(entry.recorded_at),
            "actor": entry.actor,
            "session": entry.session_id,
            "session_seq": entry.seq,
            "chair": self._chair_of(entry),
            "data": entry.payload,
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
    # The overview's commands

    def _run_commands(self, now: datetime) -> None:
        while True:
            try:
                raw = self._commands.get_nowait()
            except queue.Empty:
                return
            self._run_command(raw, now)

    def _run_command(self, raw: bytes, now: datetime) -> None:
        try:
            command = json.loads(raw)
        except ValueError:
            log.warning("station %s: a command that is not JSON was ignored", self.name)
            return
        if not isinstance(command, dict):
            log.warning("station %s: a command that is not a JSON object was ignored", self.name)
            return
        chair_name = command.get("chair")
        chair = next((c for c in self.station.chairs if c.name == chair_name), None)
        if chair is None:
            log.warning("station %s: a command for unknown chair %r was ignored", self.name, chair_name)
            return
        answer: dict[str, Any] = {
            "id": command.get("id"),
            "command": command.get("command"),
            "alarm": command.get("alarm"),
            "by": command.get("by"),
            "at": iso(now),
        }
        by = command.get("by")
        try:
            if command.get("command") != "acknowledge":
                raise ValueError(f"unknown command {command.get('command')!r}")
            if not isinstance(by, str) or not by.strip() or len(by.strip()) > MAX_IDENTITY_CHARS:
                raise ValueError("the acknowledgement names nobody: the charge nurse must identify")
            alarm = command.get("alarm")
            if not isinstance(alarm, str) or chair.alarms.board.get(alarm) is None:
                raise ValueError(f"no active alarm {alarm!r} at {chair.name}")
            chair.acknowledge(alarm, by=by.strip())
        except Exception as error:  # one clear answer on the chair topic, never a crash of the station
            answer.update(result="refused", message=str(error))
            log.warning("station %s: %s: refused command: %s", self.name, chair.name, error)
        else:
            answer.update(result="done", message=f"acknowledged by {by.strip()}")
            log.info("station %s: %s: alarm %s acknowledged by %s", self.name, chair.name, alarm, by)
        self._answers[chair.name] = answer


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
    publisher = Publisher(station, settings, station_name or config.name)
    publisher.start()
    return publisher
