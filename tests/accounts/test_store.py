from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.accounts.roles import Role
from app.accounts.settings import AccountSettings
from app.accounts.store import STREAM, AccountError, AccountStore, SignInRefused
from app.domain.clock import ManualClock
from app.store.journal import Journal

PIN = "482913"


def test_add_then_sign_in_by_id_and_by_badge(accounts: AccountStore) -> None:
    accounts.add("RN-AB", "Alice Brown", "nurse", PIN, badge="0004411223", by="admin")
    assert accounts.sign_in("rn-ab", PIN).id == "RN-AB"
    assert accounts.sign_in("0004411223\n", PIN).role is Role.NURSE


@pytest.mark.parametrize(
    ("account_id", "role", "pin", "message"),
    [
        ("RN-AB", "nurse", "482913", "already an account"),
        ("rn-ab", "nurse", "482913", "already an account"),
        ("RN-CD", "nurse", "12345", "at least 6 digits"),
        ("RN-CD", "nurse", "12345a", "digits only"),
        ("RN-CD", "matron", "482913", "unknown role 'matron'"),
        ("pump", "nurse", "482913", "reserved"),
        ("RN CD", "nurse", "482913", "letters, digits"),
    ],
)
def test_bad_accounts_are_refused_with_a_clear_message(
    accounts: AccountStore, account_id: str, role: str, pin: str, message: str
) -> None:
    accounts.add("RN-AB", "Alice Brown", "nurse", PIN, by="admin")
    entries_before = len(list(accounts.journal.entries(STREAM)))
    with pytest.raises(ValueError, match=message):
        accounts.add(account_id, "Carol Dunn", role, pin, by="admin")
    assert [a.id for a in accounts.accounts()] == ["RN-AB"]
    assert len(list(accounts.journal.entries(STREAM))) == entries_before


def test_every_change_is_a_journal_entry_in_the_chain(accounts: AccountStore) -> None:
    accounts.add("ADM-1", "Ann Admin", Role.ADMIN, PIN, by="cli")
    accounts.add("RN-AB", "Alice Brown", Role.NURSE, PIN, badge="B-1", by="ADM-1")
    accounts.reset_pin("RN-AB", "918273", by="ADM-1")
    accounts.disable("RN-AB", by="ADM-1")
    entries = list(accounts.journal.entries(STREAM))
    assert [(e.type, e.actor, e.payload["account"]) for e in entries] == [
        ("account_added", "cli", "ADM-1"),
        ("account_added", "ADM-1", "RN-AB"),
        ("account_pin_reset", "ADM-1", "RN-AB"),
        ("account_disabled", "ADM-1", "RN-AB"),
    ]
    assert accounts.journal.verify().intact
    assert "B-1" not in str([e.payload_text for e in entries])
    with pytest.raises(SignInRefused, match="disabled"):
        accounts.sign_in("RN-AB", "918273")


def test_a_change_whose_journal_entry_fails_is_not_made(accounts: AccountStore, db_path: Path) -> None:
    accounts.add("RN-AB", "Alice Brown", "nurse", PIN, by="admin")
    accounts.journal.conn.execute("PRAGMA query_only = ON")  # every write now fails, as on a read-only disk
    with pytest.raises(Exception, match="NOT recorded|read"):
        accounts.disable("RN-AB", by="admin")
    accounts.journal.conn.execute("PRAGMA query_only = OFF")
    assert not accounts.require("RN-AB").disabled


def test_secrets_are_stored_only_as_hashes(accounts: AccountStore, db_path: Path) -> None:
    accounts.add("RN-AB", "Alice Brown", "nurse", PIN, badge="0004411223", by="admin")
    raw = b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p.is_file())
    assert PIN.encode() not in raw and b"0004411223" not in raw
    row = sqlite3.connect(db_path).execute("SELECT pin_hash FROM accounts").fetchone()
    scheme, *_cost, salt, digest = row[0].split("$")
    assert (scheme, len(salt), len(digest)) == ("scrypt", 32, 64)


