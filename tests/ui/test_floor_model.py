"""The floor overview's model over what stations publish: the chairs' JSON built by the real station
core (app.station.snapshot) from a session with a real alarm, fed to the model as the broker delivers
it. Time is injected, so silence and escalation are exact."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.domain.alarms import Priority
from app.domain.clock import ManualClock
from app.floor import Floor
from app.station.floor_messages import SCHEMA, MessageRefused, parse_chair
from app.station.pump import PumpLink
from app.station.snapshot import chair_snapshot, iso
from app.station.station import Station
from app.store.journal import Journal
from app.ui.floor_overview import FloorModel, FloorOverviewWindow, ViewRole
from app.ui.tile import TileView, place, tile_view
from drivers.base import LinkState, LinkStatus
from tests.station.test_configured_station import infusing

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


class Wall:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def station(tmp_path: Path) -> Station:
    clock = ManualClock(datetime.now().astimezone() - timedelta(minutes=40))
    floor = Floor(Journal(tmp_path / "pod.sqlite", clock), clock=clock)
    station = Station(floor, ["Chair 1", "Chair 2", "Chair 3"], clock)
    infusing(station, "Chair 1", clock)
    return station


def lose_the_pump(station: Station, clock: ManualClock) -> None:
    chair = station.chair("Chair 1")
    link = PumpLink({"protocol": "alaris", "url": "/dev/ttyUSB9"}, station.now)
    chair.pump = link
    station.deliver(chair, link, LinkState(LinkStatus.LOST, "unplugged"))
    clock.advance(seconds=station.alarm_policy.link_lost_quiet_s + 1)
    station.tick(clock.now())


def message(
    station: Station, name: str, chair: str, *, at: float, **extra: Any
) -> tuple[str, bytes, bool, float]:
    index = station.chairs.index(station.chair(chair)) + 1
    snapshot = chair_snapshot(station.chair(chair), station.now(), station=name, index=index)
    snapshot.update(
        updated_at=iso(station.now()), published_at=datetime.fromtimestamp(at).astimezone().isoformat()
    )
    snapshot.update(extra)
    station_id = name.lower().replace(" ", "-")
    return (f"chairside/v1/{station_id}/chairs/{chair}", json.dumps(snapshot).encode(), False, at + 0.05)


def status(name: str, state: str, *, at: float, keepalive_s: float = 5.0) -> tuple[str, bytes, bool, float]:
    payload = {
        "schema": SCHEMA,
        "state": state,
        "since": datetime.fromtimestamp(at).astimezone().isoformat(),
        "at": datetime.fromtimestamp(at).astimezone().isoformat(),
        "keepalive_s": keepalive_s,
        "chairs": 3,
    }
    return (
        f"chairside/v1/{name.lower().replace(' ', '-')}/status",
        json.dumps({**payload, "station": name}).encode(),
        False,
        at,
    )


def test_the_model_keeps_every_chair_of_every_station_in_order(
    qtmodeltester: ModelTester, station: Station
) -> None:
    wall = Wall(datetime.now().timestamp())
    model = FloorModel(clock=wall)
    qtmodeltester.check(model)
    batch = [status("Pod B", "online", at=wall.now), status("Pod A", "online", at=wall.now)]
    batch += [message(station, "Pod B", c, at=wall.now) for c in ("Chair 2", "Chair 1")]
    batch += [message(station, "Pod A", c, at=wall.now) for c in ("Chair 3", "Chair 1", "Chair 2")]
    model.apply(batch)
    qtmodeltester.check(model)
    assert model.keys == [
        ("pod-a", "Chair 1"),
        ("pod-a", "Chair 2"),
        ("pod-a", "Chair 3"),
        ("pod-b", "Chair 1"),
        ("pod-b", "Chair 2"),
    ]
    view: TileView = model.data(model.index(0, 0), ViewRole)
    assert (view.chair, view.initials, view.phase_text) == ("Chair 1", "JD", "▶ Infusing")
    assert model.data(model.index(0, 0)) == "Pod A"
    assert model.data(model.index(1, 3)) == "○ Empty"
    assert model.latencies_s and max(model.latencies_s) == pytest.approx(0.05, abs=0.01)


def test_a_silent_station_greys_out_and_never_shows_stale_values(station: Station) -> None:
    wall = Wall(datetime.now().timestamp())
    model = FloorModel(clock=wall)
    model.apply(
        [
            status("Pod A", "online", at=wall.now, keepalive_s=5),
            message(station, "Pod A", "Chair 1", at=wall.now),
        ]
    )
    live = model.views[("pod-a", "Chair 1")]
    assert not live.stale and live.pump_text.startswith("Pump – /")
    last = datetime.fromtimestamp(wall.now).astimezone().strftime("%H:%M")
    wall.now += 4.9
    model.refresh()
    assert not model.views[("pod-a", "Chair 1")].stale  # within its keepalive
    wall.now += 0.2
    model.refresh()
    view = model.views[("pod-a", "Chair 1")]
    assert view.stale and view.stale_text == f"no data since {last}"
    assert (view.pump_text, view.next_text, view.alarm_text) == ("", "", "")
    assert view.phase_text == "was ▶ Infusing"
    # The station is heard from again: current again
    model.apply([status("Pod A", "online", at=wall.now)])
    assert not model.views[("pod-a", "Chair 1")].stale


def test_an_escalated_alarm_is_listed_with_its_acknowledge_button(qtbot: QtBot, station: Station) -> None:
    clock = station.clock
    assert isinstance(clock, ManualClock)
    lose_the_pump(station, clock)
    wall = Wall(datetime.now().timestamp())
    window = FloorOverviewWindow(None, FloorModel(clock=wall))
    qtbot.addWidget(window)
    window.model.apply(
        [status("Pod A", "online", at=wall.now), message(station, "Pod A", "Chair 1", at=wall.now)]
    )
    window.tick()
    assert window.escalated_panel.buttons == []  # raised, not yet escalated
    assert window.model.views[("pod-a", "Chair 1")].alarm_text.startswith("!!! HIGH ")
    clock.advance(seconds=station.alarm_policy.escalation_after_s[Priority.HIGH] + 1)
    station.tick(clock.now())
    window.model.apply([message(station, "Pod A", "Chair 1", at=wall.now)])
    window.tick()
    assert len(window.escalated_panel.buttons) == 1
    line = window.escalated_panel.lines[0].text()
    assert line.startswith("!!! HIGH  Pod A · Chair 1:  infusing, but no data from the pump")
    assert window.model.views[("pod-a", "Chair 1")].alarm_text.startswith("!!! HIGH ESCALATED infusing")
    # Nobody signed in at the overview: nothing is sent
    window.escalated_panel.buttons[0].click()
    assert window.answer_label.text().startswith("Sign in first (badge or ID, then PIN)")


def test_urgent_first_puts_the_highest_alarm_first(qtbot: QtBot, station: Station) -> None:
    clock = station.clock
    assert isinstance(clock, ManualClock)
    lose_the_pump(station, clock)
    wall = Wall(datetime.now().timestamp())
    window = FloorOverviewWindow(None, FloorModel(clock=wall))
    qtbot.addWidget(window)
    window.resize(1366, 768)
    window.show()
    batch = [status("Pod A", "online", at=wall.now), status("Pod B", "online", at=wall.now)]
    batch += [message(station, "Pod A", c, at=wall.now) for c in ("Chair 2", "Chair 3")]
    batch += [message(station, "Pod B", c, at=wall.now) for c in ("Chair 1", "Chair 2")]
    window.model.apply(batch)
    window.tick()
    grouped = [t.key for t in window.board._groups[0][1]]
    assert grouped == ["pod-a/Chair 2", "pod-a/Chair 3"]
    window.order_button.click()
    urgent = [t.key for t in window.board._groups[0][1]]
    assert urgent[0] == "pod-b/Chair 1"  # the lost pump link, high priority
    assert window.tiles[("pod-b", "Chair 1")].name_label.text() == "Chair 1 · Pod B"


@pytest.mark.parametrize(
    ("size", "chairs", "groups"), [((1920, 1080), 48, [24, 24]), ((1366, 768), 24, [24])]
)
def test_the_floor_fits_without_scrolling(
    qtbot: QtBot, station: Station, size: tuple[int, int], chairs: int, groups: list[int]
) -> None:
    """48 chairs at 1920x1080 and 24 at 1366x768, with the escalated list showing three alarms."""
    wall = Wall(datetime.now().timestamp())
    window = FloorOverviewWindow(None, FloorModel(clock=wall))
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    batch = []
    for s, count in enumerate(groups):
        name = f"Pod {chr(65 + s)}"
        batch.append(status(name, "online", at=wall.now))
        for n in range(1, count + 1):
            snapshot_of = message(station, name, "Chair 1", at=wall.now)
            payload = json.loads(snapshot_of[1])
            payload.update(chair=f"Chair {n}", index=n)
            if n <= 2:
                payload["alarms"] = [
                    {
                        "id": "x#1",
                        "rule": "x",
                        "priority": "high",
                        "message": "m",
                        "raised_at": None,
                        "escalated": True,
                        "acknowledged": False,
                        "acknowledged_by": None,
                    }
                ]
            batch.append(
                (
                    f"chairside/v1/pod-{chr(97 + s)}/chairs/Chair {n}",
                    json.dumps(payload).encode(),
                    False,
                    wall.now,
                )
            )
    window.model.apply(batch)
    window.tick()
    qtbot.waitUntil(lambda: window.board.placement.fits)
    assert window.model.rowCount() == chairs
    viewport = window.scroll_area.viewport()
    bottom = max(tile.geometry().bottom() for tile in window.tiles.values())
    assert bottom <= viewport.height(), (bottom, viewport.height())
    assert window.board.height() <= viewport.height()
    tile = next(iter(window.tiles.values()))
    assert tile.width() >= 196 and tile.height() >= 112


def test_placement_scrolls_only_when_the_smallest_readable_tiles_do_not_fit() -> None:
    assert place(1908, 900, [24, 24]).fits
    assert not place(1908, 900, [48] * 10).fits
    with pytest.raises(MessageRefused, match="phase: 'nonsense' is not a phase"):
        parse_chair(
            {"schema": SCHEMA, "station": "Pod A", "chair": "Chair 1", "index": 1, "phase": "nonsense"}
        )
    minimal = {"schema": SCHEMA, "station": "Pod A", "chair": "Chair 1", "index": 1, "phase": "empty"}
    assert tile_view(parse_chair(minimal), datetime.now().astimezone()).phase_text == "○ Empty"


def test_junk_marks_its_chair_or_its_station_until_that_topic_reads_again(station: Station) -> None:
    wall = Wall(datetime.now().timestamp())
    model = FloorModel(clock=wall)
    model.apply([status("Pod A", "online", at=wall.now), message(station, "Pod A", "Chair 1", at=wall.now)])
    junk = b'{"schema": 2, "pump": {"rate_ml_h": "abc"}}'
    model.apply([("chairside/v1/pod-a/chairs/Chair 1", junk, False, wall.now)])
    assert ("pod-a", "Chair 1") in model.unreadable  # a known chair keeps its last state, marked
    assert model.views[("pod-a", "Chair 1")].alarm_text.startswith("⚠ data from this station unreadable")
    model.apply([("chairside/v1/pod-a/chairs/Chair 2", junk, True, wall.now)])  # not on the floor yet
    assert list(model.stations["pod-a"].unreadable) == ["chairside/v1/pod-a/chairs/Chair 2"]
    model.apply([status("Pod A", "online", at=wall.now)])  # a good status does not clear the chair's
    assert model.stations["pod-a"].unreadable
    model.apply(
        [message(station, "Pod A", "Chair 2", at=wall.now), message(station, "Pod A", "Chair 1", at=wall.now)]
    )
    assert not model.stations["pod-a"].unreadable and not model.unreadable
    assert model.dropped == 2


def test_a_stations_warnings_show_on_its_heading(qtbot: QtBot, station: Station) -> None:
    wall = Wall(datetime.now().timestamp())
    window = FloorOverviewWindow(None, FloorModel(clock=wall))
    qtbot.addWidget(window)
    warning = "HL7 feed: 2 message(s) set aside: `chairside feed replay`"
    topic, raw, retained, at = status("Pod A", "online", at=wall.now)
    with_warning = json.dumps({**json.loads(raw), "warnings": [warning]}).encode()
    window.model.apply(
        [(topic, with_warning, retained, at), message(station, "Pod A", "Chair 1", at=wall.now)]
    )
    window.tick()
    assert window.board.heading("pod-a").text().endswith(f"online  ·  ⚠ {warning}")
    window.model.apply([status("Pod A", "online", at=wall.now)])
    window.tick()
    assert window.board.heading("pod-a").text().endswith("online")
