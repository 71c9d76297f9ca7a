"""The rate schedule of one infusion: what the pump should run at, minute by minute.

A plan is built from the protocol's rate ladder and what actually happened (pauses and reactions),
as a list of segments of constant rate. Times are minutes from the infusion start; volumes are mL.
The last rung of the ladder always runs until the bag is empty, so a bag larger than the protocol's
nominal volume is still delivered completely.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from app.domain.protocol import VOLUME_TOLERANCE_ML, InfusionProtocol, RateStep, ReactionAction, ReactionRule

_EPS = 1e-9


class SegmentKind(Enum):
    STEP = "step"  # a rung of the protocol's ladder
    REDUCED = "reduced"  # a reduced rate held after a reaction
    PAUSED = "paused"  # the nurse paused the pump
    STOPPED = "stopped"  # stopped for a severe reaction, waiting for symptoms to resolve


class PlanOutcome(Enum):
    COMPLETE = "complete"  # the bag is delivered
    STOPPED = "stopped"  # stopped with no known restart time (open-ended pause or unresolved reaction)
    DISCONTINUED = "discontinued"  # life-threatening reaction: permanently discontinued


@dataclass(frozen=True)
class Segment:
    start_min: float
    duration_min: float
    rate_ml_h: float
    kind: SegmentKind

    @property
    def end_min(self) -> float:
        return self.start_min + self.duration_min

    @property
    def volume_ml(self) -> float:
        return self.rate_ml_h * self.duration_min / 60.0


@dataclass(frozen=True)
class Pause:
    """The pump stopped for `duration_min` (None: not resumed yet)."""

    start_min: float
    duration_min: float | None


@dataclass(frozen=True)
class Reaction:
    """An infusion-related reaction. `resolved_after_min` is how long after onset the nurse recorded the
    symptoms resolved (None: not yet). A stop-then-restart grade restarts then; a reduced rate is held
    for the rule's hold time and, whatever that is, until resolution (the label: "if tolerated")."""

    onset_min: float
    grade: int
    resolved_after_min: float | None = None
    onset_rate_ml_h: float | None = None  # the rate the pump really ran at onset, when known


Interruption = Pause | Reaction


def _time_of(event: Interruption) -> float:
    return event.start_min if isinstance(event, Pause) else event.onset_min


def _numbers_of(event: Interruption) -> list[float]:
    if isinstance(event, Pause):
        numbers = [event.start_min, event.duration_min]
    else:
        numbers = [event.onset_min, event.resolved_after_min, event.onset_rate_ml_h]
    return [n for n in numbers if n is not None]


@dataclass(frozen=True)
class Plan:
    segments: tuple[Segment, ...]
    bag_volume_ml: float
    outcome: PlanOutcome
    concentration_mg_ml: float = 0.0  # the bag's drug concentration: mg/h = mL/h x mg/mL

    def rate_mg_h(self, rate_ml_h: float) -> float:
        return rate_ml_h * self.concentration_mg_ml

    @property
    def end_min(self) -> float | None:
        """When the infusion ends (bag empty or discontinued); None while stopped with no restart time."""
        if self.outcome is PlanOutcome.STOPPED:
            return None
        return self.segments[-1].end_min if self.segments else 0.0

    @property
    def total_volume_ml(self) -> float:
        return sum(s.volume_ml for s in self.segments)

    @property
    def max_rate_ml_h(self) -> float:
        return max((s.rate_ml_h for s in self.segments), default=0.0)

    def segment_at(self, minute: float) -> Segment | None:
        for segment in self.segments:
            if segment.start_min - _EPS <= minute < segment.end_min - _EPS:
                return segment
        return None

    def rate_at(self, minute: float) -> float:
        segment = self.segment_at(minute)
        return segment.rate_ml_h if segment is not None else 0.0

    def volume_at(self, minute: float) -> float:
        total = 0.0
        for segment in self.segments:
            if minute <= segment.start_min:
                break
            total += segment.rate_ml_h * (min(minute, segment.end_min) - segment.start_min) / 60.0
        return total

    def next_change_after(self, minute: float) -> tuple[float, float] | None:
        """The next moment the planned rate changes, with the new rate; None if it never does."""
        current = self.rate_at(minute)
        for segment in self.segments:
            if segment.start_min > minute + _EPS and abs(segment.rate_ml_h - current) > _EPS:
                return segment.start_min, segment.rate_ml_h
        end = self.end_min
        if end is not None and end > minute + _EPS and current > 0:
            return end, 0.0
        return None


