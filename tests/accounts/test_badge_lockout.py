"""Badge scans are locked out like PINs (issue 19, item 9): after as many unknown badges as the policy
allows wrong PINs, badge scans are refused (a valid badge too) for the lock time, across a restart; the
slow PIN check runs apart from the station's own thread; the data folder is 0700 whatever --db says."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from app import redaction
from app.accounts.settings import AccountSettings
from app.accounts.store import AccountStore, SignInRefused
from app.domain.clock import ManualClock
from app.store.journal import Journal

PIN = "482913"


def test_unknown_badges_lock_badge_scans_like_wrong_pins(
    journal: Journal, settings: AccountSettings, clock: ManualClock, db_path: Path
) -> None:
    accounts = AccountStore(journal, settings)
    accounts.add("RN-AB", "Alice Brown", "nurse", PIN, badge="0004411223", by="admin")
    for number in range(settings.max_failures):
        with pytest.raises(SignInRefused, match="not enrolled"):
            accounts.badge_only(f"guess-{number}", purpose="acknowledge alarm")
    with pytest.raises(SignInRefused, match="badge scans are locked") as locked:
        accounts.badge_only("0004411223", purpose="acknowledge alarm")  # even the right one, now
    assert locked.value.locked_until is not None
    journal.close()
    restarted = AccountStore(Journal(db_path, clock), settings)  # the lock-out survives a restart
    with pytest.raises(SignInRefused, match="badge scans are locked"):
        restarted.badge_only("0004411223", purpose="acknowledge alarm")
    clock.advance(minutes=settings.lock_min, seconds=1)
    assert restarted.badge_only("0004411223", purpose="acknowledge alarm").id == "RN-AB"
    restarted.journal.close()


def test_the_pin_check_is_the_part_that_can_run_on_another_thread(accounts: AccountStore) -> None:
    accounts.add("RN-AB", "Alice Brown", "nurse", PIN, by="admin")
    check = accounts.prepare_sign_in("RN-AB")  # the station's thread: the database
    answer: list[bool] = []
    worker = threading.Thread(target=lambda: answer.append(check.verify(PIN)))  # the slow scrypt
    worker.start()
    worker.join(60)
    assert answer == [True]
    assert accounts.finish_sign_in(check, answer[0], purpose="sign-in").id == "RN-AB"
    wrong = accounts.prepare_sign_in("RN-AB")
    with pytest.raises(SignInRefused, match="Wrong PIN"):
        accounts.finish_sign_in(wrong, wrong.verify("000000"), purpose="sign-in")


def test_the_data_folder_is_private_whatever_db_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    monkeypatch.setenv("CHAIRSIDE_DATA_DIR", str(data))
    from app.paths import data_dir

    try:
        redaction.install(data_dir() / "chairside.log")  # what the station does, --db anywhere
    finally:
        redaction.uninstall()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
