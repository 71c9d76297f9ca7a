"""The guard every command line runs under, and the shared typed option parsers."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from drivers.command_line import (
    EXIT_SOFTWARE,
    OneLineParser,
    number_in,
    run_command,
    whole_in,
    window_size,
)


def test_a_bug_gives_one_line_naming_the_crash_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def body() -> int:
        raise ZeroDivisionError("rate over zero minutes")

    crash_log = tmp_path / "logs" / "crash.log"
    assert run_command("chairside", body, (), crash_log) == EXIT_SOFTWARE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unexpected error (ZeroDivisionError: rate over zero minutes)" in err
    assert str(crash_log) in err
    assert "Traceback" not in err
    logged = crash_log.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in logged
    assert "in body" in logged


def test_bad_input_gives_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    class Refused(ValueError):
        pass

    def refused() -> int:
        raise Refused("Chair 3 already has a patient:\n discharge them first")

    def unreadable() -> int:
        return len((tmp_path / "missing.toml").read_text())

    assert run_command("chairside", refused, (Refused,)) == 2
    assert capsys.readouterr().err == "chairside: Chair 3 already has a patient: discharge them first\n"
    assert run_command("chairside", unreadable) == 2
    assert capsys.readouterr().err == f"chairside: {tmp_path / 'missing.toml'}: No such file or directory\n"


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e309", "0", "-1", "10.5", "x", ""])
def test_numbers_out_of_range_or_not_finite(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        number_in(0.0, 10.0, above_low=True)(text)


def test_numbers_in_range() -> None:
    assert number_in(0.0, 10.0)("0") == 0.0
    assert number_in(0.0, 10.0, above_low=True)("10") == 10.0
    assert whole_in(1, 48)("48") == 48
    assert window_size("1366x768") == (1366, 768)
    for bad in ("0", "49", "2.5", "nan"):
        with pytest.raises(argparse.ArgumentTypeError):
            whole_in(1, 48)(bad)
    for bad in ("0x0", "100x100", "1920", "axb", "-5x10"):
        with pytest.raises(argparse.ArgumentTypeError):
            window_size(bad)


def test_a_newline_typed_into_an_argument_stays_on_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    parser = OneLineParser(prog="chairside")
    parser.add_argument("--chairs", type=whole_in(1, 48))
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--chairs", "4\n2", "x\x85y\r"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert "\\n" in err
