"""A discontinuation, as the floor and the chair view show it (issue 15: "the chair view shows calm teal
Observation; the floor tile shows only 'vitals overdue'"). A real station, its published chair state and
the tile built from it; the session timeline says the infusion was stopped for good."""

from __future__ import annotations

from pathlib import Path

from app.domain.clock import ManualClock
from app.domain.commands import RecordReaction
from app.domain.phase import Phase
from app.floor import Floor
from app.protocol_library import ProtocolLibrary
from app.station.floor_messages import parse_chair
from app.station.snapshot import chair_snapshot
from app.station.station import Station
from app.station.status_text import ANAPHYLAXIS_STYLE, PHASE_STYLES, phase_style
from app.store.journal import Journal
from app.ui.tile import tile_view
from tests.conftest import ChairScript


def _station(tmp_path: Path, library: ProtocolLibrary) -> tuple[Station, ChairScript, ManualClock]:
    clock = ManualClock()
    floor = Floor(Journal(tmp_path / "pod.sqlite", clock), library, clock)
    return Station(floor, ["Chair 1", "Chair 2"], clock), ChairScript(floor, clock), clock


def test_a_reaction_that_discontinues_is_stopped_for_good_on_the_tile_and_the_chair_view(
    tmp_path: Path, library: ProtocolLibrary
) -> None:
    station, script, clock = _station(tmp_path, library)
    script.to_infusing("natalizumab-300")  # any reaction to natalizumab discontinues it (its label)
    clock.advance(minutes=20)
    script.run(RecordReaction(2, ("flushing",)))
    clock.advance(minutes=45)  # long enough for the vital signs to be overdue
    state = script.state
    assert state.phase is Phase.OBSERVATION  # observed, by the state machine

    snapshot = chair_snapshot(station.chair("Chair 1"), clock.now(), station="Pod A", index=1)
    assert snapshot["phase"] == "observation"
    delivery = snapshot["delivery"]
    assert delivery["stopped_for_good"] and delivery["outcome"] == "discontinued for a reaction"
    assert delivery["state"] == "ended"
    assert delivery["segments"][-1]["stop_reason"] == "discontinued for a reaction"
    assert snapshot["vitals"]["overdue"]
    assert snapshot["next"]["urgent"] and snapshot["next"]["action"].startswith("⚠ STOP THE PUMP: grade 2")

    tile = tile_view(parse_chair(snapshot), clock.now())
    assert tile.phase_text == "■ Stopped for good"
    assert tile.next_text.startswith("⚠ STOP THE PUMP")  # not "vitals overdue" over the pump to stop
    assert phase_style(state) == PHASE_STYLES[Phase.DISCONTINUED]  # the chair view's banner

    other = chair_snapshot(station.chair("Chair 2"), clock.now(), station="Pod A", index=2)
    assert other["delivery"] is None and tile_view(parse_chair(other), clock.now()).phase_text == "○ Empty"


def test_a_grade_4_reaction_is_anaphylaxis_red_and_says_stop_the_pump(
    tmp_path: Path, library: ProtocolLibrary
) -> None:
    station, script, clock = _station(tmp_path, library)
    script.to_infusing()
    clock.advance(minutes=20)
    script.run(RecordReaction(4, ("stridor", "hypotension")))
    clock.advance(minutes=45)
    snapshot = chair_snapshot(station.chair("Chair 1"), clock.now(), station="Pod A", index=1)
    assert snapshot["delivery"]["stopped_for_good"]
    tile = tile_view(parse_chair(snapshot), clock.now())
    assert tile.phase_text == f"{ANAPHYLAXIS_STYLE.symbol} {ANAPHYLAXIS_STYLE.word}"  # red comes first
    assert tile.next_text.startswith("⚠ STOP THE PUMP: grade 4")
    assert phase_style(script.state) == ANAPHYLAXIS_STYLE
