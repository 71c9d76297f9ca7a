"""Commands in, events out: `decide(state, command, context)`.

A command is refused in a phase where it makes no sense (not overridable). Clinical guards (premed
lead time, observation not over, protocol not eligible, bag expired, screening findings) explain
themselves; they are refused with the reason, or passed with an explicit Override that is recorded in
the event with who decided and why.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from app.domain.chair import ChairState, correctable_fields
from app.domain.clock_face import ClockFace
from app.domain.commands import (
    AddNote,
    AssignNurse,
    ChangeRate,
    CheckIn,
    Command,
    CompleteInfusion,
    Correct,
    Discharge,
    Discontinue,
    GivePremedication,
    HandOver,
    Override,
    PauseInfusion,
    PrescriberRelease,
    ReactionNotTolerated,
    RecordAlarm,
    RecordReaction,
    RecordScreening,
    RecordVitals,
    ReleaseCosigner,
    ResolveSymptoms,
    ResumeInfusion,
    StartInfusion,
)
from app.domain.events import (
    AlarmAcknowledged,
    AlarmCleared,
    AlarmEntry,
    AlarmRaised,
    BagRecord,
    CheckedIn,
    CorrectedFields,
    CorrectionRecorded,
    Discharged,
    Discontinued,
    Event,
    HandedOver,
    InfusionCompleted,
    InfusionPaused,
    InfusionResumed,
    InfusionStarted,
    NoteAdded,
    NotToleratedOutcome,
    NurseAssigned,
    OverrideRecord,
    PayloadError,
    PremedicationGiven,
    PrescriberReleaseRecord,
    PriorSeriousReaction,
    RateChanged,
    ReactionRecorded,
    ScreeningFinding,
    ScreeningRecorded,
    SymptomsResolved,
    VitalsRecorded,
)
from app.domain.events import ReactionNotTolerated as ReactionNotToleratedEntry
from app.domain.events.codec import decode_record
from app.domain.history import PatientHistory
from app.domain.phase import Phase
from app.domain.protocol import InfusionProtocol, ReactionAction, ScreeningOutcome
from app.domain.reactions import SEVERE_GRADE, ReactionGrade, ReactionTerms
from app.domain.schedule import reaction_ceiling_ml_h
from app.domain.vitals import (
    VitalSignLimits,
    alerting_signs,
    alerting_values,
    extreme_signs,
    implausible_values,
)

ALARM_EVENT_TYPES: dict[str, type[AlarmEntry]] = {
    "raised": AlarmRaised,
    "acknowledged": AlarmAcknowledged,
    "cleared": AlarmCleared,
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
    display_tz: tzinfo = UTC  # refusal messages say times in the clinic's local time
    reaction_terms: ReactionTerms | None = None
    patient_history: PatientHistory | None = None  # the journal's history for the MRN checking in

    def at(self, moment: datetime) -> str:
        """`moment` on the station's clock face, as a refusal says it."""
        return ClockFace.of(self.display_tz).at(moment, self.now)


def _refuse(code: str, message: str) -> CommandRefused:
    return CommandRefused([GuardFailure(code, message)], overridable=False)


def _require_phase(state: ChairState, command: Command, *phases: Phase) -> None:
    if state.phase not in phases:
        allowed = ", ".join(p.label for p in phases)
        raise _refuse(
            "wrong_phase",
            f"{type(command).__name__} is not possible while the chair is in {state.phase.label} (only in {allowed})",
        )


def _check_guards(failures: list[GuardFailure], override: Override | None) -> tuple[OverrideRecord, ...]:
    """Raise when a guard fails without an override; otherwise the override records for the event."""
    if not failures:
        return ()
    if override is None:
        raise CommandRefused(failures, overridable=True)
    return tuple(
        OverrideRecord(guard=f.code, message=f.message, by=override.by, reason=override.reason)
        for f in failures
    )


def clinic_today(now: datetime, tz: tzinfo = UTC) -> date:
    """The clinic's date (in its display zone): the one `today` of eligibility, for `decide` and the
    check-in dialog alike."""
    return now.astimezone(tz).date()


# --------------------------------------------------------------------------------------------------
# Guards


