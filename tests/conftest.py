"""Shared fixtures. Tests run offscreen, with an injected clock and a real SQLite file per test."""

from __future__ import annotations

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
# The station key is created at first use: never in the real configuration folder during tests.
os.environ.setdefault("CHAIRSIDE_CONFIG_DIR", __import__("tempfile").mkdtemp(prefix="chairside-config-"))
# A station under test never beeps through the developer's speakers: the sound tests start their own
# PulseAudio daemon and point the station at it (tests/station/pulse.py).
os.environ["PULSE_SERVER"] = "unix:/nonexistent/chairside-tests-use-their-own-sound-server"
# One UTF-8 locale for the tests and every process they start, whatever this computer's: with LC_ALL=C, Qt
# writes a four-line locale warning to stderr in each station process, before the one line a test reads.
os.environ["LC_ALL"] = "C.UTF-8"

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import settings

from app.domain.chair import ChairState
from app.domain.clock import ManualClock
from app.domain.commands import (
    CheckIn,
    Command,
    GivePremedication,
    RecordScreening,
    RecordVitals,
    StartInfusion,
)
from app.floor import Floor
from app.protocol_library import ProtocolLibrary
from app.store.journal import Journal

# CI (CI=true) replays the same examples on every run, so a submission's verdict does not depend on the
# draw; developers' runs keep exploring new ones (and keep what fails in .hypothesis/ to replay).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def station_key_made() -> None:
    """The test computer is a station that has started once: it has its key (only a station creates
    one; exports and verify read it). Tests of the key's creation use their own configuration folder."""
    from app.export.seals import load_or_create_key

    load_or_create_key()


@pytest.fixture(scope="session", autouse=True)
def widgets_application(qapp: object) -> object:
    """Every test process starts the widgets QApplication first: the PDF writer makes a bare
    QGuiApplication when there is none, and a widget test later in the same pytest-xdist worker could
    then not get its QApplication, whichever test happened to run first."""
    return qapp


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


BASELINE_VITALS = {
    "temperature_c": 36.8,
    "systolic_mmhg": 124.0,
    "diastolic_mmhg": 78.0,
    "heart_rate_bpm": 72.0,
    "respiratory_rate_per_min": 14.0,
    "spo2_percent": 98.0,
}


class ChairScript:
    """Walks one chair through the workflow with the real Floor, journal and an injected clock."""

    def __init__(
        self, floor: Floor, clock: ManualClock, chair: str = "Chair 1", nurse: str = "RN-AB"
    ) -> None:
        self.floor = floor
        self.clock = clock
        self.chair = chair
        self.nurse = nurse
        self.session_id = ""

    @property
    def state(self) -> ChairState:
        state = self.floor.sessions.get(self.session_id)
        if state is None:  # discharged sessions leave the floor; replay them from the journal
            state = ChairState.replay(self.session_id, self.floor.journal.events(self.session_id))
        return state

    def run(self, command: Command) -> ChairState:
        return self.floor.execute(self.session_id, command, self.nurse)

    def check_in(self, protocol_id: str = "ocrevus-600-subsequent", **changes: object) -> ChairState:
        fields: dict[str, object] = {
            "chair": self.chair,
            "patient_mrn": "MRN-0042",
            "patient_initials": "JD",
            "protocol_id": protocol_id,
            "bag_volume_ml": self.floor.protocols[protocol_id].bag_volume_ml,
            "bag_lot": "LOT-H1234",
            "bag_expiry": date(2027, 6, 30),
            "bag_prepared_at": self.clock.now() - timedelta(minutes=20),
            "prior_infusions": 2,
            "prior_serious_reaction": False,
            "last_dose_on": (self.clock.now() - timedelta(days=182)).date(),
        }
        fields.update(changes)
        state = self.floor.check_in(CheckIn(**fields), self.nurse)  # type: ignore[arg-type]
        self.session_id = state.session_id
        return state

    def screen(self) -> ChairState:
        """Baseline vital signs (required before the start) and the screening answers."""
        protocol = self.state.require_protocol()
        self.run(RecordVitals(dict(BASELINE_VITALS)))
        return self.run(RecordScreening({item.id: item.acceptable_answer for item in protocol.screening}))

    def premedicate(self) -> ChairState:
        for premed in self.state.require_protocol().premedications:
            self.run(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
        return self.state

    def start(self, wait_min: float = 30) -> ChairState:
        self.clock.advance(minutes=wait_min)
        return self.run(StartInfusion())

    def to_infusing(self, protocol_id: str = "ocrevus-600-subsequent") -> ChairState:
        self.check_in(protocol_id)
        self.screen()
        self.premedicate()
        return self.start()


@pytest.fixture
def chair_script(floor: Floor, clock: ManualClock) -> ChairScript:
    return ChairScript(floor, clock)


@pytest.fixture(autouse=True)
def _no_broker_client_outlives_its_test() -> Iterator[None]:
    """A broker client (paho's network thread) left running retries a stopped broker for the rest of the
    worker's tests and calls into Qt objects its test has let go of: every test stops what it started."""
    before = {t.ident for t in threading.enumerate() if t.name.startswith("paho-mqtt-client")}
    yield
    left = [
        t.name
        for t in threading.enumerate()
        if t.name.startswith("paho-mqtt-client") and t.ident not in before
    ]
    assert not left, f"broker clients still running after the test: {left}"
