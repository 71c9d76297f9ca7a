"""The floor's schemas on their own (hypothesis): whatever bytes arrive, a parser returns its type or
refuses in one line (MessageRefused), never anything else; whatever it accepts, a tile can be drawn
from. The real station core's messages always parse."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.clock import ManualClock
from app.floor import Floor
from app.station.floor_messages import (
    MessageRefused,
    parse_answer,
    parse_chair,
    parse_command,
    parse_readings,
    parse_status,
)
from app.station.snapshot import chair_readings, chair_snapshot
from app.station.station import Station
from app.store.journal import Journal
from app.ui.tile import tile_view
from tests.station.test_configured_station import infusing

PARSERS = (parse_status, parse_chair, parse_answer, parse_command, parse_readings)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def real_chair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    clock = ManualClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    floor = Floor(Journal(Path(tmp_path_factory.mktemp("m")) / "s.sqlite", clock), clock=clock)
    station = Station(floor, ["Chair 1"], clock)
    infusing(station, "Chair 1", clock)
    chair = station.chair("Chair 1")
    chair.history.append(clock.now().timestamp(), 40.0, 1.0)
    snapshot = chair_snapshot(chair, clock.now(), station="Pod A", index=1)
    readings = chair_readings(chair, clock.now(), station="Pod A")
    floor.close()
    return {"chair": snapshot, "readings": readings}


def test_the_station_cores_messages_parse(real_chair: dict[str, object]) -> None:
    chair = parse_chair(json.dumps(real_chair["chair"]).encode())
    assert chair.initials == "JD" and chair.phase.value == "infusing" and chair.nurse == "AB"
    readings = parse_readings(json.dumps(real_chair["readings"]).encode())
    assert readings.pump and readings.plan


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=400) | JSON.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_parse_or_are_refused_in_one_line(raw: bytes) -> None:
    refusals = []
    for parse in PARSERS:
        try:
            parse(raw)
        except MessageRefused as refused:
            refusals.append(str(refused))
    assert not [r for r in refusals if "\n" in r or not r]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_real_chair_state_with_one_field_replaced_parses_or_is_refused_and_draws(
    real_chair: dict[str, object], data: st.DataObject
) -> None:
    message = json.loads(json.dumps(real_chair["chair"]))
    target = message
    key = data.draw(st.sampled_from(sorted(target)))
    while isinstance(target[key], dict) and target[key] and data.draw(st.booleans()):
        target = target[key]
        key = data.draw(st.sampled_from(sorted(target)))
    target[key] = data.draw(JSON | st.sampled_from([float("nan"), float("inf"), "abc", [1, 2], 5]))
    raw = json.dumps(message, allow_nan=True).encode()
    try:
        chair = parse_chair(raw)
    except MessageRefused:
        return
    tile_view(chair, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))  # whatever parses, a tile draws
    tile_view(chair, datetime(2026, 3, 2, 9, 0, tzinfo=UTC), stale=True, unreadable=True)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b'{"schema": 2, "pump": NaN}', "is not a number"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"schema": 1}', "schema '1', this reader knows 2"),
        (b"x" * 70_000, "bytes (at most"),
    ],
)
def test_refusals_say_why(raw: bytes, words: str) -> None:
    with pytest.raises(MessageRefused, match=words.replace("(", r"\(")):
        parse_chair(raw)
