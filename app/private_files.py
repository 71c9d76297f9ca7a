"""Patient data stays private to the account that runs Chairside.

The data folder is 0700; the database, its -wal and -shm files, exports and the crash log are 0600.
Every entry point sets the umask to 0o077 first, so nothing Chairside (or SQLite, or Qt) creates is
readable by other accounts; `private_file` and `private_folder` also tighten files and folders that
already exist with looser modes (a database copied in, a folder made by hand), and say so in the log.
On Windows the modes mean little: the data folder's ACL is inherited from the user's profile.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
FOLDER_MODE = 0o700
FILE_MODE = 0o600


def set_private_umask() -> int:
    """Nothing created from now on is readable by group or others. Returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def private_folder(path: Path, *, tighten_existing: bool = True) -> Path:
    """Create `path` (and missing parents) as 0700; with `tighten_existing`, also tighten it if it exists
    and others can get in (never a shared, sticky folder such as /tmp)."""
    existed = path.is_dir()
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    if not existed or not tighten_existing:
        return path
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return path
    if mode & stat.S_ISVTX:
        log.warning("%s is a shared folder (%o): keep the database in a folder of its own", path, mode)
        return path
    try:
        path.chmod(FOLDER_MODE)
    except OSError as exc:
        log.warning("the data folder %s is open to others (%o) and cannot be tightened: %s", path, mode, exc)
    else:
        log.warning("the data folder %s was open to others (%o): now %o", path, mode, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure `path` exists and is 0600 before anything is written into it. Writers that open the file
    afterwards (`open(path, "w")`, QPdfWriter, SQLite) keep its mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def tighten(path: Path) -> None:
    """Make an existing file 0600 (no-op when it is missing or already private); logs a change."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        path.chmod(FILE_MODE)
        log.warning("%s was readable by others (%o): now %o", path, mode, FILE_MODE)