def eligibility_failures(
    protocol: InfusionProtocol,
    prior_infusions: int,
    prior_serious_reaction: bool,
    last_dose_on: date | None,
    today: date,
    history: PatientHistory | None = None,
    first_dose: bool = False,
) -> list[GuardFailure]:
    """Overridable eligibility guards from the protocol file, the nurse's answers (outside history) and
    this journal's own history for the patient."""
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
    if rules.max_prior_infusions is not None and prior_infusions > rules.max_prior_infusions:
        failures.append(
            GuardFailure(
                "not_eligible",
                f"{protocol.name} is for the first {rules.max_prior_infusions + 1} infusion(s); "
                f"the patient has had {prior_infusions}",
            )
        )
    serious = list(history.serious_reactions) if history is not None else []
    if rules.requires_no_prior_serious_reaction and (prior_serious_reaction or serious):
        why = (
            "; ".join(f"grade {r.grade} reaction on {r.on.isoformat()} ({r.protocol_id})" for r in serious)
            if serious
            else "prior serious infusion reaction (outside history)"
        )
        failures.append(
            GuardFailure(
                "not_eligible",
                f"{protocol.name} is not for patients with a prior serious infusion reaction: {why}",
            )
        )
    if last_dose_on is not None:
        days = (today - last_dose_on).days
        second = (
            prior_infusions == 1
            and rules.second_dose_min_days is not None
            and rules.second_dose_max_days is not None
        )
        if second and rules.second_dose_min_days is not None and rules.second_dose_max_days is not None:
            if not rules.second_dose_min_days <= days <= rules.second_dose_max_days:
                failures.append(
                    GuardFailure(
                        "second_dose_window",
                        f"the second infusion of {protocol.name} is due {rules.second_dose_min_days}-"
                        f"{rules.second_dose_max_days} days after the first; the last dose was {days} days ago",
                    )
                )
        elif rules.min_interval_days is not None and days < rules.min_interval_days:
            failures.append(
                GuardFailure(
                    "too_soon",
                    f"last dose {days} days ago; {protocol.name} needs at least {rules.min_interval_days} days",
                )
            )
    return failures


def check_in_refusal(c: CheckIn, protocol: InfusionProtocol, today: date) -> GuardFailure | None:
    """Not overridable: what the record must hold before any decision (dose, bag, last dose)."""
    if c.last_dose_on is None and not c.first_dose:
        return GuardFailure(
            "last_dose_missing", "enter the last-dose date, or mark this the patient's first dose"
        )
    if c.first_dose and c.last_dose_on is not None:
        return GuardFailure("last_dose_conflict", "a first dose has no last-dose date: remove one of them")
    if c.first_dose and c.prior_infusions > 0:
        return GuardFailure(
            "last_dose_conflict", f"marked first dose, but {c.prior_infusions} prior infusion(s) entered"
        )
    if c.last_dose_on is not None and c.last_dose_on > today:
        return GuardFailure("bad_time", "the last dose cannot be in the future")
    dose = protocol.dose_mg if c.dose_mg is None else c.dose_mg
    if dose <= 0:
        return GuardFailure("bad_dose", f"the dose must be positive, got {dose:g} mg")
    if not protocol.dosed_in_mg_h and abs(dose - protocol.dose_mg) > 1e-9:
        return GuardFailure(
            "bad_dose", f"{protocol.name} is a {protocol.dose_mg:g} mg infusion; the bag says {dose:g} mg"
        )
    label = protocol.concentration
    concentration = dose / c.bag_volume_ml
    if label is not None and not label.allows(concentration):
        return GuardFailure(
            "concentration_out_of_range",
            f"{dose:g} mg in {c.bag_volume_ml:g} mL is {concentration:.2f} mg/mL; the label allows "
            f"{label.min_mg_ml:g}-{label.max_mg_ml:g} mg/mL ({label.source})",
        )
    return None


def gtin_failures(
    c: CheckIn, protocol: InfusionProtocol, library: Mapping[str, InfusionProtocol]
) -> list[GuardFailure]:
    """A scanned bag whose product code is not one of the protocol's drug (overridable)."""
    gtin = c.bag_gtin.strip()
    if not gtin or not protocol.bag_gtins or gtin in protocol.bag_gtins:
        return []
    other = sorted({p.drug for p in library.values() if gtin in p.bag_gtins})
    what = f"is {', '.join(other)}" if other else "is not a known product for it"
    return [
        GuardFailure(
            "bag_gtin_mismatch", f"the bag's GTIN {gtin} {what}, not {protocol.drug} ({protocol.name})"
        )
    ]


def _bag_failures(state: ChairState, now: datetime, tz: tzinfo = UTC) -> list[GuardFailure]:
    expires = state.bag_expires_at
    if state.bag is None or expires is None or now < expires:
        return []
    face = ClockFace.of(tz)
    prepared = face.at(state.bag.prepared_at, now)
    return [GuardFailure("bag_expired", f"the bag expired at {face.at(expires, now)} (prepared {prepared})")]


