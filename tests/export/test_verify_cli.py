"""`chairside export` and `chairside verify --export`: a match, a tampered journal, a tampered export."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from app.cli import main
from app.export.api import ExportRequest, run_export
from app.export.manifest import manifest_path

from .conftest import ZONE, SimulatedShift


@pytest.fixture
def shifts_toml(tmp_path: Path) -> Path:
    path = tmp_path / "shifts.toml"
    path.write_text(
        f'timezone = "{ZONE}"\n[[shifts]]\nname = "day"\nstart = "07:00"\nend = "19:00"\n'
        '[[shifts]]\nname = "night"\nstart = "19:00"\nend = "07:00"\n',
        encoding="utf-8",
    )
    return path


def _export(sim: SimulatedShift, shifts: Path, fmt: str, out: Path, *extra: str) -> int:
    sim.journal.close()
    return main(
        ["export", "--db", str(sim.db_path), "--shifts", str(shifts), "--format", fmt, "-o", str(out), *extra]
    )


def _tamper_journal(db_path: Path) -> None:
    """What someone with sqlite3 could do: drop the append-only triggers and edit a recorded dose."""
    conn = sqlite3.connect(db_path)
    conn.execute("DROP TRIGGER events_are_append_only_update")
    conn.execute("DROP TRIGGER events_are_append_only_delete")
    (position,) = conn.execute(
        "SELECT MIN(position) FROM events WHERE type = 'premedication_given'"
    ).fetchone()
    conn.execute(
        "UPDATE events SET payload = replace(payload, '100 mg', '10 mg') WHERE position = ?", (position,)
    )
    conn.commit()
    conn.close()


@pytest.mark.parametrize("fmt", ["csv", "json", "pdf", "hl7"])
def test_export_verifies_then_a_tampered_journal_fails(
    simulated: SimulatedShift, shifts_toml: Path, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"shift.{fmt}"
    assert _export(simulated, shifts_toml, fmt, out, "--shift", "2026-01-05/day") == 0
    assert "2026-01-05 day shift: exported" in capsys.readouterr().out
    assert main(["verify", "--db", str(simulated.db_path), "--export", str(out)]) == 0
    assert "matches the journal" in capsys.readouterr().out
    _tamper_journal(simulated.db_path)
    assert main(["verify", "--db", str(simulated.db_path), "--export", str(out)]) == 1
    message = capsys.readouterr().err
    assert "export does NOT match the journal" in message
    assert "was changed after it was recorded" in message


def test_a_rehashed_edit_changes_the_range_digest(
    simulated: SimulatedShift, shifts_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even an edit whose row hash was recomputed (chain left broken) is found."""
    from app.store.journal import row_hash

    out = tmp_path / "shift.json"
    assert _export(simulated, shifts_toml, "json", out, "--shift", "2026-01-05/day") == 0
    conn = sqlite3.connect(simulated.db_path)
    conn.row_factory = sqlite3.Row
    conn.execute("DROP TRIGGER events_are_append_only_update")
    row = conn.execute(
        "SELECT * FROM events WHERE type = 'vitals_recorded' ORDER BY position LIMIT 1"
    ).fetchone()
    payload = row["payload"].replace("124", "99")
    digest = row_hash({**dict(row), "payload": payload})
    conn.execute(
        "UPDATE events SET payload = ?, hash = ? WHERE position = ?", (payload, digest, row["position"])
    )
    conn.commit()
    conn.close()
    assert main(["verify", "--db", str(simulated.db_path), "--export", str(out)]) == 1
    assert "NOT match" in capsys.readouterr().err


