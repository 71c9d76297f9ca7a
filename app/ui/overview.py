"""The charge nurse's overview: a table model over every chair, and a grid of tiles bound to it."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.chairs import ChairController, FloorController
from app.domain.phase import Phase
from app.station.floor_messages import parse_chair
from app.station.snapshot import chair_snapshot
from app.station.status_text import (
    PhaseStyle,
    Priority,
    dose_rate_text,
    link_text,
    next_action,
    next_deadline,
    phase_style,
    progress,
    vitals_text,
)
from app.ui.elided import ElidedLabel, short_protocol_name
from app.ui.tile import CompactTile, TileBoard, tile_view

_Index = QModelIndex | QPersistentModelIndex


class Column(IntEnum):
    CHAIR = 0
    PATIENT = 1
    PROTOCOL = 2
    PHASE = 3
    RATE = 4
    NEXT = 5
    PROGRESS = 6
    ALARM = 7
    ESCALATED = 8
    LINK = 9


HEADERS = {
    Column.CHAIR: "Chair",
    Column.PATIENT: "Patient",
    Column.PROTOCOL: "Protocol",
    Column.PHASE: "Phase",
    Column.RATE: "Pump / plan",
    Column.NEXT: "Next",
    Column.PROGRESS: "Progress",
    Column.ALARM: "Alarm",
    Column.ESCALATED: "Escalated",
    Column.LINK: "Pump link",
}

# Roles the tiles read (raw values, not display text)
PhaseRole = Qt.ItemDataRole.UserRole + 1
ProgressRole = Qt.ItemDataRole.UserRole + 2
PriorityRole = Qt.ItemDataRole.UserRole + 3
EscalatedRole = Qt.ItemDataRole.UserRole + 4
UrgentRole = Qt.ItemDataRole.UserRole + 5
ChairRole = Qt.ItemDataRole.UserRole + 6
TileViewRole = Qt.ItemDataRole.UserRole + 7  # the compact tile's words (app.ui.tile), as on the floor
StyleRole = Qt.ItemDataRole.UserRole + 8  # the phase's style (observed after a discontinuation: stopped)


def notification(chair: ChairController) -> str:
    """The chair's latest notification ("infusion complete", "observation complete"): news shown on the
    tile without an alarm's colour or marker; it never escalates."""
    notes = [a for a in chair.active_alarms if not a.category.is_alarm]
    return notes[-1].message if notes else ""


def highest_alarm(chair: ChairController) -> tuple[Priority | None, str, bool]:
    """(priority, message, escalated) of the chair's most important alarm; a journal that cannot be
    written outranks everything (nothing the nurse enters is being kept)."""
    if chair.journal_problem:
        return Priority.HIGH, f"NOT RECORDED: {chair.journal_problem}", True
    alarms = [a for a in chair.active_alarms if a.category.is_alarm]  # notifications are not alarms
    if not alarms:
        return None, "", False
    top = alarms[0]
    escalated = bool(chair.escalated_alarms())
    return Priority.parse(top.priority), top.message, escalated


