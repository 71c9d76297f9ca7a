"""Vital signs and their plausibility limits (limits come from resources/vital-signs.toml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

VITAL_SIGN_NAMES = {
    "temperature_c": "Temperature (°C)",
    "systolic_mmhg": "Systolic BP (mmHg)",
    "diastolic_mmhg": "Diastolic BP (mmHg)",
    "heart_rate_bpm": "Heart rate (/min)",
    "respiratory_rate_per_min": "Respiratory rate (/min)",
    "spo2_percent": "SpO2 (%)",
}


@dataclass(frozen=True)
class Range:
    low: float
    high: float


@dataclass(frozen=True)
class VitalSignLimits:
    """Plausible: outside it is physically impossible (refused). Alert: plausible, but tell the nurse.
    Extreme: shock, respiratory failure or arrest (a high-priority alarm whatever the sign)."""

    plausible: Mapping[str, Range]
    alert: Mapping[str, Range]
    source: str
    extreme: Mapping[str, Range] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source_name: str) -> VitalSignLimits:
        plausible: dict[str, Range] = {}
        alert: dict[str, Range] = {}
        extreme: dict[str, Range] = {}
        for name in VITAL_SIGN_NAMES:
            entry = data.get(name)
            if not isinstance(entry, Mapping):
                raise ValueError(f"{source_name}: [{name}] is missing")
            for key, target in (("plausible", plausible), ("alert", alert), ("extreme", extreme)):
                pair = entry.get(key)
                if (
                    not isinstance(pair, list)
                    or len(pair) != 2
                    or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair)
                    or pair[0] >= pair[1]
                ):
                    raise ValueError(f"{source_name}: {name}.{key} must be [low, high], got {pair!r}")
                target[name] = Range(float(pair[0]), float(pair[1]))
        source = data.get("source")
        if not isinstance(source, str) or not source:
            raise ValueError(f"{source_name}: 'source' is missing")
        return cls(plausible, alert, source, extreme)


def implausible_values(values: Mapping[str, float | None], limits: VitalSignLimits) -> list[str]:
    """Messages for values outside the plausible range (a likely typing error)."""
    problems = []
    for name, value in values.items():
        if value is None:
            continue
        if name not in VITAL_SIGN_NAMES:
            problems.append(f"unknown vital sign {name!r}")
            continue
        rng = limits.plausible[name]
        if not rng.low <= value <= rng.high:
            problems.append(
                f"{VITAL_SIGN_NAMES[name]} {value:g} is outside the plausible range {rng.low:g}-{rng.high:g}"
            )
    systolic, diastolic = values.get("systolic_mmhg"), values.get("diastolic_mmhg")
    if systolic is not None and diastolic is not None and diastolic >= systolic and systolic > 0:
        problems.append(f"diastolic {diastolic:g} is not below systolic {systolic:g}")
    return problems


def alerting_values(values: Mapping[str, float | None], limits: VitalSignLimits) -> list[str]:
    """Messages for plausible values that are outside the alert range."""
    notes = []
    for name, value in values.items():
        if value is None or name not in limits.alert:
            continue
        rng = limits.alert[name]
        if value < rng.low:
            notes.append(f"{VITAL_SIGN_NAMES[name]} low: {value:g} (below {rng.low:g})")
        elif value > rng.high:
            notes.append(f"{VITAL_SIGN_NAMES[name]} high: {value:g} (above {rng.high:g})")
    return notes


def extreme_signs(values: Mapping[str, float | None], limits: VitalSignLimits) -> list[str]:
    """The names of the values in the extreme band (shock, respiratory failure, arrest)."""
    out = []
    for name, value in values.items():
        rng = limits.extreme.get(name)
        if value is None or rng is None:
            continue
        if not rng.low <= value <= rng.high:
            out.append(name)
    return out


def alerting_signs(values: Mapping[str, float | None], limits: VitalSignLimits) -> list[str]:
    """The names of the plausible values outside their alert range (for the alarm rules)."""
    out = []
    for name, value in values.items():
        if value is None or name not in limits.alert:
            continue
        rng = limits.alert[name]
        if not rng.low <= value <= rng.high:
            out.append(name)
    return out