def test_a_tampered_export_fails(
    simulated: SimulatedShift, shifts_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv_out, json_out, pdf_out = tmp_path / "s.csv", tmp_path / "s.json", tmp_path / "s.pdf"
    for path in (csv_out, json_out, pdf_out):
        assert _export(simulated, shifts_toml, path.suffix[1:], path, "--shift", "2026-01-05/day") == 0
    capsys.readouterr()
    csv_out.write_bytes(csv_out.read_bytes().replace("MRN-ü001".encode(), b"MRN-X001", 1))
    assert main(["verify", "--db", str(simulated.db_path), "--export", str(csv_out)]) == 1
    assert "was changed after it was exported" in capsys.readouterr().err
    # Without the manifest, a JSON edit is still found row by row.
    manifest_path(json_out).unlink()
    document = json.loads(json_out.read_text(encoding="utf-8"))
    document["events"][5]["actor"] = "someone else"
    json_out.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    assert main(["verify", "--db", str(simulated.db_path), "--export", str(json_out)]) == 1
    assert "row 6 of the JSON events" in capsys.readouterr().err
    data = pdf_out.read_bytes()
    pdf_out.write_bytes(data.replace(b"/Producer", b"/Producex", 1))
    assert main(["verify", "--db", str(simulated.db_path), "--export", str(pdf_out)]) == 1
    assert "was changed after it was exported" in capsys.readouterr().err
    manifest_path(pdf_out).unlink()  # the PDF's own XMP seal still verifies the journal range, but unsigned
    assert main(["verify", "--db", str(simulated.db_path), "--export", str(pdf_out)]) == 1
    err = capsys.readouterr().err
    assert "matches the journal" in err and "signature not checked: no manifest" in err


def test_export_range_options(
    simulated: SimulatedShift, shifts_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.csv"
    assert (
        _export(
            simulated, shifts_toml, "csv", out, "--from", "2026-01-05T10:00", "--to", "2026-01-05T12:00+01:00"
        )
        == 0
    )
    rows = out.read_text(encoding="utf-8-sig").splitlines()[1:]
    assert rows and all(",2026-01-05T1" in row for row in rows)
    assert (
        _export(simulated, shifts_toml, "csv", out, "--shift", "2026-01-05/day", "--from", "2026-01-05T10:00")
        == 2
    )
    assert "either --shift or --from/--to" in capsys.readouterr().err
    assert _export(simulated, shifts_toml, "csv", out, "--shift", "2026-01-05/evening") == 2
    assert "no shift called 'evening'" in capsys.readouterr().err
    assert main(["export", "--db", str(tmp_path / "none.sqlite"), "--format", "csv", "-o", str(out)]) == 2
    assert "no database" in capsys.readouterr().err


def test_empty_shift_exports_cleanly_in_every_format(simulated: SimulatedShift, tmp_path: Path) -> None:
    empty = simulated.config.range_for(simulated.export_range.since.date().replace(day=7), "night")
    for fmt in ("pdf", "csv", "json", "hl7"):
        out = tmp_path / f"empty.{fmt}"
        result = run_export(ExportRequest(simulated.db_path, empty, fmt, out, local=simulated.local))
        assert result.seal.count == 0 and out.exists()
        if fmt != "hl7":
            assert main(["verify", "--db", str(simulated.db_path), "--export", str(out)]) == 0
    import pypdf

    text = pypdf.PdfReader(str(tmp_path / "empty.pdf")).pages[0].extract_text()
    assert "No journal entries were recorded in this range." in " ".join(text.split())
    assert (tmp_path / "empty.csv").read_text(encoding="utf-8-sig").count("\n") == 1


def _rehash_manifest(export: Path) -> None:
    """What a careful forger does after editing an export: recompute the sidecar's SHA-256."""
    from app.export.manifest import file_sha256

    manifest = manifest_path(export)
    document = json.loads(manifest.read_text(encoding="utf-8"))
    document["file_sha256"] = file_sha256(export)
    manifest.write_text(json.dumps(document), encoding="utf-8")


def _verify(sim: SimulatedShift, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", "--db", str(sim.db_path), "--export", str(out)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_hl7_content_is_checked_message_by_message(
    simulated: SimulatedShift, shifts_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shift.hl7"
    assert _export(simulated, shifts_toml, "hl7", out, "--shift", "2026-01-05/day") == 0
    original = out.read_bytes()
    assert _verify(simulated, out, capsys)[0] == 0
    # An OBX rate changed from 40 to 400, the sidecar's SHA-256 recomputed.
    edited = original.replace(b"|1.1.2.4|40|", b"|1.1.2.4|400|", 1)
    assert edited != original
    out.write_bytes(edited)
    _rehash_manifest(out)
    code, text = _verify(simulated, out, capsys)
    assert code == 1
    assert "was edited: OBX-5 of segment" in text and "the file has '400', the journal gives '40'" in text
    # A deleted message.
    messages = original.split(b"MSH|")
    out.write_bytes(b"MSH|".join(messages[:5] + messages[6:]))
    _rehash_manifest(out)
    code, text = _verify(simulated, out, capsys)
    assert code == 1 and "is missing from the file (deleted)" in text
    # Two messages swapped.
    out.write_bytes(b"MSH|".join([*messages[:5], messages[6], messages[5], *messages[7:]]))
    _rehash_manifest(out)
    code, text = _verify(simulated, out, capsys)
    assert code == 1 and "messages are out of order: message 5 of the file" in text


def test_pdf_content_is_checked_page_by_page(
    simulated: SimulatedShift, shifts_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pypdf

    out = tmp_path / "shift.pdf"
    assert _export(simulated, shifts_toml, "pdf", out, "--shift", "2026-01-05/day") == 0
    assert _verify(simulated, out, capsys)[0] == 0
    reader = pypdf.PdfReader(str(out))
    total = len(reader.pages)
    assert total >= 8
    writer = pypdf.PdfWriter(clone_from=reader)
    for index in range(6, 2, -1):  # remove pages 4-7 (index 3-6)
        del writer.pages[index]
    with out.open("wb") as handle:
        writer.write(handle)
    _rehash_manifest(out)
    code, text = _verify(simulated, out, capsys)
    assert code == 1 and f"pages 4-7 of the export are missing (the file has {total - 4} of {total})" in text
    # Without its manifest the PDF still carries what is needed to lay it out again.
    manifest_path(out).unlink()
    code, text = _verify(simulated, out, capsys)
    assert code == 1 and "pages 4-7 of the export are missing" in text


def test_an_export_verifies_the_same_in_another_time_zone(simulated: SimulatedShift, tmp_path: Path) -> None:
    """Exported on a computer in Zurich (no zone configured: the computer's own), verified in UTC."""
    import os
    import subprocess
    import sys

    simulated.journal.close()
    shifts = tmp_path / "shifts-no-zone.toml"
    shifts.write_text('[[shifts]]\nname = "day"\nstart = "07:00"\nend = "19:00"\n', encoding="utf-8")
    for fmt in ("csv", "hl7", "pdf"):
        out = tmp_path / f"zone.{fmt}"
        base = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        exported = subprocess.run(
            [
                sys.executable,
                "-m",
                "app",
                "export",
                "--db",
                str(simulated.db_path),
                "--shifts",
                str(shifts),
                "--format",
                fmt,
                "-o",
                str(out),
                "--shift",
                "2026-01-05/day",
            ],
            env={**base, "TZ": "Europe/Zurich"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert exported.returncode == 0, exported.stderr
        document = json.loads(manifest_path(out).read_text(encoding="utf-8"))
        assert document["timezone"] == "Europe/Zurich" and document["utc_offsets"] == ["+01:00"]
        verified = subprocess.run(
            [sys.executable, "-m", "app", "verify", "--db", str(simulated.db_path), "--export", str(out)],
            env={**base, "TZ": "UTC"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert verified.returncode == 0, verified.stderr


def test_csv_deleted_and_reordered_rows_are_named(
    simulated: SimulatedShift, shifts_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shift.csv"
    assert _export(simulated, shifts_toml, "csv", out, "--shift", "2026-01-05/day") == 0
    lines = out.read_bytes().split(b"\r\n")
    deleted_position = lines[8].split(b",", 1)[0].decode()
    out.write_bytes(b"\r\n".join(lines[:8] + lines[9:]))
    _rehash_manifest(out)
    code, text = _verify(simulated, out, capsys)
    assert code == 1 and f"journal entries {deleted_position} are missing (deleted rows)" in text
    out.write_bytes(b"\r\n".join([*lines[:8], lines[9], lines[8], *lines[10:]]))
    _rehash_manifest(out)
    code, text = _verify(simulated, out, capsys)
    assert code == 1 and "row 8 of the CSV is journal entry" in text and "(rows reordered)" in text


def _station_file(tmp_path: Path, hl7: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(
        '[station]\nname = "Pod A"\ndisplay_tz = "Europe/Zurich"\n\n[[chairs]]\nname = "Chair 1"\n\n' + hl7,
        encoding="utf-8",
    )
    return path


def test_hl7_identities_come_from_the_station_file(
    simulated: SimulatedShift, shifts_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The production path: `chairside export` reads [hl7] of the station configuration."""
    station = _station_file(
        tmp_path,
        '[hl7]\nfacility = "KSB"\nassigning_authority = "KSB-PID"\nstation_eui64 = "00-12-21-00-00-00-00-0A"\n'
        'sample_interval_min = 30\n[hl7.pump_eui64]\n"Chair 1" = "001221000000000B"\n',
    )
    out = tmp_path / "shift.hl7"
    args = ("--shift", "2026-01-05/day", "--config", str(station))
    assert _export(simulated, shifts_toml, "hl7", out, *args) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("MSH|^~\\&|Pod A^001221000000000A^EUI-64|KSB|")
    assert "^^^KSB-PID^MR|" in text and "Chair 1^^001221000000000B^EUI-64" in text
    assert _verify(simulated, out, capsys)[0] == 0  # verify rebuilds with the recorded settings
    bad = _station_file(tmp_path, '[hl7]\nstation_eui64 = "not-an-eui"\n')
    code = _export(simulated, shifts_toml, "hl7", out, "--shift", "2026-01-05/day", "--config", str(bad))
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "[hl7]: station_eui64: 'not-an-eui' is not an EUI-64" in err


def test_exports_still_verify_after_their_readings_are_compacted(
    simulated: SimulatedShift, shifts_toml: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Compaction (app.store.telemetry.compact) thins closed sessions' readings; HL7 and PDF are built
    from the readings compaction keeps, so they verify the same before and after."""
    from datetime import UTC, datetime

    from app.store.telemetry import compact

    outs = [tmp_path / f"shift.{fmt}" for fmt in ("hl7", "pdf")]
    for out in outs:
        assert _export(simulated, shifts_toml, out.suffix[1:], out, "--shift", "2026-01-05/day") == 0
    conn = sqlite3.connect(simulated.db_path)
    result = compact(conn, datetime(2026, 1, 6, tzinfo=UTC))
    conn.close()
    assert result.readings_deleted > 100
    for out in outs:
        code, text = _verify(simulated, out, capsys)
        assert code == 0, text
