"""A grade 4 reaction, as the floor and the chair view show it (issue 15: "the chair view shows calm teal
Observation; the floor tile shows only 'vitals overdue'"). A real station, its published chair state and
the tile built from it; the session timeline says the infusion was stopped for good."""

from __future__ import annotations

from pathlib import Path

from app.domain.clock import ManualClock
from app.domain.commands import RecordReaction
from app.domain.phase import Phase
from app.floor import Floor
from app.station.snapshot import chair_snapshot
from app.station.station import Station
from app.store.journal import Journal
from app.ui.status import PHASE_STYLES, phase_style
from app.ui.tile import tile_view
from tests.station.test_configured_station import infusing


def test_a_grade_4_reaction_is_stopped_for_good_on_the_tile_and_the_chair_view(tmp_path: Path) -> None:
    clock = ManualClock()
    floor = Floor(Journal(tmp_path / "pod.sqlite", clock), clock=clock)
    station = Station(floor, ["Chair 1", "Chair 2"], clock)
    infusing(station, "Chair 1", clock)
    chair = station.chair("Chair 1")
    clock.advance(minutes=20)
    chair.execute(RecordReaction(4, ("stridor", "hypotension")), "AB")
    clock.advance(minutes=45)  # long enough for the vital signs to be overdue
    state = chair.state
    assert state is not None and state.phase is Phase.OBSERVATION  # observed, by the state machine

    snapshot = chair_snapshot(chair, clock.now(), station="Pod A", index=1)
    assert snapshot["phase"] == "observation"
    delivery = snapshot["delivery"]
    assert delivery["stopped_for_good"] and delivery["outcome"] == "discontinued for a reaction"
    assert (
        delivery["state"] == "ended"
        and delivery["segments"][-1]["stop_reason"] == "discontinued for a reaction"
    )
    assert snapshot["vitals"]["overdue"]
    assert snapshot["next"]["urgent"] and snapshot["next"]["action"].startswith("⚠ STOP THE PUMP: grade 4")

    tile = tile_view(snapshot, clock.now())
    assert tile.phase_text == "■ Stopped for good"
    assert tile.next_text.startswith("⚠ STOP THE PUMP")  # not "vitals overdue" over the pump to stop
    assert phase_style(state) == PHASE_STYLES[Phase.DISCONTINUED]  # the chair view's banner

    other = chair_snapshot(station.chair("Chair 2"), clock.now(), station="Pod A", index=2)
    assert other["delivery"] is None and tile_view(other, clock.now()).phase_text == "○ Empty"
