"""The floor's screenshots: the overview's sign-in, a chair opened from the floor, the wall board at
1920x1080 and 1366x768, the floor at 1366x768 after a hint, and the station's lock screen at 48 chairs.

Run from the repository: `QT_QPA_PLATFORM=offscreen .venv/bin/python docs/screenshots/floor_screens.py`.
Two stations of 24 chairs each are a simulated shift run through the real station core
(app.export.sample_shift) to mid-morning; their chairs' JSON (app.station.snapshot) is what the broker
would deliver, fed to the real overview window. One chair per station has lost its pump link for long
enough to escalate.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from app.accounts.settings import AccountSettings, ScryptCost  # noqa: E402
from app.accounts.store import AccountStore  # noqa: E402
from app.domain.alarms import Priority  # noqa: E402
from app.domain.clock import ManualClock  # noqa: E402
from app.export.sample_shift import demo_visits, run_shift  # noqa: E402
from app.floor import Floor  # noqa: E402
from app.station.floor_signing import load_or_create_overview_key  # noqa: E402
from app.station.pump import PumpLink  # noqa: E402
from app.station.snapshot import chair_readings, chair_snapshot, iso  # noqa: E402
from app.station.station import Station  # noqa: E402
from app.store.journal import Journal  # noqa: E402
from app.ui.floor_overview import FloorModel, FloorOverviewWindow, OverviewIdentity  # noqa: E402
from app.ui.theme import apply_theme  # noqa: E402
from drivers.base import LinkState, LinkStatus  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PIN = "482913"


def shift_station(folder: Path, name: str, start: datetime) -> tuple[Station, ManualClock]:
    clock = ManualClock(start)
    floor = Floor(Journal(folder / f"{name}.sqlite", clock), clock=clock)
    visits = demo_visits(24, shift_hours=10, day=start.date())
    until = datetime.now(UTC) - timedelta(minutes=2)  # the shift up to now (the alarms take 77 s more)
    run_shift(floor, clock, visits, until=until, sample_min=2)
    station = Station(floor, sorted({v.chair for v in visits}), clock)
    station.tick(clock.now())
    for chair in station.chairs:  # the plot's pump trace: the stored readings of each session
        chair.sync()
    return station, clock


def lose_a_pump(station: Station, clock: ManualClock, chair_name: str) -> None:
    chair = station.chair(chair_name)
    link = PumpLink({"protocol": "alaris", "url": "/dev/ttyUSB9"}, station.now)
    chair.pump = link
    station.deliver(chair, link, LinkState(LinkStatus.LOST, "unplugged"))
    clock.advance(seconds=station.alarm_policy.link_lost_quiet_s + 1)
    station.tick(clock.now())
    clock.advance(seconds=station.alarm_policy.escalation_after_s[Priority.HIGH] + 1)
    station.tick(clock.now())


def messages(station: Station, name: str, count: int) -> list[tuple[str, bytes, bool, float]]:
    now = station.now()
    sid = name.lower().replace(" ", "-")
    out = []
    at = datetime.now(UTC)
    status = {
        "schema": 2,
        "state": "online",
        "since": at.isoformat(),
        "at": at.isoformat(),
        "station": name,
        "keepalive_s": 5.0,
        "chairs": count,
    }
    out.append((f"chairside/v1/{sid}/status", json.dumps(status).encode(), False, at.timestamp()))
    for index, chair in enumerate(station.chairs[:count], start=1):
        snapshot = chair_snapshot(chair, now, station=name, index=index)
        snapshot.update(updated_at=iso(now), published_at=at.isoformat())
        topic = f"chairside/v1/{sid}/chairs/{chair.name}"
        out.append((topic, json.dumps(snapshot).encode(), False, at.timestamp()))
        readings = chair_readings(chair, now, station=name)
        if readings is not None:
            out.append((f"{topic}/readings", json.dumps(readings).encode(), True, at.timestamp()))
    return out


def save(widget: QWidget, name: str) -> None:
    QApplication.processEvents()
    path = OUT / name
    widget.grab().save(str(path))
    print(f"saved {path}")


def main() -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    apply_theme(app)
    folder = Path(tempfile.mkdtemp(prefix="floor-screens-"))
    # The shifts run up to now, so the overview's own clock reads their countdowns right
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3, minutes=12)
    pod_a, clock_a = shift_station(folder, "pod-a", start)
    pod_b, clock_b = shift_station(folder, "pod-b", start - timedelta(minutes=25))
    lose_a_pump(pod_a, clock_a, "Chair 03")
    lose_a_pump(pod_b, clock_b, "Chair 07")
    batch = messages(pod_a, "Pod A", 24) + messages(pod_b, "Pod B", 24)
    journal = Journal(folder / "overview.sqlite")
    fast = replace(AccountSettings.load(), pin_cost=ScryptCost(2**10, 8, 1))
    accounts = AccountStore(journal, fast)
    accounts.add("CN-0042", "M. Rossi", "charge", PIN, badge="BADGE-42", by="screens")
    identity = OverviewIdentity("Charge desk", load_or_create_overview_key(folder / "overview.pem"))

    def window(size: tuple[int, int], board: bool = False) -> FloorOverviewWindow:
        w = FloorOverviewWindow(None, FloorModel(), accounts=accounts, identity=identity, board=board)
        w.resize(*size)
        w.show()
        w.model.apply(batch)
        w._connection(True, "")
        w.tick()
        return w

    # 1. Sign-in at the overview (the real dialog over the floor, the ID typed)
    floor = window((1366, 768))

    def sign_in_shot() -> None:
        from app.ui.signin import SignInDialog

        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, SignInDialog)
        dialog.id_entry.setText("CN-0042")
        dialog.identify()
        dialog.pin_entry.setText("••••••")
        QApplication.processEvents()
        screen = floor.grab()
        from PySide6.QtGui import QPainter

        painter = QPainter(screen)
        shot = dialog.grab()
        painter.drawPixmap((screen.width() - shot.width()) // 2, (screen.height() - shot.height()) // 3, shot)
        painter.end()
        screen.save(str(OUT / "floor-sign-in-1366.png"))
        print(f"saved {OUT / 'floor-sign-in-1366.png'}")
        dialog.reject()

    QTimer.singleShot(0, sign_in_shot)
    floor.ask_sign_in()
    # 2. The floor at 1366x768 after a hint (Acknowledge pressed, nobody signed in)
    floor.escalated_panel.buttons[0].click()
    floor.tick()
    save(floor, "floor-hint-1366.png")
    # 3. A chair opened from the floor, signed in (initials shown), its plot from the readings
    floor.sign_in(accounts.sign_in("CN-0042", PIN))
    floor.resize(1920, 1080)
    floor.tick()
    dialog = floor.open_chair(("pod-b", "Chair 07"))
    dialog.resize(900, 760)
    floor.tick()
    save(dialog, "floor-chair-opened.png")
    dialog.close()
    floor.close()
    # 4. The wall board at 1920x1080 (48 chairs on one screen) and at 1366x768 (it scrolls)
    for width, height in ((1920, 1080), (1366, 768)):
        board = window((width, height), board=True)
        save(board, f"floor-board-{width}.png")
        board.close()
    # 5. The station's lock screen at 48 chairs
    from app.chairs import FloorController
    from app.ui.main_window import MainWindow

    clock = ManualClock(start)
    station_floor = Floor(Journal(folder / "pod-c.sqlite", clock), clock=clock)
    visits = demo_visits(48, shift_hours=10, day=start.date())
    run_shift(station_floor, clock, visits, until=start + timedelta(hours=2, minutes=30), sample_min=5)
    station_accounts = AccountStore(station_floor.journal, fast)
    station_accounts.add("RN-AB", "A. Bianchi", "nurse", PIN, by="screens")
    controller = FloorController(
        station_floor, sorted({v.chair for v in visits}), clock, accounts=station_accounts
    )
    main_window = MainWindow(controller)
    main_window.resize(1920, 1080)
    main_window.show()
    controller.set_nurse("RN-AB")
    controller.tick()
    assert main_window.screen_lock is not None
    main_window.screen_lock.lock("idle")
    controller.tick()
    save(main_window, "locked-48-chairs-1920.png")
    main_window.close()
    controller.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
