"""The Qt facade over the station core (`app.station`): one `ChairController` per chair, one
`FloorController` for them all. Widgets bind to their signals; they never see a driver or the database.

Everything the chair decides (documenting what the pump did, the alarm loop, journaling) lives in
`app.station`; here the core's changes are only re-emitted as signals. A driver's thread hands over
readings and link changes as queued signals, so the core only ever runs on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from app.accounts.roles import Action
from app.accounts.store import Account, AccountStore
from app.domain.alarms import Alarm, AlarmBoard, AlarmPolicy
from app.domain.chair import ChairState
from app.domain.clock import Clock
from app.domain.clock_face import ClockFace
from app.domain.commands import CheckIn, Command
from app.domain.events import SignOff
from app.floor import Floor
from app.station.config import MAX_CHAIRS
from app.station.history import PumpHistory
from app.station.pump import PumpLink, PumpObservation, observe
from app.station.session import PUMP_ACTOR, SYSTEM_ACTOR, ChairSession
from app.station.station import Station, chair_names
from app.store.journal import JournalError  # what execute() raises when nothing was recorded
from drivers.base import LinkState, PumpDriver, Telemetry

__all__ = [
    "MAX_CHAIRS",
    "PUMP_ACTOR",
    "SYSTEM_ACTOR",
    "ChairController",
    "FloorController",
    "JournalError",
    "PumpHistory",
    "PumpObservation",
    "chair_names",
    "observe",
]


class _Relay:
    """The core chair's listener: re-emits each change as the controller's signal."""

    def __init__(self, controller: ChairController) -> None:
        self._c = controller

    def changed(self) -> None:
        self._c.changed.emit()

    def telemetry(self, t: Telemetry) -> None:
        self._c.telemetry_received.emit(t)

    def link(self, link: LinkState) -> None:
        self._c.link_changed.emit(link)

    def alarms_changed(self) -> None:
        self._c.alarms_changed.emit()

    def message(self, text: str) -> None:
        self._c.message.emit(text)


class ChairController(QObject):
    """One chair (`app.station.ChairSession`) as signals."""

    changed = Signal()
    telemetry_received = Signal(object)
    link_changed = Signal(object)
    alarms_changed = Signal()
    message = Signal(str)

    def __init__(self, floor: FloorController, session: ChairSession) -> None:
        super().__init__(floor)
        self._floor = floor
        self.session = session
        session.listener = _Relay(self)

    # ------------------------------------------------------------------------------------------
    # What the widgets read

    @property
    def name(self) -> str:
        return self.session.name

    @property
    def floor(self) -> FloorController:
        return self._floor

    @property
    def state(self) -> ChairState | None:
        return self.session.state

    @property
    def telemetry(self) -> Telemetry | None:
        return self.session.telemetry

    @property
    def history(self) -> PumpHistory:
        return self.session.history

    @property
    def link(self) -> LinkState | None:
        return self.session.link

    @property
    def link_lost_since(self) -> datetime | None:
        return self.session.link_lost_since

    @property
    def has_pump(self) -> bool:
        return self.session.has_pump

    @property
    def pump_connected(self) -> bool:
        return self.session.pump_connected

    @property
    def journal_problem(self) -> str:
        """The last journal write failure, until a later write succeeds."""
        return self.session.journal_problem

    @property
    def alarm_board(self) -> AlarmBoard:
        return self.session.alarms.board

    def now(self) -> datetime:
        return self.session.now()

    @property
    def face(self) -> ClockFace:
        """The station's clock face (every time this chair's screens and dialogs show or read)."""
        return self._floor.station.face

    # ------------------------------------------------------------------------------------------
    # The pump

    def attach_driver(self, config: Mapping[str, Any]) -> PumpDriver:
        """Open and start the chair's pump driver (see `drivers.open_driver`); its callbacks reach
        the GUI thread through the floor's queued signal."""
        return self.session.attach_driver(config)

    def detach_driver(self) -> None:
        self.session.detach_driver()

    # ------------------------------------------------------------------------------------------
    # Commands

    def execute(self, command: Command, cosigner: Account | None = None) -> ChairState:
        """Run a nurse's command as the floor's current nurse. Raises CommandRefused (with the reason
        and whether an override may pass it; NotPermitted when the role needs a `cosigner`) or
        JournalError (nothing recorded)."""
        return self.session.execute(command, cosigner=cosigner)

    def check_in(self, command: CheckIn, cosigner: Account | None = None) -> ChairState:
        return self.session.execute(command, cosigner=cosigner)

    # ------------------------------------------------------------------------------------------
    # Alarms

    @property
    def active_alarms(self) -> list[Alarm]:
        return self.session.active_alarms

    def escalated_alarms(self, now: datetime | None = None) -> list[Alarm]:
        return self.session.escalated_alarms(now)

    def acknowledge(self, alarm_id: str, cosigner: Account | None = None) -> None:
        self.session.acknowledge(alarm_id, cosigner=cosigner)

    def pause_audio(self) -> None:
        self.session.pause_audio()

    def tick(self, now: datetime) -> None:
        self.session.tick(now)


