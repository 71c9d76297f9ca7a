"""IPEC delivery segments read from the session's delivery (app.domain.delivery), issue 18 points 1 and
6-8: every segment ends with a Stop or Complete and its reason, an alarm stop says so, a resume reports
the rate the pump restarts at, Stops carry Time Remaining, delivered never above the VTBI, nurse-entered
vitals are manual measurements. Real Floor, journal and export; messages parsed field by field."""

from __future__ import annotations

from datetime import timedelta

from app.domain.clock import ManualClock
from app.domain.commands import (
    CompleteInfusion,
    Discontinue,
    PauseInfusion,
    RecordReaction,
    RecordVitals,
    ResumeInfusion,
)
from app.domain.delivery import PUMP_ALARM_REASON
from app.export.hl7 import Hl7Message, build_messages
from app.export.hl7_check import parse_validated
from app.export.model import gather
from app.export.shifts import ExportRange, LocalTime
from app.floor import Floor
from app.store.journal import Journal
from app.store.telemetry import PumpSample

from ..conftest import ChairScript


def _ipec(journal: Journal, clock: ManualClock) -> list[Hl7Message]:
    start = clock.now() - timedelta(days=1)
    log = gather(
        journal, ExportRange(start, clock.now() + timedelta(seconds=1), "t"), LocalTime.named("UTC"), start
    )
    messages = build_messages(log)
    for message in messages:
        parse_validated(message.er7)
    return messages


def _obx(message: Hl7Message, ref_id: str) -> list[str] | None:
    for seg in message.er7.rstrip("\r").split("\r"):
        fields = seg.split("|")
        if fields[0] == "OBX" and fields[3].split("^")[1:2] == [ref_id]:
            return fields
    return None


def _value(message: Hl7Message, ref_id: str) -> str:
    fields = _obx(message, ref_id)
    assert fields is not None, f"no {ref_id} in {message.what}"
    return fields[5]


def _story(messages: list[Hl7Message]) -> list[tuple[str, str, str]]:
    """(event, current rate, not-delivering reason) of each IPEC message."""
    out = []
    for m in messages:
        if m.trigger != "R42":
            continue
        reason = _obx(m, "MDC_DEV_PUMP_NOT_DELIVERING_REASON")
        out.append(
            (
                _value(m, "MDC_ATTR_EVT_COND").split("^")[1].removeprefix("MDC_EVT_PUMP_DELIV_"),
                _value(m, "MDC_FLOW_FLUID_PUMP_CURRENT"),
                "" if reason is None else reason[5].lstrip("^"),
            )
        )
    return out


def test_a_grade_4_reaction_sends_a_delivery_stop(
    clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=25)
    chair_script.run(RecordReaction(4, ("stridor", "hypotension")))
    messages = _ipec(journal, clock)
    assert _story(messages) == [("START", "40", ""), ("STOP", "0", "pump-stopped-by-clinician")]
    stop = [m for m in messages if m.trigger == "R42"][-1]
    assert _value(stop, "MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS") == "^pump-delivery-status-not-delivering"
    assert _value(stop, "MDC_FLOW_FLUID_PUMP") == "40"  # the programmed rate of the segment that ended
    assert _obx(stop, "MDC_TIME_PD_REMAIN") is not None  # Stops carry Time Remaining


def test_an_occlusion_stop_is_alarming_and_the_resume_starts_a_new_segment(
    clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=10)
    chair_script.run(PauseInfusion(f"{PUMP_ALARM_REASON}: occlusion downstream", source="pump"))
    clock.advance(minutes=4)
    chair_script.run(ResumeInfusion(source="pump"))
    clock.advance(minutes=4)
    chair_script.run(Discontinue("patient asked to stop"))
    assert _story(_ipec(journal, clock)) == [
        ("START", "40", ""),
        ("STOP", "0", "pump-stopped-alarming"),
        ("START", "40", ""),
        ("STOP", "0", "pump-stopped-by-clinician"),  # a discontinuation while running ends the segment
    ]


def test_the_restart_after_a_severe_reaction_reports_the_restart_rate(
    clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=40)
    reaction = chair_script.run(RecordReaction(3, ("rigors",))).reactions[-1]
    clock.advance(minutes=30)
    chair_script.run(ResumeInfusion())
    restart = f"{reaction.restart_rate_ml_h:g}"
    story = _story(_ipec(journal, clock))
    assert story[-2:] == [("STOP", "0", "pump-stopped-by-clinician"), ("START", restart, "")]
    assert restart != f"{reaction.rate_at_onset_ml_h:g}"


def test_a_completion_has_a_reason_and_delivered_never_exceeds_the_vtbi(
    floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    state = chair_script.to_infusing()
    assert state.bag is not None
    vtbi = state.bag.volume_ml
    clock.advance(minutes=200)
    # The pump counts the line's overfill: its reading goes past the bag
    sample = PumpSample(clock.now(), 200.0, vtbi + 6.0, "infusing")
    assert floor.journal.recorder.record(chair_script.chair, chair_script.session_id, sample)
    clock.advance(seconds=30)
    chair_script.run(CompleteInfusion("pump", vtbi + 6.0))
    messages = _ipec(journal, clock)
    complete = [m for m in messages if m.trigger == "R42"][-1]
    assert _story([complete]) == [("COMP", "0", "pump-stopped-not-specified")]
    assert _value(complete, "MDC_VOL_FLUID_DELIV_TOTAL") == f"{vtbi:g}"
    assert _value(complete, "MDC_VOL_FLUID_TBI_REMAIN") == "0"
    assert _value(complete, "MDC_TIME_PD_REMAIN") == "0"
    for m in messages:
        delivered = _obx(m, "MDC_VOL_FLUID_DELIV_TOTAL")
        assert delivered is None or float(delivered[5]) <= vtbi, m.what


def test_nurse_entered_vitals_are_manual_measurements(
    clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=15)
    chair_script.run(RecordVitals({"systolic_mmhg": 128, "heart_rate_bpm": 80}))
    vitals = [m for m in _ipec(journal, clock) if m.what == "vital signs"]
    assert vitals
    for message in vitals:
        rows = [s.split("|") for s in message.er7.split("\r") if s.startswith("OBX|")]
        assert rows and all(row[17] == "MMEAS^manual-measurement^MDC" for row in rows if row[5])
        obr = next(s.split("|") for s in message.er7.split("\r") if s.startswith("OBR|"))
        assert obr[4].endswith("^SCT")  # HL7 table 0396
