"""The charge nurse's floor window, offscreen, fed with the chairs' JSON the real station core builds
(app.station.snapshot) as the broker delivers it: sign-in and the lock, a chair opened from its tile,
"my chairs", a patient's alarm before an empty chair's, each tile's alarm named on whole lines, an
offline station's banner and sound, the wall board, and a layout that holds at 1366x768 and 1920x1080."""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect, Qt, QTimer
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget
from pytestqt.qtbot import QtBot

from app.accounts.store import AccountStore
from app.domain.alarms import ALARM_RULES, RULES_BY_ID, Priority
from app.domain.clock import ManualClock
from app.station.floor_signing import load_or_create_overview_key
from app.station.snapshot import chair_readings
from app.station.station import Station
from app.store.journal import Journal
from app.ui.floor_overview import FloorModel, FloorOverviewWindow, OverviewIdentity
from app.ui.theme import apply_theme
from app.ui.tile import station_face
from tests.accounts.support import FAST, PIN, type_into_sign_in
from tests.ui.test_floor_model import Wall, lose_the_pump, message, status
from tests.ui.test_floor_model import station as station

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")

LONG_ALARM = (
    "infusing, but no data from the pump since 10:13: check the pump, its cable and the serial adapter, "
    "then the pump's own display for an alarm it could not send"
)


class RecordingSpeaker:
    """Stands in for the sound card only: what the overview asked to play (app.station.sound.Speaker)."""

    def __init__(self) -> None:
        self.played: list[str] = []
        self.stopped = 0

    def play(self, name: str, pcm: bytes) -> None:
        assert pcm
        self.played.append(name)

    def stop(self) -> None:
        self.stopped += 1

    def close(self) -> None:
        pass


def escalated_lost_pump(station: Station) -> tuple[ManualClock, Wall]:
    """The real station's own alarm: Chair 1 infusing with its pump link lost (high), past the time
    a high alarm escalates; and the floor's wall clock at that moment."""
    clock = station.clock
    assert isinstance(clock, ManualClock)
    lose_the_pump(station, clock)
    clock.advance(seconds=station.alarm_policy.escalation_after_s[Priority.HIGH] + 1)
    station.tick(clock.now())
    return clock, Wall(clock.now().timestamp())


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[AccountStore]:
    journal = Journal(tmp_path / "overview.sqlite")
    store = AccountStore(journal, FAST)
    store.add("AB", "A. Bianchi", "nurse", PIN, by="test")
    store.add("CN-1", "M. Rossi", "charge", PIN, by="test")
    try:
        yield store
    finally:
        journal.close()


@pytest.fixture(autouse=True)
def themed(qapp: QApplication) -> None:
    apply_theme(qapp)


def make_window(
    qtbot: QtBot,
    wall: Wall,
    accounts: AccountStore | None = None,
    *,
    size: tuple[int, int] = (1366, 768),
    board: bool = False,
    speaker: RecordingSpeaker | None = None,
    tmp_path: Path | None = None,
) -> FloorOverviewWindow:
    identity = (
        OverviewIdentity("Charge desk", load_or_create_overview_key(tmp_path / "key.pem"))
        if tmp_path is not None
        else None
    )
    window = FloorOverviewWindow(
        None, FloorModel(clock=wall), accounts=accounts, identity=identity, board=board, speaker=speaker
    )
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    return window


def chairs_of(
    station: Station, name: str, count: int, wall: Wall, **extra: Any
) -> list[tuple[str, bytes, bool, float]]:
    """`count` copies of the station's Chair 1 (infusing, initials JD) as chairs 1..count of `name`."""
    batch = [status(name, "online", at=wall.now)]
    sid = name.lower().replace(" ", "-")
    for n in range(1, count + 1):
        payload = json.loads(message(station, name, "Chair 1", at=wall.now)[1])
        payload.update(chair=f"Chair {n}", index=n, **extra)
        batch.append((f"chairside/v1/{sid}/chairs/Chair {n}", json.dumps(payload).encode(), False, wall.now))
    return batch


def visible_texts(root: QWidget) -> str:
    return "\n".join(
        label.text() for label in root.findChildren(QLabel) if label.isVisible() and label.text()
    )


