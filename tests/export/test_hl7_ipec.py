"""HL7 content, one scripted session at a time through the real Floor and journal: IPEC semantics,
distinct codes, identifiers, reactions / vitals / notes / alarms, and golden messages written by hand
from the IHE PCD sample messages (IPEC supplement X.1.2.2; PCD TF-2 Report Alert), compared field by
field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.domain.clock import ManualClock
from app.domain.commands import (
    AddNote,
    ChangeRate,
    CompleteInfusion,
    Discontinue,
    PauseInfusion,
    RecordAlarm,
    RecordReaction,
    RecordVitals,
    ResumeInfusion,
)
from app.export.hl7 import Hl7Message, build_messages
from app.export.hl7_check import parse_validated
from app.export.hl7_settings import Hl7Settings, derive_eui64
from app.export.model import gather
from app.export.shifts import ExportRange, LocalTime
from app.floor import Floor
from app.store.journal import Journal
from app.store.telemetry import PumpSample

from ..conftest import ChairScript

ZONE = "Europe/Zurich"
SETTINGS = Hl7Settings(
    station_name="CHAIRSIDE",
    facility="KSB",
    point_of_care="ONKO-TK",
    assigning_authority="KSB-PID",
    station_eui64="0012210000000001",
    pump_eui64={"Chair 1": "0012210000000002"},
)


def _build(journal: Journal, clock: ManualClock, settings: Hl7Settings = SETTINGS) -> list[Hl7Message]:
    start = clock.now() - timedelta(days=1)
    log = gather(
        journal, ExportRange(start, clock.now() + timedelta(seconds=1), "test"), LocalTime.named(ZONE), start
    )
    messages = build_messages(log, settings)
    for message in messages:
        parse_validated(message.er7)  # every message passes hl7apy's strict v2.6 validation
    return messages


def _segments(er7: str) -> list[list[str]]:
    return [seg.split("|") for seg in er7.rstrip("\r").split("\r")]


def _obx(message: Hl7Message, ref_id: str) -> list[str]:
    for fields in _segments(message.er7):
        if fields[0] == "OBX" and fields[3].split("^")[1:2] == [ref_id]:
            return fields
    raise AssertionError(f"no OBX {ref_id} in {message.control_id}")


def _event(message: Hl7Message) -> str:
    return _obx(message, "MDC_ATTR_EVT_COND")[5].split("^")[1]


def _delivery(messages: list[Hl7Message]) -> list[Hl7Message]:
    return [m for m in messages if m.trigger == "R42"]


def _sample(floor: Floor, script: ChairScript, volume_ml: float) -> None:
    state = script.state
    sample = PumpSample(script.clock.now(), state.pump_rate_ml_h or 0.0, volume_ml, "infusing")
    assert floor.journal.recorder.record(script.chair, script.session_id, sample)


def test_rate_change_is_a_transitioning_stop_then_a_start(
    floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=10)
    _sample(floor, chair_script, 6.7)
    clock.advance(minutes=20)
    chair_script.run(ChangeRate(80, "pump"))
    events = _delivery(_build(journal, clock))
    assert [_event(m) for m in events] == [
        "MDC_EVT_PUMP_DELIV_START",
        "MDC_EVT_PUMP_DELIV_STOP",
        "MDC_EVT_PUMP_DELIV_START",
    ]
    stop, start = events[1], events[2]
    assert _obx(stop, "MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS")[5] == "^pump-delivery-status-transitioning"
    assert _obx(stop, "MDC_FLOW_FLUID_PUMP_CURRENT")[5] == "40"  # the old rate
    assert _obx(stop, "MDC_VOL_FLUID_DELIV_TOTAL")[5] == "6.7"  # the last pump sample
    assert _obx(start, "MDC_FLOW_FLUID_PUMP_CURRENT")[5] == "80"
    assert _obx(start, "MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS")[5] == "^pump-delivery-status-delivering"
    assert stop.control_id != start.control_id and stop.at == start.at


def test_pump_completion_is_complete_and_not_stopped_by_clinician(
    floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=200)
    chair_script.run(CompleteInfusion("pump", 498.5))
    complete = _delivery(_build(journal, clock))[-1]
    assert _event(complete) == "MDC_EVT_PUMP_DELIV_COMP"
    assert "pump-stopped-by-clinician" not in complete.er7
    assert _obx(complete, "MDC_VOL_FLUID_DELIV_TOTAL")[5] == "498.5"
    assert _obx(complete, "MDC_PUMP_INFUSING_STATUS")[5] == "^pump-status-not-infusing"


def test_pause_then_discontinue_is_one_stop_with_the_last_known_volume(
    floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=12)
    _sample(floor, chair_script, 8.0)
    clock.advance(minutes=3)  # no pump sample between this one and the pause
    chair_script.run(PauseInfusion("patient unwell"))
    clock.advance(minutes=10)
    chair_script.run(Discontinue("patient declined to continue"))
    events = _delivery(_build(journal, clock))
    assert [_event(m) for m in events] == ["MDC_EVT_PUMP_DELIV_START", "MDC_EVT_PUMP_DELIV_STOP"]
    stop = events[1]
    assert _obx(stop, "MDC_VOL_FLUID_DELIV_TOTAL")[5] == "8"
    assert _obx(stop, "MDC_DEV_PUMP_NOT_DELIVERING_REASON")[5] == "^pump-stopped-by-clinician"
    assert _obx(stop, "MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS")[5] == "^pump-delivery-status-not-delivering"


def test_a_stop_without_any_pump_sample_still_carries_the_delivered_volume(
    clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=5)
    chair_script.run(PauseInfusion("line check"))
    clock.advance(minutes=5)
    chair_script.run(ResumeInfusion())
    events = _delivery(_build(journal, clock))
    assert [_event(m) for m in events][1:] == ["MDC_EVT_PUMP_DELIV_STOP", "MDC_EVT_PUMP_DELIV_START"]
    assert _obx(events[1], "MDC_VOL_FLUID_DELIV_TOTAL")[5] == "0"


def test_every_term_has_its_own_code(
    floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=30)
    chair_script.run(ChangeRate(80, "pump"))
    clock.advance(minutes=150)
    chair_script.run(CompleteInfusion("pump", 450.0))
    codes: dict[str, set[str]] = {}
    for message in _build(journal, clock):
        for fields in _segments(message.er7):
            if fields[0] != "OBX":
                continue
            for cwe in (fields[3], fields[5] if fields[2] == "CWE" else ""):
                parts = cwe.split("^")
                if len(parts) >= 3 and parts[2] == "MDC":
                    codes.setdefault(parts[0], set()).add(parts[1])
    assert "0" not in codes
    assert all(len(names) == 1 for names in codes.values()), codes
    by_name = {next(iter(n)): c for c, n in codes.items()}
    assert by_name["MDC_EVT_PUMP_DELIV_STOP"] != by_name["MDC_EVT_PUMP_DELIV_COMP"]
    assert 258048 <= int(by_name["MDC_EVT_PUMP_DELIV_STOP"]) <= 262143  # private range of partition 3


def test_identifiers(floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript) -> None:
    chair_script.check_in(visit_number="V-2026-0042", order_number="ORD-77")
    chair_script.screen()
    chair_script.premedicate()
    chair_script.start()
    messages = _build(journal, clock)
    start = _delivery(messages)[0]
    seg = {fields[0]: fields for fields in _segments(start.er7)}
    assert seg["MSH"][2] == "CHAIRSIDE^0012210000000001^EUI-64"
    assert seg["PID"][3] == "MRN-0042^^^KSB-PID^MR"
    # Initials are not a name: TF-2 B.5 PID-5, "If no name is available, the name type code should be
    # U - unspecified, and the other components should be empty" (docs/hl7.md).
    assert seg["PID"][5] == "^^^^^^U" and "JD" not in "|".join(seg["PID"])
    assert seg["PV1"][3] == "ONKO-TK^^Chair 1^KSB"
    assert seg["PV1"][19] == "V-2026-0042^^^KSB-PID^VN"
    assert seg["OBR"][2] == "ORD-77^KSB-PID"
    assert _obx(start, "MDC_DEV_PUMP_INFUS_LVP_MDS")[18] == "Chair 1^^0012210000000002^EUI-64"
    assert _obx(start, "MDC_FLOW_FLUID_PUMP")[16] == "RN-AB"
    # Two stations never share a control id; a derived EUI-64 is locally administered and unicast.
    other = _build(journal, clock, Hl7Settings(station_name="CHAIRSIDE-2"))
    assert not {m.control_id for m in messages} & {m.control_id for m in other}
    assert len({m.control_id for m in messages}) == len(messages)
    derived = derive_eui64("station", "CHAIRSIDE-2")
    assert other[0].er7.startswith(f"MSH|^~\\&|CHAIRSIDE-2^{derived}^EUI-64|")
    assert int(derived[:2], 16) & 0x03 == 0x02


def test_reactions_vitals_notes_and_alarms_reach_hl7(
    floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    chair_script.to_infusing()
    clock.advance(minutes=20)
    chair_script.run(RecordVitals({"systolic_mmhg": 131, "heart_rate_bpm": 88, "temperature_c": 37.2}))
    clock.advance(minutes=5)
    chair_script.run(RecordReaction(2, ("flushing", "urticaria"), notes="cetirizine given"))
    chair_script.run(AddNote("patient asks for a blanket | warm"))
    alarm = ("Chair 1-occl", "pump_occlusion", "high", "Chair 1: occlusion downstream")
    for kind in ("raised", "acknowledged", "cleared"):
        clock.advance(seconds=40)
        chair_script.run(RecordAlarm(kind, *alarm))
    messages = _build(journal, clock)
    vitals = next(m for m in messages if m.what == "vital signs" and "|131|" in m.er7)
    assert _obx(vitals, "MDC_PRESS_BLD_NONINV_SYS")[2:7] == [
        "NM",
        "150021^MDC_PRESS_BLD_NONINV_SYS^MDC",
        "1.1.1.1",
        "131",
        "266016^MDC_DIM_MMHG^MDC^mm[Hg]^mm[Hg]^UCUM",
    ]
    assert _obx(vitals, "MDC_PULS_RATE_NON_INV")[5] == "88"
    assert _obx(vitals, "MDC_TEMP_BODY")[5] == "37.2"
    reaction = next(m for m in messages if m.what == "reaction")
    assert _obx(reaction, "Infusion-related reaction")[5] == "2^CTCAE grade 2^L"
    assert "NTE|1||Grade 2 infusion reaction: flushing, urticaria; action: halve_rate" in reaction.er7
    assert "NTE|2||cetirizine given" in reaction.er7
    note = next(m for m in messages if m.what == "note")
    assert "NTE|1||Note by RN-AB: patient asks for a blanket \\F\\ warm" in note.er7
    alarms = [m for m in messages if m.trigger == "R40"]
    assert [m.what for m in alarms] == ["alarm start", "alarm update", "alarm end"]
    assert [_obx(m, "MDC_ATTR_ALARM_INACTIVATION_STATE")[5] for m in alarms] == [
        "enabled",
        "alert-acknowledged",
        "enabled",
    ]
    assert len({_segments(m.er7)[3][29] for m in alarms}) == 1  # OBR-29: one alert throughout (TF-2 B.7.1)
    assert len({_segments(m.er7)[3][3] for m in alarms}) == 3  # OBR-3: one per status update


def test_one_chronological_stream(
    floor: Floor, clock: ManualClock, journal: Journal, library: object
) -> None:
    first, second = ChairScript(floor, clock, "Chair 1"), ChairScript(floor, clock, "Chair 2")
    first.to_infusing()
    second.to_infusing()
    for _ in range(6):
        clock.advance(minutes=10)
        _sample(floor, first, 1.0)
        _sample(floor, second, 1.0)
    clock.advance(minutes=1)
    first.run(ChangeRate(80, "pump"))
    second.run(ChangeRate(80, "pump"))
    settings = Hl7Settings(sample_interval_min=15)
    messages = _build(journal, clock, settings)
    times = [m.at for m in messages]
    assert all(t is not None for t in times)
    assert times == sorted(times)  # type: ignore[type-var]
    assert {m.what for m in messages} >= {"pump sample", "delivery start", "delivery stop (rate change)"}


def _fields_differ(actual: str, expected: str) -> list[str]:
    """Field-by-field comparison: 'SEG[n]-k: got ... want ...' for each differing field."""
    problems = []
    got, want = _segments(actual), _segments(expected)
    if len(got) != len(want):
        problems.append(f"{len(got)} segments, want {len(want)}")
    for number, (g, w) in enumerate(zip(got, want, strict=False), start=1):
        for index in range(max(len(g), len(w))):
            gv = g[index] if index < len(g) else ""
            wv = w[index] if index < len(w) else ""
            if gv != wv:
                field = index + 1 if w[0] == "MSH" else index  # MSH-1 is the separator itself
                problems.append(f"segment {number} {w[0]}-{field}: got {gv!r}, want {wv!r}")
    return problems


def test_golden_ipec_delivery_start_and_acm_alarm(
    floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    """Written by hand from the IPEC supplement's Delivery Start sample (X.1.2.2) and the PCD TF-2
    Report Alert layout, with this session's values."""
    chair_script.check_in(visit_number="V1", order_number="ORD-1")
    chair_script.screen()
    chair_script.premedicate()
    chair_script.start()  # 08:30 UTC = 09:30 in Zurich, 40 mL/h
    clock.advance(minutes=5)
    chair_script.run(RecordAlarm("raised", "A1", "pump_occlusion", "high", "Chair 1: occlusion"))
    messages = _build(journal, clock)
    sid = chair_script.session_id
    start = _delivery(messages)[0]
    position = start.position
    eui, pump = "0012210000000001", "0012210000000002"
    head = (
        "PID|||MRN-0042^^^KSB-PID^MR||^^^^^^U\rPV1||O|ONKO-TK^^Chair 1^KSB||||||||||||||||V1^^^KSB-PID^VN\r"
    )
    unit_ml_h = "265266^MDC_DIM_MILLI_L_PER_HR^MDC^mL/h^mL/h^UCUM"
    unit_ml = "263762^MDC_DIM_MILLI_L^MDC^mL^mL^UCUM"
    t = "20260105093000+0100"
    expected_start = (
        f"MSH|^~\\&|CHAIRSIDE^{eui}^EUI-64|KSB|||20260104093500+0100||ORU^R42^ORU_R01|{eui}.{position}|P|2.6"
        "|||AL|NE||UNICODE UTF-8|||IHE_PCD_010^IHE PCD^1.3.6.1.4.1.19376.1.6.4.10^ISO\r"
        + head
        + f"OBR|1|ORD-1^KSB-PID|{sid}^CHAIRSIDE^{eui}^EUI-64|ocrevus-600-subsequent^"
        f"Ocrevus 600 mg subsequent dose (every 6 months)^L|||{t}\r"
        f"OBX|1||70049^MDC_DEV_PUMP_INFUS_LVP_MDS^MDC|1.0.0.0|||||||X|||{t}||||Chair 1^^{pump}^EUI-64\r"
        f"OBX|2|CWE|126977^MDC_ATTR_EVT_COND^MDC|1.0.0.1|197288^MDC_EVT_PUMP_DELIV_START^MDC||||||R|||{t}||RN-AB\r"
        f"OBX|3|ST|126978^MDC_ATTR_EVT_SOURCE^MDC|1.0.0.2|1.1.2.0||||||R|||{t}||RN-AB\r"
        f"OBX|4|DTM|67975^MDC_ATTR_TIME_ABS^MDC|1.0.0.3|{t}||||||R|||{t}||RN-AB\r"
        f"OBX|5||70050^MDC_DEV_PUMP_INFUS_LVP_VMD^MDC|1.1.0.0|||||||X|||{t}\r"
        f"OBX|6||126979^MDC_DEV_PUMP_DELIVERY_INFO^MDC|1.1.1.0|||||||X|||{t}\r"
        f"OBX|7|CWE|184519^MDC_PUMP_INFUSING_STATUS^MDC|1.1.1.1|^pump-status-infusing||||||R|||{t}||RN-AB\r"
        f"OBX|8|NM|192513^MDC_FLOW_FLUID_PUMP_CURRENT^MDC|1.1.1.2|40|{unit_ml_h}|||||R|||{t}||RN-AB\r"
        f"OBX|9|CWE|192514^MDC_DEV_PUMP_ACTIVE_SOURCES^MDC|1.1.1.3|^pump-source-info-primary||||||R|||{t}||RN-AB\r"
        f"OBX|10||126980^MDC_DEV_PUMP_INFUSATE_SOURCE_PRIMARY^MDC|1.1.2.0|||||||X|||{t}\r"
        f"OBX|11|CWE|192515^MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS^MDC|1.1.2.1|^pump-delivery-status-delivering"
        f"||||||R|||{t}||RN-AB\r"
        f"OBX|12|CWE|192516^MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE^MDC|1.1.2.2|^pump-program-delivery-mode-continuous"
        f"||||||R|||{t}||RN-AB\r"
        f"OBX|13|ST|192518^MDC_DEV_PUMP_SOURCE_CHANNEL_LABEL^MDC|1.1.2.3|Primary||||||R|||{t}||RN-AB\r"
        f"OBX|14|NM|157784^MDC_FLOW_FLUID_PUMP^MDC|1.1.2.4|40|{unit_ml_h}|||||R|||{t}||RN-AB\r"
        f"OBX|15|NM|157884^MDC_VOL_FLUID_TBI^MDC|1.1.2.6|500|{unit_ml}|||||R|||{t}||RN-AB\r"
        f"OBX|16|NM|157993^MDC_VOL_FLUID_DELIV_TOTAL^MDC|1.1.2.7|0|{unit_ml}|||||R|||{t}||RN-AB\r"
        f"OBX|17|NM|157872^MDC_VOL_FLUID_TBI_REMAIN^MDC|1.1.2.8|500|{unit_ml}|||||R|||{t}||RN-AB\r"
        f"OBX|18|NM|157916^MDC_TIME_PD_REMAIN^MDC|1.1.2.9|750|264352^MDC_DIM_MIN^MDC^min^min^UCUM|||||R|||{t}"
        "||RN-AB\r"
        f"OBX|19|ST|184514^MDC_DRUG_NAME_LABEL^MDC|1.1.2.10|ocrelizumab||||||R|||{t}||RN-AB\r"
    )
    assert _fields_differ(start.er7, expected_start) == []
    alarm = next(m for m in messages if m.trigger == "R40")
    a = "20260105093500+0100"
    expected_alarm = (  # IHE PCD TF-2 Rev 8.0: B.1 (MSH-21), B.7.1 (OBR-3, OBR-29), B.8.5 (facets), B.8.6 (F)
        f"MSH|^~\\&|CHAIRSIDE^{eui}^EUI-64|KSB|||20260104093500+0100||ORU^R40^ORU_R40|{eui}.{alarm.position}"
        "|P|2.6|||AL|NE||UNICODE UTF-8|||IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.4.1^ISO\r"
        + head
        + f"OBR|1|ORD-1^KSB-PID|{alarm.position}^CHAIRSIDE^{eui}^EUI-64|196616^MDC_EVT_ALARM^MDC|||{a}"
        f"||||||||||||||||||||||^{sid}:A1&CHAIRSIDE&{eui}&EUI-64\r"
        f"OBX|1||70049^MDC_DEV_PUMP_INFUS_LVP_MDS^MDC|1.0.0.0|||||||F|||{a}||||Chair 1^^{pump}^EUI-64\r"
        f"OBX|2|CWE|196616^MDC_EVT_ALARM^MDC|1.0.0.0.1|196940^MDC_EVT_FLUID_LINE_OCCL^MDC^^^^^^Chair 1: occlusion"
        f"||||||F|||{a}\r"
        f"OBX|3|CWE|68480^MDC_ATTR_ALERT_SOURCE^MDC|1.0.0.0.2|70049^MDC_DEV_PUMP_INFUS_LVP_MDS^MDC||||||F|||{a}"
        f"||||Chair 1^^{pump}^EUI-64\r"
        f"OBX|4|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.0.0.0.3|start||||||F|||{a}\r"
        f"OBX|5|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.0.0.0.4|active||||||F|||{a}\r"
        f"OBX|6|ST|68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC|1.0.0.0.5|enabled||||||F|||{a}\r"
        f"OBX|7|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.0.0.0.6|PH||||||F|||{a}\r"
        f"OBX|8|ST|68485^MDC_ATTR_ALERT_TYPE^MDC|1.0.0.0.7|ST||||||F|||{a}\r"
    )
    assert _fields_differ(alarm.er7, expected_alarm) == []


