"""The optional encrypted journal: the same SQLite schema in a SQLCipher file (the `sqlcipher3` package).

A station chooses encryption when its journal is created (`chairside --encrypt-journal`); from then on
every command that opens it (the station, status, verify, export, users) finds the key in the OS
keyring (`keyring`, service "chairside-journal", one entry per journal path) or is given it. Without
the key nothing opens and nothing is changed; a wrong key says so in one sentence.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
KEYRING_SERVICE = "chairside-journal"


def _dbapi() -> Any:
    try:
        return importlib.import_module("sqlcipher3.dbapi2")
    except ImportError:
        return None


def is_encrypted(path: Path) -> bool:
    """A journal file that exists and is not plain SQLite (SQLCipher encrypts even the header)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError:
        return False
    return len(head) > 0 and head != SQLITE_HEADER


def _keyring_user(path: Path) -> str:
    return str(path.resolve())


def key_from_keyring(path: Path) -> str | None:
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, _keyring_user(path))
    except Exception as exc:  # no keyring backend on this computer (a headless Linux, for one)
        log.info("no key from the OS keyring (%s)", type(exc).__name__)
        return None


def save_key(path: Path, key: str) -> bool:
    """Keep the key in the OS keyring; False when this computer has none (the key must then be typed)."""
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, _keyring_user(path), key)
    except Exception as exc:
        log.warning("the journal key could not be kept in the OS keyring (%s)", type(exc).__name__)
        return False
    return True


def errors(name: str) -> tuple[type[BaseException], ...]:
    """The sqlite3 exception class `name` and SQLCipher's of the same name (they are not related)."""
    import sqlite3

    found: list[type[BaseException]] = [getattr(sqlite3, name)]
    dbapi = _dbapi()
    if dbapi is not None:
        found.append(getattr(dbapi, name))
    return tuple(found)


class CipherUnavailable(RuntimeError):
    pass


class WrongKey(RuntimeError):
    pass


def connect(path: Path, key: str, read_only: bool) -> Any:
    """A SQLCipher connection to `path` with `key`; WrongKey when the key does not open it."""
    dbapi = _dbapi()
    if dbapi is None:
        raise CipherUnavailable("the encrypted journal needs the sqlcipher3 package, which is not installed")
    if read_only:
        conn = dbapi.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=10.0
        )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = dbapi.connect(str(path), isolation_level=None, timeout=10.0)
    conn.execute("PRAGMA cipher_log_level = NONE")  # a wrong key is our one sentence, not SQLCipher's log
    quoted = key.replace("'", "''")
    conn.execute(f"PRAGMA key = '{quoted}'")
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except dbapi.DatabaseError as exc:
        conn.close()
        raise WrongKey(str(exc)) from exc
    conn.row_factory = dbapi.Row
    return conn
