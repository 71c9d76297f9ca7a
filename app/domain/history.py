"""A patient's history in this journal: earlier sessions and their serious reactions, by MRN.

Built by the floor from the journal (`Floor.patient_history`) and handed to `decide` in the decision
context, so eligibility comes from the record rather than only from a tick box."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from app.domain.chair import ChairState
from app.domain.reactions import SEVERE_GRADE


@dataclass(frozen=True)
class PriorReaction:
    session_id: str
    on: date
    grade: int
    protocol_id: str


@dataclass(frozen=True)
class PatientHistory:
    mrn: str
    serious_reactions: tuple[PriorReaction, ...] = ()
    infusion_dates: tuple[date, ...] = ()  # sessions in which an infusion started, oldest first

    @classmethod
    def from_sessions(cls, mrn: str, sessions: Iterable[ChairState]) -> PatientHistory:
        serious: list[PriorReaction] = []
        dates: list[date] = []
        for state in sessions:
            if state.patient_mrn != mrn or state.protocol is None:
                continue
            if state.infusion_started_at is not None:
                dates.append(state.infusion_started_at.date())
            serious.extend(
                PriorReaction(state.session_id, r.onset_at.date(), r.grade, state.protocol.id)
                for r in state.reactions
                if r.grade >= SEVERE_GRADE
            )
        return cls(mrn, tuple(sorted(serious, key=lambda r: r.on)), tuple(sorted(dates)))
