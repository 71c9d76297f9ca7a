"""What a chair's state means to a nurse at arm's length: words, symbols, colours, what is due next.

Pure functions of a `ChairState` and an explicit `now` (no Qt widgets), shared by the overview and the
chair view so both say the same thing the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import Enum

from app.domain.alarms import AlarmPolicy
from app.domain.chair import ChairState
from app.domain.clock_face import ClockFace, duration_text
from app.domain.decide import discharge_failures, start_failures
from app.domain.delivery import StopReason
from app.domain.describe import rate_text as rate_text
from app.domain.phase import Phase
from app.domain.protocol import ReactionAction
from app.domain.timeline import SessionTimeline


@dataclass(frozen=True)
class PhaseStyle:
    word: str
    symbol: str
    colour: str  # background
    text_colour: str


# Colour never alone: every phase has its word and its own symbol too.
PHASE_STYLES: dict[Phase, PhaseStyle] = {
    Phase.EMPTY: PhaseStyle("Empty", "○", "#e6e8eb", "#3c4148"),
    Phase.SCREENING: PhaseStyle("Screening", "☐", "#dbe9f7", "#0b3a66"),
    Phase.PREMEDICATION: PhaseStyle("Premeds", "℞", "#e7defa", "#3d1f73"),
    Phase.INFUSING: PhaseStyle("Infusing", "▶", "#d7f0dc", "#0d4d1f"),
    Phase.PAUSED: PhaseStyle("Paused", "❚❚", "#ffe7c2", "#6b3b00"),
    Phase.OBSERVATION: PhaseStyle("Observation", "◉", "#d4eef0", "#0a4a52"),
    Phase.DISCHARGED: PhaseStyle("Discharged", "✓", "#e6e8eb", "#3c4148"),
    Phase.DISCONTINUED: PhaseStyle("Stopped for good", "■", "#f4d4d4", "#6e0f0f"),
}

# After anaphylaxis the chair is not a calm "Observation": red, with its own word and symbol.
ANAPHYLAXIS_STYLE = PhaseStyle("Anaphylaxis: observe", "⚠", "#d0021b", "#ffffff")


def session_style(phase: Phase, anaphylaxis: bool, stopped_for_good: bool = False) -> PhaseStyle:
    """The one choice of a chair's colour, word and symbol (chair view, tiles, overview): red after
    anaphylaxis; a patient observed after a discontinuation is "Stopped for good", not the calm
    observation colour (the session timeline says it was stopped for good)."""
    if anaphylaxis and not phase.is_closed:
        return ANAPHYLAXIS_STYLE
    if stopped_for_good and phase is Phase.OBSERVATION:
        return PHASE_STYLES[Phase.DISCONTINUED]
    return PHASE_STYLES[phase]


def phase_style(state: ChairState | None) -> PhaseStyle:
    """`session_style` of a chair's session (its state and timeline)."""
    if state is None:
        return PHASE_STYLES[Phase.EMPTY]
    anaphylaxis = state.anaphylaxis_observation_until is not None
    return session_style(state.phase, anaphylaxis, SessionTimeline.of(state).stopped_for_good)


class Priority(Enum):
    """IEC 60601-1-8 priorities, with the standard's marker and the colour the bar flashes."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def marker(self) -> str:
        return {Priority.LOW: "!", Priority.MEDIUM: "!!", Priority.HIGH: "!!!"}[self]

    @property
    def colour(self) -> str:
        return {Priority.LOW: "#00b7c7", Priority.MEDIUM: "#f5c400", Priority.HIGH: "#d0021b"}[self]

    @property
    def text_colour(self) -> str:
        return "#ffffff" if self is Priority.HIGH else "#111111"

    @classmethod
    def parse(cls, value: object) -> Priority | None:
        text = str(getattr(value, "name", value)).strip().upper()
        return cls.__members__.get(text)


def mg_h_text(rate_mg_h: float) -> str:
    return f"{rate_mg_h:.0f} mg/h" if abs(rate_mg_h - round(rate_mg_h)) < 0.05 else f"{rate_mg_h:.1f} mg/h"


def dose_rate_text(state: ChairState | None, rate: float | None) -> str:
    """A pump rate as the nurse sets it (mL/h), with the dose rate for a protocol dosed in mg/h
    (rituximab): "25 mL/h (50 mg/h)". The mg/h comes from this session's bag concentration."""
    text = rate_text(rate)
    if rate is None or state is None or state.protocol is None or not state.protocol.dosed_in_mg_h:
        return text
    return f"{text} ({mg_h_text(rate * state.concentration_mg_ml)})"


