"""What a shift log holds, read once from the journal and shared by every export format.

The exported range is the journal entries *recorded* in [since, until) (the journal's own range query)
and at or before the journal head read at the start of the export, so an export of a shift still in
progress can be verified later although the journal has grown since. The `Seal` names that range and
its `range_digest`; `chairside verify --export` re-reads exactly that range.

A session that began before the range is shown from its check-in, for context, up to the end of the
range (a session still running then is shown as open); only the entries inside the range are covered
by the seal.
"""

from __future__ import annotations

import hashlib
import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from app.domain.chair import ChairState, InvalidEventSequence, format_time, parse_time
from app.domain.delivery import Delivery, DeliveryChange, step
from app.domain.events import AlarmRaised, CheckedIn, CorrectionRecorded, EventType, ReactionRecorded
from app.domain.phase import Phase
from app.domain.timeline import SessionTimeline
from app.export.shifts import ExportRange, LocalTime
from app.store.journal import STATION_STREAM_PREFIX, Journal, JournalEntry, canonical_json, range_digest
from app.store.telemetry import DEFAULT_KEEP_EVERY_S, PumpSample, keep

SEAL_ALGORITHM = "sha256 over the chain hashes of the entries, in journal order"

Progress = Callable[[float, str], None]  # fraction done (0..1), what is happening


class ExportError(RuntimeError):
    """An export could not be made; the message says why and what to do."""


class ExportCancelled(ExportError):
    """The user cancelled the export; nothing was written."""


def no_progress(_fraction: float, _text: str) -> None:
    return None


