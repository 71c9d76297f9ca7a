"""`chairside verify --export FILE`: does this export still match the journal?

1. Find the export's seal: inside a JSON export, in a PDF's XMP metadata, or in FILE.manifest.json
   (required for CSV and HL7). When the manifest is there, the file's SHA-256 must match it (any edit
   of the export, a PDF included, is caught).
2. Re-read exactly the sealed range from the journal: every entry's chain hash must recompute from its
   content (an edited row is caught even when its stored hash was left alone), the hash chain must be
   intact up to the range, and the range's digest and count must equal the seal's.
3. The content, against what the journal gives today: CSV and JSON row by row; HL7 message by
   message (built again with the settings and export time the manifest recorded); PDF page by page
   (laid out again, each page's drawing instructions compared). Any edit, deletion, addition or
   reordering is named. Times are read in the zone the export recorded, so the answer is the same on a
   computer in any time zone. Only an export of this Chairside's own layout (app.export.layouts) is laid
   out again: an older one (layout 0: made before layouts were recorded) or a newer one has steps 1 and 2
   checked, and the answer says its content was not re-laid out (exit 1, never "intact", never "edited").
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from app.bounded_input import BadInputFile, refuse_special
from app.domain.chair import parse_time
from app.export.content import hl7_problems, pdf_overlays, pdf_page_digests, pdf_problems
from app.export.hl7 import build_messages
from app.export.hl7_batch import envelope, envelope_problems, read_file
from app.export.hl7_settings import settings_from_json
from app.export.layouts import LAYOUTS, UNRECORDED
from app.export.manifest import file_sha256, read_manifest
from app.export.model import ExportError, PatientContext, Seal, gather, patient_contexts, range_entries
from app.export.pdf import XMP_TAG, write_pdf
from app.export.records import COLUMNS, entry_row
from app.export.seals import (
    AnchorLog,
    SealError,
    anchor_log_path,
    check_anchor,
    check_anchor_log,
    check_signature,
    trusted_key,
)
from app.export.shifts import ExportRange, LocalTime, ShiftError
from app.export.tabular import JSON_FORMAT, read_csv_rows
from app.paths import default_db_path
from app.store.journal import Journal, JournalEntry, JournalError, canonical_json, chain_hash, range_digest


class ExportMismatch(ExportError):
    """The export and the journal disagree (message says where)."""


class ExportUnchecked(ExportError):
    """The content matches, but something could not be checked (no manifest, no key): never "intact"
    by default. The message says what in one line."""


def _kind(path: Path) -> str:
    head = path.read_bytes()[:8]
    if head.startswith(b"%PDF"):
        return "pdf"
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json", ".hl7"):
        return suffix[1:]
    if head.lstrip(b"\xef\xbb\xbf").startswith(b"{"):
        return "json"
    return "csv"


def _pdf_payload(path: Path) -> dict[str, Any] | None:
    data = path.read_bytes()
    match = re.search(rf"<{XMP_TAG}>(.*?)</{XMP_TAG}>".encode(), data, re.DOTALL)
    if match is None:
        return None
    try:
        payload = json.loads(html.unescape(match.group(1).decode("ascii")))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ExportMismatch(f"{path.name}: the embedded verification record is damaged ({exc})") from exc
    return dict(payload) if isinstance(payload, dict) and "seal" in payload else None


def _check_entries(journal: Journal, seal: Seal) -> list[JournalEntry]:
    entries = range_entries(journal, seal.since, seal.until, seal.head_position)
    for entry in entries:
        recomputed = chain_hash(
            entry.prev_hash,
            entry.position,
            entry.session_id,
            entry.seq,
            entry.occurred_at.isoformat(),
            entry.recorded_at.isoformat(),
            entry.actor,
            entry.type,
            entry.payload_text,
        )
        if recomputed != entry.hash:
            raise ExportMismatch(
                f"journal entry {entry.position} (session {entry.session_id}, seq {entry.seq}, {entry.type}) "
                "was changed after it was recorded: its content no longer matches its hash"
            )
    chain = journal.verify()
    if chain.first_problem is not None and (
        chain.first_problem.position <= seal.head_position or not chain.first_problem.session_id
    ):
        raise ExportMismatch(f"the journal's hash chain is broken: {chain.first_problem}")
    if len(entries) != seal.count:
        raise ExportMismatch(
            f"the journal now holds {len(entries)} entries for this range, the export {seal.count} "
            "(entries were added or removed)"
        )
    digest = range_digest(entries)
    if digest != seal.digest:
        raise ExportMismatch(
            f"the journal's digest for this range is {digest}, the export says {seal.digest}: "
            "the recorded entries differ from what was exported"
        )
    return entries


def _expected_rows(
    journal: Journal, entries: list[JournalEntry], seal: Seal, local: LocalTime
) -> list[list[str]]:
    contexts: dict[int, PatientContext] = {}
    for session_id in dict.fromkeys(e.session_id for e in entries):
        history = [e for e in journal.entries(session_id=session_id) if e.position <= seal.head_position]
        contexts.update(patient_contexts(history))
    return [entry_row(e, contexts.get(e.position, PatientContext()), local) for e in entries]


def _compare_rows(actual: list[list[str]], expected: list[list[str]], what: str) -> None:
    if len(actual) != len(expected):
        counts = f"the {what} has {len(actual)} rows, the journal range {len(expected)}"
        present = {row[0] for row in actual if row}
        missing = [row[0] for row in expected if row[0] not in present]
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise ExportMismatch(f"{counts}: journal entries {shown} are missing (deleted rows)")
        raise ExportMismatch(f"{counts} (rows were added)")
    for number, (got, want) in enumerate(zip(actual, expected, strict=True), start=1):
        if got != want and got and got[0] != want[0]:
            raise ExportMismatch(
                f"row {number} of the {what} is journal entry {got[0]}, the journal has entry {want[0]} there "
                "(rows reordered)"
            )
        if got != want:
            columns = [c for c, g, w in zip(COLUMNS, got, want, strict=False) if g != w] or ["(row length)"]
            raise ExportMismatch(
                f"row {number} of the {what} (journal entry {want[0]}) differs from the journal in: {', '.join(columns)}"
            )


def check_export(path: Path, db_path: Path, public_key: str | None = None) -> str:
    """Raise ExportMismatch (or ExportError) if the export does not match; else a one-line summary.

    The manifest's signature and the anchors it carries are checked with `public_key` (the line
    `chairside keys public` prints on the station), or this computer's station key."""
    if not path.exists():
        raise ExportError(f"no export file at {path}")
    try:
        refuse_special(path)  # a FIFO would block the read for ever
    except BadInputFile as exc:
        raise ExportError(f"{path} {exc}") from None
    kind = _kind(path)
    manifest = read_manifest(path)
    seal_data: Any = None
    document: dict[str, Any] | None = None
    pdf_payload: dict[str, Any] | None = None
    if manifest is not None:
        actual = file_sha256(path)
        if actual != manifest["file_sha256"]:
            raise ExportMismatch(
                f"{path.name} was changed after it was exported: its SHA-256 is {actual}, "
                f"the manifest recorded {manifest['file_sha256']}"
            )
        seal_data = manifest["seal"]
    trusted = None
    signature_problem = ""
    if manifest is not None:
        try:
            trusted = trusted_key(public_key)
        except SealError as exc:
            raise ExportError(str(exc)) from exc
        if trusted is not None:
            try:
                check_signature(manifest, trusted, f"the manifest of {path.name}")
            except SealError as exc:
                signature_problem = str(exc)
    if kind == "json":
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ExportMismatch(f"{path.name} is not readable JSON: {exc}") from exc
        if not isinstance(document, dict) or document.get("format") != JSON_FORMAT:
            raise ExportMismatch(f"{path.name} is not a Chairside shift log")
        if seal_data is not None and seal_data != document.get("seal"):
            raise ExportMismatch(f"the seal inside {path.name} differs from its manifest")
        seal_data = document.get("seal")
    elif kind == "pdf":
        pdf_payload = _pdf_payload(path)
        embedded = None if pdf_payload is None else pdf_payload["seal"]
        if embedded is not None and seal_data is not None and embedded != seal_data:
            raise ExportMismatch(f"the seal inside {path.name} differs from its manifest")
        seal_data = seal_data or embedded
    if seal_data is None:
        raise ExportError(
            f"{path.name} carries no verification record and its manifest {path.name}.manifest.json is missing"
        )
    seal = Seal.from_json(seal_data)
    try:
        made_by = _made_by_layout(path, manifest, document if kind == "json" else pdf_payload)
    except ExportMismatch as exc:
        raise ExportMismatch(f"{exc}; and {signature_problem}" if signature_problem else str(exc)) from None
    lays_out = LAYOUTS[kind]
    zone_source = document if document is not None else manifest
    if kind == "pdf" and zone_source is None:
        zone_source = pdf_payload
    try:
        local = LocalTime.named(str((zone_source or {}).get("timezone", "local")))
    except ShiftError as exc:
        raise ExportError(f"{path.name}: {exc}") from exc
    if not db_path.exists():
        raise ExportError(f"no database at {db_path}")
    try:
        journal = Journal(db_path, read_only=True)  # an archive copy is read, never written beside
    except JournalError as exc:
        raise ExportError(str(exc)) from exc
    # Layout 0 (made before layouts were recorded) is laid out again too: an export of last round's layout
    # that today's gives byte for byte matches. Only when it differs is the older layout not held against it.
    relayout = made_by in (lays_out, UNRECORDED)
    with journal:
        try:
            relaid = _check_content(
                path, kind, journal, seal, local, manifest, document, pdf_payload, trusted, relayout,
                made_by == UNRECORDED,
            )  # fmt: skip
        except ExportMismatch as exc:
            if signature_problem:
                raise ExportMismatch(f"{exc}; and {signature_problem}") from exc
            raise
    if relaid is not None:  # layout 0, laid out differently today
        made_by = UNRECORDED if relaid else lays_out
    if signature_problem:
        raise ExportMismatch(f"{signature_problem} (the export or its manifest was changed after export)")
    span = f"entries {seal.first_position}-{seal.last_position}" if seal.count else "no entries"
    entries = f"{seal.count} entries ({span}), digest {seal.digest}"
    if made_by == lays_out:
        headline = f"{path.name} matches the journal: {entries}"
    else:
        headline = f"{path.name}: the journal still holds what it was made from: {entries}"
        if manifest is not None:
            headline += ", the file hash matches its manifest"
    findings = [] if made_by == lays_out else [_layout_finding(kind, made_by, lays_out, manifest is not None)]
    if manifest is None:
        findings.append(f"signature not checked: no manifest ({path.name}{'.manifest.json'} is missing)")
    elif trusted is None:
        findings.append(
            "signature not checked: no station key on this computer (pass --public-key with "
            "the line `chairside keys public` prints on the station)"
        )
    else:
        headline += ", signature and anchors verified"
    if findings:  # one line per finding
        raise ExportUnchecked(
            "\n".join([f"{headline}; {findings[0]}", *(f"{path.name}: {f}" for f in findings[1:])])
        )
    return headline