class ActionKind(Enum):
    CHECK_IN = "check_in"
    SCREENING = "screening"
    PREMEDICATION = "premedication"
    START = "start"
    SET_RATE = "set_rate"
    STOP_PUMP = "stop_pump"
    WAIT = "wait"
    RESUME = "resume"
    DISCHARGE = "discharge"
    VITALS = "vitals"


@dataclass(frozen=True)
class NextAction:
    kind: ActionKind
    text: str
    urgent: bool = False  # the pump must change now (colour + "⚠" in the text)
    rate_ml_h: float | None = None


def reaction_instruction(
    state: ChairState, pump_rate: float | None, zone: tzinfo | None, *, policy: AlarmPolicy
) -> NextAction | None:
    """What the last reaction asks the nurse to do to the pump, until the pump shows it done (`policy`:
    the station's, so the banner says "set pump" exactly when the alarm would)."""
    if not state.reactions:
        return None
    timeline = SessionTimeline.of(state)
    pump_stopped = pump_rate is not None and pump_rate <= 0  # a linked pump says it is not delivering
    pump_rate = pump_rate if pump_rate is not None else state.pump_rate_ml_h
    if (
        timeline.infusion_end is StopReason.REACTION_DISCONTINUED
        and state.phase in (Phase.DISCONTINUED, Phase.OBSERVATION)
        and not (state.phase is Phase.OBSERVATION and pump_stopped)
    ):
        stopping = next(
            h.reaction for h in timeline.reactions if h.reaction.action is ReactionAction.DISCONTINUE
        )
        return NextAction(
            ActionKind.STOP_PUMP,
            f"⚠ STOP THE PUMP: grade {stopping.grade} reaction at {ClockFace.of(zone).hhmm(stopping.onset_at)}, "
            "permanently discontinued",
            urgent=True,
            rate_ml_h=0.0,
        )
    reaction = state.reactions[-1]
    at = ClockFace.of(zone).hhmm(reaction.onset_at)
    if reaction.action is ReactionAction.STOP_THEN_RESTART and reaction.resolved_at is None:
        return NextAction(
            ActionKind.STOP_PUMP,
            f"⚠ PUMP STOPPED (grade {reaction.grade} at {at}). Restart at "
            f"{dose_rate_text(state, reaction.restart_rate_ml_h)} only when all symptoms resolved",
            urgent=True,
            rate_ml_h=0.0,
        )
    if (
        reaction.action is ReactionAction.HALVE_RATE
        and state.phase is Phase.INFUSING
        and pump_rate is not None
        and policy.above_plan(pump_rate, reaction.new_rate_ml_h)
        and not _rate_changed_since(state, reaction.seq)
    ):
        return NextAction(
            ActionKind.SET_RATE,
            f"⚠ SET PUMP TO {dose_rate_text(state, reaction.new_rate_ml_h)} now "
            f"(grade {reaction.grade} reaction at {at})",
            urgent=True,
            rate_ml_h=reaction.new_rate_ml_h,
        )
    return None


def _rate_changed_since(state: ChairState, seq: int) -> bool:
    return any(e.seq > seq and e.type.value == "rate_changed" for e in state.events)


