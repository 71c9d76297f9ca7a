"""`chairside` subcommands, run through the real entry point."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.cli import main as chairside
from app.domain.commands import ChangeRate, RecordReaction


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert chairside(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("protocol", "volume", "minutes"),
    [("ocrevus-600-subsequent", 500, 210), ("ocrevus-600-short", 500, 120)],
)
def test_protocols_show_json(
    capsys: pytest.CaptureFixture[str], protocol: str, volume: float, minutes: float
) -> None:
    shown = run_json(capsys, "protocols", "show", protocol, "--json")
    assert shown["total_volume_ml"] == pytest.approx(volume)
    assert shown["duration_min"] == pytest.approx(minutes)
    steps = shown["steps"]
    assert sum(s["rate_ml_h"] * s["duration_min"] / 60 for s in steps) == pytest.approx(volume)
    assert steps[0]["start_min"] == 0
    assert all(
        a["start_min"] + a["duration_min"] == pytest.approx(b["start_min"])
        for a, b in itertools.pairwise(steps)
    )


def test_ocrevus_300_initial_ends_at_the_max_rate(capsys: pytest.CaptureFixture[str]) -> None:
    shown = run_json(capsys, "protocols", "show", "ocrevus-300-initial", "--json")
    assert shown["total_volume_ml"] == pytest.approx(250)
    assert shown["steps"][-1]["rate_ml_h"] == shown["max_rate_ml_h"] == 180


def test_plan_with_reaction_and_pause(capsys: pytest.CaptureFixture[str]) -> None:
    planned = run_json(
        capsys, "plan", "ocrevus-600-subsequent", "--reaction", "2@70+10", "--pause", "150+10", "--json"
    )
    assert planned["total_volume_ml"] == pytest.approx(500)
    assert planned["end_min"] == pytest.approx(253 + 10)
    rates = [(s["start_min"], s["rate_ml_h"], s["kind"]) for s in planned["steps"]]
    assert (70, 60, "reduced") in rates
    assert any(kind == "paused" for _, _, kind in rates)


def test_plan_rejects_malformed_reaction(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        chairside(["plan", "ocrevus-600-subsequent", "--reaction", "seven@x"])
    assert "use GRADE@MINUTES" in capsys.readouterr().err


def test_unknown_protocol_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert chairside(["protocols", "show", "ocrevus-9000"]) == 2
    assert "no protocol 'ocrevus-9000' in the library" in capsys.readouterr().err


def test_status_lists_open_chairs(
    chair_script: Any, db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chair_script.to_infusing()
    chair_script.clock.advance(minutes=70)
    chair_script.run(ChangeRate(120, "pump"))
    chair_script.run(RecordReaction(2))
    status = run_json(capsys, "status", "--db", str(db_path), "--json")
    (chair,) = status["chairs"]
    assert chair["chair"] == "Chair 1"
    assert chair["phase"] == "infusing"
    assert chair["protocol"] == "ocrevus-600-subsequent"
    assert chair["reactions"] == 1


def test_status_on_a_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert chairside(["status", "--db", str(tmp_path / "nope.sqlite")]) == 2
    assert "no database at" in capsys.readouterr().err
    assert not (tmp_path / "nope.sqlite").exists()


def test_console_script_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "protocols", "list"], capture_output=True, text=True, check=True
    )
    assert "ocrevus-600-short" in result.stdout


def test_plan_honours_resolution_and_gives_the_earliest_discharge(capsys: pytest.CaptureFixture[str]) -> None:
    soon = run_json(capsys, "plan", "ocrevus-600-subsequent", "--reaction", "2@70+10", "--json")
    late = run_json(capsys, "plan", "ocrevus-600-subsequent", "--reaction", "2@70+50", "--json")
    assert soon["steps"] != late["steps"]
    assert (100, 80, "step") in [(s["start_min"], s["rate_ml_h"], s["kind"]) for s in soon["steps"]]
    assert (120, 80, "step") in [(s["start_min"], s["rate_ml_h"], s["kind"]) for s in late["steps"]]
    assert late["earliest_discharge_min"] == pytest.approx(late["end_min"] + 60)
    unresolved = run_json(capsys, "plan", "ocrevus-600-subsequent", "--reaction", "2@70", "--json")
    assert unresolved["earliest_discharge_min"] is None
    # a reaction during observation (after the 210-minute infusion) extends it
    observed = run_json(capsys, "plan", "ocrevus-600-subsequent", "--reaction", "3@280+40", "--json")
    assert observed["end_min"] == pytest.approx(210)
    assert observed["earliest_discharge_min"] == pytest.approx(280 + 40 + 60)


def test_plan_doses_rituximab_in_mg_h_through_the_concentration(capsys: pytest.CaptureFixture[str]) -> None:
    planned = run_json(
        capsys, "plan", "rituximab-first", "--dose-mg", "1000", "--bag-volume", "250", "--json"
    )
    first, last = planned["steps"][0], planned["steps"][-1]
    assert (first["rate_mg_h"], first["rate_ml_h"]) == (50, 12.5)  # label: 50 mg/h at 4 mg/mL
    assert last["rate_mg_h"] == 400 and last["rate_ml_h"] == 100  # never above the label's 400 mg/h
    assert planned["total_volume_ml"] == pytest.approx(250)
    assert chairside(["plan", "rituximab-first", "--dose-mg", "1000", "--bag-volume", "200"]) == 2
    assert "1000 mg in 200 mL is 5.00 mg/mL; the label allows 1-4 mg/mL" in capsys.readouterr().err


# ---- issue 16 point 9: the planner runs the station's guards through the same functions


def test_plan_refuses_a_wrong_dose_on_an_ml_h_protocol_in_the_stations_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert chairside(["plan", "ocrevus-600-subsequent", "--dose-mg", "300"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "is a 600 mg infusion; the bag says 300 mg" in err


def test_plan_warns_of_the_bag_expiring_across_a_long_pause(capsys: pytest.CaptureFixture[str]) -> None:
    planned = run_json(capsys, "plan", "ocrevus-600-subsequent", "--pause", "60+400", "--json")
    assert "bag_expired" in {w["code"] for w in planned["warnings"]}
    assert all(w["message"] for w in planned["warnings"])
    plain = run_json(capsys, "plan", "ocrevus-600-subsequent", "--json")
    assert plain["warnings"] == []


def test_plan_warns_of_a_recurrence_after_improvement(capsys: pytest.CaptureFixture[str]) -> None:
    planned = run_json(
        capsys, "plan", "ocrevus-600-subsequent", "--reaction", "2@70+10", "--reaction", "2@120+10", "--json"
    )
    assert "recurrence_after_improvement" in {w["code"] for w in planned["warnings"]}


def test_plan_keeps_an_earlier_reaction_open_after_a_grade_3_restart(
    capsys: pytest.CaptureFixture[str],
) -> None:
    planned = run_json(
        capsys, "plan", "ocrevus-600-subsequent", "--reaction", "2@70", "--reaction", "3@90+20", "--json"
    )
    assert planned["earliest_discharge_min"] is None  # the grade 2 is still open, as at the chair
