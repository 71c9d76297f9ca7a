"""The floor overview shows each station's times in that station's zone, as its status and chair
messages name it (issue 15, point 3): two `chairside headless` stations on a UTC computer, one
configured for Pacific/Auckland and one for America/New_York, through a real Mosquitto."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pytestqt.qtbot import QtBot

from tests.floor.conftest import broker_table, make_station
from tests.floor.support import Broker
from tests.floor.test_floor import overview

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

ZONES = {"pod-a": ("Pod A", "Pacific/Auckland"), "pod-b": ("Pod B", "America/New_York")}


def test_each_station_is_shown_in_its_own_zone(
    qtbot: QtBot, tmp_path: Path, plain_broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "UTC")  # the computer the stations and the overview run on
    stations = []
    for station_id, (name, zone) in ZONES.items():
        folder = tmp_path / station_id
        station = make_station(
            folder,
            name,
            [{"name": "Chair 1"}],
            broker_table(plain_broker, folder),
            infusing_chairs=["Chair 1"],
        )
        text = station.config.read_text(encoding="utf-8")
        station.config.write_text(
            text.replace(f'name = "{name}"', f'name = "{name}"\ndisplay_tz = "{zone}"', 1), encoding="utf-8"
        )
        stations.append(station.start())
    window = overview(qtbot, plain_broker, tmp_path)
    try:
        model = window.model
        qtbot.waitUntil(
            lambda: model.rowCount() == 2 and all(model.stations[s].state == "online" for s in ZONES),
            timeout=30_000,
        )
        for station_id, (_name, zone) in ZONES.items():
            assert model.stations[station_id].face.name == zone
            chair = model.snapshots[(station_id, "Chair 1")]
            assert chair.display_tz == zone
            due = chair.next.due_at
            assert due is not None
            # in its zone ("at 23:40", or "at tomorrow 00:02" across the zone's midnight), never in UTC
            assert f"{due.astimezone(ZoneInfo(zone)):%H:%M}" in chair.next.action, chair.next
            assert f"{due.astimezone(UTC):%H:%M}" not in chair.next.action
            # The chair opened from the floor reads its station's clock: the same time axis, another face
            dialog = window.open_chair((station_id, "Chair 1"))
            axis = dialog.plot.getPlotItem().getAxis("bottom")
            assert axis is dialog.time_axis and axis.face.name == zone
            assert axis.tickStrings([due.timestamp()], 1.0, 600.0) == [
                f"{due.astimezone(ZoneInfo(zone)):%H:%M}"
            ]
            dialog.close()
        for station in stations:
            station.kill()
        qtbot.waitUntil(lambda: all(view.stale for view in model.views.values()), timeout=20_000)
        window.tick()
        for station_id, (_name, zone) in ZONES.items():
            last = model.stations[station_id].last_seen
            assert last is not None
            seen = datetime.fromtimestamp(last, UTC)
            local, utc = f"{seen.astimezone(ZoneInfo(zone)):%H:%M}", f"{seen:%H:%M}"
            stale = model.views[(station_id, "Chair 1")].stale_text
            heading = window.board.heading(station_id).text()
            assert stale.startswith("no data since ") and local in stale and utc not in stale, stale
            assert "no data since " in heading and local in heading and utc not in heading, heading
    finally:
        assert window.link is not None
        window.link.stop()  # no broker thread outlives the window
        for station in stations:
            station.close()  # nor a station process, whatever failed
