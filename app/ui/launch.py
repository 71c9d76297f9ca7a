"""`chairside` with no subcommand: the station GUI (and the demo floor, and screenshots)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.demo import Demo, DemoChairOccupied, SpeedClock
from app.station.headless import add_station_arguments

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
    gui.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="the station configuration: its chairs and their pumps (default: station.toml in the "
        "user config folder; example: docs/station.example.toml)",
    )
    gui.add_argument(
        "--chairs",
        type=int,
        help="without a configuration: a floor of N chairs with no pumps, 1 to 48 (with --demo: default "
        "6, or --demo's count)",
    )
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
    add_station_arguments(gui)  # --broker URL, --station NAME (the floor; app.station.publish)


def run_gui(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app import errors
    from app.chairs import FloorController
    from app.domain.clock import Clock, SystemClock
    from app.paths import data_dir, default_config_path, default_db_path
    from app.protocol_library import ProtocolLibrary
    from app.station.broker import BrokerError
    from app.station.config import ChairConfig, StationConfig, StationConfigError, load_station_config
    from app.station.lock import StationInUse
    from app.station.publish import start_publishing
    from app.station.start import attach_configured_pumps, missing_config_message, open_floor, station_for
    from app.station.station import chair_names
    from app.ui.main_window import MainWindow
    from app.ui.theme import apply_theme

    level = getattr(logging, os.environ.get("CHAIRSIDE_LOG", "WARNING").upper(), logging.WARNING)
    logging.basicConfig(
        level=level if isinstance(level, int) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    demo_count = args.demo or 0
    chairs = args.chairs or max(6, demo_count)
    if demo_count > chairs:
        print(f"chairside: --demo {demo_count} needs at least as many --chairs", file=sys.stderr)
        return 2
    config: StationConfig | None = None
    if not demo_count and (args.config or not args.chairs):
        if args.chairs:
            print(
                "chairside: --chairs is for a floor without a configuration; the file names the chairs",
                file=sys.stderr,
            )
            return 2
        path = args.config or default_config_path()
        if not path.is_file():
            print(f"chairside: {missing_config_message(path)}", file=sys.stderr)
            return 2
        try:
            config = load_station_config(path)
        except StationConfigError as error:
            print(f"chairside: {error}", file=sys.stderr)
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
    try:
        opened = open_floor(db_path, clock, protocols)
    except StationInUse as in_use:
        print(f"chairside: {in_use}", file=sys.stderr)
        if tmp is not None:
            tmp.cleanup()
        return 2
    floor = opened.floor
    demo: Any = None
    controller: Any = None
    publisher: Any = None
    try:
        if demo_count:
            assert demo_clock is not None
            names = chair_names(chairs)
            demo = Demo(
                floor, demo_clock, chairs=demo_count, speed=args.speed, chair_names=names[:demo_count]
            )
            try:
                demo.start()
            except DemoChairOccupied as occupied:
                print(f"chairside: {occupied}", file=sys.stderr)
                return 2
            config = demo.station_config(names)
        elif config is None:  # --chairs N: a floor without pumps
            config = StationConfig(name="Station", chairs=tuple(ChairConfig(n) for n in chair_names(chairs)))
        controller = FloorController(station_for(floor, config, clock))
        try:
            publisher = start_publishing(controller.station, config, args.broker, args.station)
        except BrokerError as error:
            print(f"chairside: {error}", file=sys.stderr)
            return 2
        if args.nurse:
            controller.set_nurse(args.nurse)

        window = MainWindow(controller, config_path=config.path)
        errors.install(data_dir() / "crash.log", window.show_message)
        if demo is not None:
            _preroll(controller, demo, demo_clock, args.preroll)
        attach_configured_pumps(controller.station, config)
        if demo is not None:
            controller.add_tick_hook(lambda now: demo.advance(now))
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
        if publisher is not None:
            publisher.close()
        if controller is not None:
            controller.close()
        if demo is not None:
            demo.stop()
        opened.close()
        errors.uninstall()
        if tmp is not None:
            tmp.cleanup()


def _preroll(controller: Any, demo: Demo, clock: SpeedClock | None, minutes: float) -> None:
    """Jump the floor's (and so the pumps') clock a minute at a time, playing the scripts."""
    assert clock is not None
    for _ in range(int(minutes)):
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
