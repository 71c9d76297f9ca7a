"""Commands in, events out: `decide(state, command, context)`.

A command is refused in a phase where it makes no sense (not overridable). Clinical guards (premed
lead time, observation not over, protocol not eligible, bag expired, screening findings) explain
themselves; they are refused with the reason, or passed with an explicit Override that is recorded in
the event with who decided and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.domain.chair import ChairState, correctable_fields, format_time
from app.domain.commands import (
    AddNote,
    ChangeRate,
    CheckIn,
    Command,
    CompleteInfusion,
    Correct,
    Discharge,
    Discontinue,
    GivePremedication,
    Override,
    PauseInfusion,
    RecordAlarm,
    RecordReaction,
    RecordScreening,
    RecordVitals,
    ResumeInfusion,
    StartInfusion,
)
from app.domain.events import Event, EventType
from app.domain.phase import Phase
from app.domain.protocol import InfusionProtocol, ReactionAction, ScreeningOutcome
from app.domain.vitals import VitalSignLimits, alerting_values, implausible_values

ALARM_EVENT_TYPES = {
    "raised": EventType.ALARM_RAISED,
    "acknowledged": EventType.ALARM_ACKNOWLEDGED,
    "cleared": EventType.ALARM_CLEARED,
}


@dataclass(frozen=True)
class GuardFailure:
    code: str
    message: str


class CommandRefused(Exception):
    """The command cannot be carried out. `overridable` says whether an Override would let it pass."""

    def __init__(self, failures: Sequence[GuardFailure], overridable: bool) -> None:
        self.failures = tuple(failures)
        self.overridable = overridable
        super().__init__("; ".join(f.message for f in failures))


@dataclass(frozen=True)
class DecisionContext:
    now: datetime
    actor: str
    protocols: Mapping[str, InfusionProtocol]
    vital_limits: VitalSignLimits | None = None


def _refuse(code: str, message: str) -> CommandRefused:
    return CommandRefused([GuardFailure(code, message)], overridable=False)


def _require_phase(state: ChairState, command: Command, *phases: Phase) -> None:
    if state.phase not in phases:
        allowed = ", ".join(p.label for p in phases)
        raise _refuse(
            "wrong_phase",
            f"{type(command).__name__} is not possible while the chair is in {state.phase.label} (only in {allowed})",
        )


def _check_guards(failures: list[GuardFailure], override: Override | None) -> dict[str, Any]:
    """Raise when a guard fails without an override; otherwise the override record for the event."""
    if not failures:
        return {}
    if override is None:
        raise CommandRefused(failures, overridable=True)
    return {
        "overrides": [
            {"guard": f.code, "message": f.message, "by": override.by, "reason": override.reason}
            for f in failures
        ]
    }


def _hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M UTC")


# --------------------------------------------------------------------------------------------------
# Guards


def eligibility_failures(
    protocol: InfusionProtocol,
    prior_infusions: int,
    prior_serious_reaction: bool,
    last_dose_on: Any,
    today: Any,
) -> list[GuardFailure]:
    rules = protocol.eligibility
    failures = []
    if prior_infusions < rules.min_prior_infusions:
        failures.append(
            GuardFailure(
                "not_eligible",
                f"{protocol.name} needs at least {rules.min_prior_infusions} prior infusion(s); "
                f"the patient has had {prior_infusions}",
            )
        )
    if rules.requires_no_prior_serious_reaction and prior_serious_reaction:
        failures.append(
            GuardFailure(
                "not_eligible", f"{protocol.name} is not for patients with a prior serious infusion reaction"
            )
        )
    if rules.min_interval_days is not None and last_dose_on is not None:
        days = (today - last_dose_on).days
        if days < rules.min_interval_days:
            failures.append(
                GuardFailure(
                    "too_soon",
                    f"last dose {days} days ago; {protocol.name} needs at least {rules.min_interval_days} days",
                )
            )
    return failures


def _bag_failures(state: ChairState, now: datetime) -> list[GuardFailure]:
    expires = state.bag_expires_at
    if state.bag is None or expires is None or now < expires:
        return []
    prepared = _hhmm(state.bag.prepared_at)
    return [GuardFailure("bag_expired", f"the bag expired at {_hhmm(expires)} (prepared {prepared})")]


def _premedication_failures(state: ChairState, start: datetime) -> list[GuardFailure]:
    protocol = state.require_protocol()
    failures = []
    for premed in protocol.premedications:
        if not premed.required:
            continue
        given = state.premedication_given(premed.drug)
        if given is None:
            failures.append(GuardFailure("premedication_missing", f"{premed.drug} has not been given"))
            continue
        waited = (start - given.given_at).total_seconds() / 60.0
        if waited < premed.min_lead_min:
            ready = given.given_at + timedelta(minutes=premed.min_lead_min)
            failures.append(
                GuardFailure(
                    "premedication_lead_time",
                    f"{premed.drug} was given {waited:.0f} min ago; wait {premed.min_lead_min:g} min "
                    f"(until {_hhmm(ready)})",
                )
            )
        elif waited > premed.max_lead_min:
            failures.append(
                GuardFailure(
                    "premedication_too_early",
                    f"{premed.drug} was given {waited:.0f} min ago, more than {premed.max_lead_min:g} min before start",
                )
            )
    return failures


# --------------------------------------------------------------------------------------------------
# Deciders


def _check_in(state: ChairState, c: CheckIn, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.EMPTY)
    if c.protocol_id not in ctx.protocols:
        raise _refuse("unknown_protocol", f"no protocol {c.protocol_id!r} in the library")
    protocol = ctx.protocols[c.protocol_id]
    if not c.patient_mrn.strip() or not c.patient_initials.strip():
        raise _refuse("missing_patient", "patient MRN and initials are required")
    if c.bag_volume_ml <= 0:
        raise _refuse("bad_bag_volume", f"bag volume must be positive, got {c.bag_volume_ml:g} mL")
    if c.bag_prepared_at.tzinfo is None:
        raise _refuse("bad_time", "bag preparation time needs a timezone")
    if c.bag_prepared_at > ctx.now + timedelta(minutes=5):
        raise _refuse("bad_time", "bag preparation time is in the future")
    failures = eligibility_failures(
        protocol, c.prior_infusions, c.prior_serious_reaction, c.last_dose_on, ctx.now.date()
    )
    overrides = _check_guards(failures, c.override)
    data = {
        "chair": c.chair,
        "patient_mrn": c.patient_mrn.strip(),
        "patient_initials": c.patient_initials.strip().upper(),
        "protocol_id": protocol.id,
        "protocol": dict(protocol.definition),
        "bag": {
            "volume_ml": c.bag_volume_ml,
            "lot": c.bag_lot,
            "expiry": c.bag_expiry.isoformat(),
            "prepared_at": format_time(c.bag_prepared_at),
            "gtin": c.bag_gtin,
        },
        "prior_infusions": c.prior_infusions,
        "prior_serious_reaction": c.prior_serious_reaction,
        "last_dose_on": c.last_dose_on.isoformat() if c.last_dose_on else None,
        **overrides,
    }
    # Optional identifiers, recorded only when entered (earlier entries keep their exact payload).
    for key, value in (("visit_number", c.visit_number), ("order_number", c.order_number)):
        if value.strip():
            data[key] = value.strip()
    return [Event(EventType.CHECKED_IN, ctx.now, ctx.actor, data)]


def _screening(state: ChairState, c: RecordScreening, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.SCREENING)
    protocol = state.require_protocol()
    missing = [item.question for item in protocol.screening if item.id not in c.answers]
    if missing:
        raise _refuse("screening_incomplete", "unanswered: " + "; ".join(missing))
    known = {item.id for item in protocol.screening}
    unknown = sorted(set(c.answers) - known)
    if unknown:
        raise _refuse("screening_unknown", f"not on this protocol's checklist: {', '.join(unknown)}")
    findings = []
    failures = []
    for item in protocol.screening:
        if c.answers[item.id] != item.acceptable_answer:
            answer = "yes" if c.answers[item.id] else "no"
            findings.append(
                {"id": item.id, "question": item.question, "answer": answer, "outcome": item.if_not.value}
            )
            word = (
                "contraindication" if item.if_not is ScreeningOutcome.CONTRAINDICATION else "reason to delay"
            )
            failures.append(
                GuardFailure(f"screening_{item.if_not.value}", f"{item.question} {answer}: {word}")
            )
    overrides = _check_guards(failures, c.override)
    data = {"answers": dict(c.answers), "findings": findings, **overrides}
    return [Event(EventType.SCREENING_RECORDED, ctx.now, ctx.actor, data)]


def _premedication(state: ChairState, c: GivePremedication, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.PREMEDICATION)
    at = c.given_at or ctx.now
    if at > ctx.now + timedelta(minutes=1):
        raise _refuse("bad_time", "a premedication cannot be recorded as given in the future")
    if not c.drug.strip() or not c.dose.strip():
        raise _refuse("incomplete", "drug and dose are required")
    data = {"drug": c.drug, "dose": c.dose, "route": c.route, "recorded_at": format_time(ctx.now)}
    return [Event(EventType.PREMEDICATION_GIVEN, at, ctx.actor, data)]


def _start(state: ChairState, c: StartInfusion, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.PREMEDICATION)
    at = c.started_at or ctx.now
    failures = _premedication_failures(state, at) + _bag_failures(state, at)
    overrides = _check_guards(failures, c.override)
    rate = state.require_protocol().steps[0].rate_ml_h
    return [Event(EventType.INFUSION_STARTED, at, ctx.actor, {"rate_ml_h": rate, **overrides})]


def _change_rate(state: ChairState, c: ChangeRate, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.INFUSING, Phase.PAUSED)
    if c.rate_ml_h < 0:
        raise _refuse("bad_rate", f"a rate cannot be negative ({c.rate_ml_h:g} mL/h)")
    at = c.at or ctx.now
    planned = state.planned_rate_ml_h(at)
    data = {
        "rate_ml_h": c.rate_ml_h,
        "previous_rate_ml_h": state.pump_rate_ml_h,
        "planned_rate_ml_h": planned,
        "source": c.source,
        "reason": c.reason,
    }
    return [Event(EventType.RATE_CHANGED, at, ctx.actor, data)]


def _pause(state: ChairState, c: PauseInfusion, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.INFUSING)
    return [
        Event(EventType.INFUSION_PAUSED, c.at or ctx.now, ctx.actor, {"reason": c.reason, "source": c.source})
    ]


def _resume(state: ChairState, c: ResumeInfusion, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.PAUSED)
    at = c.at or ctx.now
    overrides = _check_guards(_bag_failures(state, at), c.override)
    stop = state.unresolved_stop_reaction
    data: dict[str, Any] = {"source": c.source, **overrides}
    if stop is not None:
        data["after_reaction_seq"] = stop.seq
        data["restart_rate_ml_h"] = stop.restart_rate_ml_h
    return [Event(EventType.INFUSION_RESUMED, at, ctx.actor, data)]


def _rate_at_onset(state: ChairState, onset: datetime) -> float:
    """The rate the pump really ran at when the reaction began: its reported rate while infusing,
    otherwise (paused) the planned rate just before the pause."""
    if state.phase is Phase.INFUSING and state.pump_rate_ml_h:
        return state.pump_rate_ml_h
    pause = state.open_pause
    moment = pause.start - timedelta(seconds=1) if pause is not None else onset
    return state.planned_rate_ml_h(moment) if state.infusion_started_at is not None else 0.0


def _reaction(state: ChairState, c: RecordReaction, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.INFUSING, Phase.PAUSED, Phase.OBSERVATION)
    if c.grade not in (1, 2, 3, 4):
        raise _refuse("bad_grade", f"reaction grade must be 1 to 4, got {c.grade}")
    onset = c.onset_at or ctx.now
    if onset > ctx.now + timedelta(minutes=1):
        raise _refuse("bad_time", "reaction onset cannot be in the future")
    if state.infusion_started_at is not None and onset < state.infusion_started_at:
        raise _refuse("bad_time", "reaction onset is before the infusion started")
    protocol = state.require_protocol()
    action: ReactionAction | None = None
    onset_rate = new_rate = restart_rate = 0.0
    if state.phase is not Phase.OBSERVATION:
        onset_rate = _rate_at_onset(state, onset)
        rule = protocol.rule_for_grade(c.grade)
        action = rule.action
        if action is ReactionAction.HALVE_RATE:
            new_rate = onset_rate * rule.rate_factor
        elif action is ReactionAction.STOP_THEN_RESTART:
            restart_rate = onset_rate * rule.rate_factor
    data = {
        "grade": c.grade,
        "signs": list(c.signs),
        "notes": c.notes,
        "action": action.value if action else None,
        "rate_at_onset_ml_h": onset_rate,
        "new_rate_ml_h": new_rate,
        "restart_rate_ml_h": restart_rate,
        "recorded_at": format_time(ctx.now),
    }
    return [Event(EventType.REACTION_RECORDED, onset, ctx.actor, data)]


def _vitals(state: ChairState, c: RecordVitals, ctx: DecisionContext) -> list[Event]:
    if state.phase in (Phase.EMPTY, Phase.DISCHARGED):
        raise _refuse(
            "wrong_phase", f"vital signs need a patient in the chair (chair is {state.phase.label})"
        )
    values = {k: v for k, v in c.values.items() if v is not None}
    if not values:
        raise _refuse("incomplete", "no vital signs entered")
    alerts: list[str] = []
    if ctx.vital_limits is not None:
        problems = implausible_values(values, ctx.vital_limits)
        if problems:
            raise _refuse("implausible_vitals", "; ".join(problems))
        alerts = alerting_values(values, ctx.vital_limits)
    at = c.at or ctx.now
    return [Event(EventType.VITALS_RECORDED, at, ctx.actor, {"values": values, "alerts": alerts})]


def _complete(state: ChairState, c: CompleteInfusion, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.INFUSING, Phase.PAUSED)
    at = c.at or ctx.now
    data = {"source": c.source, "volume_infused_ml": c.volume_infused_ml, "reason": c.reason}
    return [Event(EventType.INFUSION_COMPLETED, at, ctx.actor, data)]


def _discharge(state: ChairState, c: Discharge, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.OBSERVATION, Phase.DISCONTINUED)
    at = c.at or ctx.now
    failures = []
    ends = state.observation_ends_at
    if state.phase is Phase.OBSERVATION and ends is not None and at < ends:
        left = (ends - at).total_seconds() / 60.0
        failures.append(
            GuardFailure(
                "observation_not_complete", f"observation runs until {_hhmm(ends)} ({left:.0f} min left)"
            )
        )
    overrides = _check_guards(failures, c.override)
    return [Event(EventType.DISCHARGED, at, ctx.actor, {**overrides})]


def _discontinue(state: ChairState, c: Discontinue, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.SCREENING, Phase.PREMEDICATION, Phase.INFUSING, Phase.PAUSED)
    if not c.reason.strip():
        raise _refuse("incomplete", "say why the infusion is discontinued")
    return [Event(EventType.DISCONTINUED, c.at or ctx.now, ctx.actor, {"reason": c.reason})]


def _correct(state: ChairState, c: Correct, ctx: DecisionContext) -> list[Event]:
    if state.phase is Phase.EMPTY:
        raise _refuse("wrong_phase", "nothing to correct")
    target = state.event(c.target_seq)
    if target is None:
        raise _refuse("unknown_entry", f"there is no entry {c.target_seq} in this session")
    if not c.reason.strip():
        raise _refuse("incomplete", "a correction needs a reason")
    allowed = correctable_fields(target.type)
    extra = sorted(set(c.corrected) - allowed)
    if extra:
        what = ", ".join(sorted(allowed)) or "nothing (add a note instead)"
        raise _refuse("not_correctable", f"{target.type} entries can correct {what}; not {', '.join(extra)}")
    data = {
        "target_seq": c.target_seq,
        "target_type": str(target.type),
        "reason": c.reason,
        "corrected": dict(c.corrected),
    }
    return [Event(EventType.CORRECTION_RECORDED, ctx.now, ctx.actor, data)]


def _note(state: ChairState, c: AddNote, ctx: DecisionContext) -> list[Event]:
    if state.phase is Phase.EMPTY:
        raise _refuse("wrong_phase", "no session to annotate")
    if not c.text.strip():
        raise _refuse("incomplete", "the note is empty")
    if c.target_seq is not None and state.event(c.target_seq) is None:
        raise _refuse("unknown_entry", f"there is no entry {c.target_seq} in this session")
    return [Event(EventType.NOTE_ADDED, ctx.now, ctx.actor, {"text": c.text, "target_seq": c.target_seq})]


def _alarm(state: ChairState, c: RecordAlarm, ctx: DecisionContext) -> list[Event]:
    if state.phase is Phase.EMPTY:
        raise _refuse("wrong_phase", "alarms are journaled with a session")
    if c.kind not in ALARM_EVENT_TYPES:
        raise _refuse("bad_alarm", f"unknown alarm event {c.kind!r}")
    data = {"alarm_id": c.alarm_id, "rule": c.rule, "priority": c.priority, "message": c.message}
    return [Event(ALARM_EVENT_TYPES[c.kind], c.at or ctx.now, ctx.actor, data)]


_DECIDERS: dict[type, Any] = {
    CheckIn: _check_in,
    RecordScreening: _screening,
    GivePremedication: _premedication,
    StartInfusion: _start,
    ChangeRate: _change_rate,
    PauseInfusion: _pause,
    ResumeInfusion: _resume,
    RecordReaction: _reaction,
    RecordVitals: _vitals,
    CompleteInfusion: _complete,
    Discharge: _discharge,
    Discontinue: _discontinue,
    Correct: _correct,
    AddNote: _note,
    RecordAlarm: _alarm,
}


def decide(state: ChairState, command: Command, context: DecisionContext) -> list[Event]:
    """The events `command` produces in `state`, or CommandRefused explaining why not."""
    if not context.actor.strip():
        raise _refuse("no_nurse", "identify yourself (initials or badge) before recording")
    decider = _DECIDERS[type(command)]
    events: list[Event] = decider(state, command, context)
    return events
