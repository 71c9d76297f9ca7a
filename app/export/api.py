"""One entry point for every export, used by the command line and the GUI worker alike.

It opens its own connection to the database (so it can run on any thread), reads the range once,
writes to a temporary file next to the target and renames it into place only when complete, then
writes the manifest. A cancelled or failed export leaves no partial file behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from app.export.hl7 import Hl7Message, build_messages, write_hl7
from app.export.manifest import write_manifest
from app.export.mllp import send_messages
from app.export.model import ExportError, Progress, Seal, gather, no_progress
from app.export.pdf import write_pdf
from app.export.shifts import ExportRange, LocalTime
from app.export.tabular import write_csv, write_json
from app.private_files import private_file
from app.store.journal import Journal, JournalError

FORMATS = ("pdf", "csv", "json", "hl7")
SUFFIXES = {"pdf": ".pdf", "csv": ".csv", "json": ".json", "hl7": ".hl7"}


@dataclass(frozen=True)
class ExportRequest:
    db_path: Path
    export_range: ExportRange
    fmt: str
    output: Path | None  # None only for HL7 sent over MLLP
    local: LocalTime = field(default_factory=LocalTime)
    paper: str = "a4"
    mllp: tuple[str, int] | None = None
    mllp_timeout_s: float = 10.0
    hl7_sample_interval_min: float = 15.0


@dataclass(frozen=True)
class ExportResult:
    output: Path | None
    manifest: Path | None
    seal: Seal
    sessions: int
    items: int  # rows, pages or messages
    sent: int = 0  # HL7 messages accepted by the MLLP receiver

    def describe(self, fmt: str) -> str:
        unit = {"pdf": "pages", "csv": "rows", "json": "events", "hl7": "messages"}[fmt]
        where = f" to {self.output}" if self.output else ""
        text = (
            f"exported {self.seal.count} journal entries ({self.sessions} sessions, {self.items} {unit}){where}; "
            f"digest {self.seal.digest}"
        )
        if self.sent:
            text += f"; {self.sent} HL7 messages accepted by the receiver"
        return text


def run_export(
    request: ExportRequest, progress: Progress = no_progress, now: datetime | None = None
) -> ExportResult:
    if request.fmt not in FORMATS:
        raise ExportError(f"unknown format {request.fmt!r} (use {', '.join(FORMATS)})")
    if request.output is None and not (request.fmt == "hl7" and request.mllp):
        raise ExportError("say where to write the export (-o FILE)")
    if request.output is not None and not request.output.parent.is_dir():
        raise ExportError(f"the folder {request.output.parent} does not exist: choose another place to save")
    if not request.db_path.exists():
        raise ExportError(f"no database at {request.db_path}")
    try:
        journal = Journal(request.db_path, read_only=True)
    except JournalError as exc:
        raise ExportError(str(exc)) from exc
    with journal:
        log = gather(journal, request.export_range, request.local, now or datetime.now(UTC), progress)

    output = request.output
    temporary = None if output is None else output.with_name(f".{output.name}.part")
    items = 0
    messages: list[Hl7Message] = []
    try:
        if temporary is not None:
            private_file(temporary)  # 0600 before a byte is written; the rename keeps the mode
        if request.fmt == "pdf":
            assert temporary is not None
            items = write_pdf(log, temporary, request.paper, progress)
        elif request.fmt == "csv":
            assert temporary is not None
            items = write_csv(log, temporary)
        elif request.fmt == "json":
            assert temporary is not None
            items = write_json(log, temporary)
        else:
            messages = build_messages(log, request.hl7_sample_interval_min, progress=progress)
            items = len(messages)
            if temporary is not None:
                write_hl7(messages, temporary)
        if temporary is not None and output is not None:
            os.replace(temporary, output)
    except BaseException:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise
    manifest = None
    if output is not None:
        manifest = write_manifest(
            output,
            request.fmt,
            log.seal,
            {
                "range_label": log.range.label,
                "exported_at": log.local.iso(log.exported_at),
                "timezone": log.local.key,
            },
        )
    sent = 0
    if request.mllp is not None:
        host, port = request.mllp
        progress(0.9, f"Sending {len(messages)} HL7 messages to {host}:{port}")
        sent = send_messages(messages, host, port, request.mllp_timeout_s)
    progress(1.0, "Done")
    return ExportResult(output, manifest, log.seal, len(log.sessions), items, sent)