class FloorController(QObject):
    """All chairs of the floor (`app.station.Station`), the nurse at the station, and the 1 s tick that
    drives the countdowns and the time-based alarms (from the injected clock, so tests move time by
    hand)."""

    nurse_changed = Signal(str)
    ticked = Signal(object)
    message = Signal(str)

    # Emitted on a driver's I/O thread; this object lives in the GUI thread, so Qt queues it.
    _from_driver = Signal(object, object, object)

    def __init__(
        self,
        floor: Floor | Station,
        chairs: int | Sequence[str] = 6,
        clock: Clock | None = None,
        *,
        tick_ms: int = 1000,
        alarm_policy: AlarmPolicy | None = None,
        parent: QObject | None = None,
        accounts: AccountStore | None = None,
    ) -> None:
        super().__init__(parent)
        if isinstance(floor, Station):
            self.station = floor
            if accounts is not None:
                self.station.accounts = accounts
        else:
            self.station = Station(floor, chairs, clock, alarm_policy=alarm_policy, accounts=accounts)
        self.floor: Floor = self.station.floor
        self.clock: Clock = self.station.clock
        self.alarm_policy: AlarmPolicy = self.station.alarm_policy
        self.chairs: list[ChairController] = [ChairController(self, s) for s in self.station.chairs]
        for chair in self.chairs:
            chair.message.connect(self.message)
        self._by_name = {c.name: c for c in self.chairs}
        self._from_driver.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        self.station.handoff = self._from_driver.emit
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self.tick)

    def chair(self, name_or_index: str | int) -> ChairController:
        """A chair by name ("Chair 3") or by 1-based number."""
        if isinstance(name_or_index, int):
            return self.chairs[name_or_index - 1]
        return self._by_name[name_or_index]

    @property
    def nurse(self) -> str:
        return self.station.nurse

    def set_nurse(self, initials: str) -> None:
        if self.station.set_nurse(initials):
            self.nurse_changed.emit(self.station.nurse)

    # Accounts (app.accounts through the station core): who is signed in, and what they may do
    @property
    def accounts(self) -> AccountStore | None:
        return self.station.accounts

    @property
    def signed_in(self) -> Account | None:
        return self.station.signed_in

    def sign_in(self, account: Account) -> None:
        self.station.sign_in(account)
        self.nurse_changed.emit(account.id)

    def sign_out(self) -> None:
        self.station.sign_out()
        self.nurse_changed.emit("")

    def acting_as(self, account: Account) -> AbstractContextManager[None]:
        return self.station.acting_as(account)

    def authorize(self, actions: Sequence[Action], cosigner: Account | None = None) -> SignOff | None:
        return self.station.authorize(actions, cosigner)

    def now(self) -> datetime:
        return self.clock.now()

    def add_tick_hook(self, hook: Callable[[datetime], None]) -> None:
        """Something else to run on every tick before the chairs (the demo's scripts)."""
        self.station.tick_hooks.append(hook)

    def _deliver(self, chair: ChairSession, pump: PumpLink, item: Telemetry | LinkState) -> None:
        self.station.deliver(chair, pump, item)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def tick(self) -> None:
        now = self.station.tick(self.now())
        self.ticked.emit(now)

    def close(self) -> None:
        self.stop()
        self.station.close()
