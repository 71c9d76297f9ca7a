"""`chairside users`: add, list, disable accounts and reset a PIN. Every change is a journal entry.

Whoever has a shell on the station's computer administers it, so the command line needs no sign-in;
its entries name the operating-system user. A PIN is read from the terminal without echo (twice), or
as one line on stdin with --pin-stdin; it is never printed, logged or journaled.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from app.accounts.roles import Role
from app.accounts.store import AccountError, AccountStore
from app.paths import default_db_path
from app.store.journal import Journal, JournalError
from app.store.schema import NewerDatabaseError

ROLES = tuple(r.key for r in Role)


def register(sub: Any) -> None:
    parser = sub.add_parser("users", help="the station's accounts: add, list, disable, reset a PIN")
    actions = parser.add_subparsers(dest="users_action", required=True)

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--db", help=f"database (default {default_db_path()})")
        return p

    add = with_db(actions.add_parser("add", help="add an account (asks for the PIN twice)"))
    add.add_argument("id", help="the account ID people sign in with, e.g. RN-AB")
    add.add_argument("--name", required=True, help="the person's full name")
    add.add_argument("--role", required=True, help="|".join(ROLES))
    add.add_argument("--badge", metavar="CODE", help="the badge's code as the scanner types it")
    add.add_argument("--pin-stdin", action="store_true", help="read the PIN as one line from stdin")
    add.set_defaults(func=cmd_add)

    listing = with_db(actions.add_parser("list", help="every account and its role"))
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_list)

    disable = with_db(actions.add_parser("disable", help="disable an account (kept in the record)"))
    disable.add_argument("id")
    disable.set_defaults(func=cmd_disable)

    reset = with_db(actions.add_parser("reset-pin", help="set a new PIN (also lifts a lock-out)"))
    reset.add_argument("id")
    reset.add_argument("--pin-stdin", action="store_true", help="read the PIN as one line from stdin")
    reset.set_defaults(func=cmd_reset_pin)


def operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def read_pin(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("PIN (at least 6 digits): ")
    second = getpass.getpass("PIN again: ")
    if first != second:
        raise AccountError("the two PINs differ: nothing was changed")
    return first


def _run(args: argparse.Namespace, action: Any, must_exist: bool = True) -> int:
    path = Path(args.db) if args.db else default_db_path()
    if must_exist and not path.exists():
        print(f"chairside: there is no database at {path}", file=sys.stderr)
        return 2
    try:
        with Journal(path) as journal:
            return int(action(AccountStore(journal)))
    except (AccountError, JournalError, NewerDatabaseError, ValueError) as exc:
        print(f"chairside: {exc}", file=sys.stderr)
        return 2
    except (EOFError, KeyboardInterrupt):
        print("chairside: cancelled: nothing was changed", file=sys.stderr)
        return 2


def cmd_add(args: argparse.Namespace) -> int:
    def add(store: AccountStore) -> int:
        Role.parse(args.role)  # refuse an unknown role before asking for a PIN
        if store.get(args.id) is not None:
            raise AccountError(f"there is already an account {args.id.strip()!r}")
        account = store.add(
            args.id, args.name, args.role, read_pin(args.pin_stdin), args.badge, by=operator()
        )
        badge = " with a badge" if account.has_badge else ""
        print(f"added {account.id} ({account.name}, {account.role.label}){badge}")
        return 0

    return _run(args, add, must_exist=False)


def cmd_list(args: argparse.Namespace) -> int:
    def listing(store: AccountStore) -> int:
        now = store.now()
        rows = [a.to_json(now) for a in store.accounts()]
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        if not rows:
            print("no accounts yet: add one with `chairside users add ID --name NAME --role admin`")
            return 0
        width = max(len(r["id"]) for r in rows)
        for r in rows:
            status = "disabled" if r["disabled"] else ("locked" if r["locked_until"] else "active")
            badge = "badge" if r["badge"] else "-"
            print(f"{r['id']:<{width}}  {r['role']:<6}  {status:<8}  {badge:<5}  {r['name']}")
        return 0

    return _run(args, listing)


def cmd_disable(args: argparse.Namespace) -> int:
    def disable(store: AccountStore) -> int:
        account = store.disable(args.id, by=operator())
        print(f"disabled {account.id}")
        return 0

    return _run(args, disable)


def cmd_reset_pin(args: argparse.Namespace) -> int:
    def reset(store: AccountStore) -> int:
        store.require(args.id)
        account = store.reset_pin(args.id, read_pin(args.pin_stdin), by=operator())
        print(f"new PIN set for {account.id}")
        return 0

    return _run(args, reset)
