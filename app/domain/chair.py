"""The state of one chair session, rebuilt as a pure fold of its events.

`ChairState.replay(events)` after a crash gives exactly the state the screen showed before it.
Everything the nurse sees (planned rate, countdowns, what is due) is derived here from that state
and an explicit `now`; nothing reads the clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

from app.domain import payloads
from app.domain.clock import minutes_between
from app.domain.delivery import DeliveryRecord, delivery_of, rate_at
from app.domain.events import (
    AlarmEntry,
    CheckedIn,
    CorrectionRecorded,
    Discontinued,
    Event,
    EventType,
    InfusionCompleted,
    InfusionPaused,
    InfusionStarted,
    PremedicationGiven,
    RateChanged,
    ReactionRecorded,
    ScreeningRecorded,
    SymptomsResolved,
    VitalsRecorded,
)
from app.domain.events import ReactionNotTolerated as ReactionNotToleratedEntry
from app.domain.events.times import format_time as format_time
from app.domain.events.times import parse_time as parse_time
from app.domain.phase import Phase, can_move
from app.domain.protocol import (
    InfusionProtocol,
    RateStep,
    ReactionAction,
    VitalSignSchedule,
    parse_protocol,
)
from app.domain.schedule import (
    Interruption,
    Pause,
    Plan,
    Reaction,
    earliest_discharge_min,
    plan_infusion,
    session_steps,
)


class InvalidEventSequence(ValueError):
    """The journal holds an event that the state machine would never have produced."""


@dataclass(frozen=True)
class Bag:
    volume_ml: float
    lot: str
    expiry: date
    prepared_at: datetime
    gtin: str = ""
    dose_mg: float | None = None  # the session's dose; None: the protocol's
    refrigerated_until: datetime | None = None  # kept at 2-8 C from preparation until then
    label_expires_at: datetime | None = None  # the label's expiry date ends at local midnight

    def expires_at(self, protocol: InfusionProtocol) -> datetime:
        """The earlier of the diluted-bag limit and the label's expiry (end of its date, local time).

        Diluted: the room-temperature limit (which includes the infusion time) runs from preparation,
        or, for a bag kept refrigerated, from when it left the fridge; a bag kept refrigerated longer
        than the refrigerated limit expired at that limit."""
        if self.refrigerated_until is not None and self.refrigerated_until > self.prepared_at:
            cold_limit = self.prepared_at + timedelta(hours=protocol.bag_refrigerated_limit_h)
            if self.refrigerated_until > cold_limit:
                diluted_limit = cold_limit
            else:
                diluted_limit = self.refrigerated_until + timedelta(
                    hours=protocol.bag_room_temperature_limit_h
                )
        else:
            diluted_limit = self.prepared_at + timedelta(hours=protocol.bag_room_temperature_limit_h)
        if protocol.bag_total_limit_h is not None:
            diluted_limit = min(diluted_limit, self.prepared_at + timedelta(hours=protocol.bag_total_limit_h))
        label_limit = self.label_expires_at or datetime.combine(
            self.expiry + timedelta(days=1), time(0), tzinfo=UTC
        )
        return min(diluted_limit, label_limit)


@dataclass(frozen=True)
class GivenPremedication:
    seq: int
    drug: str
    dose: str
    route: str
    given_at: datetime
    actor: str


@dataclass(frozen=True)
class PauseRecord:
    seq: int
    start: datetime
    reason: str
    source: str
    end: datetime | None = None


@dataclass(frozen=True)
class ReactionRecord:
    seq: int
    onset_at: datetime
    grade: int
    signs: tuple[str, ...]
    action: ReactionAction | None  # None when recorded after the infusion ended
    rate_at_onset_ml_h: float
    new_rate_ml_h: float  # what the pump must be set to now (0 when stopped)
    restart_rate_ml_h: float  # after a stop, the rate to restart at once symptoms resolve
    notes: str
    actor: str
    resolved_at: datetime | None = None  # symptoms resolved (stop-then-restart: the restart)
    not_tolerated_at: datetime | None = None  # the reduced rate was not tolerated
    anaphylaxis: bool = False  # grade 4 or signs of anaphylaxis: discontinued, observed longer
    anaphylaxis_observation_min: float = 0.0  # the institution's observation from the onset

    @property
    def holds_until_resolved(self) -> bool:
        """Unresolved and waiting for the nurse's "symptoms resolved" (a stop waits for the restart)."""
        return self.resolved_at is None and self.action is not ReactionAction.STOP_THEN_RESTART


