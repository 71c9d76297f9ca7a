"""The witness's own database: every signed anchor it was given, per station, append-only.

A row is never changed or deleted (triggers refuse it), so whoever can rewrite a station's journal and
its anchors file cannot rewrite what the witness saw. An anchor is kept only if it is a Chairside anchor
whose signature holds under the key it names; which key is the station's is the verifier's question
(`verify --public-key`, else the first key the witness saw for that station).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.export.seals import SealError, check_signature, is_anchor, parse_public
from app.private_files import private_file, private_folder
from app.store.journal import canonical_json

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS witnessed_anchors (
        id INTEGER PRIMARY KEY,
        station TEXT NOT NULL,
        received_at TEXT NOT NULL,
        position INTEGER NOT NULL,
        head_hash TEXT NOT NULL,
        anchored_at TEXT NOT NULL,
        public_key TEXT NOT NULL,
        record TEXT NOT NULL,
        UNIQUE (station, record)
    )""",
    """CREATE TRIGGER IF NOT EXISTS witnessed_anchors_never_change BEFORE UPDATE ON witnessed_anchors
        BEGIN SELECT RAISE(ABORT, 'the witness is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS witnessed_anchors_never_go BEFORE DELETE ON witnessed_anchors
        BEGIN SELECT RAISE(ABORT, 'the witness is append-only'); END""",
)


class WitnessError(RuntimeError):
    """The witness database or an anchor given to it cannot be used (one line)."""


@dataclass(frozen=True)
class Witnessed:
    station: str
    record: dict[str, Any]
    received_at: str

    @property
    def public_key(self) -> str:
        return str(self.record.get("signature", {}).get("public_key", ""))


def parse_anchor(payload: bytes | str) -> dict[str, Any]:
    """A signed anchor as published, or WitnessError: JSON, a Chairside anchor, signed by the key it names."""
    try:
        record = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WitnessError(f"not JSON ({exc})") from None
    if not is_anchor(record):
        raise WitnessError("not a Chairside anchor")
    signature = record.get("signature")
    if not isinstance(signature, dict):
        raise WitnessError("the anchor is not signed")
    try:
        check_signature(record, parse_public(str(signature.get("public_key", ""))), "the anchor")
    except SealError as exc:
        raise WitnessError(str(exc)) from None
    return dict(record)


class WitnessStore:
    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        try:
            if read_only:
                if not path.is_file():
                    raise WitnessError(f"no witness database at {path}")
                self.conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
            else:
                private_folder(path.parent, tighten_existing=False)
                if not path.exists():
                    private_file(path)
                self.conn = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=FULL")
                for statement in _SCHEMA:
                    self.conn.execute(statement)
            self.conn.execute("SELECT count(*) FROM witnessed_anchors").fetchone()
        except (OSError, sqlite3.Error) as exc:
            raise WitnessError(f"{path} is not a witness database Chairside can use: {exc}") from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> WitnessStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def add(self, station: str, record: dict[str, Any], received_at: datetime | None = None) -> bool:
        """Keep a parsed anchor (see `parse_anchor`); False if it was already kept."""
        text = canonical_json(record)
        moment = (received_at or datetime.now(UTC)).isoformat()
        signature = record.get("signature", {})
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO witnessed_anchors "
            "(station, received_at, position, head_hash, anchored_at, public_key, record) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                station,
                moment,
                int(record["position"]),
                str(record["head_hash"]),
                str(record.get("at", "")),
                str(signature.get("public_key", "")) if isinstance(signature, dict) else "",
                text,
            ),
        )
        return cursor.rowcount == 1  # durable on return: WAL with synchronous=FULL

    def stations(self) -> list[str]:
        return [
            str(r[0]) for r in self.conn.execute("SELECT DISTINCT station FROM witnessed_anchors ORDER BY 1")
        ]

    def anchors(self, station: str) -> list[Witnessed]:
        """The station's anchors in the order the witness received them."""
        rows = self.conn.execute(
            "SELECT record, received_at FROM witnessed_anchors WHERE station = ? ORDER BY id", (station,)
        )
        return [Witnessed(station, json.loads(text), received) for text, received in rows]
