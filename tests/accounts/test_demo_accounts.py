from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.accounts.demo import DEMO_ACCOUNTS, ensure_demo_accounts
from app.accounts.store import AccountStore
from app.store.journal import Journal


def test_the_demo_adds_its_accounts_once_and_never_to_a_real_station(accounts: AccountStore) -> None:
    lines = ensure_demo_accounts(accounts, "AB")
    assert [a.id for a in accounts.accounts()] == ["AB", "ADM-1", "CN-EF", "RN-AB"]
    assert any("AB" in line and "444444" in line for line in lines)
    assert ensure_demo_accounts(accounts, "AB")[1:] == lines[1:]  # nothing added the second time
    assert len(accounts.accounts()) == 4
    accounts.add("RN-ZZ", "A real nurse", "nurse", "736251", by="cli")
    assert "real accounts" in ensure_demo_accounts(accounts)[0]


def test_the_demo_prints_its_accounts_and_signs_in_its_nurse(tmp_path: Path) -> None:
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
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CHAIRSIDE_DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run(
        [sys.executable, "-m", "app", *argv], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert "demo accounts (ID / role / PIN / badge):" in run.stdout
    for account_id, _name, role, pin, _badge in DEMO_ACCOUNTS:
        assert f"{account_id:<6} {role.label:<14} PIN {pin}" in run.stdout
    assert "AB     nurse          PIN 444444" in run.stdout
    with Journal(db, read_only=True) as journal:
        assert journal.verify().intact
        added = [e.payload["account"] for e in journal.entries() if e.type == "account_added"]
    assert sorted(added) == ["AB", "ADM-1", "CN-EF", "RN-AB"]
