"""Every journal entry in words: ONE `describe(event, audience)` for the chair's timeline (SCREEN), the
shift PDF (PDF), the CSV/JSON summary column (CSV) and HL7 notes (HL7).

The audiences differ in register, not in facts: the screen is short and capitalised with rates as the
screens show them (`rate_text`); the record (CSV, PDF) spells out every field that matters, numbers as
people write them (`number_text`); HL7 notes are sentences a receiving system shows as they are.
Times inside a text (a bag's preparation) are formatted by the caller's clock face (`stamp`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from app.domain.alarms import ALARM_RULES, AlarmCategory
from app.domain.events import (
    AlarmAcknowledged,
    AlarmCleared,
    AlarmRaised,
    CheckedIn,
    CorrectedFields,
    CorrectionRecorded,
    Discharged,
    Discontinued,
    Event,
    HandedOver,
    InfusionCompleted,
    InfusionPaused,
    InfusionResumed,
    InfusionStarted,
    NoteAdded,
    NotToleratedOutcome,
    NurseAssigned,
    OverrideRecord,
    PremedicationGiven,
    PrescriberReleaseRecord,
    RateChanged,
    ReactionNotTolerated,
    ReactionRecorded,
    ScreeningRecorded,
    SymptomsResolved,
    VitalsRecorded,
)
from app.domain.events.codec import encode_record
from app.domain.protocol import ReactionAction


class Audience(Enum):
    SCREEN = "screen"  # the chair's timeline
    PDF = "pdf"  # the shift PDF (corrections, notes, overrides and releases)
    CSV = "csv"  # the CSV and JSON exports' summary column
    HL7 = "hl7"  # NTE comments of the HL7 export and feed


NOTIFICATION_RULES = frozenset(r.id for r in ALARM_RULES if r.category is AlarmCategory.NOTIFICATION)
VITAL_LABELS = (
    ("temperature_c", "T", "°C"),
    ("heart_rate_bpm", "HR", "/min"),
    ("respiratory_rate_per_min", "RR", "/min"),
    ("spo2_percent", "SpO2", "%"),
)


def rate_text(rate: float | None) -> str:
    """A rate as the screens show it: '40 mL/h', '12.5 mL/h', '–' when unknown."""
    return "–" if rate is None else f"{rate:g} mL/h" if rate == int(rate) else f"{rate:.1f} mL/h"


def number_text(value: Any) -> str:
    """A number as people write it in a record: 40, 12.5, 0.25 (no trailing zeros, no exponent)."""
    if value is None or value == "":
        return "-"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{number:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def vitals_text(values: Mapping[str, Any]) -> str:
    """Vital signs for the record: 'BP 124/78, T 36.8°C, HR 72/min'."""
    num = number_text
    parts = []
    if "systolic_mmhg" in values or "diastolic_mmhg" in values:
        parts.append(f"BP {num(values.get('systolic_mmhg'))}/{num(values.get('diastolic_mmhg'))}")
    for key, label, unit in VITAL_LABELS:
        if key in values:
            parts.append(f"{label} {num(values[key])}{unit}")
    known = {"systolic_mmhg", "diastolic_mmhg", *(k for k, _, _ in VITAL_LABELS)}
    parts += [f"{key} {num(v)}" for key, v in sorted(values.items()) if key not in known]
    return ", ".join(parts)


def corrected_text(corrected: CorrectedFields) -> str:
    """What a correction sets, 'field = value', as it was recorded."""
    return ", ".join(f"{k} = {v}" for k, v in sorted(encode_record(corrected).items()))


def is_notification(event: Event) -> bool:
    """A raised 'alarm' that is news (a notification rule), not an alarm: no priority, no alarm colour."""
    return isinstance(event.payload, AlarmRaised) and event.payload.rule in NOTIFICATION_RULES


def _screen_overrides(overrides: tuple[OverrideRecord, ...]) -> str:
    if not overrides:
        return ""
    return " [OVERRIDE by " + ", ".join(f"{o.by}: {o.reason}" for o in overrides) + "]"


def _record_overrides(overrides: tuple[OverrideRecord, ...]) -> str:
    return "".join(f"; OVERRIDE {o.guard} by {o.by}: {o.reason}" for o in overrides)


def release_words(event: Event) -> str:
    """A discharge's prescriber's release in words ('' for any other entry): what a reader that shows
    only some entries (the HL7 export's notes) asks to know whether this one has something to say."""
    return _release(event.payload.prescriber_release) if isinstance(event.payload, Discharged) else ""


def _release(release: PrescriberReleaseRecord | None) -> str:
    """A prescriber's release, its co-signer named by account as every signer is ('' without one, and
    for an entry from before co-signers signed in, whose co-signer is a typed name: its texts stay the
    ones exports made then carry, so they still verify)."""
    if release is None or release.cosigner_name is None:
        return ""
    note = f" ({release.note})" if release.note else ""
    return (
        f"{release.prescriber}'s release{note}, co-signed by {release.cosigned_by} ({release.cosigner_name})"
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def describe(event: Event, audience: Audience, stamp: Callable[[datetime], str] = _iso) -> str:
    """What `event` says, in the words of `audience` (no time, sequence number or signer: the screen
    and each export frame the text their own way)."""
    if audience is Audience.SCREEN:
        return _screen(event) + _screen_overrides(event.overrides)
    if audience is Audience.HL7:
        return _hl7(event)
    if audience is Audience.PDF:
        return _pdf(event)
    return _record(event, stamp) + _record_overrides(event.overrides)


def _from_pump(source: str) -> str:
    return " (from the pump)" if source == "pump" else ""


def _action_words(action: ReactionAction | None, absent: str) -> str:
    return absent if action is None else action.value


def _screen(event: Event) -> str:
    match event.payload:
        case CheckedIn() as p:
            return f"Checked in {p.patient_initials} ({p.patient_mrn}), {p.protocol_id}, bag lot {p.bag.lot}"
        case ScreeningRecorded(findings=findings):
            return "Screening: " + (
                "; ".join(f"{f.question} {f.answer}" for f in findings) if findings else "no findings"
            )
        case PremedicationGiven() as p:
            repeat = " (repeat dose)" if p.repeat else ""
            return f"Premed {p.drug} {p.dose} {p.route}{repeat}"
        case InfusionStarted(rate_ml_h=rate):
            return f"Infusion started at {rate_text(float(rate))}"
        case RateChanged() as p:
            previous = p.previous_rate_ml_h
            before = "" if previous is None else f" from {rate_text(float(previous))}"
            return f"Rate{before} to {rate_text(float(p.rate_ml_h))}{_from_pump(p.source)}"
        case InfusionPaused() as p:
            return f"Paused: {p.reason}{_from_pump(p.source)}"
        case InfusionResumed() as p:
            return f"Resumed{_from_pump(p.source)}"
        case ReactionRecorded() as p:
            return _screen_reaction(p)
        case VitalsRecorded() as p:
            text = "Vitals " + ", ".join(f"{k.split('_')[0]} {v:g}" for k, v in p.values.items())
            return text + (" ⚠ " + "; ".join(p.alerts) if p.alerts else "")
        case InfusionCompleted() as p:
            volume = "" if p.volume_infused_ml is None else f", {float(p.volume_infused_ml):.0f} mL"
            return f"Infusion complete{volume}{_from_pump(p.source)}"
        case Discharged(prescriber_release=release) if _release(release):
            return f"Discharged on {_release(release)}"
        case Discharged():
            return "Discharged"
        case Discontinued(reason=reason):
            return f"Discontinued: {reason}"
        case CorrectionRecorded() as p:
            return f"Correction of #{p.target_seq}: {encode_record(p.corrected)} because {p.reason}"
        case NoteAdded() as p:
            about = f" (on #{p.target_seq})" if p.target_seq else ""
            return f"Note{about}: {p.text}"
        case SymptomsResolved(notes=notes):
            return "Symptoms resolved" + (f": {notes}" if notes else "")
        case ReactionNotTolerated() as p:
            outcome = "pump stopped" if p.outcome is NotToleratedOutcome.STOP else "re-graded"
            return f"Reduced rate not tolerated, {outcome}" + (f": {p.reason}" if p.reason else "")
        case NurseAssigned(nurse=nurse):
            return f"Responsible nurse: {nurse}"
        case HandedOver() as p:
            notes = f" ({p.notes})" if p.notes else ""
            return f"Handed over from {p.from_nurse or 'nobody'} to {p.to_nurse}{notes}"
        case AlarmRaised() as p if p.rule in NOTIFICATION_RULES:
            return f"ℹ {p.message}"  # news, not an alarm
        case AlarmRaised() | AlarmAcknowledged() | AlarmCleared() as p:
            verb = event.type.value.removeprefix("alarm_")
            return f"Alarm {verb} ({p.priority}): {p.message}"
    return event.type.value


def _screen_reaction(p: ReactionRecorded) -> str:
    signs = ", ".join(p.signs) or "no signs ticked"
    action = _action_words(p.action, "recorded after the infusion").replace("_", " ")
    text = f"REACTION grade {int(p.grade)}: {signs}; {action}"
    if p.regrades_seq:
        text = f"REACTION re-graded (#{p.regrades_seq}) to grade {int(p.grade)}: {signs}; {action}"
    if float(p.rate_at_onset_ml_h) > 0:
        text += f" (pump {rate_text(float(p.rate_at_onset_ml_h))} at onset)"
    if p.action is ReactionAction.HALVE_RATE:
        text += f" → {rate_text(float(p.new_rate_ml_h))}"
    elif p.action is ReactionAction.STOP_THEN_RESTART:
        text += f" → restart at {rate_text(float(p.restart_rate_ml_h))}"
    return text


def _recorded_source(p: RateChanged | InfusionPaused | InfusionCompleted) -> str:
    """Who documented it, as the entry says ('' for the earliest entries, which did not say: the
    record's text of an entry never changes, so exports made before still verify)."""
    return "" if "source" in p.absent else p.source


def _record(event: Event, stamp: Callable[[datetime], str]) -> str:
    num = number_text
    match event.payload:
        case CheckedIn() as p:
            name = p.protocol.get("name", p.protocol_id)
            bag = p.bag
            return (
                f"checked in to {p.chair}: {name}; bag {num(bag.volume_ml)} mL, lot {bag.lot}, "
                f"expiry {bag.expiry.isoformat()}, prepared {stamp(bag.prepared_at)}"
            )
        case ScreeningRecorded() as p:
            found = "; ".join(f"{f.question} {f.answer} ({f.outcome})" for f in p.findings)
            return f"screening: {len(p.answers)} questions answered, " + (
                f"findings: {found}" if found else "no findings"
            )
        case PremedicationGiven() as p:
            return f"premedication: {p.drug} {p.dose} {p.route}"
        case InfusionStarted(rate_ml_h=rate):
            return f"infusion started at {num(rate)} mL/h"
        case RateChanged() as p:
            reason = f": {p.reason}" if p.reason else ""
            return (
                f"rate {num(p.rate_ml_h)} mL/h (was {num(p.previous_rate_ml_h)}, "
                f"plan {num(p.planned_rate_ml_h)}; by {_recorded_source(p)}{reason})"
            )
        case InfusionPaused() as p:
            return f"infusion paused ({_recorded_source(p)}): {p.reason}"
        case InfusionResumed() as p:
            if p.restart_rate_ml_h is None:
                return "infusion resumed"
            return (
                f"infusion resumed after reaction (entry {p.after_reaction_seq}), restart at "
                f"{num(p.restart_rate_ml_h)} mL/h"
            )
        case ReactionRecorded() as p:
            signs = ", ".join(p.signs) or "no signs listed"
            action = _action_words(p.action, "after the infusion (no rate action)")
            after = num(p.new_rate_ml_h) if p.action is ReactionAction.HALVE_RATE else "0"
            text = (
                f"grade {int(p.grade)} reaction: {signs}; action {action}; "
                f"rate at onset {num(p.rate_at_onset_ml_h)} -> {after} mL/h"
            )
            if p.restart_rate_ml_h:
                text += f", restart at {num(p.restart_rate_ml_h)} mL/h once resolved"
            return text + (f"; notes: {p.notes}" if p.notes else "")
        case VitalsRecorded() as p:
            alerts = f" (ALERT: {'; '.join(p.alerts)})" if p.alerts else ""
            return "vitals: " + vitals_text(p.values) + alerts
        case InfusionCompleted() as p:
            reason = f", {p.reason}" if p.reason else ""
            return f"infusion complete ({_recorded_source(p)}{reason}), volume {num(p.volume_infused_ml)} mL"
        case Discharged(prescriber_release=release) if _release(release):
            return f"discharged on {_release(release)}"
        case Discharged():
            return "discharged"
        case Discontinued(reason=reason):
            return f"discontinued: {reason}"
        case CorrectionRecorded() as p:
            return (
                f"correction of entry {p.target_seq} ({p.target_type}): {corrected_text(p.corrected)}; "
                f"reason: {p.reason}"
            )
        case NoteAdded() as p:
            target = f" (on entry {p.target_seq})" if p.target_seq is not None else ""
            return f"note{target}: {p.text}"
        case AlarmRaised() as p:
            return f"{p.priority} alarm {p.rule} raised: {p.message}"
        case AlarmAcknowledged(message=message):
            return f"alarm acknowledged: {message}"
        case AlarmCleared(message=message):
            return f"alarm cleared: {message}"
    return event.type.value.replace("_", " ")


def _pdf(event: Event) -> str:
    """The PDF's 'corrections, notes, overrides and releases' column: what was corrected or noted, a
    prescriber's release with its co-signer, and every override with the guard's own words."""
    parts = []
    match event.payload:
        case CorrectionRecorded() as p:
            parts.append(f"corrects entry {p.target_seq}: {corrected_text(p.corrected)}; reason: {p.reason}")
        case NoteAdded(text=text):
            parts.append(text)
        case Discharged(prescriber_release=release) if _release(release):
            parts.append(f"discharged on {_release(release)}")
    for o in event.overrides:
        parts.append(f"override of {o.guard} ({o.message}) by {o.by}: {o.reason}")
    return "; ".join(parts)


def _hl7(event: Event) -> str:
    match event.payload:
        case ReactionRecorded() as p:
            signs = ", ".join(p.signs) or "no signs listed"
            action = _action_words(p.action, "no rate action")
            return f"Grade {int(p.grade)} infusion reaction: {signs}; action: {action}"
        case NoteAdded() as p:
            target = f" (on entry {p.target_seq})" if p.target_seq is not None else ""
            return f"Note by {event.actor}{target}: {p.text}"
    return _record(event, _iso)