def _premedication_failures(state: ChairState, start: datetime, tz: tzinfo = UTC) -> list[GuardFailure]:
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
                    f"(until {ClockFace.of(tz).at(ready, start)})",
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
    if c.bag_refrigerated_until is not None and not (
        c.bag_prepared_at <= c.bag_refrigerated_until <= ctx.now + timedelta(minutes=5)
    ):
        raise _refuse("bad_time", "the bag left the fridge before it was prepared or in the future")
    today = clinic_today(ctx.now, ctx.display_tz)
    refusal = check_in_refusal(c, protocol, today)
    if refusal is not None:
        raise CommandRefused([refusal], overridable=False)
    failures = eligibility_failures(
        protocol,
        c.prior_infusions,
        c.prior_serious_reaction,
        c.last_dose_on,
        today,
        ctx.patient_history,
        c.first_dose,
    ) + gtin_failures(c, protocol, ctx.protocols)
    overrides = _check_guards(failures, c.override)
    label_end = datetime.combine(c.bag_expiry + timedelta(days=1), time(0), tzinfo=ctx.display_tz)
    payload = CheckedIn(
        chair=c.chair,
        patient_mrn=c.patient_mrn.strip(),
        patient_initials=c.patient_initials.strip().upper(),
        protocol_id=protocol.id,
        protocol=dict(protocol.definition),
        bag=BagRecord(
            volume_ml=c.bag_volume_ml,
            lot=c.bag_lot,
            expiry=c.bag_expiry,
            prepared_at=c.bag_prepared_at,
            gtin=c.bag_gtin,
            dose_mg=protocol.dose_mg if c.dose_mg is None else c.dose_mg,
            refrigerated_until=c.bag_refrigerated_until or None,
            label_expires_at=label_end,
        ),
        prior_infusions=c.prior_infusions,
        prior_serious_reaction=c.prior_serious_reaction,
        last_dose_on=c.last_dose_on or None,
        first_dose=c.first_dose,
        assigned_nurse=c.assigned_nurse.strip() or ctx.actor,
        history_serious_reactions=tuple(
            PriorSeriousReaction(
                session_id=r.session_id, on=r.on, grade=ReactionGrade(r.grade), protocol_id=r.protocol_id
            )
            for r in (ctx.patient_history.serious_reactions if ctx.patient_history else ())
        ),
        overrides=overrides,
        # Optional identifiers, recorded only when entered (earlier entries keep their exact payload).
        visit_number=c.visit_number.strip(),
        order_number=c.order_number.strip(),
    )
    return [Event.of(payload, ctx.now, ctx.actor)]


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
                ScreeningFinding(
                    id=item.id,
                    question=item.question,
                    answer=answer,
                    outcome=item.if_not.value,
                    refer_to=item.refer_to,
                    source=item.source,
                )
            )
            word = {
                ScreeningOutcome.CONTRAINDICATION: "contraindication",
                ScreeningOutcome.DELAY: "reason to delay",
                ScreeningOutcome.REFER: f"only under the guidance of a {item.refer_to}",
            }[item.if_not]
            failures.append(
                GuardFailure(f"screening_{item.if_not.value}", f"{item.question} {answer}: {word}")
            )
    overrides = _check_guards(failures, c.override)
    payload = ScreeningRecorded(answers=dict(c.answers), findings=tuple(findings), overrides=overrides)
    return [Event.of(payload, ctx.now, ctx.actor)]


_DOSE = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*mg\s*$", re.IGNORECASE)


def premedication_dose_failures(protocol: InfusionProtocol, c: GivePremedication) -> list[GuardFailure]:
    """The dose and route given, against the protocol's template. A range or free text is refused
    outright (not a dose given); a dose outside the range may pass with an override."""
    template = next((p for p in protocol.premedications if p.drug == c.drug), None)
    if template is None:
        return []
    if template.routes and c.route.strip().upper() not in {r.upper() for r in template.routes}:
        raise _refuse(
            "premedication_route",
            f"{c.drug}: route {c.route!r} is not one of {', '.join(template.routes)}: enter the route used",
        )
    if template.dose_min_mg is None or template.dose_max_mg is None:
        return []
    match = _DOSE.match(c.dose)
    if match is None:
        raise _refuse(
            "premedication_dose_text",
            f"{c.drug}: enter the dose given in mg (e.g. {template.suggested_dose}), not {c.dose!r}",
        )
    dose = float(match.group(1).replace(",", "."))
    if not template.dose_min_mg - 1e-9 <= dose <= template.dose_max_mg + 1e-9:
        span = (
            f"{template.dose_min_mg:g} mg"
            if template.dose_min_mg == template.dose_max_mg
            else f"{template.dose_min_mg:g}-{template.dose_max_mg:g} mg"
        )
        return [GuardFailure("premedication_dose", f"{c.drug} {dose:g} mg is outside the protocol's {span}")]
    return []


def _dose_mg(text: str) -> float | None:
    match = _DOSE.match(text)
    return float(match.group(1).replace(",", ".")) if match is not None else None


