"""A simulated shift driven through the real Floor and journal, for tests, the benchmark and demos.

Every chair runs a script (check-in, screening, premedications, infusion with the pump following the
plan, vitals, reactions, alarms, pauses, observation, discharge) as a generator that says when it
wants to act next; a scheduler sets the ManualClock to the earliest wake-up, so the journal holds the
chairs' entries interleaved as on a real floor. Nothing is written to the journal except through
`Floor.execute` / `Floor.check_in` and the journal's `TelemetryRecorder` (what the chair controller does
with pump samples).
"""

from __future__ import annotations

import heapq
import itertools
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from app.domain.chair import ChairState
from app.domain.clock import ManualClock
from app.domain.commands import (
    ChangeRate,
    CheckIn,
    CompleteInfusion,
    Discharge,
    GivePremedication,
    PauseInfusion,
    RecordAlarm,
    RecordReaction,
    RecordScreening,
    RecordVitals,
    ResolveSymptoms,
    ResumeInfusion,
    StartInfusion,
)
from app.domain.phase import Phase
from app.floor import Floor
from app.store.telemetry import PumpSample

NURSES = ("RN Müller", "RN Okafor", "RN Lindqvist", "RN Dubois")
PUMP_ACTOR = "pump"
_BASELINE = {
    "temperature_c": 36.8,
    "systolic_mmhg": 124.0,
    "diastolic_mmhg": 78.0,
    "heart_rate_bpm": 72.0,
    "respiratory_rate_per_min": 14.0,
    "spo2_percent": 98.0,
}


@dataclass(frozen=True)
class Visit:
    """One patient's session at a chair, with what will happen during it."""

    chair: str
    initials: str
    mrn: str
    protocol_id: str
    arrive_after_min: float = 0.0  # after the chair's previous visit was discharged (or the shift start)
    reaction: tuple[int, float] | None = None  # (grade, minutes after the infusion start)
    occlusion_alarm_at_min: float | None = None
    pause_at_min: float | None = None  # a nurse pause of 5 minutes
    nurse: str = NURSES[0]
    observation_notice: bool = False  # the station's "observation complete" notification, never cleared
    advisory_at_min: float | None = None  # a step-up-overdue advisory nobody clears (the discharge ends it)
    visit_number: str = ""  # scanned at check-in (optional)
    order_number: str = ""


@dataclass
class ShiftResult:
    session_ids: list[str] = field(default_factory=list)
    open_session_ids: list[str] = field(default_factory=list)
    telemetry_samples: int = 0


_Wake = Iterator[datetime]  # a chair script yields the moment it wants to run again


def run_shift(
    floor: Floor,
    clock: ManualClock,
    visits: Sequence[Visit],
    until: datetime,
    sample_min: float = 1.0,
) -> ShiftResult:
    """Run every visit (chairs in parallel, visits at one chair one after another) until `until`.

    Sessions not finished by then stay open, as at a real shift change."""
    result = ShiftResult()
    by_chair: dict[str, list[Visit]] = {}
    for visit in visits:
        by_chair.setdefault(visit.chair, []).append(visit)
    start = clock.now()
    counter = itertools.count()
    queue: list[tuple[datetime, int, _Wake]] = []
    for chair_visits in by_chair.values():
        script = _chair_script(floor, clock, chair_visits, result, sample_min)
        heapq.heappush(queue, (start, next(counter), script))
    while queue:
        wake, _, script = heapq.heappop(queue)
        if wake >= until:
            continue
        clock.set(max(wake, clock.now()))
        try:
            following = next(script)
        except StopIteration:
            continue
        heapq.heappush(queue, (following, next(counter), script))
    clock.set(max(until, clock.now()))
    result.open_session_ids = [sid for sid in result.session_ids if sid in floor.sessions]
    return result


def _chair_script(
    floor: Floor, clock: ManualClock, visits: Sequence[Visit], result: ShiftResult, sample_min: float
) -> _Wake:
    for visit in visits:
        yield clock.now() + timedelta(minutes=visit.arrive_after_min)
        yield from _visit_script(floor, clock, visit, result, sample_min)