@dataclass(frozen=True)
class VitalsRecord:
    seq: int
    at: datetime
    values: Mapping[str, float | None]
    actor: str
    alerts: tuple[str, ...] = ()  # the messages for out-of-range values
    alert_signs: tuple[str, ...] = ()  # which signs were out of range
    extreme_signs: tuple[str, ...] = ()  # which were in the extreme band (always a high alarm)


@dataclass(frozen=True)
class AlarmRecord:
    alarm_id: str
    rule: str
    priority: str
    message: str
    raised_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    cleared_at: datetime | None = None


@dataclass(frozen=True)
class ChairState:
    session_id: str
    phase: Phase = Phase.EMPTY
    chair: str = ""
    patient_mrn: str = ""
    patient_initials: str = ""
    protocol: InfusionProtocol | None = None
    bag: Bag | None = None
    prior_infusions: int = 0
    prior_serious_reaction: bool = False
    last_dose_on: date | None = None
    checked_in_at: datetime | None = None
    screening_answers: Mapping[str, bool] = field(default_factory=dict)
    premedications: tuple[GivenPremedication, ...] = ()
    infusion_started_at: datetime | None = None
    pump_rate_ml_h: float | None = None
    pauses: tuple[PauseRecord, ...] = ()
    reactions: tuple[ReactionRecord, ...] = ()
    vitals: tuple[VitalsRecord, ...] = ()
    completed_at: datetime | None = None
    volume_infused_ml: float | None = None
    discharged_at: datetime | None = None
    discontinued_at: datetime | None = None
    discontinued_reason: str = ""
    alarms: Mapping[str, AlarmRecord] = field(default_factory=dict)
    assigned_nurse: str = ""  # responsible for the patient; pump-documented entries name this nurse
    events: tuple[Event, ...] = ()

    # ------------------------------------------------------------------------------------------
    # Fold

    @classmethod
    def replay(cls, session_id: str, events: Iterable[Event]) -> ChairState:
        state = cls(session_id)
        for event in events:
            state = state.apply(event)
        return state

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq if self.events else 0

    def event(self, seq: int) -> Event | None:
        for event in self.events:
            if event.seq == seq:
                return event
        return None

    def apply(self, event: Event) -> ChairState:
        handler = _HANDLERS.get(event.type)
        state = handler(self, event) if handler is not None else self
        if not can_move(self.phase, state.phase):
            raise InvalidEventSequence(
                f"event {event.seq} ({event.type}) moves {self.phase.name} to {state.phase.name}, which is not allowed"
            )
        return replace(state, events=(*self.events, event))

    # ------------------------------------------------------------------------------------------
    # Derived views (all take `now` explicitly)

    def require_protocol(self) -> InfusionProtocol:
        if self.protocol is None:
            raise ValueError("no protocol: the chair is not checked in")
        return self.protocol

    @property
    def bag_expires_at(self) -> datetime | None:
        if self.bag is None or self.protocol is None:
            return None
        return self.bag.expires_at(self.protocol)

    @property
    def open_pause(self) -> PauseRecord | None:
        return next((p for p in self.pauses if p.end is None), None)

    @property
    def unresolved_stop_reaction(self) -> ReactionRecord | None:
        return next(
            (
                r
                for r in self.reactions
                if r.action is ReactionAction.STOP_THEN_RESTART and r.resolved_at is None
            ),
            None,
        )

    def minutes_from_start(self, moment: datetime) -> float:
        if self.infusion_started_at is None:
            raise ValueError("the infusion has not started")
        return minutes_between(self.infusion_started_at, moment)

    def interruptions(self, resume_open_at: datetime | None = None) -> list[Interruption]:
        """Pauses and reactions in schedule minutes. Open ones end at `resume_open_at` if given."""
        if self.infusion_started_at is None:
            return []
        result: list[Interruption] = []
        for pause in self.pauses:
            end = pause.end or resume_open_at
            duration = None if end is None else max(0.0, minutes_between(pause.start, end))
            result.append(Pause(self.minutes_from_start(pause.start), duration))
        for reaction in self.reactions:
            if reaction.action is None:
                continue
            if reaction.action is ReactionAction.STOP_THEN_RESTART:
                resolved = reaction.resolved_at or resume_open_at
            else:
                resolved = reaction.resolved_at
            result.append(
                Reaction(
                    onset_min=max(0.0, self.minutes_from_start(reaction.onset_at)),
                    grade=reaction.grade,
                    resolved_after_min=None
                    if resolved is None
                    else minutes_between(reaction.onset_at, resolved),
                    onset_rate_ml_h=reaction.rate_at_onset_ml_h,
                )
            )
        return result

    def plan(self, resume_open_at: datetime | None = None) -> Plan:
        """The schedule re-planned around what happened. Open pauses end at `resume_open_at` (what if
        the nurse restarted then); without it they stay open and the plan has no end."""
        if resume_open_at is None or (self.open_pause is None and self.unresolved_stop_reaction is None):
            return self._recorded_plan
        return self._plan_for(self.interruptions(resume_open_at))

    @cached_property
    def _recorded_plan(self) -> Plan:
        # A state never changes (each event makes a new one), so its plan is worked out once: views ask
        # for it several times a second per chair.
        return self._plan_for(self.interruptions())

    def _plan_for(self, interruptions: list[Interruption]) -> Plan:
        protocol = self.require_protocol()
        volume = self.bag.volume_ml if self.bag is not None else None
        dose = self.bag.dose_mg if self.bag is not None else None
        return plan_infusion(protocol, interruptions, volume, dose)

    @property
    def steps(self) -> tuple[RateStep, ...]:
        """This session's rate ladder in mL/h (mg/h protocols: at the bag's concentration)."""
        protocol = self.require_protocol()
        if self.bag is None:
            return protocol.steps
        return session_steps(protocol, self.bag.volume_ml, self.bag.dose_mg)

    @property
    def concentration_mg_ml(self) -> float:
        protocol = self.require_protocol()
        if self.bag is None:
            return protocol.concentration_mg_ml
        return protocol.session_concentration(self.bag.volume_ml, self.bag.dose_mg)

    def pump_rate_at(self, moment: datetime) -> float:
        """The rate the pump was recorded running at `moment`, from the delivery segments (the journaled
        start, rate changes, stops and resumes; telemetry is documented as rate changes). 0 while stopped."""
        return rate_at(self.delivery.segments, moment)

    @cached_property
    def delivery(self) -> DeliveryRecord:
        """The delivery segments with their stop reasons (app.domain.delivery), folded once per state."""
        return delivery_of(self.events)

    def what_if(self, now: datetime, pause_min: float = 0.0, reaction_grade: int | None = None) -> Plan:
        """The nurse's "what if": the plan if she paused now for `pause_min`, or a reaction of
        `reaction_grade` began now (a stop-then-restart grade resolving after `pause_min`)."""
        minute = self.minutes_from_start(now)
        extra: list[Interruption] = list(self.interruptions(resume_open_at=now))
        if reaction_grade is not None:
            rate = self.pump_rate_ml_h or None
            extra.append(Reaction(minute, reaction_grade, pause_min or None, rate))
        elif pause_min > 0:
            extra.append(Pause(minute, pause_min))
        return self._plan_for(extra)

    def planned_rate_ml_h(self, now: datetime) -> float:
        if self.phase not in (Phase.INFUSING, Phase.PAUSED) or self.infusion_started_at is None:
            return 0.0
        return self.plan(resume_open_at=None).rate_at(self.minutes_from_start(now))

    def projected_end(self, now: datetime) -> datetime | None:
        """When the infusion will end if every open pause or stop ended now."""
        if self.completed_at is not None:
            return self.completed_at
        if self.infusion_started_at is None:
            return None
        end = self.plan(resume_open_at=now).end_min
        return None if end is None else self.infusion_started_at + timedelta(minutes=end)

    def next_rate_change(self, now: datetime) -> tuple[datetime, float] | None:
        if self.phase is not Phase.INFUSING or self.infusion_started_at is None:
            return None
        change = self.plan().next_change_after(self.minutes_from_start(now))
        if change is None:
            return None
        minute, rate = change
        return self.infusion_started_at + timedelta(minutes=minute), rate

    @property
    def premedication_ready_at(self) -> datetime | None:
        """The earliest infusion start the required premedications allow; None while one is missing."""
        protocol = self.require_protocol()
        ready: datetime | None = self.checked_in_at
        for premed in protocol.premedications:
            if not premed.required:
                continue
            given = self.premedication_given(premed.drug)
            if given is None:
                return None
            candidate = given.given_at + timedelta(minutes=premed.min_lead_min)
            ready = candidate if ready is None else max(ready, candidate)
        return ready

    def premedication_windows(self) -> list[tuple[str, datetime, datetime]]:
        """Per required premedication given: (drug, when the start may begin, when its window closes).
        The close time is the countdown's target; after it the start is refused until a repeat dose."""
        protocol = self.require_protocol()
        out = []
        for premed in protocol.premedications:
            given = self.premedication_given(premed.drug)
            if given is None or not premed.required:
                continue
            out.append(
                (
                    premed.drug,
                    given.given_at + timedelta(minutes=premed.min_lead_min),
                    given.given_at + timedelta(minutes=premed.max_lead_min),
                )
            )
        return out

    def premedication_given(self, drug: str) -> GivenPremedication | None:
        matches = [p for p in self.premedications if p.drug == drug]
        return matches[-1] if matches else None

    @property
    def infusion_ended_at(self) -> datetime | None:
        """When the drug stopped running for good: the bag completed or a reaction discontinued it."""
        if self.completed_at is not None:
            return self.completed_at
        return self.discontinued_at if self.infusion_started_at is not None else None

    @property
    def unresolved_reactions(self) -> tuple[ReactionRecord, ...]:
        return tuple(r for r in self.reactions if r.resolved_at is None)

    @property
    def anaphylaxis_observation_until(self) -> datetime | None:
        """After anaphylaxis: the institution's observation time from its onset (None: no anaphylaxis)."""
        ends = [
            r.onset_at + timedelta(minutes=r.anaphylaxis_observation_min)
            for r in self.reactions
            if r.anaphylaxis
        ]
        return max(ends, default=None)

    @property
    def earliest_discharge_at(self) -> datetime | None:
        """The later of the ordinary observation (`ordinary_discharge_at`) and, after anaphylaxis, the
        institution's anaphylaxis observation from its onset."""
        ordinary = self.ordinary_discharge_at
        anaphylaxis = self.anaphylaxis_observation_until
        if ordinary is None or anaphylaxis is None:
            return ordinary
        return max(ordinary, anaphylaxis)

    @property
    def ordinary_discharge_at(self) -> datetime | None:
        """The protocol's observation time after the later of the infusion's end and the resolution of
        every reaction; None while the infusion runs or a reaction is unresolved.
        A session stopped before the infusion started needs no observation."""
        if self.protocol is None:
            return None
        if self.infusion_started_at is None:
            return self.discontinued_at
        ended = self.infusion_ended_at
        if ended is None:
            return None
        start = self.infusion_started_at
        minutes = earliest_discharge_min(
            minutes_between(start, ended),
            [
                None if r.resolved_at is None else minutes_between(start, r.resolved_at)
                for r in self.reactions
            ],
            self.protocol.observation_min,
        )
        return None if minutes is None else start + timedelta(minutes=minutes)

    @property
    def observation_ends_at(self) -> datetime | None:
        """When observation ends: `earliest_discharge_at` once the infusion has ended."""
        if self.infusion_ended_at is None:
            return None
        return self.earliest_discharge_at

    def vitals_since(self, moment: datetime) -> list[VitalsRecord]:
        return [v for v in self.vitals if v.at >= moment]

    @property
    def vitals_due(self) -> tuple[datetime, str] | None:
        """When the next vital signs are due, and why, per the protocol's schedule (for the countdown
        and the overdue reminder); None when none are due."""
        if self.protocol is None or self.protocol.vital_signs is None:
            return None
        schedule = self.protocol.vital_signs
        if self.phase in (Phase.SCREENING, Phase.PREMEDICATION):
            if (
                schedule.baseline
                and self.checked_in_at is not None
                and not self.vitals_since(self.checked_in_at)
            ):
                return self.checked_in_at, "baseline"
            return None
        start = self.infusion_started_at
        if start is None:
            return None
        due = self._vitals_due_by_schedule(schedule, start)
        after = self._vitals_due_after_reaction(schedule)
        if after is not None and (due is None or after[0] < due[0]):
            return after
        return due

    def _vitals_due_after_reaction(self, schedule: VitalSignSchedule) -> tuple[datetime, str] | None:
        """After a reaction, every `after_reaction_every_min` for `after_reaction_period_min` from its
        onset (institutional, in the protocol file)."""
        every = schedule.after_reaction_every_min
        if every is None or not self.reactions or self.phase.is_closed:
            return None
        onset = max(r.onset_at for r in self.reactions)
        taken = self.vitals_since(onset)
        due = (taken[-1].at if taken else onset) + timedelta(minutes=every)
        if due > onset + timedelta(minutes=schedule.after_reaction_period_min):
            return None
        return due, "after the reaction"

    def _vitals_due_by_schedule(
        self, schedule: VitalSignSchedule, start: datetime
    ) -> tuple[datetime, str] | None:
        if self.phase in (Phase.INFUSING, Phase.PAUSED):
            taken = self.vitals_since(start)
            last = taken[-1].at if taken else start
            first = minutes_between(start, last) < schedule.first_period_min - 1e-9
            every = schedule.first_hour_every_min if first else schedule.then_every_min
            return last + timedelta(minutes=every), "during the infusion"
        if self.phase is Phase.OBSERVATION:
            ended = self.infusion_ended_at
            if ended is None:
                return None
            if schedule.at_end and not self.vitals_since(ended):
                return ended, "end of infusion"
            earliest = self.earliest_discharge_at
            if earliest is None:
                return None
            window = earliest - timedelta(minutes=schedule.before_discharge_min)
            if not self.vitals_since(window):
                return window, "before discharge"
        return None

    @property
    def baseline_vitals_missing(self) -> bool:
        protocol = self.protocol
        if protocol is None or protocol.vital_signs is None or not protocol.vital_signs.baseline:
            return False
        return self.checked_in_at is not None and not self.vitals_since(self.checked_in_at)

    @property
    def active_alarms(self) -> list[AlarmRecord]:
        return [a for a in self.alarms.values() if a.cleared_at is None]


