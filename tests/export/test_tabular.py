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
