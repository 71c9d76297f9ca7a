"""The station's alarms are heard: a real station (floor, journal, a simulated pump read over a pty by
the real driver, the main window offscreen, its sound started as app/ui/launch.py starts it) plays
through a private PulseAudio daemon, and the null sink's monitor is recorded and measured."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.chairs import FloorController
from app.domain.alarms import Priority
from app.domain.clock import ManualClock
from app.domain.commands import GivePremedication, Override, RecordScreening, RecordVitals, StartInfusion
from app.floor import Floor
from app.protocol_library import ProtocolLibrary
from app.station.sound import load_alarm_sounds
from app.store.journal import Journal
from app.ui.alarm_sound import NoAudioNotice, StationAlarmSound, start_alarm_sound
from app.ui.main_window import MainWindow
from tests.e2e.pumps import CONNECT_TIMEOUT_MS, PumpOnPty, connect, pump_on_pty
from tests.station.pulse import (
    RATE,
    PulseServer,
    Recording,
    bursts,
    find_pulses,
    loudest,
    pulse_server,
    spacings_ms,
)
from tests.ui.helpers import check_in_command

__all__ = ["pump_on_pty"]

WAIT_MS = CONNECT_TIMEOUT_MS
TOLERANCE_MS = 10.0  # envelope detection on the recording, within a 6 ms RMS window


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PulseServer]:
    """A private PulseAudio daemon, and the station pointed at it through the environment."""
    with pulse_server(tmp_path / "pulse") as running:
        for key, value in running.env.items():
            monkeypatch.setenv(key, value)
        yield running


def _station(
    qtbot: QtBot, floor: Floor, clock: ManualClock, pump: PumpOnPty
) -> tuple[MainWindow, StationAlarmSound]:
    """Chair 1 infusing, its pump running and read by the real driver; the window and its sound."""
    controller = FloorController(floor, 2, clock)
    controller.set_nurse("AB")
    chair = controller.chair(1)
    chair.check_in(check_in_command(chair.name, clock))
    state = chair.state
    assert state is not None and state.protocol is not None
    chair.execute(RecordVitals({"systolic_mmhg": 124, "heart_rate_bpm": 72}))  # baseline, before the start
    chair.execute(RecordScreening({i.id: i.acceptable_answer for i in state.protocol.screening}))
    for premed in state.protocol.premedications:
        chair.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
    clock.advance(minutes=31)
    chair.execute(StartInfusion())
    pump.program(40, 500)
    pump.pump.start()
    window = MainWindow(controller)
    qtbot.addWidget(window)
    sound = start_alarm_sound(controller, window)
    connect(qtbot, chair, pump)
    return window, sound


def _wait_audio(qtbot: QtBot, recording: Recording, samples: int) -> None:
    qtbot.waitUntil(recording.until(samples), timeout=WAIT_MS + round(samples / RATE * 1000))


def test_a_high_alarm_is_heard_paused_and_broken_through(
    qtbot: QtBot, floor: Floor, clock: ManualClock, pump_on_pty: PumpOnPty, server: PulseServer
) -> None:
    sounds = load_alarm_sounds()
    high, medium = sounds.pattern(Priority.HIGH), sounds.pattern(Priority.MEDIUM)
    window, sound = _station(qtbot, floor, clock, pump_on_pty)
    controller, pump = window.floor, pump_on_pty.pump
    notice = window.findChild(NoAudioNotice)
    recording = server.record()
    try:
        qtbot.waitUntil(lambda: sound.status.available is True, timeout=WAIT_MS)
        assert notice is not None and notice.isHidden()
        assert not window.statusBar().isVisibleTo(window)  # no empty strip
        _wait_audio(qtbot, recording, round(0.2 * RATE))
        assert loudest(recording.samples()) == 0  # infusing, no alarm: silence

        # 0. The pump's door opens: a medium-priority alarm, a burst of 3. Closing the door clears it.
        raised = recording.position
        pump.raise_alarm("door_open")
        qtbot.waitUntil(lambda: sound.playing is Priority.MEDIUM, timeout=WAIT_MS)
        _wait_audio(qtbot, recording, raised + round((medium.burst_ms / 1000 + 0.5) * RATE))
        [three] = bursts(find_pulses(recording.samples(raised)))
        assert len(three) == 3
        assert [p.length_ms for p in three] == pytest.approx([medium.pulse_ms] * 3, abs=TOLERANCE_MS)
        assert spacings_ms(three) == pytest.approx(list(medium.spacing_ms), abs=TOLERANCE_MS)
        print(
            f"\nmedium, recorded: {len(three)} pulses, pulse {min(p.length_ms for p in three):.1f}-"
            f"{max(p.length_ms for p in three):.1f} ms, spacings "
            f"{', '.join(f'{s:.0f}' for s in spacings_ms(three))} ms"
        )
        pump.clear_alarm("door_open")
        qtbot.waitUntil(lambda: sound.playing is None, timeout=WAIT_MS)

        # 1. The pump occludes: a high-priority alarm. Record a whole burst and the next one's start.
        raised = recording.position
        pump.raise_alarm("occlusion")
        qtbot.waitUntil(lambda: sound.playing is Priority.HIGH, timeout=WAIT_MS)
        _wait_audio(qtbot, recording, raised + round((high.period_s + 0.8) * RATE))
        heard = find_pulses(recording.samples(raised))
        first, second = bursts(heard)[:2]
        assert len(first) == 10, [(round(p.start_s, 3), round(p.length_ms)) for p in first]
        assert [p.length_ms for p in first] == pytest.approx([high.pulse_ms] * 10, abs=TOLERANCE_MS)
        assert spacings_ms(first) == pytest.approx(list(high.spacing_ms), abs=TOLERANCE_MS)
        period_s = second[0].start_s - first[0].start_s
        assert period_s == pytest.approx(high.period_s, abs=TOLERANCE_MS / 1000)
        interburst_s = second[0].start_s - first[-1].end_s
        print(
            f"\nhigh, recorded: {len(first)} pulses, pulse {min(p.length_ms for p in first):.1f}-"
            f"{max(p.length_ms for p in first):.1f} ms, spacings "
            f"{', '.join(f'{s:.0f}' for s in spacings_ms(first))} ms, burst "
            f"{(first[-1].end_s - first[0].start_s) * 1000:.0f} ms, interburst {interburst_s:.3f} s, "
            f"period {period_s:.3f} s; first pulse {first[0].start_s * 1000:.0f} ms after the pump alarm"
        )

        # 2. "Pause audio" in the middle of the second burst: silent at once, for as long as it lasts
        window.alarm_bar.pause_button.click()
        paused = recording.position
        assert sound.playing is None
        _wait_audio(qtbot, recording, paused + round(2.0 * RATE))
        cut = find_pulses(recording.samples(raised))
        assert len(bursts(cut)[1]) < 10  # the second burst was cut short...
        assert loudest(recording.samples(paused + round(0.3 * RATE))) == 0  # ...and stayed silent

        # 3. Acknowledged and cleared; a medium alarm while the high pause still runs stays silent
        pump.clear_alarm("occlusion")
        window.alarm_bar.acknowledge_button.click()
        pump.raise_alarm("door_open")
        chair = controller.chair(1)
        qtbot.waitUntil(lambda: [a.rule for a in chair.active_alarms] == ["pump_door_open"], timeout=WAIT_MS)
        assert sound.playing is None
        quiet = recording.position
        _wait_audio(qtbot, recording, quiet + round(1.2 * RATE))
        assert loudest(recording.samples(quiet)) == 0

        # 4. A new pause over the medium alarm; then the pump occludes again: high breaks through
        window.alarm_bar.pause_button.click()
        pump.raise_alarm("occlusion")
        qtbot.waitUntil(lambda: sound.playing is Priority.HIGH, timeout=WAIT_MS)
        broke = recording.position
        _wait_audio(qtbot, recording, broke + round(1.2 * RATE))
        again = find_pulses(recording.samples(broke))
        assert len(again) >= 3
        assert spacings_ms(again)[:2] == pytest.approx(list(high.spacing_ms[:2]), abs=TOLERANCE_MS)

        # 5. Paused once more: when the 2 minutes are over (the floor's clock), the high alarm sounds again
        window.alarm_bar.pause_button.click()
        assert sound.playing is None
        clock.advance(seconds=controller.alarm_policy.audio_pause_s + 1)
        controller.tick()
        assert sound.playing is Priority.HIGH
        resumed = recording.position
        _wait_audio(qtbot, recording, resumed + round(1.0 * RATE))
        assert len(find_pulses(recording.samples(resumed))) >= 2
    finally:
        recording.close()
        sound.close()
        controller.close()


def test_without_a_sound_server_the_station_says_no_audio(
    qtbot: QtBot,
    floor: Floor,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'nobody-listens'}")
    controller = FloorController(floor, 1, clock)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    with caplog.at_level(logging.WARNING, logger="app.station.speaker"):
        sound = start_alarm_sound(controller, window)
        notice = window.findChild(NoAudioNotice)
        assert notice is not None
        try:
            qtbot.waitUntil(lambda: not notice.isHidden(), timeout=WAIT_MS)
            assert notice.isVisibleTo(window)
            assert notice.text() == (
                "⚠ NO AUDIO: alarms are not heard at this station (no sound server). Watch the screen."
            )
            assert "Connection refused" in notice.toolTip()
            assert any("NO AUDIO" in r.getMessage() for r in caplog.records)
            controller.tick()  # the station runs on
        finally:
            sound.close()
            controller.close()


def test_a_station_whose_sound_table_is_broken_runs_silent_and_says_so(
    qtbot: QtBot, floor: Floor, clock: ManualClock, tmp_path: Path
) -> None:
    broken = tmp_path / "alarms.toml"
    broken.write_text("[sound]\n", encoding="utf-8")
    controller = FloorController(floor, 1, clock)
    window = MainWindow(controller)
    qtbot.addWidget(window)
    notice = NoAudioNotice(window)
    sound = StationAlarmSound(controller, sounds_file=broken, parent=window)
    sound.status_changed.connect(notice.show_status)
    notice.show_status(sound.status)
    try:
        assert not notice.isHidden()
        assert "(the alarm sounds cannot be loaded)" in notice.text()
        assert "alarms.toml: field 'sound.source'" in notice.toolTip()
        controller.tick()
        assert sound.playing is None
    finally:
        sound.close()
        controller.close()


def _expired_bag_on_chair_1(db_path: Path, library: ProtocolLibrary) -> None:
    """A journal whose chair 1 has been infusing for 1.5 h from a bag that expired an hour ago (the
    bag_expired rule: high priority), written as a nurse would have, before the station starts."""
    clock = ManualClock(datetime.now(UTC) - timedelta(hours=2))
    with Journal(db_path, clock) as journal:
        floor = Floor(journal, library, clock)
        command = check_in_command("Chair 1", clock)
        state = floor.check_in(
            type(command)(**{**command.__dict__, "bag_prepared_at": clock.now() - timedelta(hours=7)}), "AB"
        )
        protocol = state.require_protocol()
        floor.execute(state.session_id, RecordVitals({"systolic_mmhg": 124}), "AB")  # baseline
        floor.execute(
            state.session_id, RecordScreening({i.id: i.acceptable_answer for i in protocol.screening}), "AB"
        )
        for premed in protocol.premedications:
            given = GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route)
            floor.execute(state.session_id, given, "AB")
        clock.advance(minutes=31)
        # the bag ends before the infusion would (a start guard since issue 10): started with an override
        late = Override("AB", "replacement bag ordered")
        floor.execute(state.session_id, StartInfusion(override=late), "AB")


def test_the_station_started_from_the_command_line_sounds_its_alarms(
    qtbot: QtBot,
    qapp: QApplication,
    tmp_path: Path,
    library: ProtocolLibrary,
    server: PulseServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`chairside --config FILE --db FILE` (no demo): its chair's high alarm is heard. The test closes
    the window once the recording holds a whole burst (or 30 s of audio: then it fails)."""
    from app.cli import main

    config = tmp_path / "station.toml"
    config.write_text('[station]\nname = "Pod A"\n[[chairs]]\nname = "Chair 1"\n', encoding="utf-8")
    db_path = tmp_path / "station.sqlite"
    _expired_bag_on_chair_1(db_path, library)
    monkeypatch.setenv("CHAIRSIDE_DATA_DIR", str(tmp_path / "data"))
    high = load_alarm_sounds().pattern(Priority.HIGH)
    recording = server.record()
    seen: dict[str, object] = {}

    def watch() -> None:
        windows = [w for w in qapp.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows:
            return
        seen["notice"] = windows[0].findChild(NoAudioNotice)
        heard = bursts(find_pulses(recording.samples()))
        whole = (
            heard and len(heard[0]) == high.pulses and recording.position / RATE > heard[0][-1].end_s + 0.3
        )
        if whole:
            seen["burst"] = heard[0]
        if whole or recording.position > 30 * RATE:
            windows[0].close()
            qapp.quit()  # the one quit: closing the window does not quit as well (below)

    watcher = QTimer()
    watcher.timeout.connect(watch)
    watcher.start(100)
    font, style = qapp.font(), qapp.styleSheet()
    # A second quit, left queued after the station's event loop ends, would end every later test's
    # event loop at once: only the watcher quits.
    qapp.setQuitOnLastWindowClosed(False)
    try:
        assert main(["--config", str(config), "--db", str(db_path), "--nurse", "AB"]) == 0
    finally:
        qapp.setQuitOnLastWindowClosed(True)
        watcher.stop()
        recording.close()
        qapp.setFont(font)
        qapp.setStyleSheet(style)
    burst = seen.get("burst")
    assert isinstance(burst, list), "no whole high-priority burst was heard in 30 s"
    assert spacings_ms(burst) == pytest.approx(list(high.spacing_ms), abs=TOLERANCE_MS)
    notice = seen["notice"]
    assert isinstance(notice, NoAudioNotice) and notice.isHidden()
