"""Reaction grading terms (resources/reactions.toml): the CTCAE v5 wording of each grade, for the
reaction dialog, and the anaphylaxis signs that cannot be recorded below grade 3 without an override."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

SEVERE_GRADE = 3  # CTCAE v5 grade 3: severe (label: stop the infusion)


class ReactionGrade(IntEnum):
    """CTCAE v5 grade of an infusion-related reaction (the wording of each: resources/reactions.toml)."""

    MILD = 1
    MODERATE = 2
    SEVERE = 3
    LIFE_THREATENING = 4


@dataclass(frozen=True)
class ReactionTerms:
    wording: Mapping[int, str]  # grade -> CTCAE v5 wording
    anaphylaxis_signs: tuple[str, ...]
    source: str
    anaphylaxis_source: str
    anaphylaxis_observation_min: float = 0.0  # observed at least this long from an anaphylaxis's onset
    anaphylaxis_observation_source: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source_name: str) -> ReactionTerms:
        source = data.get("source")
        if not isinstance(source, str) or not source.strip():
            raise ValueError(f"{source_name}: 'source' is missing")
        grades = data.get("grades")
        if not isinstance(grades, Mapping):
            raise ValueError(f"{source_name}: [grades] is missing")
        wording: dict[int, str] = {}
        for key, text in grades.items():
            if not str(key).isdigit() or not isinstance(text, str) or not text.strip():
                raise ValueError(f"{source_name}: grades.{key} must be a grade number with its wording")
            wording[int(key)] = text.strip()
        missing = {1, 2, 3, 4} - set(wording)
        if missing:
            raise ValueError(f"{source_name}: grades {sorted(missing)} have no wording")
        ana = data.get("anaphylaxis")
        if not isinstance(ana, Mapping):
            raise ValueError(f"{source_name}: [anaphylaxis] is missing")
        signs = ana.get("signs")
        ana_source = ana.get("source")
        if (
            not isinstance(signs, Sequence)
            or isinstance(signs, str)
            or not all(isinstance(x, str) for x in signs)
        ):
            raise ValueError(f"{source_name}: anaphylaxis.signs must be a list of texts")
        if not isinstance(ana_source, str) or not ana_source.strip():
            raise ValueError(f"{source_name}: anaphylaxis.source is missing")
        observe = ana.get("observation_min")
        observe_source = ana.get("observation_source")
        if isinstance(observe, bool) or not isinstance(observe, int | float) or observe < 0:
            raise ValueError(f"{source_name}: anaphylaxis.observation_min must be minutes >= 0")
        if not isinstance(observe_source, str) or not observe_source.strip():
            raise ValueError(f"{source_name}: anaphylaxis.observation_source is missing")
        return cls(
            wording, tuple(s.lower() for s in signs), source, ana_source, float(observe), observe_source
        )

    def is_anaphylaxis(self, grade: int, signs: Sequence[str]) -> bool:
        """Grade 4, or a sign of anaphylaxis at any grade (then the infusion is discontinued)."""
        return grade >= 4 or bool(self.anaphylaxis_signs_in(signs))

    def anaphylaxis_signs_in(self, signs: Sequence[str]) -> list[str]:
        """The recorded signs that are signs of anaphylaxis."""
        found = []
        for sign in signs:
            text = sign.lower().strip()
            if any(term in text for term in self.anaphylaxis_signs):
                found.append(sign)
        return found
