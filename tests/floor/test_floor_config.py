"""The floor's configuration and names: [floor] overviews checked in one line, a station name that is
another broker user's refused, chair names that never share a topic, the overview's enrollment line."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.station.broker import chair_id, chair_topic, station_id
from app.station.config import StationConfigError, load_station_config
from app.station.floor_signing import load_or_create_overview_key, parse_floor, public_text
from tests.floor.support import write_station_config


def test_enrolled_overviews_load_and_a_bad_key_is_named_in_one_line(tmp_path: Path) -> None:
    key = public_text(load_or_create_overview_key(tmp_path / "key.pem"))
    good = write_station_config(
        tmp_path / "good.toml",
        "Pod A",
        [{"name": "Chair 1"}],
        floor={"overviews": [{"name": "Desk", "public_key": key}]},
    )
    config = load_station_config(good)
    assert [o.name for o in parse_floor(config.floor)] == ["Desk"]
    bad = write_station_config(
        tmp_path / "bad.toml",
        "Pod A",
        [{"name": "Chair 1"}],
        floor={"overviews": [{"name": "Desk", "public_key": "ed25519:not-a-key"}]},
    )
    with pytest.raises(StationConfigError) as refused:
        load_station_config(bad)
    text = str(refused.value)
    assert "[floor]" in text and "overviews[1].public_key" in text and len(text.splitlines()) == 1
    twice = write_station_config(
        tmp_path / "twice.toml",
        "Pod A",
        [{"name": "Chair 1"}],
        floor={"overviews": [{"name": "Desk", "public_key": key}, {"name": "Desk", "public_key": key}]},
    )
    with pytest.raises(StationConfigError, match="enrolled twice"):
        load_station_config(twice)


@pytest.mark.parametrize("name", ["Overview", "overview", " OVERVIEW ", "Witness"])
def test_a_station_named_like_a_broker_user_is_refused(tmp_path: Path, name: str) -> None:
    path = write_station_config(
        tmp_path / "s.toml", name, [{"name": "Chair 1"}], {"url": "mqtt://127.0.0.1:1883"}
    )
    with pytest.raises(StationConfigError) as refused:
        load_station_config(path)
    assert "[station]" in str(refused.value) and "broker user" in str(refused.value)


def test_chair_names_never_share_a_topic_and_wildcards_never_reach_one() -> None:
    names = ["Chair/1", "Chair_1", "Chair+1", "Chair#1", "Chair\x001", "Chair%2F1", "Chair 1"]
    topics = [chair_topic("pod-a", n) for n in names]
    assert len(set(topics)) == len(names)
    for topic in topics:
        level = topic.split("/", 4)[4]
        assert not set("/+#\x00") & set(level), topic
    assert chair_id("Chair/1") == "Chair%2F1" and chair_id("Chair%2F1") == "Chair%252F1"
    assert station_id("Pod/A+#") == "pod-a"


def test_the_overview_prints_the_line_that_enrolls_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tomllib

    from app.cli import main

    key = tmp_path / "overview.pem"
    assert main(["overview", "--name", "Charge desk", "--key", str(key), "--print-public-key"]) == 0
    line = capsys.readouterr().out.strip()
    enrolled = parse_floor(tomllib.loads(f"overviews = [{line}]"))
    assert [o.name for o in enrolled] == ["Charge desk"]
    assert public_text(enrolled[0].public_key) == public_text(load_or_create_overview_key(key))
    assert key.stat().st_mode & 0o777 == 0o600
