"""The station's accounts, in the station database, with every change and sign-in in the journal.

The `accounts` table is the current state (one row per person); the journal's accounts stream is the
audit trail. Both are written in one transaction: an account change that is not journaled did not
happen. Neither a PIN nor a badge code is ever stored, journaled, logged or printed: only their hashes.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from app.accounts.roles import Role
from app.accounts.secrets import badge_digest, hash_pin, verify_pin
from app.accounts.settings import AccountSettings
from app.domain.chair import format_time, parse_time
from app.domain.clock_face import ClockFace
from app.domain.events import Event, EventType
from app.store.journal import STATION_STREAM_PREFIX, Journal, SequenceConflict

STREAM = f"{STATION_STREAM_PREFIX}accounts"
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
# Actor names the app writes itself: an account with one of these would be indistinguishable from it
RESERVED_IDS = frozenset({"pump", "system", "demo", "unknown", "station"})


class AccountError(ValueError):
    """A refused account change or sign-in, in one sentence the user can act on."""


class SignInRefused(AccountError):
    def __init__(self, message: str, locked_until: datetime | None = None) -> None:
        super().__init__(message)
        self.locked_until = locked_until


UNKNOWN_SCAN_REASONS = ("unknown badge", "unknown ID or badge")
"""Failed sign-ins that named nobody: counted station-wide, they lock badge scans like wrong PINs."""


@dataclass(frozen=True)
class PinCheck:
    """A sign-in between its two halves: read on the station's thread (`prepare_sign_in`), the slow PIN
    hash checked anywhere (`verify`, a worker thread: the screen stays live), then recorded on the
    station's thread (`finish_sign_in`)."""

    account: Account
    pin_hash: str

    def verify(self, pin: str) -> bool:
        return verify_pin(pin, self.pin_hash)


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    role: Role
    disabled: bool = False
    has_badge: bool = False
    failed_attempts: int = 0
    locked_until: datetime | None = None

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.key,
            "disabled": self.disabled,
            "badge": self.has_badge,
            "locked_until": format_time(self.locked_until)
            if self.locked_at(now) and self.locked_until
            else None,
        }


