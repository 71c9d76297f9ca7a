"""`chairside overview --broker URL`: the charge nurse's screen over every chair of every station.

It subscribes to the stations' retained status and chair topics (docs/mqtt.md). paho's network thread
only queues what arrives and wakes the GUI thread with one queued signal per batch; the model
(`FloorModel`, a table model) keeps the latest state of every chair and says which rows changed. A
station that said offline, or that has been silent longer than its keepalive, has all its tiles greyed
with "no data since HH:MM". Escalated alarms are listed; acknowledging one publishes a command the
station journals with the charge nurse's identity and answers on the chair's topic.
"""

from __future__ import annotations

import argparse
import collections
import json
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

import paho.mqtt.client as mqtt
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.station.broker import TOPIC_PREFIX, BrokerError, BrokerSettings, commands_topic, parse_broker
from app.station.publish import make_client
from app.station.status_text import hhmm
from app.ui.elided import set_style_property
from app.ui.tile import CompactTile, TileBoard, TileView, tile_view

log = logging.getLogger(__name__)

_Index = QModelIndex | QPersistentModelIndex
Key = tuple[str, str]  # (station id, chair name)
ViewRole = Qt.ItemDataRole.UserRole + 1
KeyRole = Qt.ItemDataRole.UserRole + 2
COLUMNS = ("Station", "Chair", "Patient", "Phase", "Pump / plan", "Next", "Alarm", "Data")


def _time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


@dataclass
class StationInfo:
    id: str
    name: str
    state: str | None = None  # "online" | "offline" | None (nothing said yet)
    keepalive_s: float = 10.0
    last_seen: float | None = None  # wall time of the last sign of life

    def stale_since(self, now: float) -> datetime | None:
        """When the floor last heard from a station that is offline or silent past its keepalive."""
        silent = self.last_seen is None or now - self.last_seen > self.keepalive_s
        if self.state == "offline" or silent:
            return datetime.fromtimestamp(self.last_seen, UTC) if self.last_seen is not None else _EPOCH
        return None


_EPOCH = datetime.fromtimestamp(0, UTC)


