"""The accounts stream shares the journal's chain but is not a chair: status, verify and export still work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.accounts.store import AccountStore
from app.cli import main as chairside
from app.domain.clock import ManualClock
from app.floor import Floor
from tests.accounts.support import PIN
from tests.conftest import ChairScript


def test_status_verify_and_export_with_account_entries(
    floor: Floor,
    clock: ManualClock,
    accounts: AccountStore,
    db_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    accounts.add("RN-AB", "Alice Brown", "nurse", PIN, by="cli")
    since = clock.now()
    ChairScript(floor, clock, nurse="RN-AB").to_infusing()
    accounts.sign_in("RN-AB", PIN)
    until = clock.advance(minutes=1)
    floor.journal.close()
    assert chairside(["status", "--db", str(db_path), "--json"]) == 0
    (chair,) = json.loads(capsys.readouterr().out)["chairs"]
    assert chair["phase"] == "infusing"
    assert chairside(["verify", "--db", str(db_path)]) == 1  # consistent, no witness given
    assert "journal NOT confirmed" in capsys.readouterr().err
    out = tmp_path / "shift.json"
    export = ["export", "--db", str(db_path), "--from", since.isoformat(), "--to", until.isoformat()]
    assert chairside([*export, "--format", "json", "-o", str(out)]) == 0
    assert chairside(["verify", "--db", str(db_path), "--export", str(out)]) == 0
    exported = out.read_text()
    assert "account_added" not in exported and "signed_in" not in exported
    assert "checked_in" in exported
