"""The MQTT outbox cursor: the last journal position the broker acknowledged, per topic tree.

The journal is the outbox (entries are never changed or deleted); the cursor only says how far the
broker has confirmed it. It moves forward only, one small transaction per move, except in one case
(`rewind_to`): a cursor past the journal's end.
"""

from __future__ import annotations

import sqlite3

from app.store.journal import JournalWriteError


def acknowledged_position(conn: sqlite3.Connection, topic_root: str) -> int:
    row = conn.execute("SELECT position FROM mqtt_outbox WHERE topic_root = ?", (topic_root,)).fetchone()
    return int(row[0]) if row is not None else 0


def acknowledge_up_to(conn: sqlite3.Connection, topic_root: str, position: int) -> None:
    """The broker has every entry up to `position`; never moves the cursor back."""
    try:
        conn.execute(
            "INSERT INTO mqtt_outbox (topic_root, position) VALUES (?, ?) "
            "ON CONFLICT (topic_root) DO UPDATE SET position = max(position, excluded.position)",
            (topic_root, position),
        )
    except sqlite3.OperationalError as exc:
        raise JournalWriteError(f"the MQTT outbox cursor was not saved: {exc}") from exc


def rewind_to(conn: sqlite3.Connection, topic_root: str, position: int) -> None:
    """The one move back: a cursor past the journal's end (the journal restored from an older backup or
    truncated) is set to the journal's head, so the entries recorded from now on are published."""
    try:
        conn.execute(
            "UPDATE mqtt_outbox SET position = ? WHERE topic_root = ? AND position > ?",
            (position, topic_root, position),
        )
    except sqlite3.OperationalError as exc:
        raise JournalWriteError(f"the MQTT outbox cursor was not saved: {exc}") from exc