def next_action(
    state: ChairState | None,
    now: datetime,
    pump_rate: float | None = None,
    zone: tzinfo | None = None,
    *,
    policy: AlarmPolicy,
) -> NextAction:
    """The one thing due at this chair, said the way the big button says it."""
    if state is None or state.phase in (Phase.EMPTY, Phase.DISCHARGED):
        return NextAction(ActionKind.CHECK_IN, "Check in a patient")
    instruction = reaction_instruction(state, pump_rate, zone, policy=policy)
    if instruction is not None and state.phase is not Phase.PAUSED:
        return instruction  # in observation too: a pump still running after a discontinuation
    phase = state.phase
    protocol = state.require_protocol()
    if phase is Phase.SCREENING:
        return NextAction(ActionKind.SCREENING, "Record screening and baseline vitals")
    if phase is Phase.PREMEDICATION:
        required = [p for p in protocol.premedications if p.required]
        missing = [p for p in required if state.premedication_given(p.drug) is None]
        first_rate = state.steps[0].rate_ml_h  # this session's ladder (mg/h protocols: its concentration)
        if pump_rate is not None and pump_rate > 0:  # started at the pump: the start dialog's guard decides
            return NextAction(
                ActionKind.START,
                f"⚠ The pump is running at {rate_text(pump_rate)}: confirm the infusion start",
                urgent=True,
                rate_ml_h=pump_rate,
            )
        if missing:
            return NextAction(
                ActionKind.PREMEDICATION,
                f"Give premeds ({len(required) - len(missing)} of {len(required)} given)",
            )
        # The banner never suggests a start the guard would refuse (issue 10, point 10)
        failures = start_failures(state, now)
        refused = [f for f in failures if f.code == "premedication_too_early"]
        if refused:  # the window closed: the guard would refuse a start now
            return NextAction(ActionKind.PREMEDICATION, f"Repeat premeds: {refused[0].message}")
        first_text = dose_rate_text(state, first_rate)
        if any(f.code == "baseline_vitals_missing" for f in failures):
            # Vitals first; the start dialog (with its override) stays one click away
            return NextAction(
                ActionKind.START, f"Baseline vitals first (Vitals…), then start at {first_text}"
            )
        bag = [f for f in failures if f.code.startswith("bag_")]
        if bag:  # a new bag, or a start past the guard with a reason (the start dialog offers it)
            return NextAction(ActionKind.START, f"⚠ Bag: {bag[0].message}", urgent=True)
        ready = state.premedication_ready_at
        if ready is not None and ready > now:
            return NextAction(
                ActionKind.START,
                f"Start infusion at {first_text} from {ClockFace.of(zone).at(ready, now)}",
                rate_ml_h=first_rate,
            )
        return NextAction(ActionKind.START, f"Start infusion at {first_text} now", rate_ml_h=first_rate)
    if phase is Phase.INFUSING:
        planned = state.planned_rate_ml_h(now)
        running = pump_rate if pump_rate is not None else state.pump_rate_ml_h
        if running is not None and planned > 0 and policy.off_plan(running, planned):
            urgent = running > planned
            sign = "⚠ " if urgent else ""
            return NextAction(
                ActionKind.SET_RATE,
                f"{sign}Set pump to {dose_rate_text(state, planned)} now (pump at {rate_text(running)})",
                urgent=urgent,
                rate_ml_h=planned,
            )
        holding = [r for r in state.reactions if r.holds_until_resolved]
        if holding:  # no step-up before the nurse records the symptoms resolved
            return NextAction(
                ActionKind.WAIT,
                f"Hold {dose_rate_text(state, planned)}: record when symptoms resolve "
                f"(grade {holding[-1].grade})",
                rate_ml_h=planned,
            )
        change = state.next_rate_change(now)
        if change is not None and change[1] > 0:
            when, rate = change
            verb = "Step up" if rate > planned else "Step down"
            return NextAction(
                ActionKind.WAIT,
                f"{verb} to {dose_rate_text(state, rate)} at {ClockFace.of(zone).at(when, now)}",
                rate_ml_h=rate,
            )
        end = state.projected_end(now)
        return NextAction(ActionKind.WAIT, f"Infusion ends about {ClockFace.of(zone).at(end, now)}")
    if phase is Phase.PAUSED:
        if instruction is not None:
            return NextAction(ActionKind.RESUME, instruction.text, urgent=True, rate_ml_h=None)
        return NextAction(ActionKind.RESUME, "Resume infusion")
    watched = phase is Phase.DISCONTINUED and state.infusion_ended_at is not None and instruction is None
    if phase is Phase.OBSERVATION or watched:  # stopped for good during the infusion: watched the same way
        open_ = state.unresolved_reactions
        if open_:
            return NextAction(
                ActionKind.WAIT,
                f"Record when symptoms resolve (grade {open_[-1].grade}); observation "
                f"{protocol.observation_min:g} min after",
            )
        ends = state.observation_ends_at
        if ends is not None and ends > now:
            return NextAction(ActionKind.WAIT, f"Observation ends {ClockFace.of(zone).at(ends, now)}")
        if any(f.code == "vitals_missing_after_infusion" for f in discharge_failures(state, now)):
            return NextAction(ActionKind.VITALS, "Take vital signs before discharge")
        return NextAction(
            ActionKind.DISCHARGE, "Discharge" if phase is Phase.OBSERVATION else "Discharge (stopped)"
        )
    if phase is Phase.DISCONTINUED:
        if instruction is not None:
            return NextAction(ActionKind.DISCHARGE, instruction.text, urgent=True)
        return NextAction(ActionKind.DISCHARGE, "Discharge (not given)")
    return NextAction(ActionKind.WAIT, phase.label)


@dataclass(frozen=True)
class Countdown:
    label: str
    target: datetime

    def remaining(self, now: datetime) -> timedelta:
        return self.target - now

    def text(self, now: datetime, zone: tzinfo | None = None) -> str:
        return f"{ClockFace.of(zone).at(self.target, now)} ({duration_text(self.remaining(now))})"