class ChairTableModel(QAbstractTableModel):
    """One row per chair. Rows are fixed (chairs do not come and go); cells change with the chair's
    signals and with the floor's 1 s tick (countdowns)."""

    def __init__(self, floor: FloorController) -> None:
        super().__init__(floor)
        self._floor = floor
        self._zone = floor.station.display_tz  # the configured display zone (None: this computer's)
        self._policy = floor.station.alarm_policy
        for row, chair in enumerate(floor.chairs):
            chair.changed.connect(lambda row=row: self._row_changed(row))
            chair.telemetry_received.connect(lambda _t, row=row: self._row_changed(row))
            chair.alarms_changed.connect(lambda row=row: self._row_changed(row))
            chair.link_changed.connect(lambda _l, row=row: self._row_changed(row))
        floor.ticked.connect(self._tick)

    # -- Qt model API -------------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._floor.chairs)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(Column):
            return HEADERS[Column(section)]
        if orientation == Qt.Orientation.Vertical and 0 <= section < len(self._floor.chairs):
            return str(section + 1)
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._floor.chairs):
            return None
        if not 0 <= index.column() < len(Column):
            return None
        chair = self._floor.chairs[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(chair, column)
        if role == Qt.ItemDataRole.ToolTipRole and column is Column.ALARM:
            return highest_alarm(chair)[1] or notification(chair) or None
        if role == ChairRole:
            return chair.name
        if role == TileViewRole:  # the same words as the floor overview, from the same published state
            now = self._floor.now()
            snapshot = chair_snapshot(chair.session, now, station="", index=index.row() + 1, zone=self._zone)
            return tile_view(parse_chair(snapshot), now)
        if role == PhaseRole:
            state = chair.state
            return state.phase if state is not None else Phase.EMPTY
        if role == StyleRole:
            return self._style(chair)
        if role == ProgressRole:
            return self._progress(chair)
        if role == PriorityRole:
            return highest_alarm(chair)[0]
        if role == EscalatedRole:
            return highest_alarm(chair)[2]
        if role == UrgentRole:
            return next_action(
                chair.state, self._floor.now(), _pump_rate(chair), self._zone, policy=self._policy
            ).urgent
        if role == Qt.ItemDataRole.BackgroundRole and column is Column.PHASE:
            return QBrush(QColor(self._style(chair).colour))
        if role == Qt.ItemDataRole.ForegroundRole and column is Column.PHASE:
            return QBrush(QColor(self._style(chair).text_colour))
        if role == Qt.ItemDataRole.BackgroundRole and column is Column.ALARM:
            priority = highest_alarm(chair)[0]
            return QBrush(QColor(priority.colour)) if priority is not None else None
        if role == Qt.ItemDataRole.FontRole and column in (Column.CHAIR, Column.PHASE):
            font = QFont()
            font.setBold(True)
            return font
        return None

    # -- cells -----------------------------------------------------------------------------------------

    @staticmethod
    def _style(chair: ChairController) -> PhaseStyle:
        return phase_style(chair.state)

    @staticmethod
    def _phase(chair: ChairController) -> Phase:
        state = chair.state
        return state.phase if state is not None else Phase.EMPTY

    def _progress(self, chair: ChairController) -> float | None:
        telemetry = chair.telemetry
        volume = telemetry.volume_infused_ml if telemetry is not None and chair.pump_connected else None
        return progress(chair.state, self._floor.now(), volume)

    def _display(self, chair: ChairController, column: Column) -> str:
        state = chair.state
        now = self._floor.now()
        if column is Column.CHAIR:
            return chair.name
        if column is Column.PATIENT:
            return state.patient_initials if state is not None else ""
        if column is Column.PROTOCOL:
            return state.protocol.name if state is not None and state.protocol is not None else ""
        if column is Column.PHASE:
            style = self._style(chair)
            return f"{style.symbol} {style.word}"
        if column is Column.RATE:
            if state is None or state.phase not in (Phase.INFUSING, Phase.PAUSED):
                return ""
            pump = _pump_rate(chair)
            shown = "–" if pump is None else f"{pump:g}"
            if state.phase is Phase.PAUSED:
                return f"{shown} / paused"
            return f"{shown} / {dose_rate_text(state, state.planned_rate_ml_h(now))}"
        if column is Column.NEXT:
            action = next_action(state, now, _pump_rate(chair), self._zone, policy=self._policy)
            if action.urgent or state is None or state.phase in (Phase.DISCONTINUED, Phase.EMPTY):
                return action.text if state is not None else ""
            deadline = next_deadline(state, now)
            text = (
                f"{deadline.label} {deadline.text(now, self._zone)}" if deadline is not None else action.text
            )
            vitals = vitals_text(state, now)
            return f"{text}\n{vitals}" if vitals else text
        if column is Column.PROGRESS:
            value = self._progress(chair)
            return "" if value is None else f"{value * 100:.0f}%"
        if column is Column.ALARM:
            priority, message, _escalated = highest_alarm(chair)
            if priority is not None:
                return f"{priority.marker} {message}"
            note = notification(chair)
            return f"ℹ {note}" if note else ""
        if column is Column.ESCALATED:
            return "ESCALATED" if highest_alarm(chair)[2] else ""
        if column is Column.LINK:
            link = chair.link
            lost_since = chair.link_lost_since
            return link_text(
                chair.has_pump, link.status.value if link else None, lost_since, self._zone
            ).short
        return ""

    # -- updates ---------------------------------------------------------------------------------------

    def _row_changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(Column) - 1))

    def _tick(self, _now: object) -> None:
        if self._floor.chairs:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._floor.chairs) - 1, len(Column) - 1))


def _pump_rate(chair: ChairController) -> float | None:
    telemetry = chair.telemetry
    if telemetry is None or not chair.pump_connected:
        return None
    return telemetry.rate_ml_h if telemetry.state.is_delivering else 0.0


