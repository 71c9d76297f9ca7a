"""Issue 16 (clinical rules, round 2): each point driven through the real Floor, journal and `decide`."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from app.alarm_policy import load_alarm_policy
from app.domain.alarms import AlarmBoard, AlarmInputs, Priority, PumpDelivery, PumpReading, evaluate
from app.domain.commands import (
    CompleteInfusion,
    Discharge,
    Discontinue,
    GivePremedication,
    Override,
    PrescriberRelease,
    RecordReaction,
    RecordVitals,
    ReleaseCosigner,
    ResolveSymptoms,
)
from app.domain.decide import CommandRefused
from app.domain.phase import Phase
from app.domain.protocol import ReactionAction
from app.protocol_library import ProtocolLibrary
from tests.conftest import BASELINE_VITALS

POLICY = load_alarm_policy()
OVERRIDE = Override(by="RN-CD (charge nurse)", reason="assessed at the bedside")
SECOND_NURSE = ReleaseCosigner(account="RN-CD", name="Carla Diaz", role="nurse", nurse=True, active=True)


def codes(caught: pytest.ExceptionInfo[CommandRefused]) -> list[str]:
    return [f.code for f in caught.value.failures]


# ---- point 2: natalizumab stops and is discontinued at any hypersensitivity reaction


@pytest.mark.parametrize("grade", [1, 2, 3, 4])
def test_natalizumab_discontinues_at_any_grade(chair_script: Any, grade: int) -> None:
    s = chair_script
    s.to_infusing("natalizumab-300")
    s.clock.advance(minutes=20)
    state = s.run(RecordReaction(grade=grade, signs=("urticaria",)))
    assert state.reactions[-1].action is ReactionAction.DISCONTINUE
    assert state.phase is Phase.OBSERVATION and state.discontinued_at == s.clock.now()


def test_every_protocol_gives_each_grade_an_action_as_data(library: ProtocolLibrary) -> None:
    for protocol in library.values():
        actions = {g: protocol.rule_for_grade(g).action for g in (1, 2, 3, 4)}
        assert actions[4] is ReactionAction.DISCONTINUE, protocol.id
        if protocol.drug == "natalizumab":
            assert set(actions.values()) == {ReactionAction.DISCONTINUE}
        else:
            assert actions[1] is ReactionAction.HALVE_RATE, protocol.id


# ---- point 8: the anaphylaxis signs per CTCAE v5 / WAO


@pytest.mark.parametrize(
    "sign",
    [
        "throat tightness, stridor",
        "stridor",
        "wheeze",
        "wheezing",
        "tongue swelling",
        "lip swelling",
        "collapse",
    ],
)
def test_anaphylaxis_signs_at_grade_2_are_refused(chair_script: Any, sign: str) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=40)
    with pytest.raises(CommandRefused) as caught:
        s.run(RecordReaction(grade=2, signs=(sign,)))
    assert codes(caught) == ["anaphylaxis_signs_low_grade"]


def test_the_anaphylaxis_signs_cite_ctcae_and_wao(floor: Any) -> None:
    terms = floor.reaction_terms
    assert "CTCAE" in terms.anaphylaxis_source and "WAO" in terms.anaphylaxis_source


# ---- point 12: sources corrected


def test_rituximab_hbv_is_a_boxed_warning_not_a_contraindication(library: ProtocolLibrary) -> None:
    for pid in ("rituximab-first", "rituximab-subsequent"):
        item = next(i for i in library[pid].screening if i.id == "active_hbv")
        assert item.if_not.value != "contraindication", pid
        assert "boxed warning" in item.source.lower(), pid


def test_premedication_doses_cite_a_source_and_ocrevus_gives_no_antihistamine_dose(
    library: ProtocolLibrary,
) -> None:
    for protocol in library.values():
        for premed in protocol.premedications:
            assert premed.source.strip(), (protocol.id, premed.drug)
            if protocol.drug == "ocrelizumab" and not premed.drug.startswith("methylprednisolone"):
                assert "institutional" in premed.source.lower(), (protocol.id, premed.drug)
                assert not premed.source.lower().startswith("label"), (protocol.id, premed.drug)


def test_nonlive_vaccine_is_asked_before_treatment_only(library: ProtocolLibrary) -> None:
    maintenance = (
        "ocrevus-600-subsequent",
        "ocrevus-600-short",
        "ublituximab-450-subsequent",
        "rituximab-subsequent",
    )
    for pid in maintenance:
        assert "nonlive_vaccine_2_weeks" not in {i.id for i in library[pid].screening}, pid
    assert "nonlive_vaccine_2_weeks" in {i.id for i in library["ocrevus-300-initial"].screening}


def test_natalizumab_questions_do_not_cite_the_ocrelizumab_seed(library: ProtocolLibrary) -> None:
    for item in library["natalizumab-300"].screening:
        assert "seed 004" not in item.source, item.id


# ---- point 7: natalizumab bag per the Tysabri label


def test_natalizumab_is_15_ml_into_100_ml_used_within_8_h_of_dilution(chair_script: Any) -> None:
    s = chair_script
    protocol = s.floor.protocols["natalizumab-300"]
    assert protocol.bag_volume_ml == 115
    assert round(protocol.concentration_mg_ml, 1) == 2.6
    prepared = s.clock.now() - timedelta(hours=1)
    state = s.check_in("natalizumab-300", bag_prepared_at=prepared, bag_refrigerated_until=s.clock.now())
    assert state.bag_expires_at == prepared + timedelta(hours=8)


# ---- point 1: a concentration on every protocol; mL/h derived from the label's mg/h


def test_every_protocol_has_a_concentration_range_with_its_source(library: ProtocolLibrary) -> None:
    for protocol in library.values():
        assert protocol.concentration is not None, protocol.id
        assert protocol.concentration.source.strip(), protocol.id
        assert protocol.concentration.allows(protocol.concentration_mg_ml), protocol.id


def test_ocrevus_600_mg_in_250_ml_is_refused_at_check_in(chair_script: Any) -> None:
    with pytest.raises(CommandRefused) as caught:
        chair_script.check_in("ocrevus-600-subsequent", bag_volume_ml=250)
    assert codes(caught) == ["concentration_out_of_range"] and not caught.value.overridable
    assert "2.40 mg/mL" in str(caught.value)


def test_ublituximab_and_natalizumab_refuse_a_bag_off_the_label(chair_script: Any) -> None:
    for pid, volume in (("ublituximab-450-subsequent", 100), ("natalizumab-300", 100)):
        with pytest.raises(CommandRefused) as caught:
            chair_script.check_in(pid, bag_volume_ml=volume)
        assert codes(caught) == ["concentration_out_of_range"], pid


def test_a_bag_counting_the_drug_volume_runs_the_labels_mg_per_hour(chair_script: Any) -> None:
    s = chair_script
    s.check_in("ocrevus-600-subsequent", bag_volume_ml=520)
    s.screen()
    s.premedicate()
    state = s.start()
    plan = state.plan()
    assert plan.rate_mg_h(plan.segments[0].rate_ml_h) == pytest.approx(40 * 1.2)  # 48 mg/h as the label
    assert plan.rate_mg_h(plan.max_rate_ml_h) == pytest.approx(200 * 1.2)  # never above 240 mg/h
    assert plan.segments[0].rate_ml_h == pytest.approx(48 / (600 / 520))


# ---- point 4: a severe reaction not restarted can be resolved after Discontinue or Complete


@pytest.mark.parametrize("ending", ["discontinue", "complete"])
def test_severe_reaction_not_restarted_resolves_then_discharges_without_override(
    chair_script: Any, ending: str
) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=70)
    s.run(RecordReaction(grade=3, signs=("rigors", "fever")))
    s.clock.advance(minutes=10)
    if ending == "discontinue":
        s.run(Discontinue("not restarted after the grade 3 reaction"))
    else:
        s.run(
            CompleteInfusion(
                "nurse", volume_infused_ml=150, reason="not restarted after the grade 3 reaction"
            )
        )
    ended = s.clock.now()
    s.clock.advance(minutes=20)
    state = s.run(ResolveSymptoms(notes="settled with paracetamol"))
    resolved = s.clock.now()
    assert state.reactions[-1].resolved_at == resolved
    assert state.earliest_discharge_at == max(ended, resolved) + timedelta(minutes=60)
    s.run(RecordVitals(dict(BASELINE_VITALS)))
    s.clock.advance(minutes=59)
    with pytest.raises(CommandRefused) as caught:
        s.run(Discharge())
    assert codes(caught) == ["observation_not_complete"]
    s.clock.advance(minutes=1)
    state = s.run(Discharge())
    assert state.phase is Phase.DISCHARGED and "overrides" not in state.events[-1].data


# ---- point 3: anaphylaxis


def _grade_4(s: Any) -> Any:
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=50)
    return s.run(RecordReaction(grade=4, signs=("stridor", "hypotension")))


def test_grade_4_discontinues_and_observes_the_institutions_anaphylaxis_time(chair_script: Any) -> None:
    s = chair_script
    state = _grade_4(s)
    onset = s.clock.now()
    assert state.reactions[-1].action is ReactionAction.DISCONTINUE
    assert state.reactions[-1].anaphylaxis
    hours = s.floor.reaction_terms.anaphylaxis_observation_min / 60
    assert hours == 6 and "NICE CG134" in s.floor.reaction_terms.anaphylaxis_observation_source
    s.clock.advance(minutes=15)
    s.run(ResolveSymptoms(notes="adrenaline IM x1, settled"))
    s.run(RecordVitals(dict(BASELINE_VITALS)))
    assert s.state.earliest_discharge_at == onset + timedelta(hours=6)
    s.clock.advance(minutes=60)  # the ordinary observation is over, the anaphylaxis one is not
    with pytest.raises(CommandRefused) as caught:
        s.run(Discharge(override=OVERRIDE))
    assert codes(caught) == ["anaphylaxis_observation"] and not caught.value.overridable
    assert "prescriber" in str(caught.value)
    s.clock.advance(minutes=6 * 60 - 75)
    state = s.run(Discharge())
    assert state.phase is Phase.DISCHARGED


def test_anaphylaxis_signs_at_a_lower_grade_overridden_still_discontinue(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=50)
    state = s.run(RecordReaction(grade=2, signs=("wheeze",), override=OVERRIDE))
    assert state.reactions[-1].anaphylaxis and state.reactions[-1].action is ReactionAction.DISCONTINUE
    assert state.earliest_discharge_at is None  # not resolved yet


def test_a_prescribers_release_must_be_co_signed(chair_script: Any) -> None:
    s = chair_script
    _grade_4(s)
    s.clock.advance(minutes=15)
    s.run(ResolveSymptoms())
    s.run(RecordVitals(dict(BASELINE_VITALS)))
    s.clock.advance(minutes=90)
    with pytest.raises(CommandRefused) as caught:
        s.run(
            Discharge(
                release=PrescriberRelease("Dr Osei", replace(SECOND_NURSE, account=s.nurse), note="reviewed")
            )
        )
    assert codes(caught) == ["release_not_co_signed"]
    state = s.run(Discharge(release=PrescriberRelease("Dr Osei", SECOND_NURSE, note="reviewed, well")))
    assert state.phase is Phase.DISCHARGED
    assert state.events[-1].data["prescriber_release"] == {
        "prescriber": "Dr Osei",
        "cosigned_by": "RN-CD",
        "cosigner_name": "Carla Diaz",
        "note": "reviewed, well",
    }


def test_anaphylaxis_raises_a_high_alarm_that_escalates_at_once(chair_script: Any) -> None:
    s = chair_script
    state = _grade_4(s)
    now = s.clock.now()
    conditions = [c for c in evaluate(AlarmInputs(now, state), POLICY) if c.rule == "anaphylaxis"]
    assert len(conditions) == 1 and conditions[0].priority is Priority.HIGH
    assert "anaphylaxis" in conditions[0].message and "discontinued" in conditions[0].message
    board = AlarmBoard(POLICY)
    board.update(conditions, now)
    assert [a.rule for a in board.escalated(now)] == ["anaphylaxis"]


# ---- point 5: vital signs at the extremes; tighter after a reaction


@pytest.mark.parametrize(
    "values",
    [
        {"systolic_mmhg": 45.0, "diastolic_mmhg": 20.0},
        {"respiratory_rate_per_min": 3.0},
        {"spo2_percent": 40.0},
        {"heart_rate_bpm": 0.0, "systolic_mmhg": 0.0, "diastolic_mmhg": 0.0},
        {"temperature_c": 29.0},
    ],
)
def test_shock_or_arrest_values_are_recorded_and_raise_a_high_alarm(
    chair_script: Any, values: dict[str, float]
) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=20)
    state = s.run(RecordVitals(values))
    assert state.vitals[-1].values == values
    raised = {c.rule: c.priority for c in evaluate(AlarmInputs(s.clock.now(), state), POLICY)}
    assert raised.get("vital_signs_high") is Priority.HIGH, raised


@pytest.mark.parametrize(
    "values", [{"spo2_percent": 101.0}, {"heart_rate_bpm": -1.0}, {"temperature_c": -2.0}]
)
def test_only_impossible_vital_signs_are_refused(chair_script: Any, values: dict[str, float]) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    with pytest.raises(CommandRefused) as caught:
        s.run(RecordVitals(values))
    assert codes(caught) == ["implausible_vitals"]


def test_after_a_reaction_vitals_are_due_every_15_min_for_an_hour(chair_script: Any) -> None:
    s = chair_script
    state = s.to_infusing("ocrevus-600-subsequent")
    start = state.infusion_started_at
    for minute in (15, 30, 45, 60, 90):
        s.clock.advance(minutes=minute - (s.clock.now() - start).total_seconds() / 60)
        s.run(RecordVitals(dict(BASELINE_VITALS)))
    s.clock.advance(minutes=10)  # 100 min: the grade 2
    state = s.run(RecordReaction(grade=2, signs=("flushing",)))
    assert state.vitals_due == (start + timedelta(minutes=115), "after the reaction")
    s.clock.advance(minutes=15)
    state = s.run(RecordVitals(dict(BASELINE_VITALS)))
    assert state.vitals_due == (start + timedelta(minutes=130), "after the reaction")
    schedule = state.require_protocol().vital_signs
    assert schedule is not None and (
        schedule.after_reaction_every_min,
        schedule.after_reaction_period_min,
    ) == (
        15,
        60,
    )


# ---- point 6: one rate-deviation rule that always flags twice the plan


def test_twice_the_planned_rate_is_flagged_at_any_rate(chair_script: Any) -> None:
    assert POLICY.above_plan(10, 5) and POLICY.above_plan(2, 1) and POLICY.above_plan(400, 200)
    assert not POLICY.above_plan(9.9, 5)
    s = chair_script
    s.check_in("ublituximab-150-first", prior_infusions=0, first_dose=True, last_dose_on=None)
    s.screen()
    s.premedicate()
    s.start()
    s.clock.advance(minutes=10)
    state = s.run(RecordReaction(grade=2, signs=("flushing",)))
    assert state.reactions[-1].new_rate_ml_h == 5  # first Briumvi rung 10 mL/h, halved
    s.clock.advance(minutes=5)  # the pump left at 10 mL/h
    rules = {c.rule for c in evaluate(AlarmInputs(s.clock.now(), state), POLICY)}
    assert "rate_above_plan_after_reaction" in rules


# ---- point 7: premedication totals per 24 h against the maximum


def test_premedication_total_over_24_h_is_checked_against_the_maximum(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")  # acetaminophen 1000 mg given
    for _ in range(3):
        s.clock.advance(minutes=20)
        s.run(GivePremedication("acetaminophen (antipyretic)", "1000 mg", "PO"))
    s.clock.advance(minutes=20)
    with pytest.raises(CommandRefused) as caught:
        s.run(GivePremedication("acetaminophen (antipyretic)", "650 mg", "PO"))
    assert codes(caught) == ["premedication_daily_max"] and caught.value.overridable
    assert "4650 mg in 24 h" in str(caught.value) and "4000" in str(caught.value)
    for protocol in s.floor.protocols.values():
        for premed in protocol.premedications:
            if premed.drug.startswith(("diphenhydramine", "acetaminophen")):
                assert premed.max_daily_mg is not None, (protocol.id, premed.drug)


# ---- point 10: eligibility and screening, each question citing its source


def test_a_third_ublituximab_dose_14_days_after_the_second_is_too_soon(chair_script: Any) -> None:
    s = chair_script
    with pytest.raises(CommandRefused) as caught:
        s.check_in(
            "ublituximab-450-subsequent",
            prior_infusions=2,
            last_dose_on=(s.clock.now() - timedelta(days=14)).date(),
        )
    assert codes(caught) == ["too_soon"] and caught.value.overridable
    with pytest.raises(CommandRefused) as caught:  # the second dose: 2 weeks after the first
        s.check_in(
            "ublituximab-450-subsequent",
            prior_infusions=1,
            last_dose_on=(s.clock.now() - timedelta(days=30)).date(),
        )
    assert codes(caught) == ["second_dose_window"]
    s.check_in(
        "ublituximab-450-subsequent",
        prior_infusions=1,
        last_dose_on=(s.clock.now() - timedelta(days=14)).date(),
    )


def test_rituximab_has_an_interval_check(chair_script: Any) -> None:
    s = chair_script
    with pytest.raises(CommandRefused) as caught:
        s.check_in(
            "rituximab-subsequent",
            dose_mg=500,
            bag_volume_ml=250,
            last_dose_on=(s.clock.now() - timedelta(days=3)).date(),
        )
    assert codes(caught) == ["too_soon"]


def test_screening_asks_age_pml_immunosuppressants_liver_and_bowel(library: ProtocolLibrary) -> None:
    for protocol in library.values():
        ids = {item.id: item for item in protocol.screening}
        assert "adult" in ids, protocol.id
        for item in protocol.screening:
            assert any(w in item.source.lower() for w in ("seed", "label", "touch", "institutional")), item.id
    nat = {item.id: item for item in library["natalizumab-300"].screening}
    assert nat["pml_history"].if_not.value == "contraindication" and "TOUCH" in nat["pml_history"].source
    assert "TOUCH" in nat["immunosuppressants"].source
    for pid in ("ocrevus-300-initial", "ocrevus-600-subsequent", "ocrevus-600-short"):
        ocr = {item.id: item for item in library[pid].screening}
        assert "seed 004" in ocr["liver_tests"].source and "seed 000" in ocr["bowel_disease"].source
        assert "seed 000" in ocr["adult"].source


# ---- point 11: a pump running with nobody checked in; a pump started during premedication


def test_a_pump_infusing_at_a_chair_with_no_session_raises_a_medium_alarm(chair_script: Any) -> None:
    now = chair_script.clock.now()
    reading = PumpReading(now, 100.0, 12.0, PumpDelivery.INFUSING)
    raised = [c for c in evaluate(AlarmInputs(now, None, reading, chair="Chair 3"), POLICY)]
    assert [(c.rule, c.priority) for c in raised] == [("pump_running_no_patient", Priority.MEDIUM)]
    assert raised[0].message == "Chair 3: pump running (100 mL/h), no patient checked in"
    stopped = PumpReading(now, 0.0, 12.0, PumpDelivery.STOPPED)
    assert not evaluate(AlarmInputs(now, None, stopped, chair="Chair 3"), POLICY)
