"""What a nurse (or the pump, through the chair controller) asks to happen at a chair."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class Override:
    """A deliberate decision to go past a guard: who decided and why. Recorded with the event."""

    by: str
    reason: str

    def __post_init__(self) -> None:
        if not self.by.strip() or not self.reason.strip():
            raise ValueError("an override needs who decided and why")


@dataclass(frozen=True)
class CheckIn:
    chair: str
    patient_mrn: str
    patient_initials: str
    protocol_id: str
    bag_volume_ml: float
    bag_lot: str
    bag_expiry: date  # the product's expiry date printed on the vial/bag label
    bag_prepared_at: datetime  # when the diluted bag was prepared
    prior_infusions: int
    prior_serious_reaction: bool
    last_dose_on: date | None = None
    bag_gtin: str = ""
    override: Override | None = None
    visit_number: str = ""  # the hospital's visit / encounter number, when scanned or typed at check-in
    order_number: str = ""  # the placer order number of the infusion, when scanned or typed


@dataclass(frozen=True)
class RecordScreening:
    answers: Mapping[str, bool]
    override: Override | None = None


@dataclass(frozen=True)
class GivePremedication:
    drug: str
    dose: str
    route: str
    given_at: datetime | None = None  # default: now


@dataclass(frozen=True)
class StartInfusion:
    started_at: datetime | None = None
    override: Override | None = None


@dataclass(frozen=True)
class ChangeRate:
    rate_ml_h: float
    source: str  # "pump" (seen in telemetry) or "nurse"
    reason: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class PauseInfusion:
    reason: str
    source: str = "nurse"
    at: datetime | None = None


@dataclass(frozen=True)
class ResumeInfusion:
    source: str = "nurse"
    at: datetime | None = None
    override: Override | None = None


@dataclass(frozen=True)
class RecordReaction:
    grade: int
    signs: tuple[str, ...] = ()
    onset_at: datetime | None = None
    notes: str = ""


@dataclass(frozen=True)
class RecordVitals:
    values: Mapping[str, float | None]
    at: datetime | None = None


@dataclass(frozen=True)
class CompleteInfusion:
    source: str  # "pump" (end of infusion seen in telemetry) or "nurse"
    volume_infused_ml: float | None = None
    at: datetime | None = None
    reason: str = ""


@dataclass(frozen=True)
class Discharge:
    at: datetime | None = None
    override: Override | None = None


@dataclass(frozen=True)
class Discontinue:
    reason: str
    at: datetime | None = None


@dataclass(frozen=True)
class Correct:
    """A correction: a new entry that references the old one (by its sequence number) and says why."""

    target_seq: int
    reason: str
    corrected: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AddNote:
    text: str
    target_seq: int | None = None


@dataclass(frozen=True)
class RecordAlarm:
    """An alarm raised, acknowledged or cleared at this chair (rules live in app.domain.alarms)."""

    kind: str  # "raised" | "acknowledged" | "cleared"
    alarm_id: str
    rule: str
    priority: str
    message: str
    at: datetime | None = None


Command = (
    CheckIn
    | RecordScreening
    | GivePremedication
    | StartInfusion
    | ChangeRate
    | PauseInfusion
    | ResumeInfusion
    | RecordReaction
    | RecordVitals
    | CompleteInfusion
    | Discharge
    | Discontinue
    | Correct
    | AddNote
    | RecordAlarm
)
