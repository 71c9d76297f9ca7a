"""The overview model over a real floor, checked with pytest-qt's model tester."""

from __future__ import annotations

from datetime import timedelta

from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.chairs import FloorController
from app.domain.clock import ManualClock
from app.domain.commands import GivePremedication, RecordScreening, RecordVitals, StartInfusion
from app.domain.phase import Phase
from app.floor import Floor
from app.ui.overview import ChairTableModel, Column, OverviewWidget, PhaseRole
from tests.ui.helpers import check_in_command


def test_model_passes_the_model_tester(qtmodeltester: ModelTester, floor: Floor, clock: ManualClock) -> None:
    controller = FloorController(floor, 6, clock)
    model = ChairTableModel(controller)
    qtmodeltester.check(model, force_py=True)
    assert model.rowCount() == 6
    assert model.columnCount() == len(Column)


def test_rows_follow_the_workflow(qtbot: QtBot, floor: Floor, clock: ManualClock) -> None:
    controller = FloorController(floor, 4, clock)
    controller.set_nurse("ab")
    model = ChairTableModel(controller)
    chair = controller.chair(2)
    with qtbot.waitSignal(model.dataChanged):
        chair.check_in(check_in_command(chair.name, clock))
    phase = model.index(1, Column.PHASE)
    assert model.data(phase, PhaseRole) is Phase.SCREENING
    assert model.data(phase) == "☐ Screening"
    assert model.data(model.index(1, Column.PATIENT)) == "JD"
    state = chair.state
    assert state is not None and state.protocol is not None
    chair.execute(RecordVitals({"systolic_mmhg": 124, "heart_rate_bpm": 72}))  # baseline, before the start
    chair.execute(RecordScreening({i.id: i.acceptable_answer for i in state.protocol.screening}))
    for premed in state.protocol.premedications:
        chair.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
    clock.advance(minutes=31)
    chair.execute(StartInfusion())
    assert model.data(phase) == "▶ Infusing"
    assert model.data(model.index(1, Column.RATE)) == "– / 40 mL/h"
    assert model.data(model.index(1, Column.NEXT)).startswith("Next step 80 mL/h")
    clock.advance(minutes=15)
    with qtbot.waitSignal(model.dataChanged):
        controller.tick()
    assert "in 15 min" in model.data(model.index(1, Column.NEXT))
    assert model.data(model.index(0, Column.PHASE)) == "○ Empty"


def test_tiles_open_a_chair_on_click(qtbot: QtBot, floor: Floor, clock: ManualClock) -> None:
    controller = FloorController(floor, 12, clock)
    model = ChairTableModel(controller)
    overview = OverviewWidget(model)
    qtbot.addWidget(overview)
    overview.resize(1400, 900)
    overview.show()
    assert len(overview.tiles) == 12
    from PySide6.QtCore import Qt

    with qtbot.waitSignal(overview.chair_activated) as blocker:
        qtbot.mouseClick(overview.tile("Chair 7"), Qt.MouseButton.LeftButton)
    assert blocker.args == ["Chair 7"]
    assert timedelta(0) == timedelta(0)
