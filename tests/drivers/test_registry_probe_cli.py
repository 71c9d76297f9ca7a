"""Drivers by name, the probe, and chairside-sim as a real process."""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

import drivers
from drivers import ConfigError, PumpDriver, driver_for, open_driver, probe
from drivers.alaris import AlarisDriver
from drivers.base import LinkState, Telemetry
from drivers.sim import ManualClock, SimulatedPump, serve_pty
from tests.drivers.support import WAIT_S

REPO = Path(__file__).resolve().parents[2]


def ignore_telemetry(telemetry: Telemetry) -> None:
    pass


def ignore_state(state: LinkState) -> None:
    pass


def build(config: dict[str, Any]) -> PumpDriver:
    return open_driver(config, on_telemetry=ignore_telemetry, on_link_state=ignore_state)


def test_a_chair_config_builds_the_alaris_driver() -> None:
    driver = build({"protocol": "alaris", "url": "/dev/ttyUSB3", "poll_interval_s": 2, "handshake": False})
    assert isinstance(driver, AlarisDriver)
    assert isinstance(driver, PumpDriver)
    assert (driver.url, driver.poll_interval_s, driver.handshake) == ("/dev/ttyUSB3", 2, False)
    assert driver.identity is None
    assert driver.link_state.status.value == "connecting"
    driver.stop()  # never started: nothing to join


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"protocol": "fresenius-base-a", "url": "x"},
            "unknown pump protocol 'fresenius-base-a'; known protocols: alaris",
        ),
        ({"url": "/dev/ttyUSB3"}, "no protocol"),
        ({"protocol": "alaris"}, "needs a url"),
        ({"protocol": "alaris", "url": ""}, "non-empty"),
        ({"protocol": "alaris", "url": "x", "baud": 9600}, "unknown alaris setting(s) ['baud']"),
        ({"protocol": "alaris", "url": "x", "handshake": "yes"}, "true or false"),
        ({"protocol": "alaris", "url": "x", "poll_interval_s": "1"}, "number of seconds"),
        ({"protocol": "alaris", "url": "x", "poll_interval_s": 0}, "positive"),
        ({"protocol": "alaris", "url": "x", "quiet_time_s": -1}, "positive"),
    ],
)
def test_bad_configs_say_what_is_wrong(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        build(config)
    assert message in str(error.value)


def test_other_protocols_can_register() -> None:
    made: list[Any] = []

    def factory(config: Any, **callbacks: Any) -> Any:
        made.append(config)
        return object()

    drivers.register_driver("Test-Proto", factory)
    try:
        assert driver_for("test-proto") is factory
        assert "test-proto" in drivers.available_protocols()
        build({"protocol": "TEST-PROTO", "url": "x"})
        assert made == [{"protocol": "TEST-PROTO", "url": "x"}]
    finally:
        drivers._registered.pop("test-proto")


def probe_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    probe.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_probe_prints_identity_and_one_reading(capsys: pytest.CaptureFixture[str]) -> None:
    pump = SimulatedPump("8002-51740", clock=ManualClock())
    pump.change_bag(250)
    pump.set_rate(120)
    pump.start()
    pump.clock.advance(1800)
    with serve_pty(pump) as server:
        assert probe.run(probe_args(server.url)) == 0
    out = capsys.readouterr().out
    assert "8002-51740 (alaris, Asena Rev 2.1.5)" in out
    assert "rate      120.00 mL/h" in out
    assert "volume    60.000 mL" in out
    assert "state     infusing" in out


def test_probe_fails_clearly_when_no_pump_answers(capsys: pytest.CaptureFixture[str]) -> None:
    master, slave = os.openpty()  # a cable with nothing on the other end
    try:
        code = probe.run(probe_args(os.ttyname(slave), "--timeout", "1.5", "--json"))
    finally:
        os.close(master)
        os.close(slave)
    assert code == probe.EXIT_NO_PUMP
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no pump answered on /dev/pts/" in captured.err
    assert "within 1.5 s" in captured.err


def test_probe_rejects_an_unknown_protocol(capsys: pytest.CaptureFixture[str]) -> None:
    assert probe.run(probe_args("/dev/null", "--protocol", "nope")) == probe.EXIT_BAD_CONFIG
    assert "unknown pump protocol 'nope'" in capsys.readouterr().err


def read_lines(stream: IO[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump_lines() -> None:
        for line in stream:
            lines.put(line.strip())

    threading.Thread(target=pump_lines, daemon=True).start()
    return lines


@pytest.fixture
def sim_process(request: pytest.FixtureRequest) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    argv = [sys.executable, "-m", "drivers.sim.cli", *request.param]
    with subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        lines = read_lines(process.stdout)
        try:
            urls = [lines.get(timeout=WAIT_S) for _ in range(2)]
            yield process, urls
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.parametrize(
    "sim_process",
    [["--chairs", "2", "--speed", "60"], ["--chairs", "2", "--tcp"]],
    indirect=True,
    ids=["pty", "tcp"],
)
def test_chairside_sim_then_probe_json_shows_rate_and_volume(
    sim_process: tuple[subprocess.Popen[str], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    process, urls = sim_process
    assert len(set(urls)) == 2
    assert probe.run(probe_args(urls[1], "--json")) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["url"] == urls[1]
    assert document["identity"]["serial"] == "8002-51741"
    telemetry = document["telemetry"]
    assert telemetry["rate_ml_h"] == 100.0  # the default scenario: 250 mL at 100 mL/h
    assert telemetry["volume_infused_ml"] >= 0.0
    assert telemetry["state"] == "infusing"
    # The volume and the VTBI are two queries; at --speed 60 the pump delivers 100 mL/h x 60 = 1.67 mL per
    # real second between them (a loaded box took ~5 ms: 0.007 mL): within one real second of each other
    assert telemetry["vtbi_ml"] == pytest.approx(250.0 - telemetry["volume_infused_ml"], abs=100 * 60 / 3600)
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    if urls[0].startswith("/"):
        assert not Path(urls[0]).exists()  # the pty links are cleaned up


def test_chairside_sim_refuses_nonsense() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "drivers.sim", "--chairs", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--chairs" in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "drivers.sim", "--scenario", "nope"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "no scenario 'nope'" in result.stderr
