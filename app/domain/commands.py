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
    first_dose: bool = False  # the explicit "first dose" that stands in for a last-dose date
    dose_mg: float | None = None  # the dose in the bag (mg/h protocols: sets mL/h); None: the protocol's
    bag_refrigerated_until: datetime | None = None  # stored at 2-8 C after preparation until then
    assigned_nurse: str = ""  # the responsible nurse; "" : the nurse checking in


@dataclass(frozen=True)
class RecordScreening:
    answers: Mapping[str, bool]
    override: Override | None = None


@dataclass(frozen=True)
class GivePremedication:
    drug: str
    dose: str  # the dose actually given, e.g. "50 mg" (checked against the protocol's range)
    route: str  # the route actually used, e.g. "PO"
    given_at: datetime | None = None  # default: now
    override: Override | None = None  # a dose outside the template's range, with the reason


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
    onset_at: datetime | None = None  # back-dated onset: the rate at onset is looked up at that moment
    notes: str = ""
    override: Override | None = None  # past the grade/signs cross-checks, with who and why
    regrades_seq: int | None = None  # this entry re-grades an earlier reaction


@dataclass(frozen=True)
class ResolveSymptoms:
    """The nurse's "symptoms resolved" for the open reactions (a reduced rate may rise again only after
    it; a stopped infusion records its resolution by restarting)."""

    at: datetime | None = None
    notes: str = ""


@dataclass(frozen=True)
class ReactionNotTolerated:
    """The reduced rate was not tolerated: stop the pump ("stop") or re-grade ("regrade", grade >= 3)."""

    outcome: str  # "stop" | "regrade"
    grade: int | None = None
    reason: str = ""
    signs: tuple[str, ...] = ()
    at: datetime | None = None


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
    release: PrescriberRelease | None = None  # after anaphylaxis: discharge before its observation ends


@dataclass(frozen=True)
class PrescriberRelease:
    """A prescriber's documented release of a patient observed after anaphylaxis, co-signed by a second
    nurse (not the one discharging) who signed in at the station. The prescriber is a typed name
    (prescribers are not station accounts); `cosigner` None: nobody has co-signed yet."""

    prescriber: str
    cosigner: ReleaseCosigner | None
    note: str = ""


@dataclass(frozen=True)
class ReleaseCosigner:
    """The person who signed in (badge or ID, then PIN) to co-sign a prescriber's release, as the
    station's accounts held them then: app.accounts makes it from the account, `decide` judges it.
    `role` is the role's label ("" when the station has no such account); `nurse`, the role is a
    nurse's; `active`, the account is not disabled."""

    account: str
    name: str
    role: str
    nurse: bool
    active: bool


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
class AssignNurse:
    """The nurse responsible for this chair's patient (check-in assigns the nurse checking in)."""

    nurse: str


@dataclass(frozen=True)
class HandOver:
    """The responsible nurse hands the patient over to another (shift change, break)."""

    to_nurse: str
    notes: str = ""


@dataclass(frozen=True)
class RecordAlarm:
    """An alarm raised, acknowledged or cleared at this chair (rules live in app.domain.alarms)."""

    kind: str  # "raised" | "acknowledged" | "cleared"
    alarm_id: str
    rule: str
    priority: str
    message: str
    at: datetime | None = None
    overview: str | None = None  # acknowledged from the floor: the enrolled overview that signed it
    command_id: str | None = None  # and its command's id


Command = (
    CheckIn
    | RecordScreening
    | GivePremedication
    | StartInfusion
    | ChangeRate
    | PauseInfusion
    | ResumeInfusion
    | RecordReaction
    | ResolveSymptoms
    | ReactionNotTolerated
    | RecordVitals
    | CompleteInfusion
    | Discharge
    | Discontinue
    | Correct
    | AddNote
    | AssignNurse
    | HandOver
    | RecordAlarm
)
