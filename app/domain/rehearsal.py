"""A session rehearsed through the station's own `decide`: what `chairside plan` shows.

The planner does not keep rules of its own. It checks the patient in, screens, premedicates and starts
the infusion, lets the pump follow the plan, and records each reaction, resolution and pause as the
nurse would, each through `decide` and the chair's fold. A refusal the station would not let anyone pass
refuses the plan in the station's words; a guard the station lets a nurse override (a bag expiring, a
recurrence after improvement) becomes a warning, and the rehearsal goes on as if overridden.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from app.domain.chair import ChairState
from app.domain.commands import (
    ChangeRate,
    CheckIn,
    Command,
    CompleteInfusion,
    GivePremedication,
    Override,
    PauseInfusion,
    RecordReaction,
    RecordScreening,
    RecordVitals,
    ResolveSymptoms,
    ResumeInfusion,
    StartInfusion,
)
from app.domain.decide import CommandRefused, DecisionContext, GuardFailure, bag_end_failure, decide
from app.domain.phase import Phase
from app.domain.protocol import InfusionProtocol, ReactionAction
from app.domain.reactions import ReactionTerms
from app.domain.schedule import Interruption, Pause, Reaction
from app.domain.vitals import VitalSignLimits

PLANNER = "planner"
_OVERRIDE = Override(by=PLANNER, reason="what-if plan")
# A rehearsal starts on a fixed day: nothing in it depends on the wall clock.
REHEARSAL_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# Vital signs a rehearsal records (the values do not matter, only that they were taken).
_RESTING_VITALS = {"heart_rate_bpm": 72.0}


class PlanRefused(Exception):
    """The station would refuse this session outright; the message is the station's."""


@dataclass(frozen=True)
class Rehearsal:
    state: ChairState
    warnings: tuple[GuardFailure, ...]

    @property
    def earliest_discharge_min(self) -> float | None:
        start, earliest = self.state.infusion_started_at, self.state.earliest_discharge_at
        if start is None or earliest is None:
            return None
        return (earliest - start).total_seconds() / 60.0


class _Chair:
    def __init__(
        self,
        protocols: Mapping[str, InfusionProtocol],
        limits: VitalSignLimits | None,
        terms: ReactionTerms | None,
        tz: tzinfo,
    ) -> None:
        self.protocols = protocols
        self.limits = limits
        self.terms = terms
        self.tz = tz
        self.state = ChairState("rehearsal")
        self.warnings: list[GuardFailure] = []

    def run(self, command: Command, at: datetime) -> None:
        ctx = DecisionContext(at, PLANNER, self.protocols, self.limits, self.tz, self.terms)
        try:
            events = decide(self.state, command, ctx)
        except CommandRefused as refused:
            if not refused.overridable or not hasattr(command, "override"):
                raise PlanRefused(str(refused)) from None
            self.warn(refused.failures)
            overridden: Command = dataclasses.replace(command, override=_OVERRIDE)  # type: ignore[arg-type]
            events = decide(self.state, overridden, ctx)
        for event in events:
            self.state = self.state.apply(dataclasses.replace(event, seq=self.state.last_seq + 1))

    def warn(self, failures: Iterable[GuardFailure]) -> None:
        for failure in failures:
            if failure not in self.warnings:
                self.warnings.append(failure)

    def follow_plan(self, until: datetime) -> None:
        """The pump set to each planned rate up to `until` (documented from the pump, as at the chair)."""
        start = self.state.infusion_started_at
        if start is None or self.state.phase is not Phase.INFUSING:
            return
        for segment in self.state.plan().segments:
            at = start + timedelta(minutes=segment.start_min)
            if at > until:
                break
            if (
                segment.rate_ml_h > 0
                and self.state.pump_rate_at(at) != segment.rate_ml_h
                and self.state.phase is Phase.INFUSING
                and at >= self._last_event_at()
            ):
                self.run(ChangeRate(segment.rate_ml_h, source="pump", at=at), at)

    def _last_event_at(self) -> datetime:
        return max(e.at for e in self.state.events)