# ------------------------------------------------------------------------------------------------
# Event handlers: each returns the state after the event (phase checked by `apply`)


def _on_checked_in(state: ChairState, event: Event) -> ChairState:
    p = event.payload_as(CheckedIn)
    protocol = parse_protocol(p.protocol, f"journal:{state.session_id}:{event.seq}")
    bag = p.bag
    return replace(
        state,
        phase=Phase.SCREENING,
        chair=p.chair,
        patient_mrn=p.patient_mrn,
        patient_initials=p.patient_initials,
        protocol=protocol,
        bag=Bag(
            volume_ml=float(bag.volume_ml),
            lot=bag.lot,
            expiry=bag.expiry,
            prepared_at=bag.prepared_at,
            gtin=bag.gtin,
            dose_mg=None if bag.dose_mg is None else float(bag.dose_mg),
            refrigerated_until=bag.refrigerated_until,
            label_expires_at=bag.label_expires_at,
        ),
        prior_infusions=p.prior_infusions,
        prior_serious_reaction=p.prior_serious_reaction,
        last_dose_on=p.last_dose_on,
        checked_in_at=event.at,
        assigned_nurse=payloads.assigned_at_check_in(event),
    )


def _on_screening(state: ChairState, event: Event) -> ChairState:
    answers = dict(event.payload_as(ScreeningRecorded).answers)
    return replace(state, phase=Phase.PREMEDICATION, screening_answers=answers)


