"""The printable shift log: a summary page, then one section per chair session.

Engine: Qt's own PDF output (QPdfWriter + QPainter). The app already ships Qt, so this adds no
dependency, embeds the fonts it draws with (non-Latin initials and MRNs print as typed), produces real
text (searchable, extractable), draws the rate charts as vectors, knows A4 and Letter, and runs
headless (offscreen platform) and off the GUI thread. The cost is that we lay the pages out ourselves:
`_Flow` measures blocks with QFontMetricsF and places them, breaking pages and repeating table
headers; pages are laid out first and drawn second, so every footer can say "page i of n".

The footer carries the verification digest of the exported range (see app.export.model.Seal); the same
seal is embedded as XMP metadata so `chairside verify --export FILE.pdf` can find the range again.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QPageLayout,
    QPageSize,
    QPainter,
    QPainterPath,
    QPdfWriter,
    QPen,
)

from app.domain.chair import ChairState
from app.domain.delivery import ChangeKind, StopReason, change_words
from app.domain.describe import Audience, describe, vitals_text
from app.domain.describe import number_text as num
from app.domain.events import Event, EventType, VitalsRecorded
from app.domain.phase import Phase
from app.domain.protocol import ReactionAction
from app.domain.timeline import SessionTimeline
from app.export.alerts import AlarmEnd, active_alarms, alarm_end, is_notification
from app.export.model import (
    Progress,
    SessionLog,
    ShiftLog,
    chair_order,
    delivered_rate_ml_h,
    is_person,
    no_progress,
)
from app.export.shifts import LocalTime

PAPER = {"a4": QPageSize.PageSizeId.A4, "letter": QPageSize.PageSizeId.Letter}
XMP_TAG = "chairside:shiftlog"
RESOLUTION_DPI = 300
FONT_FAMILIES = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica"]

_INK = QColor(20, 20, 20)
_MUTED = QColor(90, 90, 90)
_RULE = QColor(170, 170, 170)
_HEADER_FILL = QColor(228, 232, 238)
_STRIPE_FILL = QColor(246, 247, 249)
_PLAN_BAND = QColor(150, 185, 235)
_PUMP = QColor(215, 110, 0)
_REACTION = QColor(200, 30, 30)

Draw = Callable[[QPainter], None]


_OWN_APPLICATION: list[QGuiApplication] = []


def ensure_gui_application() -> None:
    """QPdfWriter and fonts need a QGuiApplication; the command line makes an offscreen one, kept
    for the life of the process and shut down before the interpreter tears Qt's objects apart."""
    if QGuiApplication.instance() is None:
        if not os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
            # Point Qt at PySide6's own plugins explicitly (a frozen or unusual layout may not find them).
            QCoreApplication.addLibraryPath(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
        app = QGuiApplication([sys.argv[0] if sys.argv else "chairside", "-platform", "offscreen"])
        _OWN_APPLICATION.append(app)
        atexit.register(_shutdown_application)


def _shutdown_application() -> None:
    while _OWN_APPLICATION:
        _OWN_APPLICATION.pop().shutdown()


def seal_xmp(payload: dict[str, Any]) -> bytes:
    body = escape(json.dumps(payload, sort_keys=True, ensure_ascii=True))
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:chairside="https://chairside.invalid/ns/shiftlog/1.0/">'
        f"<{XMP_TAG}>{body}</{XMP_TAG}>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode("ascii")


# ------------------------------------------------------------------------------------------------
# Layout


@dataclass(frozen=True)
class _Fonts:
    body: QFont
    bold: QFont
    small: QFont
    small_bold: QFont
    h1: QFont
    h2: QFont
    h3: QFont


def _font(size_pt: float, bold: bool = False) -> QFont:
    font = QFont()
    font.setFamilies(FONT_FAMILIES)
    font.setPointSizeF(size_pt)
    font.setBold(bold)
    # No ligatures: "ff" in a digest or "fl" in "flushing" must copy out of the PDF as two letters.
    for tag in ("liga", "clig", "dlig"):
        font.setFeature(QFont.Tag(tag), 0)
    return font


class _Flow:
    """Places blocks top to bottom on pages of the writer's paint rectangle (device pixels)."""

    def __init__(self, writer: QPdfWriter) -> None:
        self.device = writer
        self.px_per_pt = RESOLUTION_DPI / 72.0
        self.width = float(writer.width())
        footer = self.pt(26)
        self.bottom = float(writer.height()) - footer
        self.footer_top = self.bottom + self.pt(6)
        self.top = self.pt(16)  # the header band: every page names its chair and patient
        self.header = ""
        self.pages: list[list[Draw]] = [[]]
        self.headers: list[str] = [""]
        self.y = self.top
        self._heading: tuple[str, QFont, bool] | None = None
        """A heading waits for what it heads: it is placed with room for that block's first part, so
        it never stands alone at a page foot."""
        self.fonts = _Fonts(
            body=_font(8.5),
            bold=_font(8.5, True),
            small=_font(7.2),
            small_bold=_font(7.2, True),
            h1=_font(17, True),
            h2=_font(12.5, True),
            h3=_font(9.5, True),
        )

    def pt(self, points: float) -> float:
        return points * self.px_per_pt

    def metrics(self, font: QFont) -> QFontMetricsF:
        return QFontMetricsF(font, self.device)

    def text_height(self, text: str, font: QFont, width: float) -> float:
        rect = self.metrics(font).boundingRect(QRectF(0, 0, width, 1e7), _WRAP, text)
        return max(rect.height(), self.metrics(font).height())

    def new_page(self) -> None:
        self.flush()
        self.pages.append([])
        self.headers.append(self.header)
        self.y = self.top

    def set_header(self, text: str) -> None:
        """The header of this page and of the pages that follow it."""
        self.header = text
        self.headers[-1] = text

    def ensure(self, height: float) -> None:
        if self.y + height > self.bottom and self.y > self.top:
            self.new_page()

    def add(self, draw: Draw) -> None:
        self.pages[-1].append(draw)

    def space(self, points: float) -> None:
        self.y += self.pt(points)

    def text(
        self,
        text: str,
        font: QFont | None = None,
        color: QColor = _INK,
        indent: float = 0.0,
        keep_with_next: float = 0.0,
    ) -> None:
        font = font or self.fonts.body
        width = self.width - indent
        height = self.text_height(text, font, width)
        self.flush(height + keep_with_next)
        self.ensure(height + keep_with_next)
        rect = QRectF(indent, self.y, width, height)

        def draw(p: QPainter) -> None:
            p.setFont(font)
            p.setPen(color)
            p.drawText(rect, _WRAP, text)

        self.add(draw)
        self.y += height

    def heading(self, text: str, font: QFont, rule: bool = False) -> None:
        """Placed by the next block (or `flush`), together with that block's first part."""
        self.flush()
        self._heading = (text, font, rule)

    def flush(self, next_height: float = 0.0) -> None:
        """Place a waiting heading, keeping `next_height` (what follows it) on the same page."""
        if self._heading is None:
            return
        text, font, rule = self._heading
        self._heading = None
        self.space(6)
        self.text(text, font, keep_with_next=next_height + (self.pt(5) if rule else self.pt(2)))
        if rule:
            y = self.y + self.pt(2)
            width = self.width

            def draw(p: QPainter) -> None:
                p.setPen(QPen(_RULE, self.pt(0.8)))
                p.drawLine(QPointF(0, y), QPointF(width, y))

            self.add(draw)
            self.y += self.pt(5)
        else:
            self.space(2)

    def fields(self, pairs: Sequence[tuple[str, str]], columns: int = 2) -> None:
        """Label: value pairs in `columns` columns, each pair wrapping inside its cell."""
        gap = self.pt(10)
        cell = (self.width - gap * (columns - 1)) / columns
        label_w = self.pt(80)
        for start in range(0, len(pairs), columns):
            row = pairs[start : start + columns]
            heights = [
                max(
                    self.text_height(label, self.fonts.small_bold, label_w),
                    self.text_height(value or "-", self.fonts.body, cell - label_w),
                )
                for label, value in row
            ]
            height = max(heights) + self.pt(2.5)
            self.flush(height)
            self.ensure(height)
            y = self.y
            for index, (label, value) in enumerate(row):
                x = index * (cell + gap)
                label_rect = QRectF(x, y + self.pt(0.8), label_w, height)
                value_rect = QRectF(x + label_w, y, cell - label_w, height)
                self.add(_text_draw(label_rect, label, self.fonts.small_bold, _MUTED))
                self.add(_text_draw(value_rect, value or "-", self.fonts.body, _INK))
            self.y += height

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]], weights: Sequence[float]) -> None:
        if not rows:
            self.text("None recorded.", self.fonts.small, _MUTED)
            self.space(3)
            return
        total = float(sum(weights))
        widths = [self.width * w / total for w in weights]
        pad = self.pt(2.2)
        header_font, cell_font = self.fonts.small_bold, self.fonts.small

        def row_height(cells: Sequence[str], font: QFont) -> float:
            return (
                max(self.text_height(c, font, w - 2 * pad) for c, w in zip(cells, widths, strict=True))
                + 2 * pad
            )

        header_h = row_height(headers, header_font)

        def place_header() -> None:
            self.add(
                _row_draw(self.y, widths, headers, header_h, pad, header_font, _HEADER_FILL, bold_rule=True)
            )
            self.y += header_h

        first_h = row_height(rows[0], cell_font)
        self.flush(header_h + first_h)
        self.ensure(header_h + first_h)
        place_header()
        for index, cells in enumerate(rows):
            height = row_height(cells, cell_font)
            if self.y + height > self.bottom:
                self.new_page()
                place_header()
            fill = _STRIPE_FILL if index % 2 else None
            self.add(_row_draw(self.y, widths, cells, height, pad, cell_font, fill))
            self.y += height
        self.space(4)

    def block(self, height: float, draw_at: Callable[[QPainter, QRectF], None]) -> None:
        self.flush(height)
        self.ensure(height)
        rect = QRectF(0, self.y, self.width, height)
        self.add(lambda p: draw_at(p, rect))
        self.y += height