def premedication_total_failures(state: ChairState, c: GivePremedication, at: datetime) -> list[GuardFailure]:
    """The doses of this drug given in the 24 h before `at`, this one included, against the protocol's
    daily maximum (overridable)."""
    template = next((p for p in state.require_protocol().premedications if p.drug == c.drug), None)
    dose = _dose_mg(c.dose)
    if template is None or template.max_daily_mg is None or dose is None:
        return []
    since = at - timedelta(hours=24)
    earlier = [
        _dose_mg(p.dose) for p in state.premedications if p.drug == c.drug and since < p.given_at <= at
    ]
    total = dose + sum(d for d in earlier if d is not None)
    if total <= template.max_daily_mg + 1e-9:
        return []
    return [
        GuardFailure(
            "premedication_daily_max",
            f"{c.drug}: {total:g} mg in 24 h with this dose, above the maximum {template.max_daily_mg:g} mg "
            f"({template.max_daily_source})",
        )
    ]


def _premedication(state: ChairState, c: GivePremedication, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.PREMEDICATION, Phase.INFUSING, Phase.PAUSED, Phase.OBSERVATION)
    at = c.given_at or ctx.now
    if at > ctx.now + timedelta(minutes=1):
        raise _refuse("bad_time", "a premedication cannot be recorded as given in the future")
    if not c.drug.strip() or not c.dose.strip():
        raise _refuse("incomplete", "drug and dose are required")
    failures = premedication_dose_failures(state.require_protocol(), c)
    overrides = _check_guards(failures + premedication_total_failures(state, c, at), c.override)
    repeat = state.premedication_given(c.drug) is not None
    payload = PremedicationGiven(
        drug=c.drug,
        dose=c.dose.strip(),
        route=c.route.strip(),
        repeat=repeat,
        recorded_at=ctx.now,
        overrides=overrides,
    )
    return [Event.of(payload, at, ctx.actor)]


def start_failures(state: ChairState, at: datetime, tz: tzinfo = UTC) -> list[GuardFailure]:
    """Every overridable guard on starting the infusion at `at`: the one function the start command and
    the next-action text both ask, so the screen never suggests a start the guard would refuse."""
    failures = _premedication_failures(state, at, tz) + _bag_failures(state, at, tz)
    failures += _bag_end_failures(state, at, tz)
    if state.baseline_vitals_missing:
        failures.append(
            GuardFailure("baseline_vitals_missing", "no baseline vital signs recorded since check-in")
        )
    return failures


def _bag_end_failures(state: ChairState, at: datetime, tz: tzinfo = UTC) -> list[GuardFailure]:
    """A start whose planned end passes the bag's expiry (the room-temperature limit includes infusion)."""
    expires = state.bag_expires_at
    if expires is None or at >= expires:
        return []  # already expired: _bag_failures says so
    minutes = state.plan().end_min
    if minutes is None:
        return []
    failure = bag_end_failure(expires, at + timedelta(minutes=minutes), tz, "started now the infusion", at)
    return [] if failure is None else [failure]


def bag_end_failure(
    expires: datetime,
    end: datetime,
    tz: tzinfo = UTC,
    what: str = "the infusion",
    now: datetime | None = None,
) -> GuardFailure | None:
    """An infusion ending after its bag expires (the room-temperature limit includes the infusion).
    Times on the clock face of `tz`, with their day when not on the day of `now` (default: the end)."""
    if end <= expires:
        return None
    face = ClockFace.of(tz)
    ref = now if now is not None else end
    return GuardFailure(
        "bag_expires_before_end",
        f"{what} would end at {face.at(end, ref)}, after the bag expires at {face.at(expires, ref)}",
    )


def _start(state: ChairState, c: StartInfusion, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.PREMEDICATION)
    at = c.started_at or ctx.now
    failures = start_failures(state, at, ctx.display_tz)
    overrides = _check_guards(failures, c.override)
    rate = state.steps[0].rate_ml_h
    return [Event.of(InfusionStarted(rate_ml_h=rate, overrides=overrides), at, ctx.actor)]


PUMP = "pump"


def signature(state: ChairState, source: str, ctx: DecisionContext) -> tuple[str, str | None]:
    """Who signs an entry, and who is responsible for it. Documented from the pump: signed "pump", with
    the chair's assigned nurse as the responsible person (not whoever happens to be identified at the
    station); otherwise the signer is (None: nothing more to record)."""
    if source != PUMP:
        return ctx.actor, None
    return PUMP, state.assigned_nurse or (ctx.actor if ctx.actor != PUMP else "")


def _assign(state: ChairState, c: AssignNurse, ctx: DecisionContext) -> list[Event]:
    if state.phase in (Phase.EMPTY, Phase.DISCHARGED):
        raise _refuse("wrong_phase", "assign a nurse to a chair with a patient")
    if not c.nurse.strip():
        raise _refuse("incomplete", "name the nurse (initials or badge)")
    payload = NurseAssigned(nurse=c.nurse.strip(), previous=state.assigned_nurse)
    return [Event.of(payload, ctx.now, ctx.actor)]