def _on_premedication(state: ChairState, event: Event) -> ChairState:
    p = event.payload_as(PremedicationGiven)
    given = GivenPremedication(event.seq, p.drug, p.dose, p.route, event.at, event.actor)
    return replace(state, premedications=(*state.premedications, given))


def _on_started(state: ChairState, event: Event) -> ChairState:
    return replace(
        state,
        phase=Phase.INFUSING,
        infusion_started_at=event.at,
        pump_rate_ml_h=float(event.payload_as(InfusionStarted).rate_ml_h),
    )


def _on_rate_changed(state: ChairState, event: Event) -> ChairState:
    return replace(state, pump_rate_ml_h=float(event.payload_as(RateChanged).rate_ml_h))


def _on_paused(state: ChairState, event: Event) -> ChairState:
    p = event.payload_as(InfusionPaused)
    record = PauseRecord(event.seq, event.at, p.reason, p.source)
    return replace(state, phase=Phase.PAUSED, pauses=(*state.pauses, record))


def _on_resumed(state: ChairState, event: Event) -> ChairState:
    restart = payloads.restart_rate_ml_h(event)  # after a stop for a reaction: the restart rate
    rate = state.pump_rate_ml_h if restart is None else restart
    pauses = tuple(replace(p, end=event.at) if p.end is None else p for p in state.pauses)
    reactions = tuple(
        replace(r, resolved_at=event.at)
        if r.action is ReactionAction.STOP_THEN_RESTART and r.resolved_at is None
        else r
        for r in state.reactions
    )
    return replace(state, phase=Phase.INFUSING, pauses=pauses, reactions=reactions, pump_rate_ml_h=rate)


