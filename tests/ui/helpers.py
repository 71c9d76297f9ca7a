"""Shared builders for the UI tests."""

from __future__ import annotations

from datetime import date, timedelta

from pytestqt.qtbot import QtBot

from app.chairs import ChairController, FloorController
from app.domain.clock import ManualClock
from app.domain.commands import CheckIn
from app.floor import Floor
from app.ui.chair_view import ChairView
from app.ui.main_window import MainWindow


def check_in_command(chair: str, clock: ManualClock, protocol_id: str = "ocrevus-600-subsequent") -> CheckIn:
    return CheckIn(
        chair=chair,
        patient_mrn="MRN-0042",
        patient_initials="JD",
        protocol_id=protocol_id,
        bag_volume_ml=500.0,
        bag_lot="LOT-H1234",
        bag_expiry=date(2027, 6, 30),
        bag_prepared_at=clock.now() - timedelta(minutes=20),
        prior_infusions=2,
        prior_serious_reaction=False,
        last_dose_on=(clock.now() - timedelta(days=182)).date(),
    )


class ChairWindow:
    """The station's main window at 1366x768 with Chair 1's view open and nurse AB identified."""

    def __init__(self, qtbot: QtBot, floor: Floor, clock: ManualClock) -> None:
        self.qtbot = qtbot
        self.floor = floor
        self.clock = clock
        self.controller = FloorController(floor, 2, clock)
        self.window = MainWindow(self.controller)
        qtbot.addWidget(self.window)
        self.window.resize(1366, 768)
        self.window.show()
        self.chair: ChairController = self.controller.chair(1)
        self.view: ChairView = self.window.open_chair(self.chair.name)
        self.controller.set_nurse("AB")
