"""The optional encrypted journal (SQLCipher): a real encrypted file that will not open without its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.accounts.store import AccountStore
from app.cli import main as chairside
from app.domain.clock import ManualClock
from app.floor import Floor
from app.protocol_library import ProtocolLibrary
from app.store import cipher
from app.store.journal import Journal, JournalError, JournalWriteError
from tests.accounts.support import FAST, PIN
from tests.conftest import ChairScript

KEY = "correct horse battery staple"
MRN = "MRN-SECRET-1"


@pytest.fixture
def encrypted(tmp_path: Path, clock: ManualClock, library: ProtocolLibrary) -> Path:
    path = tmp_path / "station.sqlite"
    with Journal(path, clock, key=KEY) as journal:
        AccountStore(journal, FAST).add("RN-AB", "Alice Brown", "nurse", PIN, badge="0004411223", by="test")
        script = ChairScript(Floor(journal, library, clock), clock)
        script.check_in(patient_mrn=MRN)
        script.screen()
    return path


def test_nothing_readable_in_the_encrypted_file(encrypted: Path) -> None:
    assert cipher.is_encrypted(encrypted)
    for path in encrypted.parent.iterdir():
        raw = path.read_bytes()
        assert b"SQLite format 3" not in raw
        for secret in (MRN, "RN-AB", "Alice Brown", PIN, "0004411223", "checked_in"):
            assert secret.encode() not in raw, (path.name, secret)


def test_it_will_not_open_without_its_key(encrypted: Path) -> None:
    with pytest.raises(JournalError, match="encrypted journal whose key is not in this computer's keyring"):
        Journal(encrypted)
    with pytest.raises(JournalError, match="not in this computer's keyring"):
        Journal(encrypted, read_only=True)


def test_a_wrong_key_is_one_clear_sentence(encrypted: Path) -> None:
    with pytest.raises(JournalError, match="the key given for the encrypted journal .* is wrong"):
        Journal(encrypted, key="Correct horse battery staple")


def test_the_cli_says_so_in_one_line(encrypted: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert chairside(["status", "--db", str(encrypted)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "keyring" in err and "Traceback" not in err


def test_with_its_key_it_is_the_same_journal(
    encrypted: Path, clock: ManualClock, library: ProtocolLibrary
) -> None:
    with Journal(encrypted, clock, key=KEY) as journal:
        assert journal.verify().intact
        floor = Floor(journal, library, clock)
        (state,) = floor.sessions.values()
        assert state.patient_mrn == MRN
        assert AccountStore(journal, FAST).sign_in("0004411223", PIN).id == "RN-AB"
        journal.conn.execute("PRAGMA query_only = ON")  # a write that fails is still one clear error
        with pytest.raises(JournalWriteError, match="NOT recorded"):
            ChairScript(floor, clock, chair="Chair 2").check_in()


def test_a_plain_journal_is_not_taken_for_an_encrypted_one(db_path: Path, clock: ManualClock) -> None:
    Journal(db_path, clock).close()
    assert not cipher.is_encrypted(db_path)
    with Journal(db_path, clock) as journal:
        assert journal.verify().intact


def test_a_wrong_key_prints_nothing_of_its_own(encrypted: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(JournalError):
        Journal(encrypted, key="wrong")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