def rehearse(
    protocol: InfusionProtocol,
    protocols: Mapping[str, InfusionProtocol],
    interruptions: Iterable[Interruption],
    bag_volume_ml: float,
    dose_mg: float | None,
    limits: VitalSignLimits | None = None,
    terms: ReactionTerms | None = None,
    tz: tzinfo = UTC,
    prior_infusions: int = 2,
    last_dose_on: date | None = None,
) -> Rehearsal:
    """The session as the station would record it; PlanRefused when the station would refuse it."""
    chair = _Chair(protocols, limits, terms, tz)
    checked_in = REHEARSAL_START
    lead = max((p.min_lead_min for p in protocol.premedications if p.required), default=0.0)
    start = checked_in + timedelta(minutes=lead)
    last = last_dose_on or (checked_in - timedelta(days=365)).date()
    chair.run(
        CheckIn(
            "Rehearsal",
            "PLAN",
            "PL",
            protocol.id,
            bag_volume_ml,
            "PLAN",
            (checked_in + timedelta(days=365)).date(),
            checked_in,
            prior_infusions,
            False,
            last,
            dose_mg=dose_mg,
        ),
        checked_in,
    )
    chair.run(RecordVitals(dict(_RESTING_VITALS)), checked_in)
    chair.run(RecordScreening({i.id: i.acceptable_answer for i in protocol.screening}), checked_in)
    for premed in protocol.premedications:
        if premed.required:
            chair.run(
                GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route), checked_in
            )
    chair.run(StartInfusion(), start)
    for at, command in _commands(protocol, interruptions, start):
        end = _planned_end(chair.state)
        if end is not None and at >= end and chair.state.phase in (Phase.INFUSING, Phase.PAUSED):
            chair.follow_plan(end)
            chair.run(CompleteInfusion("pump"), end)
        chair.follow_plan(at)
        if isinstance(command, ResumeInfusion) and chair.state.phase is not Phase.PAUSED:
            command = ResolveSymptoms(at=at)  # stopped for good or ended: the resolution is recorded
        if isinstance(command, ResolveSymptoms) and not any(
            r.resolved_at is None for r in chair.state.reactions
        ):
            continue
        chair.run(command, at)
    end = _planned_end(chair.state)
    if end is not None and chair.state.phase in (Phase.INFUSING, Phase.PAUSED):
        chair.follow_plan(end)
        expires = chair.state.bag_expires_at
        if expires is not None:
            late = bag_end_failure(expires, end, tz)
            if late is not None:
                chair.warn([late])
        chair.run(CompleteInfusion("pump"), end)
    return Rehearsal(chair.state, tuple(chair.warnings))


def _planned_end(state: ChairState) -> datetime | None:
    start = state.infusion_started_at
    if start is None or state.phase not in (Phase.INFUSING, Phase.PAUSED):
        return None
    end = state.plan().end_min
    return None if end is None else start + timedelta(minutes=end)


def _commands(
    protocol: InfusionProtocol, interruptions: Iterable[Interruption], start: datetime
) -> list[tuple[datetime, Command]]:
    """Each interruption as the nurse's commands, in time order (a stop's restart records its
    resolution; a reduced rate's resolution is recorded; a pause ends with a resume)."""
    timeline: list[tuple[datetime, int, Command]] = []
    for index, item in enumerate(interruptions):
        if isinstance(item, Pause):
            begin = start + timedelta(minutes=item.start_min)
            timeline.append((begin, index, PauseInfusion("what-if pause", source="nurse", at=begin)))
            if item.duration_min is not None:
                end = begin + timedelta(minutes=item.duration_min)
                timeline.append((end, index, ResumeInfusion(source="nurse", at=end)))
            continue
        assert isinstance(item, Reaction)
        onset = start + timedelta(minutes=item.onset_min)
        timeline.append((onset, index, RecordReaction(grade=item.grade, onset_at=onset)))
        if item.resolved_after_min is not None:
            resolved = onset + timedelta(minutes=item.resolved_after_min)
            stops = protocol.rule_for_grade(item.grade).action is ReactionAction.STOP_THEN_RESTART
            command: Command = (
                ResumeInfusion(source="nurse", at=resolved) if stops else ResolveSymptoms(at=resolved)
            )
            timeline.append((resolved, index, command))
    timeline.sort(key=lambda entry: (entry[0], entry[1]))
    return [(at, command) for at, _, command in timeline]
