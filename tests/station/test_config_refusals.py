"""Configuration that should not be accepted (issue 19, item 8) is refused by `config check` and at the
start of a station, in one line naming the file, the chair and the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.cli import main as chairside
from app.station.config import StationConfigError, load_station_config

HEAD = '[station]\nname = "Pod A"\n'


def _chairs(*names: str, urls: tuple[str, ...] = ()) -> str:
    blocks = []
    for number, name in enumerate(names):
        block = f'[[chairs]]\nname = "{name}"\n'
        if number < len(urls):
            block += f'protocol = "alaris"\nurl = "{urls[number]}"\n'
        blocks.append(block)
    return "".join(blocks)


def _refused(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str], *expected: str) -> str:
    config = tmp_path / "station.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(StationConfigError) as refused:  # at start: the station reads the file so
        load_station_config(config)
    capsys.readouterr()
    assert chairside(["config", "check", "--config", str(config)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and str(config) in lines[0], lines
    for text_part in expected:
        assert text_part in lines[0] and text_part in str(refused.value), (text_part, lines[0])
    return lines[0]


@pytest.mark.parametrize(
    ("look_alike", "says"),
    [
        ("Chair\u200b 1", "U+200B"),
        ("Chair\u00a01", "U+00A0"),
        ("\uff23hair 1", "the same name as [[chairs]] 1"),
    ],
)
def test_look_alike_chair_names_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], look_alike: str, says: str
) -> None:
    _refused(tmp_path, HEAD + _chairs("Chair 1", look_alike), capsys, "[[chairs]] 2", "name", says)


def test_the_same_port_spelled_two_ways_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device = tmp_path / "ttyUSB0"
    device.write_text("")
    alias = tmp_path / "by-id-pump"
    alias.symlink_to(device)
    other = f"{tmp_path}/./ttyUSB0"
    line = _refused(
        tmp_path,
        HEAD + _chairs("Chair 1", "Chair 2", urls=(str(device), str(alias))),
        capsys,
        "[[chairs]] 2",
        "url",
        "the same port as",
    )
    assert "Chair 1" in line
    _refused(
        tmp_path, HEAD + _chairs("Chair 1", "Chair 2", urls=(str(device), other)), capsys, "the same port as"
    )
    assert os.path.exists(other)


@pytest.mark.parametrize("value", ["5e-324", "0.001", "0.5"])
def test_a_heartbeat_below_a_second_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    text = HEAD + f"[telemetry]\nheartbeat_s = {value}\n" + _chairs("Chair 1")
    _refused(tmp_path, text, capsys, "[telemetry]", "heartbeat_s", "at least 1")


def test_a_station_eui64_that_is_not_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = HEAD + '[hl7]\nstation_eui64 = "zz"\n' + _chairs("Chair 1")
    _refused(tmp_path, text, capsys, "[hl7]", "station_eui64", "16 hexadecimal digits")


def test_a_ca_file_that_is_not_a_certificate_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "floor-ca.pem").write_text("this is not a certificate\n")
    text = (
        HEAD
        + '[broker]\nurl = "mqtts://broker.example:8883"\nca_file = "floor-ca.pem"\n'
        + _chairs("Chair 1")
    )
    _refused(tmp_path, text, capsys, "[broker]", "ca_file", "floor-ca.pem", "not a certificate")
