"""Exports record the layout that made them, and `verify --export` never reads a layout change as an edit.

An export made by an older Chairside (an older layout: this round, HL7's PID-5 and thinning changed) is
rebuilt here as that Chairside wrote it: its content in the older layout, its manifest without the
layout field (made before the field existed), the file hash recomputed and the manifest signed with the
station key, as the station itself did. Verify must still check what does not depend on the layout
(file hash, signature, the journal range's digest), say the content was not re-laid out, and exit 1.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.export.layouts import LAYOUTS
from app.export.manifest import file_sha256, manifest_path
from app.export.pdf import XMP_TAG
from app.export.seals import load_key, sign

from .conftest import ZONE, SimulatedShift
from .test_verify_cli import _tamper_journal

FORMATS = ("csv", "json", "pdf", "hl7")


def _export(sim: SimulatedShift, fmt: str, out: Path) -> None:
    """The day's shift in the station's zone (its configuration), whatever this computer's zone is."""
    sim.journal.close()
    config = out.with_name("station.toml")
    config.write_text(
        f'[station]\nname = "Pod A"\ndisplay_tz = "{ZONE}"\n\n[[chairs]]\nname = "Chair 1"\n',
        encoding="utf-8",
    )
    command = ["export", "--db", str(sim.db_path), "--config", str(config), "--format", fmt, "-o", str(out)]
    assert main([*command, "--shift", "2026-01-05"]) == 0


