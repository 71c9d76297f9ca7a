"""Content comparison of an export against what the journal says now (HL7 message by message, PDF
page by page). Each function returns readable problems, first the most telling; none means a match."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from app.export.hl7 import Hl7Message

MAX_PROBLEMS = 5


def _control_id(er7: str) -> str:
    fields = er7.split("\r", 1)[0].split("|")
    return fields[9] if len(fields) > 9 else ""


def _field_difference(actual: str, expected: str) -> str:
    got = [s.split("|") for s in actual.rstrip("\r").split("\r")]
    want = [s.split("|") for s in expected.rstrip("\r").split("\r")]
    for number, (g, w) in enumerate(zip(got, want, strict=False), start=1):
        for index in range(max(len(g), len(w))):
            gv = g[index] if index < len(g) else ""
            wv = w[index] if index < len(w) else ""
            if gv != wv:
                field = index + 1 if w[0] == "MSH" else index
                return f"{w[0]}-{field} of segment {number}: the file has {gv!r}, the journal gives {wv!r}"
    return f"the file has {len(got)} segments, the journal gives {len(want)}"


def hl7_problems(actual: Sequence[str], expected: Sequence[Hl7Message]) -> list[str]:
    """Deleted, added, edited and reordered messages, named by MSH-10 and what they report."""
    problems: list[str] = []
    want = {m.control_id: m for m in expected}
    got = {_control_id(text): text for text in actual}
    for message in expected:
        if message.control_id not in got:
            problems.append(
                f"message {message.control_id} ({message.what}, session {message.session_id}) is missing "
                "from the file (deleted)"
            )
    for control_id in got:
        if control_id not in want:
            problems.append(f"message {control_id} in the file is not one the journal gives (added)")
    for message in expected:
        text = got.get(message.control_id)
        if text is not None and text != message.er7:
            problems.append(
                f"message {message.control_id} ({message.what}) was edited: {_field_difference(text, message.er7)}"
            )
    common_actual = [c for c in got if c in want]
    common_expected = [m.control_id for m in expected if m.control_id in got]
    if common_actual != common_expected:
        for position, (a, e) in enumerate(zip(common_actual, common_expected, strict=True), start=1):
            if a != e:
                problems.append(
                    f"messages are out of order: message {position} of the file is {a}, the journal gives {e} there"
                )
                break
    return problems[:MAX_PROBLEMS] + (
        [f"... and {len(problems) - MAX_PROBLEMS} more"] if len(problems) > MAX_PROBLEMS else []
    )


def pdf_page_digests(path: Path) -> list[str]:
    """SHA-256 of each page's drawing instructions (decoded content stream), in page order."""
    import pypdf

    try:
        reader = pypdf.PdfReader(str(path))
        digests = []
        for page in reader.pages:
            contents = page.get_contents()
            data = contents.get_data() if contents is not None else b""
            digests.append(hashlib.sha256(data).hexdigest())
    except (pypdf.errors.PdfReadError, ValueError, KeyError, OSError) as exc:
        raise ValueError(f"{path.name} cannot be read as a PDF: {exc}") from exc
    return digests


def pdf_overlays(path: Path) -> list[str]:
    """What is drawn over the pages besides their own drawing instructions: annotations (FreeText,
    stamps, ink, ...) per page and form fields. A Chairside PDF has none, so any is an addition."""
    import pypdf

    found: list[str] = []
    try:
        reader = pypdf.PdfReader(str(path))
        for number, page in enumerate(reader.pages, start=1):
            annotations = page.get("/Annots")
            kinds = [
                str(a.get_object().get("/Subtype", "?")).lstrip("/")
                for a in (annotations.get_object() if annotations else [])
            ]
            if kinds:
                found.append(
                    f"page {number} carries {len(kinds)} annotation(s) ({', '.join(sorted(set(kinds)))})"
                )
        fields = reader.get_fields() or {}  # the AcroForm's fields, with their kids
        if fields:
            found.append(
                f"the document carries {len(fields)} form field(s) ({', '.join(sorted(fields))[:80]})"
            )
    except (pypdf.errors.PdfReadError, ValueError, KeyError, OSError, AttributeError) as exc:
        raise ValueError(f"{path.name} cannot be read as a PDF: {exc}") from exc
    return found


def _ranges(numbers: list[int]) -> str:
    parts: list[str] = []
    start = previous = None
    for number in [*numbers, -1]:
        if previous is not None and number == previous + 1:
            previous = number
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = number
    return ", ".join(parts)


def pdf_problems(actual: Sequence[str], expected: Sequence[str]) -> list[str]:
    """Missing, changed, added and reordered pages (numbers are the export's pages, from 1)."""
    if list(actual) == list(expected):
        return []
    problems = []
    present = set(actual)
    missing = [n for n, digest in enumerate(expected, start=1) if digest not in present]
    known = set(expected)
    foreign = [n for n, digest in enumerate(actual, start=1) if digest not in known]
    if missing and len(actual) < len(expected) and not foreign:
        problems.append(
            f"pages {_ranges(missing)} of the export are missing (the file has {len(actual)} of {len(expected)})"
        )
    elif missing or foreign:
        if foreign:
            problems.append(f"page(s) {_ranges(foreign)} of the file differ from what the journal gives")
        if missing:
            problems.append(
                f"page(s) {_ranges(missing)} of the export are not in the file (changed or removed)"
            )
    if not problems:
        for number, (a, e) in enumerate(zip(actual, expected, strict=False), start=1):
            if a != e:
                where = expected.index(a) + 1
                problems.append(
                    f"pages are reordered: page {number} of the file is page {where} of the export"
                )
                break
        if not problems:
            problems.append(f"the file has {len(actual)} pages, the export had {len(expected)}")
    return problems