@pytest.mark.parametrize("value", ["a|b", "x^y&z~w", "back\\slash", "line\nbreak"])
def test_free_text_is_escaped(
    floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript, value: str
) -> None:
    chair_script.check_in()
    chair_script.run(AddNote(value))
    note = next(m for m in _build(journal, clock) if m.what == "note")
    nte = next(f for f in _segments(note.er7) if f[0] == "NTE")
    assert len(nte) == 4 and parse_validated(note.er7)


def test_a_live_feed_gets_the_same_messages_entry_by_entry(
    floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    """SessionFeed turns one journal entry into its messages, as a live feed would call it."""
    from app.export.hl7 import Hl7Builder, SessionFeed

    chair_script.to_infusing()
    clock.advance(minutes=30)
    chair_script.run(ChangeRate(80, "pump"))
    clock.advance(minutes=5)
    chair_script.run(RecordAlarm("raised", "A1", "pump_occlusion", "high", "occlusion"))
    exported = _build(journal, clock)
    created = clock.now() - timedelta(days=1)  # the export time _build used
    feed = SessionFeed(Hl7Builder(SETTINGS, LocalTime.named(ZONE), created), chair_script.session_id)
    live = []
    for entry in journal.entries(session_id=chair_script.session_id):
        live += feed.on_entry(entry)
    assert [m.er7 for m in live] == [m.er7 for m in exported]


def test_obx16_follows_the_handover_of_the_responsible_nurse(
    floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    from app.domain.commands import HandOver

    chair_script.to_infusing()
    clock.advance(minutes=20)
    chair_script.run(HandOver("RN-CD"))
    clock.advance(minutes=10)
    chair_script.floor.execute(chair_script.session_id, ChangeRate(80, "pump"), "pump")
    events = _delivery(_build(journal, clock))
    assert _obx(events[0], "MDC_FLOW_FLUID_PUMP")[16] == "RN-AB"
    assert _obx(events[-1], "MDC_FLOW_FLUID_PUMP")[16] == "RN-CD"  # entered by the pump, for RN-CD


def _containment_problems(er7: str) -> list[str]:
    """IHE PCD TF-2 B.8.3 / B.8.4: every metric's MDS, VMD and channel (the non-zero levels of its OBX-4)
    has its device-related row (trailing zeros, no value, OBX-11 X) before it; OBX-4 is unique within
    the OBR and the rows are in dictionary order."""
    rows = [fields + [""] * (19 - len(fields)) for fields in _segments(er7) if fields[0] == "OBX"]
    ids = [tuple(int(part) for part in row[4].split(".")) for row in rows]
    problems = []
    if len(set(ids)) != len(ids):
        problems.append(f"OBX-4 repeated: {[row[4] for row in rows]}")
    if ids != sorted(ids):
        problems.append(f"OBX-4 not in dictionary order: {[row[4] for row in rows]}")
    if not rows or ids[0] != (ids[0][0], 0, 0, 0):
        problems.append("the first OBX is not an MDS row")
    devices = {sub: row for sub, row in zip(ids, rows, strict=True) if sub[3] == 0}
    for row in devices.values():
        if row[2] or row[5] or row[11] != "X":
            problems.append(f"device row {row[4]} carries a value")
    for sub, row in zip(ids, rows, strict=True):
        mds, vmd, chan, metric = sub
        if metric == 0:
            continue
        parents = (
            [(mds, 0, 0, 0)] + ([(mds, vmd, 0, 0)] if vmd else []) + ([(mds, vmd, chan, 0)] if chan else [])
        )
        problems += [f"{row[4]} ({row[3]}): no device row {p}" for p in parents if p not in devices]
    return problems


STATION_MDS_EQUIPMENT = "CHAIRSIDE^^0012210000000001^EUI-64"


def test_every_device_observation_has_its_containment_rows(
    floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    """Pump samples, delivery events, vital signs and reactions: each metric hangs off its MDS, VMD and
    channel rows (TF-2 B.8.3), as the IPEC sample does for the pump."""
    chair_script.to_infusing()
    clock.advance(minutes=20)
    _sample(floor, chair_script, 13.0)
    chair_script.run(ChangeRate(80, "pump"))
    clock.advance(minutes=20)
    _sample(floor, chair_script, 40.0)
    chair_script.run(RecordVitals({"systolic_mmhg": 131, "heart_rate_bpm": 88, "temperature_c": 37.2}))
    chair_script.run(RecordReaction(2, ("flushing",)))
    messages = [m for m in _build(journal, clock) if m.trigger in ("R01", "R42") and "\rOBX|" in m.er7]
    assert {m.what for m in messages} >= {"pump sample", "vital signs", "reaction", "delivery start"}
    problems = {m.what: _containment_problems(m.er7) for m in messages}
    assert problems == {what: [] for what in problems}


def test_nurse_entered_vitals_hang_off_the_station_as_the_manual_entry_device(
    floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    """Vital signs typed in by the nurse: the station (its EUI-64) is the MDS, not the pump; blood pressure
    and pulse under the NIBP VMD and channel, SpO2 under the SpO2 VMD (codes of the TF-2 E.1 samples);
    every value OBX-17 MMEAS."""
    chair_script.to_infusing()
    clock.advance(minutes=20)
    recorded = {
        "systolic_mmhg": 131,
        "diastolic_mmhg": 79,
        "heart_rate_bpm": 88,
        "respiratory_rate_per_min": 16,
        "spo2_percent": 97,
        "temperature_c": 37.2,
    }
    chair_script.run(RecordVitals(recorded))
    vitals = next(m for m in _build(journal, clock) if m.what == "vital signs" and "|131|" in m.er7)
    assert _containment_problems(vitals.er7) == []
    rows = [fields + [""] * (19 - len(fields)) for fields in _segments(vitals.er7) if fields[0] == "OBX"]
    mds = rows[0]
    assert mds[3] == "CHAIRSIDE^Chairside station (manual entry)^L" and mds[4] == "1.0.0.0"
    assert mds[18] == STATION_MDS_EQUIPMENT  # the station's EUI-64, never the pump's
    assert "70049^" not in vitals.er7 and "0012210000000002" not in vitals.er7
    by_code = {row[3].split("^")[0]: row for row in rows}
    nibp_vmd, nibp_chan, spo2_vmd = by_code["70686"], by_code["70687"], by_code["69642"]
    assert nibp_vmd[3] == "70686^MDC_DEV_PRESS_BLD_NONINV_VMD^MDC"
    assert nibp_chan[3] == "70687^MDC_DEV_PRESS_BLD_NONINV_CHAN^MDC"
    assert spo2_vmd[3] == "69642^MDC_DEV_ANALY_SAT_O2_VMD^MDC"
    for code in ("150021", "150022", "149546"):  # systolic, diastolic, pulse: in the NIBP channel
        assert by_code[code][4].rsplit(".", 1)[0] == nibp_chan[4].rsplit(".", 1)[0]
    assert by_code["150456"][4].split(".")[:2] == spo2_vmd[4].split(".")[:2]
    values = [row for row in rows if row[5]]
    assert len(values) == len(recorded)
    assert all(row[17] == "MMEAS^manual-measurement^MDC" and row[16] == "RN-AB" for row in values)
    assert all(row[17] == "" and row[16] == "" for row in rows if not row[5])


def test_golden_vital_signs_from_the_station(
    floor: Floor, clock: ManualClock, journal: Journal, chair_script: ChairScript
) -> None:
    """Written by hand after PCD TF-2 Rev 8.0 E.1.2 (episodic NIBP report): device rows with trailing
    zeros, then the metrics under them; the station as the manual-entry MDS; OBX-17 MMEAS."""
    chair_script.check_in(visit_number="V1", order_number="ORD-1")  # 08:00 UTC, 09:00 in Zurich
    chair_script.run(RecordVitals({"systolic_mmhg": 118, "diastolic_mmhg": 76, "spo2_percent": 97}))
    vitals = next(m for m in _build(journal, clock) if m.what == "vital signs")
    eui, sid, t = "0012210000000001", chair_script.session_id, "20260105090000+0100"
    mmhg = "266016^MDC_DIM_MMHG^MDC^mm[Hg]^mm[Hg]^UCUM"
    expected = (
        f"MSH|^~\\&|CHAIRSIDE^{eui}^EUI-64|KSB|||20260104090000+0100||ORU^R01^ORU_R01|{eui}.{vitals.position}"
        "|P|2.6|||AL|NE||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r"
        "PID|||MRN-0042^^^KSB-PID^MR||^^^^^^U\rPV1||O|ONKO-TK^^Chair 1^KSB||||||||||||||||V1^^^KSB-PID^VN\r"
        f"OBR|1|ORD-1^KSB-PID|{sid}^CHAIRSIDE^{eui}^EUI-64|182777000^monitoring of patient^SCT|||{t}\r"
        f"OBX|1||CHAIRSIDE^Chairside station (manual entry)^L|1.0.0.0|||||||X|||{t}||||CHAIRSIDE^^{eui}^EUI-64\r"
        f"OBX|2||70686^MDC_DEV_PRESS_BLD_NONINV_VMD^MDC|1.1.0.0|||||||X|||{t}\r"
        f"OBX|3||70687^MDC_DEV_PRESS_BLD_NONINV_CHAN^MDC|1.1.1.0|||||||X|||{t}\r"
        f"OBX|4|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.1.1|118|{mmhg}|||||R|||{t}||RN-AB"
        "|MMEAS^manual-measurement^MDC\r"
        f"OBX|5|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.1.1.2|76|{mmhg}|||||R|||{t}||RN-AB"
        "|MMEAS^manual-measurement^MDC\r"
        f"OBX|6||69642^MDC_DEV_ANALY_SAT_O2_VMD^MDC|1.2.0.0|||||||X|||{t}\r"
        f"OBX|7|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.0.1|97|262688^MDC_DIM_PERCENT^MDC^%^%^UCUM|||||R|||{t}"
        "||RN-AB|MMEAS^manual-measurement^MDC\r"
    )
    assert _fields_differ(vitals.er7, expected) == []
