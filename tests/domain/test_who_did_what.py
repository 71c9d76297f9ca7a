"""Who did what: the nurse assigned to the chair, handovers, and entries documented from the pump."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.commands import AssignNurse, ChangeRate, CompleteInfusion, HandOver, PauseInfusion
from app.domain.decide import CommandRefused
from app.domain.events import EventType, HandedOver, InfusionPaused, NurseAssigned, RateChanged


def test_check_in_assigns_the_nurse_and_handover_is_an_entry(chair_script: Any) -> None:
    s = chair_script
    state = s.check_in()
    assert state.assigned_nurse == "RN-AB"
    state = s.floor.execute(s.session_id, AssignNurse("RN-EF"), "RN-CD")
    assert state.assigned_nurse == "RN-EF"
    assigned = state.events[-1]
    assert (assigned.type, assigned.actor, assigned.payload_as(NurseAssigned).previous) == (
        EventType.NURSE_ASSIGNED,
        "RN-CD",
        "RN-AB",
    )
    state = s.floor.execute(s.session_id, HandOver("RN-GH", notes="grade 1 at 10:40, resolved"), "RN-EF")
    handed = state.events[-1]
    assert handed.type is EventType.HANDED_OVER
    assert (handed.payload_as(HandedOver).from_nurse, handed.payload_as(HandedOver).to_nurse) == (
        "RN-EF",
        "RN-GH",
    )
    assert state.assigned_nurse == "RN-GH"
    with pytest.raises(CommandRefused, match="already responsible"):
        s.floor.execute(s.session_id, HandOver("RN-GH"), "RN-EF")


def test_pump_entries_are_signed_pump_with_the_assigned_nurse_responsible(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing()
    s.floor.execute(s.session_id, HandOver("RN-GH"), "RN-AB")
    s.clock.advance(minutes=30)
    # another nurse happens to be identified at the station when the pump's change is documented
    state = s.floor.execute(s.session_id, ChangeRate(80, source="pump"), "RN-ZZ")
    entry = state.events[-1]
    assert (entry.actor, entry.payload_as(RateChanged).responsible) == ("pump", "RN-GH")
    state = s.floor.execute(s.session_id, PauseInfusion("pump alarm: occlusion", source="pump"), "pump")
    assert (state.events[-1].actor, state.events[-1].payload_as(InfusionPaused).responsible) == (
        "pump",
        "RN-GH",
    )
    # the nurse's own entries stay hers
    state = s.floor.execute(s.session_id, CompleteInfusion(source="nurse"), "RN-GH")
    assert state.events[-1].actor == "RN-GH" and "responsible" not in state.events[-1].data
