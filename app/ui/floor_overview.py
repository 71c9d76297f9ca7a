"""`chairside overview --broker URL --db PATH`: the charge nurse's screen over every chair of every
station, and `--board`, the same floor for the wall (no controls, large type, no patient initials).

It subscribes to the stations' retained status and chair topics and their answers (docs/mqtt.md).
paho's network thread only queues what arrives and wakes the GUI thread with one queued signal per
batch. Every message is parsed into its topic's type (app.station.floor_messages) before the model
(`FloorModel`, a table model) sees it; a message that does not fit is dropped with one log line and
its chair (or, when no chair can be told, its station heading) says "data from this station
unreadable"; nothing a station publishes can stop the tick or the other stations. A station's name
comes from its topic: a payload naming another station is refused.

A station that said offline, or that has been silent longer than its keepalive, has its tiles greyed
with "no data since HH:MM", a banner and the medium-priority alarm sound. Acknowledging an escalated
alarm needs someone signed in here (badge or ID, then PIN, against this overview's own accounts);
the command is signed with this overview's key and the station answers it by its id.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import paho.mqtt.client as mqtt
import pyqtgraph as pg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QCloseEvent, QResizeEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.accounts.idle import DEFAULT_IDLE_LOCK_MIN, IdleTimer
from app.accounts.roles import Action, allows
from app.accounts.store import Account, AccountStore
from app.domain.alarms import Priority as AlarmPriority
from app.domain.clock import Clock, StationClock
from app.station.broker import (
    RESERVED_USERS,
    TOPIC_PREFIX,
    BrokerError,
    BrokerSettings,
    chair_id,
    commands_topic,
    make_client,
    overview_status_topic,
    parse_broker,
    station_id,
)
from app.station.floor_messages import (
    SCHEMA,
    AnswerMessage,
    ChairAlarm,
    ChairMessage,
    MessageRefused,
    ReadingsMessage,
    parse_answer,
    parse_chair,
    parse_readings,
    parse_status,
)
from app.station.floor_signing import signed
from app.station.sound import Speaker, load_alarm_sounds
from app.ui.elided import set_style_property
from app.ui.plot import PLANNED_PEN, PUMP_PEN
from app.ui.status import hhmm
from app.ui.tile import CompactTile, TileBoard, TileView, tile_view

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex
Key = tuple[str, str]  # (station id, chair name)
ViewRole = Qt.ItemDataRole.UserRole + 1
KeyRole = Qt.ItemDataRole.UserRole + 2
COLUMNS = ("Station", "Chair", "Patient", "Phase", "Pump / plan", "Next", "Alarm", "Data")
ANSWER_WAIT_S = 15.0
"""A command the station has not answered in this time is reported as unanswered (never "waiting")."""
MAX_ANSWERS = 1000


@dataclass
class StationInfo:
    id: str
    name: str
    state: str | None = None  # "online" | "offline" | None (nothing said yet)
    keepalive_s: float = 10.0
    last_seen: float | None = None  # wall time of the last sign of life
    unreadable: str = ""
    """Why the station's last status (or a message for no known chair) was dropped; "" when fine."""

    def stale_since(self, now: float) -> datetime | None:
        """When the floor last heard from a station that is offline or silent past its keepalive."""
        silent = self.last_seen is None or now - self.last_seen > self.keepalive_s
        if self.state == "offline" or silent:
            return datetime.fromtimestamp(self.last_seen, UTC) if self.last_seen is not None else _EPOCH
        return None


_EPOCH = datetime.fromtimestamp(0, UTC)


def _rank(alarm: ChairAlarm) -> int:
    return alarm.priority.rank


