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
