"""`chairside overview --broker URL --db PATH`: the charge nurse's screen over every chair of every
station, and `--board`, the same floor for the wall (no controls, large type, no patient initials).

It subscribes to the stations' retained status and chair topics and their answers (docs/mqtt.md).
paho's network thread only queues what arrives and wakes the GUI thread with one queued signal per
batch. Every message is parsed into its topic's type (app.station.floor_messages) before the model
(`FloorModel`, a table model) sees it; a message that does not fit is dropped with one log line and
its chair (or, when no chair can be told, its station heading) says "data from this station
unreadable"; nothing a station publishes can stop the tick or the other stations. A station's name
comes from its topic: a payload naming another station is refused.

A station that said offline, or that has been silent longer than its keepalive, has its tiles greyed
with "no data since HH:MM", a banner and the medium-priority alarm sound. Acknowledging an escalated
alarm needs someone signed in here (badge or ID, then PIN, against this overview's own accounts);
the command is signed with this overview's key and the station answers it by its id.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
)
from PySide6.QtGui import QCloseEvent, QResizeEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.accounts.idle import DEFAULT_IDLE_LOCK_MIN, IdleTimer
from app.accounts.roles import Action, allows
from app.accounts.store import Account, AccountStore
from app.domain.clock import Clock, StationClock
from app.domain.clock_face import ClockFace
from app.domain.events import EventType
from app.station.broker import (
    BrokerError,
    BrokerSettings,
    parse_broker,
)
from app.station.sound import Speaker, load_alarm_sounds
from app.ui.elided import set_style_property
from app.ui.floor_alarms import EscalatedPanel, OfflineSound
from app.ui.floor_chair import ChairDialog
from app.ui.floor_link import FloorLink, OverviewIdentity
from app.ui.floor_model import (
    _EPOCH,
    ANSWER_WAIT_S,
    COLUMNS,
    FloorModel,
    Key,
    KeyRole,
    StationInfo,
    ViewRole,
)
from app.ui.tile import CompactTile, TileBoard, TileView

log = logging.getLogger(__name__)


class FitScrollArea(QScrollArea):
    """Tells when its viewport changes size (the board is placed to fit it)."""

    def __init__(self, on_resize: Callable[[], None]) -> None:
        super().__init__()
        self._on_resize = on_resize

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._on_resize()


BOARD_STYLE = (
    "QLabel#ctName, QLabel#ctInitials, QLabel#ctLink, QLabel#ctPhase, QLabel#ctPump, QLabel#ctNext,"
    " QLabel#ctAlarm { font-size: 24px; }"
    " QLabel#boardHeading { font-size: 24px; }"
    " QLabel#escalatedLine, QLabel#chairTitle, QLabel#clockLabel, QLabel#brokerState,"
    " QLabel#offlineBanner { font-size: 26px; }"
)
BOARD_TILE_MIN = (224, 152)
"""A wall-board tile: five lines of 24 px text (chair, phase, what is due, the alarm's priority and its
name when they need two lines) and an alarm border; 48 of them, under two station headings, fit
1920x1080 in 8 columns."""
BOARD_HEADING_H = 28


class FloorOverviewWindow(QMainWindow):
    def __init__(
        self,
        link: FloorLink | None,
        model: FloorModel | None = None,
        *,
        accounts: AccountStore | None = None,
        identity: OverviewIdentity | None = None,
        board: bool = False,
        idle_lock_min: float = DEFAULT_IDLE_LOCK_MIN,
        clock: Clock | None = None,
        speaker: Speaker | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Chairside: the floor" + (" (wall board)" if board else ""))
        self.link = link
        self.model = model or FloorModel(self)
        self.accounts = accounts
        self.identity = identity
        self.board_mode = board
        self.person: Account | None = None
        """Who is signed in at this overview (None: locked, no commands, no patient initials)."""
        self.idle = IdleTimer(clock or StationClock(), idle_lock_min)
        self.urgent_first = False
        self.mine_only = False
        self.tiles: dict[Key, CompactTile] = {}
        self.chair_dialogs: dict[Key, ChairDialog] = {}
        self.sound = OfflineSound(speaker)
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(6, 4, 6, 4)
        outer.setSpacing(4)
        bar = QHBoxLayout()
        title = QLabel("The floor")
        title.setObjectName("chairTitle")
        self.broker_label = QLabel("… connecting to the broker")
        self.broker_label.setObjectName("brokerState")
        self.who_label = QLabel()
        self.who_label.setObjectName("floorWho")
        self.sign_button = QPushButton("Sign in…")
        self.sign_button.setObjectName("primaryButton")
        self.sign_button.clicked.connect(self._sign_in_or_out)
        self.mine_button = QPushButton("My chairs")
        self.mine_button.setCheckable(True)
        self.mine_button.toggled.connect(self.set_mine_only)
        self.order_button = QPushButton("Urgent first")
        self.order_button.setCheckable(True)
        self.order_button.toggled.connect(self.set_urgent_first)
        self.clock_label = QLabel()
        self.clock_label.setObjectName("clockLabel")
        bar.addWidget(title)
        bar.addSpacing(12)
        bar.addWidget(self.broker_label)
        self.escalated_panel = EscalatedPanel(controls=not board)
        self.escalated_panel.acknowledge.connect(self.acknowledge)
        if board:  # on the wall, one line beside the title: every other line is the tiles'
            bar.addSpacing(12)
            bar.addWidget(self.escalated_panel, 1)
        else:
            bar.addStretch(1)
        self.controls: list[QWidget] = [self.who_label, self.sign_button, self.mine_button, self.order_button]
        for widget in self.controls:
            bar.addWidget(widget)
            widget.setVisible(not board)
        bar.addWidget(self.clock_label)
        outer.addLayout(bar)
        # Answers and hints on their own wrapping line: a long one never widens the window
        self.answer_label = QLabel()
        self.answer_label.setObjectName("floorMessage")
        self.answer_label.setWordWrap(True)
        self.answer_label.setTextFormat(Qt.TextFormat.PlainText)
        self.answer_label.hide()
        outer.addWidget(self.answer_label)
        self.offline_banner = QLabel()
        self.offline_banner.setObjectName("offlineBanner")
        self.offline_banner.setWordWrap(True)
        self.offline_banner.setTextFormat(Qt.TextFormat.PlainText)
        self.offline_banner.setStyleSheet(
            "QLabel#offlineBanner { background: #f5c400; color: #111111; font-size: 14pt; font-weight: bold;"
            " padding: 4px 10px; border: 2px solid #8a7300; border-radius: 4px; }"
        )
        self.offline_banner.hide()
        outer.addWidget(self.offline_banner)
        if not board:
            outer.addWidget(self.escalated_panel)
        self.scroll_area = FitScrollArea(self._fit)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.setWidgetResizable(False)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.board = TileBoard()
        if board:
            self.board.tile_min = BOARD_TILE_MIN
            self.board.heading_h = BOARD_HEADING_H
            central.setStyleSheet(BOARD_STYLE)
        self.scroll_area.setWidget(self.board)
        outer.addWidget(self.scroll_area, 1)
        self.setCentralWidget(central)
        self._pending: dict[str, tuple[Key, str, float]] = {}
        self.model.rowsInserted.connect(self._rows_inserted)
        self.model.dataChanged.connect(self._data_changed)
        if link is not None:
            link.arrived.connect(self._take)
            link.connection_changed.connect(self._connection)
        app = QApplication.instance()
        if app is not None and not board:
            app.installEventFilter(self)
        self._timer = QTimer(self)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self.tick)
        self._timer.start()
        self._order: list[Key] = []
        self.busy_s = 0.0
        """GUI-thread time spent on what arrived and on the 1 s tick (the bench reads it)."""
        self._show_person()
        self.tick()

    # -- arrivals -------------------------------------------------------------------------------------

    def _take(self) -> None:
        if self.link is None:
            return
        started = time.perf_counter()
        try:
            self.model.apply(self.link.take())
            self._answers()
            self._update_headings()
        except Exception:  # never stop taking what arrives
            log.exception("overview: what arrived could not be shown")
        self.busy_s += time.perf_counter() - started

    def _connection(self, connected: bool, reason: str) -> None:
        self.broker_label.setText("● broker connected" if connected else f"✕ broker unreachable: {reason}")
        self.broker_label.setProperty("problem", not connected)
        self.broker_label.style().polish(self.broker_label)

    def tick(self) -> None:
        """Once a second: clocks, staleness, order, headings, the escalated list, the offline banner
        and sound, the idle lock, unanswered commands. One part failing never stops the others."""
        started = time.perf_counter()
        for part in (
            self._tick_clock,
            self.model.refresh,
            self._regroup,
            self._update_headings,
            self._tick_escalated,
            self._tick_offline,
            self._tick_idle,
            self._tick_pending,
            self._tick_dialogs,
        ):
            try:
                part()
            except Exception:
                log.exception("overview: %s failed", getattr(part, "__name__", part))
        self.busy_s += time.perf_counter() - started

    def _tick_clock(self) -> None:
        self.clock_label.setText(self.face().hhmm(datetime.now(UTC)))

    def _tick_escalated(self) -> None:
        self.escalated_panel.show_alarms(
            self.model.escalated(), self._names(), {s: i.face for s, i in self.model.stations.items()}
        )

    def _names(self) -> dict[str, str]:
        return {s: i.name for s, i in self.model.stations.items()}

    def _tick_offline(self) -> None:
        offline = self.model.offline()
        if offline:
            self.offline_banner.setText(
                "⚠ "
                + "; ".join(
                    f"{info.name} is OFFLINE since {info.face.hhmm(since)}: its chairs are not "
                    "monitored from here"
                    for info, since in offline
                )
            )
        self.offline_banner.setVisible(bool(offline))
        self.sound.update(bool(offline))

    def _tick_idle(self) -> None:
        if self.person is not None and self.idle.due():
            self.sign_out("idle")

    def _tick_pending(self) -> None:
        now = time.monotonic()
        for command_id, (key, _alarm, sent) in list(self._pending.items()):
            if now - sent > ANSWER_WAIT_S:
                del self._pending[command_id]
                self._say(
                    f"{self._station_name(key[0])} · {key[1]}: no answer in {ANSWER_WAIT_S:.0f} s: "
                    "NOT acknowledged as far as the floor knows; check at the station"
                )

    def _tick_dialogs(self) -> None:
        for key, dialog in list(self.chair_dialogs.items()):
            if dialog.isVisible():
                self._show_dialog(key, dialog)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closed: no more ticks, no more watching the application's input, no sound."""
        self._timer.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        for dialog in self.chair_dialogs.values():
            dialog.close()
        self.sound.update(False)
        super().closeEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (
            QEvent.Type.KeyPress,
            QEvent.Type.MouseButtonPress,
            QEvent.Type.Wheel,
            QEvent.Type.TouchBegin,
        ):
            self.idle.input()
        return False

    # -- tiles -----------------------------------------------------------------------------------------

    def shown_view(self, key: Key) -> TileView:
        """The model's words for a tile, without the patient's initials while nobody is signed in here
        (and always on the wall board)."""
        view = self.model.views[key]
        if self.person is None or self.board_mode:
            return dataclasses.replace(view, initials="")
        return view

    def face(self) -> ClockFace:
        """The overview's own clock: the zone every station it hears names when they agree, else this
        computer's (by its zone name)."""
        names = {info.face.name: info.face for info in self.model.stations.values()}
        return next(iter(names.values())) if len(names) == 1 else ClockFace.of()

    def _rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        for row in range(first, last + 1):
            key = self.model.keys[row]
            tile = CompactTile(f"{key[0]}/{key[1]}", self.board)
            tile.show_station = self.urgent_first
            if self.board_mode:
                layout = tile.layout()
                if layout is not None:
                    layout.setContentsMargins(6, 0, 6, 0)  # every pixel for the lines of 24 px
                tile.board = True
                tile.pump_label.hide()  # from 3 m: chair, phase, what is due, the alarm
            else:
                tile.clicked.connect(self._tile_clicked)
            tile.show_view(self.shown_view(key))
            self.tiles[key] = tile
        self._regroup(force=True)

    def _data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, _roles: Any = None) -> None:
        for row in range(top_left.row(), bottom_right.row() + 1):
            key = self.model.keys[row]
            tile = self.tiles.get(key)
            if tile is not None:
                tile.show_view(self.shown_view(key))
            dialog = self.chair_dialogs.get(key)
            if dialog is not None and dialog.isVisible():
                self._show_dialog(key, dialog)

    def _redraw_tiles(self) -> None:
        for key, tile in self.tiles.items():
            view, tile.view = tile.view, None
            if view is not None:
                tile.show_view(self.shown_view(key))

    def _tile_clicked(self, text: str) -> None:
        sid, _sep, chair = text.partition("/")
        self.open_chair((sid, chair))

    def open_chair(self, key: Key) -> ChairDialog:
        """The chair's own window, read-only, from what its station publishes."""
        dialog = self.chair_dialogs.get(key)
        if dialog is None:
            dialog = ChairDialog(key, self, controls=not self.board_mode)
            dialog.acknowledge.connect(self.acknowledge)
            self.chair_dialogs[key] = dialog
        self._show_dialog(key, dialog)
        dialog.show()
        return dialog

    def _show_dialog(self, key: Key, dialog: ChairDialog) -> None:
        chair = self.model.snapshots.get(key)
        if chair is not None:
            dialog.show_chair(chair, self.shown_view(key), self._station_name(key[0]), datetime.now(UTC))
            readings = self.model.readings.get(key)
            dialog.show_readings(
                readings if readings is not None and readings.session == chair.session else None
            )

    # -- layout -------------------------------------------------------------------------------------------

    def set_urgent_first(self, urgent: bool) -> None:
        self.urgent_first = urgent
        self.order_button.setText("By station" if urgent else "Urgent first")
        for tile in self.tiles.values():
            tile.show_station = urgent
        self._redraw_tiles()
        self._regroup(force=True)

    def set_mine_only(self, mine: bool) -> None:
        """Only the chairs of the nurse signed in here (their assignments at the stations)."""
        self.mine_only = mine and self.person is not None
        if self.mine_button.isChecked() != self.mine_only:
            self.mine_button.setChecked(self.mine_only)
        self._regroup(force=True)

    def visible_keys(self) -> list[Key]:
        keys = self.model.keys
        if self.mine_only and self.person is not None:
            who = self.person.id.casefold()
            keys = [k for k in keys if self.model.views[k].nurse.casefold() == who]
        return keys

    def _regroup(self, force: bool = False) -> None:
        keys = self.visible_keys()
        if self.urgent_first:
            order = sorted(keys, key=lambda k: (self.model.views[k].urgency(), k))
        else:
            order = list(keys)
        if order == self._order and not force:
            return
        self._order = order
        shown = set(order)
        for key, tile in self.tiles.items():
            if key not in shown:
                tile.hide()
        groups: list[tuple[str | None, list[CompactTile]]] = []
        if self.urgent_first:
            self.board.heading("*").setText("Most urgent first (click “By station” to group)")
            groups.append(("*", [self.tiles[k] for k in order]))
        else:
            for sid, _info in sorted(self.model.stations.items(), key=lambda s: (s[1].name.casefold(), s[0])):
                tiles = [self.tiles[k] for k in order if k[0] == sid]
                if not tiles:
                    continue
                self.board.heading(sid)
                groups.append((sid, tiles))
        self._update_headings()
        self.board.set_groups(groups)

    def _update_headings(self) -> None:
        """Each station's heading: its chairs, and whether the floor hears from it."""
        if self.urgent_first:
            return
        now = self.model.clock()
        counts = collections.Counter(k[0] for k in self.model.keys)
        for sid, info in self.model.stations.items():
            if not counts[sid]:
                continue
            since = info.stale_since(now)
            state = (
                "OFFLINE: no data since "
                + info.face.at(None if since == _EPOCH else since, datetime.fromtimestamp(now, UTC))
                if since is not None
                else "online"
            )
            unreadable = "  ·  ⚠ data from this station unreadable" if info.unreadable else ""
            warnings = "".join(f"  ·  ⚠ {w}" for w in info.warnings)
            heading = self.board.heading(sid)
            heading.setText(f"{info.name}  ·  {counts[sid]} chairs  ·  {state}{unreadable}{warnings}")
            set_style_property(heading, "stale", since is not None or bool(info.unreadable or info.warnings))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._fit()

    def _fit(self) -> None:
        if not hasattr(self, "board"):
            return
        viewport = self.scroll_area.viewport()
        self.board.fit_to(viewport.width(), viewport.height())

    # -- who is signed in ---------------------------------------------------------------------------------

    def _sign_in_or_out(self) -> None:
        if self.person is not None:
            self.sign_out("signed out")
        else:
            self.ask_sign_in()

    def ask_sign_in(self) -> Account | None:
        """Badge or ID, then PIN, against this overview's own accounts (`chairside users --db`)."""
        if self.accounts is None:
            self._say("No accounts at this overview: start it with --db (accounts: chairside users --db)")
            return None
        from app.ui.signin import SignInDialog

        dialog = SignInDialog(self.accounts, self, heading="Sign in at the floor", purpose="floor sign-in")
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.account is not None:
            self.sign_in(dialog.account)
        return self.person

    def sign_in(self, account: Account) -> None:
        """`account` was checked (badge or ID and PIN) by the caller."""
        self.person = account
        self.idle.input()
        self._show_person()
        self._redraw_tiles()
        self._say("")

    def sign_out(self, reason: str = "signed out") -> None:
        """Signed out (or locked when idle): no commands and no patient initials until someone signs
        in; the tiles and the escalated list stay on screen."""
        person = self.person
        if person is None:
            return
        if self.accounts is not None:  # the overview's own journal, as a station's
            if reason == "idle":
                self.accounts.record(
                    EventType.STATION_LOCKED, person.id, {"account": person.id, "reason": "idle"}
                )
            self.accounts.record(EventType.SIGNED_OUT, person.id, {"account": person.id})
        self.person = None
        self.mine_only = False
        self.mine_button.setChecked(False)
        self._show_person()
        self._redraw_tiles()
        self._regroup(force=True)
        if reason == "idle":
            self._say("Locked after no input: sign in (badge or ID, then PIN) to acknowledge or see initials")

    def _show_person(self) -> None:
        person = self.person
        self.who_label.setText(
            f"{person.name} ({person.id}), {person.role.label}" if person else "Locked: nobody signed in"
        )
        self.sign_button.setText("Sign out" if person else "Sign in…")
        self.mine_button.setEnabled(person is not None)

    # -- acknowledgements ---------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.answer_label.setText(text)
        self.answer_label.setVisible(bool(text))

    def _station_name(self, sid: str) -> str:
        info = self.model.stations.get(sid)
        return info.name if info is not None else sid

    def acknowledge(self, key: Key, alarm_id: str) -> str | None:
        """Send the signed acknowledgement as the person signed in here; the answer shows when it
        comes (by command id). Refused at once when the station is offline or nobody is signed in."""
        if self.board_mode:
            return None
        name = self._station_name(key[0])
        info = self.model.stations.get(key[0])
        since = info.stale_since(self.model.clock()) if info is not None else _EPOCH
        if since is not None:
            face = info.face if info is not None else ClockFace.of()
            when = face.hhmm(None if since is _EPOCH else since)
            self._say(f"{name} is offline since {when}: not sent. Go to the station")
            return None
        person = self.person
        if person is None:
            self._say("Sign in first (badge or ID, then PIN): the station records who acknowledged")
            return None
        alarm = next((a for a in self.model.snapshots[key].alarms if a.id == alarm_id), None)
        if alarm is not None and alarm.escalated and not allows(person.role, Action.ACKNOWLEDGE_ESCALATION):
            self._say(
                f"{person.id} ({person.role.label}) may not acknowledge an escalated alarm: a charge nurse must"
            )
            return None
        if self.identity is None:
            self._say("Not sent: this overview has no key to sign its commands")
            return None
        if self.link is None or not self.link.connected:
            self._say("Not sent: the broker is unreachable")
            return None
        self.idle.input()
        command_id = self.link.acknowledge(key[0], key[1], alarm_id, person, self.identity)
        self._pending[command_id] = (key, alarm_id, time.monotonic())
        self._say(f"Sent to {name} · {key[1]}: waiting for the station")
        return command_id

    def _answers(self) -> None:
        for command_id, (key, _alarm, _sent) in list(self._pending.items()):
            answer = self.model.answers.get(command_id)
            if answer is None:
                continue
            del self._pending[command_id]
            name = self._station_name(key[0])
            if answer.done:
                self._say(f"{name} · {key[1]}: {answer.message}")
            else:
                self._say(f"{name} · {key[1]}: NOT acknowledged: {answer.message}")