def _hand_over(state: ChairState, c: HandOver, ctx: DecisionContext) -> list[Event]:
    if state.phase in (Phase.EMPTY, Phase.DISCHARGED):
        raise _refuse("wrong_phase", "no patient to hand over")
    to = c.to_nurse.strip()
    if not to:
        raise _refuse("incomplete", "name the nurse taking over")
    if to == state.assigned_nurse:
        raise _refuse("same_nurse", f"{to} is already responsible for this patient")
    payload = HandedOver(from_nurse=state.assigned_nurse, to_nurse=to, notes=c.notes)
    return [Event.of(payload, ctx.now, ctx.actor)]


def _change_rate(state: ChairState, c: ChangeRate, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.INFUSING, Phase.PAUSED)
    if c.rate_ml_h < 0:
        raise _refuse("bad_rate", f"a rate cannot be negative ({c.rate_ml_h:g} mL/h)")
    at = c.at or ctx.now
    planned = state.planned_rate_ml_h(at)
    actor, responsible = signature(state, c.source, ctx)
    payload = RateChanged(
        rate_ml_h=c.rate_ml_h,
        previous_rate_ml_h=state.pump_rate_ml_h,
        planned_rate_ml_h=planned,
        source=c.source,
        reason=c.reason,
        responsible=responsible,
    )
    return [Event.of(payload, at, actor)]


def _pause(state: ChairState, c: PauseInfusion, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.INFUSING)
    actor, responsible = signature(state, c.source, ctx)
    payload = InfusionPaused(reason=c.reason, source=c.source, responsible=responsible)
    return [Event.of(payload, c.at or ctx.now, actor)]


def _resume(state: ChairState, c: ResumeInfusion, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.PAUSED)
    at = c.at or ctx.now
    overrides = _check_guards(_bag_failures(state, at, ctx.display_tz), c.override)
    stop = state.unresolved_stop_reaction
    actor, responsible = signature(state, c.source, ctx)
    payload = InfusionResumed(
        source=c.source,
        overrides=overrides,
        responsible=responsible,
        after_reaction_seq=None if stop is None else stop.seq,
        restart_rate_ml_h=None if stop is None else stop.restart_rate_ml_h,
    )
    return [Event.of(payload, at, actor)]


def _rate_at_onset(state: ChairState, onset: datetime) -> float:
    """The rate the pump really ran at when the reaction began, looked up at the onset (a back-dated
    onset takes the rate recorded then); stopped at onset: the planned rate just before it stopped."""
    recorded = state.pump_rate_at(onset)
    if recorded > 0:
        return recorded
    if state.infusion_started_at is None:
        return 0.0
    pause = next((p for p in reversed(state.pauses) if p.start <= onset), None)
    moment = pause.start - timedelta(seconds=1) if pause is not None else onset
    return state.plan().rate_at(state.minutes_from_start(max(moment, state.infusion_started_at)))


def reaction_failures(
    state: ChairState, grade: int, signs: Sequence[str], terms: ReactionTerms | None, regrades: bool = False
) -> list[GuardFailure]:
    """The overridable cross-checks of a reaction's grade against its signs and the session's history."""
    failures = []
    if grade < SEVERE_GRADE and terms is not None:
        found = terms.anaphylaxis_signs_in(signs)
        if found:
            failures.append(
                GuardFailure(
                    "anaphylaxis_signs_low_grade",
                    f"{', '.join(found)} is a sign of anaphylaxis: record grade {SEVERE_GRADE} or above "
                    f"(not grade {grade}), or override with a reason",
                )
            )
    improved = [r for r in state.reactions if r.resolved_at is not None]
    if grade < SEVERE_GRADE and improved and not regrades:
        last = improved[-1]
        failures.append(
            GuardFailure(
                "recurrence_after_improvement",
                f"symptoms recurred after the grade {last.grade} reaction had resolved: CTCAE v5 grades a "
                f"recurrence after improvement as {SEVERE_GRADE}; re-grade or override with a reason",
            )
        )
    return failures


def _reaction(state: ChairState, c: RecordReaction, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.INFUSING, Phase.PAUSED, Phase.OBSERVATION)
    if c.grade not in (1, 2, 3, 4):
        raise _refuse("bad_grade", f"reaction grade must be 1 to 4, got {c.grade}")
    onset = c.onset_at or ctx.now
    if onset > ctx.now + timedelta(minutes=1):
        raise _refuse("bad_time", "reaction onset cannot be in the future")
    if state.infusion_started_at is not None and onset < state.infusion_started_at:
        raise _refuse("bad_time", "reaction onset is before the infusion started")
    if c.regrades_seq is not None and not any(r.seq == c.regrades_seq for r in state.reactions):
        raise _refuse("unknown_entry", f"there is no reaction {c.regrades_seq} to re-grade")
    failures = reaction_failures(state, c.grade, c.signs, ctx.reaction_terms, c.regrades_seq is not None)
    overrides = _check_guards(failures, c.override)
    return _reaction_events(state, c.grade, c.signs, c.notes, onset, ctx, overrides, c.regrades_seq)