def _on_reaction(state: ChairState, event: Event) -> ChairState:
    p = event.payload_as(ReactionRecorded)
    action = p.action
    record = ReactionRecord(
        seq=event.seq,
        onset_at=event.at,
        grade=int(p.grade),
        signs=p.signs,
        action=action,
        rate_at_onset_ml_h=float(p.rate_at_onset_ml_h),
        new_rate_ml_h=float(p.new_rate_ml_h),
        restart_rate_ml_h=float(p.restart_rate_ml_h),
        notes=p.notes,
        actor=event.actor,
        anaphylaxis=p.anaphylaxis,
        anaphylaxis_observation_min=float(p.anaphylaxis_observation_min or 0.0),
    )
    state = replace(state, reactions=(*state.reactions, record))
    if action is ReactionAction.STOP_THEN_RESTART and state.phase is Phase.INFUSING:
        return replace(state, phase=Phase.PAUSED)
    if action is ReactionAction.DISCONTINUE:
        # Stopped for good; the patient stays under observation (the infusion ends at the onset).
        pauses = tuple(replace(p, end=event.at) if p.end is None else p for p in state.pauses)
        return replace(
            state,
            phase=Phase.OBSERVATION,
            pauses=pauses,
            discontinued_at=event.at,
            discontinued_reason=f"grade {record.grade} reaction"
            + (" (anaphylaxis)" if record.anaphylaxis else "")
            + ": permanently discontinued",
        )
    return state