def overview_settings(args: argparse.Namespace) -> BrokerSettings:
    table: dict[str, Any] = {"url": args.broker, "allow_plaintext": bool(args.allow_plaintext)}
    if args.username:
        table["username"] = args.username
    for key in ("password_file", "ca_file"):
        value = getattr(args, key, None)
        if value is not None:
            table[key] = str(value)
    return parse_broker(table)


def run(
    args: argparse.Namespace,
    accounts: AccountStore | None = None,
    identity: OverviewIdentity | None = None,
) -> int:
    from app.station.speaker import PulseSpeaker
    from app.ui.theme import apply_theme

    try:
        settings = overview_settings(args)
    except BrokerError as error:
        print(f"chairside: {error}", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("Chairside floor")
    apply_theme(app)
    link = FloorLink(settings, name=identity.name if identity is not None else args.name)
    speaker: Speaker | None = None
    if not args.screenshot:
        speaker = PulseSpeaker(load_alarm_sounds().sample_rate_hz, lambda _status: None)
    window = FloorOverviewWindow(
        link,
        accounts=accounts,
        identity=identity,
        board=bool(args.board),
        idle_lock_min=args.idle_lock_min,
        speaker=speaker,
    )
    link.start()
    if args.window_size:
        window.resize(*args.window_size)
        window.show()
    elif args.screenshot:
        window.resize(1920, 1080)
        window.show()
    elif args.board:
        window.showFullScreen()
    else:
        window.showMaximized()
    if args.quit_after is not None:

        def finish() -> None:
            try:
                if args.screenshot:
                    window.tick()
                    app.processEvents()
                    path = Path(args.screenshot)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    window.grab().save(str(path))
                    print(f"saved {path}")
            finally:
                window.close()
                app.quit()

        QTimer.singleShot(round(args.quit_after * 1000), finish)
    try:
        return int(app.exec())
    finally:
        link.stop()
        window.sound.close()


__all__ = [
    "COLUMNS",
    "ChairDialog",
    "EscalatedPanel",
    "FloorLink",
    "FloorModel",
    "FloorOverviewWindow",
    "KeyRole",
    "OverviewIdentity",
    "StationInfo",
    "ViewRole",
    "run",
]