def test_two_accounts_with_the_same_pin_get_different_hashes(accounts: AccountStore) -> None:
    accounts.add("RN-AB", "Alice Brown", "nurse", PIN, by="admin")
    accounts.add("RN-CD", "Carol Dunn", "nurse", PIN, by="admin")
    hashes = {r[0] for r in accounts.journal.conn.execute("SELECT pin_hash FROM accounts")}
    assert len(hashes) == 2


def test_five_wrong_pins_lock_the_account_for_five_minutes(
    accounts: AccountStore, clock: ManualClock
) -> None:
    assert (accounts.settings.max_failures, accounts.settings.lock_min) == (5, 5.0)
    accounts.add("RN-AB", "Alice Brown", "nurse", PIN, by="admin")
    for tries_left in (4, 3, 2, 1):
        with pytest.raises(SignInRefused, match=f"{tries_left} more"):
            accounts.sign_in("RN-AB", "000000")
    with pytest.raises(SignInRefused, match="now locked for 5 minutes"):
        accounts.sign_in("RN-AB", "000000")
    clock.advance(minutes=4.9)
    with pytest.raises(SignInRefused, match="is locked"):
        accounts.sign_in("RN-AB", PIN)  # even the right PIN
    clock.advance(minutes=0.2)
    assert accounts.sign_in("RN-AB", PIN).failed_attempts == 0
    kinds = [(e.type, e.payload.get("reason")) for e in accounts.journal.entries(STREAM)]
    assert kinds[1:] == [
        *[("sign_in_failed", "wrong PIN")] * 5,
        ("account_locked", None),
        ("sign_in_failed", "locked"),
        ("signed_in", None),
    ]


def test_reset_pin_lifts_a_lock(accounts: AccountStore) -> None:
    accounts.add("RN-AB", "Alice Brown", "nurse", PIN, by="admin")
    for _ in range(5):
        with pytest.raises(SignInRefused):
            accounts.sign_in("RN-AB", "000000")
    accounts.reset_pin("RN-AB", "736251", by="admin")
    assert accounts.sign_in("RN-AB", "736251").id == "RN-AB"


def test_unknown_id_is_refused_without_recording_what_was_typed(accounts: AccountStore) -> None:
    with pytest.raises(SignInRefused, match="Unknown"):
        accounts.sign_in("4829137777", PIN)  # a PIN typed into the ID field by mistake
    (entry,) = accounts.journal.entries(STREAM)
    assert "4829137777" not in entry.payload_text


def test_the_last_administrator_cannot_be_disabled(accounts: AccountStore) -> None:
    accounts.add("ADM-1", "Ann Admin", "admin", PIN, by="cli")
    with pytest.raises(AccountError, match="last administrator"):
        accounts.disable("ADM-1", by="cli")
    assert accounts.has_admin()


def test_shipped_pin_cost_verifies(journal: Journal) -> None:
    store = AccountStore(journal, AccountSettings.load())
    assert store.settings.pin_cost.n == 2**17
    store.add("RN-AB", "Alice Brown", "nurse", PIN, by="admin")
    assert store.sign_in("RN-AB", PIN).id == "RN-AB"


def test_a_lock_out_says_its_time_on_the_station_clock_face(
    journal: Journal, settings: AccountSettings, clock: ManualClock
) -> None:
    """The refusal a nurse reads says the station's display zone, not this computer's (issue 15, 3)."""
    clock.set(datetime(2026, 12, 6, 16, 54, tzinfo=UTC))  # 05:54 in Auckland
    accounts = AccountStore(journal, settings, display_zone=lambda: ZoneInfo("Pacific/Auckland"))
    accounts.add("RN-AB", "Alice Brown", "nurse", PIN, by="admin")
    for _ in range(settings.max_failures - 1):
        with pytest.raises(SignInRefused):
            accounts.sign_in("RN-AB", "000000")
    with pytest.raises(SignInRefused, match=r"\(until 05:59\)"):
        accounts.sign_in("RN-AB", "000000")
    with pytest.raises(SignInRefused, match=r"until 05:59\. Ask"):
        accounts.sign_in("RN-AB", PIN)