def countdowns(state: ChairState | None, now: datetime) -> list[Countdown]:
    """The clocks the nurse watches at this chair, soonest first."""
    if state is None or state.protocol is None:
        return []
    result: list[Countdown] = []
    phase = state.phase
    if phase is Phase.PREMEDICATION:
        ready = state.premedication_ready_at
        if ready is not None:
            result.append(Countdown("Premed lead time over", ready))
        # Each premed's window: start before it closes, or that premed must be repeated. Premeds
        # whose windows close together share a line.
        closing: dict[datetime, list[str]] = {}
        for drug, _opens, closes in state.premedication_windows():
            if closes > now:
                closing.setdefault(closes, []).append(drug.split(" (")[0])
        for closes in sorted(closing):
            result.append(Countdown(f"{', '.join(closing[closes]).capitalize()} window closes", closes))
    change = state.next_rate_change(now)
    if change is not None and change[1] > 0:
        result.append(Countdown(f"Next step {dose_rate_text(state, change[1])}", change[0]))
    if phase in (Phase.INFUSING, Phase.PAUSED):
        end = state.projected_end(now)
        if end is not None:
            result.append(Countdown("Infusion end", end))
    ends = state.observation_ends_at
    if phase is Phase.OBSERVATION and ends is not None:
        result.append(Countdown("Observation end", ends))
    due = vitals_countdown(state, now)
    if due is not None:
        result.append(due)
    expires = state.bag_expires_at
    if expires is not None and phase in (Phase.SCREENING, Phase.PREMEDICATION, Phase.INFUSING, Phase.PAUSED):
        result.append(Countdown("Bag expires", expires))
    return result


def vitals_countdown(state: ChairState | None, now: datetime) -> Countdown | None:
    """When the protocol's schedule wants vital signs next; past due it says OVERDUE."""
    due = state.vitals_due if state is not None else None
    if due is None:
        return None
    at, why = due
    return Countdown(f"⚠ Vitals OVERDUE ({why})" if at < now else f"Vitals due ({why})", at)


def vitals_text(state: ChairState | None, now: datetime) -> str:
    """The tile's line for vital signs: "Vitals in 12 min", "⚠ Vitals overdue 7 min"."""
    countdown = vitals_countdown(state, now)
    if countdown is None:
        return ""
    left = countdown.target - now
    if abs(left.total_seconds()) < 60:
        return "Vitals due now"
    if left.total_seconds() < 0:
        return f"⚠ Vitals overdue {duration_text(left).removesuffix(' ago')}"
    return f"Vitals {duration_text(left)}"


def next_deadline(state: ChairState | None, now: datetime) -> Countdown | None:
    """The one countdown the overview shows: next step, infusion end, or observation end."""
    for countdown in countdowns(state, now):
        label = countdown.label
        if label != "Bag expires" and "Vitals" not in label and not label.endswith("window closes"):
            return countdown
    return None


def progress(state: ChairState | None, now: datetime, volume_ml: float | None = None) -> float | None:
    """0..1 through the infusion by volume (pump's if known, plan's otherwise); observation by time."""
    if state is None or state.protocol is None:
        return None
    if state.phase is Phase.OBSERVATION and state.completed_at is not None:
        ends = state.observation_ends_at
        if ends is None or ends <= state.completed_at:
            return 1.0
        return _clamp((now - state.completed_at) / (ends - state.completed_at))
    if state.phase in (Phase.INFUSING, Phase.PAUSED) and state.bag is not None:
        if volume_ml is None:
            plan = state.plan(resume_open_at=now)
            volume_ml = plan.volume_at(state.minutes_from_start(now))
        return _clamp(volume_ml / state.bag.volume_ml)
    return 0.0 if state.phase in (Phase.SCREENING, Phase.PREMEDICATION) else None


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


@dataclass(frozen=True)
class LinkText:
    """A chair's pump link as the nurse reads it: long on the chair view, short on the overview tile."""

    long: str
    short: str
    problem: bool  # the station cannot read the pump it should read


def link_text(
    configured: bool, status: str | None, lost_since: datetime | None, zone: tzinfo | None = None
) -> LinkText:
    """`status` is the driver's link status value ("connecting", "negotiating", "connected", "lost");
    `lost_since` when the link was lost (or the first connection attempt began)."""
    if not configured:
        return LinkText("○ no pump configured: rates are the nurse's entries", "○ no pump", False)
    if status == "connected":
        return LinkText("● pump connected", "● pump", False)
    if status == "lost":
        since = ClockFace.of(zone).hhmm(lost_since)
        return LinkText(f"✕ PUMP LINK LOST since {since}", f"✕ link lost {since}", True)
    return LinkText("… connecting to the pump", "… connecting", True)
