"""Signed seals: the station key, the journal anchors outside the database and signed manifests."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from app.cli import main
from app.export.manifest import file_sha256, manifest_path
from app.export.seals import anchor_log_path, key_path
from app.store.journal import GENESIS_HASH, row_hash

from .conftest import SimulatedShift


@pytest.fixture(autouse=True)
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "config"
    monkeypatch.setenv("CHAIRSIDE_CONFIG_DIR", str(folder))
    return folder


_SHIFT_VOLUME = (
    "UPDATE pump_readings SET volume_ul = volume_ul + ? WHERE (stream, at_ms) = "
    "(SELECT stream, at_ms FROM pump_readings ORDER BY at_ms LIMIT 1 OFFSET 50)"
)


def _export(sim: SimulatedShift, fmt: str, out: Path) -> None:
    sim.journal.close()
    assert (
        main(["export", "--db", str(sim.db_path), "--format", fmt, "-o", str(out), "--shift", "2026-01-05"])
        == 0
    )


def _anchor(sim: SimulatedShift) -> None:
    """What the station does on its timer and at shutdown: a signed anchor (and its journal entry)."""
    sim.journal.close()
    assert main(["keys", "anchor", "--db", str(sim.db_path)]) == 0


def _witness(db_path: Path, folder: Path) -> str:
    """A witness database holding the anchors the station signed (as `chairside witness` keeps them)."""
    from app.export.seals import AnchorLog
    from app.witness.store import WitnessStore

    path = folder / "witness.sqlite"
    with WitnessStore(path) as store:
        for record in AnchorLog(anchor_log_path(db_path)).records():
            store.add("station", record)
    return str(path)


def _verify(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _rewrite_chain(db_path: Path, entry_type: str, old: str, new: str) -> int:
    """The attack the issue describes: edit an entry, recompute every hash after it, reset the head."""
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    conn.execute("DROP TRIGGER events_are_append_only_update")
    (target,) = conn.execute(
        "SELECT MIN(position) FROM events WHERE type = ? AND payload LIKE ?", (entry_type, f"%{old}%")
    ).fetchone()
    prev = GENESIS_HASH
    for row in conn.execute("SELECT * FROM events ORDER BY position").fetchall():
        data = dict(row)
        if data["position"] == target:
            data["payload"] = data["payload"].replace(old, new)
        if data["position"] >= target:
            data["prev_hash"] = prev
            data["hash"] = row_hash(data)
            conn.execute(
                "UPDATE events SET payload = ?, prev_hash = ?, hash = ? WHERE position = ?",
                (data["payload"], data["prev_hash"], data["hash"], data["position"]),
            )
        prev = data["hash"]
    conn.execute("UPDATE journal_head SET hash = ? WHERE id = 1", (prev,))
    conn.commit()
    conn.close()
    return int(target)


def test_station_key_is_created_private_and_printed(
    own_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "public"]) == 0
    first = capsys.readouterr().out.strip()
    assert first.startswith("ed25519:") and len(first) == len("ed25519:") + 44
    mode = stat.S_IMODE(os.stat(key_path()).st_mode)
    assert key_path().parent == own_config and mode == 0o600
    assert main(["keys", "public"]) == 0
    assert capsys.readouterr().out.strip() == first  # the same key, not a new one


def test_a_rewritten_chain_fails_verify(
    simulated: SimulatedShift, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shift.csv"
    _anchor(simulated)  # the station signs its journal's head
    _export(simulated, "csv", out)
    assert anchor_log_path(simulated.db_path).exists()
    db = str(simulated.db_path)
    witness = _witness(simulated.db_path, tmp_path)
    code, text = _verify(["--db", db], capsys)
    assert code == 1 and "NOT confirmed" in text and "no witness given" in text  # never "intact" alone
    assert _verify(["--db", db, "--witness", witness], capsys)[0] == 0
    position = _rewrite_chain(simulated.db_path, "premedication_given", "100 mg", "10 mg")
    code, text = _verify(["--db", db], capsys)  # the chain itself is consistent again ...
    assert code == 1  # ... but the signed anchor no longer matches
    assert "NOT intact" in text and "the journal was rewritten: entry" in text
    code, text = _verify(["--db", db, "--export", str(out)], capsys)
    assert code == 1 and "the journal was rewritten" in text
    assert position > 0


def test_pump_samples_are_sealed_by_the_anchors(
    simulated: SimulatedShift, capsys: pytest.CaptureFixture[str]
) -> None:
    simulated.journal.close()
    db = str(simulated.db_path)
    assert main(["keys", "anchor", "--db", db]) == 0
    assert "pump samples" in capsys.readouterr().out
    witness = _witness(simulated.db_path, simulated.db_path.parent)
    assert _verify(["--db", db, "--witness", witness], capsys)[0] == 0
    conn = sqlite3.connect(simulated.db_path)
    conn.execute(
        "UPDATE pump_readings SET rate_ml_h = 400 WHERE (stream, at_ms) = "
        "(SELECT stream, at_ms FROM pump_readings ORDER BY at_ms LIMIT 1 OFFSET 10)"
    )
    conn.commit()
    conn.close()
    code, text = _verify(["--db", db], capsys)
    assert code == 1 and "pump samples recorded before the anchor" in text
    anchor_log_path(simulated.db_path).unlink()  # the anchors file gone: the witness still has them
    code, text = _verify(["--db", db, "--witness", witness], capsys)
    assert code == 1 and "pump samples recorded before the anchor" in text


def test_an_export_rehashed_by_hand_fails(
    simulated: SimulatedShift, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shift.json"
    _anchor(simulated)
    _export(simulated, "json", out)
    db = str(simulated.db_path)
    assert _verify(["--db", db, "--export", str(out)], capsys)[0] == 0
    # A change the row comparison does not see (the export time), with the manifest's hash redone.
    document = json.loads(out.read_text(encoding="utf-8"))
    document["exported_at"] = "2026-01-05T19:00:00+01:00"
    out.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    manifest = json.loads(manifest_path(out).read_text(encoding="utf-8"))
    manifest["file_sha256"] = file_sha256(out)
    manifest_path(out).write_text(json.dumps(manifest), encoding="utf-8")
    code, text = _verify(["--db", db, "--export", str(out)], capsys)
    assert code == 1 and "the signature does not match" in text
    # Stripping the signature does not help either.
    del manifest["signature"]
    manifest_path(out).write_text(json.dumps(manifest), encoding="utf-8")
    code, text = _verify(["--db", db, "--export", str(out)], capsys)
    assert code == 1 and "is not signed" in text


def test_verify_elsewhere_with_the_printed_public_key(
    simulated: SimulatedShift,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "shift.hl7"
    _anchor(simulated)
    _export(simulated, "hl7", out)
    capsys.readouterr()
    assert main(["keys", "public"]) == 0
    station_key = capsys.readouterr().out.strip()
    monkeypatch.setenv("CHAIRSIDE_CONFIG_DIR", str(tmp_path / "auditor"))  # another computer: no key
    db = str(simulated.db_path)
    code, text = _verify(["--db", db, "--export", str(out)], capsys)
    assert code == 1 and "signature not checked: no station key" in text and "pass --public-key" in text
    code, text = _verify(["--db", db, "--export", str(out), "--public-key", station_key], capsys)
    assert code == 0, text
    assert main(["keys", "public"]) == 0  # the auditor's own key is not the station's
    other = capsys.readouterr().out.strip()
    code, text = _verify(["--db", db, "--export", str(out), "--public-key", other], capsys)
    assert code == 1 and "not the station's" in text


def test_station_start_creates_the_key_once(own_config: Path) -> None:
    from app.station.anchors import station_key

    assert not key_path().exists()
    station_key()
    first = key_path().read_bytes()
    station_key()
    assert key_path().read_bytes() == first and stat.S_IMODE(os.stat(own_config).st_mode) == 0o700


def test_export_verify_checks_the_sealed_pump_samples(
    simulated: SimulatedShift, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shift.hl7"
    _anchor(simulated)
    _export(simulated, "hl7", out)
    db = str(simulated.db_path)
    assert _verify(["--db", db, "--export", str(out)], capsys)[0] == 0
    conn = sqlite3.connect(simulated.db_path)
    conn.execute(_SHIFT_VOLUME, (5000,))
    conn.commit()
    conn.close()
    code, text = _verify(["--db", db, "--export", str(out)], capsys)
    assert code == 1 and "pump samples recorded before the anchor" in text
    anchor_log_path(simulated.db_path).write_text("", encoding="utf-8")  # the log emptied
    conn = sqlite3.connect(simulated.db_path)
    conn.execute(_SHIFT_VOLUME, (-5000,))
    conn.commit()
    conn.close()
    code, text = _verify(["--db", db, "--export", str(out)], capsys)
    assert code == 1 and "lacks the anchors this export carries" in text


def test_compaction_after_an_anchor_is_not_tampering(
    simulated: SimulatedShift, capsys: pytest.CaptureFixture[str]
) -> None:
    """Compaction thins a closed session's readings (app.store.telemetry.compact): its streams are
    skipped, the others still checked."""
    from datetime import UTC, datetime

    from app.store.telemetry import compact

    simulated.journal.close()
    db = str(simulated.db_path)
    assert main(["keys", "anchor", "--db", db]) == 0
    conn = sqlite3.connect(simulated.db_path)
    result = compact(conn, datetime(2026, 1, 6, tzinfo=UTC), same_rate_ml_h=0.5)
    conn.close()
    assert result.readings_deleted > 0
    code, text = _verify(
        ["--db", db, "--witness", _witness(simulated.db_path, simulated.db_path.parent)], capsys
    )
    assert code == 0, text


def test_an_export_without_a_usable_key_says_it_is_unsigned(
    simulated: SimulatedShift,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("x", encoding="utf-8")
    monkeypatch.setenv("CHAIRSIDE_CONFIG_DIR", str(blocked))  # the key can be neither read nor created
    out = tmp_path / "shift.csv"
    _export(simulated, "csv", out)
    err = capsys.readouterr().err
    assert "warning: the export is NOT signed" in err and "Traceback" not in err
    monkeypatch.setenv("CHAIRSIDE_CONFIG_DIR", str(tmp_path / "station"))
    assert main(["keys", "public"]) == 0
    code, text = _verify(["--db", str(simulated.db_path), "--export", str(out)], capsys)
    assert code == 1 and "is not signed" in text


def test_a_bad_public_key_is_one_line_and_exit_2(
    simulated: SimulatedShift, capsys: pytest.CaptureFixture[str]
) -> None:
    simulated.journal.close()
    with pytest.raises(SystemExit) as info:
        main(["verify", "--db", str(simulated.db_path), "--public-key", "ed25519:not-base64!"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "is not a station public key" in err and "Traceback" not in err


def test_a_damaged_anchor_log_is_named_never_a_traceback(
    simulated: SimulatedShift, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    anchor_log_path(simulated.db_path).write_text(
        '{"kind": "chairside-anchor", "position": 1}\n', encoding="utf-8"
    )
    out = tmp_path / "shift.csv"
    _export(simulated, "csv", out)  # the export goes on, and says what it could not do
    err = capsys.readouterr().err
    assert "warning: the export carries no journal anchor" in err and "is not a Chairside anchor" in err
    code, text = _verify(["--db", str(simulated.db_path)], capsys)
    assert code == 1 and "line 1 is not a Chairside anchor (damaged or foreign)" in text
