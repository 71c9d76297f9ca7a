"""The compact chair tile, shared by the floor overview (every station, through the broker) and the
station's own dense overview: 48 fit on 1920x1080 and 24 on 1366x768 without scrolling.

`tile_view` turns a chair's published state (app.station.snapshot, docs/mqtt.md) into the tile's
words; `CompactTile` shows them; `TileBoard` places tiles, grouped under headings, so they all fit.
A tile whose station has gone quiet is grey and says since when: stale values are never shown as
current.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QMouseEvent, QResizeEvent
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSizePolicy, QWidget

from app.domain.alarms import alarm_name
from app.domain.clock_face import ClockFace
from app.domain.phase import Phase
from app.station.floor_messages import ChairMessage
from app.station.status_text import Priority, session_style
from app.ui.elided import ElidedLabel, FittedLabel

STALE_STYLE = ("#c9ccd1", "#4a4f57")  # background, text: a station that has gone quiet


@dataclass(frozen=True)
class TileView:
    """What one tile says, as text and style keys (no Qt)."""

    chair: str
    station: str
    initials: str
    phase: Phase
    phase_text: str
    pump_text: str
    next_text: str
    urgent: bool
    priority: Priority | None
    alarm_text: str
    escalated: bool
    link_text: str
    stale_text: str = ""
    present: bool = False
    """A patient sits in the chair (a session under way): their alarms outrank an empty chair's."""
    nurse: str = ""
    """The nurse responsible for the patient (the "my chairs" filter)."""
    next_short: str = ""
    """The countdown with its time first, for the wall board's narrow lines ("" : as `next_text`)."""
    stopped_for_good: bool = False  # observed after a discontinuation: styled "Stopped for good"
    anaphylaxis: bool = False  # shown red whatever the phase (issue 16)
    alarm_name: str = ""
    """The top alarm's name in a few words ("link lost"): the tile's line says its priority and this;
    `alarm_text`, the whole of it, is one hover (or the opened chair) away."""
    unreadable: bool = False
    """The latest message for this chair did not parse (the last good state is shown)."""

    @property
    def stale(self) -> bool:
        return bool(self.stale_text)

    def urgency(self) -> tuple[int, int, int, int, int, str]:
        """Sort key, most urgent first: a patient's alarms by priority (escalated first), then an empty
        chair's (a technical alarm on an empty chair never hides a patient's), pump instructions, then
        quiet stations (unknown is not fine), then the rest."""
        rank = self.priority_rank()
        return (
            0 if rank and self.present else 1,
            -rank,
            0 if self.escalated else 1,
            0 if self.urgent else 1,
            0 if self.stale else 1,
            self.chair,
        )

    def priority_rank(self) -> int:
        if self.stale or self.priority is None:
            return 0
        return self.priority.value


UNREADABLE = "⚠ data from this station unreadable"


def station_face(name: object) -> ClockFace:
    """The clock face a station's message names (`display_tz`); this computer's when it names none or
    a zone this computer does not know (one odd message never stops the floor)."""
    try:
        return ClockFace.of(name if isinstance(name, str) else None)
    except ValueError:
        return ClockFace.of(None)


