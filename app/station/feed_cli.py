"""`chairside feed status` and `chairside feed replay [--all|ID]`: where the live HL7 feed stands and
the messages it set aside (docs/hl7.md, "Live feed").

`status` prints, per receiver the database has a cursor for: the journal entry its cursor stands at,
how many entries wait behind it and since when (the lag), and every message set aside with the
receiver's answer. It exits 1 while a message waits in the set-aside table, so a monitoring script
can tell.

`replay` sends set-aside messages (all, or one by its MSH-10) to the configured receiver again, as
they were built (same MSH-10: the engine's duplicate check still works), one at a time; each one the
receiver accepts (AA) leaves the table. The running station's feed is not disturbed: the replay has
its own connection.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.export.hl7 import Hl7Message
from app.export.mllp import MllpError, send_messages
from app.paths import default_config_path, default_db_path
from app.station.config import StationConfigError, load_station_config
from app.station.hl7_feed import FeedSettings, parse_feed
from app.store.journal import STATION_STREAM_PREFIX, JournalError, open_connection


@dataclass(frozen=True)
class SetAside:
    id: int
    receiver: str
    control_id: str
    set_aside_at: str
    ack_code: str
    ack_text: str
    er7: str

    @property
    def what(self) -> str:
        """The message type as the engine sees it (MSH-9)."""
        fields = self.er7.split("\r", 1)[0].split("|")
        return fields[8] if len(fields) > 8 else "?"


@dataclass(frozen=True)
class FeedPosition:
    receiver: str
    position: int
    head: int
    oldest_waiting: datetime | None
    """When the first entry after the cursor was recorded (None: the receiver has everything)."""

    def lag(self, now: datetime) -> str:
        behind = self.head - self.position
        if behind <= 0 or self.oldest_waiting is None:
            return "up to date"
        minutes = max(0, int((now - self.oldest_waiting).total_seconds() // 60))
        return f"{behind} entries behind, the oldest recorded {minutes} min ago"


def _connect(db: Path, read_only: bool) -> sqlite3.Connection:
    if not db.is_file():
        raise JournalError(f"no database at {db}")
    return open_connection(db, read_only=read_only)


# The station's own streams (sign-ins, the journal anchors) never become messages: not a lag.
_CHAIR_ENTRIES = f"session_id NOT LIKE '{STATION_STREAM_PREFIX}%'"


def feed_positions(conn: sqlite3.Connection) -> list[FeedPosition]:
    (head,) = conn.execute(f"SELECT coalesce(max(position), 0) FROM events WHERE {_CHAIR_ENTRIES}").fetchone()
    positions: list[FeedPosition] = []
    for receiver, position in conn.execute(
        "SELECT receiver, position FROM hl7_feed_cursor ORDER BY receiver"
    ):
        row = conn.execute(
            f"SELECT occurred_at FROM events WHERE position > ? AND {_CHAIR_ENTRIES} ORDER BY position LIMIT 1",
            (position,),
        ).fetchone()
        oldest = datetime.fromisoformat(row[0]) if row else None
        positions.append(FeedPosition(str(receiver), int(position), int(head), oldest))
    return positions


def set_aside(conn: sqlite3.Connection, receiver: str | None = None) -> list[SetAside]:
    query = "SELECT id, receiver, control_id, set_aside_at, ack_code, ack_text, er7 FROM hl7_feed_set_aside"
    rows = (
        conn.execute(query + " WHERE receiver = ? ORDER BY id", (receiver,))
        if receiver is not None
        else conn.execute(query + " ORDER BY id")
    )
    return [SetAside(int(r[0]), *(str(v) for v in r[1:])) for r in rows]


def register(sub: Any) -> None:
    parser = sub.add_parser("feed", help="the live HL7 feed: where it stands, messages set aside, replay")
    actions = parser.add_subparsers(dest="feed_action", required=True)
    for name, text in (
        ("status", "the cursor, the lag and the set-aside messages (exit 1 while any is set aside)"),
        ("replay", "send set-aside messages to the configured receiver again"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--db", dest="feed_db", type=Path, help=f"database (default {default_db_path()})")
        action.add_argument(
            "--config",
            dest="feed_config",
            type=Path,
            metavar="PATH",
            help=f"the station configuration (default {default_config_path()})",
        )
        action.set_defaults(func=run_status if name == "status" else run_replay)
        if name == "replay":
            which = action.add_mutually_exclusive_group(required=True)
            which.add_argument("--all", action="store_true", help="every message set aside")
            which.add_argument("control_id", nargs="?", metavar="ID", help="one message, by its MSH-10")


def _db(args: argparse.Namespace) -> Path:
    return Path(args.feed_db or getattr(args, "db", None) or default_db_path())


def run_status(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    with _connect(_db(args), read_only=True) as conn:
        positions = feed_positions(conn)
        waiting = set_aside(conn)
    if not positions and not waiting:
        print("no HL7 feed has run on this database")
        return 0
    for position in positions:
        print(
            f"{position.receiver}: cursor at journal entry {position.position} of {position.head} "
            f"({position.lag(now)}); set aside: {sum(1 for w in waiting if w.receiver == position.receiver)}"
        )
    for item in waiting:
        answer = f"{item.ack_code} {item.ack_text}".strip()
        print(
            f"  set aside {item.set_aside_at}  {item.control_id}  {item.what}  ({item.receiver} answered {answer})"
        )
    if waiting:
        print(
            f"{len(waiting)} message(s) set aside: `chairside feed replay --all` sends them again",
            file=sys.stderr,
        )
        return 1
    return 0


def _feed_settings(args: argparse.Namespace) -> FeedSettings:
    path = args.feed_config or getattr(args, "config", None) or default_config_path()
    config = load_station_config(path)
    settings = parse_feed(config.hl7, path)
    if settings is None:
        raise StationConfigError("no live feed configured ([hl7] feed)", file=path, section="hl7", key="feed")
    return settings


def run_replay(args: argparse.Namespace) -> int:
    try:
        settings = _feed_settings(args)
    except StationConfigError as error:
        print(f"chairside feed replay: {error}", file=sys.stderr)
        return 2
    with _connect(_db(args), read_only=False) as conn:
        items = set_aside(conn, settings.receiver)
        if args.control_id:
            items = [i for i in items if i.control_id == args.control_id]
            if not items:
                print(
                    f"chairside feed replay: no message {args.control_id!r} set aside for {settings.receiver}",
                    file=sys.stderr,
                )
                return 1
        if not items:
            print(f"nothing set aside for {settings.receiver}")
            return 0
        messages = [Hl7Message(i.control_id, "", i.what, "", i.er7) for i in items]

        def accepted(count: int, _total: int) -> None:
            with conn:  # each accepted message leaves the table at once
                conn.execute("DELETE FROM hl7_feed_set_aside WHERE id = ?", (items[count - 1].id,))

        try:
            sent = send_messages(
                messages,
                settings.host,
                settings.port,
                settings.ack_timeout_s,
                progress=accepted,
                tls=settings.tls_context(),
            )
        except MllpError as error:
            print(
                f"chairside feed replay: {error}; {len(items) - error.accepted} still set aside",
                file=sys.stderr,
            )
            return 1
    print(f"{sent} message(s) sent again to {settings.url} and accepted")
    return 0
