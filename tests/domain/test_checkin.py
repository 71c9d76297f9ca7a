"""Check-in from the record: dose and concentration, eligibility and history, the bag's product and time."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.domain.commands import (
    Discharge,
    Discontinue,
    Override,
    PrescriberRelease,
    RecordReaction,
    ReleaseCosigner,
    StartInfusion,
)
from app.domain.decide import CommandRefused
from app.domain.events import CheckedIn
from app.domain.phase import Phase
from app.floor import Floor
from tests.conftest import ChairScript

SECOND_NURSE = ReleaseCosigner(account="RN-CD", name="Carla Diaz", role="nurse", nurse=True, active=True)

OVERRIDE = Override(by="RN-CD (charge nurse)", reason="checked with pharmacy and prescriber")


def codes(caught: pytest.ExceptionInfo[CommandRefused]) -> list[str]:
    return [f.code for f in caught.value.failures]


def test_rituximab_records_dose_and_volume_and_derives_ml_h_from_mg_h(chair_script: Any) -> None:
    s = chair_script
    state = s.check_in(
        "rituximab-first",
        dose_mg=1000,
        bag_volume_ml=250,
        prior_infusions=0,
        last_dose_on=None,
        first_dose=True,
    )
    assert state.bag.dose_mg == 1000 and state.concentration_mg_ml == 4
    assert state.steps[0].rate_ml_h == 12.5  # label: 50 mg/h, here at 4 mg/mL
    assert state.steps[-1].rate_ml_h == 100  # 400 mg/h, never 600
    assert state.plan().rate_mg_h(state.plan().max_rate_ml_h) == 400
    s.screen()
    s.premedicate()
    state = s.start()
    assert state.pump_rate_ml_h == 12.5


def test_a_concentration_outside_the_label_is_refused(chair_script: Any) -> None:
    with pytest.raises(CommandRefused) as caught:
        chair_script.check_in(
            "rituximab-first",
            dose_mg=1000,
            bag_volume_ml=200,
            prior_infusions=0,
            last_dose_on=None,
            first_dose=True,
            override=OVERRIDE,
        )
    assert codes(caught) == ["concentration_out_of_range"] and not caught.value.overridable
    assert "5.00 mg/mL; the label allows 1-4 mg/mL (Rituxan" in str(caught.value)
    with pytest.raises(CommandRefused, match="0.50 mg/mL"):
        chair_script.check_in(
            "rituximab-first",
            dose_mg=250,
            bag_volume_ml=500,
            prior_infusions=0,
            last_dose_on=None,
            first_dose=True,
        )


def test_a_ml_h_protocol_keeps_its_dose(chair_script: Any) -> None:
    with pytest.raises(CommandRefused, match="is a 600 mg infusion; the bag says 300 mg"):
        chair_script.check_in("ocrevus-600-subsequent", dose_mg=300)


def test_last_dose_date_or_explicit_first_dose_is_required(chair_script: Any) -> None:
    with pytest.raises(CommandRefused) as caught:
        chair_script.check_in("ocrevus-600-subsequent", last_dose_on=None)
    assert codes(caught) == ["last_dose_missing"] and not caught.value.overridable
    with pytest.raises(CommandRefused, match="marked first dose, but 2 prior"):
        chair_script.check_in("ocrevus-600-subsequent", last_dose_on=None, first_dose=True)
    state = chair_script.check_in(
        "ocrevus-300-initial", last_dose_on=None, first_dose=True, prior_infusions=0
    )
    assert state.phase is Phase.SCREENING


def test_second_300_mg_dose_window_and_initial_protocol_after_two_infusions(chair_script: Any) -> None:
    s = chair_script
    today = s.clock.now().date()
    with pytest.raises(CommandRefused) as caught:
        s.check_in("ocrevus-300-initial", prior_infusions=1, last_dose_on=today - timedelta(days=2))
    assert codes(caught) == ["second_dose_window"] and caught.value.overridable
    assert "due 12-16 days after the first; the last dose was 2 days ago" in str(caught.value)
    with pytest.raises(CommandRefused) as caught:
        s.check_in("ocrevus-300-initial", prior_infusions=6, last_dose_on=today - timedelta(days=180))
    assert codes(caught) == ["not_eligible"]
    assert "is for the first 2 infusion(s); the patient has had 6" in str(caught.value)
    state = s.check_in("ocrevus-300-initial", prior_infusions=1, last_dose_on=today - timedelta(days=14))
    assert state.phase is Phase.SCREENING


def test_a_serious_reaction_in_the_journal_bars_the_short_infusion_next_time(chair_script: Any) -> None:
    s = chair_script
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=40)
    s.run(RecordReaction(grade=3, signs=("dyspnea",)))
    s.run(Discontinue("not restarted: prescriber's decision"))
    s.run(Discharge(override=OVERRIDE))
    s.clock.advance(minutes=183 * 24 * 60)
    # the tick for outside history is not set: the journal's own record says it
    with pytest.raises(CommandRefused) as caught:
        s.check_in("ocrevus-600-short", prior_serious_reaction=False)
    assert codes(caught) == ["not_eligible"]
    assert "grade 3 reaction on" in str(caught.value) and "(ocrevus-600-subsequent)" in str(caught.value)
    # another patient is not affected; the regular protocol still is fine
    s.check_in("ocrevus-600-short", patient_mrn="MRN-0099", chair="Chair 2")
    state = s.check_in("ocrevus-600-subsequent")
    assert state.events[0].payload_as(CheckedIn).history_serious_reactions[0].grade == 3


def test_a_bag_of_another_drug_is_refused_unless_overridden(chair_script: Any) -> None:
    s = chair_script
    with pytest.raises(CommandRefused) as caught:
        s.check_in("ocrevus-600-subsequent", bag_gtin="00364406008016")
    assert codes(caught) == ["bag_gtin_mismatch"] and caught.value.overridable
    assert "00364406008016 is natalizumab, not ocrelizumab" in str(caught.value)
    state = s.check_in("ocrevus-600-subsequent", bag_gtin="00364406008016", override=OVERRIDE)
    assert state.events[0].overrides[0].guard == "bag_gtin_mismatch"


def test_the_right_bag_passes(chair_script: Any) -> None:
    state = chair_script.check_in("ocrevus-600-subsequent", bag_gtin="00350242150019")
    assert state.bag.gtin == "00350242150019"


def test_a_start_whose_planned_end_passes_the_bag_expiry_is_refused(chair_script: Any) -> None:
    s = chair_script
    s.check_in("ocrevus-600-subsequent", bag_prepared_at=s.clock.now() - timedelta(hours=5))
    s.screen()
    s.premedicate()
    s.clock.advance(minutes=30)
    with pytest.raises(CommandRefused) as caught:
        s.run(StartInfusion())
    assert codes(caught) == ["bag_expires_before_end"] and caught.value.overridable
    assert s.run(StartInfusion(override=OVERRIDE)).phase is Phase.INFUSING


def test_refrigerated_storage_then_room_temperature(chair_script: Any) -> None:
    s = chair_script
    now = s.clock.now()
    state = s.check_in(
        "ocrevus-600-subsequent",
        bag_prepared_at=now - timedelta(hours=20),
        bag_refrigerated_until=now - timedelta(minutes=30),
    )
    # 20 h at 2-8 C (limit 24 h), then 8 h at room temperature from leaving the fridge
    assert state.bag_expires_at == now - timedelta(minutes=30) + timedelta(hours=8)


def test_refrigerated_too_long_expired_at_the_cold_limit(floor: Floor, clock: Any) -> None:
    s = ChairScript(floor, clock)
    now = clock.now()
    state = s.check_in(
        "ocrevus-600-subsequent",
        bag_prepared_at=now - timedelta(hours=30),
        bag_refrigerated_until=now - timedelta(minutes=10),
    )
    assert state.bag_expires_at == now - timedelta(hours=6)
    s.screen()
    s.premedicate()
    with pytest.raises(CommandRefused, match="the bag expired at"):
        s.start()


def test_label_expiry_is_at_local_midnight(floor: Floor, clock: Any) -> None:
    tz = ZoneInfo("Pacific/Auckland")  # far from UTC, so UTC midnight would be wrong by half a day
    local = Floor(floor.journal, floor.protocols, clock, display_tz=tz)
    s = ChairScript(local, clock)
    today = clock.now().astimezone(tz).date()
    state = s.check_in(
        "ocrevus-600-subsequent", bag_expiry=today, bag_prepared_at=clock.now() - timedelta(minutes=5)
    )
    midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    assert state.bag.label_expires_at == midnight
    assert state.bag_expires_at == min(midnight, clock.now() - timedelta(minutes=5) + timedelta(hours=8))
    assert date.today() is not None


def test_history_follows_a_corrected_mrn(chair_script: Any) -> None:
    from app.domain.commands import Correct

    s = chair_script
    state = s.check_in("ocrevus-600-subsequent", patient_mrn="MRN-0O42")  # a typing slip
    s.run(Correct(state.events[0].seq, "letter O typed for zero", {"patient_mrn": "MRN-0042"}))
    s.screen()
    s.premedicate()
    s.start()
    s.clock.advance(minutes=40)
    s.run(RecordReaction(grade=4, signs=("anaphylaxis",)))
    s.run(
        Discharge(override=OVERRIDE, release=PrescriberRelease("Dr Osei", SECOND_NURSE, "transferred to ED"))
    )
    history = s.floor.patient_history("MRN-0042")
    assert [r.grade for r in history.serious_reactions] == [4]
    assert s.floor.patient_history("MRN-0O42").serious_reactions == ()
