"""The one error of a station configuration that cannot be used, apart from the reader so that the
readers of single tables (the broker, the HL7 feed) raise it without importing the whole reader
(app.station.config imports them)."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["StationConfigError"]


class StationConfigError(ValueError):
    """A configuration that cannot be used; the message names the file, the chair and the key."""

    def __init__(
        self,
        problem: str,
        *,
        file: Path | str,
        section: str | None = None,
        chair_index: int | None = None,
        chair_name: str | None = None,
        key: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = Path(file)
        self.section = section
        self.chair_index = chair_index
        """1-based position of the chair in the file, None when the error is not about one chair."""
        self.chair_name = chair_name
        self.key = key
        where = [str(file)]
        if chair_index is not None:
            where.append(f"[[chairs]] {chair_index}" + (f" {chair_name!r}" if chair_name else ""))
        elif section:
            where.append(f"[{section}]")
        if key:
            where.append(key if re.fullmatch(r"[\w.-]+", key) else repr(key))
        super().__init__(f"{': '.join(where)}: {problem}")
