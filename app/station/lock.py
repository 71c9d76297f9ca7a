"""One station per database: an OS-level lock on ``<database>.lock``, held for the station's life.

The lock is an advisory `flock` (Windows: `msvcrt.locking`) on a small file next to the database; it
goes with the process, so a station killed outright (SIGKILL, power cut) leaves nothing to clean up.
The file holds who holds it (host, pid, start time) so a second station can say who. Read-only
commands (`status`, `verify`, `export`) never take it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
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

    def acquire(self) -> Self:
        """Take the lock or raise StationInUse naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = os.fdopen(fd, "r+", encoding="utf-8")
        if not _try_lock(handle):
            handle.close()
            raise StationInUse(f"{self.db_path} is {_holder(self.path)}")
        info = {"host": socket.gethostname(), "pid": os.getpid(), "since": datetime.now(UTC).isoformat()}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(info))
        handle.flush()
        os.fsync(handle.fileno())
        self._handle = handle
        return self

    @property
    def held(self) -> bool:
        return self._handle is not None

    def release(self) -> None:
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
