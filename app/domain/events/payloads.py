"""What each kind of entry says: one frozen dataclass per event type, its fields typed (rates in mL/h as
numbers, times aware datetimes, grades `ReactionGrade`, reaction actions `ReactionAction`).

The JSON form is the codec's business (app.domain.events.codec); what it needs from here: a field with
`optional()` is left out of the JSON while it holds its default (an override list that is empty, a
`responsible` nurse only on pump-documented entries); any other field with a default is one that older
entries may lack (they are read with the default and written back without it).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from app.domain.events.kinds import EventType
from app.domain.protocol import ReactionAction
from app.domain.reactions import ReactionGrade

OPTIONAL = "optional"


def optional(default: Any = None) -> Any:
    """A field that today's entries carry only when it holds something (its default is not written)."""
    if isinstance(default, tuple | str | int | float | bool) or default is None:
        return field(default=default, metadata={OPTIONAL: True})
    raise TypeError("optional() takes an immutable default")


@dataclass(frozen=True, kw_only=True)
class Record:
    """A typed piece of an entry's JSON. `extra`: keys this version does not know, kept and written back
    as they were; `absent`: known keys an older entry did not have, not written back."""

    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    absent: frozenset[str] = field(default=frozenset(), repr=False)

    def __post_init__(self) -> None:
        # A record holds what the journal writes and a replay reads back: times in UTC, a mapping's keys in
        # the JSON's (sorted) order. So the entry the journal hands back at append and the one a replay
        # reads are the same, field for field (tests/domain/test_event_codec.py); a person sees a time
        # only through the clock face, in the station's zone.
        times, mappings = _normalised_fields(type(self))
        for name in times:
            moment = getattr(self, name)
            if moment is not None:
                object.__setattr__(self, name, in_utc(moment))
        for name in mappings:
            object.__setattr__(self, name, _in_key_order(getattr(self, name)))


def in_utc(moment: datetime) -> datetime:
    """`moment` as the journal writes and reads it back: in UTC (where `fold` means nothing)."""
    if moment.tzinfo is UTC and not moment.fold:
        return moment
    return moment.astimezone(UTC).replace(fold=0)