_WRAP = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap)


def _text_draw(rect: QRectF, text: str, font: QFont, color: QColor) -> Draw:
    def draw(p: QPainter) -> None:
        p.setFont(font)
        p.setPen(color)
        p.drawText(rect, _WRAP, text)

    return draw


def _row_draw(
    y: float,
    widths: Sequence[float],
    cells: Sequence[str],
    height: float,
    pad: float,
    font: QFont,
    fill: QColor | None,
    bold_rule: bool = False,
) -> Draw:
    def draw(p: QPainter) -> None:
        total = sum(widths)
        if fill is not None:
            p.fillRect(QRectF(0, y, total, height), fill)
        p.setFont(font)
        p.setPen(_INK)
        x = 0.0
        for cell, width in zip(cells, widths, strict=True):
            p.drawText(QRectF(x + pad, y + pad, width - 2 * pad, height - 2 * pad), _WRAP, cell)
            x += width
        p.setPen(QPen(_RULE, pad * (0.5 if bold_rule else 0.25)))
        p.drawLine(QPointF(0, y + height), QPointF(total, y + height))

    return draw


# ------------------------------------------------------------------------------------------------
# Content


def write_pdf(log: ShiftLog, output: Path, paper: str = "a4", progress: Progress = no_progress) -> int:
    """Write the shift log to `output`. Returns the number of pages."""
    ensure_gui_application()
    if paper not in PAPER:
        raise ValueError(f"paper must be one of {', '.join(PAPER)}, not {paper!r}")
    writer = _writer(log, output, paper)

    flow = _Flow(writer)
    flow.set_header(f"Chairside shift log - {log.range.label} - handover and summary")
    _summary(flow, log)
    for index, session in enumerate(log.sessions):
        progress(0.3 + 0.5 * index / max(1, len(log.sessions)), f"Laying out {session.chair}")
        flow.new_page()
        flow.set_header(_page_header(session))
        _session(flow, log, session)
    flow.flush()

    painter = QPainter()
    began = painter.begin(writer)
    if not began:
        raise OSError(f"cannot write {output}")
    try:
        total = len(flow.pages)
        for number, page in enumerate(flow.pages, start=1):
            if number > 1 and not writer.newPage():
                raise OSError(f"cannot add a page to {output} (disk full?)")
            _header(flow, painter, flow.headers[number - 1])
            for draw in page:
                draw(painter)
            _footer(flow, painter, log, number, total)
            progress(0.8 + 0.2 * number / total, f"Writing page {number} of {total}")
    finally:
        painter.end()
    return len(flow.pages)


