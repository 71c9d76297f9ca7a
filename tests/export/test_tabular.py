"""CSV and JSON exports hold exactly the journal's entries of the range, one row per entry."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

from app.export.api import ExportRequest, run_export
from app.export.records import COLUMNS
from app.store.journal import range_digest

from .conftest import SimulatedShift


def _export(sim: SimulatedShift, fmt: str, out: Path) -> None:
    run_export(ExportRequest(sim.db_path, sim.export_range, fmt, out, local=sim.local))


def test_csv_rows_equal_the_journal_events(simulated: SimulatedShift, tmp_path: Path) -> None:
    out = tmp_path / "shift.csv"
    _export(simulated, "csv", out)
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the mark
    assert b"\r\n" in raw
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0].keys()) == COLUMNS
    entries = list(
        simulated.journal.entries(since=simulated.export_range.since, until=simulated.export_range.until)
    )
    assert len(entries) > 100
    assert len(rows) == len(entries)
    for row, entry in zip(rows, entries, strict=True):
        assert int(row["position"]) == entry.position
        assert row["session_id"] == entry.session_id
        assert int(row["seq"]) == entry.seq
        assert row["event_type"] == entry.type
        assert row["values"] == entry.payload_text
        assert json.loads(row["values"]) == entry.payload
        assert row["actor"] == entry.actor
        assert row["hash"] == entry.hash
        occurred = datetime.fromisoformat(row["occurred_at"])
        assert occurred == entry.occurred_at
        assert occurred.utcoffset() == timedelta(hours=1)
        assert datetime.fromisoformat(row["recorded_at"]) == entry.recorded_at
    chair_one = [r for r in rows if r["chair"] == "Chair 1"]
    assert chair_one and all(
        r["patient_initials"] == "ÉÖ" and r["patient_mrn"] == "MRN-ü001" for r in chair_one
    )
    manifest = json.loads((tmp_path / "shift.csv.manifest.json").read_text(encoding="utf-8"))
    assert manifest["seal"]["digest"] == range_digest(entries)
    assert manifest["seal"]["count"] == len(entries)


def test_json_holds_the_same_events_and_the_digest(simulated: SimulatedShift, tmp_path: Path) -> None:
    out = tmp_path / "shift.json"
    _export(simulated, "json", out)
    document = json.loads(out.read_text(encoding="utf-8"))
    entries = list(
        simulated.journal.entries(since=simulated.export_range.since, until=simulated.export_range.until)
    )
    assert [e["position"] for e in document["events"]] == [e.position for e in entries]
    assert [e["values"] for e in document["events"]] == [e.payload for e in entries]
    assert [e["hash"] for e in document["events"]] == [e.hash for e in entries]
    assert document["seal"]["digest"] == range_digest(entries)
    assert document["timezone"] == "Europe/Zurich"
    assert "ÉÖ" in out.read_text(encoding="utf-8")


def test_csv_guards_formula_cells_and_verify_knows_the_guard(
    floor: object, clock: object, journal: object, chair_script: object, tmp_path: Path
) -> None:
    """OWASP CSV injection: a cell starting with = + - @ TAB or CR gets a leading apostrophe."""
    from datetime import UTC
    from datetime import datetime as dt

    from app.cli import main
    from app.domain.commands import AddNote
    from app.export.shifts import ExportRange, LocalTime
    from app.export.tabular import read_csv_rows

    from ..conftest import ChairScript

    assert isinstance(chair_script, ChairScript)
    chair_script.check_in(patient_initials="+AB", patient_mrn='=HYPERLINK("http://x","y")')
    for actor in ("@SUM(1)", "-2+3", "\tcmd", "'quoted"):
        chair_script.floor.execute(chair_script.session_id, AddNote("n"), actor)
    out = tmp_path / "guarded.csv"
    since = dt(2026, 1, 5, 0, 0, tzinfo=UTC)
    export_range = ExportRange(since, since + timedelta(days=1), "day")
    run_export(
        ExportRequest(chair_script.floor.journal.path, export_range, "csv", out, local=LocalTime.named("UTC"))
    )
    with out.open(encoding="utf-8-sig", newline="") as handle:
        raw = [dict(zip(COLUMNS, row, strict=True)) for row in list(csv.reader(handle))[1:]]
    assert raw[0]["patient_mrn"] == '\'=HYPERLINK("http://x","y")'
    assert raw[0]["patient_initials"] == "'+AB"
    assert [r["actor"] for r in raw[1:]] == ["'@SUM(1)", "'-2+3", "'\tcmd", "''quoted"]
    for row in raw:
        assert all(not cell or cell[0] not in "=+-@\t\r" for cell in row.values())
    assert read_csv_rows(out)[1][COLUMNS.index("actor")] == "@SUM(1)"  # the guard comes off on reading
    chair_script.floor.journal.close()
    assert main(["verify", "--db", str(chair_script.floor.journal.path), "--export", str(out)]) == 0
