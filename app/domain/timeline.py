"""One session's story, read once from its journal entries: the read model every screen and export uses.

`SessionTimeline.of(state)` takes the folded `ChairState` (the journal's entries replayed) and says what
happened in the clinic's words: the delivery segments with their stop reasons (app.domain.delivery),
how the infusion ended, the reactions with their holds and resolution, the alarms raised /
acknowledged / cleared, the premedications and vital signs, who was responsible when, and the earliest
discharge (the domain's one computation of it, `ChairState.earliest_discharge_at`). The chair view,
tiles, lock screen, MQTT chair state, `status`, the PDF, CSV and JSON exports and the HL7 builder read
it, so a screen and an export cannot tell two stories.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.domain import payloads
from app.domain.chair import AlarmRecord, ChairState, GivenPremedication, ReactionRecord, VitalsRecord
from app.domain.delivery import DeliveryChange, DeliverySegment, StopReason
from app.domain.events import EventType
from app.domain.phase import Phase


@dataclass(frozen=True)
class Responsibility:
    """A nurse responsible for the patient from `since` (check-in, assignment or hand-over)."""

    nurse: str
    since: datetime
    seq: int
    handed_over_by: str = ""  # the nurse who handed over ("" at check-in or an assignment)


@dataclass(frozen=True)
class ReactionHold:
    """A reaction, what it did to the delivery and how it ended."""

    reaction: ReactionRecord
    stopped_delivery: bool  # the pump was stopped for it (stop-then-restart, or discontinued)
    holds: bool  # unresolved: holds the rate (or the stop, or the discharge) until recorded resolved

    @property
    def grade(self) -> int:
        return self.reaction.grade


@dataclass(frozen=True)
class SessionTimeline:
    session_id: str
    phase: Phase
    segments: tuple[DeliverySegment, ...]
    changes: tuple[DeliveryChange, ...]  # every start, stop and completion, in journal order
    infusion_end: StopReason | None  # complete, discontinued (for a reaction or by the clinician), or None
    infusion_ended_at: datetime | None
    session_end: StopReason | None  # as infusion_end, and a discontinuation before the start ("not given")
    session_ended_seq: int | None  # the entry that ended it
    reactions: tuple[ReactionHold, ...]
    alarms: tuple[AlarmRecord, ...]  # by raise time
    premedications: tuple[GivenPremedication, ...]
    vitals: tuple[VitalsRecord, ...]
    responsible: tuple[Responsibility, ...]
    earliest_discharge_at: datetime | None
    discharged_at: datetime | None

    @classmethod
    def of(cls, state: ChairState) -> SessionTimeline:
        cached = _CACHE.get(id(state))
        if cached is not None and cached[0] is state:
            return cached[1]
        timeline = cls._derive(state)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[id(state)] = (state, timeline)
        return timeline

    @classmethod
    def _derive(cls, state: ChairState) -> SessionTimeline:
        record = state.delivery
        stopped_for = {c.seq for c in record.changes if c.reason in _REACTION_STOPS}
        reactions = tuple(
            ReactionHold(
                r,
                r.seq in stopped_for,
                r.resolved_at is None,
            )
            for r in state.reactions
        )
        responsible: list[Responsibility] = []
        for event in state.events:
            if event.type is EventType.CHECKED_IN:
                responsible.append(Responsibility(payloads.assigned_at_check_in(event), event.at, event.seq))
            elif event.type is EventType.NURSE_ASSIGNED:
                responsible.append(Responsibility(payloads.handed_to(event), event.at, event.seq))
            elif event.type is EventType.HANDED_OVER:
                responsible.append(
                    Responsibility(
                        payloads.handed_to(event), event.at, event.seq, payloads.handed_from(event)
                    )
                )
        return cls(
            session_id=state.session_id,
            phase=state.phase,
            segments=record.segments,
            changes=record.changes,
            infusion_end=record.final.ended if state.infusion_started_at is not None else None,
            infusion_ended_at=record.ended_at if state.infusion_started_at is not None else None,
            session_end=record.final.ended,
            session_ended_seq=record.ended_seq,
            reactions=reactions,
            alarms=tuple(sorted(state.alarms.values(), key=lambda a: (a.raised_at, a.alarm_id))),
            premedications=state.premedications,
            vitals=state.vitals,
            responsible=tuple(responsible),
            earliest_discharge_at=state.earliest_discharge_at,
            discharged_at=state.discharged_at,
        )

    # ------------------------------------------------------------------------------------------
    # What the readers ask

    @property
    def delivering(self) -> bool:
        return bool(self.segments) and self.segments[-1].ended is None

    @property
    def current_segment(self) -> DeliverySegment | None:
        return self.segments[-1] if self.delivering else None

    @property
    def last_stop(self) -> DeliveryChange | None:
        """The stop or completion that ended the last segment (None while delivering or before a start)."""
        if not self.segments or self.delivering:
            return None
        return self.segments[-1].ended

    @property
    def stopped_for_good(self) -> bool:
        """Discontinued (for a reaction or by the clinician): the pump must not run again."""
        return self.infusion_end in (StopReason.REACTION_DISCONTINUED, StopReason.DISCONTINUED)

    @property
    def discontinued(self) -> bool:
        """Discontinued, before the start ("not given") or during it (for a reaction or by the clinician)."""
        return self.session_end in (StopReason.REACTION_DISCONTINUED, StopReason.DISCONTINUED)

    @property
    def outcome(self) -> str:
        """How the session stands, in one phrase: "infusing", "paused by the nurse", "infusion complete",
        "discontinued for a reaction", ..."""
        if self.infusion_end is not None:
            return str(self.infusion_end.value)
        if self.phase is Phase.DISCONTINUED:
            return "not given"
        stop = self.last_stop
        if stop is not None and stop.reason is not None:
            return str(stop.reason.value)
        if self.delivering:
            return "infusing"
        return str(self.phase.value)

    def changes_of(self, seq: int) -> list[DeliveryChange]:
        """The delivery changes a journal entry made (a rate change makes a stop and a start)."""
        return [c for c in self.changes if c.seq == seq]

    def responsible_at(self, moment: datetime) -> str:
        nurse = ""
        for item in self.responsible:
            if item.since <= moment:
                nurse = item.nurse
        return nurse

    def alarm_ended_at(self, alarm: AlarmRecord) -> datetime | None:
        """When an alarm ended: when it was cleared, or at the patient's discharge at the latest (a
        discharged patient has no active alarm, whatever was journaled last); None while active."""
        return alarm.cleared_at if alarm.cleared_at is not None else self.discharged_at

    @property
    def open_alarms(self) -> tuple[AlarmRecord, ...]:
        return tuple(a for a in self.alarms if self.alarm_ended_at(a) is None)

    @property
    def delivery_state(self) -> str:
        """ "not started", "delivering", "stopped" (may go on) or "ended" (complete or discontinued)."""
        if self.infusion_end is not None:
            return "ended"
        if self.delivering:
            return "delivering"
        return "stopped" if self.segments else "not started"

    def as_json(self) -> dict[str, Any]:
        """The delivery as plain JSON (times ISO 8601 in UTC): the MQTT chair state and `status` carry it."""
        current = self.current_segment
        stop = self.last_stop
        return {
            "state": self.delivery_state,
            "outcome": self.outcome,
            "stopped_for_good": self.stopped_for_good,
            "rate_ml_h": current.rate_ml_h if current is not None else 0.0,
            "since": _iso(
                current.started_at if current is not None else stop.at if stop is not None else None
            ),
            "stop_reason": stop.reason.value if stop is not None and stop.reason is not None else None,
            "ended_at": _iso(self.infusion_ended_at),
            "segments": [
                {
                    "started_at": _iso(s.started_at),
                    "rate_ml_h": s.rate_ml_h,
                    "stopped_at": _iso(s.ended_at),
                    "stop_reason": s.stop_reason.value if s.stop_reason is not None else None,
                }
                for s in self.segments
            ],
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


_REACTION_STOPS = frozenset({StopReason.REACTION, StopReason.REACTION_DISCONTINUED})
_CACHE: dict[int, tuple[ChairState, SessionTimeline]] = {}
_CACHE_SIZE = 512  # the open sessions of a floor and an export's sessions; states never change


def timeline(state: ChairState) -> SessionTimeline:
    return SessionTimeline.of(state)
