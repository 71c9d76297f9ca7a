"""The bad inputs that still crashed or hung (issue 19, item 7): each ends with one line and exit 2 (or 1),
in time, and loses nothing. Runs the real `main` in-process (tests/cli_run.py fails a hang)."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main as chairside
from app.export.seals import anchor_log_path
from app.protocol_library import DEFAULT_DIRECTORY
from tests.cli_run import Outcome, run_main

ROOT = Path(__file__).resolve().parents[1]

DEEP_ARRAY = "deep = " + "[" * 50_000 + "]" * 50_000 + "\n"
DEEP_TABLE = "deep = " + "{ a = " * 3_000 + "1" + " }" * 3_000 + "\n"
LONG_KEY = ".".join(["k"] * 100_000) + " = 1\n"
SHAPES = {
    "a 50,000-deep array": DEEP_ARRAY,
    "a 3,000-deep inline table": DEEP_TABLE,
    "a 100,000-part key": LONG_KEY,
}


def _one_line(outcome: Outcome, *expected: str, code: int = 2) -> None:
    assert outcome.problem() is None, outcome.problem()
    assert outcome.code == code, outcome.err
    for text in expected:
        assert text in outcome.err, outcome.err


@pytest.mark.parametrize("shape", list(SHAPES))
def test_station_toml_with_a_deep_or_long_shape_is_one_line(tmp_path: Path, shape: str) -> None:
    config = tmp_path / "station.toml"
    config.write_text('[station]\nname = "A"\n' + SHAPES[shape], encoding="utf-8")
    outcome = run_main(chairside, ["config", "check", "--config", str(config)], timeout_s=20)
    _one_line(outcome, "station.toml", code=outcome.code or 0)
    assert outcome.code in (1, 2) and (
        "nested deeper" in outcome.err + outcome.out or "dotted parts" in outcome.err + outcome.out
    )


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_protocol_file_with_a_deep_or_long_shape_is_one_line(tmp_path: Path, shape: str) -> None:
    folder = tmp_path / "protocols"
    shutil.copytree(DEFAULT_DIRECTORY, folder)
    target = folder / "ocrevus-600-subsequent.toml"
    target.write_text(target.read_text(encoding="utf-8") + SHAPES[shape], encoding="utf-8")
    outcome = run_main(chairside, ["--protocols", str(folder), "protocols", "list"], timeout_s=20)
    _one_line(outcome, "ocrevus-600-subsequent.toml")
    assert "nested deeper" in outcome.err or "dotted parts" in outcome.err


def test_a_fifo_named_like_a_protocol_is_refused_without_hanging(tmp_path: Path) -> None:
    folder = tmp_path / "protocols"
    shutil.copytree(DEFAULT_DIRECTORY, folder)
    os.mkfifo(folder / "x.toml")
    outcome = run_main(chairside, ["--protocols", str(folder), "protocols", "list"], timeout_s=20)
    _one_line(outcome, "x.toml", "FIFO")


def test_verify_export_on_a_fifo_is_refused_without_hanging(tmp_path: Path, journal: object) -> None:
    os.mkfifo(tmp_path / "shift.json")
    db = tmp_path / "chairside.sqlite"
    outcome = run_main(
        chairside, ["verify", "--db", str(db), "--export", str(tmp_path / "shift.json")], timeout_s=20
    )
    _one_line(outcome, "FIFO")


def test_plan_with_2000_reactions_is_one_line() -> None:
    argv = ["plan", "ocrevus-600-subsequent", *(["--reaction", "2@70"] * 2000)]
    _one_line(run_main(chairside, argv, timeout_s=20), "at most 50 reactions and pauses")


def _export_argv(db: Path, output: Path) -> list[str]:
    return [
        "export",
        "--db",
        str(db),
        "--format",
        "csv",
        "-o",
        str(output),
        "--from",
        "2020-01-01T00:00Z",
        "--to",
        "2100-01-01T00:00Z",
    ]


def test_export_onto_a_special_file_is_refused_and_the_file_kept(tmp_path: Path, journal: object) -> None:
    db = tmp_path / "chairside.sqlite"
    fifo = tmp_path / "not-a-file.csv"
    os.mkfifo(fifo)
    _one_line(run_main(chairside, _export_argv(db, fifo), timeout_s=20), "FIFO")
    assert fifo.is_fifo()  # not replaced


def test_a_full_disk_leaves_nothing_half_written_and_says_disk_full(
    tmp_path: Path, chair_script: object, journal: object
) -> None:
    """The export process may write at most 4 kB (RLIMIT_FSIZE: the kernel's "file too large", what a
    full disk looks like to the writer): the export fails in one line saying so, and leaves nothing."""
    chair_script.to_infusing()  # type: ignore[attr-defined]
    journal.close()  # type: ignore[attr-defined]
    db = tmp_path / "chairside.sqlite"
    out = tmp_path / "out"
    out.mkdir()
    (out / "shift.csv").write_text("the previous export\n", encoding="utf-8")

    def limit() -> None:
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    fmt_argv = _export_argv(db, out / "shift.csv")
    for fmt in ("csv", "pdf"):
        argv = [*fmt_argv[:4], fmt, *fmt_argv[5:]]
        argv[6] = str(out / f"shift.{fmt}")
        done = subprocess.run(
            [sys.executable, "-m", "app", *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=limit,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=False,
        )
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "disk full" in lines[0], done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["shift.csv"]  # no .part left, no half PDF
    assert (out / "shift.csv").read_text(encoding="utf-8") == "the previous export\n"


def test_an_anchors_file_with_invalid_utf8_is_one_line(tmp_path: Path, journal: object) -> None:
    db = tmp_path / "chairside.sqlite"
    anchor_log_path(db).write_bytes(b'{"kind": "chairside-anchor", "position": \xff\xfe}\n')
    outcome = run_main(chairside, ["verify", "--db", str(db)], timeout_s=20)
    assert outcome.problem() is None and outcome.code == 1, outcome.err
    assert "is damaged: byte" in outcome.err and "not UTF-8" in outcome.err
