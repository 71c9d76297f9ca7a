"""The phases of a chair session and the only moves allowed between them."""

from __future__ import annotations

from enum import Enum


class Phase(Enum):
    EMPTY = "empty"
    SCREENING = "screening"
    PREMEDICATION = "premedication"
    INFUSING = "infusing"
    PAUSED = "paused"
    OBSERVATION = "observation"
    DISCHARGED = "discharged"
    DISCONTINUED = "discontinued"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def is_closed(self) -> bool:
        return self is Phase.DISCHARGED


# DISCONTINUED covers "not given" (a delay found at screening) and "stopped for good" (a life-threatening
# reaction); the patient is still in the chair, so it moves on to DISCHARGED when they leave.
ALLOWED_MOVES: dict[Phase, frozenset[Phase]] = {
    Phase.EMPTY: frozenset({Phase.SCREENING}),
    Phase.SCREENING: frozenset({Phase.PREMEDICATION, Phase.DISCONTINUED}),
    Phase.PREMEDICATION: frozenset({Phase.INFUSING, Phase.DISCONTINUED}),
    Phase.INFUSING: frozenset({Phase.PAUSED, Phase.OBSERVATION, Phase.DISCONTINUED}),
    Phase.PAUSED: frozenset({Phase.INFUSING, Phase.OBSERVATION, Phase.DISCONTINUED}),
    Phase.OBSERVATION: frozenset({Phase.DISCHARGED}),
    Phase.DISCONTINUED: frozenset({Phase.DISCHARGED}),
    Phase.DISCHARGED: frozenset(),
}


def can_move(source: Phase, target: Phase) -> bool:
    return source is target or target in ALLOWED_MOVES[source]
