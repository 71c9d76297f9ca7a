"""What the drivers' command lines (`chairside-sim`, the probe) share: typed argument
parsers, and `run_command`, which turns any error into one line on stderr.

Each parser turns one command-line word into a checked value or raises `argparse.ArgumentTypeError`
with a sentence that says what is accepted; argparse then prints one usage line and exits 2. A value
that is not finite (nan, inf), out of range or of the wrong shape never reaches the code behind the
option. The app keeps the same parsers in `app/cli_options.py` (the drivers know nothing of the app,
and the app's store and ui may not reach into the drivers); tests/drivers/test_command_line.py holds both
copies to the same behaviour.
"""

from __future__ import annotations

import argparse
import math
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

ArgType = Callable[[str], float]


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (no usage block), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {printable(message)} (see {self.prog} --help)\n")


def printable(text: str) -> str:
    """`text` on one line: control characters (a newline typed into an argument) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def finite(text: str) -> float:
    """Any finite number."""
    return _number(text)


def positive(text: str) -> float:
    """A finite number greater than zero."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than zero")
    return value


def non_negative(text: str) -> float:
    """A finite number, zero or more."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def number_in(low: float, high: float, *, unit: str = "", above_low: bool = False) -> Callable[[str], float]:
    """A finite number from `low` (or just above it, with `above_low`) to `high` inclusive."""
    suffix = f" {unit}" if unit else ""
    lower = f"above {low:g}" if above_low else f"from {low:g}"

    def parse(text: str) -> float:
        value = _number(text)
        if value > high or value < low or (above_low and value == low):
            raise argparse.ArgumentTypeError(f"{text!r} must be {lower} to {high:g}{suffix}")
        return value

    return parse


def whole(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def whole_in(low: int, high: int) -> Callable[[str], int]:
    """A whole number from `low` to `high` inclusive."""

    def parse(text: str) -> int:
        value = whole(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} must be a whole number from {low} to {high}")
        return value

    return parse


def window_size(text: str) -> tuple[int, int]:
    """WIDTHxHEIGHT in pixels, each from 200 to 16384."""
    parts = text.lower().split("x")
    try:
        width, height = (int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"window size {text!r}: use WIDTHxHEIGHT, e.g. 1920x1080") from None
    if not (200 <= width <= 16384 and 200 <= height <= 16384):
        raise argparse.ArgumentTypeError(f"window size {text!r}: each side must be 200 to 16384 pixels")
    return width, height


def existing_directory(text: str) -> Path:
    """A folder that exists."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not an existing folder")
    return path


# --------------------------------------------------------------------------------------------------
# Errors

EXIT_BAD_INPUT = 2
EXIT_SOFTWARE = 70  # sysexits.h EX_SOFTWARE: a bug


CrashWriter = Callable[[Path, str, str], bool]


def run_command(
    prog: str,
    body: Callable[[], int],
    expected: tuple[type[BaseException], ...] = (),
    crash_log: Path | None = None,
    write_crash: CrashWriter | None = None,
) -> int:
    """Run a command-line `body` so that the user never sees a traceback.

    An `expected` error (bad input: a file, a value, a refused command) or an OSError prints one line,
    `prog: message`, on stderr and gives exit 2. Anything else is a bug: its traceback goes to the crash
    log (through `write_crash`, default `append_crash`; the app passes its private-file writer) and
    stderr gets one line naming the crash log; exit 70."""
    bad_input: tuple[type[BaseException], ...] = (*expected, OSError)
    try:
        return body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except bad_input as exc:
        print(f"{prog}: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        write = write_crash or append_crash
        written = crash_log is not None and write(crash_log, f"uncaught exception in {prog}", text)
        where = f"; details are in {crash_log}" if written else ""
        print(f"{prog}: unexpected error ({type(exc).__name__}: {one_line(exc)}){where}", file=sys.stderr)
        return EXIT_SOFTWARE


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (a KeyError's without its quotes, an OSError's with its file)."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        also = f" -> {exc.filename2}" if exc.filename2 is not None else ""
        text = f"{exc.filename}{also}: {exc.strerror}"
    return printable(" ".join(text.split())) or type(exc).__name__


def append_crash(path: Path, title: str, text: str) -> bool:
    """Append a titled entry to a crash log; False when it cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"==== {datetime.now(UTC).isoformat()} {title}\n{text}\n")
    except OSError:
        return False
    return True
