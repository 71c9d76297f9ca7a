"""The floor's escalated banner on the wall board, fed with the chairs' JSON the real station core builds:
each chair once, each of its escalated alarms named, and never more than one line (the rest counted,
the whole list one hover away)."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.domain.alarms import Priority
from app.domain.clock import ManualClock
from app.station.station import Station
from tests.ui.test_floor_model import Wall, lose_the_pump, message
from tests.ui.test_floor_model import station as station
from tests.ui.test_floor_window import chairs_of, make_window, rule_alarm
from tests.ui.test_floor_window import themed as themed

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def escalated_link_lost(station: Station) -> Wall:
    """The real station's own alarm at its Chair 1: the pump link lost while infusing, escalated."""
    clock = station.clock
    assert isinstance(clock, ManualClock)
    lose_the_pump(station, clock)
    clock.advance(seconds=station.alarm_policy.escalation_after_s[Priority.HIGH] + 1)
    station.tick(clock.now())
    return Wall(clock.now().timestamp())


def test_the_banner_names_each_escalated_alarm_of_a_chair_once(qtbot: QtBot, station: Station) -> None:
    wall = escalated_link_lost(station)
    window = make_window(qtbot, wall, size=(1920, 1080), board=True)
    payload = json.loads(message(station, "Pod B", "Chair 1", at=wall.now)[1])
    occlusion = rule_alarm(
        "pump_occlusion",
        "Chair 7",
        "2026-11-27T10:00:00+00:00",
        escalated=True,
        at="10:00",
        detail="downstream",
    )
    payload.update(chair="Chair 7", index=7, alarms=[*payload["alarms"], occlusion])
    batch = chairs_of(station, "Pod B", 6, wall, alarms=[])
    batch.append(("chairside/v1/pod-b/chairs/Chair 7", json.dumps(payload).encode(), False, wall.now))
    window.model.apply(batch)
    window.tick()
    text = window.escalated_panel.summary.text()
    assert text.startswith("⚠ 2 ESCALATED: Pod B · Chair 7: "), text
    assert "HIGH link lost" in text and "HIGH occlusion" in text, text
    assert text.count("Chair 7") == 1, text


def test_the_banner_stays_one_line_and_counts_what_it_leaves_out(qtbot: QtBot, station: Station) -> None:
    wall = escalated_link_lost(station)
    window = make_window(qtbot, wall, size=(1920, 1080), board=True)
    window.model.apply(chairs_of(station, "Pod A", 24, wall) + chairs_of(station, "Pod B", 24, wall))
    window.tick()
    QApplication.processEvents()
    summary = window.escalated_panel.summary
    text = summary.text()
    assert text.startswith("⚠ 48 ESCALATED: Pod A · Chair 1: HIGH link lost"), text
    shown = text.count("HIGH link lost")
    assert 1 <= shown < 48 and text.endswith(f" +{48 - shown} more"), text
    assert summary.sizeHint().height() <= summary.height(), (summary.sizeHint(), summary.size())
    assert summary.fontMetrics().horizontalAdvance(text) <= summary.contentsRect().width(), text
    tip = summary.toolTip()  # the whole list, one line per chair
    assert tip.count("HIGH link lost") == 48 and "Pod B · Chair 24: HIGH link lost" in tip, tip
