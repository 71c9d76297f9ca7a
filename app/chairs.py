"""The Qt facade over the floor: one `ChairController` per chair, one `FloorController` for them all.

Data flows one way: a driver's thread hands over `Telemetry`, which crosses into the GUI thread as a
queued signal; the chair controller documents what the pump did (rate changes, pauses, end of
infusion) through the same `Floor.execute` a nurse's command takes, evaluates alarms and re-emits
everything as signals the widgets bind to. Widgets never see a driver or the database.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal

from app.alarm_policy import load_alarm_policy
from app.domain.alarms import (
    Alarm,
    AlarmBoard,
    AlarmInputs,
    AlarmPolicy,
    AlarmTransition,
    PumpAlarmReading,
    PumpDelivery,
    PumpReading,
    evaluate,
)
from app.domain.chair import ChairState
from app.domain.clock import Clock
from app.domain.commands import (
    ChangeRate,
    CheckIn,
    Command,
    CompleteInfusion,
    PauseInfusion,
    RecordAlarm,
    ResumeInfusion,
)
from app.domain.decide import CommandRefused, GuardFailure
from app.domain.phase import Phase
from app.floor import Floor
from app.station.config import MAX_CHAIRS
from app.store.journal import JournalError
from drivers.base import DeliveryState, LinkState, LinkStatus, PumpDriver, Telemetry

log = logging.getLogger(__name__)

RATE_TOLERANCE_ML_H = load_alarm_policy().same_rate_ml_h
PUMP_ACTOR = "pump"  # pump-documented entries when no nurse is identified at the station
SYSTEM_ACTOR = "system"  # alarms raised and cleared by the rules


def chair_names(count: int) -> list[str]:
    if not 1 <= count <= MAX_CHAIRS:
        raise ValueError(f"a floor has 1 to {MAX_CHAIRS} chairs, not {count}")
    return [f"Chair {n}" for n in range(1, count + 1)]


class PumpHistory:
    """A preallocated ring buffer of (time s since epoch, rate mL/h, volume mL) for the live plot."""

    def __init__(self, capacity: int = 6 * 3600) -> None:
        self._data = np.full((capacity, 3), np.nan)
        self._next = 0
        self._count = 0
        self.version = 0  # bumps on every change: the plot redraws only when it moved

    @property
    def capacity(self) -> int:
        return int(self._data.shape[0])

    def __len__(self) -> int:
        return self._count

    def append(self, t_s: float, rate_ml_h: float, volume_ml: float) -> None:
        self._data[self._next] = (t_s, rate_ml_h, volume_ml)
        self._next = (self._next + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)
        self.version += 1

    def clear(self) -> None:
        self._next = 0
        self._count = 0
        self.version += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Oldest first. Copies only when the ring has wrapped."""
        if self._count < self.capacity:
            view = self._data[: self._count]
        else:
            view = np.concatenate((self._data[self._next :], self._data[: self._next]))
        return view[:, 0], view[:, 1], view[:, 2]


@dataclass(frozen=True)
class PumpObservation:
    """What the pump is doing, in the words the journal uses."""

    kind: str  # "running" | "stopped" | "complete"
    rate_ml_h: float = 0.0
    reason: str = ""

    def same_as(self, other: PumpObservation | None) -> bool:
        return (
            other is not None
            and other.kind == self.kind
            and math.isclose(other.rate_ml_h, self.rate_ml_h, abs_tol=RATE_TOLERANCE_ML_H)
        )


def observe(t: Telemetry) -> PumpObservation | None:
    """The pump's delivery as the chair documents it; None when the pump does not say."""
    ended = any(a.kind == "end_of_infusion" for a in t.alarms)
    if t.state in (DeliveryState.COMPLETE, DeliveryState.KVO) or ended:
        return PumpObservation("complete")
    if t.state is DeliveryState.INFUSING:
        return PumpObservation("running", t.rate_ml_h)
    if t.state in (DeliveryState.STOPPED, DeliveryState.PAUSED, DeliveryState.ALARM):
        texts = ", ".join(a.text or a.code for a in t.alarms)
        reason = f"pump alarm: {texts}" if texts else f"pump {t.state.value}"
        return PumpObservation("stopped", reason=reason)
    return None


def _local_tz() -> tzinfo | None:
    return None  # this computer's zone, with the rules of each moment shown (not a fixed offset)


