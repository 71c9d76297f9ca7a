"""`chairside keys`: the station's signing key and journal anchors.

chairside keys public            the station's public key (one line, for `verify --public-key`)
chairside keys anchor [--db DB]  sign the journal's head now and append it to the anchor log
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.export.seals import (
    AnchorLog,
    SealError,
    anchor_log_path,
    fingerprint,
    key_path,
    load_or_create_key,
    parse_public,
    public_text,
)
from app.paths import default_db_path
from app.store.journal import Journal, JournalError


def register(sub: Any) -> None:
    parser = sub.add_parser("keys", help="the station's signing key and journal anchors")
    actions = parser.add_subparsers(dest="keys_action", required=True)
    public = actions.add_parser("public", help="print the station's public key (created at first use)")
    public.set_defaults(func=cmd_public)
    anchor = actions.add_parser("anchor", help="sign the journal's head and append it to the anchor log")
    anchor.add_argument("--db", help=f"database (default {default_db_path()})")
    anchor.set_defaults(func=cmd_anchor)


def cmd_public(_args: argparse.Namespace) -> int:
    existed = key_path().exists()
    try:
        key = load_or_create_key()
    except (OSError, SealError) as exc:
        print(f"chairside keys: {exc}", file=sys.stderr)
        return 2
    if not existed:
        print(f"created the station key {key_path()}", file=sys.stderr)
    print(public_text(key))
    return 0


def cmd_anchor(args: argparse.Namespace) -> int:
    path = Path(args.db) if args.db else default_db_path()
    if not path.exists():
        print(f"chairside keys: no database at {path}", file=sys.stderr)
        return 2
    try:
        key = load_or_create_key()
        with Journal(path) as journal:
            record = AnchorLog(anchor_log_path(path)).append(journal, key)
    except (OSError, SealError, JournalError) as exc:
        print(f"chairside keys: {exc}", file=sys.stderr)
        return 2
    print(
        f"anchored entry {record['position']} ({record['head_hash'][:16]}...) and the pump samples of "
        f"{len(record['samples'])} streams at {record['at']}, key {fingerprint(public_text(key))}"
    )
    return 0


def public_key_argument(text: str) -> str:
    """argparse type for --public-key: a bad key is one line and exit 2."""
    try:
        parse_public(text)
    except SealError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text
