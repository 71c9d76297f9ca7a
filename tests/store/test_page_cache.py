"""The station keeps its connection open for a whole shift while the journal grows: SQLite's page cache
(by default up to 2,000 KiB a connection) must stay bounded, whatever the file's size (issue 19 point 10:
the soak's RSS grew with the cache as the database grew)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sqlite3
from pathlib import Path

import pytest

from app.store.journal import open_connection


def _sqlite_library() -> ctypes.CDLL:
    """The SQLite library Python's sqlite3 module runs on, for its own count of the memory it holds."""
    import _sqlite3

    name = ctypes.util.find_library("sqlite3")
    if name is None:
        pytest.skip("the SQLite shared library is not found (a statically linked sqlite3 module)")
    lib = ctypes.CDLL(name)
    lib.sqlite3_libversion.restype = ctypes.c_char_p
    if lib.sqlite3_libversion().decode() != _sqlite3.sqlite_version:
        pytest.skip("Python's sqlite3 module does not run on the system's SQLite library")
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    return lib


def _database_of(path: Path, megabytes: int) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, body BLOB)")
        conn.executemany(
            "INSERT INTO filler (body) VALUES (?)", ((bytes(1000),) for _ in range(megabytes * 1000))
        )
    conn.close()


@pytest.mark.parametrize("read_only", [False, True], ids=["station", "read-only"])
def test_reading_a_large_database_keeps_the_page_cache_bounded(tmp_path: Path, read_only: bool) -> None:
    lib = _sqlite_library()
    path = tmp_path / "large.sqlite"
    _database_of(path, megabytes=6)
    conn = open_connection(path, read_only=read_only)
    try:
        before = lib.sqlite3_memory_used()
        for _ in range(2):  # every page read, twice: a cache without a bound keeps them all
            (count,) = conn.execute("SELECT count(*) FROM filler WHERE length(body) > 0").fetchone()
        grown = lib.sqlite3_memory_used() - before
    finally:
        conn.close()
    assert count == 6000
    # 6 MB of pages read: SQLite's default cache would keep about 2 MB of them.
    assert grown < 1_000_000, f"SQLite holds {grown / 1e6:.1f} MB more after reading the file"
