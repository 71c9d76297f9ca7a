"""What someone with sqlite3 and write access to a journal can do to it, for the tests that must find it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.store.schema import MIGRATIONS

# The append-only triggers as the schema creates them (restored after a tampering, as a careful editor would)
_TRIGGERS = [
    s for step in MIGRATIONS.values() for s in step if s.startswith("CREATE TRIGGER events_are_append_only")
]


def cut_journal_to(db: Path, keep: int) -> None:
    """The entries after position `keep` deleted and the head row reset to match, the append-only
    triggers restored: a careful truncation (or what lost WAL frames leave). Nothing else is touched."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("DROP TRIGGER events_are_append_only_delete")
        conn.execute("DELETE FROM events WHERE position > ?", (keep,))
        (last_hash,) = conn.execute("SELECT hash FROM events WHERE position = ?", (keep,)).fetchone()
        conn.execute("UPDATE journal_head SET position = ?, hash = ? WHERE id = 1", (keep, last_hash))
        conn.execute(next(t for t in _TRIGGERS if "events_are_append_only_delete" in t))
        conn.commit()
    finally:
        conn.close()
