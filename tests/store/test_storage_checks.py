"""Damaged, truncated, foreign and empty files: one clear line and exit 2 from every command, never a
traceback; verify runs SQLite's integrity_check beside the chain; read-only folders still work."""

from __future__ import annotations

import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from app.cli import main as chairside
from app.domain.clock import ManualClock
from app.export.sample_shift import demo_visits, run_shift
from app.floor import Floor
from app.store.journal import Journal, JournalError

ROOT = Path(__file__).resolve().parents[2]
PAGE = 4096


@pytest.fixture(scope="module")
def shift_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real journal: 6 chairs for 3 hours through the floor, with pump readings."""
    path = tmp_path_factory.mktemp("shift") / "shift.sqlite"
    clock = ManualClock()
    floor = Floor(Journal(path, clock), clock=clock)
    run_shift(floor, clock, demo_visits(6), clock.now() + timedelta(hours=3))
    floor.close()
    return path


@pytest.fixture
def copy(shift_db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.sqlite"
    shutil.copy(shift_db, target)
    return target


def _pages_of(path: Path, name: str, kind: str = "leaf") -> list[int]:
    conn = sqlite3.connect(path)
    pages = [
        int(r[0])
        for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ?", (name, kind))
    ]
    conn.close()
    return pages


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def _index_page_bytes(path: Path, index: str = "idx_events_type_session") -> None:
    """10 bytes changed inside the cells of an index leaf page (the index `status` uses to find sessions):
    SQLite's quick_check passes this; only integrity_check compares an index with its table."""
    page = _pages_of(path, index)[0]
    start = (page - 1) * PAGE
    with path.open("rb") as handle:
        handle.seek(start)
        header = handle.read(8)
    cell_content = int.from_bytes(header[5:7], "big")  # where the cells begin on the page
    _overwrite(path, start + cell_content + 40, bytes(range(0xA0, 0xAA)))


def _random_page(seed: int) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        pages = path.stat().st_size // PAGE
        rng = random.Random(seed)
        page = rng.randrange(2, pages + 1)  # any page but the header's
        _overwrite(path, (page - 1) * PAGE, rng.randbytes(PAGE))

    return damage