def _recorded_layout(record: dict[str, Any], where: str) -> int:
    value = record.get("layout", UNRECORDED)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ExportMismatch(f"{where} records layout {value!r}, which no Chairside writes (edited)")
    return value


def _made_by_layout(path: Path, manifest: dict[str, Any] | None, inside: dict[str, Any] | None) -> int:
    """The layout the export was made by: its manifest's, the one recorded inside a JSON or PDF export
    (the two must agree), or layout 0 when it records none (made before layouts were recorded)."""
    recorded = None if manifest is None else _recorded_layout(manifest, f"the manifest of {path.name}")
    if inside is not None:
        own = _recorded_layout(inside, f"the verification record inside {path.name}")
        if recorded is not None and own != recorded:
            raise ExportMismatch(
                f"the layout recorded inside {path.name} ({own}) differs from its manifest's ({recorded})"
            )
        recorded = own
    return UNRECORDED if recorded is None else recorded


def _layout_finding(kind: str, made_by: int, lays_out: int, sealed_file: bool) -> str:
    if made_by > lays_out:
        return (
            f"content not re-laid out: made by layout {made_by}; this Chairside lays out {lays_out} "
            f"({kind.upper()}): verify it with a Chairside that lays out {made_by}"
        )
    if made_by == UNRECORDED:  # laid out again, and today's layout gives it differently
        said = (
            f"content differs from today's layout: made by layout 0 (before layouts were recorded); this "
            f"Chairside lays out {lays_out} ({kind.upper()})"
        )
        if sealed_file:
            return f"{said}: its signed file hash holds, so the older layout is not read as an edit"
        # nothing outside the file vouches for its bytes: an older layout and an edit look the same here
        return f"{said}: laid out by an older Chairside, or edited (verify it with its manifest)"
    return (
        f"content not re-laid out: made by layout {made_by}; this Chairside lays out {lays_out} "
        f"({kind.upper()}): the older layout is not compared with today's, so no edit is claimed"
    )


