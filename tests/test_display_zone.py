"""A station configured with `display_tz = "Pacific/Auckland"` on a computer running in UTC (TZ=UTC in
the subprocess): the PDF and `chairside status` say Auckland times only, never the computer's own
(issue 15, point 3). The journal is a real shift simulated through the real Floor; the commands run as
the nurse would run them, in their own process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdf
import pytest

from app.domain.chair import ChairState
from app.domain.clock import ManualClock
from app.export.sample_shift import Visit, run_shift
from app.floor import Floor
from app.protocol_library import ProtocolLibrary
from app.store.journal import Journal

AUCKLAND = ZoneInfo("Pacific/Auckland")
START = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)  # 09:00 NZDT on 7 December
UNTIL = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 16:00 NZDT
VISITS = (
    Visit("Chair 1", "AB", "MRN-001", "ocrevus-600-subsequent", reaction=(2, 40.0)),
    Visit("Chair 2", "CD", "MRN-002", "natalizumab-300"),
    Visit("Chair 2", "EF", "MRN-003", "natalizumab-300", arrive_after_min=10.0),
)


@pytest.fixture(scope="module")
def shift(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ChairState]]:
    folder = tmp_path_factory.mktemp("auckland")
    clock = ManualClock(START)
    db = folder / "chairside.sqlite"
    with Journal(db, clock) as journal:
        run_shift(Floor(journal, ProtocolLibrary.load(), clock), clock, VISITS, until=UNTIL)
        states = [ChairState.replay(sid, journal.events(sid)) for sid in journal.session_ids()]
    (folder / "station.toml").write_text(
        '[station]\nname = "Pod A"\ndisplay_tz = "Pacific/Auckland"\n\n[[chairs]]\nname = "Chair 1"\n',
        encoding="utf-8",
    )
    return db, states


def chairside(folder: Path, *argv: str) -> str:
    env = {
        **os.environ,
        "TZ": "UTC",  # the computer's own zone: never shown
        "CHAIRSIDE_DATA_DIR": str(folder / "data"),
        "XDG_CONFIG_HOME": str(folder / "xdg"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "app", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def moments(states: list[ChairState]) -> list[datetime]:
    """The times a reader of the record must see: starts, reactions, ends, discharges."""
    found: list[datetime] = []
    for state in states:
        found += [r.onset_at for r in state.reactions]
        found += [t for t in (state.infusion_started_at, state.completed_at, state.discharged_at) if t]
    assert len(found) >= 6
    return found


def test_the_pdf_shows_the_station_zone_only(shift: tuple[Path, list[ChairState]]) -> None:
    db, states = shift
    out = db.parent / "shift.pdf"
    config = str(db.parent / "station.toml")
    chairside(db.parent, "export", "--db", str(db), "--config", config, "--shift", "2026-12-07/day",
              "--format", "pdf", "-o", str(out))  # fmt: skip
    text = " ".join(re.sub(r"\s+", " ", page.extract_text()) for page in pypdf.PdfReader(str(out)).pages)
    assert "+00:00" not in text
    assert "+13:00" in text and "Pacific/Auckland" in text
    assert "2026-12-07 07:00 +13:00" in text  # the day shift, on the Auckland clock
    without_export_stamp = re.sub(r"Exported \S+ \S+ \S+", "", text)
    for moment in moments(states):
        assert moment.astimezone(AUCKLAND).strftime("%H:%M") in text, moment
        assert moment.strftime("%H:%M") not in without_export_stamp, f"a UTC time: {moment}"


def test_status_shows_the_station_zone_only(shift: tuple[Path, list[ChairState]]) -> None:
    db, states = shift
    config = str(db.parent / "station.toml")
    lines = chairside(db.parent, "status", "--db", str(db), "--config", config, "--all").splitlines()
    assert len(lines) == len(states)
    for state in sorted(states, key=lambda s: s.chair):
        ends = state.observation_ends_at
        assert ends is not None
        (line,) = [line for line in lines if f" {state.patient_initials} " in line]
        assert line.endswith(ends.astimezone(AUCKLAND).strftime("%H:%M")), line
        assert ends.strftime("%H:%M") not in line
    shown = json.loads(chairside(db.parent, "status", "--db", str(db), "--config", config, "--all", "--json"))
    assert shown["display_tz"] == "Pacific/Auckland"
    times = [shown["now"]] + [
        v for row in shown["chairs"] for k, v in row.items() if k.endswith(("_at", "_end")) and v
    ]
    assert len(times) > 10
    assert all(t.endswith("+13:00") for t in times), times