def _visit_script(
    floor: Floor, clock: ManualClock, visit: Visit, result: ShiftResult, sample_min: float
) -> _Wake:
    protocol = floor.protocols[visit.protocol_id]
    nurse = visit.nurse
    now = clock.now()
    first_course = protocol.eligibility.min_prior_infusions == 0
    state = floor.check_in(
        CheckIn(
            chair=visit.chair,
            patient_mrn=visit.mrn,
            patient_initials=visit.initials,
            protocol_id=protocol.id,
            bag_volume_ml=protocol.bag_volume_ml,
            bag_lot=f"L{zlib.crc32((visit.chair + visit.mrn).encode()) % 100000:05d}",
            bag_expiry=now.date() + timedelta(days=60),
            bag_prepared_at=now - timedelta(minutes=20),
            prior_infusions=0 if first_course else 3,
            prior_serious_reaction=False,
            last_dose_on=None if first_course else now.date() - timedelta(days=182),
            visit_number=visit.visit_number,
            order_number=visit.order_number,
            first_dose=first_course,
        ),
        nurse,
    )
    sid = state.session_id
    result.session_ids.append(sid)
    run: Callable[..., ChairState] = floor.execute

    yield clock.now() + timedelta(minutes=2)
    run(sid, RecordVitals(dict(_BASELINE)), nurse)
    answers = {item.id: item.acceptable_answer for item in protocol.screening}
    run(sid, RecordScreening(answers), nurse)

    yield clock.now() + timedelta(minutes=3)
    for premed in protocol.premedications:
        run(sid, GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route), nurse)
    lead = max((p.min_lead_min for p in protocol.premedications if p.required), default=0.0)

    yield clock.now() + timedelta(minutes=lead + 2)
    state = run(sid, StartInfusion(), nurse)
    started = clock.now()
    volume_ml = 0.0
    last_sample = started
    next_vitals = started + timedelta(minutes=15)
    reaction_at = None if visit.reaction is None else started + timedelta(minutes=visit.reaction[1])
    alarm_at = (
        None
        if visit.occlusion_alarm_at_min is None
        else started + timedelta(minutes=visit.occlusion_alarm_at_min)
    )
    pause_at = None if visit.pause_at_min is None else started + timedelta(minutes=visit.pause_at_min)
    advisory_at = (
        None if visit.advisory_at_min is None else started + timedelta(minutes=visit.advisory_at_min)
    )
    resume_at: datetime | None = None
    resolve_at: datetime | None = None

    while state.phase in (Phase.INFUSING, Phase.PAUSED):
        now = clock.now()
        # The pump delivered at its rate since the last sample.
        if state.phase is Phase.INFUSING and state.pump_rate_ml_h:
            volume_ml += state.pump_rate_ml_h * (now - last_sample).total_seconds() / 3600.0
        last_sample = now
        planned = state.planned_rate_ml_h(now)
        if state.phase is Phase.INFUSING:
            end = state.projected_end(now)
            if end is not None and end <= now:
                state = run(sid, CompleteInfusion("pump", round(volume_ml, 1)), PUMP_ACTOR)
                break
            if state.pump_rate_ml_h is None or abs(planned - state.pump_rate_ml_h) > 1e-6:
                state = run(sid, ChangeRate(planned, "pump"), PUMP_ACTOR)
        stored = floor.journal.recorder.record(
            visit.chair,
            sid,
            PumpSample(
                now,
                state.pump_rate_ml_h if state.phase is Phase.INFUSING and state.pump_rate_ml_h else 0.0,
                round(volume_ml, 3),
                "infusing" if state.phase is Phase.INFUSING else "stopped",
            ),
        )
        result.telemetry_samples += int(stored)
        if now >= next_vitals:
            values = dict(_BASELINE)
            if state.reactions:
                values["heart_rate_bpm"] = 104.0
            state = run(sid, RecordVitals(values), nurse)
            next_vitals = now + timedelta(minutes=15)
        if reaction_at is not None and now >= reaction_at and visit.reaction is not None:
            grade = visit.reaction[0]
            # grade 3 without signs of anaphylaxis (those discontinue at any grade: issue 16)
            signs = {1: ("pruritus",), 2: ("flushing", "urticaria"), 3: ("dyspnea", "rigors")}
            state = run(
                sid,
                RecordReaction(grade, signs.get(grade, ("anaphylaxis",)), notes="see vitals"),
                nurse,
            )
            reaction_at = None
            record = state.reactions[-1]
            if record.new_rate_ml_h > 0 and state.phase is Phase.INFUSING:
                state = run(sid, ChangeRate(record.new_rate_ml_h, "nurse", "reaction: half rate"), nurse)
            if state.phase is Phase.PAUSED:
                resume_at = now + timedelta(minutes=20)
            elif record.holds_until_resolved:
                resolve_at = now + timedelta(minutes=15)
            if state.phase not in (Phase.INFUSING, Phase.PAUSED):
                break
        if resolve_at is not None and now >= resolve_at:
            state = run(sid, ResolveSymptoms(), nurse)
            resolve_at = None
        if alarm_at is not None and now >= alarm_at:
            alarm_id = f"{visit.chair}-occl-{now:%H%M}"
            message = f"{visit.chair}: occlusion downstream"
            run(sid, RecordAlarm("raised", alarm_id, "pump_occlusion", "high", message), PUMP_ACTOR)
            yield clock.now() + timedelta(seconds=40)
            run(sid, RecordAlarm("acknowledged", alarm_id, "pump_occlusion", "high", message), nurse)
            yield clock.now() + timedelta(seconds=80)
            state = run(sid, RecordAlarm("cleared", alarm_id, "pump_occlusion", "high", message), PUMP_ACTOR)
            alarm_at = None
        if advisory_at is not None and now >= advisory_at:
            text = f"{visit.chair}: the step-up is overdue"
            run(sid, RecordAlarm("raised", f"{visit.chair}-step", "step_up_overdue", "low", text), "system")
            advisory_at = None
        if pause_at is not None and now >= pause_at and state.phase is Phase.INFUSING:
            state = run(sid, PauseInfusion("patient to the bathroom"), nurse)
            pause_at = None
            resume_at = now + timedelta(minutes=5)
        if resume_at is not None and now >= resume_at and state.phase is Phase.PAUSED:
            state = run(sid, ResumeInfusion(), nurse)
            resume_at = None
        yield clock.now() + timedelta(minutes=sample_min)

    if state.phase is Phase.OBSERVATION:
        if state.unresolved_reactions:
            yield clock.now() + timedelta(minutes=20)
            state = run(sid, ResolveSymptoms(), nurse)
        ends = state.observation_ends_at or clock.now()
        while clock.now() + timedelta(minutes=30) <= ends:
            yield clock.now() + timedelta(minutes=30)
            state = run(sid, RecordVitals(dict(_BASELINE)), nurse)
        yield ends
        if visit.observation_notice:  # as the station raises it; the discharge ends it, nothing clears it
            rule = "observation_complete"
            at = floor.face.at(ends, clock.now())  # as the station says it: in its display zone
            text = f"{visit.chair}: observation complete at {at}: the patient may be discharged"
            run(sid, RecordAlarm("raised", f"{visit.chair}-obs-{ends:%H%M}", rule, "low", text), "system")
        run(sid, RecordVitals(dict(_BASELINE)), nurse)  # before discharge
    else:
        yield clock.now() + timedelta(minutes=30)
    run(sid, Discharge(), nurse)


