"""Alarm rules as data, and the board that raises, acknowledges, latches and clears alarms.

Each `AlarmRule` names a condition over one chair's `AlarmInputs` (the session's state, the latest pump
reading, the link) and says how urgent it is, whether it is clinical or technical, whether it latches,
and the message it shows. `evaluate` runs every rule; `AlarmBoard` turns the conditions into alarms over
time (IEC 60601-1-8 conventions: priorities, latching, acknowledgement, time-limited audio pause broken
through by a higher priority, escalation of unacknowledged alarms) and returns each transition so the
chair controller can journal it with `RecordAlarm`.

Every number (tolerances, grace periods, delays) is in `AlarmPolicy`, loaded from
resources/alarms.toml, which cites its source. Pure: time is always passed in.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from enum import Enum, StrEnum
from typing import Any

from app.domain.chair import AlarmRecord, ChairState, ReactionRecord
from app.domain.clock_face import ClockFace
from app.domain.commands import RecordAlarm
from app.domain.events import EventType, InfusionStarted, ReactionRecorded
from app.domain.phase import Phase
from app.domain.protocol import ReactionAction
from app.domain.schedule import Plan, PlanOutcome, SegmentKind

# --------------------------------------------------------------------------------------------------
# Vocabulary


class Priority(Enum):
    """IEC 60601-1-8 alarm priorities. The value is what the journal stores."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return {Priority.HIGH: 3, Priority.MEDIUM: 2, Priority.LOW: 1}[self]

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def colour(self) -> str:
        """The IEC colour name: red, yellow, cyan."""
        return {Priority.HIGH: "red", Priority.MEDIUM: "yellow", Priority.LOW: "cyan"}[self]

    @property
    def symbol(self) -> str:
        """Shown beside the colour, never instead of text (colour alone is not enough)."""
        return {Priority.HIGH: "!!!", Priority.MEDIUM: "!!", Priority.LOW: "!"}[self]


class AlarmCategory(Enum):
    CLINICAL = "clinical"  # about the patient or the treatment
    TECHNICAL = "technical"  # about the equipment: pump faults, the link to the pump
    NOTIFICATION = (
        "notification"  # news, not an alarm: shown on the tile and journaled; never sounds or escalates
    )

    @property
    def is_alarm(self) -> bool:
        return self is not AlarmCategory.NOTIFICATION

    @property
    def label(self) -> str:
        return self.value.capitalize()


class PumpDelivery(StrEnum):
    """What the pump says it is doing. Mirrors the values of drivers.base.DeliveryState."""

    INFUSING = "infusing"
    STOPPED = "stopped"
    PAUSED = "paused"
    COMPLETE = "complete"
    KVO = "kvo"
    ALARM = "alarm"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PumpAlarmReading:
    code: str  # the pump's own code, e.g. AL_OCCLU
    kind: str  # a drivers.base.AlarmKind value: occlusion, air, door, battery, end_of_infusion, ...
    text: str


@dataclass(frozen=True)
class PumpReading:
    """The domain's copy of one pump telemetry sample (the chair controller maps drivers' Telemetry:
    ``PumpReading(t.at, t.rate_ml_h, t.volume_infused_ml, PumpDelivery(t.state.value),
    tuple(PumpAlarmReading(a.code, str(a.kind), a.text) for a in t.alarms))``).

    The link fields describe the link when the sample was taken; the alarm rules use the ones in
    `AlarmInputs`, which describe the link now."""

    at: datetime
    rate_ml_h: float
    volume_infused_ml: float
    delivery: PumpDelivery
    alarms: tuple[PumpAlarmReading, ...] = ()
    link_connected: bool = True
    link_lost_since: datetime | None = None

    @property
    def end_of_infusion(self) -> bool:
        """The pump says the bag is delivered (complete, keep-vein-open, or its end-of-infusion alarm)."""
        return self.delivery in (PumpDelivery.COMPLETE, PumpDelivery.KVO) or any(
            a.kind == "end_of_infusion" for a in self.alarms
        )


@dataclass(frozen=True)
class AlarmInputs:
    """Everything the rules look at for one chair, at `now`.

    `link_connected`/`link_lost_since` describe the pump link now. `link_lost_since` is when the link
    was lost (or the first connection attempt began); None means there is nothing to miss (no pump
    configured). A chair without a pump passes link_connected=True and reading=None, and the rules
    fall back on the rates the nurse journaled."""

    now: datetime
    state: ChairState | None
    reading: PumpReading | None = None
    link_connected: bool = True
    link_lost_since: datetime | None = None
    chair: str = ""
    display_tz: tzinfo | None = UTC  # None: this computer's zone, daylight saving included
    storage_problem: str = ""  # why the chair's last entry or pump reading did not reach the disk
    journal_loss: str = ""  # the station's journal lost entries its witness holds (app.station.anchor_check)

    @property
    def live_reading(self) -> PumpReading | None:
        """The reading, unless the link is down (then it is stale and says nothing about now)."""
        return self.reading if self.link_connected else None

    @property
    def chair_label(self) -> str:
        if self.chair:
            return self.chair
        if self.state is not None and self.state.chair:
            return self.state.chair
        return "Chair"

    def at(self, moment: datetime) -> str:
        """`moment` on the station's clock face, as an alarm text says it."""
        return ClockFace.of(self.display_tz).at(moment, self.now)


