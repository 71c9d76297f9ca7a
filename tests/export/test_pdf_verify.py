"""A PDF is verified against the journal as of the moment it was cut: the running shift's PDF still
verifies after more entries and pump readings were recorded; without its manifest or a key `verify`
says what it could not check and exits 1; an overlay (an annotation, a form field) added to a PDF
fails verification."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.domain.clock import ManualClock
from app.domain.commands import ChangeRate, RecordVitals
from app.export.api import ExportRequest, run_export
from app.export.manifest import manifest_path
from app.floor import Floor
from app.store.telemetry import PumpSample

from .conftest import SimulatedShift


@pytest.fixture(autouse=True)
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("CHAIRSIDE_CONFIG_DIR", str(folder))
    from app.export.seals import load_or_create_key

    load_or_create_key()  # the station's key, made when it first started (an export never makes one)
    return folder


def _verify(db: Path, pdf: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", "--db", str(db), "--export", str(pdf), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _cut_pdf(sim: SimulatedShift, clock: ManualClock, out: Path) -> Path:
    run_export(ExportRequest(sim.db_path, sim.export_range, "pdf", out, local=sim.local), now=clock.now())
    return out


def test_a_pdf_of_the_running_shift_still_verifies_ten_minutes_later(
    simulated: SimulatedShift,
    floor: Floor,
    clock: ManualClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    running = floor.session_for_chair("Chair 4")
    assert running is not None and clock.now() < simulated.export_range.until  # mid-shift, infusing
    pdf = _cut_pdf(simulated, clock, tmp_path / "running.pdf")
    assert _verify(simulated.db_path, pdf, capsys)[0] == 0
    volume = 0.0
    for minute in range(1, 11):  # ten more minutes of the shift: readings, a rate change, vital signs
        clock.advance(minutes=1)
        volume += 2.0
        rate = 60.0 if minute < 5 else 90.0
        floor.journal.recorder.record(
            "Chair 4", running.session_id, PumpSample(clock.now(), rate, volume, "infusing")
        )
        if minute == 5:
            floor.execute(running.session_id, ChangeRate(90.0, "pump"), "pump")
        if minute == 8:
            floor.execute(running.session_id, RecordVitals({"heart_rate_bpm": 80}), "RN Lindqvist")
    code, text = _verify(simulated.db_path, pdf, capsys)
    assert code == 0, text
    later = _cut_pdf(simulated, clock, tmp_path / "later.pdf")  # a PDF cut now does show them
    assert later.read_bytes() != pdf.read_bytes()


def test_without_its_manifest_verify_says_the_signature_was_not_checked_and_exits_1(
    simulated: SimulatedShift, clock: ManualClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pdf = _cut_pdf(simulated, clock, tmp_path / "shift.pdf")
    manifest_path(pdf).unlink()
    code, text = _verify(simulated.db_path, pdf, capsys)
    assert code == 1
    assert text.count("\n") == 1 and "signature not checked: no manifest" in text


def test_without_a_key_verify_says_the_signature_was_not_checked_and_exits_1(
    simulated: SimulatedShift,
    clock: ManualClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pdf = _cut_pdf(simulated, clock, tmp_path / "shift.pdf")
    monkeypatch.setenv("CHAIRSIDE_CONFIG_DIR", str(tmp_path / "another-computer"))  # no station key here
    code, text = _verify(simulated.db_path, pdf, capsys)
    assert code == 1
    assert text.count("\n") == 1 and "signature not checked: no station key" in text


def test_a_freetext_annotation_added_to_a_pdf_fails_verification(
    simulated: SimulatedShift, clock: ManualClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pypdf
    from pypdf.annotations import FreeText

    pdf = _cut_pdf(simulated, clock, tmp_path / "shift.pdf")
    manifest_path(pdf).unlink()  # sent on its own: the page layout is all there is to check
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(str(pdf)))
    writer.add_annotation(
        page_number=1,
        annotation=FreeText(text="rate 80 mL/h (corrected)", rect=(100, 500, 300, 540), font_size="12pt"),
    )
    with pdf.open("wb") as handle:
        writer.write(handle)
    code, text = _verify(simulated.db_path, pdf, capsys)
    assert code == 1 and "page 2" in text and "FreeText" in text and "matches the journal" not in text


def test_a_form_field_added_to_a_pdf_fails_verification(
    simulated: SimulatedShift, clock: ManualClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pypdf
    from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, TextStringObject

    pdf = _cut_pdf(simulated, clock, tmp_path / "shift.pdf")
    manifest_path(pdf).unlink()
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(str(pdf)))
    field = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Widget"),
            NameObject("/FT"): NameObject("/Tx"),
            NameObject("/T"): TextStringObject("dose"),
            NameObject("/V"): TextStringObject("10 mg"),
            NameObject("/Rect"): ArrayObject([NumberObject(n) for n in (100, 100, 200, 120)]),
        }
    )
    reference = writer._add_object(field)
    writer.pages[0][NameObject("/Annots")] = ArrayObject([reference])
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject(
        {NameObject("/Fields"): ArrayObject([reference])}
    )
    with pdf.open("wb") as handle:
        writer.write(handle)
    code, text = _verify(simulated.db_path, pdf, capsys)
    assert code == 1 and "form field" in text
