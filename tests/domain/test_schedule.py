"""The rate schedule: nominal figures from the label, re-planning, and properties for any history."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.protocol import InfusionProtocol, ReactionAction
from app.domain.schedule import Interruption, Pause, PlanOutcome, Reaction, SegmentKind, plan_infusion
from app.protocol_library import ProtocolLibrary

LIBRARY = ProtocolLibrary.load()


def test_ocrevus_600_subsequent_is_500_ml_in_210_min() -> None:
    plan = plan_infusion(LIBRARY["ocrevus-600-subsequent"])
    assert plan.total_volume_ml == pytest.approx(500.0)
    assert plan.end_min == pytest.approx(210.0)
    assert [s.rate_ml_h for s in plan.segments] == [40, 80, 120, 160, 200]


def test_ocrevus_600_short_is_500_ml_in_120_min() -> None:
    plan = plan_infusion(LIBRARY["ocrevus-600-short"])
    assert plan.total_volume_ml == pytest.approx(500.0)
    assert plan.end_min == pytest.approx(120.0)


def test_ocrevus_300_initial_delivers_250_ml_ending_at_the_max_rate() -> None:
    protocol = LIBRARY["ocrevus-300-initial"]
    plan = plan_infusion(protocol)
    assert plan.total_volume_ml == pytest.approx(250.0)
    assert plan.segments[-1].rate_ml_h == protocol.max_rate_ml_h == 180
    assert plan.end_min == pytest.approx(150 + 25 / 180 * 60)  # about 2 h 38 min


def test_mild_reaction_holds_half_the_onset_rate_until_resolved() -> None:
    unresolved = plan_infusion(LIBRARY["ocrevus-600-subsequent"], [Reaction(70, 2)])
    assert unresolved.rate_at(70) == 60
    assert {s.rate_ml_h for s in unresolved.segments if s.start_min >= 70} == {60}
    late = plan_infusion(LIBRARY["ocrevus-600-subsequent"], [Reaction(70, 2, resolved_after_min=50)])
    assert late.rate_at(119.9) == 60 and late.rate_at(120) == 80


def test_mild_reaction_halves_the_onset_rate_for_30_min_then_escalates_per_the_table() -> None:
    plan = plan_infusion(LIBRARY["ocrevus-600-subsequent"], [Reaction(70, 2, resolved_after_min=10)])
    assert plan.rate_at(69.9) == 120
    assert plan.rate_at(70) == 60
    assert plan.rate_at(99.9) == 60
    assert plan.segment_at(80).kind is SegmentKind.REDUCED  # type: ignore[union-attr]
    assert plan.rate_at(100) == 80  # the lowest rung above the reduced rate
    assert plan.total_volume_ml == pytest.approx(500.0)
    assert plan.end_min is not None and plan.end_min > 210


def test_severe_reaction_stops_until_resolved_then_restarts_at_half() -> None:
    plan = plan_infusion(LIBRARY["ocrevus-600-subsequent"], [Reaction(70, 3, resolved_after_min=25)])
    assert plan.rate_at(80) == 0
    assert plan.segment_at(80).kind is SegmentKind.STOPPED  # type: ignore[union-attr]
    assert plan.rate_at(95) == 60
    assert plan.total_volume_ml == pytest.approx(500.0)


def test_unresolved_severe_reaction_has_no_end_and_life_threatening_discontinues() -> None:
    stopped = plan_infusion(LIBRARY["ocrevus-600-subsequent"], [Reaction(70, 3)])
    assert stopped.outcome is PlanOutcome.STOPPED and stopped.end_min is None
    discontinued = plan_infusion(LIBRARY["ocrevus-600-subsequent"], [Reaction(70, 4)])
    assert discontinued.outcome is PlanOutcome.DISCONTINUED
    assert discontinued.end_min == pytest.approx(70)
    assert discontinued.total_volume_ml == pytest.approx(20 + 40 + 120 * 10 / 60)


def test_pause_shifts_the_rest_of_the_schedule() -> None:
    plan = plan_infusion(LIBRARY["ocrevus-600-short"], [Pause(20, 10)])
    assert plan.rate_at(25) == 0
    assert plan.rate_at(30) == 200  # the 200 mL/h step resumes with its remaining 10 min
    assert plan.rate_at(39.9) == 200 and plan.rate_at(40) == 250
    assert plan.end_min == pytest.approx(130)


def test_reaction_uses_the_pump_rate_at_onset_when_known() -> None:
    plan = plan_infusion(LIBRARY["ocrevus-600-subsequent"], [Reaction(70, 1, onset_rate_ml_h=80)])
    assert plan.rate_at(75) == 40


def test_larger_bag_runs_the_labels_mg_per_hour_in_the_same_time() -> None:
    # issue 16: 600 mg in 520 mL is a weaker bag: each rung runs faster in mL/h, the same in mg/h
    plan = plan_infusion(LIBRARY["ocrevus-600-short"], bag_volume_ml=520)
    assert plan.total_volume_ml == pytest.approx(520)
    assert plan.end_min == pytest.approx(120)
    assert plan.rate_mg_h(plan.segments[0].rate_ml_h) == pytest.approx(100 * 1.2)


def test_next_change_after() -> None:
    plan = plan_infusion(LIBRARY["ocrevus-600-subsequent"])
    assert plan.next_change_after(10) == (30, 80)
    assert plan.next_change_after(200) == (pytest.approx(210), 0.0)


# --------------------------------------------------------------------------------------------------
# Properties: for any sequence of reactions and pauses


def _terminal_grades(protocol: InfusionProtocol) -> set[int]:
    return {g for r in protocol.reaction_rules if r.action is ReactionAction.DISCONTINUE for g in r.grades}


interruption = st.one_of(
    st.builds(Pause, st.floats(0, 400), st.floats(0, 120)),
    st.builds(Reaction, st.floats(0, 400), st.integers(1, 3), st.floats(0, 120)),
    st.builds(
        Reaction,
        st.floats(0, 400),
        st.integers(1, 2),
        st.none(),
        st.one_of(st.none(), st.floats(0.5, 400)),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    protocol_id=st.sampled_from(sorted(LIBRARY)),
    events=st.lists(interruption, max_size=6),
    bag_factor=st.sampled_from([1.0, 1.04, 0.8]),
)
def test_every_protocol_delivers_its_bag_and_never_exceeds_max_rate(
    protocol_id: str, events: list[Interruption], bag_factor: float
) -> None:
    protocol = LIBRARY[protocol_id]
    events = [e for e in events if not (isinstance(e, Reaction) and e.grade in _terminal_grades(protocol))]
    bag = protocol.bag_volume_ml * bag_factor
    plan = plan_infusion(protocol, events, bag)
    assert plan.outcome is PlanOutcome.COMPLETE
    assert plan.total_volume_ml == pytest.approx(bag, abs=1e-6)
    assert plan.max_rate_ml_h <= protocol.max_rate_ml_h_at(plan.concentration_mg_ml) + 1e-9
    assert all(s.duration_min > 0 and s.rate_ml_h >= 0 for s in plan.segments)
    ends = [s.end_min for s in plan.segments]
    starts = [s.start_min for s in plan.segments]
    assert all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(ends, starts[1:], strict=False))  # no gaps
    assert plan.volume_at(plan.end_min or 0) == pytest.approx(bag, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(
    protocol_id=st.sampled_from(sorted(LIBRARY)),
    events=st.lists(interruption, max_size=4),
    onset=st.floats(0, 300),
)
def test_a_discontinuing_reaction_ends_the_plan_at_onset_below_the_bag(
    protocol_id: str, events: list[Interruption], onset: float
) -> None:
    protocol = LIBRARY[protocol_id]
    grade = max(_terminal_grades(protocol))
    plan = plan_infusion(protocol, [*events, Reaction(onset, grade)])
    if plan.outcome is PlanOutcome.DISCONTINUED:
        assert plan.end_min is not None and plan.end_min <= onset + 1e-9
        assert plan.total_volume_ml <= protocol.bag_volume_ml + 1e-6
        assert plan.max_rate_ml_h <= protocol.max_rate_ml_h + 1e-9
    else:  # the bag was empty before the onset
        assert plan.outcome is PlanOutcome.COMPLETE
        assert plan.end_min is not None and plan.end_min <= onset + 1e-9


@pytest.mark.parametrize(
    "event",
    [
        Pause(10, math.nan),
        Pause(math.nan, 10),
        Reaction(math.inf, 2),
        Reaction(70, 3, math.nan),
        Reaction(70, 2, None, math.nan),
    ],
)
def test_a_number_that_is_not_finite_is_refused_not_planned(
    library: ProtocolLibrary, event: Interruption
) -> None:
    """A NaN pause once made the planner spin for ever."""
    with pytest.raises(ValueError, match="not a finite number"):
        plan_infusion(library["ocrevus-600-subsequent"], [event])
    with pytest.raises(ValueError, match="bag volume"):
        plan_infusion(library["ocrevus-600-subsequent"], [], math.nan)