def _check_content(
    path: Path,
    kind: str,
    journal: Journal,
    seal: Seal,
    local: LocalTime,
    manifest: dict[str, Any] | None,
    document: dict[str, Any] | None,
    pdf_payload: dict[str, Any] | None,
    trusted: Any,
    relayout: bool,
    unrecorded: bool = False,
) -> bool | None:
    """Anchors carried by the export and the station's anchor log (journal heads and pump samples),
    the sealed journal range, then the content itself (`relayout`: an export of this layout, or of
    layout 0). An export of layout 0 that today's layout gives differently is not an edit for that
    alone: True (laid out differently), False (laid out the same); None for any other layout."""
    carried = (manifest or {}).get("anchors", [])
    log = AnchorLog(anchor_log_path(journal.path))
    try:
        for record in carried:
            check_anchor(journal, record, trusted)
        if log.path.exists():
            check_anchor_log(journal, log, trusted)
            logged = {canonical_json(r) for r in log.records()}
            if any(canonical_json(r) not in logged for r in carried):
                raise SealError(
                    f"the anchor log {log.path.name} lacks the anchors this export carries (replaced)"
                )
    except SealError as exc:
        raise ExportMismatch(str(exc)) from exc
    entries = _check_entries(journal, seal)
    if kind == "pdf":
        _refuse_overlays(path)  # never drawn by any layout
    if not relayout:
        return None
    if unrecorded:
        try:
            _compare_content(path, kind, journal, entries, seal, local, manifest, document, pdf_payload)
        except ExportMismatch:
            return True
        return False
    _compare_content(path, kind, journal, entries, seal, local, manifest, document, pdf_payload)
    return None