class ChairController(QObject):
    """One chair: its current session in the floor, its pump (optional) and its alarms."""

    changed = Signal()
    telemetry_received = Signal(object)
    link_changed = Signal(object)
    alarms_changed = Signal()
    message = Signal(str)

    # Emitted on the driver's I/O thread; this object lives in the GUI thread, so Qt queues them.
    _telemetry_from_driver = Signal(object)
    _link_from_driver = Signal(object)

    def __init__(self, floor: FloorController, name: str) -> None:
        super().__init__(floor)
        self._floor = floor
        self._name = name
        self._driver: PumpDriver | None = None
        self._telemetry: Telemetry | None = None
        self._link: LinkState | None = None
        self.history = PumpHistory()
        self._last_seen: PumpObservation | None = None
        self._last_seen_at: datetime | None = None
        self._documented: PumpObservation | None = None  # last observation acted on (or refused)
        self._last_seq_emitted = -1
        self._session_id: str | None = None
        self._journal_problem: str = ""
        self._link_lost_since: datetime | None = None
        self.alarm_board = AlarmBoard(self._floor.alarm_policy)
        self._telemetry_from_driver.connect(self._on_telemetry, Qt.ConnectionType.QueuedConnection)
        self._link_from_driver.connect(self._on_link, Qt.ConnectionType.QueuedConnection)
        self._sync_session()

    # ------------------------------------------------------------------------------------------
    # What the widgets read

    @property
    def name(self) -> str:
        return self._name

    @property
    def floor(self) -> FloorController:
        return self._floor

    @property
    def state(self) -> ChairState | None:
        return self._floor.floor.session_for_chair(self._name)

    @property
    def telemetry(self) -> Telemetry | None:
        return self._telemetry

    @property
    def link(self) -> LinkState | None:
        return self._link

    @property
    def has_pump(self) -> bool:
        return self._driver is not None

    @property
    def pump_connected(self) -> bool:
        return self._link is not None and self._link.status is LinkStatus.CONNECTED

    @property
    def journal_problem(self) -> str:
        """The last journal write failure, until a later write succeeds."""
        return self._journal_problem

    def now(self) -> datetime:
        return self._floor.now()

    # ------------------------------------------------------------------------------------------
    # The pump

    def attach_driver(self, config: Mapping[str, Any]) -> PumpDriver:
        """Open and start the chair's pump driver (see `drivers.open_driver`)."""
        from drivers import open_driver

        self.detach_driver()
        driver = open_driver(
            config,
            on_telemetry=self._telemetry_from_driver.emit,
            on_link_state=self._link_from_driver.emit,
            clock=self._floor.clock.now,
        )
        self._driver = driver
        self._link_lost_since = self.now()
        driver.start()
        return driver

    def detach_driver(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            driver.stop()
        self._link = None
        self._link_lost_since = None

    def _on_link(self, link: LinkState) -> None:
        if self._driver is None:
            return
        was_connected = self.pump_connected
        self._link = link
        if link.status is LinkStatus.CONNECTED:
            self._link_lost_since = None
        elif was_connected or self._link_lost_since is None:
            self._link_lost_since = self.now()
        self.link_changed.emit(link)
        self._evaluate_alarms(self.now())

    def _on_telemetry(self, t: Telemetry) -> None:
        if self._driver is None:
            return  # a reading queued before the driver was detached
        self._telemetry = t
        self.history.append(t.at.timestamp(), t.rate_ml_h, t.volume_infused_ml)
        self._store_telemetry(t)
        self._document(t)
        self.telemetry_received.emit(t)
        self._evaluate_alarms(t.at)
        self._sync_session()

    def _store_telemetry(self, t: Telemetry) -> None:
        session_id = state.session_id if (state := self.state) is not None else None
        self._floor.floor.journal.recorder.record_telemetry(self._name, session_id, t, self._link)

    # ------------------------------------------------------------------------------------------
    # Auto-documentation: what the pump did goes into the journal by itself

    def _document(self, t: Telemetry) -> None:
        seen = observe(t)
        if seen is None:
            return
        if not seen.same_as(self._last_seen):
            self._last_seen, self._last_seen_at = seen, t.at
            return  # stable for one poll before it is journaled
        state = self.state
        if state is None or seen.same_as(self._documented):
            return
        at = self._last_seen_at or t.at
        command = self._command_for(state, seen, t, at)
        if command is None:
            self._documented = seen
            return
        self._documented = seen
        try:
            self._run(command, self._floor.nurse or PUMP_ACTOR)
        except CommandRefused as refused:
            self.message.emit(f"{self._name}: the pump {seen.kind} was not documented: {refused}")
        except JournalError:
            self._documented = None  # try again on the next reading
        if isinstance(command, ResumeInfusion) and seen.kind == "running":
            resumed = self.state
            if resumed is not None and not _same_rate(resumed.pump_rate_ml_h, seen.rate_ml_h):
                self._documented = None  # the rate goes in on the next poll

    def _command_for(
        self, state: ChairState, seen: PumpObservation, t: Telemetry, at: datetime
    ) -> Command | None:
        phase = state.phase
        if phase is Phase.INFUSING:
            if seen.kind == "running" and not _same_rate(state.pump_rate_ml_h, seen.rate_ml_h):
                return ChangeRate(seen.rate_ml_h, source="pump", reason="seen on the pump", at=at)
            if seen.kind == "stopped":
                return PauseInfusion(reason=seen.reason, source="pump", at=at)
            if seen.kind == "complete":
                return CompleteInfusion(source="pump", volume_infused_ml=t.volume_infused_ml, at=at)
        elif phase is Phase.PAUSED:
            if seen.kind == "running":
                return ResumeInfusion(source="pump", at=at)
            if seen.kind == "complete":
                return CompleteInfusion(source="pump", volume_infused_ml=t.volume_infused_ml, at=at)
        return None

    # ------------------------------------------------------------------------------------------
    # Commands

    def execute(self, command: Command) -> ChairState:
        """Run a nurse's command as the floor's current nurse. Raises CommandRefused (with the reason
        and whether an override may pass it) or JournalError (nothing recorded)."""
        if isinstance(command, CheckIn):
            return self.check_in(command)
        return self._run(command, self._floor.nurse)

    def check_in(self, command: CheckIn) -> ChairState:
        if command.chair != self._name:
            raise ValueError(f"check-in for {command.chair} sent to {self._name}")
        return self._run(command, self._floor.nurse)

    def _run(self, command: Command, actor: str) -> ChairState:
        if not actor.strip():
            refused = CommandRefused(
                [GuardFailure("no_nurse", "Nobody is identified: enter your initials or scan your badge")],
                overridable=False,
            )
            self.message.emit(f"{self._name}: not recorded. {refused}")
            raise refused
        floor = self._floor.floor
        state = floor.session_for_chair(self._name)
        try:
            if isinstance(command, CheckIn):
                new_state = floor.check_in(command, actor)
            else:
                if state is None:
                    raise CommandRefused(
                        [GuardFailure("no_session", f"{self._name} has no patient checked in")],
                        overridable=False,
                    )
                new_state = floor.execute(state.session_id, command, actor)
        except CommandRefused as refused:
            self.message.emit(f"{self._name}: not recorded. {refused}")
            raise
        except JournalError as exc:
            self._journal_failed(exc)
            raise
        if self._journal_problem:
            self._journal_problem = ""
            self.alarms_changed.emit()
        self._sync_session(new_state)
        if not isinstance(command, RecordAlarm):
            self._evaluate_alarms(self.now())
        return new_state

    def _journal_failed(self, exc: JournalError) -> None:
        text = f"{self._name}: NOT RECORDED, the record cannot be written: {exc}"
        log.error("%s", text)
        first = not self._journal_problem
        self._journal_problem = str(exc)
        self.message.emit(text)
        if first:
            self.alarms_changed.emit()

    def _sync_session(self, state: ChairState | None = None) -> None:
        """Emit `changed` when the session moved (by us, a dialog, or anything else on the floor)."""
        state = state if state is not None else self.state
        seq = state.last_seq if state is not None else 0
        session_id = state.session_id if state is not None else None
        if session_id != self._session_id:
            self._session_id = session_id
            self.history.clear()
            for point in (
                self._floor.floor.journal.recorder.plot_points(self._name, session_id) if state else ()
            ):
                self.history.append(*point)  # a restart: the plot shows the session's stored readings again
            self._documented = None
            restored = state.alarms.values() if state is not None else ()
            self.alarm_board = AlarmBoard(self._floor.alarm_policy, restored)
            self._last_seq_emitted = -1
        if seq != self._last_seq_emitted:
            self._last_seq_emitted = seq
            self.changed.emit()

    # ------------------------------------------------------------------------------------------
    # Alarms (rules and board: app.domain.alarms)

    @property
    def active_alarms(self) -> list[Alarm]:
        return self.alarm_board.active()

    def escalated_alarms(self, now: datetime | None = None) -> list[Alarm]:
        return self.alarm_board.escalated(now or self.now())

    def acknowledge(self, alarm_id: str) -> None:
        """Acknowledge as the nurse at the station (journaled); refused when nobody is identified."""
        nurse = self._floor.nurse
        if not nurse:
            self.message.emit(f"{self._name}: identify yourself before acknowledging an alarm")
            raise CommandRefused(
                [GuardFailure("no_nurse", "Nobody is identified: enter your initials or scan your badge")],
                overridable=False,
            )
        for transition in self.alarm_board.acknowledge(alarm_id, nurse, self.now()):
            self._journal_alarm(transition)
        self.alarms_changed.emit()

    def pause_audio(self) -> None:
        self.alarm_board.pause_audio(self.now())
        self.alarms_changed.emit()

    def tick(self, now: datetime) -> None:
        self._sync_session()
        self._evaluate_alarms(now)

    def _evaluate_alarms(self, now: datetime) -> None:
        inputs = AlarmInputs(
            now=now,
            state=self.state,
            reading=self._reading(),
            link_connected=self._driver is None or self.pump_connected,
            link_lost_since=self._link_lost_since if self._driver is not None else None,
            chair=self._name,
            storage_problem=self._floor.floor.journal.storage_problem(self._name),
            display_tz=_local_tz(),
        )
        transitions = self.alarm_board.update(evaluate(inputs, self._floor.alarm_policy), now)
        for transition in transitions:
            self._journal_alarm(transition)
        if transitions:
            self.alarms_changed.emit()

    def _reading(self) -> PumpReading | None:
        t = self._telemetry
        if t is None:
            return None
        return PumpReading(
            t.at,
            t.rate_ml_h,
            t.volume_infused_ml,
            PumpDelivery(t.state.value),
            tuple(PumpAlarmReading(a.code, str(a.kind), a.text) for a in t.alarms),
        )

    def _journal_alarm(self, transition: AlarmTransition) -> None:
        state = self.state
        if state is None or state.phase is Phase.EMPTY:
            return  # no session to journal it with (an idle chair's pump link)
        try:
            self._run(transition.command(), transition.by or SYSTEM_ACTOR)
        except CommandRefused as refused:
            log.warning("%s: alarm not journaled: %s", self._name, refused)
        except JournalError:
            pass  # already reported by _run


def _same_rate(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, abs_tol=RATE_TOLERANCE_ML_H)


class FloorController(QObject):
    """All chairs of the floor, the nurse at the station, and the 1 s tick that drives the countdowns
    and the time-based alarms (from the injected clock, so tests move time by hand)."""

    nurse_changed = Signal(str)
    ticked = Signal(object)
    message = Signal(str)

    def __init__(
        self,
        floor: Floor,
        chairs: int | Sequence[str] = 6,
        clock: Clock | None = None,
        *,
        tick_ms: int = 1000,
        alarm_policy: AlarmPolicy | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.floor = floor
        self.clock: Clock = clock or floor.clock
        self._nurse = ""
        self.alarm_policy: AlarmPolicy = alarm_policy or load_alarm_policy()
        names = chair_names(chairs) if isinstance(chairs, int) else list(chairs)
        if not 1 <= len(names) <= MAX_CHAIRS:
            raise ValueError(f"a floor has 1 to {MAX_CHAIRS} chairs, not {len(names)}")
        self.chairs: list[ChairController] = [ChairController(self, name) for name in names]
        for chair in self.chairs:
            chair.message.connect(self.message)
        self._by_name = {c.name: c for c in self.chairs}
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self.tick)
        self._tick_hooks: list[Callable[[datetime], None]] = []

    def chair(self, name_or_index: str | int) -> ChairController:
        """A chair by name ("Chair 3") or by 1-based number."""
        if isinstance(name_or_index, int):
            return self.chairs[name_or_index - 1]
        return self._by_name[name_or_index]

    @property
    def nurse(self) -> str:
        return self._nurse

    def set_nurse(self, initials: str) -> None:
        initials = initials.strip().upper()
        if initials == self._nurse:
            return
        self._nurse = initials
        self.nurse_changed.emit(initials)

    def now(self) -> datetime:
        return self.clock.now()

    def add_tick_hook(self, hook: Callable[[datetime], None]) -> None:
        """Something else to run on every tick before the chairs (the demo's scripts)."""
        self._tick_hooks.append(hook)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def tick(self) -> None:
        now = self.now()
        for hook in self._tick_hooks:
            hook(now)
        for chair in self.chairs:
            chair.tick(now)
        self.ticked.emit(now)

    def close(self) -> None:
        self.stop()
        for chair in self.chairs:
            chair.detach_driver()
