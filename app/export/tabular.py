"""CSV and JSON shift logs: exactly the journal entries of the range, one row (object) per entry.

CSV: UTF-8 with a byte-order mark (Excel then reads it as UTF-8; LibreOffice ignores the mark), comma
separated, CRLF line ends (RFC 4180), a header row and then one row per journal entry, nothing else.
The verification record cannot go inside without breaking "rows equal the journal entries" (a comment
line is a data row to Excel and to csv readers), so it is written next to the file as a manifest
(FILE.manifest.json, see app.export.manifest). JSON carries the same rows and its seal inside.

Spreadsheet formula injection (OWASP "CSV Injection"): a cell that starts with = + - @ TAB or CR gets a
leading apostrophe, so Excel and LibreOffice show it as text instead of evaluating it. A cell that
already starts with an apostrophe gets one too, so the guard is reversible: `read_csv_rows` takes exactly
one leading apostrophe off (verify compares the journal's own values).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from app.export.model import ShiftLog
from app.export.records import COLUMNS, event_rows, row_dicts

JSON_FORMAT = "chairside-shift-log"
JSON_VERSION = 1
CSV_LAYOUT = 1
"""The CSV's layout (header, rows from app.export.records, guards, encoding): bump it whenever the
output for the same journal changes, or `verify --export` would read an older CSV as edited
(tests/export/test_layout_pins.py pins today's output)."""
JSON_LAYOUT = 1
"""The JSON document's layout (its fields and rows): bump it as CSV_LAYOUT."""


FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")
GUARD = "'"


def guard_cell(cell: str) -> str:
    return GUARD + cell if cell.startswith((*FORMULA_LEAD, GUARD)) else cell


def unguard_cell(cell: str) -> str:
    return cell[1:] if cell.startswith(GUARD) else cell


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, dialect="excel", lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([guard_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def write_csv(log: ShiftLog, output: Path) -> int:
    rows = event_rows(log)
    output.write_bytes(csv_text(rows).encode("utf-8-sig"))
    return len(rows)


def read_csv_rows(path: Path) -> list[list[str]]:
    """The data rows of an exported CSV (header checked)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise ValueError(f"{path.name} is not a Chairside shift log CSV (unexpected header row)")
    return [[unguard_cell(cell) for cell in row] for row in rows[1:]]


def json_events(log: ShiftLog) -> list[dict[str, Any]]:
    events = []
    for row in row_dicts(event_rows(log)):
        item: dict[str, Any] = dict(row)
        item["position"] = int(row["position"])
        item["seq"] = int(row["seq"])
        item["values"] = json.loads(row["values"])
        events.append(item)
    return events


def json_document(log: ShiftLog) -> dict[str, Any]:
    return {
        "format": JSON_FORMAT,
        "format_version": JSON_VERSION,
        "layout": JSON_LAYOUT,
        "range": {
            "label": log.range.label,
            "since": log.local.iso(log.range.since),
            "until": log.local.iso(log.range.until),
        },
        "exported_at": log.local.iso(log.exported_at),
        "timezone": log.local.key,
        "seal": log.seal.to_json(),
        "columns": list(COLUMNS),
        "events": json_events(log),
    }


def write_json(log: ShiftLog, output: Path) -> int:
    document = json_document(log)
    output.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return len(document["events"])