def _compare_content(
    path: Path,
    kind: str,
    journal: Journal,
    entries: list[JournalEntry],
    seal: Seal,
    local: LocalTime,
    manifest: dict[str, Any] | None,
    document: dict[str, Any] | None,
    pdf_payload: dict[str, Any] | None,
) -> None:
    """The content, laid out again from the journal, against the export's (ExportMismatch names where)."""
    if kind == "csv":
        try:
            rows = read_csv_rows(path)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ExportMismatch(f"{path.name}: {exc}") from exc
        expected = _expected_rows(journal, entries, seal, local)
        _compare_rows(rows, expected, "CSV")
    elif kind == "json" and document is not None:
        events = document.get("events")
        if not isinstance(events, list):
            raise ExportMismatch(f"{path.name} has no events list")
        actual_rows = [_json_row(item) for item in events]
        expected = _expected_rows(journal, entries, seal, local)
        _compare_rows(actual_rows, expected, "JSON events")
    elif kind == "hl7":
        _check_hl7(path, journal, seal, local, manifest)
    elif kind == "pdf":
        _check_pdf(path, journal, seal, local, manifest, pdf_payload)


def _export_time(record: dict[str, Any] | None, key: str, path: Path) -> Any:
    try:
        return parse_time(str((record or {})[key]))
    except (KeyError, ValueError) as exc:
        raise ExportError(
            f"{path.name} does not record its export time: made by an older Chairside, its content "
            "cannot be checked (export it again)"
        ) from exc


