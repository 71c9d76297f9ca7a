"""What can happen at a chair, as recorded facts. The journal stores these; state is a fold of them.

An `Event` is the kind of fact, when it happened, who recorded it, its typed payload (one dataclass per
kind, app.domain.events.payloads) and, when a co-signer made up for the recorder's role, its sign-off
envelope. The JSON the journal writes comes from one codec (app.domain.events.codec).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

from app.domain.events.codec import PayloadError, decode_entry, encode_entry, payload_type, read_entry
from app.domain.events.kinds import EventType
from app.domain.events.payloads import (
    AccountAdded,
    AccountDisabled,
    AccountLocked,
    AccountPinReset,
    AlarmAcknowledged,
    AlarmCleared,
    AlarmEntry,
    AlarmRaised,
    BagRecord,
    CheckedIn,
    CorrectedFields,
    CorrectionRecorded,
    Discharged,
    Discontinued,
    HandedOver,
    InfusionCompleted,
    InfusionPaused,
    InfusionResumed,
    InfusionStarted,
    JournalAnchored,
    JournalLossFound,
    NoteAdded,
    NotToleratedOutcome,
    NurseAssigned,
    OverrideRecord,
    Payload,
    PremedicationGiven,
    PrescriberReleaseRecord,
    PriorSeriousReaction,
    RateChanged,
    ReactionNotTolerated,
    ReactionRecorded,
    Record,
    ScreeningFinding,
    ScreeningRecorded,
    SignedIn,
    SignedOut,
    SignInFailed,
    SignOff,
    StationLocked,
    StationUnlocked,
    SymptomsResolved,
    Unreadable,
    VitalsRecorded,
    in_utc,
)

P = TypeVar("P", bound=Payload)


@dataclass(frozen=True, init=False)
class Event:
    """One fact about one chair session (or the accounts stream).

    `at` is when it happened at the chair (a premed given at 09:10 and entered at 09:20 has at=09:10);
    the journal adds the session, the sequence number and when it was recorded.
    """

    type: EventType
    at: datetime
    actor: str
    payload: Payload
    seq: int = 0  # assigned by the journal; 0 until recorded
    signoff: SignOff | None = None

    def __init__(
        self,
        type: EventType,
        at: datetime,
        actor: str,
        payload: Payload | Mapping[str, Any] | None = None,
        seq: int = 0,
        signoff: SignOff | None = None,
    ) -> None:
        if at.tzinfo is None:
            raise ValueError("event times must be timezone-aware")
        at = in_utc(at)  # as the journal writes it and a replay reads it back
        if not isinstance(payload, Payload):
            payload, found = decode_entry(type, payload or {})  # PayloadError when it does not fit
            signoff = signoff or found
        elif not isinstance(payload, payload_type(type) | Unreadable):
            raise TypeError(f"a {type} entry carries a {payload_type(type).__name__}, not {payload!r}")
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "actor", actor)
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "seq", seq)
        object.__setattr__(self, "signoff", signoff)

    def recorded_as(self, seq: int) -> Event:
        """This event as the journal recorded it, with its sequence number (nothing else changes)."""
        recorded = object.__new__(Event)
        recorded.__dict__.update(self.__dict__)
        object.__setattr__(recorded, "seq", seq)
        return recorded

    @classmethod
    def from_journal(
        cls, type: EventType, at: datetime, actor: str, data: Mapping[str, Any], seq: int
    ) -> Event:
        """An entry as the journal holds it: one that does not fit its kind is kept as `Unreadable`."""
        payload, signoff = read_entry(type, data)
        return cls(type, at, actor, payload, seq, signoff)

    @classmethod
    def of(cls, payload: Payload, at: datetime, actor: str, signoff: SignOff | None = None) -> Event:
        return cls(payload.event_type, at, actor, payload, signoff=signoff)

    def payload_as(self, kind: builtins.type[P]) -> P:
        """The payload, as the type the caller knows this kind of entry carries."""
        payload = self.payload
        if isinstance(payload, Unreadable):
            raise PayloadError(f"entry {self.seq} ({self.type}) cannot be read: {payload.problem}")
        if not isinstance(payload, kind):
            raise TypeError(f"entry {self.seq} ({self.type}) carries no {kind.__name__}")
        return payload

    @property
    def overrides(self) -> tuple[OverrideRecord, ...]:
        """The guards passed on someone's decision with this entry (most kinds have none)."""
        found: tuple[OverrideRecord, ...] = getattr(self.payload, "overrides", ())
        return found

    @cached_property
    def data(self) -> Mapping[str, Any]:
        """The entry's JSON object, as the journal writes it (payload and sign-off)."""
        return encode_entry(self.payload, self.signoff)


__all__ = [
    "AccountAdded",
    "AccountDisabled",
    "AccountLocked",
    "AccountPinReset",
    "AlarmAcknowledged",
    "AlarmCleared",
    "AlarmEntry",
    "AlarmRaised",
    "BagRecord",
    "CheckedIn",
    "CorrectedFields",
    "CorrectionRecorded",
    "Discharged",
    "Discontinued",
    "Event",
    "EventType",
    "HandedOver",
    "InfusionCompleted",
    "InfusionPaused",
    "InfusionResumed",
    "InfusionStarted",
    "JournalAnchored",
    "JournalLossFound",
    "NotToleratedOutcome",
    "NoteAdded",
    "NurseAssigned",
    "OverrideRecord",
    "Payload",
    "PayloadError",
    "PremedicationGiven",
    "PrescriberReleaseRecord",
    "PriorSeriousReaction",
    "RateChanged",
    "ReactionNotTolerated",
    "ReactionRecorded",
    "Record",
    "ScreeningFinding",
    "ScreeningRecorded",
    "SignInFailed",
    "SignOff",
    "SignedIn",
    "SignedOut",
    "StationLocked",
    "StationUnlocked",
    "SymptomsResolved",
    "Unreadable",
    "VitalsRecorded",
    "decode_entry",
    "encode_entry",
]
