"""The chair's live plot: planned vs pump rate, cumulative volume, reactions and pauses marked.

Data come from the chair controller's preallocated ring buffer; a timer redraws with `setData` only
when something changed, with clip-to-view and peak downsampling so a four-hour trace stays cheap.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont, QShowEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.chairs import ChairController
from app.domain.chair import ChairState
from app.domain.clock_face import ClockFace
from app.domain.phase import Phase

pg.setConfigOptions(antialias=True, background="w", foreground="#222")

PLANNED_PEN = pg.mkPen("#1f5fbf", width=3, style=pg.QtCore.Qt.PenStyle.DashLine)
PUMP_PEN = pg.mkPen("#0d7a2b", width=3)
VOLUME_PEN = pg.mkPen("#6b3fa0", width=3)
PLANNED_VOLUME_PEN = pg.mkPen("#6b3fa0", width=2, style=pg.QtCore.Qt.PenStyle.DotLine)
REACTION_PEN = pg.mkPen("#d0021b", width=3)
RATE_AXIS_COLOUR = "#0d5a22"
VOLUME_AXIS_COLOUR = "#6b3fa0"
_GAP = "&nbsp;&nbsp;&nbsp;"
LEGEND_HTML = (
    f'<b style="color:{RATE_AXIS_COLOUR}">Rate:</b> '
    f'<span style="color:#1f5fbf; font-weight:bold">╍╍ planned</span> '
    f'<span style="color:#0d7a2b; font-weight:bold">━━ pump</span>{_GAP}'
    f'<b style="color:{VOLUME_AXIS_COLOUR}">Volume:</b> '
    f'<span style="color:{VOLUME_AXIS_COLOUR}">┈┈ planned</span> '
    f'<span style="color:{VOLUME_AXIS_COLOUR}; font-weight:bold">━━ infused</span>{_GAP}'
    '<span style="color:#d0021b; font-weight:bold">┃ reaction</span>&nbsp;&nbsp;'
    '<span style="color:#b36200; font-weight:bold">▮ pause</span>'
)


class DoseRateAxis(pg.AxisItem):  # type: ignore[misc]
    """The rate axis: mL/h, and for a protocol dosed in mg/h also mg/h at the session's concentration
    ("25 | 100" under "Rate (mL/h | mg/h)"), so the plot reads in the label's unit too."""

    def __init__(self, orientation: str = "left") -> None:
        super().__init__(orientation)
        self.concentration_mg_ml: float | None = None

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        plain: list[str] = super().tickStrings(values, scale, spacing)
        c = self.concentration_mg_ml
        if c is None:
            return plain
        return [f"{text} | {value * scale * c:.0f}" for text, value in zip(plain, values, strict=True)]