def _writer(log: ShiftLog, output: Path, paper: str) -> QPdfWriter:
    writer = QPdfWriter(str(output))
    writer.setResolution(RESOLUTION_DPI)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(PAPER[paper]),
            QPageLayout.Orientation.Portrait,
            QMarginsF(16, 14, 16, 12),
            QPageLayout.Unit.Millimeter,
        )
    )
    writer.setTitle(f"Chairside shift log - {log.range.label}")
    writer.setCreator("Chairside")
    writer.setDocumentXmpMetadata(seal_xmp(pdf_seal_payload(log, paper)))
    return writer


def pdf_seal_payload(log: ShiftLog, paper: str = "a4") -> dict[str, Any]:
    """Embedded in the PDF: enough to re-derive every page from the journal (verify --export)."""
    return {
        "format": "pdf",
        "range_label": log.range.label,
        "exported_at": log.exported_at.isoformat(),
        "timezone": log.local.key,
        "paper": paper,
        "seal": log.seal.to_json(),
    }


def _page_header(session: SessionLog) -> str:
    state = session.state
    protocol = state.protocol.name if state.protocol else ""
    return f"{state.chair}  |  patient {state.patient_initials}, MRN {state.patient_mrn}  |  {protocol}"


def _header(flow: _Flow, p: QPainter, text: str) -> None:
    if not text:
        return
    p.setFont(flow.fonts.small_bold)
    p.setPen(_MUTED)
    line = flow.metrics(flow.fonts.small_bold).height()
    p.drawText(QRectF(0, 0, flow.width, line), int(Qt.AlignmentFlag.AlignLeft), text)
    p.setPen(QPen(_RULE, flow.pt(0.5)))
    p.drawLine(QPointF(0, line + flow.pt(2)), QPointF(flow.width, line + flow.pt(2)))


