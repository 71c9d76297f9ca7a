"""One entry point for every export, used by the command line and the GUI worker alike.

It opens its own connection to the database (so it can run on any thread), reads the range once,
writes to a temporary file next to the target and renames it into place only when complete, then
writes the manifest. A cancelled or failed export leaves no partial file behind.
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.bounded_input import BadInputFile, refuse_special
from app.export.content import pdf_page_digests
from app.export.hl7 import Hl7Message, build_messages, write_hl7
from app.export.hl7_batch import write_batch
from app.export.hl7_settings import Hl7Settings, settings_to_json
from app.export.layouts import LAYOUTS
from app.export.manifest import write_manifest
from app.export.mllp import Cursor, send_messages
from app.export.model import ExportError, Progress, Seal, gather, no_progress
from app.export.pdf import write_pdf
from app.export.seals import AnchorLog, SealError, anchor_log_path, key_path, load_key, refuse_lost_entries
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
    hl7_sample_interval_min: float | None = None  # None: the settings' own (15 unless configured)
    hl7_settings: Hl7Settings = field(default_factory=Hl7Settings)
    hl7_batch: bool = False  # the file's messages in an FHS/BHS batch envelope (app.export.hl7_batch)

    @property
    def hl7(self) -> Hl7Settings:
        if self.hl7_sample_interval_min is None:
            return self.hl7_settings
        return replace(self.hl7_settings, sample_interval_min=self.hl7_sample_interval_min)


@dataclass(frozen=True)
class ExportResult:
    output: Path | None
    manifest: Path | None
    seal: Seal
    sessions: int
    items: int  # rows, pages or messages
    sent: int = 0  # HL7 messages accepted by the MLLP receiver in this run
    resumed: int = 0  # HL7 messages it had accepted before (skipped: the export resumed)
    warnings: tuple[str, ...] = ()  # what the export could not do (unsigned, no anchor), one line each

    def describe(self, fmt: str) -> str:
        unit = {"pdf": "pages", "csv": "rows", "json": "events", "hl7": "messages"}[fmt]
        where = f" to {self.output}" if self.output else ""
        text = (
            f"exported {self.seal.count} journal entries ({self.sessions} sessions, {self.items} {unit}){where}; "
            f"digest {self.seal.digest}"
        )
        if self.sent or self.resumed:
            text += f"; {self.sent} HL7 messages accepted by the receiver"
        if self.resumed:
            text += f" (resumed: {self.resumed} were accepted before)"
        return text


_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _complete_pdf_pages(path: Path) -> list[str]:
    """The written PDF's page digests (for the manifest); a PDF cut short (a full disk the PDF writer
    did not report) is refused before it replaces anything."""
    reader_log = logging.getLogger("pypdf")
    level = reader_log.level
    reader_log.setLevel(logging.ERROR)  # a cut PDF is said once, below, not in pypdf's words
    try:
        return pdf_page_digests(path)
    except ValueError as exc:
        raise OSError(errno.ENOSPC, f"the PDF was not written completely ({exc})") from exc
    finally:
        reader_log.setLevel(level)


def run_export(
    request: ExportRequest, progress: Progress = no_progress, now: datetime | None = None
) -> ExportResult:
    if request.fmt not in FORMATS:
        raise ExportError(f"unknown format {request.fmt!r} (use {', '.join(FORMATS)})")
    if request.output is None and not (request.fmt == "hl7" and request.mllp):
        raise ExportError("say where to write the export (-o FILE)")
    if request.output is not None and not request.output.parent.is_dir():
        raise ExportError(f"the folder {request.output.parent} does not exist: choose another place to save")
    if request.output is not None:
        try:
            refuse_special(request.output)  # the rename would replace a device or a FIFO
        except BadInputFile as exc:
            raise ExportError(f"{request.output} {exc}: choose a file name") from None
    if not request.db_path.exists():
        raise ExportError(f"no database at {request.db_path}")
    try:
        journal = Journal(request.db_path, read_only=True)
    except JournalError as exc:
        raise ExportError(str(exc)) from exc
    local = request.local.resolved()  # a named zone, so the export reads the same anywhere
    warnings: list[str] = []
    key = None
    try:  # only a station creates its key; an export reads an archive copy without writing beside it
        key = load_key() if key_path().exists() else None
        if key is None:
            warnings.append("the export is NOT signed: there is no station key on this computer")
    except (OSError, SealError) as exc:  # e.g. an archive exported by another user: say so, go on
        warnings.append(f"the export is NOT signed: the station key cannot be read ({exc})")
    anchors_log = AnchorLog(anchor_log_path(request.db_path))
    anchors: list[dict[str, Any]] = []
    with journal:
        try:
            refuse_lost_entries(journal)
        except JournalError as exc:
            raise ExportError(str(exc)) from exc
        cut_at = now or datetime.now(UTC)  # the moment this export is cut: verify reads the journal as of it
        log = gather(journal, request.export_range, local, cut_at, progress, readings_until=cut_at)
        try:
            anchors = anchors_log.records()[-1:]  # the station's newest anchor; none is added here
        except (OSError, SealError) as exc:
            warnings.append(f"the export carries no journal anchor ({exc})")

    output = request.output
    temporary = None if output is None else output.with_name(f".{output.name}.part")
    items = 0
    messages: list[Hl7Message] = []
    pages: list[str] = []
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
            messages = build_messages(log, request.hl7, progress=progress)
            items = len(messages)
            if temporary is not None and request.hl7_batch:
                write_batch(messages, temporary, request.hl7, log.local, log.exported_at)
            elif temporary is not None:
                write_hl7(messages, temporary)
        if request.fmt == "pdf" and temporary is not None:
            pages = _complete_pdf_pages(temporary)
        if temporary is not None and output is not None:
            os.replace(temporary, output)  # all or nothing: the old file, or the whole new one
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        if exc.errno in _DISK_FULL:
            raise ExportError(
                f"disk full: {output} was not written (nothing half-written was left); free space and export again"
            ) from None
        raise
    except BaseException:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise
    manifest = None
    if output is not None:
        extra: dict[str, Any] = {
            "layout": LAYOUTS[request.fmt],  # verify re-lays out only an export of its own layout
            "range_label": log.range.label,
            "exported_at": log.local.iso(log.exported_at),
            "exported_at_utc": log.exported_at.isoformat(),
            "timezone": log.local.key,
            "utc_offsets": log.local.offsets(log.range.since, log.range.until),
            "anchors": anchors,
        }
        if request.fmt == "hl7":
            extra["hl7"] = settings_to_json(request.hl7, log.chairs_used())
            extra["hl7_batch"] = request.hl7_batch
        if request.fmt == "pdf":
            extra["paper"] = request.paper
            extra["pages"] = pages
        manifest = write_manifest(output, request.fmt, log.seal, extra, key)
    sent = resumed = 0
    if request.mllp is not None:
        host, port = request.mllp
        progress(0.9, f"Sending {len(messages)} HL7 messages to {host}:{port}")
        cursor = Cursor(
            request.db_path.with_name(request.db_path.name + ".mllp-cursor.jsonl"),
            f"{host}:{port}",
            f"{log.range.since.isoformat()}/{log.range.until.isoformat()}/{request.hl7.station_id}",
        )
        already = sum(1 for m in messages if m.control_id in cursor.accepted)
        sent = send_messages(messages, host, port, request.mllp_timeout_s, cursor=cursor)
        resumed = already
    progress(1.0, "Done")
    return ExportResult(output, manifest, log.seal, len(log.sessions), items, sent, resumed, tuple(warnings))