def _on_assigned(state: ChairState, event: Event) -> ChairState:
    return replace(state, assigned_nurse=payloads.handed_to(event))


def _on_symptoms_resolved(state: ChairState, event: Event) -> ChairState:
    seqs = set(event.payload_as(SymptomsResolved).reaction_seqs)
    reactions = tuple(
        replace(r, resolved_at=event.at) if r.seq in seqs and r.resolved_at is None else r
        for r in state.reactions
    )
    return replace(state, reactions=reactions)


def _on_not_tolerated(state: ChairState, event: Event) -> ChairState:
    seq = event.payload_as(ReactionNotToleratedEntry).reaction_seq
    reactions = tuple(replace(r, not_tolerated_at=event.at) if r.seq == seq else r for r in state.reactions)
    return replace(state, reactions=reactions)


def _on_vitals(state: ChairState, event: Event) -> ChairState:
    p = event.payload_as(VitalsRecorded)
    record = VitalsRecord(
        event.seq, event.at, dict(p.values), event.actor, p.alerts, p.alert_signs, p.extreme_signs
    )
    return replace(state, vitals=(*state.vitals, record))


def _on_completed(state: ChairState, event: Event) -> ChairState:
    volume = event.payload_as(InfusionCompleted).volume_infused_ml
    pauses = tuple(replace(p, end=event.at) if p.end is None else p for p in state.pauses)
    return replace(
        state,
        phase=Phase.OBSERVATION,
        completed_at=event.at,
        volume_infused_ml=float(volume) if volume is not None else None,
        pauses=pauses,
    )


def _on_discharged(state: ChairState, event: Event) -> ChairState:
    return replace(state, phase=Phase.DISCHARGED, discharged_at=event.at)


def _on_discontinued(state: ChairState, event: Event) -> ChairState:
    return replace(
        state,
        phase=Phase.DISCONTINUED,
        discontinued_at=event.at,
        discontinued_reason=event.payload_as(Discontinued).reason,
    )


