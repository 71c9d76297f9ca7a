"""One station per database: an OS-level lock on ``<database>.lock``, held for the station's life.

The lock is an advisory `flock` (Windows: `msvcrt.locking`) on a small file next to the database; it
goes with the process, so a station killed outright (SIGKILL, power cut) leaves nothing to clean up.
The file holds who holds it (host, pid, start time) so a second station can say who. Read-only
commands (`status`, `verify`, `export`) never take it.

The lock file is opened without following a symbolic link and must be a plain file of its own (not a
link to the journal: writing the holder's details there would truncate it). A second lock is held on the
database's real file itself (its device and inode), so a second station reaching the same journal by
another name (a symbolic or hard link) is refused too.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from app.domain.clock_face import ClockFace


class StationInUse(RuntimeError):
    """Another station holds the database."""


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


def _try_lock(handle: IO[str]) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
        since = ClockFace.of().stamp(datetime.fromisoformat(info["since"]))  # before any configuration
        return f"in use by {info['host']} pid {info['pid']} since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "in use by another station (no details in the lock file)"


class StationLock:
    def __init__(self, db_path: Path | str) -> None:
        self.db_path = Path(db_path)
        self.path = lock_path(self.db_path)
        self._handle: IO[str] | None = None
        self._database: int | None = None  # a descriptor of the database's real file, flock'ed

    def acquire(self) -> Self:
        """Take the lock or raise StationInUse naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError as exc:
            if self.path.is_symlink():
                raise StationInUse(
                    f"the lock file {self.path} is a symbolic link: refused (delete it; nothing was opened)"
                ) from None
            raise StationInUse(f"cannot open the lock file {self.path}: {exc.strerror or exc}") from None
        handle = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            self._refuse_foreign(os.fstat(fd))
        except StationInUse:
            handle.close()
            raise
        if not _try_lock(handle):
            handle.close()
            raise StationInUse(f"{self.db_path} is {_holder(self.path)}")
        self._handle = handle
        try:
            self.hold_database()
        except StationInUse:
            self.release()
            raise
        info = {"host": socket.gethostname(), "pid": os.getpid(), "since": datetime.now(UTC).isoformat()}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(info))
        handle.flush()
        os.fsync(handle.fileno())
        return self

    def _refuse_foreign(self, info: os.stat_result) -> None:
        """The lock file must be a plain file of its own, never another name of the journal."""
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
            raise StationInUse(
                f"the lock file {self.path} is not a plain file of its own: refused (delete it)"
            )
        with contextlib.suppress(OSError):
            real = os.stat(self.db_path)
            if (real.st_dev, real.st_ino) == (info.st_dev, info.st_ino):
                raise StationInUse(f"the lock file {self.path} is the journal itself: refused (delete it)")

    def hold_database(self) -> None:
        """Lock the database's real file (device and inode), whatever name it was reached by. Called
        again once a new journal has been created (POSIX only: Windows locks byte ranges SQLite uses)."""
        if self._database is not None or sys.platform == "win32" or not self.db_path.exists():
            return
        import fcntl

        fd = os.open(self.db_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StationInUse(
                f"{self.db_path} is in use by another station that opened the same journal by another name "
                "(a symbolic or hard link)"
            ) from None
        self._database = fd

    @property
    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
        database, self._database = self._database, None
        if database is not None:
            os.close(database)  # closing the descriptor drops its lock
        handle, self._handle = self._handle, None
        if handle is None:
            return
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.truncate()
        handle.close()  # closing the descriptor drops the lock

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.release()