def _regathered(journal: Journal, seal: Seal, local: LocalTime, exported_at: Any, label: str) -> Any:
    export_range = ExportRange(seal.since, seal.until, label)
    return gather(
        journal,
        export_range,
        local,
        exported_at,
        head_position=seal.head_position,
        readings_until=exported_at,
    )


def _check_hl7(
    path: Path, journal: Journal, seal: Seal, local: LocalTime, manifest: dict[str, Any] | None
) -> None:
    if manifest is None:
        raise ExportError(f"{path.name} needs its manifest {path.name}.manifest.json to be checked")
    try:
        settings = settings_from_json(manifest.get("hl7"))
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"the manifest of {path.name} has no usable HL7 settings ({exc})") from exc
    exported_at = _export_time(manifest, "exported_at_utc", path)
    log = _regathered(journal, seal, local, exported_at, str(manifest.get("range_label", "")))
    expected = build_messages(log, settings)
    try:
        found = read_file(path)  # the messages, and the batch envelope when it has one
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportMismatch(f"{path.name} cannot be read: {exc}") from exc
    wanted = envelope(settings, log.local, exported_at, len(expected)) if manifest.get("hl7_batch") else None
    problems = envelope_problems(found.envelope, wanted) + hl7_problems(found.messages, expected)
    if problems:
        raise ExportMismatch(f"{path.name}: " + "; ".join(problems))


def _check_pdf(
    path: Path,
    journal: Journal,
    seal: Seal,
    local: LocalTime,
    manifest: dict[str, Any] | None,
    payload: dict[str, Any] | None,
) -> None:
    record = payload if payload is not None and "paper" in payload else manifest
    key = "exported_at" if record is payload else "exported_at_utc"
    exported_at = _export_time(record, key, path)
    paper = str((record or {}).get("paper", "a4"))
    log = _regathered(journal, seal, local, exported_at, str((record or {}).get("range_label", "")))
    try:
        actual = pdf_page_digests(path)
    except ValueError as exc:
        raise ExportMismatch(str(exc)) from exc
    with tempfile.TemporaryDirectory(prefix="chairside-verify-") as folder:
        again = Path(folder) / "expected.pdf"
        write_pdf(log, again, paper)
        expected = pdf_page_digests(again)
    problems = pdf_problems(actual, expected)
    if problems:
        raise ExportMismatch(f"{path.name}: " + "; ".join(problems))


def _refuse_overlays(path: Path) -> None:
    try:
        added = pdf_overlays(path)
    except ValueError as exc:
        raise ExportMismatch(str(exc)) from exc
    if added:  # drawn over the pages when shown or printed, outside the pages' drawing instructions
        raise ExportMismatch(f"{path.name}: added after export, visible over the pages: {'; '.join(added)}")


def _json_row(item: Any) -> list[str]:
    if not isinstance(item, dict):
        return []
    row = []
    for column in COLUMNS:
        value = item.get(column, "")
        if column == "values":
            value = canonical_json(value)
        row.append(str(value))
    return row


def verify_export(args: argparse.Namespace) -> int:
    db_path = Path(args.db) if getattr(args, "db", None) else default_db_path()
    path = Path(args.export)
    try:
        summary = check_export(path, db_path, getattr(args, "public_key", None))
    except ExportMismatch as exc:
        print(f"export does NOT match the journal: {exc}", file=sys.stderr)
        return 1
    except ExportUnchecked as exc:
        print(f"export NOT fully verified: {exc}", file=sys.stderr)
        return 1
    except ExportError as exc:
        print(f"cannot verify {path}: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0