class ChairTile(QFrame):
    """One chair on the overview, bound to its model row. Phase by word, colour and symbol."""

    clicked = Signal(str)

    def __init__(
        self,
        model: ChairTableModel,
        row: int,
        parent: QWidget | None = None,
        *,
        dense: bool = False,
        follow_model: bool = True,
    ) -> None:
        super().__init__(parent)
        self._model = model
        self._row = row
        self.setObjectName("chairTile")
        self.setProperty("dense", dense)  # many chairs: smaller type (theme.py), more tiles a row
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumWidth(220 if dense else 260)  # the height follows the content (bounded lines)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(3)
        top = QHBoxLayout()
        self.name_label = QLabel()
        self.name_label.setObjectName("tileName")
        self.link_label = QLabel()  # the pump link, short (app.station.status_text.link_text)
        self.link_label.setObjectName("tileLink")
        self.patient_label = QLabel()
        self.patient_label.setObjectName("tilePatient")
        self.patient_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        top.addWidget(self.name_label)
        top.addStretch(1)
        top.addWidget(self.link_label)
        top.addSpacing(8)
        top.addWidget(self.patient_label)
        layout.addLayout(top)
        self.phase_label = QLabel()
        self.phase_label.setObjectName("tilePhase")
        layout.addWidget(self.phase_label)
        self.protocol_label = ElidedLabel()  # short name, cut with "…"; the full name is the tooltip
        self.protocol_label.setObjectName("tileProtocol")
        layout.addWidget(self.protocol_label)
        self.rate_label = QLabel()
        self.rate_label.setObjectName("tileRate")
        layout.addWidget(self.rate_label)
        # At most two lines each, so one long instruction cannot make a whole row of tiles tall
        self.next_label = ElidedLabel(max_lines=2)
        self.next_label.setObjectName("tileNext")
        layout.addWidget(self.next_label)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFixedHeight(18)
        layout.addWidget(self.progress_bar)
        self.alarm_label = ElidedLabel(max_lines=2)
        self.alarm_label.setObjectName("tileAlarm")
        layout.addWidget(self.alarm_label)
        layout.addStretch(1)
        self._style_key: tuple[PhaseStyle, Priority | None, bool, bool] | None = None
        self.restyles = 0  # how often the stylesheet was set (the bench and a test read it)
        if follow_model:  # the overview routes its model's changes itself (one slot, not one per tile)
            model.dataChanged.connect(self._on_data_changed)
        self.refresh()

    @property
    def roomy(self) -> bool:
        return bool(self.property("roomy"))

    def set_roomy(self, roomy: bool) -> None:
        """Large tiles (a few chairs on a big screen) get larger type (theme.py): read across the room."""
        if roomy == self.roomy:
            return
        self.setProperty("roomy", roomy)
        self.progress_bar.setFixedHeight(26 if roomy else 18)
        for label in (self.next_label, self.alarm_label):
            label.set_max_lines(3 if roomy else 2)
        self._style_key = None  # re-polish the labels under the new property
        self.refresh()

    @property
    def chair_name(self) -> str:
        return str(self._model.data(self._model.index(self._row, Column.CHAIR), ChairRole))

    def _on_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, _roles: Any = None) -> None:
        if top_left.row() <= self._row <= bottom_right.row():
            self.refresh()

    def _text(self, column: Column) -> str:
        value = self._model.data(self._model.index(self._row, column))
        return str(value) if value else ""

    def refresh(self) -> None:
        m = self._model
        index = m.index(self._row, Column.PHASE)
        phase: Phase = m.data(index, PhaseRole)
        style: PhaseStyle = m.data(index, StyleRole)
        priority: Priority | None = m.data(index, PriorityRole)
        escalated = bool(m.data(index, EscalatedRole))
        urgent = bool(m.data(index, UrgentRole))
        self.name_label.setText(self._text(Column.CHAIR))
        self.link_label.setText(self._text(Column.LINK))
        self.patient_label.setText(self._text(Column.PATIENT))
        self.phase_label.setText(self._text(Column.PHASE))
        protocol = self._text(Column.PROTOCOL)
        self.protocol_label.setText(short_protocol_name(protocol))
        self.protocol_label.set_tooltip(protocol)
        rate = self._text(Column.RATE)
        self.rate_label.setText(f"Pump {rate}" if rate else "")
        self.rate_label.setVisible(bool(rate))
        self.next_label.setText(self._text(Column.NEXT))
        value = m.data(index, ProgressRole)
        self.progress_bar.setVisible(value is not None and phase is not Phase.EMPTY)
        if value is not None:
            self.progress_bar.setValue(round(value * 1000))
            self.progress_bar.setFormat(f"{value * 100:.0f}%")
        # The tile already names its chair: "!! Chair 3: pump …" reads "!! pump …" on it
        alarm = self._text(Column.ALARM).replace(f"{self.name_label.text()}: ", "", 1)
        if escalated:
            alarm = f"ESCALATED {alarm}"
        self.alarm_label.setText(alarm)
        self.alarm_label.setVisible(bool(alarm))
        self.setAccessibleName(f"{self._text(Column.CHAIR)}: {style.word}")
        self._restyle(style, priority, escalated, urgent)

    def _restyle(self, style: PhaseStyle, priority: Priority | None, escalated: bool, urgent: bool) -> None:
        """Setting a stylesheet re-polishes the tile and every label in it: only when its look changes."""
        key = (style, priority, escalated, urgent)
        if key == self._style_key:
            return
        self._style_key = key
        self.restyles += 1
        border = priority.colour if priority is not None else ("#d0021b" if urgent else "#9aa3ad")
        width = 6 if escalated else 4 if priority is not None or urgent else 1
        alarm_style = (
            f"background:{priority.colour}; color:{priority.text_colour};" if priority is not None else ""
        )
        self.setStyleSheet(
            f"#chairTile {{ background:{style.colour}; border:{width}px solid {border}; border-radius:8px; }}"
            f"QLabel {{ color:{style.text_colour}; background:transparent; }}"
            f"#tileAlarm {{ {alarm_style} font-weight:bold; padding:2px 4px; border-radius:4px; }}"
            + ("#tileNext { color:#b00020; font-weight:bold; }" if urgent else "")
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        event.accept()
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit(self.chair_name)


DENSE_ABOVE_CHAIRS = 8  # more chairs than this: smaller tiles, more of them a row
ROOMY_TILE = (480, 380)  # a tile at least this wide and high gets the larger type


class OverviewWidget(QScrollArea):
    """Every chair as a tile. A few chairs: large tiles in as many columns as fit (it scrolls when they
    do not). More than `DENSE_ABOVE_CHAIRS`: the compact tiles of the floor overview (app.ui.tile),
    placed so that 48 fit on 1920x1080 and 24 on 1366x768; it scrolls only beyond that."""

    chair_activated = Signal(str)

    def __init__(self, model: ChairTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.dense = model.rowCount() > DENSE_ABOVE_CHAIRS
        self.tiles: list[ChairTile] | list[CompactTile]
        self._columns = 0
        if self.dense:
            self.setWidgetResizable(False)
            self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.board = TileBoard()
            compact = []
            for row in range(model.rowCount()):
                tile = CompactTile(str(model.data(model.index(row, Column.CHAIR), ChairRole)), self.board)
                tile.clicked.connect(self.chair_activated)
                compact.append(tile)
            self.tiles = compact
            self.board.set_groups([(None, compact)])
            self.setWidget(self.board)
        else:
            self.setWidgetResizable(True)
            body = QWidget()
            self._grid = QGridLayout(body)
            self._grid.setSpacing(10)
            self._grid.setContentsMargins(10, 10, 10, 10)
            large = []
            for row in range(model.rowCount()):
                chair_tile = ChairTile(model, row, body, dense=False, follow_model=False)
                chair_tile.clicked.connect(self.chair_activated)
                large.append(chair_tile)
            self.tiles = large
            self.setWidget(body)
        model.dataChanged.connect(self._on_data_changed)
        self._refresh(0, model.rowCount() - 1)
        self._relayout()

    def _columns_for_width(self, width: int) -> int:
        count = len(self.tiles)
        fit = max(1, width // 300)
        return min(fit, 3 if count > 4 else max(1, count))

    def _on_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, _roles: Any = None) -> None:
        self._refresh(max(0, top_left.row()), bottom_right.row())

    def _refresh(self, first: int, last: int) -> None:
        for row in range(first, min(last, len(self.tiles) - 1) + 1):
            tile = self.tiles[row]
            if isinstance(tile, CompactTile):
                tile.show_view(self.model.data(self.model.index(row, 0), TileViewRole))
            else:
                tile.refresh()

    def grid_columns(self) -> int:
        return self.board.placement.columns if self.dense else self._columns

    def _relayout(self) -> None:
        if self.dense:
            self.board.fit_to(self.viewport().width(), self.viewport().height())
            return
        large = [t for t in self.tiles if isinstance(t, ChairTile)]
        columns = self._columns_for_width(self.viewport().width())
        # Decided from the space each tile gets, not from the tile's own size (its type changes that)
        rows = -(-len(large) // columns)
        roomy = (
            self.viewport().width() // columns >= ROOMY_TILE[0]
            and self.viewport().height() // rows >= ROOMY_TILE[1]
        )
        for tile in large:
            tile.set_roomy(roomy)
        if columns == self._columns:
            return
        self._columns = columns
        for tile in large:
            self._grid.removeWidget(tile)
        for i, tile in enumerate(large):
            self._grid.addWidget(tile, i // columns, i % columns)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._relayout()

    def tile(self, name: str) -> ChairTile | CompactTile:
        for tile in self.tiles:
            if (tile.key if isinstance(tile, CompactTile) else tile.chair_name) == name:
                return tile
        raise KeyError(name)
