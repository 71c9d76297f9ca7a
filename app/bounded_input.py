"""Files people hand us, read within bounds before anything parses them (issue 19, item 7).

- Only regular files: a FIFO, a device or a folder is refused in one line, without blocking (the open
  never waits for a writer).
- A size bound, and for TOML (the station configuration, protocol files) a bound on nesting and on
  dotted keys checked on the text *before* the parser runs: a 50,000-deep array or a 100,000-part key
  is refused in one line rather than recursing or going quadratic in the parser.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

MAX_TEXT_BYTES = 1_000_000
"""Configuration and protocol files are a few kB; a megabyte is generous."""
MAX_TOML_DEPTH = 16
"""Arrays and inline tables inside one another: the deepest real file has 3."""
MAX_KEY_PARTS = 16
MAX_KEY_CHARS = 200


class BadInputFile(ValueError):
    """A file that cannot be what it should be; the message is one line without the file's name."""


def describe_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def refuse_special(path: Path) -> None:
    """BadInputFile if something other than a regular file is at `path` (nothing there is fine)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise BadInputFile(f"is {describe_kind(mode)}, not a regular file")


def read_regular_file(path: Path, max_bytes: int = MAX_TEXT_BYTES) -> bytes:
    """The file's bytes; BadInputFile for a special file or one larger than `max_bytes`, OSError as is."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise BadInputFile(f"is {describe_kind(mode)}, not a regular file")
        data = b""
        while len(data) <= max_bytes:
            chunk = os.read(descriptor, max_bytes + 1 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:
        raise BadInputFile(f"is larger than {max_bytes // 1000} kB: not a Chairside file")
    return data


def check_toml_shape(text: str) -> None:
    """BadInputFile if the TOML text nests arrays/inline tables deeper than MAX_TOML_DEPTH, or has a
    key of more than MAX_KEY_PARTS dotted parts or MAX_KEY_CHARS characters. Strings and comments are
    skipped; one linear pass, before the parser sees the text."""
    open_brackets: list[str] = []
    i, n, line = 0, len(text), 1
    key_parts, key_chars, in_key = 1, 0, True  # at the start of a line a key (or a [table]) begins

    def new_key(starts: bool) -> None:
        nonlocal key_parts, key_chars, in_key
        key_parts, key_chars, in_key = 1, 0, starts

    while i < n:
        c = text[i]
        if c in "\"'":
            end = _string_end(text, i, c, text.startswith(c * 3, i))
            line += text.count("\n", i, end)
            if in_key:
                key_chars += end - i
                if key_chars > MAX_KEY_CHARS:
                    raise BadInputFile(f"line {line}: a key longer than {MAX_KEY_CHARS} characters")
            i = end
            continue
        if c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        if c == "\n":
            line += 1
            if not open_brackets:
                new_key(True)
        elif c in "[{":
            header = (c == "[" and in_key and not open_brackets) or (open_brackets == ["["] and in_key)
            open_brackets.append(c)
            if len(open_brackets) > MAX_TOML_DEPTH:
                raise BadInputFile(f"line {line}: nested deeper than {MAX_TOML_DEPTH} levels")
            if not header:
                new_key(c == "{")
        elif c in "]}":
            if open_brackets:
                open_brackets.pop()
            if open_brackets:
                in_key = False
        elif c == "=":
            in_key = False
        elif c == "," and open_brackets:
            new_key(open_brackets[-1] == "{")
        elif in_key and not c.isspace():
            key_chars += 1
            if c == ".":
                key_parts += 1
            if key_parts > MAX_KEY_PARTS:
                raise BadInputFile(f"line {line}: a key of more than {MAX_KEY_PARTS} dotted parts")
            if key_chars > MAX_KEY_CHARS:
                raise BadInputFile(f"line {line}: a key longer than {MAX_KEY_CHARS} characters")
        i += 1


def _string_end(text: str, start: int, quote: str, triple: bool) -> int:
    """The index just after the string starting at `start` (the end of the text if it never closes)."""
    if triple:
        end = text.find(quote * 3, start + 3)
        if end < 0:
            return len(text)
        end += 3
        while end < len(text) and text[end] == quote:  # up to two quotes may end a multi-line string
            end += 1
        return end
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and quote == '"':
            i += 2
            continue
        if c == quote or c == "\n":
            return i + 1
        i += 1
    return len(text)


def load_toml(path: Path) -> dict[str, Any]:
    """A bounded TOML file: BadInputFile (special file, too large, too deep, key too long, not UTF-8,
    not TOML), OSError when it cannot be read. Messages are one line, without the file's name."""
    raw = read_regular_file(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise BadInputFile(
            f"not UTF-8 text (byte 0x{raw[error.start]:02x} on line {line}); save it as UTF-8"
        ) from None
    check_toml_shape(text)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BadInputFile(f"not valid TOML: {error}") from None