class AccountStore:
    def __init__(
        self,
        journal: Journal,
        settings: AccountSettings | None = None,
        display_zone: Callable[[], tzinfo] | None = None,
    ) -> None:
        """`display_zone`: the station's zone, read when a refusal says a time (default: this computer's)."""
        self.journal = journal
        self.settings = settings or AccountSettings.load()
        self.clock = journal.clock
        self._display_zone = display_zone

    @property
    def face(self) -> ClockFace:
        """The station's clock face: the lock-out times the refusals say."""
        return ClockFace.of(self._display_zone() if self._display_zone is not None else None)

    @property
    def _conn(self) -> sqlite3.Connection:
        return self.journal.conn

    def now(self) -> datetime:
        return self.clock.now()

    # ------------------------------------------------------------------------------------------
    # Reading

    def accounts(self) -> list[Account]:
        rows = self._conn.execute("SELECT * FROM accounts ORDER BY id COLLATE NOCASE").fetchall()
        return [_account(row) for row in rows]

    def get(self, account_id: str) -> Account | None:
        row = self._conn.execute("SELECT * FROM accounts WHERE id = ?", (account_id.strip(),)).fetchone()
        return _account(row) if row is not None else None

    def require(self, account_id: str) -> Account:
        account = self.get(account_id)
        if account is None:
            raise AccountError(f"there is no account {account_id.strip()!r}")
        return account

    def has_admin(self) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM accounts WHERE role = 'admin' AND disabled = 0 LIMIT 1"
        ).fetchone()
        return row is not None

    def find_badge(self, badge: str) -> Account | None:
        if not badge.strip():
            return None
        digest = badge_digest(badge, self._badge_salt())
        row = self._conn.execute("SELECT * FROM accounts WHERE badge_hash = ?", (digest,)).fetchone()
        return _account(row) if row is not None else None

    def _badge_salt(self) -> str:
        (salt,) = self._conn.execute("SELECT badge_salt FROM account_station WHERE id = 1").fetchone()
        return str(salt)

    # ------------------------------------------------------------------------------------------
    # Changes (each one a journal entry)

    def check_pin(self, pin: str) -> None:
        """Refuse a PIN the policy does not allow (without ever saying what it was)."""
        digits = self.settings.pin_min_digits
        if not pin.isdigit() or not pin.isascii():
            raise AccountError("a PIN is digits only")
        if len(pin) < digits:
            raise AccountError(f"a PIN has at least {digits} digits")

    def add(
        self, account_id: str, name: str, role: Role | str, pin: str, badge: str | None = None, *, by: str
    ) -> Account:
        account_id, name = account_id.strip(), " ".join(name.split())
        if not _ID_PATTERN.match(account_id):
            raise AccountError(
                f"account ID {account_id!r}: 1 to 32 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        if account_id.lower() in RESERVED_IDS:
            raise AccountError(f"account ID {account_id!r} is reserved for the app's own entries")
        if not name:
            raise AccountError("an account needs the person's name")
        parsed = Role.parse(role) if isinstance(role, str) else role
        self.check_pin(pin)
        if self.get(account_id) is not None:
            raise AccountError(f"there is already an account {account_id!r}")
        badge_hash = badge_digest(badge, self._badge_salt()) if badge and badge.strip() else None
        pin_hash = hash_pin(pin, self.settings.pin_cost)
        now = format_time(self.now())

        def write(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone():
                raise AccountError(f"there is already an account {account_id!r}")
            if (
                badge_hash
                and conn.execute("SELECT 1 FROM accounts WHERE badge_hash = ?", (badge_hash,)).fetchone()
            ):
                raise AccountError("that badge is already enrolled for another account")
            conn.execute(
                "INSERT INTO accounts (id, name, role, badge_hash, pin_hash, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (account_id, name, parsed.key, badge_hash, pin_hash, now, now),
            )

        data = {"account": account_id, "name": name, "role": parsed.key, "badge": badge_hash is not None}
        self._record(EventType.ACCOUNT_ADDED, by, data, write)
        return self.require(account_id)

    def disable(self, account_id: str, *, by: str) -> Account:
        account = self.require(account_id)
        if account.disabled:
            raise AccountError(f"account {account.id!r} is already disabled")
        if account.role is Role.ADMIN and self._enabled_admins() == [account.id]:
            raise AccountError(f"{account.id!r} is the station's last administrator: add another one first")

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE accounts SET disabled = 1, updated_at = ? WHERE id = ?",
                (format_time(self.now()), account.id),
            )

        self._record(EventType.ACCOUNT_DISABLED, by, {"account": account.id}, write)
        return self.require(account.id)

    def reset_pin(self, account_id: str, pin: str, *, by: str) -> Account:
        """A new PIN; it also lifts a lock-out (the administrator has identified the person)."""
        account = self.require(account_id)
        self.check_pin(pin)
        pin_hash = hash_pin(pin, self.settings.pin_cost)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE accounts SET pin_hash = ?, failed_attempts = 0, locked_until = NULL, updated_at = ? "
                "WHERE id = ?",
                (pin_hash, format_time(self.now()), account.id),
            )

        self._record(EventType.ACCOUNT_PIN_RESET, by, {"account": account.id}, write)
        return self.require(account.id)

    def _enabled_admins(self) -> list[str]:
        rows = self._conn.execute("SELECT id FROM accounts WHERE role = 'admin' AND disabled = 0").fetchall()
        return [str(r[0]) for r in rows]

    # ------------------------------------------------------------------------------------------
    # Sign-in

    def identify(self, text: str) -> Account | None:
        """The account for what was typed or scanned: an account ID, else an enrolled badge."""
        text = text.strip()
        if not text:
            return None
        return self.get(text) or self.find_badge(text)

    def sign_in(self, identifier: str, pin: str, *, purpose: str = "sign-in") -> Account:
        """Check an ID (or badge) and PIN. Journals the success or the failure (and a lock-out)."""
        check = self.prepare_sign_in(identifier)
        return self.finish_sign_in(check, check.verify(pin), purpose=purpose)

    def prepare_sign_in(self, identifier: str) -> PinCheck:
        """The first half of `sign_in`: who it is, refused (and journaled) if nobody, disabled or locked."""
        now = self.now()
        account = self.identify(identifier)
        if account is None:
            self._record(
                EventType.SIGN_IN_FAILED, "unknown", {"account": "", "reason": "unknown ID or badge"}
            )
            raise SignInRefused("Unknown ID or badge.")
        self._refuse_unusable(account, now)
        return PinCheck(account, self._pin_hash(account.id))

    def finish_sign_in(self, check: PinCheck, pin_ok: bool, *, purpose: str = "sign-in") -> Account:
        """The second half: the PIN's verdict journaled, a lock-out after too many wrong ones."""
        now = self.now()
        account = self.require(check.account.id)  # as it is now: locked or disabled meanwhile?
        self._refuse_unusable(account, now)
        if not pin_ok:
            self._failed(account, now)

        def clear_failures(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE accounts SET failed_attempts = 0, locked_until = NULL WHERE id = ?", (account.id,)
            )

        data = {"account": account.id, "how": "pin", "purpose": purpose}
        self._record(EventType.SIGNED_IN, account.id, data, clear_failures)
        return self.require(account.id)

    def badge_only(self, badge: str, *, purpose: str) -> Account:
        """A badge scan without a PIN (allowed only for acknowledging an alarm at a locked station)."""
        now = self.now()
        locked_until = self.badge_scans_locked_until(now)
        if locked_until is not None:
            self._record(EventType.SIGN_IN_FAILED, "unknown", {"account": "", "reason": "badge scans locked"})
            raise SignInRefused(
                f"Too many unknown badges: badge scans are locked until {self.face.at(locked_until, self.now())}. "
                "Sign in with your ID and PIN.",
                locked_until,
            )
        account = self.find_badge(badge)
        if account is None:
            self._record(EventType.SIGN_IN_FAILED, "unknown", {"account": "", "reason": "unknown badge"})
            raise SignInRefused("This badge is not enrolled at this station.")
        self._refuse_unusable(account, now)
        self._record(
            EventType.SIGNED_IN, account.id, {"account": account.id, "how": "badge", "purpose": purpose}
        )
        return account

    def badge_scans_locked_until(self, now: datetime) -> datetime | None:
        """Until when badge scans are refused: `max_failures` scans that named nobody within `lock_min`
        lock them for `lock_min` after the last (as wrong PINs lock an account; slower guessing is
        limited to that rate). Read from the journal, so a restart does not lift it."""
        rows = self._conn.execute(
            "SELECT occurred_at FROM events WHERE session_id = ? AND type = ? "
            f"AND json_extract(payload, '$.reason') IN ({', '.join('?' * len(UNKNOWN_SCAN_REASONS))}) "
            "ORDER BY position DESC LIMIT ?",
            (STREAM, str(EventType.SIGN_IN_FAILED), *UNKNOWN_SCAN_REASONS, self.settings.max_failures),
        ).fetchall()
        if len(rows) < self.settings.max_failures:
            return None
        lock = timedelta(minutes=self.settings.lock_min)
        times = [parse_time(str(row[0])) for row in rows]  # newest first
        if times[0] - times[-1] > lock:
            return None  # spread out: slower than the limit
        until = times[0] + lock
        return until if now < until else None

    def _refuse_unusable(self, account: Account, now: datetime) -> None:
        if account.disabled:
            self._record(EventType.SIGN_IN_FAILED, account.id, {"account": account.id, "reason": "disabled"})
            raise SignInRefused(f"The account {account.id} is disabled. Ask an administrator.")
        if account.locked_at(now):
            self._record(EventType.SIGN_IN_FAILED, account.id, {"account": account.id, "reason": "locked"})
            assert account.locked_until is not None
            raise SignInRefused(
                f"The account {account.id} is locked after {self.settings.max_failures} wrong PINs, "
                f"until {self.face.at(account.locked_until, now)}. Ask an administrator to reset the PIN.",
                account.locked_until,
            )

    def _pin_hash(self, account_id: str) -> str:
        (stored,) = self._conn.execute("SELECT pin_hash FROM accounts WHERE id = ?", (account_id,)).fetchone()
        return str(stored)

    def _failed(self, account: Account, now: datetime) -> None:
        failures = (0 if account.locked_until is not None else account.failed_attempts) + 1
        locked_until = (
            now + timedelta(minutes=self.settings.lock_min)
            if failures >= self.settings.max_failures
            else None
        )

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE accounts SET failed_attempts = ?, locked_until = ? WHERE id = ?",
                (
                    0 if locked_until else failures,
                    format_time(locked_until) if locked_until else None,
                    account.id,
                ),
            )

        events = [
            (EventType.SIGN_IN_FAILED, {"account": account.id, "reason": "wrong PIN", "failures": failures})
        ]
        if locked_until is not None:
            events.append(
                (
                    EventType.ACCOUNT_LOCKED,
                    {"account": account.id, "until": format_time(locked_until), "failures": failures},
                )
            )
        self._record_many(account.id, events, write)
        if locked_until is not None:
            raise SignInRefused(
                f"Wrong PIN. The account {account.id} is now locked for {self.settings.lock_min:g} minutes "
                f"(until {self.face.at(locked_until, self.now())}).",
                locked_until,
            )
        left = self.settings.max_failures - failures
        raise SignInRefused(
            f"Wrong PIN. {left} more {'try' if left == 1 else 'tries'} before the account locks."
        )

    # ------------------------------------------------------------------------------------------
    # The station's own entries (sign-out, idle lock, unlock)

    def record(self, event_type: EventType, actor: str, data: Mapping[str, Any]) -> None:
        self._record(event_type, actor, data)

    def _record(
        self,
        event_type: EventType,
        actor: str,
        data: Mapping[str, Any],
        write: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self._record_many(actor, [(event_type, data)], write)

    def _record_many(
        self,
        actor: str,
        items: Sequence[tuple[EventType, Mapping[str, Any]]],
        write: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        now = self.now()
        events = [Event(event_type, now, actor or "unknown", dict(data)) for event_type, data in items]
        for attempt in range(3):
            try:
                self.journal.append(STREAM, events, self.journal.last_seq(STREAM), guard=write)
                return
            except SequenceConflict:  # another process signed someone in between: take the next seq
                if attempt == 2:
                    raise


def _account(row: sqlite3.Row) -> Account:
    locked = row["locked_until"]
    return Account(
        id=str(row["id"]),
        name=str(row["name"]),
        role=Role.parse(str(row["role"])),
        disabled=bool(row["disabled"]),
        has_badge=row["badge_hash"] is not None,
        failed_attempts=int(row["failed_attempts"]),
        locked_until=parse_time(locked) if locked else None,
    )
