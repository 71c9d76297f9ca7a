"""The PDF names every session, reaction and rate change, on A4 and Letter, with a digest footer."""

from __future__ import annotations

import re
from pathlib import Path

import pypdf
import pytest

from app.domain.chair import ChairState
from app.export.api import ExportRequest, run_export
from app.store.journal import range_digest

from .conftest import SimulatedShift


def _text(path: Path) -> tuple[pypdf.PdfReader, list[str]]:
    reader = pypdf.PdfReader(str(path))
    return reader, [re.sub(r"\s+", " ", page.extract_text()) for page in reader.pages]


@pytest.mark.parametrize(("paper", "size_pt"), [("a4", (595, 842)), ("letter", (612, 792))])
def test_pdf_names_every_session_reaction_and_rate_change(
    simulated: SimulatedShift, tmp_path: Path, paper: str, size_pt: tuple[int, int]
) -> None:
    out = tmp_path / f"shift-{paper}.pdf"
    result = run_export(
        ExportRequest(
            simulated.db_path, simulated.export_range, "pdf", out, local=simulated.local, paper=paper
        )
    )
    reader, pages = _text(out)
    assert result.items == len(pages)
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == size_pt
    text = " ".join(pages)
    local = simulated.local
    entries = list(
        simulated.journal.entries(since=simulated.export_range.since, until=simulated.export_range.until)
    )
    digest = range_digest(entries)
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        assert digest in page
    assert len(simulated.result.session_ids) == 6
    reactions = rate_changes = 0
    for session_id in simulated.result.session_ids:
        state = ChairState.replay(session_id, simulated.journal.events(session_id))
        assert session_id in text
        assert f"{state.chair}: {state.patient_initials} (MRN {state.patient_mrn})" in text
        section = next(p for p in pages if session_id in p)
        assert state.protocol is not None and state.protocol.name in text
        for reaction in state.reactions:
            reactions += 1
            row = f"{local.hhmm(reaction.onset_at)} {reaction.grade} {reaction.signs[0]}"
            assert row in text, row
        for event in state.events:
            if event.type == "rate_changed":
                rate_changes += 1
                rate = f"{event.data['rate_ml_h']:g}"
                assert re.search(rf"{local.hhmm(event.at)} \d+ {re.escape(rate)} ", text), (event.at, rate)
        assert section
    assert reactions == 3 and rate_changes > 10
    assert "(open)" in text  # the last visit is still infusing at the end of the range
    assert "Grade 1 Grade 2 Grade 3 Grade 4 Total 0 1 2 0 3" in pages[0]
    assert "RN Okafor" in pages[0] and "high 1 1 40 s" in pages[0]


def test_every_page_names_its_chair_and_patient_and_each_session_has_signatures(
    simulated: SimulatedShift, tmp_path: Path
) -> None:
    out = tmp_path / "shift.pdf"
    run_export(ExportRequest(simulated.db_path, simulated.export_range, "pdf", out, local=simulated.local))
    _, pages = _text(out)
    states = [ChairState.replay(s, simulated.journal.events(s)) for s in simulated.result.session_ids]
    owners = {s.session_id: f"{s.chair} | patient {s.patient_initials}, MRN {s.patient_mrn}" for s in states}
    current = None
    for number, page in enumerate(pages, start=1):
        found = [sid for sid in owners if sid in page]
        current = found[0] if found else current
        if current is None:
            assert "handover and summary" in page, number  # the first pages: handover and summary
        else:
            assert page.startswith(owners[current]), (number, page[:120])
    text = " ".join(pages)
    assert text.count("Role Name Signature Date and time Nurse") == len(states)
    assert text.count("Charge nurse") >= len(states)


def test_first_page_says_per_chair_what_is_due(simulated: SimulatedShift, tmp_path: Path) -> None:
    out = tmp_path / "shift.pdf"
    run_export(ExportRequest(simulated.db_path, simulated.export_range, "pdf", out, local=simulated.local))
    _, pages = _text(out)
    first = pages[0]
    assert re.search(r"Handover as of 2026-01-05 \d\d:\d\d [+]01:00: what is due per chair", first), first
    assert "Chair Patient Phase Next step Observation ends Bag use by Open alarms Nurse" in first
    # Chair 4's second visit is still infusing when the range ends: its next step and nurse are shown.
    assert re.search(
        r"Chair 4 JK / MRN-006 Infusing (rate \d+ mL/h at|infusion ends about) \d\d:\d\d", first
    ), first
    assert "RN Lindqvist" in first
    assert "Chair 1 - free (discharged" in first


def test_rate_chart_draws_what_the_pump_delivered() -> None:
    """Zero while the pump reports its programmed rate but is stopped (paused, alarming)."""
    from datetime import UTC, datetime, timedelta

    from app.domain.events import Event, EventType
    from app.export.model import SessionLog, TelemetrySample
    from app.export.pdf import _pump_steps

    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    state = ChairState("s", infusion_started_at=start)
    samples = [
        TelemetrySample(start + timedelta(minutes=m), 40.0, float(m), s)
        for m, s in ((0, "infusing"), (10, "paused"), (20, "alarm"), (30, "infusing"), (40, "kvo"))
    ]
    log = SessionLog("s", state, [], 0, samples)
    assert _pump_steps(state, log) == [(0.0, 40.0), (10.0, 0.0), (20.0, 0.0), (30.0, 40.0), (40.0, 40.0)]
    events = (
        Event(EventType.INFUSION_STARTED, start, "RN", {"rate_ml_h": 40}),
        Event(EventType.INFUSION_PAUSED, start + timedelta(minutes=10), "RN", {}),
        Event(EventType.RATE_CHANGED, start + timedelta(minutes=12), "RN", {"rate_ml_h": 80}),
        Event(EventType.INFUSION_RESUMED, start + timedelta(minutes=15), "RN", {}),
    )
    journal_only = ChairState("s", infusion_started_at=start, events=events)
    # the delivery segments: a rate changed while paused is where the restart runs, not a step of its own
    assert _pump_steps(journal_only, SessionLog("s", journal_only, [], 0)) == [
        (0.0, 40.0),
        (10.0, 0.0),
        (15.0, 80.0),
    ]
