"""One row per journal entry, with stable columns, shared by the CSV and JSON exports and by verify.

The row keeps the entry's own payload text (the canonical JSON the hash covers) and its chain hash, so
"the rows equal the journal" is a comparison of strings; the readable `summary` column is derived.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.domain.chair import parse_time
from app.domain.delivery import change_words
from app.domain.events import EventType
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

VITAL_LABELS = (
    ("temperature_c", "T", "°C"),
    ("heart_rate_bpm", "HR", "/min"),
    ("respiratory_rate_per_min", "RR", "/min"),
    ("spo2_percent", "SpO2", "%"),
)


def num(value: Any) -> str:
    """A number as people write it: 40, 12.5, 0.25 (no trailing zeros, no exponent)."""
    if value is None or value == "":
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{number:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def vitals_text(values: Mapping[str, Any]) -> str:
    parts = []
    if "systolic_mmhg" in values or "diastolic_mmhg" in values:
        parts.append(f"BP {num(values.get('systolic_mmhg'))}/{num(values.get('diastolic_mmhg'))}")
    for key, label, unit in VITAL_LABELS:
        if key in values:
            parts.append(f"{label} {num(values[key])}{unit}")
    known = {"systolic_mmhg", "diastolic_mmhg", *(k for k, _, _ in VITAL_LABELS)}
    parts += [f"{key} {num(v)}" for key, v in sorted(values.items()) if key not in known]
    return ", ".join(parts)


def _overrides(payload: Mapping[str, Any]) -> str:
    items = payload.get("overrides") or []
    return "".join(
        f"; OVERRIDE {item.get('guard', '')} by {item.get('by', '')}: {item.get('reason', '')}"
        for item in items
    )


def describe(entry: JournalEntry, local: LocalTime) -> str:
    """A short readable line for one journal entry."""
    p = entry.payload
    kind = entry.type
    text: str
    if kind == EventType.CHECKED_IN:
        bag = p.get("bag", {})
        name = p.get("protocol", {}).get("name", p.get("protocol_id", ""))
        prepared = local.stamp(_time(bag.get("prepared_at")))
        text = (
            f"checked in to {p.get('chair', '')}: {name}; bag {num(bag.get('volume_ml'))} mL, "
            f"lot {bag.get('lot', '')}, expiry {bag.get('expiry', '')}, prepared {prepared}"
        )
    elif kind == EventType.SCREENING_RECORDED:
        answers = p.get("answers", {})
        findings = p.get("findings") or []
        found = "; ".join(
            f"{f.get('question', '')} {f.get('answer', '')} ({f.get('outcome', '')})" for f in findings
        )
        text = f"screening: {len(answers)} questions answered, " + (
            f"findings: {found}" if found else "no findings"
        )
    elif kind == EventType.PREMEDICATION_GIVEN:
        text = f"premedication: {p.get('drug', '')} {p.get('dose', '')} {p.get('route', '')}"
    elif kind == EventType.INFUSION_STARTED:
        text = f"infusion started at {num(p.get('rate_ml_h'))} mL/h"
    elif kind == EventType.RATE_CHANGED:
        reason = f": {p['reason']}" if p.get("reason") else ""
        text = (
            f"rate {num(p.get('rate_ml_h'))} mL/h (was {num(p.get('previous_rate_ml_h'))}, "
            f"plan {num(p.get('planned_rate_ml_h'))}; by {p.get('source', '')}{reason})"
        )
    elif kind == EventType.INFUSION_PAUSED:
        text = f"infusion paused ({p.get('source', '')}): {p.get('reason', '')}"
    elif kind == EventType.INFUSION_RESUMED:
        restart = p.get("restart_rate_ml_h")
        text = "infusion resumed" + (
            f" after reaction (entry {p.get('after_reaction_seq')}), restart at {num(restart)} mL/h"
            if restart is not None
            else ""
        )
    elif kind == EventType.REACTION_RECORDED:
        signs = ", ".join(p.get("signs") or []) or "no signs listed"
        action = p.get("action") or "after the infusion (no rate action)"
        after = num(p.get("new_rate_ml_h")) if p.get("action") == "halve_rate" else "0"
        text = (
            f"grade {p.get('grade')} reaction: {signs}; action {action}; "
            f"rate at onset {num(p.get('rate_at_onset_ml_h'))} -> {after} mL/h"
        )
        if p.get("restart_rate_ml_h"):
            text += f", restart at {num(p['restart_rate_ml_h'])} mL/h once resolved"
        if p.get("notes"):
            text += f"; notes: {p['notes']}"
    elif kind == EventType.VITALS_RECORDED:
        alerts = p.get("alerts") or []
        text = (
            "vitals: "
            + vitals_text(p.get("values", {}))
            + (f" (ALERT: {'; '.join(alerts)})" if alerts else "")
        )
    elif kind == EventType.INFUSION_COMPLETED:
        reason = f", {p['reason']}" if p.get("reason") else ""
        text = (
            f"infusion complete ({p.get('source', '')}{reason}), volume {num(p.get('volume_infused_ml'))} mL"
        )
    elif kind == EventType.DISCHARGED:
        text = "discharged"
    elif kind == EventType.DISCONTINUED:
        text = f"discontinued: {p.get('reason', '')}"
    elif kind == EventType.CORRECTION_RECORDED:
        corrected = ", ".join(f"{k} = {v}" for k, v in sorted(p.get("corrected", {}).items()))
        text = f"correction of entry {p.get('target_seq')} ({p.get('target_type', '')}): {corrected}; reason: {p.get('reason', '')}"
    elif kind == EventType.NOTE_ADDED:
        target = f" (on entry {p['target_seq']})" if p.get("target_seq") is not None else ""
        text = f"note{target}: {p.get('text', '')}"
    elif kind == EventType.ALARM_RAISED:
        text = f"{p.get('priority', '')} alarm {p.get('rule', '')} raised: {p.get('message', '')}"
    elif kind == EventType.ALARM_ACKNOWLEDGED:
        text = f"alarm acknowledged: {p.get('message', '')}"
    elif kind == EventType.ALARM_CLEARED:
        text = f"alarm cleared: {p.get('message', '')}"
    else:
        text = kind.replace("_", " ")
    return text + _overrides(p)


def _time(value: Any) -> Any:
    return parse_time(value) if isinstance(value, str) and value else None


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
