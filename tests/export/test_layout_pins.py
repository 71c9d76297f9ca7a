"""Today's layout of every export format, pinned: the output for one fixed journal, exported at a fixed
moment, has the SHA-256 recorded here under the format's layout number (app.export.layouts).

A change to what an export lays out (a column, a segment, a word on a page, thinning) changes the digest.
Without a bump of that format's layout constant this test fails, because `verify --export` would then read
every export of the old layout as edited; with the bump, the old layout's exports verify as "made by
layout N" instead, and the new layout's digest is pinned here beside the old one.

The journal is simulated through the real Floor with a ManualClock, in the station zone the exports use
(the entries' texts carry the station's clock, never this computer's); only its session ids (uuid4) are
drawn from a counter, so the journal, and therefore every export of it, is the same on every run and on
every computer (checked with TZ=UTC, America/New_York and Pacific/Auckland).
The PDF is pinned by its pages' drawing instructions (what verify compares), which depend on the fonts
installed (DejaVu Sans on the test machines: `make system-packages`).
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.domain.clock import ManualClock
from app.export.api import ExportRequest, run_export
from app.export.content import pdf_page_digests
from app.export.hl7_settings import Hl7Settings
from app.export.layouts import LAYOUTS
from app.export.sample_shift import Visit, run_shift
from app.floor import Floor
from app.protocol_library import ProtocolLibrary
from app.store.journal import Journal

from .conftest import ZONE, shift_config

DAY = date(2026, 1, 5)
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
EXPORTED_AT = datetime(2026, 1, 5, 17, 30, tzinfo=UTC)
VISITS = (  # a reaction with an occlusion, a discontinuation, a nurse pause, a completion
    Visit(
        "Chair 1", "ÉÖ", "MRN-ü001", "ocrevus-600-subsequent", reaction=(2, 50.0), occlusion_alarm_at_min=35.0
    ),
    Visit("Chair 2", "AB", "MRN-002", "natalizumab-300", reaction=(3, 20.0), observation_notice=True),
    Visit("Chair 2", "CD", "MRN-003", "ocrevus-600-short", arrive_after_min=15.0, pause_at_min=30.0),
)
SETTINGS = Hl7Settings(station_name="POD-A", station_eui64="02-00-5E-10-00-00-00-01")

FIXED_HEAD = "4b1b8110ae710785a20461b1348c5e15636692eaad80d6dc785c084240a6d25f"
PINNED = {
    ("csv", 1): "9284a16c1e0fd6ff4997424a85b96d5ee71fd3f57841d5f6df48de3c0998ed8f",
    ("json", 1): "575e1598f14d193444f2457b58d7efc66c1ebbbf7aef4d5e96ed0d474e4837b0",
    ("hl7", 1): "878f90f6195d6954d729c32d1740a40ba534413a7fe4e40071c184df9e360818",
    ("pdf", 1): "cf165799ddb7dbc0b182e7d3c2edaa980fb6431e0864d496d0c72e65135cf94f",
}
"""(format, layout) -> SHA-256 of the output (the PDF: of its pages' drawing-instruction digests).
Keep the pins of older layouts: they say what each layout was."""

CONSTANTS = {
    "csv": "CSV_LAYOUT in app/export/tabular.py",
    "json": "JSON_LAYOUT in app/export/tabular.py",
    "hl7": "HL7_LAYOUT in app/export/hl7.py",
    "pdf": "PDF_LAYOUT in app/export/pdf.py",
}


@pytest.fixture(scope="module")
def fixed_journal(tmp_path_factory: pytest.TempPathFactory, library: ProtocolLibrary) -> Path:
    db = tmp_path_factory.mktemp("fixed-journal") / "chairside.sqlite"
    counter = itertools.count(1)
    clock = ManualClock(START)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter)))
        with Journal(db, clock) as journal:
            floor = Floor(journal, library, clock, display_tz=ZoneInfo(ZONE))  # not this computer's zone
            run_shift(floor, clock, VISITS, until=START + timedelta(hours=7))
    return db


def _output_digest(db: Path, fmt: str, folder: Path) -> str:
    config = shift_config()
    out = folder / f"fixed.{fmt}"
    request = ExportRequest(
        db, config.range_for(DAY, "day"), fmt, out, local=config.local, hl7_settings=SETTINGS
    )
    run_export(request, now=EXPORTED_AT)
    if fmt == "pdf":
        return hashlib.sha256("\n".join(pdf_page_digests(out)).encode("ascii")).hexdigest()
    return hashlib.sha256(out.read_bytes()).hexdigest()


def test_the_fixed_journal_is_the_same_on_every_run(fixed_journal: Path) -> None:
    """What the pins stand on: the journal's head hash is fixed too (else a pin would fail for no layout)."""
    with Journal(fixed_journal, read_only=True) as journal:
        position, head_hash = journal.head()
    assert (position, head_hash) == (76, FIXED_HEAD), f"the fixed journal changed: {position} {head_hash}"


@pytest.mark.parametrize("fmt", sorted(LAYOUTS))
def test_todays_layout_of_each_format_is_pinned(fixed_journal: Path, tmp_path: Path, fmt: str) -> None:
    digest = _output_digest(fixed_journal, fmt, tmp_path)
    layout = LAYOUTS[fmt]
    pinned = PINNED.get((fmt, layout))
    assert pinned is not None, (
        f"{fmt} layout {layout} has no pinned output: pin ({fmt!r}, {layout}): {digest!r}"
    )
    assert digest == pinned, (
        f"the {fmt} output changed without a layout bump: exports of layout {layout} would verify as edited. "
        f"Bump {CONSTANTS[fmt]} to {layout + 1} and pin ({fmt!r}, {layout + 1}): {digest!r}"
    )