def _reaction_events(
    state: ChairState,
    grade: int,
    signs: Sequence[str],
    notes: str,
    onset: datetime,
    ctx: DecisionContext,
    overrides: tuple[OverrideRecord, ...],
    regrades_seq: int | None = None,
) -> list[Event]:
    protocol = state.require_protocol()
    action: ReactionAction | None = None
    onset_rate = new_rate = restart_rate = 0.0
    terms = ctx.reaction_terms
    anaphylaxis = terms.is_anaphylaxis(grade, signs) if terms is not None else grade >= 4
    if state.phase is not Phase.OBSERVATION:
        onset_rate = _rate_at_onset(state, onset)
        rule = protocol.rule_for_grade(grade)
        action = ReactionAction.DISCONTINUE if anaphylaxis else rule.action
        rate = rule.apply(onset_rate, reaction_ceiling_ml_h(state.steps))
        if action is ReactionAction.HALVE_RATE:
            new_rate = rate
        elif action is ReactionAction.STOP_THEN_RESTART:
            restart_rate = rate
    payload = ReactionRecorded(
        grade=ReactionGrade(grade),
        signs=tuple(signs),
        notes=notes,
        action=action,
        rate_at_onset_ml_h=onset_rate,
        new_rate_ml_h=new_rate,
        restart_rate_ml_h=restart_rate,
        recorded_at=ctx.now,
        regrades_seq=regrades_seq,
        overrides=overrides,
        # recorded only for anaphylaxis: earlier entries keep their exact payload
        anaphylaxis=anaphylaxis,
        anaphylaxis_observation_min=(
            (terms.anaphylaxis_observation_min if terms is not None else 0.0) if anaphylaxis else None
        ),
    )
    return [Event.of(payload, onset, ctx.actor)]


def _resolve(state: ChairState, c: ResolveSymptoms, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.INFUSING, Phase.PAUSED, Phase.OBSERVATION, Phase.DISCONTINUED)
    at = c.at or ctx.now
    if at > ctx.now + timedelta(minutes=1):
        raise _refuse("bad_time", "symptoms cannot be recorded as resolved in the future")
    ended = state.infusion_ended_at is not None  # a stop never restarted resolves like any reaction
    open_ = [r for r in state.reactions if r.holds_until_resolved or (ended and r.resolved_at is None)]
    if not open_:
        if state.unresolved_stop_reaction is not None:
            raise _refuse(
                "resume_to_resolve",
                "the pump is stopped for a severe reaction: restart it (at the restart rate) once all "
                "symptoms have resolved; the restart records the resolution",
            )
        raise _refuse("no_open_reaction", "there is no unresolved reaction")
    early = [r for r in open_ if at < r.onset_at]
    if early:
        raise _refuse("bad_time", f"resolution before the reaction's onset at {ctx.at(early[0].onset_at)}")
    payload = SymptomsResolved(reaction_seqs=tuple(r.seq for r in open_), notes=c.notes, recorded_at=ctx.now)
    return [Event.of(payload, at, ctx.actor)]


def _not_tolerated(state: ChairState, c: ReactionNotTolerated, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.INFUSING, Phase.PAUSED)
    at = c.at or ctx.now
    open_ = [r for r in state.reactions if r.action is ReactionAction.HALVE_RATE and r.resolved_at is None]
    if not open_:
        raise _refuse("no_open_reaction", "there is no reduced-rate reaction waiting for its resolution")
    reaction = open_[-1]
    try:
        outcome = NotToleratedOutcome(c.outcome)
    except ValueError:
        raise _refuse(
            "bad_outcome", f"not tolerated: choose 'stop' or 'regrade', not {c.outcome!r}"
        ) from None
    payload = ReactionNotToleratedEntry(reaction_seq=reaction.seq, outcome=outcome, reason=c.reason)
    marker = Event.of(payload, at, ctx.actor)
    if outcome is NotToleratedOutcome.STOP:
        if state.phase is Phase.PAUSED:
            return [marker]
        reason = f"grade {reaction.grade} reaction not tolerated at the reduced rate" + (
            f": {c.reason}" if c.reason.strip() else ""
        )
        return [marker, Event.of(InfusionPaused(reason=reason, source="nurse"), at, ctx.actor)]
    if c.grade is None or c.grade < SEVERE_GRADE or c.grade > 4:
        raise _refuse(
            "bad_grade", f"a reaction not tolerated is re-graded {SEVERE_GRADE} or 4 (got {c.grade})"
        )
    signs = c.signs or reaction.signs
    events = _reaction_events(state, c.grade, signs, c.reason, at, ctx, (), reaction.seq)
    return [marker, *events]


