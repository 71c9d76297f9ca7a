"""`chairside` with no subcommand: the station GUI (and the demo floor, and screenshots)."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.demo import Demo, DemoChairOccupied, SpeedClock

log = logging.getLogger(__name__)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"window size {text!r}: use WIDTHxHEIGHT, e.g. 1920x1080") from None
    return width, height


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    gui = parser.add_argument_group("station (no subcommand)")
    gui.add_argument(
        "--db",
        help="the journal database (default: the user data folder; a temporary one for a demo that runs "
        "faster than real time)",
    )
    gui.add_argument("--chairs", type=int, help="chairs on the floor, 1 to 48 (default 6, or --demo's count)")
    gui.add_argument("--demo", type=int, metavar="N", help="run N simulated pumps and play the nurses' side")
    gui.add_argument(
        "--speed", type=float, default=1.0, help="demo time runs this many times faster (default 1)"
    )
    gui.add_argument(
        "--preroll", type=float, default=0.0, metavar="MIN", help="start the demo this many minutes in"
    )
    gui.add_argument(
        "--screenshot", type=Path, metavar="PATH", help="save the window as PNG after --quit-after"
    )
    gui.add_argument("--quit-after", type=float, metavar="S", help="quit after S seconds (wall time)")
    gui.add_argument("--chair", type=int, metavar="K", help="open chair K's view")
    gui.add_argument("--nurse", metavar="INITIALS", help="the nurse identified at the station")
    gui.add_argument("--window-size", type=_size, metavar="WxH", help="window size, e.g. 1366x768")


def run_gui(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app import errors
    from app.chairs import FloorController
    from app.domain.clock import Clock, SystemClock
    from app.floor import Floor
    from app.paths import data_dir, default_db_path
    from app.protocol_library import ProtocolLibrary
    from app.store.journal import Journal
    from app.ui.alarm_sound import start_alarm_sound
    from app.ui.main_window import MainWindow
    from app.ui.theme import apply_theme

    demo_count = args.demo or 0
    chairs = args.chairs or max(6, demo_count)
    if demo_count > chairs:
        print(f"chairside: --demo {demo_count} needs at least as many --chairs", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("Chairside")
    apply_theme(app)

    clock: Clock
    demo_clock: SpeedClock | None = None
    if demo_count:
        demo_clock = SpeedClock(args.speed)
        clock = demo_clock
    else:
        clock = SystemClock()
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if args.db:
        db_path = Path(args.db)
    elif demo_count and (args.speed != 1 or args.preroll):
        # A demo clock that runs ahead of real time would write entries dated in the future: keep them
        # out of the station's journal.
        tmp = tempfile.TemporaryDirectory(prefix="chairside-demo-")
        db_path = Path(tmp.name) / "demo.sqlite"
        log.info("demo faster than real time: using a temporary database %s", db_path)
    else:
        db_path = default_db_path()
    protocols = ProtocolLibrary.load(args.protocols) if getattr(args, "protocols", None) else None
    floor = Floor(Journal(db_path, clock), protocols, clock)
    controller = FloorController(floor, chairs, clock)
    if args.nurse:
        controller.set_nurse(args.nurse)

    window = MainWindow(controller)
    sound = start_alarm_sound(controller, window)
    errors.install(data_dir() / "crash.log", window.show_message)
    demo: Any = None
    try:
        if demo_count:
            try:
                demo = _start_demo(controller, floor, demo_clock, demo_count, args)
            except DemoChairOccupied as occupied:
                print(f"chairside: {occupied}", file=sys.stderr)
                return 2
        if args.window_size:
            window.resize(*args.window_size)
            window.show()
        elif args.screenshot:
            window.resize(1920, 1080)
            window.show()
        else:
            window.showMaximized()
        if args.chair:
            window.open_chair(controller.chair(args.chair).name)
        controller.start()
        if args.quit_after is not None:

            def finish() -> None:
                if args.screenshot:
                    controller.tick()
                    app.processEvents()
                    args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                    window.grab().save(str(args.screenshot))
                    print(f"saved {args.screenshot}")
                window.close()
                app.quit()

            QTimer.singleShot(round(args.quit_after * 1000), finish)
        return int(app.exec())
    finally:
        sound.close()
        controller.close()
        if demo is not None:
            demo.stop()
        floor.close()
        errors.uninstall()
        if tmp is not None:
            tmp.cleanup()


def _start_demo(
    controller: Any, floor: Any, clock: SpeedClock | None, count: int, args: argparse.Namespace
) -> Any:
    assert clock is not None
    names = [c.name for c in controller.chairs[:count]]
    demo = Demo(floor, clock, chairs=count, speed=args.speed, chair_names=names)
    # Pre-roll: jump the floor's (and so the pumps') clock a minute at a time, playing the scripts
    for _ in range(int(args.preroll)):
        clock.advance(minutes=1.0)
        now = clock.now()
        demo.advance(now)
        for chair, demo_chair in zip(controller.chairs, demo.chairs, strict=False):
            chair.tick(now)  # picks up the session first (a new session clears the plot's buffer)
            snapshot = demo_chair.pump.snapshot()
            if chair.state is not None and chair.state.infusion_started_at is not None:
                chair.history.append(
                    now.timestamp(),
                    snapshot.rate_ml_h if snapshot.state.is_delivering else 0.0,
                    snapshot.volume_infused_ml,
                )
    urls = demo.start()
    for name, url in urls.items():
        controller.chair(name).attach_driver({"protocol": "alaris", "url": url})
    controller.add_tick_hook(lambda now: demo.advance(now))
    return demo