# --------------------------------------------------------------------------------------------------
# Policy (numbers from resources/alarms.toml)


class AlarmPolicyError(ValueError):
    """An alarm policy that cannot be used; names the file and the field."""

    def __init__(self, source: str, field_name: str, problem: str) -> None:
        self.source = source
        self.field_name = field_name
        self.problem = problem
        super().__init__(f"{source}: field '{field_name}': {problem}")


SAME_RATE_ML_H = 0.05
"""The shipped `rate_above_plan.same_rate_ml_h` (resources/alarms.toml), for a journal read without a
station (tools, tests); a station hands its loaded policy's number down (AlarmPolicy.same_rate)."""


def same_rate(a: float | None, b: float, same_rate_ml_h: float = SAME_RATE_ML_H) -> bool:
    """Two pump rates are one rate when they differ by less than the pumps show (see AlarmPolicy)."""
    return a is not None and abs(a - b) <= same_rate_ml_h + 1e-9


@dataclass(frozen=True)
class AlarmPolicy:
    """Every number the alarm rules use (resources/alarms.toml), loaded once at start-up and handed to
    whatever needs it (the station, its chairs' pump debounce, the banner, the telemetry recorder).

    Two questions about pump rates, answered here and nowhere else:
    - "Is this the same rate?" (`same_rate`, `same_rate_ml_h`, 0.05 mL/h): a reading compared with the
      last one. Anything the pump shows as different (its display step is 0.1 mL/h) is a change the
      nurse made: it is documented in the journal AND kept as a stored reading (40 -> 44 mL/h is both).
    - "Is the pump close enough to the plan?" (`rate_tolerance`, max(5 mL/h, 10 %), never as wide as
      `always_at_factor` times the plan; `above_plan`, `off_plan`): a reading compared with the planned
      step, for alarms and the banner. A small deviation from plan is not worth a nurse's attention
      (alarm fatigue); it is still a different rate, and recorded as one.
    """

    rate_tolerance_ml_h: float  # a pump faster than plan by less than this is not an alarm...
    rate_tolerance_percent: float  # ...nor by less than this share of the planned rate
    early_step_up_tolerance_s: float  # stepping up this early is not "above plan"
    after_reaction_grace_s: float  # time to set the pump after a reaction is recorded
    step_up_grace_s: float  # a step-up not done this long after it is due raises an alarm
    link_lost_quiet_s: float  # a lost link raises an alarm once it has been lost this long
    bag_expiry_warning_min: float  # warn this long before the diluted bag expires
    escalation_after_s: Mapping[Priority, float]  # unacknowledged this long: on the charge nurse's overview
    audio_pause_s: float  # IEC 60601-1-8: audio paused for a limited time
    flash_hz: Mapping[Priority, float]  # 0 = steady
    flash_duty_percent: float
    same_rate_ml_h: float = SAME_RATE_ML_H  # two pump rates closer than this are the same rate
    always_at_factor: float = 2.0  # at this multiple of the planned rate or more: off plan, at any rate
    vitals_overdue_grace_s: float = 300.0  # vital signs this late raise a reminder
    vital_sign_priorities: Mapping[str, Priority] = field(default_factory=dict)  # sign -> alarm priority
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def rate_tolerance(self, planned_ml_h: float) -> float:
        """How far the pump may be from the planned rate before it is "off plan": the one tolerance the
        alarm rules, the next-action text and the chair's banner share."""
        tolerance = max(self.rate_tolerance_ml_h, planned_ml_h * self.rate_tolerance_percent / 100.0)
        if planned_ml_h > 0:  # never as wide as `always_at_factor` times the plan
            tolerance = min(tolerance, planned_ml_h * (self.always_at_factor - 1.0))
        return tolerance

    def same_rate(self, a: float | None, b: float) -> bool:
        """`a` and `b` are one rate: no change to document or to store (None: no rate known yet)."""
        return same_rate(a, b, self.same_rate_ml_h)

    def above_plan(self, pump_ml_h: float, planned_ml_h: float) -> bool:
        """The one rate-deviation rule: above plan by more than the tolerance, or at `always_at_factor`
        times the plan or more (at any rate)."""
        tolerance = self.rate_tolerance(planned_ml_h)
        at_factor = planned_ml_h > 0 and pump_ml_h >= planned_ml_h * self.always_at_factor - 1e-9
        return pump_ml_h > planned_ml_h + tolerance or at_factor

    def off_plan(self, pump_ml_h: float, planned_ml_h: float) -> bool:
        return self.above_plan(pump_ml_h, planned_ml_h) or planned_ml_h - pump_ml_h > self.rate_tolerance(
            planned_ml_h
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source_name: str) -> AlarmPolicy:
        sources: dict[str, str] = {}

        def table(name: str) -> Mapping[str, Any]:
            value = data.get(name)
            if not isinstance(value, Mapping):
                raise AlarmPolicyError(source_name, name, "table is missing")
            cited = value.get("source")
            if not isinstance(cited, str) or not cited.strip():
                raise AlarmPolicyError(source_name, f"{name}.source", "must cite where the numbers come from")
            sources[name] = cited
            return value

        def number(section: str, key: str, *, allow_zero: bool = False) -> float:
            value = table(section).get(key)
            name = f"{section}.{key}"
            if value is None:
                raise AlarmPolicyError(source_name, name, "is missing")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AlarmPolicyError(source_name, name, f"must be a number, got {value!r}")
            if value < 0 or (value == 0 and not allow_zero):
                raise AlarmPolicyError(source_name, name, f"must be positive, got {value!r}")
            return float(value)

        duty = number("display", "flash_duty_percent")
        if duty >= 100:
            raise AlarmPolicyError(
                source_name, "display.flash_duty_percent", f"must be below 100, got {duty:g}"
            )
        return cls(
            rate_tolerance_ml_h=number("rate_above_plan", "tolerance_ml_h"),
            rate_tolerance_percent=number("rate_above_plan", "tolerance_percent", allow_zero=True),
            early_step_up_tolerance_s=number("rate_above_plan", "early_step_up_tolerance_s", allow_zero=True),
            after_reaction_grace_s=number("rate_above_plan", "after_reaction_grace_s", allow_zero=True),
            step_up_grace_s=number("step_up", "grace_s", allow_zero=True),
            link_lost_quiet_s=number("link_lost", "quiet_s", allow_zero=True),
            bag_expiry_warning_min=number("bag_expiry", "warning_min"),
            escalation_after_s={p: number("escalation", f"{p.value}_s") for p in Priority},
            audio_pause_s=number("audio_pause", "duration_s"),
            flash_hz={p: number("display", f"{p.value}_flash_hz", allow_zero=True) for p in Priority},
            flash_duty_percent=duty,
            same_rate_ml_h=number("rate_above_plan", "same_rate_ml_h"),
            always_at_factor=_at_least_one(source_name, number("rate_above_plan", "always_at_factor")),
            vitals_overdue_grace_s=number("vital_signs", "overdue_grace_s", allow_zero=True),
            vital_sign_priorities=_vital_priorities(source_name, table("vital_signs")),
            sources=sources,
        )