def _vitals(state: ChairState, c: RecordVitals, ctx: DecisionContext) -> list[Event]:
    if state.phase in (Phase.EMPTY, Phase.DISCHARGED):
        raise _refuse(
            "wrong_phase", f"vital signs need a patient in the chair (chair is {state.phase.label})"
        )
    values = {k: v for k, v in c.values.items() if v is not None}
    if not values:
        raise _refuse("incomplete", "no vital signs entered")
    alerts: list[str] = []
    alert_signs: list[str] = []
    extreme: list[str] = []
    if ctx.vital_limits is not None:
        problems = implausible_values(values, ctx.vital_limits)
        if problems:
            raise _refuse("implausible_vitals", "; ".join(problems))
        alerts = alerting_values(values, ctx.vital_limits)
        alert_signs = alerting_signs(values, ctx.vital_limits)
        extreme = extreme_signs(values, ctx.vital_limits)
    at = c.at or ctx.now
    payload = VitalsRecorded(
        values=values, alerts=tuple(alerts), alert_signs=tuple(alert_signs), extreme_signs=tuple(extreme)
    )
    return [Event.of(payload, at, ctx.actor)]


def _complete(state: ChairState, c: CompleteInfusion, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.INFUSING, Phase.PAUSED)
    at = c.at or ctx.now
    actor, responsible = signature(state, c.source, ctx)
    payload = InfusionCompleted(
        source=c.source, volume_infused_ml=c.volume_infused_ml, reason=c.reason, responsible=responsible
    )
    return [Event.of(payload, at, actor)]


def discharge_failures(state: ChairState, at: datetime, tz: tzinfo = UTC) -> list[GuardFailure]:
    """Overridable guards on discharge: observation not over (or a reaction unresolved), and no vital
    signs taken after the infusion ended."""
    failures: list[GuardFailure] = []
    ended = state.infusion_ended_at
    if ended is None:
        return failures
    open_ = state.unresolved_reactions
    earliest = state.ordinary_discharge_at
    if open_:
        r = open_[-1]
        failures.append(
            GuardFailure(
                "reaction_unresolved",
                f"the grade {r.grade} reaction at {ClockFace.of(tz).at(r.onset_at, at)} is not recorded as resolved; "
                f"observation runs {state.require_protocol().observation_min:g} min after resolution",
            )
        )
    elif earliest is not None and at < earliest:
        left = (earliest - at).total_seconds() / 60.0
        failures.append(
            GuardFailure(
                "observation_not_complete",
                f"observation runs until {ClockFace.of(tz).at(earliest, at)} ({left:.0f} min left)",
            )
        )
    if not any(v.at >= ended for v in state.vitals):
        failures.append(
            GuardFailure(
                "vitals_missing_after_infusion",
                f"no vital signs recorded since the infusion ended at {ClockFace.of(tz).at(ended, at)}",
            )
        )
    return failures


PRESCRIBER_MAX_CHARS = 80
"""A prescriber's name as the release records it (a typed name: prescribers are not station accounts)."""


def anaphylaxis_discharge_refusal(
    state: ChairState, at: datetime, release: PrescriberRelease | None, actor: str, tz: tzinfo = UTC
) -> GuardFailure | None:
    """Not overridable: after anaphylaxis, no discharge before the institution's observation from its
    onset, unless a prescriber's release is documented and co-signed by a second nurse. A release given
    is judged whenever it would be recorded (also once the observation is over)."""
    until = state.anaphylaxis_observation_until
    if until is None or (release is None and at >= until):
        return None
    if release is None:
        onset = next(r.onset_at for r in state.reactions if r.anaphylaxis)
        return GuardFailure(
            "anaphylaxis_observation",
            f"after anaphylaxis at {ClockFace.of(tz).at(onset, at)} the patient is observed until "
            f"{ClockFace.of(tz).at(until, at)}; "
            "discharge earlier only on a prescriber's documented release, co-signed",
        )
    prescriber = release.prescriber.strip()
    if not prescriber or not release.note.strip():
        return GuardFailure("release_incomplete", "name the prescriber and document the release")
    if len(prescriber) > PRESCRIBER_MAX_CHARS:
        return GuardFailure(
            "release_incomplete", f"the prescriber's name is at most {PRESCRIBER_MAX_CHARS} characters"
        )
    return release_cosigner_refusal(release.cosigner, actor)