def _truncate(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def _garbage(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(path.stat().st_size))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _user_version(value: int) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        conn = sqlite3.connect(path)
        conn.execute(f"PRAGMA user_version = {value}")
        conn.close()

    return damage


def _no_head_row(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM journal_head")
    conn.commit()
    conn.close()


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "index page": (_index_page_bytes, "is damaged"),
    "random page 1": (_random_page(1), "damaged"),
    "random page 2": (_random_page(2), "damaged"),
    "random page 3": (_random_page(3), "damaged"),
    "truncated": (_truncate, "damaged"),
    "garbage": (_garbage, "not a Chairside database"),
    "0 bytes": (_empty, "is empty (0 bytes)"),
    "negative version": (_user_version(-3), "negative schema version"),
    "unknown version": (_user_version(7), "schema version 0.7, which no Chairside wrote"),
    "version reset": (_user_version(0), "no Chairside schema version"),
    "no head row": (_no_head_row, "head row is missing"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_command_refuses_a_damaged_file_with_one_line(
    damage: str, copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert chairside(["verify", "--db", str(copy)]) == 1  # sound, not witnessed
    assert "journal NOT confirmed" in capsys.readouterr().err
    apply, expected = DAMAGE[damage]
    apply(copy)
    before = copy.read_bytes()
    commands = {
        "status": ["status", "--db", str(copy)],
        "verify": ["verify", "--db", str(copy)],
        "export": [
            "export",
            "--db",
            str(copy),
            "--format",
            "csv",
            "-o",
            str(tmp_path / "x.csv"),
            "--from",
            "2026-01-05T00:00Z",
            "--to",
            "2026-01-06T00:00Z",
        ],
    }
    for name, argv in commands.items():
        assert chairside(argv) == 2, name
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (name, err)
        assert "Traceback" not in out + err
    # The station's own open (what the station runs at start) refuses it too, and nothing was changed.
    with pytest.raises(JournalError, match=re.escape(expected)):
        Journal(copy)
    assert copy.read_bytes() == before


@pytest.mark.parametrize("damage", ["index page", "random page 1", "0 bytes", "no head row"])
def test_the_station_process_exits_2_on_a_damaged_file(copy: Path, damage: str) -> None:
    apply, expected = DAMAGE[damage]
    apply(copy)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-m", "app", "--chairs", "1", "--db", str(copy), "--quit-after", "5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr


def test_verify_reports_the_chain_and_the_file(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert chairside(["verify", "--db", str(copy)]) == 1  # no witness given: not confirmed
    err = capsys.readouterr().err
    assert "chain consistent" in err and "file intact (SQLite integrity_check ok)" in err


def test_verify_finds_damage_that_the_start_check_cannot_see(
    copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An index of the pump readings damaged: the station still starts (its journal is sound), but verify's
    full integrity_check names the damage and exits 2."""
    conn = sqlite3.connect(copy)
    conn.execute("CREATE INDEX extra_readings_by_rate ON pump_readings (rate_ml_h)")
    conn.close()
    _index_page_bytes(copy, "extra_readings_by_rate")
    Journal(copy, read_only=True).close()
    assert chairside(["verify", "--db", str(copy)]) == 2
    err = capsys.readouterr().err
    assert "is damaged (SQLite integrity_check:" in err


# --------------------------------------------------------------------------------------------------
# Read-only folders (an archive copy). Root ignores file permissions, so when the tests run as root the
# commands run through setpriv without the two capabilities that override them (CAP_DAC_OVERRIDE,
# CAP_DAC_READ_SEARCH): the archive folder (owned by `nobody`, 0555) is really read-only for them, while the
# checkout and its .venv stay readable, as root owns them. (Running them as `nobody` instead fails in a
# checkout only its owner can enter, a clone in a 0700 folder: `nobody` cannot read the code it runs.)


def _as_other_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a folder read-only for the command")
    dropped = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={dropped}", f"--bounding-set={dropped}"]


@pytest.fixture
def archive(shift_db: Path) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="chairside-archive-"))
    path = folder / "archive.sqlite"
    shutil.copy(shift_db, path)  # a copy of the closed file only: no -wal, no -shm
    os.chmod(path, 0o444)
    if os.geteuid() == 0:
        os.chown(folder, 65534, 65534)
    os.chmod(folder, 0o555)
    yield path
    os.chmod(folder, 0o755)
    shutil.rmtree(folder)


@pytest.mark.parametrize("command", ["status", "verify", "export"])
def test_read_only_commands_work_in_a_read_only_folder(archive: Path, command: str, tmp_path: Path) -> None:
    prefix = _as_other_user()
    out_dir = Path(tempfile.mkdtemp(prefix="chairside-out-"))
    os.chmod(out_dir, 0o777)
    argv = {
        "status": ["status", "--all"],
        "verify": ["verify"],
        "export": [
            "export",
            "--format",
            "json",
            "-o",
            str(out_dir / "shift.json"),
            "--from",
            "2026-01-05T00:00Z",
            "--to",
            "2026-01-06T00:00Z",
        ],
    }[command]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen", "HOME": str(out_dir)}
    probe = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-c",
            f"import os,sys; sys.exit(os.access({str(archive.parent)!r}, os.W_OK))",
        ],
        env=env,
        check=False,
    )
    assert probe.returncode == 0, "the folder must be read-only for the command, or the test proves nothing"
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "app", *argv, "--db", str(archive)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    shutil.rmtree(out_dir)
    if command == "verify":  # read to the end; without a witness it says what it could not check
        assert done.returncode == 1 and "chain consistent" in done.stderr, done.stderr
    else:
        assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in archive.parent.iterdir()) == ["archive.sqlite"]  # nothing created
