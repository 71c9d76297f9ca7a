"""The chair's live plot: planned vs pump rate, cumulative volume, reactions and pauses marked.

Data come from the chair controller's preallocated ring buffer; a timer redraws with `setData` only
when something changed, with clip-to-view and peak downsampling so a four-hour trace stays cheap.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.chairs import ChairController
from app.domain.chair import ChairState
from app.domain.phase import Phase

pg.setConfigOptions(antialias=True, background="w", foreground="#222")

PLANNED_PEN = pg.mkPen("#1f5fbf", width=3, style=pg.QtCore.Qt.PenStyle.DashLine)
PUMP_PEN = pg.mkPen("#0d7a2b", width=3)
VOLUME_PEN = pg.mkPen("#6b3fa0", width=3)
PLANNED_VOLUME_PEN = pg.mkPen("#6b3fa0", width=2, style=pg.QtCore.Qt.PenStyle.DotLine)
REACTION_PEN = pg.mkPen("#d0021b", width=3)


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


class InfusionPlot(QWidget):
    """Two x-linked plots: rate (planned dashed, pump solid) over volume."""

    def __init__(self, chair: ChairController, parent: QWidget | None = None, redraw_ms: int = 1000) -> None:
        super().__init__(parent)
        self._chair = chair
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.canvas = pg.GraphicsLayoutWidget()
        layout.addWidget(self.canvas)
        tick_font = QFont()
        tick_font.setPointSize(11)
        self._tick_font = tick_font  # the axes keep only a borrowed reference
        self.rate_plot = self.canvas.addPlot(row=0, col=0, axisItems={"bottom": pg.DateAxisItem()})
        self.volume_plot = self.canvas.addPlot(row=1, col=0, axisItems={"bottom": pg.DateAxisItem()})
        self.volume_plot.setXLink(self.rate_plot)
        for plot, label in ((self.rate_plot, "Rate mL/h"), (self.volume_plot, "Volume mL")):
            plot.setLabel("left", label)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.addLegend(offset=(10, 5), labelTextSize="11pt")
            plot.getAxis("left").setStyle(tickFont=self._tick_font)
            plot.getAxis("bottom").setStyle(tickFont=self._tick_font)
        self.canvas.ci.layout.setRowStretchFactor(0, 3)
        self.canvas.ci.layout.setRowStretchFactor(1, 2)
        self.planned = self.rate_plot.plot(name="planned", pen=PLANNED_PEN)
        self.pump = self.rate_plot.plot(name="pump", pen=PUMP_PEN)
        self.planned_volume = self.volume_plot.plot(name="planned", pen=PLANNED_VOLUME_PEN)
        self.volume = self.volume_plot.plot(name="pump", pen=VOLUME_PEN)
        self._markers: list[tuple[pg.PlotItem, pg.GraphicsObject]] = []
        self._drawn: tuple[int, int, str | None] | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(redraw_ms)
        self.timer.timeout.connect(self.redraw)
        self.timer.start()
        chair.changed.connect(self.redraw)
        self.redraw()

    def redraw(self, force: bool = False) -> None:
        chair = self._chair
        state = chair.state
        key = (chair.history.version, state.last_seq if state else -1, state.session_id if state else None)
        now = chair.now()
        if not force and key == self._drawn and (state is None or state.phase is not Phase.PAUSED):
            return
        self._drawn = key
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
            x = reaction.onset_at.timestamp()
            for plot in (self.rate_plot, self.volume_plot):
                line = pg.InfiniteLine(
                    pos=x,
                    angle=90,
                    pen=REACTION_PEN,
                    label=f"⚠ G{reaction.grade}" if plot is self.rate_plot else None,
                    labelOpts={"position": 0.92, "color": "#d0021b", "fill": "#ffffffcc"},
                )
                plot.addItem(line)
                self._markers.append((plot, line))
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