def release_cosigner_refusal(cosigner: ReleaseCosigner | None, actor: str) -> GuardFailure | None:
    """The one rule for who co-signs a prescriber's release: an active account with a nurse's role that
    signed in at the station, not the nurse recording the discharge (the sign-in dialog asks it too)."""
    if cosigner is None:
        problem = "the second nurse signs in (badge or ID, and PIN) to co-sign the prescriber's release"
    elif not cosigner.role:
        problem = f"there is no account {cosigner.account} at this station: a second nurse co-signs"
    elif not cosigner.active:
        problem = f"the account {cosigner.account} is disabled: a second nurse co-signs"
    elif not cosigner.nurse:
        problem = f"{cosigner.account} ({cosigner.role}) is not a nurse: a second nurse co-signs"
    elif cosigner.account.strip().casefold() == actor.strip().casefold():
        problem = f"{cosigner.account} is the nurse recording the discharge: a second nurse co-signs"
    else:
        return None
    return GuardFailure("release_not_co_signed", problem)


def _discharge(state: ChairState, c: Discharge, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.OBSERVATION, Phase.DISCONTINUED)
    at = c.at or ctx.now
    refusal = anaphylaxis_discharge_refusal(state, at, c.release, ctx.actor, ctx.display_tz)
    if refusal is not None:
        raise CommandRefused([refusal], overridable=False)
    overrides = _check_guards(discharge_failures(state, at, ctx.display_tz), c.override)
    release = None
    if (
        c.release is not None
        and c.release.cosigner is not None
        and state.anaphylaxis_observation_until is not None
    ):
        release = PrescriberReleaseRecord(
            prescriber=c.release.prescriber.strip(),
            cosigned_by=c.release.cosigner.account,
            cosigner_name=c.release.cosigner.name,
            note=c.release.note.strip(),
        )
    return [Event.of(Discharged(overrides=overrides, prescriber_release=release), at, ctx.actor)]


def _discontinue(state: ChairState, c: Discontinue, ctx: DecisionContext) -> list[Event]:
    _require_phase(state, c, Phase.SCREENING, Phase.PREMEDICATION, Phase.INFUSING, Phase.PAUSED)
    if not c.reason.strip():
        raise _refuse("incomplete", "say why the infusion is discontinued")
    return [Event.of(Discontinued(reason=c.reason), c.at or ctx.now, ctx.actor)]


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
    try:
        corrected = decode_record(CorrectedFields, c.corrected, "corrected")
    except PayloadError as exc:
        raise _refuse("bad_value", str(exc)) from None
    payload = CorrectionRecorded(
        target_seq=c.target_seq, target_type=str(target.type), reason=c.reason, corrected=corrected
    )
    return [Event.of(payload, ctx.now, ctx.actor)]


def _note(state: ChairState, c: AddNote, ctx: DecisionContext) -> list[Event]:
    if state.phase is Phase.EMPTY:
        raise _refuse("wrong_phase", "no session to annotate")
    if not c.text.strip():
        raise _refuse("incomplete", "the note is empty")
    if c.target_seq is not None and state.event(c.target_seq) is None:
        raise _refuse("unknown_entry", f"there is no entry {c.target_seq} in this session")
    return [Event.of(NoteAdded(text=c.text, target_seq=c.target_seq), ctx.now, ctx.actor)]


def _alarm(state: ChairState, c: RecordAlarm, ctx: DecisionContext) -> list[Event]:
    if state.phase is Phase.EMPTY:
        raise _refuse("wrong_phase", "alarms are journaled with a session")
    if c.kind not in ALARM_EVENT_TYPES:
        raise _refuse("bad_alarm", f"unknown alarm event {c.kind!r}")
    entry = ALARM_EVENT_TYPES[c.kind]
    payload = entry(
        alarm_id=c.alarm_id,
        rule=c.rule,
        priority=c.priority,
        message=c.message,
        # from the floor's overview: which one, and its command (absent otherwise)
        overview=c.overview,
        command_id=c.command_id if c.overview is not None else None,
    )
    return [Event.of(payload, c.at or ctx.now, ctx.actor)]


_DECIDERS: dict[type, Any] = {
    CheckIn: _check_in,
    RecordScreening: _screening,
    GivePremedication: _premedication,
    StartInfusion: _start,
    ChangeRate: _change_rate,
    PauseInfusion: _pause,
    ResumeInfusion: _resume,
    RecordReaction: _reaction,
    ResolveSymptoms: _resolve,
    ReactionNotTolerated: _not_tolerated,
    RecordVitals: _vitals,
    CompleteInfusion: _complete,
    Discharge: _discharge,
    Discontinue: _discontinue,
    Correct: _correct,
    AddNote: _note,
    AssignNurse: _assign,
    HandOver: _hand_over,
    RecordAlarm: _alarm,
}


def decide(state: ChairState, command: Command, context: DecisionContext) -> list[Event]:
    """The events `command` produces in `state`, or CommandRefused explaining why not."""
    if not context.actor.strip():
        raise _refuse("no_nurse", "identify yourself (initials or badge) before recording")
    decider = _DECIDERS[type(command)]
    events: list[Event] = decider(state, command, context)
    return events
