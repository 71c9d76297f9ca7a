"""One row per journal entry, with stable columns, shared by the CSV and JSON exports and by verify.

The row keeps the entry's own payload text (the canonical JSON the hash covers) and its chain hash, so
"the rows equal the journal" is a comparison of strings; the readable `summary` column is derived.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.delivery import change_words
from app.domain.describe import Audience
from app.domain.describe import describe as describe_event
from app.domain.describe import vitals_text as vitals_text
from app.export.model import PatientContext, ShiftLog
from app.export.shifts import LocalTime
from app.store.journal import JournalEntry

# Never reorder or rename: spreadsheets and interfaces downstream read these by name and position.
COLUMNS = (
    "position",
    "recorded_at",
    "occurred_at",
    "chair",
    "session_id",
    "seq",
    "patient_initials",
    "patient_mrn",
    "event_type",
    "summary",
    "values",
    "actor",
    "hash",
)


def describe(entry: JournalEntry, local: LocalTime) -> str:
    """The summary column: the entry in the record's words (app.domain.describe), times in the
    export's zone."""
    return describe_event(entry.event, Audience.CSV, local.stamp)


def _with_delivery(summary: str, delivery: str) -> str:
    return f"{summary}; {delivery}" if delivery else summary


def entry_row(entry: JournalEntry, context: PatientContext, local: LocalTime) -> list[str]:
    return [
        str(entry.position),
        local.iso(entry.recorded_at),
        local.iso(entry.occurred_at),
        context.chair,
        entry.session_id,
        str(entry.seq),
        context.patient_initials,
        context.patient_mrn,
        entry.type,
        _with_delivery(describe(entry, local), change_words(context.delivery, entry.occurred_at, local.hhmm)),
        entry.payload_text,
        entry.actor,
        entry.hash,
    ]


def event_rows(log: ShiftLog) -> list[list[str]]:
    return [entry_row(e, log.contexts.get(e.position, PatientContext()), log.local) for e in log.entries]


def row_dicts(rows: Sequence[Sequence[str]]) -> list[dict[str, str]]:
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]
