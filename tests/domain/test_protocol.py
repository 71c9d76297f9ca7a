"""The protocol library loads, and a malformed protocol file is refused with a clear message."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.domain.events import ScreeningRecorded
from app.domain.protocol import ProtocolError, ReactionAction, parse_protocol
from app.protocol_library import DEFAULT_DIRECTORY, ProtocolLibrary, load_protocol_file

EXPECTED = {
    "ocrevus-300-initial",
    "ocrevus-600-subsequent",
    "ocrevus-600-short",
    "rituximab-first",
    "rituximab-subsequent",
    "ublituximab-150-first",
    "ublituximab-450-subsequent",
    "natalizumab-300",
}


def test_library_holds_every_protocol_and_each_cites_a_source(library: ProtocolLibrary) -> None:
    assert set(library) == EXPECTED
    for protocol in library.values():
        assert len(protocol.source) > 20
        assert all(step.rate_ml_h <= protocol.max_rate_ml_h for step in protocol.steps)
        assert {g for rule in protocol.reaction_rules for g in rule.grades} == {1, 2, 3, 4}


def test_mg_per_hour_rates_are_converted_through_the_concentration(library: ProtocolLibrary) -> None:
    rituximab = library["rituximab-first"]
    assert rituximab.concentration_mg_ml == pytest.approx(2.0)
    assert rituximab.steps[0].rate_ml_h == pytest.approx(25.0)  # 50 mg/h at 2 mg/mL
    assert rituximab.steps[-1].rate_ml_h == pytest.approx(200.0)  # 400 mg/h


def test_short_ocrevus_is_only_for_later_doses_without_serious_reaction(library: ProtocolLibrary) -> None:
    short = library["ocrevus-600-short"].eligibility
    assert short.min_prior_infusions == 2
    assert short.requires_no_prior_serious_reaction
    assert library["ocrevus-600-subsequent"].rule_for_grade(4).action is ReactionAction.DISCONTINUE


def _write(tmp_path: Path, name: str, mutate: object) -> Path:
    with (DEFAULT_DIRECTORY / "ocrevus-600-short.toml").open("rb") as handle:
        data = tomllib.load(handle)
    assert callable(mutate)
    mutate(data)
    path = tmp_path / f"{name}.toml"
    path.write_text(_to_toml(data), encoding="utf-8")
    return path


def _to_toml(data: dict[str, object]) -> str:
    """Just enough TOML writing for these fixtures (tomllib only reads)."""

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines, tables = [], []
    for key, v in data.items():
        if isinstance(v, dict):
            tables.append(f"[{key}]\n" + "".join(f"{k} = {value(x)}\n" for k, x in v.items()))
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                tables.append(f"[[{key}]]\n" + "".join(f"{k} = {value(x)}\n" for k, x in item.items()))
        else:
            lines.append(f"{key} = {value(v)}")
    return "\n".join(lines) + "\n\n" + "\n".join(tables)


def test_round_trip_of_the_fixture_writer(tmp_path: Path) -> None:
    path = _write(tmp_path, "ocrevus-600-short", lambda d: None)
    assert (
        load_protocol_file(path).steps
        == load_protocol_file(DEFAULT_DIRECTORY / "ocrevus-600-short.toml").steps
    )


def _drop(key: str) -> object:
    return lambda d: d.pop(key)


def _set_step(index: int, key: str, new: object) -> object:
    return lambda d: d["steps"][index].__setitem__(key, new)


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (_drop("max_rate_ml_h"), "max_rate_ml_h", "is missing"),
        (_drop("source"), "source", "is missing"),
        (_set_step(1, "rate", -200), "steps[1].rate", "greater than zero"),
        (_set_step(3, "duration_min", 10), "steps", "deliver only"),
        (lambda d: d.__setitem__("rate_unit", "drops/min"), "rate_unit", "unknown unit"),
        (_set_step(2, "rate", 400), "steps[2].rate", "above the maximum rate"),
        (lambda d: d["steps"][0].pop("duration_min"), "steps[0].duration_min", "only the last step"),
        (lambda d: d["reaction_rules"].pop(), "reaction_rules", "no rule for grade(s) [4]"),
        (
            lambda d: d["reaction_rules"][0].__setitem__("action", "shrug"),
            "reaction_rules[0].action",
            "unknown action",
        ),
        (
            lambda d: d["screening"][0].__setitem__("if_not", "maybe"),
            "screening[0].if_not",
            "must be one of 'delay'",
        ),
        (lambda d: d["bag"].pop("room_temperature_limit_h"), "bag.room_temperature_limit_h", "is missing"),
        (lambda d: d.__setitem__("bag_volume_ml", "500 mL"), "bag_volume_ml", "must be a number"),
    ],
)
def test_malformed_protocol_names_file_field_and_problem(
    tmp_path: Path, mutate: object, field: str, words: str
) -> None:
    path = _write(tmp_path, "ocrevus-600-short", mutate)
    with pytest.raises(ProtocolError) as caught:
        load_protocol_file(path)
    assert caught.value.source == "ocrevus-600-short.toml"
    assert caught.value.field_name == field
    assert words in str(caught.value)


def test_invalid_toml_and_wrong_id_are_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("id = 'broken'\nsteps = [", encoding="utf-8")
    with pytest.raises(ProtocolError, match=r"broken.toml: field '\(file\)': is not valid TOML"):
        load_protocol_file(broken)
    renamed = tmp_path / "renamed.toml"
    shutil.copy(DEFAULT_DIRECTORY / "natalizumab-300.toml", renamed)
    with pytest.raises(ProtocolError, match="file is named 'renamed'"):
        load_protocol_file(renamed)


def test_a_library_with_one_bad_file_does_not_load(tmp_path: Path) -> None:
    for path in DEFAULT_DIRECTORY.glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    _write(tmp_path, "ocrevus-600-short", _set_step(0, "rate", 0))
    with pytest.raises(ProtocolError, match=r"ocrevus-600-short.toml: field 'steps\[0\].rate'"):
        ProtocolLibrary.load(tmp_path)


def test_parse_rejects_non_table_entries() -> None:
    with pytest.raises(ProtocolError, match="must be a list of tables"):
        parse_protocol(
            {"id": "x", "dose_mg": 1, "bag_volume_ml": 1, "max_rate_ml_h": 1, "steps": "fast"}, "x.toml"
        )


def test_every_screening_item_cites_its_source_and_the_seed_items_are_there(library: Any) -> None:
    for protocol in library.values():
        ids = {item.id for item in protocol.screening}
        assert all(item.source.strip() for item in protocol.screening), protocol.id
        assert {"active_infection", "breastfeeding"} <= ids
        assert "new_neurological_symptoms" in ids, protocol.id
        if protocol.drug != "natalizumab":  # anti-CD20: hepatitis B carriers and low IgG
            carrier = next(item for item in protocol.screening if item.id == "hbv_carrier")
            assert (carrier.if_not.value, carrier.refer_to) == ("refer", "hepatologist")
            assert "HBcAb+ or HBsAg+" in carrier.source
            assert {"low_igg", "live_vaccine_4_weeks"} <= ids


def test_a_hepatitis_b_carrier_is_referred_to_a_hepatologist(chair_script: Any) -> None:
    from app.domain.commands import Override, RecordScreening
    from app.domain.decide import CommandRefused

    s = chair_script
    s.check_in()
    answers = {item.id: item.acceptable_answer for item in s.state.require_protocol().screening}
    answers["hbv_carrier"] = True
    with pytest.raises(CommandRefused) as caught:
        s.run(RecordScreening(answers))
    assert [f.code for f in caught.value.failures] == ["screening_refer"] and caught.value.overridable
    assert "only under the guidance of a hepatologist" in str(caught.value)
    state = s.run(
        RecordScreening(answers, override=Override("RN-CD", "hepatologist plan on file, HBV DNA monitored"))
    )
    assert state.events[-1].payload_as(ScreeningRecorded).findings[0].refer_to == "hepatologist"


def test_every_number_added_for_issue_10_cites_its_source(library: Any) -> None:
    for protocol in library.values():
        assert protocol.vital_signs is not None and protocol.vital_signs.source.strip()
        if protocol.bag_gtins:
            assert protocol.bag_gtins_source.strip(), protocol.id
        if protocol.concentration is not None:
            label = {"rituximab": "Rituxan", "ocrelizumab": "Ocrevus", "ublituximab": "Briumvi"}
            assert label.get(protocol.drug, "Tysabri") in protocol.concentration.source
        if protocol.eligibility.second_dose_min_days is not None:
            assert "institutional" in protocol.eligibility.source
        if protocol.dosed_in_mg_h:
            assert protocol.max_rate_mg_h is not None
            assert protocol.concentration is not None  # mL/h comes from the concentration: its range is known
    short = library["ocrevus-300-initial"].eligibility
    assert (short.max_prior_infusions, short.second_dose_min_days, short.second_dose_max_days) == (1, 12, 16)