def _verify(sim: SimulatedShift, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", "--db", str(sim.db_path), "--export", str(out)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _manifest(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(manifest_path(out).read_text(encoding="utf-8"))
    return document


def _pdf_payload(out: Path) -> dict[str, Any]:
    match = re.search(rf"<{XMP_TAG}>(.*?)</{XMP_TAG}>".encode(), out.read_bytes(), re.DOTALL)
    assert match is not None
    payload: dict[str, Any] = json.loads(html.unescape(match.group(1).decode("ascii")))
    return payload


def _as_written_by_layout(out: Path, fmt: str, layout: int | None) -> None:
    """The export as a Chairside of `layout` wrote it (None: before the field existed): the layout
    recorded inside the file too (JSON, PDF), the manifest's hash redone and signed by the station."""
    if fmt == "json":
        document = json.loads(out.read_text(encoding="utf-8"))
        document.pop("layout", None)
        if layout is not None:
            document["layout"] = layout
        out.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if fmt == "pdf":  # the XMP record edited in place, same length (the PDF's offsets stay right)
        data = out.read_bytes()
        field = f'"layout": {LAYOUTS["pdf"]}, '.encode()
        assert data.count(field) == 1
        replacement = b"" if layout is None else f'"layout": {layout}, '.encode()
        out.write_bytes(data.replace(field, replacement.ljust(len(field))))
    manifest = _manifest(out)
    manifest.pop("signature")
    manifest.pop("layout", None)
    if layout is not None:
        manifest["layout"] = layout
    manifest["file_sha256"] = file_sha256(out)
    manifest["signature"] = sign(load_key(), manifest)
    manifest_path(out).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_export_records_the_layout_that_made_it(
    simulated: SimulatedShift, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"shift.{fmt}"
    _export(simulated, fmt, out)
    assert _manifest(out)["layout"] == LAYOUTS[fmt] >= 1
    if fmt == "json":
        assert json.loads(out.read_text(encoding="utf-8"))["layout"] == LAYOUTS["json"]
    if fmt == "pdf":  # a PDF without its manifest still says which layout drew it
        assert _pdf_payload(out)["layout"] == LAYOUTS["pdf"]


def test_an_hl7_export_of_the_older_layout_is_unchecked_never_edited(
    simulated: SimulatedShift, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before this round PID-5 carried the initials as the family name (issue 18 point 8)."""
    out = tmp_path / "shift.hl7"
    _export(simulated, "hl7", out)
    assert _verify(simulated, out, capsys)[0] == 0
    today = out.read_bytes()
    older = today.replace(b"|^^^^^^U\r", "|ÉÖ^^^^^^U\r".encode(), 1)  # the last field of PID
    assert older != today
    out.write_bytes(older)
    _as_written_by_layout(out, "hl7", None)
    code, text = _verify(simulated, out, capsys)
    assert code == 1, text
    assert "edited" not in text and "NOT match" not in text and "matches the journal" not in text, text
    assert (
        f"content differs from today's layout: made by layout 0 (before layouts were recorded); this Chairside lays out {LAYOUTS['hl7']}"
        in text
    ), text
    assert "the older layout is not read as an edit" in text, text
    assert "signature and anchors verified" in text and "file hash matches" in text, text
    assert text.count("\n") == 1, text  # one finding, one line


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_export_made_before_layouts_were_recorded_that_today_lays_out_the_same_verifies(
    simulated: SimulatedShift, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Last round's exports record no layout; where today's layout gives the same content they are
    compared as today's, and an edit of one is still an edit."""
    out = tmp_path / f"shift.{fmt}"
    _export(simulated, fmt, out)
    _as_written_by_layout(out, fmt, None)
    code, text = _verify(simulated, out, capsys)
    assert code == 0 and "matches the journal" in text and "layout" not in text, text
    if fmt == "csv":  # edited: its signed manifest's file hash catches it, layout or none
        _edit_first_reaction_grade(out)
        code, text = _verify(simulated, out, capsys)
        assert code == 1 and "was changed after it was exported" in text, text


def _edit_first_reaction_grade(out: Path) -> None:
    text = out.read_text(encoding="utf-8")
    edited = re.sub(r"grade (\d)", lambda m: f"grade {int(m.group(1)) % 4 + 1}", text, count=1)
    assert edited != text
    out.write_text(edited, encoding="utf-8")


def test_an_older_layout_still_has_its_file_hash_signature_and_journal_range_checked(
    simulated: SimulatedShift, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shift.csv"
    _export(simulated, "csv", out)
    _as_written_by_layout(out, "csv", None)
    pristine, manifest = out.read_bytes(), manifest_path(out).read_bytes()
    # The file edited after export.
    out.write_bytes(pristine.replace("MRN-ü001".encode(), b"MRN-X001", 1))
    code, text = _verify(simulated, out, capsys)
    assert code == 1 and "was changed after it was exported" in text, text
    # The manifest's hash redone by hand: its signature no longer holds.
    document = json.loads(manifest)
    document["file_sha256"] = file_sha256(out)
    manifest_path(out).write_text(json.dumps(document), encoding="utf-8")
    code, text = _verify(simulated, out, capsys)
    assert code == 1 and "the signature does not match" in text, text
    # The journal edited under an untouched export.
    out.write_bytes(pristine)
    manifest_path(out).write_bytes(manifest)
    _tamper_journal(simulated.db_path)
    code, text = _verify(simulated, out, capsys)
    assert code == 1 and "export does NOT match the journal" in text, text
    assert "was changed after it was recorded" in text, text


def test_an_export_of_a_newer_layout_says_to_verify_it_with_that_chairside(
    simulated: SimulatedShift, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shift.json"
    _export(simulated, "json", out)
    newer = LAYOUTS["json"] + 1
    _as_written_by_layout(out, "json", newer)
    code, text = _verify(simulated, out, capsys)
    assert code == 1, text
    assert f"made by layout {newer}; this Chairside lays out {LAYOUTS['json']}" in text, text
    assert f"verify it with a Chairside that lays out {newer}" in text, text
    assert "edited" not in text and "NOT match" not in text, text


def test_a_layout_the_manifest_and_the_file_disagree_on_is_an_edit(
    simulated: SimulatedShift, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shift.json"
    _export(simulated, "json", out)
    _as_written_by_layout(out, "json", 0)  # the file says 0 ...
    manifest = _manifest(out)
    manifest.pop("signature")
    manifest["layout"] = LAYOUTS["json"]  # ... the manifest says today's
    manifest["signature"] = sign(load_key(), manifest)
    manifest_path(out).write_text(json.dumps(manifest), encoding="utf-8")
    code, text = _verify(simulated, out, capsys)
    assert code == 1 and "export does NOT match the journal" in text, text
    assert "layout" in text and "differs from its manifest" in text, text


def test_a_layout_that_is_not_a_number_is_refused_in_one_line(
    simulated: SimulatedShift, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shift.csv"
    _export(simulated, "csv", out)
    manifest = _manifest(out)
    manifest.pop("signature")
    manifest["layout"] = "1; drop"
    manifest["signature"] = sign(load_key(), manifest)
    manifest_path(out).write_text(json.dumps(manifest), encoding="utf-8")
    code, text = _verify(simulated, out, capsys)
    assert code == 1 and text.count("\n") == 1 and "layout" in text, text


def test_two_findings_are_two_lines(
    simulated: SimulatedShift, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON export made before layouts were recorded, sent without its manifest, whose content today's
    layout gives differently: nothing outside the file vouches for its bytes, so an older layout and an
    edit look the same, and that is what verify says; then, on its own line, the missing manifest."""
    out = tmp_path / "shift.json"
    _export(simulated, "json", out)
    _as_written_by_layout(out, "json", None)
    _edit_first_reaction_grade(out)
    manifest_path(out).unlink()
    code, text = _verify(simulated, out, capsys)
    assert code == 1, text
    lines = text.splitlines()
    assert len(lines) == 2, text
    assert "made by layout 0" in lines[0] and "laid out by an older Chairside, or edited" in lines[0], text
    assert "matches the journal" not in text, text
    assert (
        lines[1] == "shift.json: signature not checked: no manifest (shift.json.manifest.json is missing)"
    ), text
