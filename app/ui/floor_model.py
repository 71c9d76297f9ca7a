"""The floor overview's model: one row per chair of every station, fed with raw MQTT messages, each
parsed into its topic's type (app.station.floor_messages) before anything uses it. A message that does
not fit is dropped with one log line and marks its chair (or its station) unreadable; a station's name
comes from its topic; nothing a station publishes can stop the model or the other stations.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
)

from app.domain.clock_face import ClockFace
from app.station.broker import (
    RESERVED_USERS,
    TOPIC_PREFIX,
    chair_id,
    station_id,
)
from app.station.floor_messages import (
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
from app.ui.tile import TileView, station_face, tile_view

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
    warnings: tuple[str, ...] = ()
    """What the station's services say need someone to see (its status message)."""
    unreadable: dict[str, str] = field(default_factory=dict)
    """Topics of this station whose last message was dropped (its status, a chair not on the floor
    yet), and why; each one clears when that topic reads again."""
    face: ClockFace = field(default_factory=ClockFace.of)
    """The station's clock face, as its status and chair messages name it (`display_tz`)."""

    def named_zone(self, name: str | None) -> bool:
        """Take the zone a message names; True when the face changed."""
        if name is None or name == self.face.name:
            return False
        self.face = station_face(name)
        return True

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
                self._readable_again(topic)
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
            info.name, info.state, info.keepalive_s = status.station, status.state, status.keepalive_s
            info.warnings = status.warnings
            info.named_zone(status.display_tz)
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
            touched = {k for k in self.keys if k[0] == sid} if info.named_zone(chair.display_tz) else set()
            sent = chair.published_at.timestamp() if chair.published_at is not None else None
            seen = min(received, sent) if retained and sent is not None else received
            info.last_seen = max(info.last_seen or 0.0, seen)
            if not retained and sent is not None:
                self.latencies_s.append(received - sent)
            self.unreadable.pop(key, None)
            self._store(key, chair)
            self.applied += 1
            return {key} | touched
        if kind == "chairs" and len(parts) == 6 and parts[5] == "readings":
            readings = parse_readings(raw)
            self._check_station(sid, readings.station)
            if chair_id(readings.chair) != parts[4]:
                raise MessageRefused(f"chair {readings.chair[:40]!r} published on another chair's topic")
            self.readings[(sid, readings.chair)] = readings
            return set()
        if kind == "answers" and len(parts) == 4:
            answer = parse_answer(raw)
            self.answers[answer.id] = answer
            while len(self.answers) > MAX_ANSWERS:
                self.answers.popitem(last=False)
            return set()
        return set()

    def _readable_again(self, topic: str) -> None:
        parts = topic.split("/")
        info = self.stations.get(parts[2]) if len(parts) > 2 else None
        if info is not None:
            info.unreadable.pop(topic, None)
        self._complained.discard(topic)

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
        unreadable = self.stations[sid].unreadable
        if len(unreadable) < 100 or topic in unreadable:  # bounded: a station may write any topic of its own
            unreadable[topic] = reason
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
        self.views[key] = tile_view(chair, datetime.now(UTC), face=self.stations[key[0]].face)
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
                    face=self.stations[key[0]].face,
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