@pytest.mark.parametrize("count", [5, 12, 48])
def test_nobody_signed_in_no_initials_and_the_escalated_list_stays(
    qtbot: QtBot, station: Station, accounts: AccountStore, count: int
) -> None:
    clock, wall = escalated_lost_pump(station)
    window = make_window(qtbot, wall, accounts, size=(1920, 1080))
    window.idle.clock = clock
    window.model.apply(chairs_of(station, "Pod A", count, wall))
    window.tick()
    assert "JD" not in visible_texts(window)
    assert len(window.escalated_panel.lines) == min(count, 3)
    # Badge or ID, then PIN, in the real sign-in dialog: the initials appear
    QTimer.singleShot(0, lambda: type_into_sign_in(qtbot, "CN-1", PIN))
    qtbot.mouseClick(window.sign_button, Qt.MouseButton.LeftButton)
    assert window.person is not None and window.person.id == "CN-1"
    assert "JD" in visible_texts(window)
    assert window.who_label.text() == "M. Rossi (CN-1), charge nurse"
    # Idle past the lock time: signed out, initials gone, the escalated list still there
    window.idle.input()
    clock.advance(minutes=5.1)
    window.tick()
    assert window.person is None
    assert "JD" not in visible_texts(window)
    assert window.escalated_panel.isVisible() and len(window.escalated_panel.lines) == min(count, 3)
    assert window.answer_label.text().startswith("Locked after no input")
    kinds = [e.type for e in accounts.journal.entries()]
    assert kinds[-3:] == ["signed_in", "station_locked", "signed_out"]  # the overview's own journal


