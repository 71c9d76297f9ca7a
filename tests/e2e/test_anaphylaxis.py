"""Issue 16 "Done when": a grade 4 at the station (real Alaris driver, simulated pump on a pty, the main
window) shows red at the chair and on the floor's MQTT chair state (a real Mosquitto), with a high alarm
escalated at once; discharge waits for the anaphylaxis observation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.domain.clock import ManualClock
from app.domain.phase import Phase
from app.floor import Floor
from app.station.broker import parse_broker
from app.station.publish import Publisher
from app.station.status_text import ANAPHYLAXIS_STYLE
from tests.e2e.pumps import PumpOnPty, pump_on_pty
from tests.e2e.test_reaction_grades import click, open_reaction, raised, resolve, step_up_to_80, take_vitals
from tests.e2e.test_workflows import Station
from tests.floor.support import Broker, Listener, mosquitto_missing

pytestmark = [pytest.mark.e2e, pytest.mark.qt_log_ignore("does not support propagateSizeHints")]
__all__ = ["pump_on_pty"]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if mosquitto_missing():
        pytest.fail(mosquitto_missing() or "", pytrace=False)
    running = Broker(tmp_path / "broker").start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def station(qtbot: QtBot, floor: Floor, clock: ManualClock, pump_on_pty: PumpOnPty) -> Iterator[Station]:
    s = Station(qtbot, floor, clock, pump_on_pty)
    try:
        yield s
    finally:
        if s.view.current_dialog is not None:
            s.view.current_dialog.reject()
        s.floor_controller.close()


def test_grade_4_is_red_at_the_chair_and_on_the_floor_with_a_high_alarm(
    station: Station, broker: Broker
) -> None:
    s = station
    core = s.floor_controller.station
    publisher = Publisher(core, parse_broker({"url": broker.url, "keepalive_s": 5}), "Pod A")
    listener = Listener(broker)
    publisher.start()
    try:
        s.check_in_to_infusing()
        step_up_to_80(s)
        s.advance(10)
        dialog = open_reaction(s, 4, "stridor", "hypotension")
        s.save(dialog)
        onset = s.state.reactions[-1].onset_at
        s.advance(0.5)
        s.polls()

        # At the chair: red, with its word, and the high alarm on the board
        assert s.state.phase is Phase.OBSERVATION and s.state.reactions[-1].anaphylaxis
        assert s.view.phase_label.text().startswith("⚠ ANAPHYLAXIS")
        assert ANAPHYLAXIS_STYLE.colour in s.view.banner.styleSheet()
        assert raised(s, "anaphylaxis") == ["anaphylaxis"]
        board = core.chair(s.chair.name).alarms.board
        top = board.highest()
        assert top is not None and top.rule == "anaphylaxis" and top.priority.value == "high"

        # On the floor: the retained chair state says anaphylaxis, with the alarm escalated at once
        topic_end = f"/chairs/{s.chair.name}"

        def floor_state() -> dict[str, object] | None:
            states = [p for t, p, _r in listener.snapshot() if t.endswith(topic_end)]
            return states[-1] if states else None

        def red_on_the_floor() -> bool:
            latest = floor_state()
            return latest is not None and latest.get("anaphylaxis") is not None

        listener.wait_for(red_on_the_floor, say="the chair state with anaphylaxis")
        latest = floor_state()
        assert latest is not None
        alarms = latest["alarms"]
        assert isinstance(alarms, list) and alarms[0]["rule"] == "anaphylaxis"
        assert alarms[0]["priority"] == "high" and alarms[0]["escalated"] is True

        # Discharge waits for the anaphylaxis observation (6 h from onset), not 60 min after resolution
        s.pump.pump.stop()
        s.polls()
        resolve(s)
        take_vitals(s)
        s.advance(90)
        dialog = click(s, s.view.discharge_button)
        s.save(dialog, expect_refusal=True)
        assert "after anaphylaxis" in dialog.refusal_label.text()
        dialog.reject()
        assert s.state.earliest_discharge_at == onset + timedelta(hours=6)
    finally:
        listener.close()
        publisher.close()