@dataclass(frozen=True)
class Seal:
    """The journal range an export covers, and the digest that proves its content."""

    since: datetime
    until: datetime
    head_position: int  # journal head when the export was read: later entries are not in the range
    count: int
    first_position: int | None
    last_position: int | None
    digest: str

    def to_json(self) -> dict[str, Any]:
        return {
            "since": format_time(self.since),
            "until": format_time(self.until),
            "head_position": self.head_position,
            "count": self.count,
            "first_position": self.first_position,
            "last_position": self.last_position,
            "digest": self.digest,
            "algorithm": SEAL_ALGORITHM,
        }

    @classmethod
    def from_json(cls, data: Any) -> Seal:
        try:
            return cls(
                since=parse_time(data["since"]),
                until=parse_time(data["until"]),
                head_position=int(data["head_position"]),
                count=int(data["count"]),
                first_position=None if data["first_position"] is None else int(data["first_position"]),
                last_position=None if data["last_position"] is None else int(data["last_position"]),
                digest=str(data["digest"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ExportError(f"the export's verification record is incomplete or damaged ({exc})") from exc

    @classmethod
    def of(
        cls, since: datetime, until: datetime, head_position: int, entries: Sequence[JournalEntry]
    ) -> Seal:
        return cls(
            since=since,
            until=until,
            head_position=head_position,
            count=len(entries),
            first_position=entries[0].position if entries else None,
            last_position=entries[-1].position if entries else None,
            digest=range_digest(entries),
        )


def journal_head_position(journal: Journal) -> int:
    return journal.head()[0]


def range_entries(
    journal: Journal, since: datetime, until: datetime, head_position: int
) -> list[JournalEntry]:
    # Station streams (sign-in, accounts) are in the chain but are not a chair's shift log
    return [
        e
        for e in journal.entries(since=since, until=until)
        if e.position <= head_position and not e.session_id.startswith(STATION_STREAM_PREFIX)
    ]


NON_PERSON_ACTORS = frozenset({"", "pump", "system", "station"})  # entries nobody signed for


def is_person(actor: str) -> bool:
    return actor not in NON_PERSON_ACTORS


def chair_order(chair: str) -> tuple[object, ...]:
    """Chairs as people count them: Chair 2 before Chair 10 (numbers compared as numbers)."""
    return tuple(int(part) if part.isdigit() else part.casefold() for part in re.split(r"(\d+)", chair))


DELIVERING_STATES = frozenset({"infusing", "kvo"})  # drivers.base.DeliveryState values with flow

TelemetrySample = PumpSample  # a stored pump reading (app.store.telemetry)


def delivered_rate_ml_h(sample: PumpSample) -> float:
    """What flows: the rate while infusing (or KVO), 0 while stopped, paused or alarming (the pump may
    report its programmed rate while stopped)."""
    return sample.rate_ml_h if sample.state in DELIVERING_STATES else 0.0


@dataclass(frozen=True)
class PatientContext:
    chair: str = ""
    patient_initials: str = ""
    patient_mrn: str = ""
    delivery: tuple[DeliveryChange, ...] = ()  # what the entry did to the delivery (app.domain.delivery)


@dataclass
class SessionLog:
    session_id: str
    state: ChairState  # replayed from the session's first entry up to the end of the range
    entries: list[JournalEntry]  # this session's entries inside the range
    earlier_entries: int  # entries recorded before the range (shown for context, sealed elsewhere)
    telemetry: list[TelemetrySample] = field(default_factory=list)
    history: list[JournalEntry] = field(default_factory=list)  # from check-in to the end of the range

    @property
    def chair(self) -> str:
        return self.state.chair

    @property
    def is_open(self) -> bool:
        return not self.state.phase.is_closed


@dataclass(frozen=True)
class AlarmStats:
    priority: str
    raised: int
    acknowledged: int
    median_ack_s: float | None


@dataclass
class ShiftLog:
    range: ExportRange
    local: LocalTime
    seal: Seal
    entries: list[JournalEntry]
    sessions: list[SessionLog]
    contexts: dict[int, PatientContext]  # by journal position: chair and patient as of that entry
    exported_at: datetime

    # -------------------------------------------------------------------------------------------
    # Summary figures (all over the entries inside the range)

    def chairs_used(self) -> list[str]:
        return sorted({s.chair for s in self.sessions if s.entries}, key=chair_order)

    def count_of(self, event_type: EventType) -> int:
        return sum(1 for e in self.entries if e.type == event_type)

    def discontinued_count(self) -> int:
        """Sessions discontinued (not given, for a reaction, by the clinician) by an entry in the range."""
        count = 0
        for session in self.sessions:
            timeline = SessionTimeline.of(session.state)
            if timeline.discontinued and any(e.seq == timeline.session_ended_seq for e in session.entries):
                count += 1
        return count

    def reactions_by_grade(self) -> dict[int, int]:
        grades = Counter(
            int(e.event.payload.grade) for e in self.entries if isinstance(e.event.payload, ReactionRecorded)
        )
        return {grade: grades.get(grade, 0) for grade in (1, 2, 3, 4)}

    def alarm_stats(self) -> list[AlarmStats]:
        states = {s.session_id: s.state for s in self.sessions}
        delays: dict[str, list[float]] = {}
        raised: Counter[str] = Counter()
        for entry in self.entries:
            if entry.type != EventType.ALARM_RAISED:
                continue
            alarm = entry.event.payload_as(AlarmRaised)
            priority = alarm.priority or "unspecified"
            raised[priority] += 1
            state = states.get(entry.session_id)
            record = state.alarms.get(alarm.alarm_id) if state is not None else None
            if record is not None and record.acknowledged_at is not None:
                delays.setdefault(priority, []).append(
                    (record.acknowledged_at - record.raised_at).total_seconds()
                )
        order = {"high": 0, "medium": 1, "low": 2}
        return [
            AlarmStats(
                priority,
                raised[priority],
                len(delays.get(priority, [])),
                statistics.median(delays[priority]) if delays.get(priority) else None,
            )
            for priority in sorted(raised, key=lambda p: (order.get(p, 9), p))
        ]

    def staff(self) -> list[tuple[str, int]]:
        """Everyone who recorded something in the range, with how many entries (people only: the pump
        and the station's own entries are not staff)."""
        return Counter(e.actor for e in self.entries if is_person(e.actor)).most_common()


def gather(
    journal: Journal,
    export_range: ExportRange,
    local: LocalTime,
    now: datetime,
    progress: Progress = no_progress,
    head_position: int | None = None,
    readings_until: datetime | None = None,
) -> ShiftLog:
    """Read the range, the sessions it touches and their pump samples (up to `head_position`, the
    journal head by default, and readings up to `readings_until`, the moment the export was cut;
    verify passes the head and the moment the export recorded, so entries and readings recorded after
    it never change the verdict)."""
    progress(0.0, "Reading the journal")
    head = journal_head_position(journal) if head_position is None else head_position
    entries = range_entries(journal, export_range.since, export_range.until, head)
    seal = Seal.of(export_range.since, export_range.until, head, entries)
    session_ids = list(dict.fromkeys(e.session_id for e in entries))
    in_range: dict[str, list[JournalEntry]] = {}
    for entry in entries:
        in_range.setdefault(entry.session_id, []).append(entry)
    sessions: list[SessionLog] = []
    contexts: dict[int, PatientContext] = {}
    for index, session_id in enumerate(session_ids):
        history = [
            e for e in journal.entries(session_id=session_id, until=export_range.until) if e.position <= head
        ]
        try:
            state = ChairState.replay(session_id, (e.to_event() for e in history))
        except (InvalidEventSequence, KeyError, ValueError) as exc:
            raise ExportError(f"session {session_id} cannot be rebuilt from the journal: {exc}") from exc
        contexts.update(patient_contexts(history))
        first = in_range[session_id][0].position
        log = SessionLog(
            session_id, state, in_range[session_id], sum(1 for e in history if e.position < first)
        )
        log.history = history
        if state.chair:  # the readings up to the moment of the export: later ones never change it
            until = export_range.until if readings_until is None else min(export_range.until, readings_until)
            log.telemetry = session_samples(journal, state.chair, session_id, state.checked_in_at, until)
        sessions.append(log)
        progress(
            0.3 * (index + 1) / max(1, len(session_ids)), f"Reading session {index + 1} of {len(session_ids)}"
        )
    sessions.sort(key=lambda s: (chair_order(s.chair), s.state.checked_in_at or export_range.since))
    return ShiftLog(export_range, local, seal, entries, sessions, contexts, now)


def patient_contexts(history: Iterable[JournalEntry]) -> dict[int, PatientContext]:
    """Chair and patient as of each entry (a correction of the MRN applies from that entry on), and what
    the entry did to the delivery (the delivery rule folded along, as the timeline does)."""
    context = PatientContext()
    delivery = Delivery()
    result = {}
    for entry in history:
        delivery, changes = step(delivery, entry.event)
        payload = entry.event.payload
        if isinstance(payload, CheckedIn):
            context = PatientContext(payload.chair, payload.patient_initials, payload.patient_mrn)
        elif isinstance(payload, CorrectionRecorded):
            corrected = payload.corrected
            context = PatientContext(
                context.chair,
                context.patient_initials
                if corrected.patient_initials is None
                else corrected.patient_initials,
                context.patient_mrn if corrected.patient_mrn is None else corrected.patient_mrn,
            )
        result[entry.position] = replace(context, delivery=tuple(changes))
    return result


def session_samples(
    journal: Journal, chair: str, session_id: str, since: datetime | None, until: datetime | None
) -> list[TelemetrySample]:
    """A session's pump readings in [since, until), oldest first, as compaction leaves them
    (app.store.telemetry.keep with the recorder's defaults: the changes, the reading before each, one
    per 5 minutes), so an export reads the same before and after its session's readings are thinned and
    `verify --export` still matches. With `sample_seal` the one place the exports read the readings."""
    samples = journal.telemetry(chair, since=since, until=until, session_id=session_id)
    kept = keep(samples, journal.recorder.same_rate_ml_h, DEFAULT_KEEP_EVERY_S)
    return [samples[i] for i in kept]


def sample_seal(journal: Journal, after_ms: int, up_to_ms: int) -> dict[str, str]:
    """Per reading stream ("chair|session"), SHA-256 over its stored readings with at_ms in
    (after_ms, up_to_ms], for the anchors (app.export.seals)."""
    if not journal.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pump_readings'"
    ).fetchone():
        return {}
    rows = journal.conn.execute(
        "SELECT s.chair, s.session_id, r.at_ms, r.rate_ml_h, r.volume_ul, r.state, r.alarm_codes, r.link "
        "FROM pump_readings AS r JOIN telemetry_streams AS s ON s.id = r.stream "
        "WHERE r.at_ms > ? AND r.at_ms <= ? ORDER BY s.chair, s.session_id, r.at_ms",
        (after_ms, up_to_ms),
    )
    digests: dict[str, Any] = {}
    for row in rows:
        key = f"{row[0]}|{row[1]}"
        digests.setdefault(key, hashlib.sha256()).update(canonical_json(list(row[2:])).encode("utf-8"))
    return {key: digest.hexdigest() for key, digest in digests.items()}


def compacted_until(journal: Journal) -> dict[str, int]:
    """Per reading stream, up to when its readings were thinned by compaction (0: never)."""
    if not journal.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'telemetry_streams'"
    ).fetchone():
        return {}
    rows = journal.conn.execute("SELECT chair, session_id, compacted_until_ms FROM telemetry_streams")
    return {f"{row[0]}|{row[1]}": int(row[2] or 0) for row in rows}


def phase_label(state: ChairState) -> str:
    if state.phase is Phase.DISCHARGED:
        return "Discharged"
    return f"{state.phase.label} (open at export)"
