"""Storage checks: is this file a Chairside database, and is it intact enough to trust?

Every open of the journal goes through `check_schema` (an empty, foreign, negative or unknown version is
refused) and `check_integrity`: SQLite's `quick_check` over the whole file (page structure: a random
page overwritten, a truncated file) plus a full `integrity_check` of the journal's own tables, which is
the only SQLite check that compares index content with the table (a few bytes changed in an index page
pass `quick_check` and hide sessions from every query that uses the index). `chairside verify` runs
the full `integrity_check` over everything. Each problem becomes one sentence; nothing is changed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.store.schema import CURRENT, MIGRATIONS, decode

JOURNAL_TABLES = ("events", "journal_head")


class StorageProblem(RuntimeError):
    """The file cannot be used as it is. The message is one line for the user."""


def _advice(path: Path) -> str:
    return f"Nothing was changed. Restore {path.name} from a backup, or open another database."


def describe_sqlite_error(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "not a database" in text or "file is encrypted" in text:
        return f"{path} is not a Chairside database (SQLite: {text}). {_advice(path)}"
    if "malformed" in text or "corrupt" in text:
        return f"{path} is damaged (SQLite: {text}). {_advice(path)}"
    return f"{path} cannot be read (SQLite: {text}). {_advice(path)}"


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse a version Chairside never wrote, or a file holding someone else's tables. A newer major
    version is refused by `schema.check_version`; an empty file here means a new database."""
    try:
        (raw,) = conn.execute("PRAGMA user_version").fetchone()
        tables = _tables(conn)
    except sqlite3.DatabaseError as exc:
        raise StorageProblem(describe_sqlite_error(path, exc)) from exc
    value = int(raw)
    if value < 0:
        raise StorageProblem(
            f"{path} has a negative schema version ({value}): it was not written by Chairside. {_advice(path)}"
        )
    version = decode(value)
    if value == 0:
        if tables:
            raise StorageProblem(
                f"{path} holds tables but no Chairside schema version: it is another program's database, "
                f"or its version was reset. {_advice(path)}"
            )
        return
    if version[0] == CURRENT[0] and version < CURRENT and version not in MIGRATIONS:
        raise StorageProblem(
            f"{path} has schema version {version[0]}.{version[1]}, which no Chairside wrote. {_advice(path)}"
        )
    if version[0] < min(MIGRATIONS)[0]:
        raise StorageProblem(
            f"{path} has schema version {version[0]}.{version[1]}, which no Chairside wrote. {_advice(path)}"
        )


def check_structure(conn: sqlite3.Connection, path: Path) -> None:
    """The journal's tables and its head row are there (a head row deleted by hand hides a truncation)."""
    try:
        missing = [t for t in JOURNAL_TABLES if t not in _tables(conn)]
        if missing:
            raise StorageProblem(
                f"{path} has no {' or '.join(missing)} table: it is not a Chairside journal. {_advice(path)}"
            )
        head = conn.execute("SELECT position, hash FROM journal_head WHERE id = 1").fetchone()
    except sqlite3.DatabaseError as exc:
        raise StorageProblem(describe_sqlite_error(path, exc)) from exc
    if head is None:
        raise StorageProblem(
            f"{path}: the journal's head row is missing (the file was edited outside Chairside), so a "
            f"truncation could not be detected. {_advice(path)}"
        )


def integrity_problems(conn: sqlite3.Connection, *, full: bool) -> list[str]:
    """SQLite's own findings: [] when the file is intact. `full`: `integrity_check` over every table and
    index; otherwise `quick_check` over the file and `integrity_check` of the journal's tables."""
    checks = ["PRAGMA integrity_check"] if full else ["PRAGMA quick_check"]
    if not full:
        present = _tables(conn)
        checks += [f"PRAGMA integrity_check({table})" for table in JOURNAL_TABLES if table in present]
    problems: list[str] = []
    for pragma in checks:
        try:
            rows = [str(row[0]) for row in conn.execute(pragma)]
        except sqlite3.DatabaseError as exc:
            rows = [str(exc)]
        problems += [" ".join(r.replace("*** in database main ***", "").split()) for r in rows if r != "ok"]
    return list(dict.fromkeys(problems))


def check_integrity(conn: sqlite3.Connection, path: Path, *, full: bool = False) -> None:
    problems = integrity_problems(conn, full=full)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise StorageProblem(f"{path} is damaged: {problems[0]}{more}. {_advice(path)}")