@dataclass
class _Ladder:
    steps: Sequence[RateStep]
    index: int = 0
    left_min: float = 0.0

    def enter(self, index: int) -> None:
        self.index = index
        duration = self.steps[index].duration_min
        self.left_min = math.inf if index == len(self.steps) - 1 or duration is None else duration

    def rung_above(self, rate_ml_h: float) -> int:
        """The lowest rung faster than `rate_ml_h`: where escalation resumes after a reduced rate."""
        for index, step in enumerate(self.steps):
            if step.rate_ml_h > rate_ml_h + _EPS:
                return index
        return len(self.steps) - 1


@dataclass
class _Reduced:
    rate_ml_h: float
    left_min: float


class _Planner:
    def __init__(
        self,
        steps: Sequence[RateStep],
        rules: Sequence[ReactionRule],
        bag_volume_ml: float,
        concentration_mg_ml: float = 0.0,
    ) -> None:
        self.rules = rules
        self.concentration = concentration_mg_ml
        self.bag = bag_volume_ml
        self.ladder = _Ladder(steps)
        self.ladder.enter(0)
        self.reduced: _Reduced | None = None
        self.t = 0.0
        self.volume = 0.0
        self.stopped_until: float | None = None  # set while paused or stopped; math.inf when open-ended
        self.stop_kind = SegmentKind.PAUSED
        self.restart_at: _Reduced | None = None  # what runs when a reaction stop ends
        self.last_running_rate = steps[0].rate_ml_h
        self.segments: list[Segment] = []
        self.outcome = PlanOutcome.COMPLETE

    def rule(self, grade: int) -> ReactionRule:
        for rule in self.rules:
            if grade in rule.grades:
                return rule
        raise ValueError(f"no reaction rule for grade {grade}")

    def running_rate(self) -> float:
        return (
            self.reduced.rate_ml_h
            if self.reduced is not None
            else self.ladder.steps[self.ladder.index].rate_ml_h
        )

    def emit(self, duration: float, rate: float, kind: SegmentKind) -> None:
        if duration <= _EPS:
            return
        last = self.segments[-1] if self.segments else None
        if last is not None and last.kind is kind and abs(last.rate_ml_h - rate) < _EPS:
            self.segments[-1] = Segment(last.start_min, last.duration_min + duration, rate, kind)
        else:
            self.segments.append(Segment(self.t, duration, rate, kind))
        self.t += duration

    def stop(self, until: float, kind: SegmentKind) -> None:
        if self.stopped_until is None:
            self.stopped_until = until
            self.stop_kind = kind
        else:
            self.stopped_until = max(self.stopped_until, until)
            if kind is SegmentKind.STOPPED:
                self.stop_kind = kind

    def apply(self, event: Interruption) -> bool:
        """Apply one interruption at the current time. Returns False when the infusion is over."""
        if isinstance(event, Pause):
            until = math.inf if event.duration_min is None else event.start_min + event.duration_min
            self.stop(until, SegmentKind.PAUSED)
            return True
        rule = self.rule(event.grade)
        if event.onset_rate_ml_h is not None and event.onset_rate_ml_h > 0:
            onset_rate = event.onset_rate_ml_h
        elif self.stopped_until is None:
            onset_rate = self.running_rate()
        else:
            onset_rate = self.last_running_rate
        if rule.action is ReactionAction.DISCONTINUE:
            self.outcome = PlanOutcome.DISCONTINUED
            return False
        reduced = _Reduced(rule.apply(onset_rate, reaction_ceiling_ml_h(self.ladder.steps)), rule.hold_min)
        if rule.action is ReactionAction.HALVE_RATE:
            # Held at least `hold_min` and until the symptoms resolved: no rise before either.
            resolved = math.inf if event.resolved_after_min is None else event.resolved_after_min
            reduced.left_min = max(rule.hold_min, resolved)
            held = self.reduced if self.stopped_until is None else self.restart_at
            if held is not None:  # an earlier reaction's hold still runs: all symptoms must resolve
                reduced.left_min = max(reduced.left_min, held.left_min)
            if self.stopped_until is None:
                self.reduced = reduced
            else:
                self.restart_at = reduced
            return True
        resolved = (
            math.inf if event.resolved_after_min is None else event.onset_min + event.resolved_after_min
        )
        self.stop(resolved, SegmentKind.STOPPED)
        self.restart_at = reduced
        return True

    def leave_reduced(self) -> None:
        assert self.reduced is not None
        self.ladder.enter(self.ladder.rung_above(self.reduced.rate_ml_h))
        self.reduced = None

    def run(self, interruptions: Iterable[Interruption]) -> Plan:
        pending = sorted(interruptions, key=_time_of)
        for event in pending:
            if not all(math.isfinite(n) for n in _numbers_of(event)):
                raise ValueError(f"an interruption time or rate is not a finite number: {event}")
            if _time_of(event) < 0:
                raise ValueError(f"interruption before the infusion started: {event}")
        position = 0
        while self.bag - self.volume > VOLUME_TOLERANCE_ML:
            while position < len(pending) and _time_of(pending[position]) <= self.t + _EPS:
                if not self.apply(pending[position]):
                    return self.plan()
                position += 1
            next_event = _time_of(pending[position]) if position < len(pending) else math.inf
            if self.stopped_until is not None:
                end = min(self.stopped_until, next_event)
                if math.isinf(end):
                    self.outcome = PlanOutcome.STOPPED
                    return self.plan()
                self.emit(end - self.t, 0.0, self.stop_kind)
                self.t = float(end)
                if self.stopped_until <= self.t + _EPS:
                    self.stopped_until = None
                    if self.restart_at is not None:
                        self.reduced, self.restart_at = self.restart_at, None
                continue
            self.step_running(next_event)
        self.volume = self.bag
        return self.plan()

    def step_running(self, next_event: float) -> None:
        rate = self.running_rate()
        left = self.reduced.left_min if self.reduced is not None else self.ladder.left_min
        if rate <= _EPS:
            raise ValueError("a rate of zero can never deliver the bag")
        to_empty = (self.bag - self.volume) / rate * 60.0
        duration = min(left, to_empty, next_event - self.t)
        self.last_running_rate = rate
        kind = SegmentKind.REDUCED if self.reduced is not None else SegmentKind.STEP
        self.emit(duration, rate, kind)
        self.volume = self.bag if duration >= to_empty - _EPS else self.volume + rate * duration / 60.0
        if self.reduced is not None:
            self.reduced.left_min -= duration
            if self.reduced.left_min <= _EPS:
                self.leave_reduced()
        else:
            self.ladder.left_min -= duration
            if self.ladder.left_min <= _EPS:
                self.ladder.enter(self.ladder.index + 1)

    def plan(self) -> Plan:
        return Plan(tuple(self.segments), self.bag, self.outcome, self.concentration)