def _footer(flow: _Flow, p: QPainter, log: ShiftLog, number: int, total: int) -> None:
    y = flow.footer_top
    p.setPen(QPen(_RULE, flow.pt(0.5)))
    p.drawLine(QPointF(0, y), QPointF(flow.width, y))
    p.setFont(flow.fonts.small)
    p.setPen(_MUTED)
    line = flow.metrics(flow.fonts.small).height()
    left = QRectF(0, y + flow.pt(2), flow.width, line)
    p.drawText(left, int(Qt.AlignmentFlag.AlignLeft), f"Chairside shift log - {log.range.label}")
    p.drawText(left, int(Qt.AlignmentFlag.AlignRight), f"Page {number} of {total}")
    seal = log.seal
    span = (
        f"entries {seal.first_position}-{seal.last_position} ({seal.count})" if seal.count else "no entries"
    )
    p.drawText(
        QRectF(0, y + flow.pt(2) + line, flow.width, line),
        int(Qt.AlignmentFlag.AlignLeft),
        f"Journal digest, {span}: {seal.digest}",
    )


def _summary(flow: _Flow, log: ShiftLog) -> None:
    local = log.local
    f = flow.fonts
    flow.text("Chairside shift log", f.h1)
    flow.text(log.range.label, f.h2, _MUTED)
    flow.space(6)
    flow.fields(
        [
            ("From", local.stamp(log.range.since)),
            ("To", local.stamp(log.range.until)),
            ("Exported", local.stamp(log.exported_at)),
            (
                "Journal entries",
                f"{log.seal.count}"
                + (
                    f" (positions {log.seal.first_position}-{log.seal.last_position})"
                    if log.seal.count
                    else ""
                ),
            ),
        ]
    )
    flow.text(
        f"Verification digest of the exported range (SHA-256): {log.seal.digest}. "
        "Check it with: chairside verify --export <this file>.",
        f.small,
        _MUTED,
    )
    if not log.entries:
        flow.space(10)
        flow.text("No journal entries were recorded in this range.", f.h3)
        return

    _handover(flow, log)
    flow.heading("Summary", f.h2, rule=True)
    open_sessions = [s for s in log.sessions if s.is_open]
    flow.fields(
        [
            ("Chairs used", f"{len(log.chairs_used())}: " + ", ".join(log.chairs_used())),
            ("Sessions", f"{len(log.sessions)} ({len(open_sessions)} open at the end of the range)"),
            ("Infusions started", str(log.count_of(EventType.INFUSION_STARTED))),
            ("Infusions completed", str(log.count_of(EventType.INFUSION_COMPLETED))),
            ("Discontinued", str(log.discontinued_count())),
            ("Discharged", str(log.count_of(EventType.DISCHARGED))),
        ]
    )
    flow.heading("Infusion reactions by grade (CTCAE v5)", f.h3)
    grades = log.reactions_by_grade()
    flow.table(
        ["Grade 1", "Grade 2", "Grade 3", "Grade 4", "Total"],
        [[str(grades[g]) for g in (1, 2, 3, 4)] + [str(sum(grades.values()))]],
        [1, 1, 1, 1, 1],
    )
    flow.heading("Alarms by priority", f.h3)
    flow.table(
        ["Priority", "Raised", "Acknowledged", "Median time to acknowledge"],
        [
            [a.priority, str(a.raised), str(a.acknowledged), _duration(a.median_ack_s)]
            for a in log.alarm_stats()
        ],
        [1, 1, 1, 2],
    )
    flow.heading("Staff on shift (who recorded entries)", f.h3)
    flow.table(["Recorded by", "Entries"], [[name, str(count)] for name, count in log.staff()], [3, 1])
    flow.heading("Sessions", f.h3)
    flow.table(
        ["Chair", "Patient", "Protocol", "Status", "Infusion", "Reactions"],
        [
            [
                s.chair,
                f"{s.state.patient_initials} / {s.state.patient_mrn}",
                s.state.protocol.name if s.state.protocol else "-",
                _status(s.state),
                f"{local.hhmm(s.state.infusion_started_at) or '-'} to "
                f"{local.hhmm(SessionTimeline.of(s.state).infusion_ended_at) or '-'}",
                ", ".join(f"G{r.grade}" for r in s.state.reactions) or "-",
            ]
            for s in log.sessions
        ],
        [1.1, 1.6, 3, 1.5, 1.4, 1],
    )


def responsible_nurse(state: ChairState) -> str:
    """The nurse responsible last (check-in, assignment, hand-over: the session timeline), else the last
    person who recorded an entry."""
    responsible = SessionTimeline.of(state).responsible
    if responsible and responsible[-1].nurse:
        return responsible[-1].nurse
    people = [e.actor for e in state.events if is_person(e.actor)]
    return people[-1] if people else "-"


def _next_step(state: ChairState, at: datetime, t: Callable[[datetime | None], str]) -> str:
    phase = state.phase
    if phase is Phase.SCREENING:
        return "screening"
    if phase is Phase.PREMEDICATION:
        ready = state.premedication_ready_at if state.protocol else None
        return "premedication" if ready is None else f"start infusion from {t(ready)}"
    if phase is Phase.INFUSING:
        change = state.next_rate_change(at)
        end = state.projected_end(at)
        if change is not None and change[1] > 0:
            return f"rate {num(change[1])} mL/h at {t(change[0])}"
        return f"infusion ends about {t(end)}" if end else "infusion running"
    if phase is Phase.PAUSED:
        pause = state.open_pause
        return f"paused since {t(pause.start)}: resume or stop" if pause else "paused"
    if phase is Phase.OBSERVATION:
        return f"discharge after {t(state.observation_ends_at)}"
    if phase is Phase.DISCONTINUED:
        return "discharge (discontinued)"
    return "-"


