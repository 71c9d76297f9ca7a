"""The overview's broker connection (paho's thread only queues and wakes the GUI thread once per batch),
its own status with a last will, and its signed commands (app.station.floor_signing)."""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PySide6.QtCore import (
    QObject,
    Signal,
)

from app.accounts.store import Account
from app.station.broker import (
    TOPIC_PREFIX,
    BrokerSettings,
    commands_topic,
    make_client,
    overview_status_topic,
)
from app.station.floor_messages import (
    SCHEMA,
)
from app.station.floor_signing import signed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OverviewIdentity:
    """This overview's name (as enrolled at the stations) and its signing key."""

    name: str
    key: Ed25519PrivateKey


class FloorLink(QObject):
    """The overview's broker connection. paho's thread queues messages and emits `arrived` (queued to
    the GUI thread) once per batch."""

    arrived = Signal()
    connection_changed = Signal(bool, str)

    def __init__(
        self, settings: BrokerSettings, parent: QObject | None = None, *, name: str = "Floor overview"
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.name = name
        self._queue: collections.deque[tuple[str, bytes, bool, float]] = collections.deque()
        self._lock = threading.Lock()
        self._pending = False
        self.connected = False
        self.client = make_client(settings, f"chairside-overview-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.status_topic = overview_status_topic(name)
        self.client.will_set(self.status_topic, self._status("offline"), qos=1, retain=True)

    def _status(self, state: str) -> bytes:
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        return _encode({"schema": SCHEMA, "state": state, "overview": self.name, "at": at})

    def start(self) -> None:
        self.client.connect_async(self.settings.host, self.settings.port, keepalive=10)
        self.client.loop_start()

    def stop(self) -> None:
        if self.connected:
            self.client.publish(self.status_topic, self._status("offline"), qos=1, retain=True)
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.connection_changed.emit(False, f"the broker refused the overview: {reason}")
            return
        client.subscribe(
            [
                (f"{TOPIC_PREFIX}/+/status", 1),
                (f"{TOPIC_PREFIX}/+/chairs/+", 1),
                (f"{TOPIC_PREFIX}/+/chairs/+/readings", 1),
                (f"{TOPIC_PREFIX}/+/answers", 1),
            ]
        )
        client.publish(self.status_topic, self._status("online"), qos=1, retain=True)
        self.connected = True
        self.connection_changed.emit(True, "")

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected = False
        self.connection_changed.emit(False, str(reason))

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self._queue.append((message.topic, bytes(message.payload), bool(message.retain), time.time()))
            wake = not self._pending
            self._pending = True
        if wake:
            self.arrived.emit()

    def take(self) -> list[tuple[str, bytes, bool, float]]:
        with self._lock:
            batch = list(self._queue)
            self._queue.clear()
            self._pending = False
        return batch

    def acknowledge(
        self, station: str, chair: str, alarm_id: str, person: Account, overview: OverviewIdentity
    ) -> str:
        """Publish the signed acknowledgement; the command's id (the station answers with it)."""
        command_id = uuid.uuid4().hex
        body = {
            "schema": SCHEMA,
            "id": command_id,
            "command": "acknowledge",
            "station": station,
            "chair": chair,
            "alarm": alarm_id,
            "by": {"id": person.id, "name": person.name, "role": person.role.key},
            "overview": overview.name,
            "sent_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        self.client.publish(commands_topic(station), _encode(signed(overview.key, body)), qos=1)
        return command_id


def _encode(value: Any) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