class FloorModel(QAbstractTableModel):
    """One row per chair of every station, in station then chair order; `ViewRole` gives the tile's
    `TileView`. Fed with raw MQTT messages (`apply`), each parsed into its topic's type first;
    `refresh(now)` re-evaluates the clocks."""

    def __init__(self, parent: QObject | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(parent)
        self.clock = clock
        self.keys: list[Key] = []
        self.snapshots: dict[Key, ChairMessage] = {}
        self.views: dict[Key, TileView] = {}
        self.stations: dict[str, StationInfo] = {}
        self.unreadable: dict[Key, str] = {}
        """Chairs whose latest message did not parse (the last good state stays, with a warning)."""
        self.readings: dict[Key, ReadingsMessage] = {}
        """Each chair's plan-vs-pump plot, as published at the heartbeat (the chair's own window)."""
        self.answers: collections.OrderedDict[str, AnswerMessage] = collections.OrderedDict()
        self.latencies_s: collections.deque[float] = collections.deque(maxlen=200_000)
        """Publish-to-model latency of every live chair message (the bench reads it)."""
        self.applied = 0
        self.dropped = 0
        self._complained: set[str] = set()

    # -- Qt model API -------------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.keys)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section] if 0 <= section < len(COLUMNS) else None
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (
            not index.isValid()
            or not 0 <= index.row() < len(self.keys)
            or not 0 <= index.column() < len(COLUMNS)
        ):
            return None
        key = self.keys[index.row()]
        view = self.views[key]
        if role == ViewRole:
            return view
        if role == KeyRole:
            return key
        if role == Qt.ItemDataRole.DisplayRole:
            station = self.stations.get(key[0])
            return (
                station.name if station is not None else key[0],
                view.chair,
                view.initials,
                view.phase_text,
                view.pump_text,
                view.next_text,
                view.alarm_text,
                view.stale_text,
            )[index.column()]
        return None

    # -- what arrives ------------------------------------------------------------------------------

    def station(self, station_id: str) -> StationInfo:
        info = self.stations.get(station_id)
        if info is None:
            info = self.stations[station_id] = StationInfo(station_id, station_id)
        return info

    def apply(self, messages: Iterable[tuple[str, bytes, bool, float]]) -> set[Key]:
        """Take a batch of (topic, payload, retained, received at); the chairs it changed. A message
        that does not fit its topic's schema is dropped (one log line) and changes nothing else."""
        touched: set[Key] = set()
        for topic, raw, retained, received in messages:
            try:
                touched |= self._apply_one(topic, raw, retained, received)
            except MessageRefused as refused:
                touched |= self._drop(topic, str(refused))
            except Exception:  # a bug must not stop the floor either: logged with its traceback
                log.exception("overview: a message on %r could not be applied", topic[:200])
                touched |= self._drop(topic, "could not be applied")
        return self.refresh(only=touched) | touched if touched else set()

    def _apply_one(self, topic: str, raw: bytes, retained: bool, received: float) -> set[Key]:
        parts = topic.split("/")
        if len(parts) < 4 or "/".join(parts[:2]) != TOPIC_PREFIX:
            return set()
        sid, kind = parts[2], parts[3]
        if kind == "status" and len(parts) == 4:
            status = parse_status(raw)
            self._check_station(sid, status.station)
            info = self.station(sid)
            info.name, info.state, info.keepalive_s, info.unreadable = (
                status.station,
                status.state,
                status.keepalive_s,
                "",
            )
            self._complained.discard(topic)
            # A retained message tells when it was sent, not that the station is alive now
            seen = min(received, status.at.timestamp()) if retained else received
            if status.online:
                info.last_seen = max(info.last_seen or 0.0, seen)
            return {k for k in self.keys if k[0] == sid}
        if kind == "chairs" and len(parts) == 5:
            chair = parse_chair(raw)
            self._check_station(sid, chair.station)
            if chair_id(chair.chair) != parts[4]:
                raise MessageRefused(f"chair {chair.chair[:40]!r} published on another chair's topic")
            key = (sid, chair.chair)
            info = self.station(sid)
            info.name = chair.station
            sent = chair.published_at.timestamp() if chair.published_at is not None else None
            seen = min(received, sent) if retained and sent is not None else received
            info.last_seen = max(info.last_seen or 0.0, seen)
            if not retained and sent is not None:
                self.latencies_s.append(received - sent)
            self.unreadable.pop(key, None)
            self._complained.discard(topic)
            self._store(key, chair)
            self.applied += 1
            return {key}
        if kind == "chairs" and len(parts) == 6 and parts[5] == "readings":
            readings = parse_readings(raw)
            self._check_station(sid, readings.station)
            if chair_id(readings.chair) != parts[4]:
                raise MessageRefused(f"chair {readings.chair[:40]!r} published on another chair's topic")
            self.readings[(sid, readings.chair)] = readings
            self._complained.discard(topic)
            return set()
        if kind == "answers" and len(parts) == 4:
            answer = parse_answer(raw)
            self.answers[answer.id] = answer
            while len(self.answers) > MAX_ANSWERS:
                self.answers.popitem(last=False)
            return set()
        return set()

    @staticmethod
    def _check_station(sid: str, name: str) -> None:
        """The station's name comes from the topic: a payload naming another station is refused, and
        so is a topic level that is another broker user's (the overview, the witness)."""
        if sid in RESERVED_USERS:
            raise MessageRefused(f"{sid!r} is not a station (a broker user of its own)")
        try:
            named = station_id(name)
        except ValueError:
            named = ""
        if named != sid:
            raise MessageRefused(f"names station {name[:40]!r}, published on {sid!r}'s topic")

    def _drop(self, topic: str, reason: str) -> set[Key]:
        """Mark what the message was about as unreadable; one log line per topic until it reads again."""
        self.dropped += 1
        parts = topic.split("/")
        if topic not in self._complained:
            self._complained.add(topic)
            if len(self._complained) > 10_000:
                self._complained.clear()
            log.warning("overview: dropped a message on %r: %s", topic[:200], reason[:200])
        if len(parts) < 4 or "/".join(parts[:2]) != TOPIC_PREFIX:
            return set()
        sid = parts[2]
        if sid not in self.stations and not any(k[0] == sid for k in self.keys):
            self.station(sid)
        key = (sid, unquote(parts[4])) if len(parts) == 5 and parts[3] == "chairs" else None
        if key is not None and key in self.snapshots:
            self.unreadable[key] = reason
            return {key}
        self.stations[sid].unreadable = reason
        return {k for k in self.keys if k[0] == sid}

    def _store(self, key: Key, chair: ChairMessage) -> None:
        if key in self.snapshots:
            self.snapshots[key] = chair
            return
        order = (self.stations[key[0]].name.casefold(), key[0], chair.index, key[1])

        def sort_key(k: Key) -> tuple[str, str, int, str]:
            return (self.stations[k[0]].name.casefold(), k[0], self.snapshots[k].index, k[1])

        row = 0
        while row < len(self.keys) and sort_key(self.keys[row]) < order:
            row += 1
        self.beginInsertRows(QModelIndex(), row, row)
        self.keys.insert(row, key)
        self.snapshots[key] = chair
        self.views[key] = tile_view(chair, datetime.now(UTC))
        self.endInsertRows()

    def refresh(self, only: Iterable[Key] | None = None) -> set[Key]:
        """Recompute the tiles' words (clocks, staleness); emit dataChanged for rows that changed."""
        now = self.clock()
        moment = datetime.fromtimestamp(now, UTC)
        changed: set[Key] = set()
        keys = list(only) if only is not None else self.keys
        stale = {sid: info.stale_since(now) for sid, info in self.stations.items()}
        for key in keys:
            if key not in self.snapshots:
                continue
            since = stale.get(key[0])
            try:
                view = tile_view(
                    self.snapshots[key],
                    moment,
                    stale=since is not None,
                    stale_since=None if since is _EPOCH else since,
                    unreadable=key in self.unreadable,
                )
            except Exception:  # never the tick: this chair keeps its last words
                log.exception("overview: the tile of %s could not be drawn", key)
                continue
            if view != self.views.get(key):
                self.views[key] = view
                changed.add(key)
        if changed:
            rows = sorted(self.keys.index(k) for k in changed) if len(changed) < 64 else None
            if rows is None:
                self.dataChanged.emit(self.index(0, 0), self.index(len(self.keys) - 1, len(COLUMNS) - 1))
            else:
                for row in rows:
                    self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        return changed

    def escalated(self) -> list[tuple[Key, ChairAlarm]]:
        """Escalated, unacknowledged alarms of stations the floor hears from, most important first:
        a patient's before an empty chair's, then by priority, then the oldest."""
        found: list[tuple[Key, ChairAlarm]] = []
        for key in self.keys:
            if self.views[key].stale:
                continue
            for alarm in self.snapshots[key].alarms:
                if alarm.escalated and not alarm.acknowledged:
                    found.append((key, alarm))
        found.sort(
            key=lambda item: (
                0 if self.snapshots[item[0]].patient_present else 1,
                -_rank(item[1]),
                item[1].raised_at.timestamp() if item[1].raised_at is not None else 0.0,
            )
        )
        return found

    def offline(self) -> list[tuple[StationInfo, datetime | None]]:
        """Stations with chairs on the floor that are offline or silent, and since when."""
        now = self.clock()
        with_chairs = {k[0] for k in self.keys}
        found = []
        for sid, info in sorted(self.stations.items(), key=lambda s: s[1].name.casefold()):
            since = info.stale_since(now)
            if sid in with_chairs and since is not None:
                found.append((info, None if since is _EPOCH else since))
        return found


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


def alarm_line(names: dict[str, str], key: Key, alarm: ChairAlarm) -> str:
    since = hhmm(alarm.raised_at) if alarm.raised_at is not None else "--:--"
    message = alarm.message.replace(f"{key[1]}: ", "", 1)
    marker = alarm.priority.symbol
    return (
        f"{marker} {alarm.priority.value.upper()}  {names.get(key[0], key[0])} · {key[1]}:  "
        f"{message}  (since {since})"
    )


class EscalatedPanel(QFrame):
    """The escalated alarms, a patient's first, each on wrapping lines with its Acknowledge button
    (no buttons on the wall board)."""

    acknowledge = Signal(object, object)  # key, alarm id

    MAX_LINES = 3

    def __init__(self, parent: QWidget | None = None, *, controls: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("escalatedPanel")
        self.controls = controls
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(8, 4, 8, 4)
        self._layout.setSpacing(2)
        self.summary = QLabel("No escalated alarms")
        self.summary.setObjectName("escalatedLine")
        self.summary.setWordWrap(True)
        self._layout.addWidget(self.summary)
        self._rows: list[QWidget] = []
        self._shown: list[tuple[Key, str, str]] = []
        self.buttons: list[QPushButton] = []
        self.lines: list[QLabel] = []

    def show_alarms(self, alarms: list[tuple[Key, ChairAlarm]], names: dict[str, str]) -> None:
        shown = [(key, alarm.id, alarm_line(names, key, alarm)) for key, alarm in alarms]
        if shown == self._shown:
            return
        self._shown = shown
        for row in self._rows:
            row.hide()
            row.deleteLater()
        self._rows, self.buttons, self.lines = [], [], []
        if not self.controls:  # the wall board: one wrapping line naming the chairs, the tiles say the rest
            self.summary.setText(
                "No escalated alarms"
                if not alarms
                else f"⚠ {len(alarms)} ESCALATED: "
                + ", ".join(
                    f"{names.get(k[0], k[0])} · {k[1]} ({a.priority.value.upper()})" for k, a in alarms
                )
            )
            return
        more = len(alarms) - self.MAX_LINES
        self.summary.setText(
            "No escalated alarms"
            if not alarms
            else f"⚠ {len(alarms)} escalated alarm{'s' if len(alarms) > 1 else ''}"
            + (": acknowledge to tell the station" if self.controls else "")
            + (f" ({more} more on the tiles below)" if more > 0 else "")
        )
        for key, alarm_id, text in shown[: self.MAX_LINES]:
            row = QWidget(self)
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            label = QLabel(text)
            label.setObjectName("escalatedLine")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            line.addWidget(label, 1)
            if self.controls:
                button = QPushButton("Acknowledge")
                button.setObjectName("primaryButton")
                button.clicked.connect(lambda _=False, k=key, a=alarm_id: self.acknowledge.emit(k, a))
                line.addWidget(button)
                self.buttons.append(button)
            self._layout.addWidget(row)
            self._rows.append(row)
            self.lines.append(label)


class FitScrollArea(QScrollArea):
    """Tells when its viewport changes size (the board is placed to fit it)."""

    def __init__(self, on_resize: Callable[[], None]) -> None:
        super().__init__()
        self._on_resize = on_resize

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._on_resize()


class OfflineSound:
    """The medium-priority alarm sound while a station is offline (app.station.sound's patterns)."""

    def __init__(self, speaker: Speaker | None) -> None:
        self.speaker = speaker
        self.playing = False
        self._pcm = load_alarm_sounds().pcm(AlarmPriority.MEDIUM) if speaker is not None else b""

    def update(self, offline: bool) -> None:
        if offline == self.playing:
            return
        self.playing = offline
        if self.speaker is None:
            return
        if offline:
            self.speaker.play(AlarmPriority.MEDIUM.value, self._pcm)
        else:
            self.speaker.stop()

    def close(self) -> None:
        if self.speaker is not None:
            self.speaker.close()


class ChairDialog(QDialog):
    """One chair opened from the floor, read-only, from what its station publishes; its alarms can be
    acknowledged from here (the same signed command as the escalated list)."""

    acknowledge = Signal(object, object)  # key, alarm id

    def __init__(self, key: Key, parent: QWidget | None = None, *, controls: bool = True) -> None:
        super().__init__(parent)
        self.key = key
        self.controls = controls
        self.setObjectName("floorChair")
        self.setWindowTitle(f"Chairside: {key[1]}")
        self.setMinimumWidth(520)
        outer = QVBoxLayout(self)
        self.title = QLabel()
        self.title.setObjectName("dialogHeading")
        self.title.setWordWrap(True)
        outer.addWidget(self.title)
        self.lines: dict[str, QLabel] = {}
        for name in ("phase", "protocol", "pump", "next", "vitals", "link", "notice", "as_of"):
            label = QLabel()
            label.setObjectName(f"floorChair_{name}")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setStyleSheet("font-size: 13pt;")
            outer.addWidget(label)
            self.lines[name] = label
        self.alarms_box = QVBoxLayout()
        outer.addLayout(self.alarms_box)
        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.plot.setObjectName("floorChairPlot")
        self.plot.setMinimumHeight(220)
        self.plot.setLabel("left", "mL/h")
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.addLegend(offset=(10, 10))
        self.plan_curve = self.plot.plot([], [], name="planned", pen=PLANNED_PEN)
        self.pump_curve = self.plot.plot([], [], name="pump", pen=PUMP_PEN, stepMode=None)
        outer.addWidget(self.plot, 1)
        self.readings: ReadingsMessage | None = None
        self.alarm_rows: list[QWidget] = []
        self.buttons: list[QPushButton] = []
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        outer.addWidget(close, 0, Qt.AlignmentFlag.AlignRight)
        self._shown: tuple[Any, ...] | None = None

    def show_readings(self, readings: ReadingsMessage | None) -> None:
        """The plan-vs-pump plot from the chair's last published readings (at the heartbeat)."""
        if readings is self.readings:
            return
        self.readings = readings
        plan = readings.plan if readings is not None else ()
        pump = readings.pump if readings is not None else ()
        self.plan_curve.setData([t for t, _r in plan], [r for _t, r in plan])
        self.pump_curve.setData([t for t, _r in pump], [r for _t, r in pump])
        self.plot.setVisible(bool(plan or pump))  # no empty axes before the infusion

    def show_chair(self, chair: ChairMessage, view: TileView, station_name: str, now: datetime) -> None:
        pump = chair.pump
        shown = (chair, view, station_name)
        if shown == self._shown:
            return
        self._shown = shown
        initials = f"  {view.initials}" if view.initials else ""
        self.title.setText(f"{station_name} · {chair.chair}{initials}")
        self.lines["phase"].setText(view.stale_text or view.phase_text)
        self.lines["protocol"].setText(chair.protocol or "")
        volume = f", {pump.volume_ml:g} mL infused" if pump.volume_ml is not None else ""
        self.lines["pump"].setText(f"{view.pump_text}{volume}" if view.pump_text else "")
        self.lines["next"].setText(f"Next: {view.next_text}" if view.next_text else "")
        vitals = chair.vitals
        self.lines["vitals"].setText(
            f"{vitals.label}: {'OVERDUE since' if vitals.overdue else 'at'} {hhmm(vitals.due_at)}"
            if vitals is not None
            else ""
        )
        self.lines["link"].setText(
            f"Pump link: {chair.link.state}"
            + (f" since {hhmm(chair.link.since)}" if chair.link.since else "")
            if chair.link.pump and chair.link.state
            else ""
        )
        self.lines["notice"].setText(f"ℹ {chair.notice}" if chair.notice else "")
        updated = chair.updated_at or chair.published_at
        self.lines["as_of"].setText(
            f"As published by {station_name} at {hhmm(updated)} (read-only here)" if updated else ""
        )
        for label in self.lines.values():
            label.setVisible(bool(label.text()))
        for row in self.alarm_rows:
            row.hide()
            row.deleteLater()
        self.alarm_rows, self.buttons = [], []
        for alarm in chair.alarms if not view.stale else ():
            row = QWidget(self)
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            state = f" · acknowledged by {alarm.acknowledged_by}" if alarm.acknowledged else ""
            label = QLabel(
                f"{alarm.priority.symbol} {alarm.priority.value.upper()}"
                f"{' ESCALATED' if alarm.escalated else ''}  {alarm.message}{state}"
            )
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setStyleSheet("font-size: 13pt; font-weight: bold;")
            line.addWidget(label, 1)
            if self.controls and not alarm.acknowledged:
                button = QPushButton("Acknowledge")
                button.setObjectName("primaryButton")
                button.clicked.connect(lambda _=False, a=alarm.id: self.acknowledge.emit(self.key, a))
                line.addWidget(button)
                self.buttons.append(button)
            self.alarms_box.addWidget(row)
            self.alarm_rows.append(row)


BOARD_STYLE = (
    "QLabel#ctName, QLabel#ctInitials, QLabel#ctLink, QLabel#ctPhase, QLabel#ctPump, QLabel#ctNext,"
    " QLabel#ctAlarm { font-size: 24px; }"
    " QLabel#boardHeading { font-size: 24px; }"
    " QLabel#escalatedLine, QLabel#chairTitle, QLabel#clockLabel, QLabel#brokerState,"
    " QLabel#offlineBanner { font-size: 26px; }"
)
BOARD_TILE_MIN = (224, 136)
"""A wall-board tile: four lines of 24 px text and an alarm border (48 of them, under two station
headings, fit 1920x1080 in 8 columns)."""


class FloorOverviewWindow(QMainWindow):
    def __init__(
        self,
        link: FloorLink | None,
        model: FloorModel | None = None,
        *,
        accounts: AccountStore | None = None,
        identity: OverviewIdentity | None = None,
        board: bool = False,
        idle_lock_min: float = DEFAULT_IDLE_LOCK_MIN,
        clock: Clock | None = None,
        speaker: Speaker | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Chairside: the floor" + (" (wall board)" if board else ""))
        self.link = link
        self.model = model or FloorModel(self)
        self.accounts = accounts
        self.identity = identity
        self.board_mode = board
        self.person: Account | None = None
        """Who is signed in at this overview (None: locked, no commands, no patient initials)."""
        self.idle = IdleTimer(clock or StationClock(), idle_lock_min)
        self.urgent_first = False
        self.mine_only = False
        self.tiles: dict[Key, CompactTile] = {}
        self.chair_dialogs: dict[Key, ChairDialog] = {}
        self.sound = OfflineSound(speaker)
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(6, 4, 6, 4)
        outer.setSpacing(4)
        bar = QHBoxLayout()
        title = QLabel("The floor")
        title.setObjectName("chairTitle")
        self.broker_label = QLabel("… connecting to the broker")
        self.broker_label.setObjectName("brokerState")
        self.who_label = QLabel()
        self.who_label.setObjectName("floorWho")
        self.sign_button = QPushButton("Sign in…")
        self.sign_button.setObjectName("primaryButton")
        self.sign_button.clicked.connect(self._sign_in_or_out)
        self.mine_button = QPushButton("My chairs")
        self.mine_button.setCheckable(True)
        self.mine_button.toggled.connect(self.set_mine_only)
        self.order_button = QPushButton("Urgent first")
        self.order_button.setCheckable(True)
        self.order_button.toggled.connect(self.set_urgent_first)
        self.clock_label = QLabel()
        self.clock_label.setObjectName("clockLabel")
        bar.addWidget(title)
        bar.addSpacing(12)
        bar.addWidget(self.broker_label)
        bar.addStretch(1)
        self.controls: list[QWidget] = [self.who_label, self.sign_button, self.mine_button, self.order_button]
        for widget in self.controls:
            bar.addWidget(widget)
            widget.setVisible(not board)
        bar.addWidget(self.clock_label)
        outer.addLayout(bar)
        # Answers and hints on their own wrapping line: a long one never widens the window
        self.answer_label = QLabel()
        self.answer_label.setObjectName("floorMessage")
        self.answer_label.setWordWrap(True)
        self.answer_label.setTextFormat(Qt.TextFormat.PlainText)
        self.answer_label.hide()
        outer.addWidget(self.answer_label)
        self.offline_banner = QLabel()
        self.offline_banner.setObjectName("offlineBanner")
        self.offline_banner.setWordWrap(True)
        self.offline_banner.setTextFormat(Qt.TextFormat.PlainText)
        self.offline_banner.setStyleSheet(
            "QLabel#offlineBanner { background: #f5c400; color: #111111; font-size: 14pt; font-weight: bold;"
            " padding: 4px 10px; border: 2px solid #8a7300; border-radius: 4px; }"
        )
        self.offline_banner.hide()
        outer.addWidget(self.offline_banner)
        self.escalated_panel = EscalatedPanel(controls=not board)
        self.escalated_panel.acknowledge.connect(self.acknowledge)
        outer.addWidget(self.escalated_panel)
        self.scroll_area = FitScrollArea(self._fit)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidgetResizable(False)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.board = TileBoard()
        if board:
            self.board.tile_min = BOARD_TILE_MIN
            self.board.heading_h = 32
            central.setStyleSheet(BOARD_STYLE)
        self.scroll_area.setWidget(self.board)
        outer.addWidget(self.scroll_area, 1)
        self.setCentralWidget(central)
        self._pending: dict[str, tuple[Key, str, float]] = {}
        self.model.rowsInserted.connect(self._rows_inserted)
        self.model.dataChanged.connect(self._data_changed)
        if link is not None:
            link.arrived.connect(self._take)
            link.connection_changed.connect(self._connection)
        app = QApplication.instance()
        if app is not None and not board:
            app.installEventFilter(self)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.tick)
        self._timer.start()
        self._order: list[Key] = []
        self.busy_s = 0.0
        """GUI-thread time spent on what arrived and on the 1 s tick (the bench reads it)."""
        self._show_person()
        self.tick()

    # -- arrivals -------------------------------------------------------------------------------------

    def _take(self) -> None:
        if self.link is None:
            return
        started = time.perf_counter()
        try:
            self.model.apply(self.link.take())
            self._answers()
            self._update_headings()
        except Exception:  # never stop taking what arrives
            log.exception("overview: what arrived could not be shown")
        self.busy_s += time.perf_counter() - started

    def _connection(self, connected: bool, reason: str) -> None:
        self.broker_label.setText("● broker connected" if connected else f"✕ broker unreachable: {reason}")
        self.broker_label.setProperty("problem", not connected)
        self.broker_label.style().polish(self.broker_label)

    def tick(self) -> None:
        """Once a second: clocks, staleness, order, headings, the escalated list, the offline banner
        and sound, the idle lock, unanswered commands. One part failing never stops the others."""
        started = time.perf_counter()
        for part in (
            self._tick_clock,
            self.model.refresh,
            self._regroup,
            self._update_headings,
            self._tick_escalated,
            self._tick_offline,
            self._tick_idle,
            self._tick_pending,
            self._tick_dialogs,
        ):
            try:
                part()
            except Exception:
                log.exception("overview: %s failed", getattr(part, "__name__", part))
        self.busy_s += time.perf_counter() - started

    def _tick_clock(self) -> None:
        self.clock_label.setText(datetime.now().astimezone().strftime("%H:%M"))

    def _tick_escalated(self) -> None:
        self.escalated_panel.show_alarms(self.model.escalated(), self._names())

    def _names(self) -> dict[str, str]:
        return {s: i.name for s, i in self.model.stations.items()}

    def _tick_offline(self) -> None:
        offline = self.model.offline()
        if offline:
            self.offline_banner.setText(
                "⚠ "
                + "; ".join(
                    f"{info.name} is OFFLINE since {hhmm(since) if since else '--:--'}: its chairs are not "
                    "monitored from here"
                    for info, since in offline
                )
            )
        self.offline_banner.setVisible(bool(offline))
        self.sound.update(bool(offline))

    def _tick_idle(self) -> None:
        if self.person is not None and self.idle.due():
            self.sign_out("idle")

    def _tick_pending(self) -> None:
        now = time.monotonic()
        for command_id, (key, _alarm, sent) in list(self._pending.items()):
            if now - sent > ANSWER_WAIT_S:
                del self._pending[command_id]
                self._say(
                    f"{self._station_name(key[0])} · {key[1]}: no answer in {ANSWER_WAIT_S:.0f} s: "
                    "NOT acknowledged as far as the floor knows; check at the station"
                )

    def _tick_dialogs(self) -> None:
        for key, dialog in list(self.chair_dialogs.items()):
            if dialog.isVisible():
                self._show_dialog(key, dialog)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closed: no more ticks, no more watching the application's input, no sound."""
        self._timer.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        for dialog in self.chair_dialogs.values():
            dialog.close()
        self.sound.update(False)
        super().closeEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (
            QEvent.Type.KeyPress,
            QEvent.Type.MouseButtonPress,
            QEvent.Type.Wheel,
            QEvent.Type.TouchBegin,
        ):
            self.idle.input()
        return False

    # -- tiles -----------------------------------------------------------------------------------------

    def shown_view(self, key: Key) -> TileView:
        """The model's words for a tile, without the patient's initials while nobody is signed in here
        (and always on the wall board)."""
        view = self.model.views[key]
        if self.person is None or self.board_mode:
            return dataclasses.replace(view, initials="")
        return view

    def _rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        for row in range(first, last + 1):
            key = self.model.keys[row]
            tile = CompactTile(f"{key[0]}/{key[1]}", self.board)
            tile.show_station = self.urgent_first
            if self.board_mode:
                layout = tile.layout()
                if layout is not None:
                    layout.setContentsMargins(6, 1, 6, 1)  # every pixel for the lines of 24 px
                tile.board = True
                tile.pump_label.hide()  # from 3 m: chair, phase, what is due, the alarm
            else:
                tile.clicked.connect(self._tile_clicked)
            tile.show_view(self.shown_view(key))
            self.tiles[key] = tile
        self._regroup(force=True)

    def _data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, _roles: Any = None) -> None:
        for row in range(top_left.row(), bottom_right.row() + 1):
            key = self.model.keys[row]
            tile = self.tiles.get(key)
            if tile is not None:
                tile.show_view(self.shown_view(key))
            dialog = self.chair_dialogs.get(key)
            if dialog is not None and dialog.isVisible():
                self._show_dialog(key, dialog)

    def _redraw_tiles(self) -> None:
        for key, tile in self.tiles.items():
            view, tile.view = tile.view, None
            if view is not None:
                tile.show_view(self.shown_view(key))

    def _tile_clicked(self, text: str) -> None:
        sid, _sep, chair = text.partition("/")
        self.open_chair((sid, chair))

    def open_chair(self, key: Key) -> ChairDialog:
        """The chair's own window, read-only, from what its station publishes."""
        dialog = self.chair_dialogs.get(key)
        if dialog is None:
            dialog = ChairDialog(key, self, controls=not self.board_mode)
            dialog.acknowledge.connect(self.acknowledge)
            self.chair_dialogs[key] = dialog
        self._show_dialog(key, dialog)
        dialog.show()
        return dialog

    def _show_dialog(self, key: Key, dialog: ChairDialog) -> None:
        chair = self.model.snapshots.get(key)
        if chair is not None:
            dialog.show_chair(chair, self.shown_view(key), self._station_name(key[0]), datetime.now(UTC))
            readings = self.model.readings.get(key)
            dialog.show_readings(
                readings if readings is not None and readings.session == chair.session else None
            )

    # -- layout -------------------------------------------------------------------------------------------

    def set_urgent_first(self, urgent: bool) -> None:
        self.urgent_first = urgent
        self.order_button.setText("By station" if urgent else "Urgent first")
        for tile in self.tiles.values():
            tile.show_station = urgent
        self._redraw_tiles()
        self._regroup(force=True)

    def set_mine_only(self, mine: bool) -> None:
        """Only the chairs of the nurse signed in here (their assignments at the stations)."""
        self.mine_only = mine and self.person is not None
        if self.mine_button.isChecked() != self.mine_only:
            self.mine_button.setChecked(self.mine_only)
        self._regroup(force=True)

    def visible_keys(self) -> list[Key]:
        keys = self.model.keys
        if self.mine_only and self.person is not None:
            who = self.person.id.casefold()
            keys = [k for k in keys if self.model.views[k].nurse.casefold() == who]
        return keys

    def _regroup(self, force: bool = False) -> None:
        keys = self.visible_keys()
        if self.urgent_first:
            order = sorted(keys, key=lambda k: (self.model.views[k].urgency(), k))
        else:
            order = list(keys)
        if order == self._order and not force:
            return
        self._order = order
        shown = set(order)
        for key, tile in self.tiles.items():
            if key not in shown:
                tile.hide()
        groups: list[tuple[str | None, list[CompactTile]]] = []
        if self.urgent_first:
            self.board.heading("*").setText("Most urgent first (click “By station” to group)")
            groups.append(("*", [self.tiles[k] for k in order]))
        else:
            for sid, _info in sorted(self.model.stations.items(), key=lambda s: (s[1].name.casefold(), s[0])):
                tiles = [self.tiles[k] for k in order if k[0] == sid]
                if not tiles:
                    continue
                self.board.heading(sid)
                groups.append((sid, tiles))
        self._update_headings()
        self.board.set_groups(groups)

    def _update_headings(self) -> None:
        """Each station's heading: its chairs, and whether the floor hears from it."""
        if self.urgent_first:
            return
        now = self.model.clock()
        counts = collections.Counter(k[0] for k in self.model.keys)
        for sid, info in self.model.stations.items():
            if not counts[sid]:
                continue
            since = info.stale_since(now)
            state = (
                f"OFFLINE: no data since {hhmm(since) if since and since != _EPOCH else '--:--'}"
                if since is not None
                else "online"
            )
            unreadable = "  ·  ⚠ data from this station unreadable" if info.unreadable else ""
            heading = self.board.heading(sid)
            heading.setText(f"{info.name}  ·  {counts[sid]} chairs  ·  {state}{unreadable}")
            set_style_property(heading, "stale", since is not None or bool(info.unreadable))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._fit()

    def _fit(self) -> None:
        if not hasattr(self, "board"):
            return
        viewport = self.scroll_area.viewport()
        self.board.fit_to(viewport.width(), viewport.height())

    # -- who is signed in ---------------------------------------------------------------------------------

    def _sign_in_or_out(self) -> None:
        if self.person is not None:
            self.sign_out("signed out")
        else:
            self.ask_sign_in()

    def ask_sign_in(self) -> Account | None:
        """Badge or ID, then PIN, against this overview's own accounts (`chairside users --db`)."""
        if self.accounts is None:
            self._say("No accounts at this overview: start it with --db (accounts: chairside users --db)")
            return None
        from app.ui.signin import SignInDialog

        dialog = SignInDialog(self.accounts, self, heading="Sign in at the floor", purpose="floor sign-in")
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.account is not None:
            self.sign_in(dialog.account)
        return self.person

    def sign_in(self, account: Account) -> None:
        """`account` was checked (badge or ID and PIN) by the caller."""
        self.person = account
        self.idle.input()
        self._show_person()
        self._redraw_tiles()
        self._say("")

    def sign_out(self, reason: str = "signed out") -> None:
        """Signed out (or locked when idle): no commands and no patient initials until someone signs
        in; the tiles and the escalated list stay on screen."""
        if self.person is None:
            return
        self.person = None
        self.mine_only = False
        self.mine_button.setChecked(False)
        self._show_person()
        self._redraw_tiles()
        self._regroup(force=True)
        if reason == "idle":
            self._say("Locked after no input: sign in (badge or ID, then PIN) to acknowledge or see initials")

    def _show_person(self) -> None:
        person = self.person
        self.who_label.setText(
            f"{person.name} ({person.id}), {person.role.label}" if person else "Locked: nobody signed in"
        )
        self.sign_button.setText("Sign out" if person else "Sign in…")
        self.mine_button.setEnabled(person is not None)

    # -- acknowledgements ---------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.answer_label.setText(text)
        self.answer_label.setVisible(bool(text))

    def _station_name(self, sid: str) -> str:
        info = self.model.stations.get(sid)
        return info.name if info is not None else sid

    def acknowledge(self, key: Key, alarm_id: str) -> str | None:
        """Send the signed acknowledgement as the person signed in here; the answer shows when it
        comes (by command id). Refused at once when the station is offline or nobody is signed in."""
        if self.board_mode:
            return None
        name = self._station_name(key[0])
        info = self.model.stations.get(key[0])
        since = info.stale_since(self.model.clock()) if info is not None else _EPOCH
        if since is not None:
            when = hhmm(since) if since is not _EPOCH else "--:--"
            self._say(f"{name} is offline since {when}: not sent. Go to the station")
            return None
        person = self.person
        if person is None:
            self._say("Sign in first (badge or ID, then PIN): the station records who acknowledged")
            return None
        alarm = next((a for a in self.model.snapshots[key].alarms if a.id == alarm_id), None)
        if alarm is not None and alarm.escalated and not allows(person.role, Action.ACKNOWLEDGE_ESCALATION):
            self._say(
                f"{person.id} ({person.role.label}) may not acknowledge an escalated alarm: a charge nurse must"
            )
            return None
        if self.identity is None:
            self._say("Not sent: this overview has no key to sign its commands")
            return None
        if self.link is None or not self.link.connected:
            self._say("Not sent: the broker is unreachable")
            return None
        self.idle.input()
        command_id = self.link.acknowledge(key[0], key[1], alarm_id, person, self.identity)
        self._pending[command_id] = (key, alarm_id, time.monotonic())
        self._say(f"Sent to {name} · {key[1]}: waiting for the station")
        return command_id

    def _answers(self) -> None:
        for command_id, (key, _alarm, _sent) in list(self._pending.items()):
            answer = self.model.answers.get(command_id)
            if answer is None:
                continue
            del self._pending[command_id]
            name = self._station_name(key[0])
            if answer.done:
                self._say(f"{name} · {key[1]}: {answer.message}")
            else:
                self._say(f"{name} · {key[1]}: NOT acknowledged: {answer.message}")


def overview_settings(args: argparse.Namespace) -> BrokerSettings:
    table: dict[str, Any] = {"url": args.broker, "allow_plaintext": bool(args.allow_plaintext)}
    if args.username:
        table["username"] = args.username
    for key in ("password_file", "ca_file"):
        value = getattr(args, key, None)
        if value is not None:
            table[key] = str(value)
    return parse_broker(table)


def run(
    args: argparse.Namespace,
    accounts: AccountStore | None = None,
    identity: OverviewIdentity | None = None,
) -> int:
    from app.station.speaker import PulseSpeaker
    from app.ui.theme import apply_theme

    try:
        settings = overview_settings(args)
    except BrokerError as error:
        print(f"chairside: {error}", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("Chairside floor")
    apply_theme(app)
    link = FloorLink(settings, name=identity.name if identity is not None else args.name)
    speaker: Speaker | None = None
    if not args.screenshot:
        speaker = PulseSpeaker(load_alarm_sounds().sample_rate_hz, lambda _status: None)
    window = FloorOverviewWindow(
        link,
        accounts=accounts,
        identity=identity,
        board=bool(args.board),
        idle_lock_min=args.idle_lock_min,
        speaker=speaker,
    )
    link.start()
    if args.window_size:
        window.resize(*args.window_size)
        window.show()
    elif args.screenshot:
        window.resize(1920, 1080)
        window.show()
    elif args.board:
        window.showFullScreen()
    else:
        window.showMaximized()
    if args.quit_after is not None:

        def finish() -> None:
            try:
                if args.screenshot:
                    window.tick()
                    app.processEvents()
                    path = Path(args.screenshot)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    window.grab().save(str(path))
                    print(f"saved {path}")
            finally:
                window.close()
                app.quit()

        QTimer.singleShot(round(args.quit_after * 1000), finish)
    try:
        return int(app.exec())
    finally:
        link.stop()
        window.sound.close()