def _handover(flow: _Flow, log: ShiftLog) -> None:
    """Per chair, what is due at the end of the range (the latest session at each chair)."""
    f = flow.fonts
    at = min(log.range.until, log.exported_at)
    t = _session_times(log.local, at)
    latest: dict[str, SessionLog] = {}
    for session in log.sessions:
        latest[session.chair] = session
    rows = []
    for chair in sorted(latest, key=chair_order):
        session = latest[chair]
        state = session.state
        if not session.is_open:
            rows.append([chair, "-", f"free (discharged {t(state.discharged_at)})", "-", "-", "-", "-", "-"])
            continue
        alarms = "; ".join(f"{a.priority}: {a.message}" for a in active_alarms(state)) or "none"
        rows.append(
            [
                chair,
                f"{state.patient_initials} / {state.patient_mrn}",
                state.phase.label,
                _next_step(state, at, t),
                t(state.observation_ends_at) or "-",
                t(state.bag_expires_at) or "-",
                alarms,
                responsible_nurse(state),
            ]
        )
    flow.heading(f"Handover as of {log.local.stamp(at)}: what is due per chair", f.h2, rule=True)
    flow.table(
        ["Chair", "Patient", "Phase", "Next step", "Observation ends", "Bag use by", "Open alarms", "Nurse"],
        rows,
        [0.9, 1.3, 1.1, 2.2, 1.1, 1.1, 1.8, 1.1],
    )


def _signature_block(flow: _Flow, state: ChairState) -> None:
    f = flow.fonts
    flow.heading("Signatures", f.h3)
    flow.table(
        ["Role", "Name", "Signature", "Date and time"],
        # Blank lines give room for a hand signature on the printed page.
        [["Nurse", responsible_nurse(state), "\n\n", ""], ["Charge nurse", "", "\n\n", ""]],
        [1.1, 2, 3, 1.6],
    )


