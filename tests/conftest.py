"""Shared fixtures. Tests run offscreen, with an injected clock and a real SQLite file per test."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from app.domain.clock import ManualClock  # noqa: E402
from app.floor import Floor  # noqa: E402
from app.protocol_library import ProtocolLibrary  # noqa: E402
from app.store.journal import Journal  # noqa: E402


@pytest.fixture(scope="session")
def library() -> ProtocolLibrary:
    return ProtocolLibrary.load()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "chairside.sqlite"


@pytest.fixture
def journal(db_path: Path, clock: ManualClock) -> Iterator[Journal]:
    with Journal(db_path, clock) as j:
        yield j


@pytest.fixture
def floor(journal: Journal, library: ProtocolLibrary, clock: ManualClock) -> Floor:
    return Floor(journal, library, clock)