def _at_least_one(source_name: str, factor: float) -> float:
    if factor <= 1.0:
        raise AlarmPolicyError(
            source_name, "rate_above_plan.always_at_factor", f"must exceed 1, got {factor:g}"
        )
    return factor


def _vital_priorities(source_name: str, section: Mapping[str, Any]) -> dict[str, Priority]:
    raw = section.get("priority")
    if not isinstance(raw, Mapping):
        raise AlarmPolicyError(source_name, "vital_signs.priority", "must be a table of sign = priority")
    out: dict[str, Priority] = {}
    for sign, value in raw.items():
        try:
            out[str(sign)] = Priority(value)
        except ValueError:
            raise AlarmPolicyError(
                source_name, f"vital_signs.priority.{sign}", f"must be high, medium or low, got {value!r}"
            ) from None
    return out


# --------------------------------------------------------------------------------------------------
# Rules

Fields = Mapping[str, object]
Condition = Callable[[AlarmInputs, AlarmPolicy], Fields | None]


@dataclass(frozen=True)
class AlarmRule:
    id: str
    category: AlarmCategory
    priority: Priority
    latching: bool  # stays after its condition clears, until acknowledged
    message: str  # str.format template; `chair` plus the fields the condition returns
    condition: Condition  # the template's fields when the alarm condition holds, else None
    short: str  # its name in a few words, where a line has room for no more ("link lost")
    escalate_at_once: bool = False  # on the charge nurse's overview as soon as it is raised


@dataclass(frozen=True)
class AlarmCondition:
    """One rule's condition, holding now, with its message filled in."""

    rule: str
    priority: Priority
    category: AlarmCategory
    latching: bool
    message: str