def _status(state: ChairState) -> str:
    """How the session stands, from the session timeline: "Discontinued for a reaction, discharged",
    "Infusion complete, discharged", "Paused by the nurse (open)"."""
    timeline = SessionTimeline.of(state)
    closed = state.phase is Phase.DISCHARGED
    if timeline.discontinued:
        end = timeline.infusion_end
        words = str(end.value) if end is not None else "discontinued (not given)"
        return words.capitalize() + (", discharged" if closed else " (open)")
    if closed:
        return "Completed, discharged" if timeline.infusion_end is not None else "Discharged"
    return (
        f"{state.phase.label}: {timeline.outcome} (open)"
        if timeline.segments
        else f"{state.phase.label} (open)"
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def _session_times(local: LocalTime, reference: datetime) -> Callable[[datetime | None], str]:
    """HH:MM for times on the session's day and offset; the full date and offset otherwise."""
    ref = local.to_local(reference)

    def t(moment: datetime | None) -> str:
        if moment is None:
            return ""
        here = local.to_local(moment)
        if here.date() == ref.date() and here.utcoffset() == ref.utcoffset():
            return local.hhmm(moment)
        return local.stamp(moment)

    return t


def _who(state: ChairState, event_type: EventType) -> Event | None:
    return next((e for e in state.events if e.type is event_type), None)


def _at_by(t: Callable[[datetime | None], str], event: Event | None) -> str:
    return "-" if event is None else f"{t(event.at)}, {event.actor}"


def _session(flow: _Flow, log: ShiftLog, session: SessionLog) -> None:
    local = log.local
    state = session.state
    f = flow.fonts
    protocol = state.protocol
    reference = state.checked_in_at or log.range.since
    t = _session_times(local, reference)
    flow.text(f"{state.chair}: {state.patient_initials} (MRN {state.patient_mrn})", f.h2)
    flow.text(
        f"{protocol.name if protocol else '-'}  |  {_status(state)}  |  session {session.session_id}  |  "
        f"times are {local.face.name} ({local.stamp(reference)[-6:]}) on {local.stamp(reference)[:10]} "
        "unless dated",
        f.small,
        _MUTED,
    )
    if session.earlier_entries:
        flow.text(
            f"This session began before the exported range: its first {session.earlier_entries} entries are "
            "shown for context; they are sealed by the export of the range they were recorded in.",
            f.small,
            _MUTED,
        )
    flow.space(4)
    bag = state.bag
    completed = _who(state, EventType.INFUSION_COMPLETED)
    discharged = _who(state, EventType.DISCHARGED)
    last_sample = session.telemetry[-1] if session.telemetry else None
    volume = state.volume_infused_ml
    volume_text = (
        f"{num(volume)} mL (recorded at completion)"
        if volume is not None
        else (
            f"{num(last_sample.volume_ml)} mL (last pump sample)"
            if last_sample and last_sample.volume_ml is not None
            else "-"
        )
    )
    observation_end = state.discharged_at or None
    flow.fields(
        [
            ("Protocol", f"{protocol.id}: {protocol.drug} {num(protocol.dose_mg)} mg" if protocol else "-"),
            ("Prior infusions", f"{state.prior_infusions}; last dose {state.last_dose_on or '-'}"),
            (
                "Bag",
                f"{num(bag.volume_ml)} mL, lot {bag.lot}" + (f", GTIN {bag.gtin}" if bag.gtin else "")
                if bag
                else "-",
            ),
            (
                "Bag expiry",
                f"label {bag.expiry.isoformat()}; use by {t(state.bag_expires_at)}" if bag else "-",
            ),
            ("Bag prepared", t(bag.prepared_at) if bag else "-"),
            ("Checked in", _at_by(t, _who(state, EventType.CHECKED_IN))),
            ("Infusion start", _at_by(t, _who(state, EventType.INFUSION_STARTED))),
            ("Infusion end", _infusion_end(t, state, completed)),
            (
                "Observation",
                f"{t(state.completed_at)} to {t(observation_end) or 'ongoing'} (planned until {t(state.observation_ends_at)})"
                if state.completed_at
                else "-",
            ),
            ("Discharged", _at_by(t, discharged) if discharged else "not discharged in this range"),
            ("Total volume", volume_text),
            ("Discontinued", state.discontinued_reason or "-"),
        ]
    )

    flow.heading("Screening", f.h3)
    screening = _who(state, EventType.SCREENING_RECORDED)
    rows = []
    if protocol is not None and screening is not None:
        for item in protocol.screening:
            answer = state.screening_answers.get(item.id)
            ok = answer == item.acceptable_answer
            rows.append(
                [
                    item.question,
                    "-" if answer is None else ("yes" if answer else "no"),
                    "ok" if ok else f"finding: {item.if_not.value}",
                ]
            )
        flow.text(f"Recorded {_at_by(t, screening)}", f.small, _MUTED)
    flow.table(["Question", "Answer", "Result"], rows, [6, 1, 1.6])

    flow.heading("Premedication", f.h3)
    flow.table(
        ["Given at", "Drug", "Dose", "Route", "By"],
        [[t(p.given_at), p.drug, p.dose, p.route, p.actor] for p in state.premedications],
        [1.5, 2.6, 2, 1, 1.2],
    )

    flow.heading("Rate over time (plan, and what the pump delivered: 0 while stopped)", f.h3)
    _rate_chart(flow, log, session)
    flow.table(
        ["Time", "Min", "Pump mL/h", "Plan mL/h", "What", "By"],
        _rate_rows(t, state),
        [1.5, 0.6, 0.9, 0.9, 3.2, 1.1],
    )

    flow.heading("Reactions", f.h3)
    flow.table(
        ["Onset", "Grade", "Signs", "Action", "Rate at onset", "Rate after", "Resolved", "By", "Notes"],
        [
            [
                t(r.onset_at),
                str(r.grade),
                ", ".join(r.signs) or "-",
                r.action.value if r.action else "after infusion",
                f"{num(r.rate_at_onset_ml_h)} mL/h",
                _rate_after(r.action, r.new_rate_ml_h, r.restart_rate_ml_h),
                t(r.resolved_at) or "-",
                r.actor,
                r.notes or "-",
            ]
            for r in state.reactions
        ],
        [1.1, 0.7, 1.7, 1.4, 1.0, 1.5, 1.1, 1.2, 1.2],
    )

    if state.pauses:
        flow.heading("Pauses", f.h3)
        flow.table(
            ["From", "To", "Reason", "Source"],
            [[t(p.start), t(p.end) or "open", p.reason, p.source] for p in state.pauses],
            [1.5, 1.5, 3, 1],
        )

    flow.heading("Vital signs", f.h3)
    flow.table(
        ["Time", "Values", "Alerts", "By"],
        [
            [t(v.at), vitals_text(v.values), "; ".join(_alerts(state, v.seq)) or "-", v.actor]
            for v in state.vitals
        ],
        [1.5, 4, 2, 1.1],
    )

    flow.heading("Alarms and notifications", f.h3)
    flow.table(
        ["Raised", "Priority", "Alarm", "Acknowledged", "Ended"],
        [
            [
                t(a.raised_at),
                "notice" if is_notification(a.rule) else a.priority,
                a.message,  # the text the nurse saw; the rule's id is for the journal, not for people
                f"{t(a.acknowledged_at)} by {a.acknowledged_by} (after {_duration((a.acknowledged_at - a.raised_at).total_seconds())})"
                if a.acknowledged_at
                else "-"
                if is_notification(a.rule)
                else "NOT acknowledged",
                _ended(t, alarm_end(state, a)),
            ]
            for a in SessionTimeline.of(state).alarms
        ],
        [1.5, 0.8, 2.6, 2.2, 1.2],
    )

    extra = [  # and a discharge on a prescriber's release (app.domain.describe has its words)
        e
        for e in state.events
        if e.type in (EventType.CORRECTION_RECORDED, EventType.NOTE_ADDED) or e.overrides or _extra_text(e)
    ]
    if extra:
        flow.heading("Corrections, notes, overrides and releases", f.h3)
        flow.table(
            ["Time", "Entry", "What", "By"],
            [[t(e.at), f"{e.seq} {e.type}", _extra_text(e), e.actor] for e in extra],
            [1.5, 1.6, 4, 1.1],
        )
    _signature_block(flow, state)


def _ended(t: Callable[[datetime | None], str], end: AlarmEnd) -> str:
    if end.how == "discharge":
        return f"{t(end.at)} (ended at discharge)"
    return t(end.at) or "active"


def _rate_after(action: ReactionAction | None, new_rate: float, restart: float) -> str:
    if action is ReactionAction.HALVE_RATE:
        return f"{num(new_rate)} mL/h"
    if action is ReactionAction.STOP_THEN_RESTART:
        return f"stopped; restart {num(restart)} mL/h"
    if action is ReactionAction.DISCONTINUE:
        return "stopped for good"
    return "-"


def _alerts(state: ChairState, seq: int) -> list[str]:
    event = state.event(seq)
    return list(event.payload_as(VitalsRecorded).alerts) if event is not None else []


def _extra_text(event: Event) -> str:
    return describe(event, Audience.PDF)


def _infusion_end(t: Callable[[datetime | None], str], state: ChairState, completed: Event | None) -> str:
    timeline = SessionTimeline.of(state)
    end = timeline.infusion_end
    if end is None:
        return "not ended in this range"
    if completed is not None and end is StopReason.COMPLETE:
        return _at_by(t, completed)
    return f"{t(timeline.infusion_ended_at)} ({end.value})"


def _rate_rows(t: Callable[[datetime | None], str], state: ChairState) -> list[list[str]]:
    """Every start and stop of the delivery, with its reason (the session timeline's segments)."""
    start = state.infusion_started_at
    timeline = SessionTimeline.of(state)
    plan = state.plan() if start is not None and state.protocol is not None else None
    rows = []
    for change in timeline.changes:
        if change.reason is StopReason.RATE_CHANGE:
            continue  # the start at the new rate says it
        event = state.event(change.seq)
        minutes = 0.0 if start is None else (change.at - start).total_seconds() / 60
        planned = "-" if plan is None else num(plan.rate_at(minutes))
        delivering = change.kind is ChangeKind.START
        rows.append(
            [
                t(change.at),
                f"{minutes:.0f}",
                num(change.rate_ml_h) if delivering else "0",
                planned,
                change_words(timeline.changes_of(change.seq))
                + (f" ({change.detail})" if change.detail else ""),
                event.actor if event is not None else "-",
            ]
        )
    return rows


def _pump_steps(state: ChairState, session: SessionLog) -> list[tuple[float, float]]:
    """(minute from start, rate) points of what the pump delivered (0 while stopped): its samples, else
    the delivery segments."""
    start = state.infusion_started_at
    if start is None:
        return []
    timeline = SessionTimeline.of(state)
    ended = timeline.infusion_ended_at
    if session.telemetry:
        points = [
            ((s.at - start).total_seconds() / 60.0, delivered_rate_ml_h(s))
            for s in session.telemetry
            if s.at >= start
        ]
        if ended is not None and (not points or points[-1][0] < (ended - start).total_seconds() / 60.0):
            points.append(((ended - start).total_seconds() / 60.0, 0.0))  # nothing flows after the end
        return points
    points = []
    for segment in timeline.segments:
        points.append(((segment.started_at - start).total_seconds() / 60.0, segment.rate_ml_h))
        if segment.ended_at is not None:
            points.append(((segment.ended_at - start).total_seconds() / 60.0, 0.0))
    return points


def _rate_chart(flow: _Flow, log: ShiftLog, session: SessionLog) -> None:
    state = session.state
    start = state.infusion_started_at
    if start is None or state.protocol is None:
        flow.text("The infusion did not start in this range.", flow.fonts.small, _MUTED)
        return
    plan = state.plan()
    plan_points: list[tuple[float, float]] = []
    for segment in plan.segments:
        plan_points += [(segment.start_min, segment.rate_ml_h), (segment.end_min, segment.rate_ml_h)]
    if plan.end_min is not None:
        plan_points.append((plan.end_min, 0.0))
    pump = _pump_steps(state, session)
    end_at = SessionTimeline.of(state).infusion_ended_at or log.range.until
    span = (
        max(
            [p[0] for p in plan_points if p[0] < 24 * 60]
            + [p[0] for p in pump]
            + [(end_at - start).total_seconds() / 60.0, 30.0]
        )
        * 1.04
    )
    top = max([p[1] for p in plan_points] + [p[1] for p in pump] + [10.0]) * 1.12
    reactions = [((r.onset_at - start).total_seconds() / 60.0, r.grade) for r in state.reactions]
    local = log.local

    def draw(p: QPainter, rect: QRectF) -> None:
        _draw_chart(flow, p, rect, plan_points, pump, reactions, span, top, start, local)

    flow.block(flow.pt(150), draw)
    flow.space(4)


def _draw_chart(
    flow: _Flow,
    p: QPainter,
    rect: QRectF,
    plan_points: Sequence[tuple[float, float]],
    pump: Sequence[tuple[float, float]],
    reactions: Sequence[tuple[float, int]],
    span: float,
    top: float,
    start: datetime,
    local: LocalTime,
) -> None:
    pt = flow.pt
    area = QRectF(
        rect.left() + pt(34), rect.top() + pt(14), rect.width() * 0.72 - pt(34), rect.height() - pt(34)
    )

    def xy(minute: float, rate: float) -> QPointF:
        return QPointF(
            area.left() + area.width() * min(minute, span) / span, area.bottom() - area.height() * rate / top
        )

    p.setFont(flow.fonts.small)
    p.setPen(QPen(_RULE, pt(0.4)))
    step = _nice_step(top / 4)
    value = 0.0
    while value <= top:
        y = xy(0, value).y()
        p.setPen(QPen(_RULE, pt(0.3), Qt.PenStyle.DotLine))
        p.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
        p.setPen(_MUTED)
        p.drawText(
            QRectF(rect.left(), y - pt(5), pt(30), pt(10)),
            int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
            num(value),
        )
        value += step
    minute_step = _nice_step(span / 6, (15, 30, 60, 120))
    minute = 0.0
    while minute <= span + 1e-9:
        x = xy(minute, 0).x()
        p.setPen(QPen(_RULE, pt(0.4)))
        p.drawLine(QPointF(x, area.bottom()), QPointF(x, area.bottom() + pt(3)))
        p.setPen(_MUTED)
        label = local.hhmm(start + timedelta(minutes=minute))
        p.drawText(
            QRectF(x - pt(20), area.bottom() + pt(3), pt(40), pt(10)),
            int(Qt.AlignmentFlag.AlignHCenter),
            label,
        )
        minute += minute_step
    p.setPen(QPen(_INK, pt(0.6)))
    p.drawLine(area.bottomLeft(), area.bottomRight())
    p.drawLine(area.bottomLeft(), area.topLeft())
    p.setPen(_MUTED)
    p.drawText(QRectF(rect.left(), rect.top(), pt(120), pt(10)), int(Qt.AlignmentFlag.AlignLeft), "mL/h")
    p.drawText(
        QRectF(area.left(), rect.bottom() - pt(10), area.width(), pt(10)),
        int(Qt.AlignmentFlag.AlignHCenter),
        "local time",
    )

    p.setBrush(Qt.BrushStyle.NoBrush)
    if plan_points:
        p.setPen(
            QPen(
                _PLAN_BAND, pt(4.5), Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap, Qt.PenJoinStyle.MiterJoin
            )
        )
        p.drawPath(_polyline(plan_points, xy, step_wise=False))
    if pump:
        p.setPen(QPen(_PUMP, pt(1.3)))
        p.drawPath(_polyline(pump, xy, step_wise=True))
    for minute_at, grade in reactions:
        x = xy(minute_at, 0).x()
        p.setPen(QPen(_REACTION, pt(0.8)))
        p.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
        p.drawText(
            QRectF(x + pt(1.5), area.top(), pt(30), pt(10)), int(Qt.AlignmentFlag.AlignLeft), f"G{grade}"
        )

    legend_x = area.right() + pt(14)
    items = [
        (_PLAN_BAND, Qt.PenStyle.SolidLine, "Plan (protocol, re-planned)"),
        (_PUMP, Qt.PenStyle.SolidLine, "Pump"),
    ]
    if reactions:
        items.append((_REACTION, Qt.PenStyle.SolidLine, "Reaction (grade)"))
    for index, (color, style, text) in enumerate(items):
        y = area.top() + pt(6) + index * pt(13)
        p.setPen(QPen(color, pt(4.5 if color == _PLAN_BAND else 1.2), style))
        p.drawLine(QPointF(legend_x, y), QPointF(legend_x + pt(18), y))
        p.setPen(_INK)
        p.drawText(
            QRectF(legend_x + pt(22), y - pt(5), rect.right() - legend_x - pt(22), pt(10)),
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            text,
        )
    p.setBrush(QBrush())


def _polyline(
    points: Sequence[tuple[float, float]], xy: Callable[[float, float], QPointF], step_wise: bool
) -> QPainterPath:
    path = QPainterPath()
    previous: tuple[float, float] | None = None
    for minute, rate in points:
        if previous is None:
            path.moveTo(xy(minute, rate))
        else:
            if step_wise:
                path.lineTo(xy(minute, previous[1]))
            path.lineTo(xy(minute, rate))
        previous = (minute, rate)
    return path


def _nice_step(
    raw: float, choices: Sequence[float] = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)
) -> float:
    for choice in choices:
        if choice >= raw:
            return float(choice)
    return float(choices[-1]) * max(1.0, round(raw / choices[-1]))
