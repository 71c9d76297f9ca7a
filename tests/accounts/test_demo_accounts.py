from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from app.accounts.demo import DEMO_ACCOUNTS, ensure_demo_accounts
from app.accounts.store import AccountStore
from app.cli import main as chairside
from app.store.journal import Journal

pytestmark = pytest.mark.qt_log_ignore("does not support propagateSizeHints")


def test_the_demo_adds_its_accounts_once_and_never_to_a_real_station(accounts: AccountStore) -> None:
    lines = ensure_demo_accounts(accounts, "AB")
    assert [a.id for a in accounts.accounts()] == ["AB", "ADM-1", "CN-EF", "RN-AB"]
    assert any("AB" in line and "444444" in line for line in lines)
    assert ensure_demo_accounts(accounts, "AB")[1:] == lines[1:]  # nothing added the second time
    assert len(accounts.accounts()) == 4
    accounts.add("RN-ZZ", "A real nurse", "nurse", "736251", by="cli")
    assert "real accounts" in ensure_demo_accounts(accounts)[0]


def test_the_demo_prints_its_accounts_and_signs_in_its_nurse(
    qapp: QApplication, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.sqlite"
    argv = [
        "--db",
        str(db),
        "--demo",
        "2",
        "--speed",
        "60",
        "--preroll",
        "3",
        "--nurse",
        "AB",
        "--quit-after",
        "1",
    ]
    assert chairside(argv) == 0
    out = capsys.readouterr().out
    assert "demo accounts (ID / role / PIN / badge):" in out
    for account_id, _name, role, pin, _badge in DEMO_ACCOUNTS:
        assert f"{account_id:<6} {role.label:<14} PIN {pin}" in out
    with Journal(db, read_only=True) as journal:
        signed = [e for e in journal.entries() if e.type in ("checked_in", "signed_in")]
        assert journal.verify().intact
    assert all(e.actor != "" for e in signed)