def planned_curves(state: ChairState, now: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t s since epoch, rate, cumulative volume) of the re-planned schedule, as step corners."""
    if state.infusion_started_at is None or state.protocol is None:
        empty = np.zeros(0)
        return empty, empty, empty
    plan = state.plan(resume_open_at=now if state.phase is Phase.PAUSED else None)
    start = state.infusion_started_at.timestamp()
    t: list[float] = []
    rate: list[float] = []
    volume: list[float] = []
    total = 0.0
    for segment in plan.segments:
        t += [start + segment.start_min * 60, start + segment.end_min * 60]
        rate += [segment.rate_ml_h, segment.rate_ml_h]
        volume += [total, total + segment.volume_ml]
        total += segment.volume_ml
    return np.array(t), np.array(rate), np.array(volume)


def _peak(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else 0.0


def _utc_offset(face: ClockFace) -> float:
    """pyqtgraph's offset for placing ticks on the zone's round hours (seconds west of UTC, now)."""
    offset = face.local(datetime.now(UTC)).utcoffset() or timedelta(0)
    return -offset.total_seconds()


class ClockFaceAxis(pg.DateAxisItem):  # type: ignore[misc]
    """The time axis on the station's clock face: each tick in the display zone with the rules in force
    at that tick (daylight saving included), never this computer's own zone. Ticks fall on the zone's
    round hours and minutes (pyqtgraph places them with the zone's offset at the plot's creation)."""

    def __init__(self, face: ClockFace) -> None:
        super().__init__(orientation="bottom", utcOffset=_utc_offset(face))
        self.face = face

    def show_face(self, face: ClockFace) -> None:
        """Read another station's clock from now on. The axis stays in its plot (replacing an axis item
        removes it from the scene while a paint may still be queued for it)."""
        self.face = face
        self.utcOffset = _utc_offset(face)
        self.picture = None  # drawn again, with the new face's ticks
        self.update()

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        moments = [datetime.fromtimestamp(value, UTC) for value in values]
        if spacing >= 24 * 3600:
            return [self.face.date_text(moment) for moment in moments]
        return [self.face.hhmm(moment) for moment in moments]


class InfusionPlot(QWidget):
    """One plot: rate (planned dashed, pump solid) on the left axis, cumulative volume (planned dotted,
    infused solid) on the right axis, each axis in its curves' colour. The legend is a line of text above
    the plot, so it never covers the data; reactions are red lines, pauses orange bands."""

    def __init__(self, chair: ChairController, parent: QWidget | None = None, redraw_ms: int = 1000) -> None:
        super().__init__(parent)
        self._chair = chair
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.legend = QLabel(LEGEND_HTML)
        self.legend.setObjectName("plotLegend")
        self.legend.setMinimumWidth(1)
        self.legend.setWordWrap(True)  # a second line rather than a cut one
        layout.addWidget(self.legend)
        self.canvas = pg.GraphicsLayoutWidget()
        layout.addWidget(self.canvas, 1)
        tick_font = QFont()
        tick_font.setPointSize(11)
        self._tick_font = tick_font  # the axes keep only a borrowed reference
        self.rate_plot: pg.PlotItem = self.canvas.addPlot(
            row=0, col=0, axisItems={"bottom": ClockFaceAxis(chair.face), "left": DoseRateAxis("left")}
        )
        self.rate_plot.showGrid(x=True, y=True, alpha=0.25)
        self.rate_plot.setClipToView(True)
        self.rate_plot.setDownsampling(auto=True, mode="peak")
        self.rate_plot.setMouseEnabled(x=False, y=False)
        self.rate_plot.hideButtons()
        self.rate_plot.showAxis("right")
        self.rate_plot.getAxis("right").setGrid(False)  # one grid (the rate's), not two that disagree
        self.volume_box = pg.ViewBox(enableMenu=False)
        self.volume_box.setMouseEnabled(x=False, y=False)
        self.rate_plot.scene().addItem(self.volume_box)
        self.rate_plot.getAxis("right").linkToView(self.volume_box)
        self.volume_box.setXLink(self.rate_plot)
        self.rate_plot.vb.sigResized.connect(self._fit_volume_box)
        for side, label, colour in (
            ("left", "Rate (mL/h)", RATE_AXIS_COLOUR),
            ("right", "Volume (mL)", VOLUME_AXIS_COLOUR),
        ):
            axis = self.rate_plot.getAxis(side)
            axis.setLabel(label, color=colour, **{"font-size": "12pt", "font-weight": "bold"})
            axis.setStyle(tickFont=self._tick_font)
            axis.setTextPen(pg.mkPen(colour))
        self.rate_plot.getAxis("bottom").setStyle(tickFont=self._tick_font)
        self.planned = self.rate_plot.plot(name="planned rate", pen=PLANNED_PEN)
        self.pump = self.rate_plot.plot(name="pump rate", pen=PUMP_PEN)
        self.planned_volume = pg.PlotDataItem(name="planned volume", pen=PLANNED_VOLUME_PEN)
        self.volume = pg.PlotDataItem(
            name="volume infused",
            pen=VOLUME_PEN,
            clipToView=True,
            autoDownsample=True,
            downsampleMethod="peak",
        )
        for item in (self.planned_volume, self.volume):
            self.volume_box.addItem(item)
        self._markers: list[tuple[pg.PlotItem, pg.GraphicsObject]] = []
        self._drawn: tuple[int, int, str | None] | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(redraw_ms)
        self.timer.timeout.connect(self._redraw_if_shown)
        self.timer.start()
        chair.changed.connect(self._redraw_if_shown)
        self.redraw()

    def _redraw_if_shown(self) -> None:
        if self.isVisible():  # a hidden chair view's plot catches up when shown (showEvent)
            self.redraw()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.redraw()

    def _fit_volume_box(self) -> None:
        self.volume_box.setGeometry(self.rate_plot.vb.sceneBoundingRect())
        self.volume_box.linkedViewChanged(self.rate_plot.vb, self.volume_box.XAxis)

    @property
    def rate_axis(self) -> DoseRateAxis:
        axis = self.rate_plot.getAxis("left")
        assert isinstance(axis, DoseRateAxis)
        return axis

    def _show_dose_rate(self, state: ChairState | None) -> None:
        """mg/h-dosed protocols (rituximab): the rate axis shows mL/h and mg/h."""
        protocol = state.protocol if state is not None else None
        concentration = state.concentration_mg_ml if state is not None and protocol is not None else None
        if protocol is None or not protocol.dosed_in_mg_h:
            concentration = None
        axis = self.rate_axis
        if concentration == axis.concentration_mg_ml:
            return
        axis.concentration_mg_ml = concentration
        label = "Rate (mL/h)" if concentration is None else f"Rate (mL/h | mg/h at {concentration:g} mg/mL)"
        axis.setLabel(label, color=RATE_AXIS_COLOUR, **{"font-size": "12pt", "font-weight": "bold"})
        axis.picture = None
        axis.update()

    def axis_label(self) -> str:
        return str(self.rate_axis.labelText)

    def marker_labels(self) -> list[str]:
        """What the reaction markers say (tests read it)."""
        labels = []
        for _plot, item in self._markers:
            label = getattr(item, "label", None)
            if label is not None:
                labels.append(label.toPlainText())
        return labels

    def redraw(self, force: bool = False) -> None:
        chair = self._chair
        state = chair.state
        key = (chair.history.version, state.last_seq if state else -1, state.session_id if state else None)
        now = chair.now()
        if not force and key == self._drawn and (state is None or state.phase is not Phase.PAUSED):
            return
        self._drawn = key
        self._show_dose_rate(state)
        t, rate, volume = chair.history.arrays()
        self.pump.setData(t, rate)
        self.volume.setData(t, volume)
        for plot, item in self._markers:
            plot.removeItem(item)
        self._markers.clear()
        if state is None or state.infusion_started_at is None:
            self.planned.setData([], [])
            self.planned_volume.setData([], [])
            return
        pt, prate, pvolume = planned_curves(state, now)
        self.planned.setData(pt, prate)
        self.planned_volume.setData(pt, pvolume)
        for reaction in state.reactions:
            line = pg.InfiniteLine(
                pos=reaction.onset_at.timestamp(),
                angle=90,
                pen=REACTION_PEN,
                label=f"⚠ G{reaction.grade}",
                labelOpts={"position": 0.92, "color": "#d0021b", "fill": "#ffffffdd"},
            )
            self.rate_plot.addItem(line)
            self._markers.append((self.rate_plot, line))
        for pause in state.pauses:
            end = pause.end or now
            region = pg.LinearRegionItem(
                values=(pause.start.timestamp(), end.timestamp()),
                movable=False,
                brush=pg.mkBrush(255, 165, 0, 60),
                pen=pg.mkPen(255, 140, 0, 160),
            )
            self.rate_plot.addItem(region)
            self._markers.append((self.rate_plot, region))
        end = state.projected_end(now) or now
        start = state.infusion_started_at - timedelta(minutes=5)
        self.rate_plot.setXRange(start.timestamp(), (end + timedelta(minutes=10)).timestamp(), padding=0)
        # Both axes start at zero, so the two scales share a floor; the top leaves room for the labels
        bag_ml = state.bag.volume_ml if state.bag is not None else 0.0
        top_rate = max(_peak(prate), _peak(rate), 1.0)
        top_volume = max(_peak(pvolume), _peak(volume), bag_ml, 1.0)
        self.rate_plot.setYRange(0, top_rate * 1.15, padding=0)
        self.volume_box.setYRange(0, top_volume * 1.05, padding=0)
