"""`chairside config check` against simulated pumps on pseudo-terminals, a missing port and bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from app.cli import main
from app.station.check import EXIT_ALL_ANSWERED, EXIT_BAD_CONFIG, EXIT_PUMP_FAILED
from drivers.sim import ManualClock, PtyPumpServer, SimulatedPump, serve_pty

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pumps() -> Iterator[list[PtyPumpServer]]:
    """Two simulated pumps on ptys: one infusing at 120 mL/h, one idle."""
    infusing = SimulatedPump("8002-51740", clock=ManualClock())
    infusing.change_bag(250)
    infusing.set_rate(120)
    infusing.start()
    infusing.clock.advance(1800)
    servers = [serve_pty(infusing), serve_pty(SimulatedPump("8002-51741", clock=ManualClock()))]
    yield servers
    for server in servers:
        server.close()


def write_config(path: Path, chairs: list[str]) -> Path:
    path.write_text('[station]\nname = "Pod T"\ndisplay_tz = "UTC"\n' + "".join(chairs), encoding="utf-8")
    return path


def pump_chair(name: str, url: str, extra: str = "") -> str:
    return f'[[chairs]]\nname = "{name}"\nprotocol = "alaris"\nurl = "{url}"\n{extra}'


def test_every_pump_answers(
    tmp_path: Path, pumps: list[PtyPumpServer], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path / "station.toml",
        [
            pump_chair("Chair 1", pumps[0].url),
            pump_chair("Chair 2", pumps[1].url),
            '[[chairs]]\nname = "Chair 3"\n',
        ],
    )
    assert main(["config", "check", "--config", str(config)]) == EXIT_ALL_ANSWERED
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("Chair 1  OK ")
    assert "pump 8002-51740 (alaris, Asena Rev 2.1.5): infusing, 120.00 mL/h, 60.000 mL infused" in lines[0]
    assert lines[0].endswith(f"on {pumps[0].url}")
    assert "pump 8002-51741" in lines[1] and lines[1].startswith("Chair 2  OK ")
    assert lines[2] == "Chair 3  NO PUMP  no pump configured"
    assert captured.err == ""


def test_a_missing_and_a_silent_pump_fail_by_name(
    tmp_path: Path, pumps: list[PtyPumpServer], capsys: pytest.CaptureFixture[str]
) -> None:
    master, slave = os.openpty()  # a cable with nothing on the other end
    try:
        config = write_config(
            tmp_path / "station.toml",
            [
                pump_chair("Chair 1", pumps[0].url),
                pump_chair("Chair 2", str(tmp_path / "no-such-port")),
                pump_chair("Chair 3", os.ttyname(slave), "quiet_time_s = 0.5\nreply_timeout_s = 0.1\n"),
                '[[chairs]]\nname = "Chair 4"\n',
            ],
        )
        code = main(["config", "check", "--config", str(config), "--json"])
    finally:
        os.close(master)
        os.close(slave)
    assert code == EXIT_PUMP_FAILED
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["failed"] == ["Chair 2", "Chair 3"]
    assert document["all_answered"] is False
    by_chair = {row["chair"]: row for row in document["chairs"]}
    assert by_chair["Chair 1"]["status"] == "ok"
    assert by_chair["Chair 1"]["telemetry"]["rate_ml_h"] == pytest.approx(120.0)
    assert by_chair["Chair 2"]["status"] == "failed"
    assert "cannot open" in by_chair["Chair 2"]["detail"] and "no-such-port" in by_chair["Chair 2"]["detail"]
    assert by_chair["Chair 3"]["status"] == "failed"
    assert "no valid frame from the pump for more than 0.5 s" in by_chair["Chair 3"]["detail"]
    assert by_chair["Chair 4"]["status"] == "no pump"
    assert captured.err.strip() == "chairside config check: 2 of 3 pumps did not answer: Chair 2, Chair 3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[station]\nname = "Pod T"\n', "chairs: a station has 1 to 48 chairs ([[chairs]] blocks), not 0"),
        (
            '[station]\nname = "Pod T"\n[[chairs]]\nname = "Chair 1"\nprotocol = "alaris"\nurl = 3\n',
            "[[chairs]] 1 'Chair 1': url: must be a non-empty string",
        ),
    ],
)
def test_an_invalid_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    config = tmp_path / "station.toml"
    config.write_text(text, encoding="utf-8")
    assert main(["config", "check", "--config", str(config)]) == EXIT_BAD_CONFIG
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"chairside config check: {config}: {message}\n"


def test_no_traceback_from_the_real_command_line(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    config.write_bytes(b'[station]\nname = "Pod \xe9"\n')
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-m", "app", "config", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert done.returncode == EXIT_BAD_CONFIG
    assert done.stderr.splitlines() == [
        f"chairside config check: {config}: not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8"
    ]
    missing = subprocess.run(
        [sys.executable, "-m", "app", "config", "check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**env, "CHAIRSIDE_CONFIG_DIR": str(tmp_path / "empty")},
        timeout=120,
    )
    assert missing.returncode == EXIT_BAD_CONFIG
    assert missing.stderr == f"chairside config check: {tmp_path / 'empty' / 'station.toml'}: no such file\n"


def test_a_port_held_by_another_link_is_named_in_use(
    tmp_path: Path, pumps: list[PtyPumpServer], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "station.toml", [pump_chair("Chair 1", pumps[0].url)])
    held = serial.serial_for_url(pumps[0].url, exclusive=True)  # as a running station holds its ports
    try:
        assert main(["config", "check", "--config", str(config)]) == EXIT_PUMP_FAILED
    finally:
        held.close()
    line = capsys.readouterr().out.strip()
    assert line.startswith("Chair 1  FAILED   the port is in use: by the running station's own link")
    assert "Could not exclusively lock port" in line


@pytest.mark.parametrize("name", ["Pod A", "Station", "Demo", "CHAIRSIDE"])
def test_a_default_station_name_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    config = tmp_path / "station.toml"
    config.write_text(f'[station]\nname = "{name}"\n\n[[chairs]]\nname = "Chair 1"\n', encoding="utf-8")
    assert main(["config", "check", "--config", str(config)]) == EXIT_ALL_ANSWERED  # a warning, no failure
    err = capsys.readouterr().err
    assert f'warning: [station] name "{name}" is a default' in err and "its own name" in err


def test_a_station_of_its_own_name_gets_no_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "station.toml", ['[[chairs]]\nname = "Chair 1"\n'])
    assert main(["config", "check", "--config", str(config)]) == EXIT_ALL_ANSWERED
    assert "warning" not in capsys.readouterr().err