def _rate(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def _running(inputs: AlarmInputs) -> tuple[ChairState, Plan, float] | None:
    """The session, its plan and the minute into it, while an infusion is under way."""
    state = inputs.state
    if (
        state is None
        or state.phase not in (Phase.INFUSING, Phase.PAUSED)
        or state.infusion_started_at is None
    ):
        return None
    return state, state.plan(), state.minutes_from_start(inputs.now)


def _pump_rate(inputs: AlarmInputs, state: ChairState) -> float:
    """What the pump is running at: from the live reading, else the rate last journaled."""
    reading = inputs.live_reading
    if reading is not None:
        return reading.rate_ml_h if reading.delivery is PumpDelivery.INFUSING else 0.0
    if state.phase is Phase.INFUSING and state.pump_rate_ml_h is not None:
        return state.pump_rate_ml_h
    return 0.0


def _recorded_at(state: ChairState, reaction: ReactionRecord) -> datetime:
    event = state.event(reaction.seq)
    recorded = event.payload_as(ReactionRecorded).recorded_at if event is not None else None
    return reaction.onset_at if recorded is None else max(reaction.onset_at, recorded)


def _rate_excess(
    inputs: AlarmInputs, policy: AlarmPolicy
) -> tuple[dict[str, object], ReactionRecord | None] | None:
    running = _running(inputs)
    if running is None:
        return None
    state, plan, minute = running
    pump = _pump_rate(inputs, state)
    if pump <= 0:
        return None
    planned = plan.rate_at(minute)
    end = plan.end_min
    if plan.outcome is PlanOutcome.COMPLETE and end is not None and minute >= end and plan.segments:
        planned = plan.segments[-1].rate_ml_h  # past the projected end, the last rate runs the bag out
    allowed = max(planned, plan.rate_at(minute + policy.early_step_up_tolerance_s / 60.0))
    if not policy.above_plan(pump, allowed):
        return None
    reaction: ReactionRecord | None = None
    segment = plan.segment_at(minute)
    reduced = segment is None or segment.kind in (SegmentKind.REDUCED, SegmentKind.STOPPED)
    candidates = [
        r
        for r in state.reactions
        if r.onset_at <= inputs.now
        and r.action in (ReactionAction.HALVE_RATE, ReactionAction.STOP_THEN_RESTART)
    ]
    if reduced and candidates:
        reaction = max(candidates, key=lambda r: r.onset_at)
        if inputs.now - _recorded_at(state, reaction) < timedelta(seconds=policy.after_reaction_grace_s):
            return None  # the nurse is setting the pump now
    fields: dict[str, object] = {"pump": _rate(pump), "plan": _rate(planned)}
    if reaction is not None:
        fields.update(reaction_at=inputs.at(reaction.onset_at), grade=reaction.grade)
    elif state.open_pause is not None:
        fields.update(plan=f"0 (paused at {inputs.at(state.open_pause.start)})")
    return fields, reaction


def _rate_above_plan_after_reaction(inputs: AlarmInputs, policy: AlarmPolicy) -> Fields | None:
    excess = _rate_excess(inputs, policy)
    return excess[0] if excess is not None and excess[1] is not None else None


def _rate_above_plan(inputs: AlarmInputs, policy: AlarmPolicy) -> Fields | None:
    excess = _rate_excess(inputs, policy)
    return excess[0] if excess is not None and excess[1] is None else None


def _step_up_overdue(inputs: AlarmInputs, policy: AlarmPolicy) -> Fields | None:
    running = _running(inputs)
    if running is None:
        return None
    state, plan, minute = running
    reading = inputs.live_reading
    if state.phase is not Phase.INFUSING or (
        reading is not None and reading.delivery is not PumpDelivery.INFUSING
    ):
        return None  # a stopped pump is not a missed step-up
    segment = plan.segment_at(minute)
    if segment is None or segment.start_min <= 0 or segment.kind is not SegmentKind.STEP:
        return None
    previous = plan.rate_at(segment.start_min - 1e-6)
    if segment.rate_ml_h <= previous:
        return None
    pump = _pump_rate(inputs, state)
    if pump >= segment.rate_ml_h - policy.rate_tolerance(segment.rate_ml_h):
        return None
    assert state.infusion_started_at is not None
    due = state.infusion_started_at + timedelta(minutes=segment.start_min)
    if inputs.now - due < timedelta(seconds=policy.step_up_grace_s):
        return None
    return {"target": _rate(segment.rate_ml_h), "due_at": inputs.at(due), "pump": _rate(pump)}


def _pump_alarm(*kinds: str) -> Condition:
    def condition(inputs: AlarmInputs, _policy: AlarmPolicy) -> Fields | None:
        reading = inputs.live_reading
        if reading is None:
            return None
        matching = [a for a in reading.alarms if a.kind in kinds]
        if not matching:
            return None
        detail = "; ".join(f"{a.text.strip() or a.code} ({a.code})" for a in matching)
        return {"detail": detail, "at": inputs.at(reading.at)}

    return condition


def _link_lost(*, infusing: bool | None) -> Condition:
    """infusing=True: the chair is infusing; False: a session in another phase; None: no session."""

    def condition(inputs: AlarmInputs, policy: AlarmPolicy) -> Fields | None:
        since = inputs.link_lost_since
        if inputs.link_connected or since is None:
            return None
        if inputs.now - since < timedelta(seconds=policy.link_lost_quiet_s):
            return None
        state = inputs.state
        phase = state.phase if state is not None else Phase.EMPTY
        in_session = phase not in (Phase.EMPTY, Phase.DISCHARGED)
        if infusing is True and phase is not Phase.INFUSING:
            return None
        if infusing is False and (not in_session or phase is Phase.INFUSING):
            return None
        if infusing is None and in_session:
            return None
        return {"since": inputs.at(since)}

    return condition


def _infusion_complete(inputs: AlarmInputs, _policy: AlarmPolicy) -> Fields | None:
    state = inputs.state
    if state is None:
        return None
    if state.phase is Phase.OBSERVATION:
        ends = state.observation_ends_at
        if state.completed_at is None or ends is None or inputs.now >= ends:
            return None
        volume = "" if state.volume_infused_ml is None else f" ({_rate(state.volume_infused_ml)} mL)"
        return {
            "what": f"infusion complete at {inputs.at(state.completed_at)}{volume}",
            "until": inputs.at(ends),
        }
    reading = inputs.live_reading
    if state.phase in (Phase.INFUSING, Phase.PAUSED) and reading is not None and reading.end_of_infusion:
        return {
            "what": f"pump reports end of infusion at {inputs.at(reading.at)} "
            f"({_rate(reading.volume_infused_ml)} mL)",
            "until": f"{state.require_protocol().observation_min:g} min after it",
        }
    return None


def _observation_complete(inputs: AlarmInputs, _policy: AlarmPolicy) -> Fields | None:
    state = inputs.state
    if state is None or state.phase is not Phase.OBSERVATION:
        return None
    ends = state.observation_ends_at
    if ends is None or inputs.now < ends:
        return None
    return {"at": inputs.at(ends)}


_BAG_PHASES = (Phase.SCREENING, Phase.PREMEDICATION, Phase.INFUSING, Phase.PAUSED)


def _bag_expiry_near(inputs: AlarmInputs, policy: AlarmPolicy) -> Fields | None:
    state = inputs.state
    if state is None or state.phase not in _BAG_PHASES or state.bag_expires_at is None:
        return None
    left = state.bag_expires_at - inputs.now
    if left <= timedelta(0) or left > timedelta(minutes=policy.bag_expiry_warning_min):
        return None
    end = state.projected_end(inputs.now)
    late = (
        f"; the infusion would end at {inputs.at(end)}"
        if end is not None and end > state.bag_expires_at
        else ""
    )
    return {
        "at": inputs.at(state.bag_expires_at),
        "minutes": f"{left.total_seconds() / 60.0:.0f}",
        "late": late,
    }


def _bag_expired(inputs: AlarmInputs, _policy: AlarmPolicy) -> Fields | None:
    state = inputs.state
    if state is None or state.phase not in _BAG_PHASES or state.bag_expires_at is None or state.bag is None:
        return None
    if inputs.now < state.bag_expires_at:
        return None
    return {"at": inputs.at(state.bag_expires_at), "prepared": inputs.at(state.bag.prepared_at)}


PREMEDICATION_GUARDS = frozenset({"premedication_lead_time", "premedication_missing"})


def _started_before_premedication(inputs: AlarmInputs, _policy: AlarmPolicy) -> Fields | None:
    state = inputs.state
    if state is None or state.phase not in (Phase.INFUSING, Phase.PAUSED):
        return None
    started = next((e for e in state.events if e.type is EventType.INFUSION_STARTED), None)
    if started is None:
        return None
    overrides = [o for o in started.payload_as(InfusionStarted).overrides if o.guard in PREMEDICATION_GUARDS]
    if not overrides:
        return None
    ready = state.premedication_ready_at
    if ready is not None and inputs.now >= ready:
        return None  # the lead time has passed since; the alarm latches until acknowledged
    first = overrides[0]
    return {
        "at": inputs.at(started.at),
        "why": "; ".join(o.message or o.guard for o in overrides),
        "by": first.by or started.actor,
        "reason": first.reason,
    }


def _vitals_overdue(inputs: AlarmInputs, policy: AlarmPolicy) -> Fields | None:
    state = inputs.state
    if state is None:
        return None
    due = state.vitals_due
    if due is None or inputs.now - due[0] < timedelta(seconds=policy.vitals_overdue_grace_s):
        return None
    return {"due_at": inputs.at(due[0]), "why": due[1]}


_VITAL_PHASES = (Phase.SCREENING, Phase.PREMEDICATION, Phase.INFUSING, Phase.PAUSED, Phase.OBSERVATION)


def _vital_sign_out_of_range(priority: Priority) -> Condition:
    """The latest vital signs hold a value outside its alert band whose sign has this priority."""

    def condition(inputs: AlarmInputs, policy: AlarmPolicy) -> Fields | None:
        state = inputs.state
        if state is None or state.phase not in _VITAL_PHASES or not state.vitals:
            return None
        latest = state.vitals[-1]

        def sign_priority(sign: str) -> Priority:
            if sign in latest.extreme_signs:
                return Priority.HIGH
            return policy.vital_sign_priorities.get(sign, Priority.LOW)

        signs = [s for s in latest.alert_signs if sign_priority(s) is priority]
        if not signs:
            return None
        index = {sign: i for i, sign in enumerate(latest.alert_signs)}
        detail = "; ".join(latest.alerts[index[s]] if index[s] < len(latest.alerts) else s for s in signs)
        return {"detail": detail, "at": inputs.at(latest.at)}

    return condition


def _anaphylaxis(inputs: AlarmInputs, _policy: AlarmPolicy) -> Fields | None:
    """From an anaphylaxis until the patient leaves or its observation is over (and it is resolved)."""
    state = inputs.state
    if state is None or state.phase.is_closed:
        return None
    reactions = [r for r in state.reactions if r.anaphylaxis]
    if not reactions:
        return None
    until = state.anaphylaxis_observation_until
    if until is not None and inputs.now >= until and not state.unresolved_reactions:
        return None
    first = reactions[0]
    return {
        "at": inputs.at(first.onset_at),
        "grade": first.grade,
        "signs": ", ".join(first.signs) or "no signs recorded",
        "until": inputs.at(until) if until is not None else "the prescriber's release",
    }


def _pump_running_no_patient(inputs: AlarmInputs, _policy: AlarmPolicy) -> Fields | None:
    """A pump infusing at a chair with no session: a drug is running that nobody documents."""
    state = inputs.state
    reading = inputs.live_reading
    if state is not None and state.phase is not Phase.EMPTY and not state.phase.is_closed:
        return None
    if reading is None or reading.delivery is not PumpDelivery.INFUSING or reading.rate_ml_h <= 0:
        return None
    return {"rate": _rate(reading.rate_ml_h)}


def _storage_failing(inputs: AlarmInputs, _policy: AlarmPolicy) -> Fields | None:
    """Until a write succeeds again: a full disk or a read-only file loses what happens meanwhile. Only
    chairs with a session in progress raise it (an empty chair has nothing to lose; a check-in refused
    there says so itself), so one full disk is not an alarm on every idle chair."""
    state = inputs.state
    if not inputs.storage_problem or state is None or state.phase is Phase.EMPTY or state.phase.is_closed:
        return None
    return {"problem": inputs.storage_problem}


def _journal_lost_entries(inputs: AlarmInputs, _policy: AlarmPolicy) -> Fields | None:
    """The floor's broker holds a signed anchor the journal no longer has: what this chair recorded may
    be gone. Raised at every chair with a session in progress (whose record it is), for the rest of the
    run: nothing short of restoring the journal clears it."""
    state = inputs.state
    if not inputs.journal_loss or state is None or state.phase is Phase.EMPTY or state.phase.is_closed:
        return None
    return {"problem": inputs.journal_loss}


ALARM_RULES: tuple[AlarmRule, ...] = (
    AlarmRule(
        "anaphylaxis",
        AlarmCategory.CLINICAL,
        Priority.HIGH,
        latching=True,
        message="{chair}: anaphylaxis at {at} (grade {grade}: {signs}): infusion discontinued; "
        "observe until {until}",
        condition=_anaphylaxis,
        short="anaphylaxis",
        escalate_at_once=True,
    ),
    AlarmRule(
        "storage_failing",
        AlarmCategory.TECHNICAL,
        Priority.HIGH,
        latching=False,
        message="{chair}: entries are not being recorded: {problem}",
        condition=_storage_failing,
        short="not recording",
    ),
    AlarmRule(
        "journal_lost_entries",
        AlarmCategory.TECHNICAL,
        Priority.HIGH,
        latching=False,
        message="{chair}: the journal lost entries: {problem}",
        condition=_journal_lost_entries,
        short="entries lost",
    ),
    AlarmRule(
        "pump_running_no_patient",
        AlarmCategory.CLINICAL,
        Priority.MEDIUM,
        latching=False,
        message="{chair}: pump running ({rate} mL/h), no patient checked in",
        condition=_pump_running_no_patient,
        short="pump on",
    ),
    AlarmRule(
        "rate_above_plan_after_reaction",
        AlarmCategory.CLINICAL,
        Priority.HIGH,
        latching=False,
        message="{chair}: pump {pump} mL/h, plan {plan} mL/h after reaction at {reaction_at} (grade {grade})",
        condition=_rate_above_plan_after_reaction,
        short="rate high",
    ),
    AlarmRule(
        "rate_above_plan",
        AlarmCategory.CLINICAL,
        Priority.MEDIUM,
        latching=False,
        message="{chair}: pump {pump} mL/h, plan {plan} mL/h",
        condition=_rate_above_plan,
        short="rate high",
    ),
    AlarmRule(
        "step_up_overdue",
        AlarmCategory.CLINICAL,
        Priority.LOW,
        latching=False,
        message="{chair}: step up to {target} mL/h was due at {due_at} (pump {pump} mL/h)",
        condition=_step_up_overdue,
        short="step-up late",
    ),
    AlarmRule(
        "pump_occlusion",
        AlarmCategory.TECHNICAL,
        Priority.HIGH,
        latching=True,
        message="{chair}: pump occlusion at {at}: {detail}",
        condition=_pump_alarm("occlusion"),
        short="occlusion",
    ),
    AlarmRule(
        "pump_air_in_line",
        AlarmCategory.TECHNICAL,
        Priority.HIGH,
        latching=True,
        message="{chair}: air in line at {at}: {detail}",
        condition=_pump_alarm("air"),
        short="air in line",
    ),
    AlarmRule(
        "pump_fault",
        AlarmCategory.TECHNICAL,
        Priority.HIGH,
        latching=True,
        message="{chair}: pump fault at {at}: {detail}",
        condition=_pump_alarm("fault"),
        short="pump fault",
    ),
    AlarmRule(
        "pump_door_open",
        AlarmCategory.TECHNICAL,
        Priority.MEDIUM,
        latching=False,
        message="{chair}: pump door open: {detail}",
        condition=_pump_alarm("door"),
        short="door open",
    ),
    AlarmRule(
        "pump_battery_low",
        AlarmCategory.TECHNICAL,
        Priority.MEDIUM,
        latching=False,
        message="{chair}: pump battery low: {detail}",
        condition=_pump_alarm("battery"),
        short="battery low",
    ),
    AlarmRule(
        "pump_attention",
        AlarmCategory.TECHNICAL,
        Priority.MEDIUM,
        latching=False,
        message="{chair}: pump needs attention: {detail}",
        condition=_pump_alarm("call_back", "other"),
        short="pump alarm",
    ),
    AlarmRule(
        "link_lost_infusing",
        AlarmCategory.TECHNICAL,
        Priority.HIGH,
        latching=False,
        message="{chair}: infusing, but no data from the pump since {since}: check the pump and its cable",
        condition=_link_lost(infusing=True),
        short="link lost",
    ),
    AlarmRule(
        "link_lost",
        AlarmCategory.TECHNICAL,
        Priority.MEDIUM,
        latching=False,
        message="{chair}: no data from the pump since {since}: check the pump and its cable",
        condition=_link_lost(infusing=False),
        short="link lost",
    ),
    AlarmRule(
        "link_lost_idle",
        AlarmCategory.TECHNICAL,
        Priority.LOW,
        latching=False,
        message="{chair}: pump not connected since {since}",
        condition=_link_lost(infusing=None),
        short="no pump link",
    ),
    AlarmRule(
        "bag_expired",
        AlarmCategory.CLINICAL,
        Priority.HIGH,
        latching=False,
        message="{chair}: the bag expired at {at} (prepared {prepared}): stop and replace it",
        condition=_bag_expired,
        short="bag expired",
    ),
    AlarmRule(
        "bag_expiry_near",
        AlarmCategory.CLINICAL,
        Priority.MEDIUM,
        latching=False,
        message="{chair}: the bag expires at {at} (in {minutes} min){late}",
        condition=_bag_expiry_near,
        short="bag expires",
    ),
    AlarmRule(
        "started_before_premedication",
        AlarmCategory.CLINICAL,
        Priority.MEDIUM,
        latching=True,
        message="{chair}: infusion started at {at} before the premedication lead time ({why}); "
        "override by {by}: {reason}. Watch for a reaction",
        condition=_started_before_premedication,
        short="early start",
    ),
    AlarmRule(
        "vital_signs_high",
        AlarmCategory.CLINICAL,
        Priority.HIGH,
        latching=True,
        message="{chair}: vital signs at {at}: {detail}",
        condition=_vital_sign_out_of_range(Priority.HIGH),
        short="vital signs",
    ),
    AlarmRule(
        "vital_signs_medium",
        AlarmCategory.CLINICAL,
        Priority.MEDIUM,
        latching=True,
        message="{chair}: vital signs at {at}: {detail}",
        condition=_vital_sign_out_of_range(Priority.MEDIUM),
        short="vital signs",
    ),
    AlarmRule(
        "vital_signs_low",
        AlarmCategory.CLINICAL,
        Priority.LOW,
        latching=True,
        message="{chair}: vital signs at {at}: {detail}",
        condition=_vital_sign_out_of_range(Priority.LOW),
        short="vital signs",
    ),
    AlarmRule(
        "vitals_overdue",
        AlarmCategory.CLINICAL,
        Priority.LOW,
        latching=False,
        message="{chair}: vital signs were due at {due_at} ({why})",
        condition=_vitals_overdue,
        short="vitals overdue",
    ),
    AlarmRule(
        "infusion_complete",
        AlarmCategory.NOTIFICATION,
        Priority.LOW,
        latching=False,
        message="{chair}: {what}; observation until {until}",
        condition=_infusion_complete,
        short="infusion done",
    ),
    AlarmRule(
        "observation_complete",
        AlarmCategory.NOTIFICATION,
        Priority.LOW,
        latching=False,
        message="{chair}: observation complete at {at}: the patient may be discharged",
        condition=_observation_complete,
        short="observation done",
    ),
)

RULES_BY_ID: Mapping[str, AlarmRule] = {rule.id: rule for rule in ALARM_RULES}


def alarm_name(rule_id: str) -> str:
    """An alarm's name in a few words ("link lost"): its rule's, or the rule id in words for an alarm
    no rule here makes (the station's own, or a newer station's)."""
    rule = RULES_BY_ID.get(rule_id)
    return rule.short if rule is not None else rule_id.replace("_", " ")


def _escalates_at_once(rule_id: str) -> bool:
    rule = RULES_BY_ID.get(rule_id)
    return rule is not None and rule.escalate_at_once


def evaluate(
    inputs: AlarmInputs, policy: AlarmPolicy, rules: Sequence[AlarmRule] = ALARM_RULES
) -> list[AlarmCondition]:
    """Every rule's condition that holds for this chair now, with its message."""
    conditions = []
    for rule in rules:
        fields = rule.condition(inputs, policy)
        if fields is None:
            continue
        message = rule.message.format(chair=inputs.chair_label, **fields)
        conditions.append(AlarmCondition(rule.id, rule.priority, rule.category, rule.latching, message))
    return conditions


# --------------------------------------------------------------------------------------------------
# The board


@dataclass(frozen=True)
class Alarm:
    id: str  # unique within a chair: "<rule>#<n>"
    rule: str
    priority: Priority
    category: AlarmCategory
    message: str
    latching: bool
    raised_at: datetime
    condition_active: bool = True  # False: latched, waiting for acknowledgement
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    cleared_at: datetime | None = None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


class TransitionKind(StrEnum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


@dataclass(frozen=True)
class AlarmTransition:
    """An alarm raised, acknowledged or cleared: one line of the history, one journal entry."""

    kind: TransitionKind
    alarm: Alarm  # as it stands after the transition
    at: datetime
    by: str = ""  # who acknowledged; "" for the system

    def command(self) -> RecordAlarm:
        a = self.alarm
        return RecordAlarm(str(self.kind), a.id, a.rule, a.priority.value, a.message, self.at)


def _display_order(alarm: Alarm) -> tuple[int, bool, float]:
    return (-alarm.priority.rank, alarm.acknowledged, -alarm.raised_at.timestamp())


HISTORY_KEPT = 256
"""Transitions an AlarmBoard keeps in memory (a bounded window; the journal is the record)."""


class AlarmBoard:
    """One chair's alarms over time. Pure: every call takes `now`; nothing reads a clock.

    Non-latching alarms clear when their condition does. Latching ones stay (condition_active=False)
    until acknowledged. An acknowledged alarm whose condition still holds stays on the board, silent.
    """

    def __init__(self, policy: AlarmPolicy, restored: Iterable[AlarmRecord] = ()) -> None:
        """`restored`: the session's journaled alarms (ChairState.alarms.values()) after a restart."""
        self.policy = policy
        self.history: collections.deque[AlarmTransition] = collections.deque(maxlen=HISTORY_KEPT)
        """The latest transitions (the journal keeps them all; an idle chair's board lives for days)."""
        self._by_rule: dict[str, Alarm] = {}
        self._raised_count: dict[str, int] = {}
        self._paused_until: datetime | None = None
        self._pause_rank = 0
        for record in restored:
            self._raised_count[record.rule] = self._raised_count.get(record.rule, 0) + 1
            if record.cleared_at is not None:
                continue
            rule = RULES_BY_ID.get(record.rule)
            self._by_rule[record.rule] = Alarm(
                id=record.alarm_id,
                rule=record.rule,
                priority=Priority(record.priority),
                category=rule.category if rule is not None else AlarmCategory.TECHNICAL,
                message=record.message,
                latching=rule.latching if rule is not None else True,
                raised_at=record.raised_at,
                acknowledged_at=record.acknowledged_at,
                acknowledged_by=record.acknowledged_by,
            )

    # -- queries ---------------------------------------------------------------------------------

    def active(self) -> list[Alarm]:
        """Alarms on the board, most urgent first (unacknowledged before acknowledged, newest first)."""
        return sorted(self._by_rule.values(), key=_display_order)

    def highest(self) -> Alarm | None:
        alarms = self.active()
        return alarms[0] if alarms else None

    def get(self, alarm_id: str) -> Alarm | None:
        return next((a for a in self._by_rule.values() if a.id == alarm_id), None)

    def escalated(self, now: datetime) -> list[Alarm]:
        """Unacknowledged for longer than the policy allows: for the charge nurse's overview."""
        return [
            a
            for a in self.active()
            if a.category.is_alarm
            and not a.acknowledged
            and (
                _escalates_at_once(a.rule)
                or now - a.raised_at >= timedelta(seconds=self.policy.escalation_after_s[a.priority])
            )
        ]

    def audio_paused_remaining_s(self, now: datetime) -> float:
        if self._paused_until is None:
            return 0.0
        return max(0.0, (self._paused_until - now).total_seconds())

    def sounding(self, now: datetime) -> Priority | None:
        """The priority the audible signal should have now: None when silent or paused."""
        if self.audio_paused_remaining_s(now) > 0:
            return None
        unacknowledged = [
            a.priority for a in self._by_rule.values() if not a.acknowledged and a.category.is_alarm
        ]
        return max(unacknowledged, key=lambda p: p.rank, default=None)

    # -- changes ---------------------------------------------------------------------------------

    def update(self, conditions: Iterable[AlarmCondition], now: datetime) -> list[AlarmTransition]:
        holding = {c.rule: c for c in conditions}
        transitions: list[AlarmTransition] = []
        for rule, condition in holding.items():
            current = self._by_rule.get(rule)
            if current is not None:
                self._by_rule[rule] = replace(current, message=condition.message, condition_active=True)
                continue
            count = self._raised_count.get(rule, 0) + 1
            self._raised_count[rule] = count
            alarm = Alarm(
                id=f"{rule}#{count}",
                rule=rule,
                priority=condition.priority,
                category=condition.category,
                message=condition.message,
                latching=condition.latching,
                raised_at=now,
            )
            self._by_rule[rule] = alarm
            transitions.append(AlarmTransition(TransitionKind.RAISED, alarm, now))
            if self._paused_until is not None and alarm.priority.rank > self._pause_rank:
                self._paused_until = None  # a higher priority breaks through the pause
        for rule, current in list(self._by_rule.items()):
            if rule in holding:
                continue
            if current.latching and not current.acknowledged:
                self._by_rule[rule] = replace(current, condition_active=False)
                continue
            transitions.append(self._clear(current, now))
        self.history.extend(transitions)
        return transitions

    def acknowledge(self, alarm_id: str, by: str, now: datetime) -> list[AlarmTransition]:
        if not by.strip():
            raise ValueError("say who acknowledges the alarm")
        current = self.get(alarm_id)
        if current is None:
            raise KeyError(f"no active alarm {alarm_id!r}")
        if current.acknowledged:
            return []
        acknowledged = replace(current, acknowledged_at=now, acknowledged_by=by)
        self._by_rule[current.rule] = acknowledged
        transitions = [AlarmTransition(TransitionKind.ACKNOWLEDGED, acknowledged, now, by)]
        if not acknowledged.condition_active:
            transitions.append(self._clear(acknowledged, now))
        self.history.extend(transitions)
        return transitions

    def pause_audio(self, now: datetime) -> None:
        """Silence the audible signal for the policy's time; only a new, higher priority breaks in."""
        self._paused_until = now + timedelta(seconds=self.policy.audio_pause_s)
        self._pause_rank = max((a.priority.rank for a in self._by_rule.values()), default=0)

    def _clear(self, alarm: Alarm, now: datetime) -> AlarmTransition:
        del self._by_rule[alarm.rule]
        cleared = replace(alarm, cleared_at=now, condition_active=False)
        return AlarmTransition(TransitionKind.CLEARED, cleared, now)