class FloorModel(QAbstractTableModel):
    """One row per chair of every station, in station then chair order; `ViewRole` gives the tile's
    `TileView`. Fed with raw MQTT messages (`apply`); `refresh(now)` re-evaluates the clocks."""

    def __init__(self, parent: QObject | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(parent)
        self.clock = clock
        self.keys: list[Key] = []
        self.snapshots: dict[Key, dict[str, Any]] = {}
        self.views: dict[Key, TileView] = {}
        self.stations: dict[str, StationInfo] = {}
        self.latencies_s: collections.deque[float] = collections.deque(maxlen=200_000)
        """Publish-to-model latency of every live chair message (the bench reads it)."""
        self.applied = 0

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
        """Take a batch of (topic, payload, retained, received at); the chairs it changed."""
        touched: set[Key] = set()
        for topic, raw, retained, received in messages:
            parts = topic.split("/")
            if len(parts) < 4 or "/".join(parts[:2]) != TOPIC_PREFIX:
                continue
            try:
                payload = json.loads(raw)
            except ValueError:
                log.warning("overview: a message on %s is not JSON; ignored", topic)
                continue
            if not isinstance(payload, dict):
                continue
            station_id, kind = parts[2], parts[3]
            info = self.station(station_id)
            if isinstance(payload.get("station"), str):
                info.name = payload["station"]
            sent = _time(payload.get("published_at") or payload.get("at"))
            # A retained message tells when it was sent, not that the station is alive now
            seen = min(received, sent) if retained and sent is not None else received
            if kind == "status":
                info.state = str(payload.get("state"))
                if isinstance(payload.get("keepalive_s"), int | float):
                    info.keepalive_s = float(payload["keepalive_s"])
                if info.state != "offline":
                    info.last_seen = max(info.last_seen or 0.0, seen)
                touched.update(k for k in self.keys if k[0] == station_id)
            elif kind == "chairs" and len(parts) >= 5 and isinstance(payload.get("chair"), str):
                key = (station_id, payload["chair"])
                info.last_seen = max(info.last_seen or 0.0, seen)
                if not retained and sent is not None:
                    self.latencies_s.append(received - sent)
                self._store(key, payload)
                touched.add(key)
                self.applied += 1
        return self.refresh(only=touched) | touched if touched else set()

    def _store(self, key: Key, payload: dict[str, Any]) -> None:
        if key in self.snapshots:
            self.snapshots[key] = payload
            return
        order = (self.stations[key[0]].name.casefold(), key[0], payload.get("index") or 0, key[1])

        def sort_key(k: Key) -> tuple[str, str, int, str]:
            return (self.stations[k[0]].name.casefold(), k[0], self.snapshots[k].get("index") or 0, k[1])

        row = 0
        while row < len(self.keys) and sort_key(self.keys[row]) < order:
            row += 1
        self.beginInsertRows(QModelIndex(), row, row)
        self.keys.insert(row, key)
        self.snapshots[key] = payload
        self.views[key] = tile_view(payload, datetime.now(UTC))
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
            view = tile_view(
                self.snapshots[key],
                moment,
                stale=since is not None,
                stale_since=None if since is _EPOCH else since,
            )
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

    def escalated(self) -> list[tuple[Key, dict[str, Any]]]:
        """Escalated, unacknowledged alarms of stations the floor hears from, most important first."""
        found: list[tuple[Key, dict[str, Any]]] = []
        for key in self.keys:
            if self.views[key].stale:
                continue
            for alarm in self.snapshots[key].get("alarms") or []:
                if isinstance(alarm, dict) and alarm.get("escalated") and not alarm.get("acknowledged"):
                    found.append((key, alarm))
        rank = {"high": 0, "medium": 1, "low": 2}
        found.sort(
            key=lambda item: (rank.get(str(item[1].get("priority")), 3), str(item[1].get("raised_at")))
        )
        return found


class FloorLink(QObject):
    """The overview's broker connection. paho's thread queues messages and emits `arrived` (queued to
    the GUI thread) once per batch."""

    arrived = Signal()
    connection_changed = Signal(bool, str)

    def __init__(self, settings: BrokerSettings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._queue: collections.deque[tuple[str, bytes, bool, float]] = collections.deque()
        self._lock = threading.Lock()
        self._pending = False
        self.connected = False
        self.client = make_client(settings, f"chairside-overview-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self) -> None:
        self.client.connect_async(self.settings.host, self.settings.port, keepalive=10)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.connection_changed.emit(False, f"the broker refused the overview: {reason}")
            return
        client.subscribe([(f"{TOPIC_PREFIX}/+/status", 1), (f"{TOPIC_PREFIX}/+/chairs/+", 1)])
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

    def acknowledge(self, station_id: str, chair: str, alarm_id: str, by: str) -> str:
        """Publish the acknowledgement; the command's id (the station answers with it)."""
        command_id = uuid.uuid4().hex
        payload = {
            "id": command_id,
            "command": "acknowledge",
            "chair": chair,
            "alarm": alarm_id,
            "by": by,
            "sent_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        self.client.publish(commands_topic(station_id), json.dumps(payload), qos=1)
        return command_id


class EscalatedPanel(QFrame):
    """The escalated alarms, each with its Acknowledge button."""

    acknowledge = Signal(object, object)  # key, alarm

    MAX_LINES = 3

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("escalatedPanel")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(8, 4, 8, 4)
        self._layout.setSpacing(2)
        self.summary = QLabel("No escalated alarms")
        self.summary.setObjectName("escalatedLine")
        self._layout.addWidget(self.summary)
        self._rows: list[QWidget] = []
        self._shown: list[tuple[Key, str]] = []
        self.buttons: list[QPushButton] = []
        self.lines: list[QLabel] = []

    def show_alarms(self, alarms: list[tuple[Key, dict[str, Any]]], names: dict[str, str]) -> None:
        shown = [(key, str(alarm.get("id"))) for key, alarm in alarms]
        if shown == self._shown:
            return
        self._shown = shown
        for row in self._rows:
            row.deleteLater()
        self._rows, self.buttons, self.lines = [], [], []
        more = len(alarms) - self.MAX_LINES
        self.summary.setText(
            "No escalated alarms"
            if not alarms
            else f"⚠ {len(alarms)} escalated alarm{'s' if len(alarms) > 1 else ''}: acknowledge to tell the station"
            + (f" ({more} more below the first {self.MAX_LINES})" if more > 0 else "")
        )
        for key, alarm in alarms[: self.MAX_LINES]:
            row = QWidget(self)
            line = QHBoxLayout(row)
            line.setContentsMargins(0, 0, 0, 0)
            marker = {"high": "!!!", "medium": "!!", "low": "!"}.get(str(alarm.get("priority")), "!")
            raised = _time(alarm.get("raised_at"))
            since = hhmm(datetime.fromtimestamp(raised, UTC)) if raised is not None else "--:--"
            text = (
                f"{marker} {str(alarm.get('priority', '')).upper()}  {names.get(key[0], key[0])} · {key[1]}:  "
                f"{str(alarm.get('message', '')).replace(f'{key[1]}: ', '', 1)}  (since {since})"
            )
            label = QLabel(text)
            label.setObjectName("escalatedLine")
            button = QPushButton("Acknowledge")
            button.setObjectName("primaryButton")
            button.clicked.connect(lambda _=False, key=key, alarm=alarm: self.acknowledge.emit(key, alarm))
            line.addWidget(label, 1)
            line.addWidget(button)
            self._layout.addWidget(row)
            self._rows.append(row)
            self.buttons.append(button)
            self.lines.append(label)


class FitScrollArea(QScrollArea):
    """Tells when its viewport changes size (the board is placed to fit it)."""

    def __init__(self, on_resize: Callable[[], None]) -> None:
        super().__init__()
        self._on_resize = on_resize

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._on_resize()


class FloorOverviewWindow(QMainWindow):
    def __init__(
        self, link: FloorLink | None, model: FloorModel | None = None, charge_nurse: str = ""
    ) -> None:
        super().__init__()
        self.setWindowTitle("Chairside: the floor")
        self.link = link
        self.model = model or FloorModel(self)
        self.urgent_first = False
        self.tiles: dict[Key, CompactTile] = {}
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(6, 4, 6, 4)
        outer.setSpacing(4)
        bar = QHBoxLayout()
        title = QLabel("The floor")
        title.setObjectName("chairTitle")
        self.broker_label = QLabel("… connecting to the broker")
        self.broker_label.setObjectName("brokerState")
        self.order_button = QPushButton("Urgent first")
        self.order_button.setCheckable(True)
        self.order_button.toggled.connect(self.set_urgent_first)
        self.identity = QLineEdit(charge_nurse)
        self.identity.setPlaceholderText("charge nurse: type or scan your ID")
        self.identity.setMinimumWidth(260)
        self.clock_label = QLabel()
        self.clock_label.setObjectName("clockLabel")
        self.answer_label = QLabel()
        self.answer_label.setObjectName("floorMessage")
        bar.addWidget(title)
        bar.addSpacing(12)
        bar.addWidget(self.broker_label)
        bar.addStretch(1)
        bar.addWidget(self.answer_label)
        bar.addWidget(QLabel("Charge nurse:"))
        bar.addWidget(self.identity)
        bar.addWidget(self.order_button)
        bar.addWidget(self.clock_label)
        outer.addLayout(bar)
        self.escalated_panel = EscalatedPanel()
        self.escalated_panel.acknowledge.connect(self.acknowledge)
        outer.addWidget(self.escalated_panel)
        self.scroll_area = FitScrollArea(self._fit)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidgetResizable(False)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.board = TileBoard()
        self.scroll_area.setWidget(self.board)
        outer.addWidget(self.scroll_area, 1)
        self.setCentralWidget(central)
        self._pending: dict[str, tuple[Key, str]] = {}
        self.model.rowsInserted.connect(self._rows_inserted)
        self.model.dataChanged.connect(self._data_changed)
        if link is not None:
            link.arrived.connect(self._take)
            link.connection_changed.connect(self._connection)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.tick)
        self._timer.start()
        self._order: list[Key] = []
        self.busy_s = 0.0
        """GUI-thread time spent on what arrived and on the 1 s tick (the bench reads it)."""
        self.tick()

    # -- arrivals -------------------------------------------------------------------------------------

    def _take(self) -> None:
        if self.link is None:
            return
        started = time.perf_counter()
        self.model.apply(self.link.take())
        self._answers()
        self._update_headings()
        self.busy_s += time.perf_counter() - started

    def _connection(self, connected: bool, reason: str) -> None:
        self.broker_label.setText("● broker connected" if connected else f"✕ broker unreachable: {reason}")
        self.broker_label.setProperty("problem", not connected)
        self.broker_label.style().polish(self.broker_label)

    def tick(self) -> None:
        started = time.perf_counter()
        self.clock_label.setText(datetime.now().astimezone().strftime("%H:%M"))
        self.model.refresh()
        self._regroup()
        self._update_headings()
        self.escalated_panel.show_alarms(
            self.model.escalated(), {s: i.name for s, i in self.model.stations.items()}
        )
        self.busy_s += time.perf_counter() - started

    def _rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        for row in range(first, last + 1):
            key = self.model.keys[row]
            tile = CompactTile(f"{key[0]}/{key[1]}", self.board)
            tile.show_station = self.urgent_first
            tile.show_view(self.model.views[key])
            self.tiles[key] = tile
        self._regroup(force=True)

    def _data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, _roles: Any = None) -> None:
        for row in range(top_left.row(), bottom_right.row() + 1):
            key = self.model.keys[row]
            tile = self.tiles.get(key)
            if tile is not None:
                tile.show_view(self.model.views[key])

    # -- layout -------------------------------------------------------------------------------------------

    def set_urgent_first(self, urgent: bool) -> None:
        self.urgent_first = urgent
        self.order_button.setText("By station" if urgent else "Urgent first")
        for tile in self.tiles.values():
            tile.show_station = urgent
            view, tile.view = tile.view, None
            if view is not None:
                tile.show_view(view)
        self._regroup(force=True)

    def _regroup(self, force: bool = False) -> None:
        keys = self.model.keys
        if self.urgent_first:
            order = sorted(keys, key=lambda k: (self.model.views[k].urgency(), k))
        else:
            order = list(keys)
        if order == self._order and not force:
            return
        self._order = order
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
            heading = self.board.heading(sid)
            heading.setText(f"{info.name}  ·  {counts[sid]} chairs  ·  {state}")
            set_style_property(heading, "stale", since is not None)

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

    # -- acknowledgements ---------------------------------------------------------------------------------

    def acknowledge(self, key: Key, alarm: dict[str, Any]) -> None:
        """Send the acknowledgement as the identified charge nurse; the answer shows when it comes."""
        by = self.identity.text().strip()
        if not by:
            self.answer_label.setText("Type or scan your ID first: the station records who acknowledged")
            self.identity.setFocus()
            return
        if self.link is None or not self.link.connected:
            self.answer_label.setText("Not sent: the broker is unreachable")
            return
        command_id = self.link.acknowledge(key[0], key[1], str(alarm.get("id")), by)
        self._pending[command_id] = (key, str(alarm.get("id")))
        self.answer_label.setText(
            f"Sent to {self.model.stations[key[0]].name} · {key[1]}: waiting for the station"
        )

    def _answers(self) -> None:
        for command_id, (key, _alarm) in list(self._pending.items()):
            answer = self.model.snapshots.get(key, {}).get("answer")
            if isinstance(answer, dict) and answer.get("id") == command_id:
                del self._pending[command_id]
                name = self.model.stations[key[0]].name
                if answer.get("result") == "done":
                    self.answer_label.setText(f"{name} · {key[1]}: {answer.get('message')}")
                else:
                    self.answer_label.setText(f"{name} · {key[1]}: NOT acknowledged: {answer.get('message')}")


def overview_settings(args: argparse.Namespace) -> BrokerSettings:
    table: dict[str, Any] = {"url": args.broker, "allow_plaintext": bool(args.allow_plaintext)}
    if args.username:
        table["username"] = args.username
    for key in ("password_file", "ca_file"):
        value = getattr(args, key, None)
        if value is not None:
            table[key] = str(value)
    return parse_broker(table)


def run(args: argparse.Namespace) -> int:
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
    link = FloorLink(settings)
    window = FloorOverviewWindow(link, charge_nurse=args.charge_nurse or "")
    link.start()
    if args.window_size:
        window.resize(*args.window_size)
        window.show()
    elif args.screenshot:
        window.resize(1920, 1080)
        window.show()
    else:
        window.showMaximized()
    if args.quit_after is not None:

        def finish() -> None:
            if args.screenshot:
                window.tick()
                app.processEvents()
                path = Path(args.screenshot)
                path.parent.mkdir(parents=True, exist_ok=True)
                window.grab().save(str(path))
                print(f"saved {path}")
            window.close()
            app.quit()

        QTimer.singleShot(round(args.quit_after * 1000), finish)
    try:
        return int(app.exec())
    finally:
        link.stop()