def demo_visits(chairs: int, shift_hours: float = 12.0, *, day: date | None = None) -> list[Visit]:
    """Chairs x as many visits as fit in the shift, with a spread of protocols and events."""
    protocols = (
        "ocrevus-600-subsequent",
        "ocrevus-300-initial",
        "ocrevus-600-short",
        "natalizumab-300",
        "ublituximab-450-subsequent",
        "rituximab-subsequent",
    )
    typical_min = {  # check-in to discharge, roughly; used only to decide how many visits fit
        "ocrevus-600-subsequent": 330,
        "ocrevus-300-initial": 300,
        "ocrevus-600-short": 220,
        "natalizumab-300": 160,
        "ublituximab-450-subsequent": 170,
        "rituximab-subsequent": 280,
    }
    visits = []
    number = 0
    for chair_index in range(chairs):
        chair = f"Chair {chair_index + 1:02d}"
        elapsed = float(chair_index % 6) * 10.0
        first = True
        while True:
            protocol_id = protocols[number % len(protocols)]
            if elapsed + typical_min[protocol_id] > shift_hours * 60.0 and not first:
                break
            reaction = None
            if number % 5 == 1:
                reaction = (2, 50.0)
            elif number % 11 == 3:
                reaction = (3, 40.0)
            elif number % 17 == 7:
                reaction = (1, 25.0)
            visits.append(
                Visit(
                    chair=chair,
                    initials=_initials(number),
                    mrn=f"MRN{100000 + number}",
                    protocol_id=protocol_id,
                    arrive_after_min=(float(chair_index % 6) * 10.0) if first else 15.0,
                    reaction=reaction,
                    occlusion_alarm_at_min=35.0 if number % 4 == 2 else None,
                    pause_at_min=70.0 if number % 7 == 4 else None,
                    nurse=NURSES[chair_index % len(NURSES)],
                    visit_number=f"V{2026000 + number}" if number % 3 else "",
                    order_number=f"ORD{500000 + number}" if number % 3 else "",
                )
            )
            elapsed += typical_min[protocol_id] + 15.0
            number += 1
            first = False
    return visits


def _initials(number: int) -> str:
    letters = "ABCDEFGHJKLMNPRSTVWZ"
    return letters[number % len(letters)] + letters[(number * 7 + 3) % len(letters)]
