"""Issue 16: `chairside plan` and the station agree on refusals for any generated session (protocol, dose,
bag volume, reactions), and no discharge comes before the anaphylaxis observation after a grade 4."""

from __future__ import annotations

import contextlib
import io
import tempfile
from datetime import date, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main as chairside
from app.domain.clock import ManualClock
from app.domain.commands import CheckIn, Discharge, Override, RecordReaction, RecordVitals, ResolveSymptoms
from app.domain.decide import CommandRefused
from app.floor import Floor
from app.protocol_library import ProtocolLibrary
from app.store.journal import Journal
from tests.conftest import BASELINE_VITALS, ChairScript

LIBRARY = ProtocolLibrary.load()


@st.composite
def sessions(draw: st.DrawFn) -> tuple[str, float, float]:
    """A protocol with a dose and bag volume in and around the label's concentration."""
    protocol = LIBRARY[draw(st.sampled_from(sorted(LIBRARY)))]
    dose = draw(st.sampled_from([protocol.dose_mg, protocol.dose_mg / 2, 1000.0]))
    volume = draw(st.sampled_from([protocol.bag_volume_ml, 100.0, 250.0, 500.0, 520.0, 115.0]))
    return protocol.id, dose, volume


def _planner(protocol_id: str, dose: float, volume: float) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = chairside(["plan", protocol_id, "--dose-mg", f"{dose!r}", "--bag-volume", f"{volume!r}"])
    return code, err.getvalue().strip().removeprefix("chairside plan: ")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sessions())
def test_planner_and_station_agree_on_refusals(tmp_path: Path, session: tuple[str, float, float]) -> None:
    protocol_id, dose, volume = session
    clock = ManualClock()
    with (
        tempfile.TemporaryDirectory(dir=tmp_path) as folder,
        Journal(Path(folder) / "j.sqlite", clock) as journal,
    ):
        floor = Floor(journal, LIBRARY, clock)
        command = CheckIn(
            "Chair 1", "MRN-1", "AB", protocol_id, volume, "LOT", date(2030, 1, 1),
            clock.now() - timedelta(minutes=5), 2, False, (clock.now() - timedelta(days=365)).date(),
            dose_mg=dose,
        )  # fmt: skip
        station_refusal = ""
        try:
            floor.check_in(command, "RN-AB")
        except CommandRefused as refused:
            if not refused.overridable:
                station_refusal = str(refused)
    code, said = _planner(protocol_id, dose, volume)
    assert (code == 2) == bool(station_refusal), (session, said, station_refusal)
    if station_refusal:
        assert said == station_refusal


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    protocol_id=st.sampled_from(sorted(LIBRARY)),
    onset_min=st.floats(1, 50),
    resolved_after_min=st.floats(0, 200),
    discharge_after_min=st.floats(0, 8 * 60),
)
def test_no_discharge_before_the_anaphylaxis_observation_after_grade_4(
    tmp_path: Path, protocol_id: str, onset_min: float, resolved_after_min: float, discharge_after_min: float
) -> None:
    clock = ManualClock()
    with (
        tempfile.TemporaryDirectory(dir=tmp_path) as folder,
        Journal(Path(folder) / "j.sqlite", clock) as journal,
    ):
        floor = Floor(journal, LIBRARY, clock)
        s = ChairScript(floor, clock)
        first = LIBRARY[protocol_id].eligibility.min_prior_infusions == 0
        s.check_in(protocol_id, prior_infusions=0 if first else 2, first_dose=first,
                   last_dose_on=None if first else (clock.now() - timedelta(days=182)).date())  # fmt: skip
        s.screen()
        s.premedicate()
        s.start()
        clock.advance(minutes=onset_min)
        s.run(RecordReaction(grade=4, signs=("anaphylaxis",)))
        onset = clock.now()
        clock.advance(minutes=resolved_after_min)
        s.run(ResolveSymptoms())
        s.run(RecordVitals(dict(BASELINE_VITALS)))
        clock.advance(minutes=max(0.0, discharge_after_min - resolved_after_min))
        observe = timedelta(minutes=floor.reaction_terms.anaphylaxis_observation_min)
        try:
            s.run(Discharge(override=Override("RN-CD", "bed needed")))
        except CommandRefused:
            assert clock.now() < onset + observe
        else:
            assert clock.now() >= onset + observe