def test_a_chair_opens_from_its_tile_read_only_and_acknowledges_from_there(
    qtbot: QtBot, station: Station, accounts: AccountStore, tmp_path: Path
) -> None:
    clock = station.clock
    assert isinstance(clock, ManualClock)
    lose_the_pump(station, clock)
    wall = Wall(clock.now().timestamp())
    window = make_window(qtbot, wall, accounts, tmp_path=tmp_path)
    window.model.apply(chairs_of(station, "Pod A", 3, wall))
    window.tick()
    window.sign_in(accounts.sign_in("CN-1", PIN))
    tile = window.tiles[("pod-a", "Chair 2")]
    qtbot.mouseClick(tile, Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
    dialog = window.chair_dialogs[("pod-a", "Chair 2")]
    assert dialog.isVisible()
    texts = visible_texts(dialog)
    assert dialog.title.text() == "Pod A · Chair 2  JD"
    assert "▶ Infusing" in texts and "Ocrevus 600 mg" in texts
    assert (
        "Pump link: lost since" in texts and "!!! HIGH  Chair 1: infusing, but no data from the pump" in texts
    )
    assert "read-only here" in texts
    assert [b.text() for b in dialog.buttons] == ["Acknowledge"]
    # The plan-vs-pump plot, from the readings the station publishes at the heartbeat
    assert dialog.pump_curve.getData()[0] is None or len(dialog.pump_curve.getData()[0]) == 0
    session = station.chair("Chair 1")
    start = clock.now().timestamp() - 600
    for n in range(30):
        session.history.append(start + 20 * n, 40.0 if n < 20 else 80.0, n * 0.2)
    readings = chair_readings(session, clock.now(), station="Pod A")
    assert readings is not None
    readings["chair"] = "Chair 2"
    topic = "chairside/v1/pod-a/chairs/Chair 2/readings"
    window.model.apply([(topic, json.dumps(readings).encode(), True, wall.now)])
    window.tick()
    xs, ys = dialog.pump_curve.getData()
    assert list(ys[:1]) == [40.0] and list(ys[-1:]) == [80.0]
    # Drawn as the rate the pump held: 40 until the reading that says 80, then 80 (a step, not a slope)
    rise = [i for i in range(len(ys) - 1) if ys[i] != ys[i + 1]]
    assert len(xs) == 31 and len(rise) == 1
    assert xs[rise[0]] == xs[rise[0] + 1] and (ys[rise[0]], ys[rise[0] + 1]) == (40.0, 80.0)
    assert dialog.plot.getPlotItem().getAxis("bottom").face == station_face(None)  # the station's zone
    plan_x, plan_y = dialog.plan_curve.getData()
    assert len(plan_x) >= 2 and plan_y[0] > 0
    dialog.buttons[0].click()  # the same signed command as the escalated list; no broker here
    assert window.answer_label.text() == "Not sent: the broker is unreachable"


def test_my_chairs_shows_the_signed_in_nurses_assignments(
    qtbot: QtBot, station: Station, accounts: AccountStore
) -> None:
    wall = Wall(station.clock.now().timestamp())
    window = make_window(qtbot, wall, accounts)
    batch = chairs_of(station, "Pod A", 4, wall)
    for n in (3, 4):  # two chairs are another nurse's
        topic, raw, retained, at = batch[n]
        batch[n] = (topic, json.dumps({**json.loads(raw), "nurse": "EF"}).encode(), retained, at)
    window.model.apply(batch)
    window.tick()
    assert not window.mine_button.isEnabled()
    window.sign_in(accounts.sign_in("AB", PIN))
    window.mine_button.click()
    assert [t.key for t in window.board._groups[0][1]] == ["pod-a/Chair 1", "pod-a/Chair 2"]
    assert not window.tiles[("pod-a", "Chair 3")].isVisible()
    window.sign_out()
    assert not window.mine_only and len(window.board._groups[0][1]) == 4


def alarm(rule: str, priority: str, message: str, raised_at: str) -> dict[str, Any]:
    return {
        "id": f"{rule}#1",
        "rule": rule,
        "priority": priority,
        "message": message,
        "raised_at": raised_at,
        "acknowledged": False,
        "acknowledged_by": None,
        "escalated": True,
    }


def test_a_patients_alarm_ranks_before_an_empty_chairs_and_its_tile_names_it(
    qtbot: QtBot, station: Station
) -> None:
    wall = Wall(station.clock.now().timestamp())
    window = make_window(qtbot, wall)
    empty = json.loads(message(station, "Pod A", "Chair 2", at=wall.now)[1])  # nobody in Chair 2
    patient = json.loads(message(station, "Pod A", "Chair 1", at=wall.now)[1])
    early, late = "2026-11-27T10:00:00+00:00", "2026-11-27T10:10:00+00:00"
    batch = [status("Pod A", "online", at=wall.now)]
    for n in (2, 3, 4):  # three occlusions on empty chairs, older and higher than the patient's alarm
        payload = {**empty, "chair": f"Chair {n}", "index": n}
        payload["alarms"] = [alarm("occlusion", "high", f"Chair {n}: occlusion", early)]
        batch.append((f"chairside/v1/pod-a/chairs/Chair {n}", json.dumps(payload).encode(), False, wall.now))
    patient["alarms"] = [alarm("link_lost_infusing", "medium", f"Chair 1: {LONG_ALARM}", late)]
    batch.append(("chairside/v1/pod-a/chairs/Chair 1", json.dumps(patient).encode(), False, wall.now))
    window.model.apply(batch)
    window.tick()
    ranked = [(key[1], a.rule) for key, a in window.model.escalated()]
    assert ranked[0] == ("Chair 1", "link_lost_infusing")
    assert window.escalated_panel.lines[0].text().startswith("!! MEDIUM  Pod A · Chair 1:  infusing")
    window.order_button.click()
    assert window.board._groups[0][1][0].key == "pod-a/Chair 1"
    tile = window.tiles[("pod-a", "Chair 1")]
    assert tile.alarm_label.text() == "!! MEDIUM · link lost"  # the priority in words and the alarm's name
    assert tile.toolTip().endswith(f"ESCALATED {LONG_ALARM}")  # the whole text: one hover away
    dialog = window.open_chair(("pod-a", "Chair 1"))  # and one click
    assert f"Chair 1: {LONG_ALARM}" in visible_texts(dialog)


def test_an_offline_station_gets_a_banner_the_medium_sound_and_commands_refused_at_once(
    qtbot: QtBot, station: Station, accounts: AccountStore, tmp_path: Path
) -> None:
    clock = station.clock
    assert isinstance(clock, ManualClock)
    lose_the_pump(station, clock)
    wall = Wall(clock.now().timestamp())
    speaker = RecordingSpeaker()
    window = make_window(qtbot, wall, accounts, speaker=speaker, tmp_path=tmp_path)
    window.sign_in(accounts.sign_in("CN-1", PIN))
    window.model.apply(chairs_of(station, "Pod A", 2, wall) + chairs_of(station, "Pod B", 2, wall))
    window.tick()
    assert not window.offline_banner.isVisible() and speaker.played == []
    since = window.model.offline
    window.model.apply([status("Pod B", "offline", at=wall.now)])
    window.tick()
    assert [info.name for info, _when in since()] == ["Pod B"]
    hhmm = window.model.stations["pod-b"].stale_since(wall.now)
    assert hhmm is not None
    text = window.offline_banner.text()
    assert window.offline_banner.isVisible()
    assert text.startswith(f"⚠ Pod B is OFFLINE since {hhmm.astimezone().strftime('%H:%M')}")
    assert speaker.played == ["medium"]
    alarm_id = window.model.snapshots[("pod-b", "Chair 1")].alarms[0].id
    assert window.acknowledge(("pod-b", "Chair 1"), alarm_id) is None
    assert window.answer_label.text().startswith("Pod B is offline since ")
    assert window.answer_label.text().endswith(": not sent. Go to the station")
    window.model.apply([status("Pod B", "online", at=wall.now)])
    window.tick()
    assert not window.offline_banner.isVisible() and speaker.stopped == 1


def test_the_wall_board_has_no_controls_large_type_and_48_chairs_on_one_screen(
    qtbot: QtBot, station: Station
) -> None:
    clock = station.clock
    assert isinstance(clock, ManualClock)
    lose_the_pump(station, clock)
    wall = Wall(clock.now().timestamp())
    window = make_window(qtbot, wall, size=(1920, 1080), board=True)
    window.model.apply(chairs_of(station, "Pod A", 24, wall) + chairs_of(station, "Pod B", 24, wall))
    window.tick()
    qtbot.waitUntil(lambda: window.board.placement.fits)
    assert len(window.tiles) == 48
    viewport = window.scroll_area.viewport()
    assert max(t.geometry().bottom() for t in window.tiles.values()) <= viewport.height()
    assert not [b for b in window.findChildren(QAbstractButton) if b.isVisible()]
    texts = [label for label in window.findChildren(QLabel) if label.isVisible() and label.text()]
    small = [
        (label.objectName(), label.fontInfo().pixelSize())
        for label in texts
        if label.fontInfo().pixelSize() < 24
    ]
    assert not small, small
    assert "JD" not in visible_texts(window)  # a wall shows no patient initials
    for tile in window.tiles.values():  # every line of every tile has the height of its text
        for label in tile.findChildren(QLabel):
            if label.isVisible() and label.text():
                assert label.height() >= label.fontMetrics().height(), (
                    label.objectName(),
                    label.height(),
                    tile.height(),
                    [(c.objectName(), c.height(), c.isVisible()) for c in tile.findChildren(QLabel)],
                )
    tile = window.tiles[("pod-a", "Chair 1")]
    qtbot.mouseClick(tile, Qt.MouseButton.LeftButton, pos=QPoint(20, 20))
    assert window.chair_dialogs == {}  # nothing opens on the wall


def controls_outside(window: FloorOverviewWindow) -> list[str]:
    """Every visible control (buttons, labels) that does not lie inside the window."""
    frame = QRect(QPoint(0, 0), window.size())
    outside = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisible() or not isinstance(widget, QAbstractButton | QLabel):
            continue
        if widget.parent() is window.board or window.board.isAncestorOf(widget):
            continue  # tiles: the board scrolls, and the fit tests check them
        top_left = widget.mapTo(window, QPoint(0, 0))
        if not frame.contains(QRect(top_left, widget.size())):
            outside.append(f"{widget.objectName() or type(widget).__name__} {widget.text()[:30]!r}")
    return outside


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_the_layout_holds_after_every_state_change(
    qtbot: QtBot, station: Station, accounts: AccountStore, size: tuple[int, int]
) -> None:
    _, wall = escalated_lost_pump(station)
    window = make_window(qtbot, wall, accounts, size=size)
    checks: list[tuple[str, list[str], int]] = []

    def check(state: str) -> None:
        window.tick()
        QApplication.processEvents()
        checks.append((state, controls_outside(window), window.width()))

    window.model.apply(chairs_of(station, "Pod A", 3, wall))
    check("three chairs")
    window.escalated_panel.buttons[0].click()  # nobody signed in: the hint
    assert window.answer_label.isVisible()
    check("a hint")
    long = json.loads(message(station, "Pod A", "Chair 1", at=wall.now)[1])
    long["alarms"][0]["message"] = f"Chair 1: {LONG_ALARM} {LONG_ALARM}"
    window.model.apply([("chairside/v1/pod-a/chairs/Chair 1", json.dumps(long).encode(), False, wall.now)])
    check("a long alarm")
    window.model.apply(chairs_of(station, "Pod B", 45, wall))
    check("48 chairs")
    window.model.apply([status("Pod B", "offline", at=wall.now)])
    check("a station offline")
    window.sign_in(accounts.sign_in("CN-1", PIN))
    window.order_button.click()
    check("signed in, urgent first")
    for state, outside, width in checks:
        assert outside == [], (state, outside)
        assert width == size[0], (state, width)
    assert window.order_button.isVisible() and window.clock_label.isVisible()


def rule_alarm(rule: str, chair: str, raised_at: str, *, escalated: bool, **fields: str) -> dict[str, Any]:
    """An alarm as a station publishes it: the rule's own priority and message template."""
    found = RULES_BY_ID[rule]
    text = found.message.format_map(collections.defaultdict(lambda: "10:00", chair=chair, **fields))
    return {
        **alarm(rule, found.priority.value, text, raised_at),
        "escalated": escalated,
    }


TILE_ALARMS = {  # chair of Pod B: (the alarm its station publishes, the words the tile must show)
    "Chair 2": (
        lambda: rule_alarm(
            "pump_occlusion",
            "Chair 2",
            "2026-11-27T10:00:00+00:00",
            escalated=True,
            at="10:00",
            detail="downstream occlusion, check the line and the clamp below the pump",
        ),
        ("HIGH", "occlusion"),
    ),
    "Chair 3": (
        lambda: rule_alarm(
            "link_lost", "Chair 3", "2026-11-27T10:01:00+00:00", escalated=False, since="10:01"
        ),
        ("MEDIUM", "link lost"),
    ),
    "Chair 4": (
        lambda: rule_alarm(
            "vitals_overdue",
            "Chair 4",
            "2026-11-27T10:02:00+00:00",
            escalated=False,
            due_at="10:02",
            why="every 15 min for the first hour of the infusion",
        ),
        ("LOW", "vitals overdue"),
    ),
}


@pytest.mark.parametrize("board", [True, False], ids=["board", "overview"])
@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)], ids=["1366", "1920"])
def test_a_tiles_alarm_line_is_whole_with_its_priority_word_and_short_name_at_48_chairs(
    qtbot: QtBot, station: Station, size: tuple[int, int], board: bool
) -> None:
    """Every tile of a 48-chair floor says its alarm's priority in words and the alarm's short name on
    a line as high as its text (never half a line); the full text is the tile's tooltip."""
    _, wall = escalated_lost_pump(station)
    window = make_window(qtbot, wall, size=size, board=board)
    batch = chairs_of(station, "Pod A", 24, wall) + chairs_of(station, "Pod B", 24, wall)
    # Pod A's chairs 2..: one alarm of every rule a station publishes, with the rule's own priority
    rules = [rule for rule in ALARM_RULES if rule.category.is_alarm]
    every_rule = {
        n: (
            rule_alarm(rule.id, f"Chair {n}", "2026-11-27T10:00:00+00:00", escalated=n % 2 == 0),
            (rule.priority.value.upper(), rule.short),
        )
        for n, rule in enumerate(rules, start=2)
    }
    for n, (made_alarm, _words) in every_rule.items():
        payload = json.loads(message(station, "Pod A", "Chair 1", at=wall.now)[1])
        payload.update(chair=f"Chair {n}", index=n, alarms=[made_alarm])
        batch.append((f"chairside/v1/pod-a/chairs/Chair {n}", json.dumps(payload).encode(), False, wall.now))
    for chair, (made, _words) in TILE_ALARMS.items():
        payload = json.loads(message(station, "Pod B", "Chair 1", at=wall.now)[1])
        payload.update(chair=chair, index=int(chair.split()[1]), alarms=[made()])
        batch.append((f"chairside/v1/pod-b/chairs/{chair}", json.dumps(payload).encode(), False, wall.now))
    window.model.apply(batch)
    window.tick()
    QApplication.processEvents()
    assert len(window.tiles) == 48
    expected = {key: ("HIGH", "link lost") for key in window.tiles}
    expected.update({("pod-b", chair): words for chair, (_made, words) in TILE_ALARMS.items()})
    expected.update({("pod-a", f"Chair {n}"): words for n, (_alarm, words) in every_rule.items()})
    for key, words in expected.items():
        tile = window.tiles[key]
        label = tile.alarm_label
        shown = label.text()
        assert label.isVisible(), key
        assert label.sizeHint().height() <= label.height(), (key, shown, label.sizeHint(), label.size())
        widest = max(label.fontMetrics().horizontalAdvance(line) for line in shown.split("\n"))
        assert widest <= label.contentsRect().width() - label.indent(), (key, shown, label.size())
        assert label.geometry().bottom() <= tile.contentsRect().bottom(), (key, label.geometry(), tile.size())
        assert all(word in shown for word in words), (key, shown, words)
        full = window.model.snapshots[key].alarms[0].message.replace(f"{key[1]}: ", "", 1)
        assert full in tile.toolTip(), (key, tile.toolTip())