def _rate(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def due_text(label: str, due: datetime, now: datetime, *, when_first: bool = False) -> str:
    """'Step-up in 12 min', 'Step-up due now', 'Step-up 3 min overdue' (rounded towards the deadline);
    `when_first`: '12 min: Step-up', 'now: Step-up', '3 min LATE: Step-up' (the wall board, whose
    narrow lines cut the end)."""
    seconds = (due - now).total_seconds()
    if abs(seconds) < 60:
        return f"now: {label}" if when_first else f"{label} due now"
    if seconds > 0:
        minutes = math.ceil(seconds / 60)
        return f"{minutes} min: {label}" if when_first else f"{label} in {minutes} min"
    late = math.floor(-seconds / 60)
    return f"{late} min LATE: {label}" if when_first else f"{label} {late} min overdue"


def tile_view(
    chair_state: ChairMessage,
    now: datetime,
    *,
    stale: bool = False,
    stale_since: datetime | None = None,
    unreadable: bool = False,
    face: ClockFace | None = None,
) -> TileView:
    """The tile's words from a chair's parsed state; `stale`: the station is offline or silent (last
    heard of at `stale_since`); `unreadable`: its latest message for this chair did not parse (the
    last good state is shown with that warning). Times on the station's clock face (`face`; by
    default the zone the message names)."""
    m = chair_state
    chair = m.chair
    phase = m.phase
    anaphylaxis = m.anaphylaxis is not None
    stopped_for_good = m.delivery is not None and m.delivery.stopped_for_good
    style = session_style(phase, anaphylaxis, stopped_for_good)
    if stale or stale_since is not None:
        face = face or station_face(m.display_tz)
        since = face.at(stale_since, now)
        return TileView(
            chair,
            m.station,
            m.initials,
            phase,
            f"was {style.symbol} {style.word}",
            "",
            "",
            False,
            None,
            UNREADABLE if unreadable else "",
            False,
            "",
            stale_text=f"no data since {since}",
            present=m.patient_present,
            nurse=m.nurse,
            stopped_for_good=stopped_for_good,
        )
    pump_text = ""
    if phase is Phase.INFUSING:
        pump_text = f"Pump {_rate(m.pump.rate_ml_h)} / {_rate(m.pump.planned_rate_ml_h)} mL/h"
    elif phase is Phase.PAUSED:
        pump_text = f"Pump {_rate(m.pump.rate_ml_h)} / paused"
    nxt = m.next
    urgent = nxt.urgent
    next_short = ""
    if phase is Phase.EMPTY:
        next_text = ""
    elif urgent or nxt.due_at is None or not nxt.due_label:
        next_text = nxt.action
    else:
        label = nxt.due_label.replace("Next step", "Step")
        next_text = due_text(label, nxt.due_at, now)
        next_short = due_text(label, nxt.due_at, now, when_first=True)
    priority: Priority | None = None
    alarm_text = ""
    name = ""
    escalated = any(a.escalated and not a.acknowledged for a in m.alarms)
    if m.alarms:
        top = m.alarms[0]
        priority = Priority.parse(top.priority.value)
        message = top.message.replace(f"{chair}: ", "", 1)
        if priority is not None:  # the priority as symbol and word, always; escalation after it
            alarm_text = f"{priority.marker} {priority.name}{' ESCALATED' if escalated else ''} {message}"
            name = alarm_name(top.rule)
    vitals = m.vitals
    if vitals is not None and vitals.overdue and phase is not Phase.EMPTY and not urgent:
        urgent = True  # vital signs overdue outrank the next step on the tile (not a pump to stop now)
        next_text = f"⚠ Vitals overdue {max(1, math.floor((now - vitals.due_at).total_seconds() / 60))} min"
    if not alarm_text and m.notice:
        alarm_text = f"ℹ {m.notice.replace(f'{chair}: ', '', 1)}"
    if unreadable:
        alarm_text = f"{UNREADABLE}; {alarm_text}" if alarm_text else UNREADABLE
    link_text = ""
    if m.link.pump and m.link.state == "lost":
        link_text = "✕ link"
    elif m.link.pump and m.link.state in ("connecting", "negotiating"):
        link_text = "… link"
    return TileView(
        chair,
        m.station,
        m.initials,
        phase,
        f"{style.symbol} {style.word}",
        pump_text,
        next_text,
        urgent,
        priority,
        alarm_text,
        escalated,
        link_text,
        present=m.patient_present,
        nurse=m.nurse,
        next_short=next_short if next_text and not urgent else "",
        stopped_for_good=stopped_for_good,
        anaphylaxis=anaphylaxis,
        alarm_name=name,
        unreadable=unreadable,
    )


def alarm_forms(view: TileView) -> list[str]:
    """What a tile's alarm line may say, the fullest first (a tile shows the first that fits): the
    priority as marker and word and the alarm's short name, on one line or two (the marker goes
    first); news or a warning without a priority as it is."""
    if view.priority is None or not view.alarm_name:
        return [view.alarm_text] if view.alarm_text else []
    marker, word, name = view.priority.marker, view.priority.name, view.alarm_name
    # The marker (a shape, beside the colour) stays while there is room for it, on two lines if need be
    forms = [f"{marker} {word} · {name}", f"{marker} {word}\n{name}", f"{word} · {name}", f"{word}\n{name}"]
    if view.unreadable:  # the warning first where there is room for it
        forms = [f"{UNREADABLE}\n{form}" for form in forms] + forms
    return forms


class AlarmLine(FittedLabel):
    """The tile's alarm line: the first of its forms whose every line fits the width and whose lines
    fit the height it is given (never half a line); else the shortest, cut with "…"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.forms: list[str] = []
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(False)
        # Centred: a label aligned to its top adds its indent to the height it asks for
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setIndent(3)  # not a style sheet padding: that one adds to the size hint's height

    def set_forms(self, forms: list[str]) -> None:
        if forms != self.forms:
            self.forms = forms
            self._fit()

    def fits(self, form: str) -> bool:
        metrics = self.fontMetrics()
        area = self.contentsRect()
        lines = form.split("\n")
        return (
            all(metrics.horizontalAdvance(line) <= area.width() - self.indent() for line in lines)
            and metrics.height() * len(lines) <= area.height()
        )

    def _fit(self) -> None:
        shown = next((form for form in self.forms if self.fits(form)), None)
        if shown is None and self.forms:
            shortest = min((f for f in self.forms if "\n" not in f), key=len, default=self.forms[-1])
            width = max(1, self.contentsRect().width() - self.indent())
            shown = self.fontMetrics().elidedText(
                shortest.replace("\n", " "), Qt.TextElideMode.ElideRight, width
            )
        if self.text() != (shown or ""):
            self.setText(shown or "")


class CompactTile(QFrame):
    """One chair in five short lines: chair and initials; phase; pump against plan; next due; alarm."""

    clicked = Signal(str)

    def __init__(self, key: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.setObjectName("compactTile")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 2, 6, 2)  # five lines of text and an alarm border in 112 px
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(0)
        self.name_label = self._label("ctName", grid, 0, 0)
        self.link_label = self._label("ctLink", grid, 0, 1)
        self.initials_label = self._label("ctInitials", grid, 0, 2)
        self.initials_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.phase_label = self._label("ctPhase", grid, 1, 0, span=3)
        self.link_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.initials_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.pump_label = self._elided("ctPump", grid, 2)
        self.next_label = self._elided("ctNext", grid, 3)
        # The alarm's priority in words and its short name over the lines left (a touch screen cannot
        # hover): the whole text is the tile's tooltip and in the opened chair
        self.alarm_label = AlarmLine()
        self.alarm_label.setObjectName("ctAlarm")
        grid.addWidget(self.alarm_label, 4, 0, 1, 3)
        grid.setColumnStretch(0, 1)
        grid.setRowStretch(4, 1)
        self.view: TileView | None = None
        self.show_station = False
        self.board = False
        """On the wall board: countdowns with their time first."""
        self._style_key: tuple[Any, ...] | None = None
        self.restyles = 0

    @staticmethod
    def _label(name: str, grid: QGridLayout, row: int, column: int, span: int = 1) -> QLabel:
        label = QLabel()
        label.setObjectName(name)
        label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        label.setTextFormat(Qt.TextFormat.PlainText)
        grid.addWidget(label, row, column, 1, span)
        return label

    @staticmethod
    def _elided(name: str, grid: QGridLayout, row: int) -> ElidedLabel:
        """A line cut with "…" when it does not fit (the whole text is its tooltip)."""
        label = ElidedLabel()
        label.setObjectName(name)
        grid.addWidget(label, row, 0, 1, 3)
        return label

    def show_view(self, view: TileView) -> None:
        if view == self.view:
            return
        self.view = view
        name = f"{view.chair} · {view.station}" if self.show_station and view.station else view.chair
        self.name_label.setText(name)
        self.initials_label.setText(view.initials)
        self.link_label.setText(view.link_text)
        self.phase_label.setText(view.phase_text)
        self.pump_label.setText(view.stale_text or view.pump_text)
        self.next_label.setText((view.next_short or view.next_text) if self.board else view.next_text)
        self.alarm_label.set_forms(alarm_forms(view))
        self.alarm_label.setVisible(bool(view.alarm_text))
        self.setToolTip(view.alarm_text)
        self.setAccessibleName(f"{view.station} {view.chair}: {view.stale_text or view.phase_text}")
        self._restyle(view)

    def _restyle(self, view: TileView) -> None:
        key = (
            view.phase,
            view.stopped_for_good,
            view.priority,
            view.escalated,
            view.urgent,
            view.stale,
            view.anaphylaxis,
        )
        if key == self._style_key:
            return
        self._style_key = key
        self.restyles += 1
        style = session_style(view.phase, view.anaphylaxis, view.stopped_for_good)
        background, text = STALE_STYLE if view.stale else (style.colour, style.text_colour)
        priority = None if view.stale else view.priority
        border = priority.colour if priority is not None else ("#d0021b" if view.urgent else "#9aa3ad")
        width = 5 if view.escalated else 3 if priority is not None or view.urgent else 1
        alarm = f"background:{priority.colour}; color:{priority.text_colour};" if priority is not None else ""
        self.setStyleSheet(
            f"#compactTile {{ background:{background}; border:{width}px {'dashed' if view.stale else 'solid'} "
            f"{border}; border-radius:6px; }}"
            f"QLabel {{ color:{text}; background:transparent; }}"
            f"#ctAlarm {{ {alarm} font-weight:bold; border-radius:3px; }}"
            + ("#ctNext { color:#b00020; font-weight:bold; }" if view.urgent and not view.stale else "")
            + ("#ctPump { font-weight:bold; color:#222222; }" if view.stale else "")
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        event.accept()
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit(self.key)


TILE_MIN = (196, 112)
"""The smallest tile that still reads (five lines of 11-13 pt)."""
TILE_IDEAL = (250, 150)
HEADING_H = 26
GAP = 6


@dataclass(frozen=True)
class Placement:
    columns: int
    tile_w: int
    tile_h: int
    fits: bool


def place(
    width: int,
    height: int,
    groups: Sequence[int],
    tile_min: tuple[int, int] = TILE_MIN,
    heading_h: int = HEADING_H,
) -> Placement:
    """The columns and tile size that fit `groups` (tiles per heading; a heading each) in the space;
    the largest tiles that fit, else the smallest readable ones (and the board scrolls)."""
    total = sum(groups)
    if total == 0:
        return Placement(1, TILE_IDEAL[0], TILE_IDEAL[1], True)
    best: Placement | None = None
    best_score = -1.0
    for columns in range(1, 17):
        rows = sum(math.ceil(n / columns) for n in groups if n)
        tile_w = (width - GAP * (columns + 1)) // columns
        tile_h = (height - len([n for n in groups if n]) * heading_h - GAP * (rows + 1)) // max(rows, 1)
        if tile_w < tile_min[0] or tile_h < tile_min[1]:
            continue
        score = min(tile_w / TILE_IDEAL[0], tile_h / TILE_IDEAL[1])
        if score > best_score:
            best, best_score = Placement(columns, tile_w, min(tile_h, int(tile_w * 0.9)), True), score
    if best is not None:
        return best
    columns = max(1, (width - GAP) // (tile_min[0] + GAP))
    return Placement(columns, (width - GAP * (columns + 1)) // columns, tile_min[1], False)


class TileBoard(QWidget):
    """Tiles under headings, placed by hand so that they all fit (see `place`)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._groups: list[tuple[QLabel | None, list[CompactTile]]] = []
        self._headings: dict[str, QLabel] = {}
        self.placement = Placement(1, TILE_IDEAL[0], TILE_IDEAL[1], True)
        self.viewport_size = (0, 0)
        self.tile_min = TILE_MIN
        """The smallest tile that still reads (larger on the wall board)."""
        self.heading_h = HEADING_H

    def heading(self, key: str) -> QLabel:
        label = self._headings.get(key)
        if label is None:
            label = QLabel(self)
            label.setObjectName("boardHeading")
            self._headings[key] = label
        return label

    def set_groups(self, groups: Sequence[tuple[str | None, Sequence[CompactTile]]]) -> None:
        """[(heading key or None, tiles in order)]; headings are made with `heading` beforehand."""
        shown: set[str] = set()
        self._groups = []
        for key, tiles in groups:
            label = self._headings[key] if key is not None else None
            if key is not None:
                shown.add(key)
            self._groups.append((label, list(tiles)))
        for key, label in self._headings.items():
            label.setVisible(key in shown)
        self.relayout()

    def fit_to(self, width: int, height: int) -> None:
        self.viewport_size = (width, height)
        self.relayout()

    def relayout(self) -> None:
        width, height = self.viewport_size
        if width <= 0 or height <= 0:
            return
        p = place(
            width, height, [len(tiles) for _label, tiles in self._groups], self.tile_min, self.heading_h
        )
        self.placement = p
        y = GAP
        for label, tiles in self._groups:
            if label is not None:
                label.setGeometry(QRect(GAP, y, width - 2 * GAP, self.heading_h))
                label.show()
                y += self.heading_h
            for i, tile in enumerate(tiles):
                row, column = divmod(i, p.columns)
                tile.setGeometry(
                    QRect(GAP + column * (p.tile_w + GAP), y + row * (p.tile_h + GAP), p.tile_w, p.tile_h)
                )
                tile.show()
            if tiles:
                y += math.ceil(len(tiles) / p.columns) * (p.tile_h + GAP)
        self.setMinimumSize(0, y if not p.fits else 0)
        self.resize(width, max(height, y))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
