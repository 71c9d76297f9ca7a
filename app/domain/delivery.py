"""What the pump delivered, as delivery segments: the one rule for when delivery starts and stops, and why.

An infusion is a series of segments (IHE PCD IPEC's word), each begun by a start (the first start, a
resume, or the new rate of a change while running) and ended by a stop with its reason: a rate change
(the pump goes on at the new rate), a pause by the nurse, a pump alarm, a stop for a reaction, a
discontinuation (for a reaction, or by the clinician) or the bag complete. A completion or
discontinuation while already stopped ends the infusion without a segment to end.

`step` folds one journal event into the delivery so far; the session timeline (app.domain.timeline),
the chair's recorded pump rate and the HL7 builder all use it, so none of them decides this again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from app.domain import payloads
from app.domain.events import Event, EventType
from app.domain.protocol import ReactionAction

PUMP_ALARM_REASON = "pump alarm"
"""A pump-documented pause whose reason starts with this was an alarm on the pump (app.station.pump)."""

SAME_RATE_ML_H = 1e-9
"""Two documented rates closer than this are one segment: every documented change is a new segment
(the station documents a change only when it is larger than the policy's same-rate tolerance)."""


class StopReason(Enum):
    """Why a delivery segment ended, in the clinic's words."""

    RATE_CHANGE = "rate changed"  # delivery goes on at the new rate
    PAUSED = "paused by the nurse"
    PUMP_ALARM = "stopped by a pump alarm"
    PUMP_STOPPED = "stopped at the pump"
    REACTION = "stopped for a reaction"  # severe: restart at a lower rate once resolved
    REACTION_DISCONTINUED = "discontinued for a reaction"  # life-threatening: stopped for good
    DISCONTINUED = "discontinued"  # by the clinician
    COMPLETE = "infusion complete"

    @property
    def ends_infusion(self) -> bool:
        return self in (StopReason.REACTION_DISCONTINUED, StopReason.DISCONTINUED, StopReason.COMPLETE)

    @property
    def goes_on(self) -> bool:
        """Delivery continues right after (a transition, not a stop)."""
        return self is StopReason.RATE_CHANGE


class ChangeKind(Enum):
    START = "start"
    STOP = "stop"
    COMPLETE = "complete"


@dataclass(frozen=True)
class DeliveryChange:
    """One delivery event: a segment starts, stops or completes (with the journal entry that says so)."""

    seq: int
    at: datetime
    kind: ChangeKind
    rate_ml_h: float  # start: the new rate; stop/complete: the rate of the segment that ended
    reason: StopReason | None = None  # stop/complete
    detail: str = ""  # the entry's own words (the pause reason, the discontinuation reason)
    resumed: bool = False  # a start after a stop (not the first start, not a rate change)
    volume_ml: float | None = None  # the volume the entry recorded (a completion's)


def change_words(
    changes: Sequence[DeliveryChange],
    occurred_at: datetime | None = None,
    hhmm: Callable[[datetime], str] | None = None,
) -> str:
    """What an entry did to the delivery, in the words every reader prints ("" when nothing):
    "delivery stopped: paused by the nurse", "delivery restarted at 20 mL/h", "delivery 40 -> 80 mL/h".
    A change dated later than its entry (`occurred_at`, a back-dated reaction) says when, with `hhmm`."""
    words: list[str] = []
    for change in changes:
        rate = f"{change.rate_ml_h:g} mL/h"
        if change.kind is ChangeKind.START:
            if words and words[-1].startswith("delivery ") and words[-1].endswith(" ->"):
                words[-1] = f"{words[-1]} {rate}"
                continue
            text = f"delivery {'restarted' if change.resumed else 'started'} at {rate}"
        elif change.reason is StopReason.RATE_CHANGE:
            text = f"delivery {rate} ->"
        elif change.kind is ChangeKind.COMPLETE:
            text = "delivery complete"
        elif change.reason is not None:
            text = f"delivery stopped: {change.reason.value}"
        else:
            continue
        if occurred_at is not None and hhmm is not None and change.at != occurred_at:
            text = f"{text} (at {hhmm(change.at)})" if not text.endswith(" ->") else text
        words.append(text)
    return "; ".join(words)


@dataclass(frozen=True)
class Delivery:
    """The delivery so far: running or not, at what rate, held (paused, stopped for a reaction: only a
    resume restarts it), ended for good or not."""

    running: bool = False
    rate_ml_h: float = 0.0  # the running rate, or the rate a restart starts at
    started: bool = False
    ended: StopReason | None = None
    held: bool = False  # paused or stopped for a reaction (a rate set to 0 is stopped, not held)
    since: datetime | None = None  # the last start or stop


def step(delivery: Delivery, event: Event) -> tuple[Delivery, list[DeliveryChange]]:
    """The delivery after `event`, and the starts and stops it makes (never before the last one)."""
    after, changes = _step(delivery, event)
    since = changes[-1].at if changes else delivery.since
    return replace(after, since=since), changes


def _step(delivery: Delivery, event: Event) -> tuple[Delivery, list[DeliveryChange]]:
    kind = event.type
    if delivery.ended is not None:
        return delivery, []
    # A back-dated entry (a reaction's onset three minutes ago) cannot stop the pump before the
    # delivery it stops began: the change is dated no earlier than the last one.
    at = event.at if delivery.since is None else max(event.at, delivery.since)
    seq = event.seq
    rate_now = delivery.rate_ml_h

    def stop(reason: StopReason, detail: str = "", volume: float | None = None) -> DeliveryChange:
        change = ChangeKind.COMPLETE if reason is StopReason.COMPLETE else ChangeKind.STOP
        return DeliveryChange(seq, at, change, rate_now, reason, detail, volume_ml=volume)

    def start(rate: float, resumed: bool = True) -> tuple[Delivery, list[DeliveryChange]]:
        if rate <= 0:  # restarted at 0 mL/h: nothing flows, nothing held
            return Delivery(False, rate, True), []
        return Delivery(True, rate, True), [DeliveryChange(seq, at, ChangeKind.START, rate, resumed=resumed)]

    def held(running_stop: StopReason, detail: str) -> tuple[Delivery, list[DeliveryChange]]:
        changes = [stop(running_stop, detail)] if delivery.running else []
        return Delivery(False, rate_now, delivery.started, held=True), changes

    def ended(
        reason: StopReason, detail: str, volume: float | None = None
    ) -> tuple[Delivery, list[DeliveryChange]]:
        changes = [stop(reason, detail, volume)] if delivery.running or reason is StopReason.COMPLETE else []
        return Delivery(False, rate_now, delivery.started, reason), changes

    if kind is EventType.INFUSION_STARTED:
        return start(payloads.rate_ml_h(event), resumed=False)
    if kind is EventType.RATE_CHANGED:
        rate = payloads.rate_ml_h(event)
        if not delivery.running:
            if delivery.held or not delivery.started:  # the restart will run at it
                return Delivery(False, rate, delivery.started, held=delivery.held), []
            return start(rate)  # set to 0 before, now running again
        if abs(rate - rate_now) <= SAME_RATE_ML_H:
            return delivery, []
        if rate > 0:
            return Delivery(True, rate, True), [
                stop(StopReason.RATE_CHANGE, payloads.reason(event)),
                DeliveryChange(seq, at, ChangeKind.START, rate),
            ]
        why = StopReason.PUMP_STOPPED if payloads.source(event) == "pump" else StopReason.PAUSED
        return Delivery(False, rate_now, True), [stop(why, "rate set to 0")]
    if kind is EventType.INFUSION_PAUSED:
        return held(pause_reason(event), payloads.reason(event))
    if kind is EventType.INFUSION_RESUMED:
        if delivery.running or not delivery.started:
            return delivery, []
        restart = payloads.restart_rate_ml_h(event)
        return start(rate_now if restart is None else restart)
    if kind is EventType.REACTION_RECORDED:
        action = payloads.reaction_action(event)
        grade = payloads.reaction_grade(event)
        if action is ReactionAction.DISCONTINUE:
            return ended(StopReason.REACTION_DISCONTINUED, f"grade {grade} reaction")
        if action is ReactionAction.STOP_THEN_RESTART:
            return held(StopReason.REACTION, f"grade {grade} reaction")
        return delivery, []
    if kind is EventType.INFUSION_COMPLETED:
        return ended(StopReason.COMPLETE, payloads.reason(event), payloads.volume_infused_ml(event))
    if kind is EventType.DISCONTINUED:
        return ended(StopReason.DISCONTINUED, payloads.reason(event))
    return delivery, []


def pause_reason(event: Event) -> StopReason:
    """A pause documented by the nurse, or by the pump (its alarm, or stopped at the pump)."""
    if payloads.source(event) == "nurse":
        return StopReason.PAUSED
    if payloads.reason(event).startswith(PUMP_ALARM_REASON):
        return StopReason.PUMP_ALARM
    return StopReason.PUMP_STOPPED


@dataclass(frozen=True)
class DeliverySegment:
    """From a start to its stop (None while it runs)."""

    started: DeliveryChange
    ended: DeliveryChange | None = None

    @property
    def rate_ml_h(self) -> float:
        return self.started.rate_ml_h

    @property
    def started_at(self) -> datetime:
        return self.started.at

    @property
    def ended_at(self) -> datetime | None:
        return None if self.ended is None else self.ended.at

    @property
    def stop_reason(self) -> StopReason | None:
        return None if self.ended is None else self.ended.reason


@dataclass(frozen=True)
class DeliveryRecord:
    changes: tuple[DeliveryChange, ...]
    segments: tuple[DeliverySegment, ...]
    final: Delivery
    ended: DeliveryChange | None  # the change that ended the infusion (complete, discontinued), if any
    ended_at: datetime | None  # when the infusion ended for good (also while already stopped)
    ended_seq: int | None  # the entry that ended it (a discontinuation before the start too)


def delivery_of(events: tuple[Event, ...] | list[Event]) -> DeliveryRecord:
    """Fold every event of a session into its delivery changes and segments."""
    delivery = Delivery()
    changes: list[DeliveryChange] = []
    segments: list[DeliverySegment] = []
    ended_at: datetime | None = None
    ended_seq: int | None = None
    for event in events:
        was_ended = delivery.ended
        delivery, made = step(delivery, event)
        if was_ended is None and delivery.ended is not None:
            ended_at, ended_seq = event.at, event.seq
        for change in made:
            changes.append(change)
            if change.kind is ChangeKind.START:
                segments.append(DeliverySegment(change))
            elif segments and segments[-1].ended is None:
                segments[-1] = DeliverySegment(segments[-1].started, change)
    final_change = next(
        (c for c in reversed(changes) if c.reason is not None and c.reason.ends_infusion), None
    )
    return DeliveryRecord(tuple(changes), tuple(segments), delivery, final_change, ended_at, ended_seq)


def rate_at(segments: tuple[DeliverySegment, ...], moment: datetime) -> float:
    """What the pump was recorded running at `moment` (0 while stopped, at a stop's moment too)."""
    rate = 0.0
    for segment in segments:
        if segment.started_at > moment:
            break
        ended = segment.ended_at
        rate = segment.rate_ml_h if ended is None or ended > moment else 0.0
    return rate
