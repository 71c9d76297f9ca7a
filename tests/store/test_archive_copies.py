"""Archive copies are read, never written (issue 19, items 3 and 4): status, verify and export on a copy
taken from a running station (file, -wal and anchors file) on another computer create no key, append no
anchor, leave no -wal/-shm; a journal that lost entries since its last anchor is refused by status,
export and the station, in one line naming the last good position."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from app.cli import main as chairside
from app.domain.clock import ManualClock
from app.domain.commands import RecordVitals
from app.export.seals import AnchorLog, anchor_log_path, key_path, load_or_create_key
from app.station.start import open_floor
from app.store.journal import JournalError
from tests.tampering import cut_journal_to


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _a_running_station_copied(chair_script: Any, clock: ManualClock, into: Path) -> Path:
    """A station mid-shift (its last entries still in the -wal) copied as it stands, anchors file too."""
    chair_script.to_infusing()
    journal = chair_script.floor.journal
    AnchorLog(anchor_log_path(journal.path)).append(journal, load_or_create_key(), clock.now())
    chair_script.clock.advance(minutes=5)
    chair_script.floor.journal.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    chair_script.run(RecordVitals({"heart_rate_bpm": 71}))
    into.mkdir()
    for path in (
        journal.path,
        journal.path.with_name(journal.path.name + "-wal"),
        anchor_log_path(journal.path),
    ):
        shutil.copyfile(path, into / path.name)
    assert (into / f"{journal.path.name}-wal").stat().st_size > 0
    return into / journal.path.name


def test_reading_an_archive_copy_on_another_computer_changes_nothing(
    chair_script: Any,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy = _a_running_station_copied(chair_script, clock, tmp_path / "archive")
    before = _files(copy.parent)
    auditor = tmp_path / "auditor-config"
    monkeypatch.setenv("CHAIRSIDE_CONFIG_DIR", str(auditor))  # another computer: no station key
    out = tmp_path / "out"
    out.mkdir()
    assert chairside(["status", "--db", str(copy), "--all"]) == 0
    assert "JD" in capsys.readouterr().out  # the entries still in the -wal are read
    assert chairside(["verify", "--db", str(copy)]) == 1  # no witness, no key: says so
    assert "could not check" in capsys.readouterr().err
    export = ["export", "--db", str(copy), "--format", "csv", "-o", str(out / "log.csv")]
    assert chairside([*export, "--from", "2020-01-01T00:00Z", "--to", "2100-01-01T00:00Z"]) == 0
    assert "NOT signed" in capsys.readouterr().err
    assert _files(copy.parent) == before  # no -shm, no anchor appended, the -wal untouched
    assert not key_path().exists()  # no station key created on the auditor's computer


def test_a_journal_that_lost_entries_is_refused_naming_the_last_good_position(
    chair_script: Any, clock: ManualClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chair_script.to_infusing()
    journal = chair_script.floor.journal
    record = AnchorLog(anchor_log_path(journal.path)).append(journal, load_or_create_key(), clock.now())
    anchored = int(record["position"])
    db = journal.path
    chair_script.floor.close()
    cut_journal_to(db, anchored - 3)
    capsys.readouterr()
    assert chairside(["status", "--db", str(db)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "lost entries" in lines[0] and "last good position" in lines[0], lines
    export = ["export", "--db", str(db), "--format", "csv", "-o", str(tmp_path / "x.csv")]
    assert chairside([*export, "--from", "2020-01-01T00:00Z", "--to", "2100-01-01T00:00Z"]) == 2
    assert "lost entries" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
    with pytest.raises(JournalError, match="lost entries.*last good position"):
        open_floor(db, clock)
