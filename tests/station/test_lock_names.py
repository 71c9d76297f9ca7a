"""The instance lock cannot be turned on the journal (issue 19, item 5): a lock file that is a link to
the journal is refused without touching it, and a second station reaching the same journal by another
name (a symbolic or hard link) is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.domain.clock import ManualClock
from app.station.lock import StationInUse, StationLock, lock_path
from app.station.start import open_floor
from app.store.journal import Journal


@pytest.fixture
def recorded(db_path: Path, clock: ManualClock) -> bytes:
    Journal(db_path, clock).close()
    return db_path.read_bytes()


def test_a_lock_file_that_is_a_symlink_to_the_journal_is_refused_and_the_journal_kept(
    db_path: Path, clock: ManualClock, recorded: bytes
) -> None:
    lock_path(db_path).symlink_to(db_path)
    with pytest.raises(StationInUse, match="is a symbolic link: refused"):
        open_floor(db_path, clock)
    assert db_path.read_bytes() == recorded and len(recorded) > 0


def test_a_lock_file_that_is_a_hard_link_to_the_journal_is_refused_and_the_journal_kept(
    db_path: Path, clock: ManualClock, recorded: bytes
) -> None:
    os.link(db_path, lock_path(db_path))
    with pytest.raises(StationInUse, match="not a plain file of its own"):
        open_floor(db_path, clock)
    assert db_path.read_bytes() == recorded


@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_a_second_station_through_another_name_is_refused(
    db_path: Path, clock: ManualClock, recorded: bytes, link: str
) -> None:
    other = db_path.with_name("other-name.sqlite")
    if link == "symbolic":
        other.symlink_to(db_path)
    else:
        os.link(db_path, other)
    first = open_floor(db_path, clock)
    try:
        with pytest.raises(StationInUse, match="by another name"):
            open_floor(other, clock)
        with pytest.raises(StationInUse):
            StationLock(other).acquire()
    finally:
        first.close()
    second = open_floor(other, clock)  # the first one gone: the journal is free again under any name
    second.close()