def _in_key_order(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _in_key_order(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_in_key_order(item) for item in value]
    return value


_NORMALISED: dict[type[Record], tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _normalised_fields(cls: type[Record]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names of `cls`'s fields that hold a datetime, and of those that hold a mapping (found once)."""
    known = _NORMALISED.get(cls)
    if known is None:
        hints = typing.get_type_hints(cls)

        def holds(f: Field[Any], kind: Any) -> bool:  # `kind`, `kind | None`, `kind[...]`, `kind[...] | None`
            hint = hints[f.name]
            return any(kind in (t, typing.get_origin(t)) for t in (hint, *typing.get_args(hint)))

        own = [f for f in fields(cls) if f.name not in ("extra", "absent")]
        known = _NORMALISED[cls] = (
            tuple(f.name for f in own if holds(f, datetime)),
            tuple(f.name for f in own if holds(f, Mapping)),
        )
    return known


@dataclass(frozen=True, kw_only=True)
class Payload(Record):
    """The body of one entry; `event_type` is the kind it belongs to."""

    event_type: ClassVar[EventType]


@dataclass(frozen=True, kw_only=True)
class Unreadable(Payload):
    """An entry whose JSON does not fit its kind (a hand-made or very early entry): kept as it is, so
    it is written back byte for byte, with why it could not be read. A reader that needs its fields
    (Event.payload_as) gets the PayloadError; readers that look for a kind pass it by."""

    raw: Mapping[str, Any]
    problem: str


# ------------------------------------------------------------------------------------------------
# Pieces shared by several entries


@dataclass(frozen=True, kw_only=True)
class OverrideRecord(Record):
    """A guard passed on someone's decision: which guard, what it said, who decided and why."""

    guard: str
    message: str
    by: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class BagRecord(Record):
    volume_ml: float
    lot: str
    expiry: date
    prepared_at: datetime
    gtin: str = ""
    dose_mg: float | None = None
    refrigerated_until: datetime | None = None
    label_expires_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class PriorSeriousReaction(Record):
    """A serious reaction in this journal's history for the patient, as known at check-in."""

    session_id: str
    on: date
    grade: ReactionGrade
    protocol_id: str


@dataclass(frozen=True, kw_only=True)
class ScreeningFinding(Record):
    id: str
    question: str
    answer: str
    outcome: str
    refer_to: str
    source: str


@dataclass(frozen=True, kw_only=True)
class CorrectedFields(Record):
    """What a correction sets (only the fields it names are written)."""

    patient_mrn: str | None = optional()
    patient_initials: str | None = optional()
    bag_lot: str | None = optional()
    drug: str | None = optional()
    dose: str | None = optional()
    route: str | None = optional()
    values: Mapping[str, float] | None = optional()
    signs: tuple[str, ...] | None = optional()
    notes: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class SignOff(Record):
    """The envelope of an entry made with a co-signer: who made it, who co-signed, and for what."""

    by: str
    cosigned_by: str
    cosigned_for: tuple[str, ...]


class NotToleratedOutcome(StrEnum):
    STOP = "stop"  # the pump is stopped
    REGRADE = "regrade"  # the reaction is re-graded (3 or 4)


# ------------------------------------------------------------------------------------------------
# Chair session entries


@dataclass(frozen=True, kw_only=True)
class CheckedIn(Payload):
    event_type: ClassVar[EventType] = EventType.CHECKED_IN
    chair: str
    patient_mrn: str
    patient_initials: str
    protocol_id: str
    protocol: Mapping[str, Any]  # the protocol file as read at check-in (app.domain.protocol parses it)
    bag: BagRecord
    prior_infusions: int
    prior_serious_reaction: bool
    last_dose_on: date | None = None
    first_dose: bool = False
    assigned_nurse: str = ""
    history_serious_reactions: tuple[PriorSeriousReaction, ...] = ()
    overrides: tuple[OverrideRecord, ...] = optional(())
    visit_number: str = optional("")
    order_number: str = optional("")


@dataclass(frozen=True, kw_only=True)
class ScreeningRecorded(Payload):
    event_type: ClassVar[EventType] = EventType.SCREENING_RECORDED
    answers: Mapping[str, bool]
    findings: tuple[ScreeningFinding, ...] = ()
    overrides: tuple[OverrideRecord, ...] = optional(())


@dataclass(frozen=True, kw_only=True)
class PremedicationGiven(Payload):
    event_type: ClassVar[EventType] = EventType.PREMEDICATION_GIVEN
    drug: str
    dose: str
    route: str
    repeat: bool = False
    recorded_at: datetime | None = None
    overrides: tuple[OverrideRecord, ...] = optional(())


@dataclass(frozen=True, kw_only=True)
class InfusionStarted(Payload):
    event_type: ClassVar[EventType] = EventType.INFUSION_STARTED
    rate_ml_h: float
    overrides: tuple[OverrideRecord, ...] = optional(())


@dataclass(frozen=True, kw_only=True)
class RateChanged(Payload):
    event_type: ClassVar[EventType] = EventType.RATE_CHANGED
    rate_ml_h: float
    previous_rate_ml_h: float | None = None  # None: an early entry that did not say
    planned_rate_ml_h: float | None = None
    source: str = "nurse"
    reason: str = ""
    responsible: str | None = optional()  # pump-documented: the nurse responsible


@dataclass(frozen=True, kw_only=True)
class InfusionPaused(Payload):
    event_type: ClassVar[EventType] = EventType.INFUSION_PAUSED
    reason: str = ""
    source: str = "nurse"
    responsible: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class InfusionResumed(Payload):
    event_type: ClassVar[EventType] = EventType.INFUSION_RESUMED
    source: str = "nurse"
    overrides: tuple[OverrideRecord, ...] = optional(())
    responsible: str | None = optional()
    after_reaction_seq: int | None = optional()  # the restart after a stop-then-restart reaction
    restart_rate_ml_h: float | None = optional()


@dataclass(frozen=True, kw_only=True)
class ReactionRecorded(Payload):
    event_type: ClassVar[EventType] = EventType.REACTION_RECORDED
    grade: ReactionGrade
    signs: tuple[str, ...] = ()
    notes: str = ""
    action: ReactionAction | None = None  # None: recorded in observation (nothing to do to the pump)
    rate_at_onset_ml_h: float = 0.0
    new_rate_ml_h: float = 0.0
    restart_rate_ml_h: float = 0.0
    recorded_at: datetime | None = None
    regrades_seq: int | None = None
    overrides: tuple[OverrideRecord, ...] = optional(())
    anaphylaxis: bool = optional(False)  # the reaction is anaphylaxis: stopped for good, observed longer
    anaphylaxis_observation_min: float | None = optional()  # with anaphylaxis: how long (reactions.toml)


@dataclass(frozen=True, kw_only=True)
class SymptomsResolved(Payload):
    event_type: ClassVar[EventType] = EventType.SYMPTOMS_RESOLVED
    reaction_seqs: tuple[int, ...] = ()
    notes: str = ""
    recorded_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ReactionNotTolerated(Payload):
    event_type: ClassVar[EventType] = EventType.REACTION_NOT_TOLERATED
    reaction_seq: int
    outcome: NotToleratedOutcome
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class VitalsRecorded(Payload):
    event_type: ClassVar[EventType] = EventType.VITALS_RECORDED
    values: Mapping[str, float]
    alerts: tuple[str, ...] = ()
    alert_signs: tuple[str, ...] = ()
    extreme_signs: tuple[str, ...] = optional(())  # signs beyond their extreme band


@dataclass(frozen=True, kw_only=True)
class InfusionCompleted(Payload):
    event_type: ClassVar[EventType] = EventType.INFUSION_COMPLETED
    source: str = "nurse"
    volume_infused_ml: float | None = None
    reason: str = ""
    responsible: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class PrescriberReleaseRecord(Record):
    """After anaphylaxis, discharge before the observation is over: the prescriber's documented
    release, co-signed by a second nurse. `cosigned_by` is the account ID of the nurse who signed in to
    co-sign, `cosigner_name` their account's name; an entry without `cosigner_name` was written before
    co-signers signed in, and its `cosigned_by` is a name someone typed."""

    prescriber: str
    cosigned_by: str
    note: str
    cosigner_name: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class Discharged(Payload):
    event_type: ClassVar[EventType] = EventType.DISCHARGED
    overrides: tuple[OverrideRecord, ...] = optional(())
    prescriber_release: PrescriberReleaseRecord | None = optional()  # noqa: RUF009 (a field(), None)


@dataclass(frozen=True, kw_only=True)
class Discontinued(Payload):
    event_type: ClassVar[EventType] = EventType.DISCONTINUED
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class CorrectionRecorded(Payload):
    event_type: ClassVar[EventType] = EventType.CORRECTION_RECORDED
    target_seq: int
    target_type: str = ""
    reason: str = ""
    corrected: CorrectedFields = field(default_factory=CorrectedFields)


@dataclass(frozen=True, kw_only=True)
class NoteAdded(Payload):
    event_type: ClassVar[EventType] = EventType.NOTE_ADDED
    text: str
    target_seq: int | None = None


@dataclass(frozen=True, kw_only=True)
class NurseAssigned(Payload):
    event_type: ClassVar[EventType] = EventType.NURSE_ASSIGNED
    nurse: str
    previous: str = ""


@dataclass(frozen=True, kw_only=True)
class HandedOver(Payload):
    event_type: ClassVar[EventType] = EventType.HANDED_OVER
    from_nurse: str
    to_nurse: str
    notes: str = ""


@dataclass(frozen=True, kw_only=True)
class AlarmEntry(Payload):
    """An alarm raised, acknowledged or cleared (the same fields each time)."""

    alarm_id: str
    rule: str
    priority: str
    message: str
    overview: str | None = optional()
    """Acknowledged from the floor: the enrolled overview whose signed command it was."""
    command_id: str | None = optional()


@dataclass(frozen=True, kw_only=True)
class AlarmRaised(AlarmEntry):
    event_type: ClassVar[EventType] = EventType.ALARM_RAISED


@dataclass(frozen=True, kw_only=True)
class AlarmAcknowledged(AlarmEntry):
    event_type: ClassVar[EventType] = EventType.ALARM_ACKNOWLEDGED


@dataclass(frozen=True, kw_only=True)
class AlarmCleared(AlarmEntry):
    event_type: ClassVar[EventType] = EventType.ALARM_CLEARED


# ------------------------------------------------------------------------------------------------
# The accounts stream


@dataclass(frozen=True, kw_only=True)
class AccountAdded(Payload):
    event_type: ClassVar[EventType] = EventType.ACCOUNT_ADDED
    account: str
    name: str
    role: str
    badge: bool = False


@dataclass(frozen=True, kw_only=True)
class AccountDisabled(Payload):
    event_type: ClassVar[EventType] = EventType.ACCOUNT_DISABLED
    account: str


@dataclass(frozen=True, kw_only=True)
class AccountPinReset(Payload):
    event_type: ClassVar[EventType] = EventType.ACCOUNT_PIN_RESET
    account: str


@dataclass(frozen=True, kw_only=True)
class AccountLocked(Payload):
    event_type: ClassVar[EventType] = EventType.ACCOUNT_LOCKED
    account: str
    until: datetime
    failures: int


@dataclass(frozen=True, kw_only=True)
class SignInFailed(Payload):
    event_type: ClassVar[EventType] = EventType.SIGN_IN_FAILED
    account: str
    reason: str
    failures: int | None = optional()


@dataclass(frozen=True, kw_only=True)
class SignedIn(Payload):
    event_type: ClassVar[EventType] = EventType.SIGNED_IN
    account: str
    how: str
    purpose: str = ""


@dataclass(frozen=True, kw_only=True)
class SignedOut(Payload):
    event_type: ClassVar[EventType] = EventType.SIGNED_OUT
    account: str
    by: str | None = optional()  # signed out by the next person signing in


@dataclass(frozen=True, kw_only=True)
class StationLocked(Payload):
    event_type: ClassVar[EventType] = EventType.STATION_LOCKED
    account: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class StationUnlocked(Payload):
    event_type: ClassVar[EventType] = EventType.STATION_UNLOCKED
    account: str


@dataclass(frozen=True, kw_only=True)
class JournalAnchored(Payload):
    """The station signs the journal's head, this entry included (app.export.seals): `previous`, the
    digest of the anchor before it ('' for the first); `key`, the signing key's fingerprint; `station`,
    its topic level on the floor's broker when it publishes ('' otherwise)."""

    event_type: ClassVar[EventType] = EventType.JOURNAL_ANCHORED
    previous: str
    key: str
    station: str = optional("")


@dataclass(frozen=True, kw_only=True)
class JournalLossFound(Payload):
    """The station's own signed anchor, retained on the floor's broker, names an entry the journal no
    longer has as signed (app.station.anchor_check): `anchored_position`/`anchored_hash`/`anchored_at`,
    what the anchor signed; `journal_head`, where the journal ended when the station started;
    `last_good`, the newest position a signed anchor still confirms (0: none); `problem`, the line the
    station shows."""

    event_type: ClassVar[EventType] = EventType.JOURNAL_LOSS_FOUND
    anchored_position: int
    anchored_hash: str
    anchored_at: str
    journal_head: int
    last_good: int
    problem: str


@dataclass(frozen=True, kw_only=True)
class FloorCommandRefused(Payload):
    """A command from the floor that the station refused, with what it claimed (app.station.publish)."""

    event_type: ClassVar[EventType] = EventType.FLOOR_COMMAND_REFUSED
    command_id: str
    command: str
    chair: str
    alarm: str
    claimed_by: str
    claimed_role: str
    claimed_overview: str
    sent_at: str | None
    signed: bool
    reason: str


PAYLOADS: Mapping[EventType, type[Payload]] = {
    cls.event_type: cls
    for cls in (
        CheckedIn,
        ScreeningRecorded,
        PremedicationGiven,
        InfusionStarted,
        RateChanged,
        InfusionPaused,
        InfusionResumed,
        ReactionRecorded,
        SymptomsResolved,
        ReactionNotTolerated,
        VitalsRecorded,
        InfusionCompleted,
        Discharged,
        Discontinued,
        CorrectionRecorded,
        NoteAdded,
        NurseAssigned,
        HandedOver,
        AlarmRaised,
        AlarmAcknowledged,
        AlarmCleared,
        AccountAdded,
        AccountDisabled,
        AccountPinReset,
        AccountLocked,
        SignInFailed,
        SignedIn,
        SignedOut,
        StationLocked,
        StationUnlocked,
        JournalAnchored,
        JournalLossFound,
        FloorCommandRefused,
    )
}
