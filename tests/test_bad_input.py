"""Bad input anywhere on the command line gets one clear line on stderr and exit 2: never a traceback,
never a hang. Each case here was a traceback, a hang or a silent acceptance once (issue 12)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main as chairside
from app.protocol_library import DEFAULT_DIRECTORY
from drivers.sim.cli import main as chairside_sim
from tests.cli_run import run_main

PLAN = ["plan", "ocrevus-600-subsequent"]


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qapp: object) -> None:
    """Nothing here may read or write the user's own database or crash log. (`qapp`: a PDF export
    in-process would otherwise create a bare QGuiApplication that the widget tests cannot use.)"""
    monkeypatch.setenv("CHAIRSIDE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


def assert_refused(outcome_err: str, code: int | None, *words: str) -> None:
    assert code == 2, outcome_err
    lines = [line for line in outcome_err.splitlines() if line.strip()]
    assert len(lines) == 1, f"one line, not: {outcome_err}"
    assert "Traceback" not in outcome_err
    message = lines[-1].lower()
    for word in words:
        assert word.lower() in message, outcome_err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        ([*PLAN, "--pause", "10+nan"], ["pause"]),
        ([*PLAN, "--pause", "nan+10"], ["pause"]),
        ([*PLAN, "--pause", "10+inf"], ["pause"]),
        ([*PLAN, "--pause", "1e309+5"], ["pause"]),
        ([*PLAN, "--reaction", "2@nan"], ["reaction"]),
        ([*PLAN, "--reaction", "2@inf"], ["reaction"]),
        ([*PLAN, "--reaction", "2@70+nan"], ["reaction"]),
        ([*PLAN, "--reaction", "2@-inf"], ["reaction"]),
        ([*PLAN, "--bag-volume", "0"], ["bag-volume"]),
        ([*PLAN, "--bag-volume", "-5"], ["bag-volume"]),
        ([*PLAN, "--bag-volume", "nan"], ["bag-volume"]),
        ([*PLAN, "--bag-volume", "inf"], ["bag-volume"]),
        ([*PLAN, "--bag-volume", "1e300"], ["bag-volume"]),
        (["probe", "socket://127.0.0.1:9", "--timeout", "nan"], ["timeout"]),
        (["probe", "socket://127.0.0.1:9", "--timeout", "-1"], ["timeout"]),
        (["probe", "nonsense://x", "--timeout", "1"], ["nonsense"]),
        (["--protocols", "no-such-folder", "protocols", "list"], ["no-such-folder", "not a folder"]),
        (["export", "--format", "csv", "-o", "x.csv", "--shift", "2026-02-30/day"], ["shift"]),
        (["export", "--format", "csv", "-o", "x.csv", "--hl7-sample-minutes", "nan"], ["sample"]),
        (["export", "--format", "hl7", "--mllp", "localhost:1", "--mllp-timeout", "-1"], ["timeout"]),
    ],
)
def test_command_line_refuses(argv: list[str], words: list[str], tmp_path: Path) -> None:
    outcome = run_main(chairside, [*argv[:1], *argv[1:]], timeout_s=20)
    assert not outcome.hung, f"{argv} hung"
    assert not outcome.escaped, outcome.escaped
    assert_refused(outcome.err, outcome.code, *words)


def test_status_and_verify_on_a_directory(tmp_path: Path) -> None:
    for command in ("status", "verify"):
        outcome = run_main(chairside, [command, "--db", str(tmp_path)])
        assert_refused(outcome.err, outcome.code, "directory")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--chairs", "1000"], ["chairs"]),
        (["--chairs", "0"], ["chairs"]),
        (["--chair", "99"], ["chair"]),
        (["--chairs", "4", "--chair", "5"], ["chair"]),
        (["--chair", "0"], ["chair"]),
        (["--demo", "2", "--speed", "nan"], ["speed"]),
        (["--demo", "2", "--speed", "0"], ["speed"]),
        (["--demo", "2", "--speed", "-1"], ["speed"]),
        (["--demo", "2", "--speed", "inf"], ["speed"]),
        (["--demo", "2", "--preroll", "-5"], ["preroll"]),
        (["--demo", "2", "--preroll", "nan"], ["preroll"]),
        (["--demo", "-1"], ["demo"]),
        (["--demo", "100"], ["demo"]),
        (["--window-size", "0x0"], ["window"]),
        (["--window-size", "-5x10"], ["window"]),
        (["--quit-after", "-1"], ["quit-after"]),
        (["--quit-after", "nan"], ["quit-after"]),
    ],
)
def test_station_options_refused_before_any_window(
    argv: list[str], words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --quit-after 0: if the options were wrongly accepted the window opens and closes at once (exit 0)
    quit_after = [] if "--quit-after" in argv else ["--quit-after", "0"]
    try:
        code = chairside([*argv, *quit_after, "--db", str(tmp_path / "db.sqlite")])
    except SystemExit as exit_:
        code = exit_.code  # type: ignore[assignment]
    assert_refused(capsys.readouterr().err, code, *words)


def _library_with(tmp_path: Path, name: str, content: bytes) -> Path:
    folder = tmp_path / "protocols"
    shutil.copytree(DEFAULT_DIRECTORY, folder)
    (folder / name).write_bytes(content)
    return folder


def _ocrevus_text() -> str:
    return (DEFAULT_DIRECTORY / "ocrevus-600-subsequent.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'id = "ocrevus-600-subsequent"\nname = "caf\xe9"\n', ["ocrevus-600-subsequent.toml", "utf-8"]),
        (b"\xff\xfe\x00garbage", ["ocrevus-600-subsequent.toml"]),
        (
            _ocrevus_text()
            .replace("max_rate_ml_h = 200", "max_rate_ml_h = 200\nmax_rate_mlh = 300")
            .encode(),
            ["ocrevus-600-subsequent.toml", "max_rate_mlh"],
        ),
        (
            _ocrevus_text().replace("increment = 40", "increment = 40\nincrememt = 30").encode(),
            ["ocrevus-600-subsequent.toml", "escalation.incrememt"],
        ),
        (
            _ocrevus_text().replace('route = "PO"', 'route = "PO"\nroute_note = "x"').encode(),
            ["ocrevus-600-subsequent.toml", "premedications[2].route_note"],
        ),
        (
            _ocrevus_text()
            .replace("refrigerated_limit_h = 24", "refrigerated_limit_h = 24\nfrozen = 1")
            .encode(),
            ["ocrevus-600-subsequent.toml", "bag.frozen"],
        ),
        (_ocrevus_text().replace("dose_mg = 600", "dose_mg = nan").encode(), ["dose_mg"]),
        (_ocrevus_text().replace("dose_mg = 600", "dose_mg = inf").encode(), ["dose_mg"]),
        (_ocrevus_text().replace("increment = 40", "increment = 1e-12").encode(), ["increment"]),
        (_ocrevus_text().replace("dose_mg = 600", "dose_mg = 1e308").encode(), ["dose_mg"]),
    ],
)
def test_bad_protocol_file(tmp_path: Path, content: bytes, words: list[str]) -> None:
    folder = _library_with(tmp_path, "ocrevus-600-subsequent.toml", content)
    for argv in (["protocols", "list"], ["plan", "ocrevus-600-subsequent"]):
        outcome = run_main(chairside, ["--protocols", str(folder), *argv])
        assert not outcome.hung and not outcome.escaped, outcome.escaped
        assert_refused(outcome.err, outcome.code, *words)


SCENARIO_HEAD = 'name = "bad"\n[[steps]]\nat_min = 0\ndo = "change_bag"\nvolume_ml = 250\n'


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'name = "caf\xe9"\n[[steps]]\nat_s = 0\ndo = "start"\n', ["utf-8"]),
        ((SCENARIO_HEAD + '[[steps]]\nat_min = 0\ndo = "set_rate"\nml_h = "fast"\n').encode(), ["ml_h"]),
        ((SCENARIO_HEAD + '[[steps]]\nat_min = 0\ndo = "set_rate"\nml_h = -100\n').encode(), ["ml_h"]),
        ((SCENARIO_HEAD + '[[steps]]\nat_min = 0\ndo = "set_rate"\nml_h = nan\n').encode(), ["ml_h"]),
        ((SCENARIO_HEAD + '[[steps]]\nat_min = 0\ndo = "set_rate"\nml_h = inf\n').encode(), ["ml_h"]),
        ((SCENARIO_HEAD + '[[steps]]\nat_min = nan\ndo = "start"\n').encode(), ["time"]),
        ((SCENARIO_HEAD + '[[steps]]\nat_min = 1e308\ndo = "start"\n').encode(), ["time"]),
        (
            b'name = "bad"\n[[steps]]\nat_min = 0\ndo = "change_bag"\nvolume_ml = "lots"\n',
            ["volume_ml"],
        ),
        (
            (SCENARIO_HEAD + '[[steps]]\nat_s = 1\ndo = "fault"\nkind = "garbage"\ncount = -3\n').encode(),
            ["count"],
        ),
        (
            (
                SCENARIO_HEAD + '[[steps]]\nat_s = 1\ndo = "fault"\nkind = "silence"\nduration_s = nan\n'
            ).encode(),
            ["duration_s"],
        ),
        (
            (SCENARIO_HEAD + '[[steps]]\nat_s = 1\ndo = "power_cycle"\nnew_serial = 7\n').encode(),
            ["new_serial"],
        ),
        ((SCENARIO_HEAD + '[[steps]]\nat_s = 1\ndo = "raise_alarm"\nalarm = 3\n').encode(), ["alarm"]),
        (b"name = [1, 2]\n[[steps]]\nat_s = 0\ndo = 'start'\n", ["name"]),
    ],
)
def test_bad_scenario_file(tmp_path: Path, content: bytes, words: list[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    outcome = run_main(chairside_sim, ["--scenario", str(path), "--quit-after", "0"], timeout_s=20)
    assert not outcome.hung and not outcome.escaped, outcome.escaped
    assert_refused(outcome.err, outcome.code, "bad.toml", *words)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--chairs", "100000"], ["chairs"]),
        (["--chairs", "0"], ["chairs"]),
        (["--speed", "nan"], ["speed"]),
        (["--speed", "inf"], ["speed"]),
        (["--speed", "0"], ["speed"]),
        (["--stagger-min", "nan"], ["stagger"]),
        (["--stagger-min", "1e308"], ["stagger"]),
        (["--quit-after", "-1"], ["quit-after"]),
        (["--link-dir", "/proc/nonexistent/dir"], ["link-dir"]),
    ],
)
def test_simulator_options(argv: list[str], words: list[str]) -> None:
    outcome = run_main(chairside_sim, [*argv, "--quit-after", "0"] if "--quit-after" not in argv else argv)
    assert not outcome.hung and not outcome.escaped, outcome.escaped
    assert_refused(outcome.err, outcome.code, *words)


def test_simulator_quits_after(tmp_path: Path) -> None:
    outcome = run_main(chairside_sim, ["--chairs", "2", "--quit-after", "0"])
    assert outcome.code == 0, outcome.err
    assert len(outcome.out.split()) == 2


def test_restarting_a_prerolled_demo_on_its_database(tmp_path: Path) -> None:
    """The second run finds the first run's sessions still open on its chairs: it closes them (they
    are the demo's own) instead of crashing on an occupied chair. (A process each: the GUI runs its
    event loop and quits.)"""
    argv = ["--demo", "2", "--speed", "60", "--preroll", "90", "--db", str(tmp_path / "demo.sqlite")]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CHAIRSIDE_DATA_DIR": str(tmp_path)}
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "app", *argv, "--quit-after", "0"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr


def test_a_screenshot_that_cannot_be_saved(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CHAIRSIDE_DATA_DIR": str(tmp_path)}
    target = tmp_path / "blocked"
    target.write_text("a file where a folder should be", encoding="utf-8")
    argv = [
        "--chairs",
        "1",
        "--db",
        str(tmp_path / "db.sqlite"),
        "--screenshot",
        str(target / "x.png"),
        "--quit-after",
        "0",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "app", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"chairside: cannot save the screenshot to {target / 'x.png'}"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"shifts = 5\n", ["shifts.toml", "shifts"]),
        (b'[[shifts]]\nname = "day"\nstart = "07:00"\nend = 7\n', ["shifts.toml", "shift 1"]),
        (b"\xff\xfe", ["shifts.toml"]),
    ],
)
def test_bad_shift_file(tmp_path: Path, content: bytes, words: list[str]) -> None:
    shifts = tmp_path / "shifts.toml"
    shifts.write_bytes(content)
    argv = ["export", "--shifts", str(shifts), "--format", "json", "-o", str(tmp_path / "log.json")]
    outcome = run_main(chairside, argv)
    assert not outcome.hung and not outcome.escaped, outcome.escaped
    assert_refused(outcome.err, outcome.code, *words)