_CORRECTABLE = {
    EventType.PREMEDICATION_GIVEN: {"dose", "route", "drug"},
    EventType.VITALS_RECORDED: {"values"},
    EventType.REACTION_RECORDED: {"signs", "notes"},
    EventType.CHECKED_IN: {"patient_mrn", "patient_initials", "bag_lot"},
}


def correctable_fields(event_type: EventType) -> set[str]:
    return set(_CORRECTABLE.get(event_type, set()))


def correctable_values(event: Event) -> dict[str, str]:
    """What each correctable field of `event` holds now, as a nurse would type it."""
    match event.payload:
        case PremedicationGiven() as p:
            return {"dose": p.dose, "route": p.route, "drug": p.drug}
        case VitalsRecorded(values=values):
            return {"values": ", ".join(f"{k}={v:g}" for k, v in values.items())}
        case ReactionRecorded() as p:
            return {"signs": ", ".join(p.signs), "notes": p.notes}
        case CheckedIn() as p:
            return {
                "patient_mrn": p.patient_mrn,
                "patient_initials": p.patient_initials,
                "bag_lot": p.bag.lot,
            }
    return {}


def _on_correction(state: ChairState, event: Event) -> ChairState:
    p = event.payload_as(CorrectionRecorded)
    target, c = p.target_seq, p.corrected
    bag = state.bag
    if bag is not None and c.bag_lot is not None:
        bag = replace(bag, lot=c.bag_lot)
    state = replace(
        state,
        patient_mrn=state.patient_mrn if c.patient_mrn is None else c.patient_mrn,
        patient_initials=state.patient_initials if c.patient_initials is None else c.patient_initials,
        bag=bag,
    )
    premeds = tuple(
        replace(
            g,
            drug=g.drug if c.drug is None else c.drug,
            dose=g.dose if c.dose is None else c.dose,
            route=g.route if c.route is None else c.route,
        )
        if g.seq == target
        else g
        for g in state.premedications
    )
    vitals = tuple(
        replace(v, values={**v.values, **c.values}) if v.seq == target and c.values is not None else v
        for v in state.vitals
    )
    reactions = tuple(
        replace(
            r,
            signs=r.signs if c.signs is None else c.signs,
            notes=r.notes if c.notes is None else c.notes,
        )
        if r.seq == target
        else r
        for r in state.reactions
    )
    return replace(state, premedications=premeds, vitals=vitals, reactions=reactions)


def _on_alarm(state: ChairState, event: Event) -> ChairState:
    p = event.payload_as(AlarmEntry)
    alarms = dict(state.alarms)
    if event.type is EventType.ALARM_RAISED:
        alarms[p.alarm_id] = AlarmRecord(p.alarm_id, p.rule, p.priority, p.message, event.at)
    elif p.alarm_id in alarms:
        current = alarms[p.alarm_id]
        if event.type is EventType.ALARM_ACKNOWLEDGED:
            alarms[p.alarm_id] = replace(current, acknowledged_at=event.at, acknowledged_by=event.actor)
        else:
            alarms[p.alarm_id] = replace(current, cleared_at=event.at)
    return replace(state, alarms=alarms)


_HANDLERS = {
    EventType.CHECKED_IN: _on_checked_in,
    EventType.SCREENING_RECORDED: _on_screening,
    EventType.PREMEDICATION_GIVEN: _on_premedication,
    EventType.INFUSION_STARTED: _on_started,
    EventType.RATE_CHANGED: _on_rate_changed,
    EventType.INFUSION_PAUSED: _on_paused,
    EventType.INFUSION_RESUMED: _on_resumed,
    EventType.REACTION_RECORDED: _on_reaction,
    EventType.SYMPTOMS_RESOLVED: _on_symptoms_resolved,
    EventType.NURSE_ASSIGNED: _on_assigned,
    EventType.HANDED_OVER: _on_assigned,
    EventType.REACTION_NOT_TOLERATED: _on_not_tolerated,
    EventType.VITALS_RECORDED: _on_vitals,
    EventType.INFUSION_COMPLETED: _on_completed,
    EventType.DISCHARGED: _on_discharged,
    EventType.DISCONTINUED: _on_discontinued,
    EventType.CORRECTION_RECORDED: _on_correction,
    EventType.ALARM_RAISED: _on_alarm,
    EventType.ALARM_ACKNOWLEDGED: _on_alarm,
    EventType.ALARM_CLEARED: _on_alarm,
}
