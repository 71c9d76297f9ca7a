"""The PDF as the charge nurse reads it: chairs in their natural order (Chair 2 before Chair 10), a
discharged patient's notification not shown as an active alarm, only people under Staff on shift,
readable alarm texts (no rule ids), no heading alone at a page foot, the handover's as-of time."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pypdf
import pytest

from app.domain.clock import ManualClock
from app.export.api import ExportRequest, run_export
from app.export.sample_shift import Visit, run_shift
from app.export.shifts import LocalTime, ShiftConfig
from app.floor import Floor
from app.store.journal import Journal

ZONE = "Europe/Zurich"


@pytest.fixture(autouse=True)
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHAIRSIDE_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


@pytest.fixture
def twelve_chairs(
    floor: Floor, clock: ManualClock, journal: Journal, db_path: Path, tmp_path: Path
) -> tuple[Path, list[str]]:
    """A 12-chair day shift: Chair 5's patient is discharged with the observation-complete notification
    the station raised and nothing cleared; Chair 6 had an occlusion; the others still infuse."""
    clock.set(datetime(2026, 1, 5, 7, 0, tzinfo=UTC))
    visits = [
        Visit(
            f"Chair {n}",
            f"P{n}",
            f"MRN-{n:03d}",
            "ocrevus-600-subsequent",
            nurse="RN Okafor",
            observation_notice=n == 5,
            occlusion_alarm_at_min=35.0 if n == 6 else None,
            arrive_after_min=0.0 if n in (5, 6) else 120.0,  # Chair 5 and 6 discharged, the others not
        )
        for n in range(1, 13)
    ]
    run_shift(floor, clock, visits, until=datetime(2026, 1, 5, 12, 30, tzinfo=UTC))
    journal.close()
    config = ShiftConfig(ShiftConfig.load().shifts, LocalTime.named(ZONE))
    out = tmp_path / "shift.pdf"
    run_export(
        ExportRequest(db_path, config.range_for(date(2026, 1, 5), "day"), "pdf", out, local=config.local),
        now=clock.now(),
    )
    reader = pypdf.PdfReader(str(out))
    return out, [re.sub(r"\s+", " ", page.extract_text()) for page in reader.pages]


def test_chairs_are_in_their_natural_order(twelve_chairs: tuple[Path, list[str]]) -> None:
    _, pages = twelve_chairs
    summary = " ".join(p for p in pages if "handover and summary" in p)
    handover = re.findall(r"(Chair \d+) (?:P\d+ / MRN|- free)", summary)
    assert handover[:12] == [f"Chair {n}" for n in range(1, 13)]
    assert "Chairs used 12: " + ", ".join(f"Chair {n}" for n in range(1, 13)) in summary
    session_pages = [re.match(r"(Chair \d+) \|", p) for p in pages if re.match(r"Chair \d+ \|", p)]
    order = list(dict.fromkeys(m.group(1) for m in session_pages if m))
    assert order == [f"Chair {n}" for n in range(1, 13)]


def test_staff_on_shift_lists_people_only(twelve_chairs: tuple[Path, list[str]]) -> None:
    _, pages = twelve_chairs
    summary = " ".join(p for p in pages if "handover and summary" in p)
    staff = summary.split("Staff on shift (who recorded entries)")[1].split("Sessions")[0]
    assert "RN Okafor" in staff and " system " not in f" {staff} " and " pump " not in f" {staff} "


def test_a_discharged_patients_notification_is_not_an_active_alarm_and_texts_are_readable(
    twelve_chairs: tuple[Path, list[str]],
) -> None:
    _, pages = twelve_chairs
    text = " ".join(pages)
    chair5 = " ".join(p for p in pages if p.startswith("Chair 5 |"))
    alarms = chair5.split("Alarms and notifications ")[1].split("Signatures")[0]
    assert "observation complete" in alarms and "active" not in alarms  # it ended with the discharge
    assert "ended at discharge" in alarms
    assert "observation_complete" not in text and "pump_occlusion" not in text  # no rule ids anywhere
    chair6 = " ".join(p for p in pages if p.startswith("Chair 6 |"))
    assert "occlusion downstream" in chair6.split("Alarms and notifications ")[1]


def test_the_handover_states_its_as_of_time(twelve_chairs: tuple[Path, list[str]]) -> None:
    _, pages = twelve_chairs
    assert re.search(r"Handover as of \d{4}-\d\d-\d\d \d\d:\d\d", pages[0]), pages[0][:400]


def test_no_heading_is_left_alone_at_a_page_foot(twelve_chairs: tuple[Path, list[str]]) -> None:
    _, pages = twelve_chairs
    headings = ("Signatures", "Alarms", "Vital signs", "Pauses", "Reactions", "Staff on shift", "Sessions")
    for number, page in enumerate(pages, start=1):
        body = page.split(" Chairside shift log - ")[0].rstrip()  # the footer starts the same on every page
        for heading in headings:
            assert not body.endswith(heading), (number, body[-200:])


def test_a_heading_moves_to_the_next_page_with_the_table_it_heads(tmp_path: Path) -> None:
    from PySide6.QtGui import QPdfWriter

    from app.export.pdf import _Flow, ensure_gui_application

    ensure_gui_application()
    flow = _Flow(QPdfWriter(str(tmp_path / "flow.pdf")))
    flow.y = flow.bottom - flow.pt(100)  # room for the heading and 40 pt, not for the table's first row
    before = len(flow.pages[-1])
    flow.heading("Signatures", flow.fonts.h3)
    flow.table(["Role", "Name", "Signature", "Date and time"], [["Nurse", "RN A", "\n\n", ""]], [1, 2, 3, 1])
    assert len(flow.pages) == 2
    assert len(flow.pages[0]) == before  # nothing of the heading left at the foot of the first page
