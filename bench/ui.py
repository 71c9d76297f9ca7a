"""UI benchmark: a floor of simulated pumps read at 1 Hz by the real drivers, offscreen.

Prints the share of wall time the GUI thread is busy on the CPU (its thread CPU time), against a
baseline measured first in the same run (an event loop with only the 1 s floor tick), the
telemetry-arrival-to-model-update latency (the driver's reading time to the overview model's
dataChanged for that chair) p50/p99, and resident memory (peak, resource.getrusage).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/ui.py [--chairs 48] [--seconds 120]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QEventLoop, QModelIndex, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from app.chairs import FloorController
from app.demo import Demo, SpeedClock
from app.floor import Floor
from app.store.journal import Journal
from app.ui.overview import ChairTableModel, OverviewWidget


class BusyMeter:
    """Share of wall time the GUI thread spends on the CPU (time.thread_time of this thread)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._cpu = time.thread_time()
        self._wall = time.perf_counter()

    def share(self) -> float:
        return (time.thread_time() - self._cpu) / (time.perf_counter() - self._wall)


def run_for(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chairs", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=120.0, help="measured run, wall seconds")
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--speed", type=float, default=1.0, help="floor clock speed (telemetry stays 1 Hz)")
    parser.add_argument(
        "--no-tiles", action="store_true", help="the overview model without its tile widgets (isolates them)"
    )
    args = parser.parse_args(argv)

    app = QApplication.instance() or QApplication([])
    assert app is not None
    meter = BusyMeter()

    # Baseline: the same event loop with only a 1 s tick, measured in this run.
    tick = QTimer()
    tick.setInterval(1000)
    tick.timeout.connect(lambda: None)
    tick.start()
    meter.reset()
    run_for(args.baseline_seconds)
    baseline = meter.share()
    tick.stop()
    rss_baseline = rss_mb()

    with tempfile.TemporaryDirectory(prefix="chairside-bench-") as tmp:
        clock = SpeedClock(args.speed)
        journal = Journal(Path(tmp) / "bench.sqlite", clock)
        floor = Floor(journal, None, clock)
        demo = Demo(floor, clock, chairs=args.chairs, speed=args.speed)
        prepared = time.perf_counter()
        demo.fast_forward()  # every phase on the floor
        urls = demo.start()
        controller = FloorController(floor, list(urls), clock)

        def run_demo(now: datetime) -> None:
            demo.advance(now)

        controller.add_tick_hook(run_demo)
        model = ChairTableModel(controller)
        overview = QWidget() if args.no_tiles else OverviewWidget(model)
        overview.resize(1920, 1080)
        overview.show()
        for name, url in urls.items():
            controller.chair(name).attach_driver({"protocol": "alaris", "url": url, "poll_interval_s": 1.0})
        connected_by = time.perf_counter() + 20
        while time.perf_counter() < connected_by and not all(c.pump_connected for c in controller.chairs):
            run_for(0.2)
        connected = sum(c.pump_connected for c in controller.chairs)
        setup_s = time.perf_counter() - prepared

        latencies_ms: list[float] = []
        last_seen: dict[int, Any] = {}

        def on_data_changed(top_left: QModelIndex, _bottom_right: QModelIndex, _roles: Any = None) -> None:
            row = top_left.row()
            t = controller.chairs[row].telemetry
            if t is None or last_seen.get(row) is t:
                return
            last_seen[row] = t
            latencies_ms.append((clock.now() - t.at).total_seconds() * 1000.0 / args.speed)

        model.dataChanged.connect(on_data_changed)
        tiles = overview.tiles if isinstance(overview, OverviewWidget) else []
        restyles_before = sum(tile.restyles for tile in tiles)
        controller.start()
        meter.reset()
        run_for(args.seconds)
        busy = meter.share()
        restyles = sum(tile.restyles for tile in tiles) - restyles_before
        controller.close()
        demo.stop()
        intact = journal.verify().intact
        journal.close()
        overview.close()
        model.dataChanged.disconnect(on_data_changed)
        for qobject in (overview, model, controller):
            qobject.deleteLater()
        run_for(0.1)

    print(
        f"chairs: {args.chairs} [{'model only, no tiles' if args.no_tiles else 'overview tiles at 1920x1080'}] "
        f"({connected} pump links connected), run {args.seconds:.0f} s, setup {setup_s:.1f} s"
    )
    print(
        f"telemetry updates seen by the model: {len(latencies_ms)} ({len(latencies_ms) / args.seconds:.1f}/s)"
    )
    print(
        f"GUI thread busy: {busy * 100:.2f} %  (baseline, empty loop with 1 s tick: {baseline * 100:.2f} %)"
    )
    if latencies_ms:
        print(
            f"telemetry -> model latency: p50 {percentile(latencies_ms, 50):.1f} ms, "
            f"p99 {percentile(latencies_ms, 99):.1f} ms, max {max(latencies_ms):.1f} ms, "
            f"mean {statistics.fmean(latencies_ms):.1f} ms"
        )
    if not args.no_tiles:
        print(
            f"tile restyles during the run: {restyles} (a tile restyles only when its phase or alarm changes)"
        )
    print(f"resident memory (peak): {rss_mb():.0f} MB  (after baseline: {rss_baseline:.0f} MB)")
    print(f"journal intact: {intact}")
    return 0 if intact and latencies_ms else 1


if __name__ == "__main__":
    raise SystemExit(main())