def reaction_ceiling_ml_h(steps: Sequence[RateStep]) -> float:
    """The highest rate a reduced or restart rate may take: the ladder's top rung."""
    return max(step.rate_ml_h for step in steps)


def session_steps(
    protocol: InfusionProtocol, bag_volume_ml: float | None = None, dose_mg: float | None = None
) -> tuple[RateStep, ...]:
    """The session's ladder in mL/h (mg/h protocols: through the bag's concentration)."""
    return protocol.steps_at(protocol.session_concentration(bag_volume_ml, dose_mg))


def reaction_rate_ml_h(
    protocol: InfusionProtocol,
    grade: int,
    rate_at_onset_ml_h: float,
    bag_volume_ml: float | None = None,
    dose_mg: float | None = None,
) -> float:
    """What the grade's rule sets (halve) or restarts at (stop) after a reaction at this rate."""
    ceiling = reaction_ceiling_ml_h(session_steps(protocol, bag_volume_ml, dose_mg))
    return protocol.rule_for_grade(grade).apply(rate_at_onset_ml_h, ceiling)


def earliest_discharge_min(
    end_min: float | None, resolved_min: Iterable[float | None], observation_min: float
) -> float | None:
    """The observation time after the later of the infusion's end and the last reaction's resolution
    (minutes from the infusion start). None while the end is unknown or a reaction is unresolved.

    The one home of this rule: the chair state, the status text and `chairside plan` use it."""
    if end_min is None:
        return None
    latest = end_min
    for resolved in resolved_min:
        if resolved is None:
            return None
        latest = max(latest, resolved)
    return latest + observation_min


def plan_earliest_discharge_min(
    plan: Plan, reactions: Iterable[Reaction], observation_min: float
) -> float | None:
    """`earliest_discharge_min` for a plan and the reactions it was planned around."""
    return earliest_discharge_min(
        plan.end_min,
        [None if r.resolved_after_min is None else r.onset_min + r.resolved_after_min for r in reactions],
        observation_min,
    )


def plan_infusion(
    protocol: InfusionProtocol,
    interruptions: Iterable[Interruption] = (),
    bag_volume_ml: float | None = None,
    dose_mg: float | None = None,
) -> Plan:
    """The schedule for `protocol`, re-planned around what happened. Pure: same inputs, same plan.

    `dose_mg` and `bag_volume_ml` are the session's (default: the protocol's); an mg/h-dosed protocol
    runs its ladder at the bag's concentration."""
    volume = protocol.bag_volume_ml if bag_volume_ml is None else bag_volume_ml
    if not (math.isfinite(volume) and volume > 0):
        raise ValueError(f"bag volume must be a positive number, got {volume}")
    concentration = protocol.session_concentration(volume, dose_mg)
    steps = protocol.steps_at(concentration)
    return _Planner(steps, protocol.reaction_rules, volume, concentration).run(interruptions)
