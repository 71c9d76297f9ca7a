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
from app.domain.decide import CommandRefused
from app.ui.desktop import desktop_problem

log = logging.getLogger(__name__)


def gui_arguments_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the station's options taken together (each one alone was checked by argparse),
    or None. Runs before anything starts: no window, no pump, no database."""
    demo_count = args.demo or 0
    chairs = args.chairs or max(6, demo_count)
    if demo_count > chairs:
        return f"--demo {demo_count} needs at least as many --chairs (not {chairs})"
    from_file = not demo_count and (getattr(args, "config", None) or not args.chairs)
    if getattr(args, "config", None) and args.chairs and not demo_count:
        return "--chairs is for a floor without a configuration; the file names the chairs"
    if args.chair is not None and args.chair > chairs and not from_file:
        return f"--chair {args.chair}: the floor has {chairs} chairs"
    if not demo_count and (args.speed != 1.0 or args.preroll):
        return "--speed and --preroll are for the demo: add --demo N"
    if args.db and Path(args.db).is_dir():
        return f"--db {args.db} is a directory, not a database"
    return None


def run_gui(args: argparse.Namespace) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app import errors, redaction
    from app.accounts.demo import DEMO_NURSE, ensure_demo_accounts
    from app.accounts.store import AccountError, AccountStore
    from app.chairs import FloorController
    from app.domain.clock import Clock, StationClock
    from app.paths import data_dir, default_config_path, default_db_path
    from app.protocol_library import ProtocolLibrary
    from app.station.broker import BrokerError
    from app.station.config import ChairConfig, StationConfig, StationConfigError, load_station_config
    from app.station.lock import StationInUse
    from app.station.publish import start_publishing
    from app.station.start import (
        attach_configured_pumps,
        missing_config_message,
        open_floor,
        start_services,
        station_for,
    )
    from app.station.station import chair_names
    from app.ui.alarm_sound import start_alarm_sound
    from app.ui.main_window import MainWindow
    from app.ui.theme import apply_theme

    problem = gui_arguments_problem(args) or desktop_problem()
    if problem is not None:
        print(f"chairside: {problem}", file=sys.stderr)
        return 2
    level = getattr(logging, os.environ.get("CHAIRSIDE_LOG", "WARNING").upper(), logging.WARNING)
    logging.basicConfig(
        level=level if isinstance(level, int) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    demo_count = args.demo or 0
    chairs = args.chairs or max(6, demo_count)
    config: StationConfig | None = None
    if not demo_count and (args.config or not args.chairs):
        path = args.config or default_config_path()
        if not path.is_file():
            print(f"chairside: {missing_config_message(path)}", file=sys.stderr)
            return 2
        try:
            config = load_station_config(path)
        except StationConfigError as error:
            print(f"chairside: {error}", file=sys.stderr)
            return 2
        if args.chair is not None and args.chair > len(config.chairs):
            print(
                f"chairside: --chair {args.chair}: the floor has {len(config.chairs)} chairs", file=sys.stderr
            )
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
        clock = StationClock()
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
    key = _journal_key(args, db_path)
    if key == "":
        print("chairside: no key for the encrypted journal: nothing was started", file=sys.stderr)
        if tmp is not None:
            tmp.cleanup()
        return 2
    try:
        opened = open_floor(db_path, clock, protocols, key=key)
    except StationInUse as in_use:
        print(f"chairside: {in_use}", file=sys.stderr)
        if tmp is not None:
            tmp.cleanup()
        return 2
    floor = opened.floor
    accounts = AccountStore(floor.journal, display_zone=lambda: floor.display_tz)
    demo: Any = None
    controller: Any = None
    publisher: Any = None
    sound: Any = None
    services: Any = None
    try:
        if demo_count:
            assert demo_clock is not None
            names = chair_names(chairs)
            demo = Demo(
                floor, demo_clock, chairs=demo_count, speed=args.speed, chair_names=names[:demo_count]
            )
            try:
                demo.start()  # closes what an earlier demo left open on its chairs, serves the pumps
            except (DemoChairOccupied, CommandRefused) as refused:
                print(f"chairside: the demo cannot start: {refused}", file=sys.stderr)
                return 2
            config = demo.station_config(names)
        elif config is None:  # --chairs N: a floor without pumps
            config = StationConfig(name="Station", chairs=tuple(ChairConfig(n) for n in chair_names(chairs)))
        controller = FloorController(station_for(floor, config, clock), accounts=accounts)
        try:
            publisher = start_publishing(controller.station, config, args.broker, args.station)
        except BrokerError as error:
            print(f"chairside: {error}", file=sys.stderr)
            return 2
        if demo is not None:
            try:
                print("\n".join(ensure_demo_accounts(accounts, args.nurse)))
                controller.set_nurse(args.nurse or DEMO_NURSE)
            except (AccountError, ValueError) as exc:
                if args.nurse:
                    print(f"chairside: --nurse: {exc}", file=sys.stderr)
                    return 2
                # a station database with real accounts: nobody is signed in until someone signs in
        elif not accounts.has_admin() and args.quit_after is not None:
            # a scripted start (screenshot, smoke test) never waits for someone at the keyboard
            print("chairside: this station has no administrator yet: add one with `chairside users add`")

        # The demo's clock may run fast: its idle lock keeps wall time
        idle_lock_min = args.idle_lock_min if args.idle_lock_min is not None else config.idle_lock_min
        window = MainWindow(
            controller,
            config_path=config.path,
            idle_lock_min=idle_lock_min,
            idle_clock=StationClock() if demo is not None else None,
        )
        sound = start_alarm_sound(controller, window)
        errors.install(data_dir() / "crash.log", window.show_message)
        redaction.install(data_dir() / "chairside.log")
        redaction.REDACTOR.remember_journal(floor.journal)
        for chair_controller in controller.chairs:
            chair_controller.changed.connect(
                lambda c=chair_controller: redaction.REDACTOR.remember_payload(_identifiers(c.state))
            )
        if demo is not None:
            try:
                _preroll(controller, demo, demo_clock, args.preroll)
            except CommandRefused as refused:
                print(f"chairside: the demo cannot start: {refused}", file=sys.stderr)
                return 2
        attach_configured_pumps(controller.station, config)
        services = start_services(
            controller.station, config, clock, publisher
        )  # station key, anchors, HL7 feed
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
        if demo is None and args.quit_after is None:
            # Once the station runs (pumps read, alarms on): a first start creates the administrator
            QTimer.singleShot(0, lambda: _first_sign_in(window, accounts))
        if args.quit_after is not None:

            def finish() -> None:
                code = 0
                try:
                    if args.screenshot:
                        controller.tick()
                        app.processEvents()
                        try:
                            args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                            saved = window.grab().save(str(args.screenshot))
                        except OSError:
                            saved = False
                        if saved:
                            print(f"saved {args.screenshot}")
                        else:
                            print(
                                f"chairside: cannot save the screenshot to {args.screenshot}", file=sys.stderr
                            )
                            code = 2
                finally:
                    window.close()
                    app.exit(code)

            QTimer.singleShot(round(args.quit_after * 1000), finish)
        return int(app.exec())
    finally:
        if services is not None:
            services.close()
        if publisher is not None:
            publisher.close()
        if sound is not None:
            sound.close()
        if controller is not None:
            controller.close()
        if demo is not None:
            demo.stop()
        opened.close()
        errors.uninstall()
        redaction.uninstall()
        if tmp is not None:
            tmp.cleanup()


def _first_sign_in(window: Any, accounts: Any) -> None:
    from PySide6.QtWidgets import QDialog

    from app.ui.signin import FirstAdministratorDialog

    if not accounts.has_admin():
        first = FirstAdministratorDialog(accounts, window)
        if first.exec() != QDialog.DialogCode.Accepted:
            window.show_message("This station has no administrator yet: add one with `chairside users add`.")
            return
    window.nurse_bar.sign_in()


def _identifiers(state: Any) -> dict[str, str]:
    if state is None:
        return {}
    return {"patient_mrn": state.patient_mrn, "patient_initials": state.patient_initials}


def _ask_key(title: str) -> str:
    from PySide6.QtWidgets import QInputDialog, QLineEdit

    text, ok = QInputDialog.getText(None, "Chairside: encrypted journal", title, QLineEdit.EchoMode.Password)
    return text if ok else ""


def _journal_key(args: argparse.Namespace, db_path: Path) -> str | None:
    """None: open as the file is (an encrypted one finds its key in the keyring); "" when asked and
    not given; else the key typed."""
    from app.station.start import journal_key

    return journal_key(
        db_path, create_encrypted=args.encrypt_journal, prompt=args.journal_key_prompt, ask=_ask_key
    )


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
