"""One chair of the station: its current session in the floor, its pump and its alarms.

`on_reading(reading) -> commands` is the pure decision (the one-poll debounce, then what documents the
pump's change in the session's phase); `receive` runs those commands through `Floor.execute`, stores the
sample and evaluates the alarms. Changes are told to a `ChairListener` (the Qt layer re-emits them as
signals; headless, nobody listens). Everything here runs on the owner's thread: driver callbacks reach
it through the station's inbox or the Qt layer's queued signals, never directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, Protocol

from app.accounts.authority import NotPermitted, protected_actions
from app.accounts.roles import Action
from app.accounts.store import Account
from app.domain.alarms import Alarm, AlarmTransition
from app.domain.chair import ChairState
from app.domain.commands import CheckIn, Command, RecordAlarm, ResumeInfusion
from app.domain.decide import CommandRefused, GuardFailure
from app.domain.events import SignOff
from app.domain.phase import Phase
from app.station.alarms import ChairAlarms
from app.station.history import PumpHistory
from app.station.pump import PumpDebounce, PumpLink, is_late
from app.store.journal import JournalError
from drivers.base import LinkState, LinkStatus, PumpDriver, Telemetry

if TYPE_CHECKING:
    from app.domain.alarms import AlarmPolicy
    from app.domain.clock import Clock
    from app.floor import Floor

log = logging.getLogger(__name__)

PUMP_ACTOR = "pump"  # pump-documented entries when no nurse is identified at the station
SYSTEM_ACTOR = "system"  # alarms raised and cleared by the rules


class ChairListener(Protocol):
    """What the Qt layer (or any other face) hears from a chair."""

    def changed(self) -> None: ...
    def telemetry(self, t: Telemetry) -> None: ...
    def link(self, link: LinkState) -> None: ...
    def alarms_changed(self) -> None: ...
    def message(self, text: str) -> None: ...


class QuietListener:
    """Nobody listening (a headless station); messages go to the log."""

    def changed(self) -> None:
        pass

    def telemetry(self, t: Telemetry) -> None:
        pass

    def link(self, link: LinkState) -> None:
        pass

    def alarms_changed(self) -> None:
        pass

    def message(self, text: str) -> None:
        log.info("%s", text)


def no_nurse() -> CommandRefused:
    return CommandRefused(
        [GuardFailure("no_nurse", "Nobody is identified: enter your initials or scan your badge")],
        overridable=False,
    )


class ChairHost(Protocol):
    """What a chair needs from the station that holds it, and no more (the station is one; a chair
    never reaches the other chairs, the accounts store or the station's services)."""

    floor: Floor
    clock: Clock
    nurse: str  # who signs the next entry (changes as nurses sign in and out)
    alarm_policy: AlarmPolicy
    journal_loss: str  # the journal lost entries its witness holds ('' when not): an alarm at the chair

    @property
    def display_tz(self) -> tzinfo:
        """The station's display zone (the floor's: its configuration's display_tz, else this
        computer's zone by its name)."""
        ...

    def now(self) -> datetime: ...

    def post(self, chair: ChairSession, pump: PumpLink, item: Telemetry | LinkState) -> None:
        """From a driver's thread: hand the reading to the owner's thread."""
        ...

    def authorize(self, actions: Sequence[Action], cosigner: Account | None = None) -> SignOff | None: ...


class ChairSession:
    def __init__(self, host: ChairHost, name: str) -> None:
        self.host = host
        self.name = name
        self.listener: ChairListener = QuietListener()
        self.pump: PumpLink | None = None
        self.pump_configured: Mapping[str, Any] | None = None
        self.telemetry: Telemetry | None = None
        self.history = PumpHistory()
        self.debounce = PumpDebounce(host.alarm_policy)
        self.alarms = ChairAlarms(host.alarm_policy)
        self.journal_problem = ""
        self._last_seq_emitted = -1
        self._session_id: str | None = None
        self._judged_at: datetime | None = None  # the latest moment the alarms were judged at
        self.sync()

    # ------------------------------------------------------------------------------------------
    # What the faces read

    @property
    def state(self) -> ChairState | None:
        return self.host.floor.session_for_chair(self.name)

    @property
    def link(self) -> LinkState | None:
        return self.pump.state if self.pump is not None else None

    @property
    def has_pump(self) -> bool:
        return self.pump is not None

    @property
    def pump_connected(self) -> bool:
        return self.pump is not None and self.pump.connected

    @property
    def link_lost_since(self) -> datetime | None:
        return self.pump.lost_since if self.pump is not None else None

    def now(self) -> datetime:
        return self.host.now()

    # ------------------------------------------------------------------------------------------
    # The pump

    def attach_driver(
        self,
        config: Mapping[str, Any],
        on_telemetry: Callable[[Telemetry], None] | None = None,
        on_link_state: Callable[[LinkState], None] | None = None,
    ) -> PumpDriver:
        """Open and start the chair's pump driver. The callbacks run on the driver's thread and must
        hand over to the owner's thread (default: the station's inbox)."""
        self.detach_driver()
        pump = PumpLink(config, self.now)
        self.pump = pump
        self.pump_configured = dict(config)
        telemetry_cb = on_telemetry or (lambda t: self.host.post(self, pump, t))
        link_cb = on_link_state or (lambda link: self.host.post(self, pump, link))
        try:
            return pump.start(telemetry_cb, link_cb, self.host.clock.now)
        except BaseException:
            self.pump = None
            raise

    def detach_driver(self) -> None:
        pump, self.pump = self.pump, None
        if pump is not None:
            pump.stop()

    def on_link(self, link: LinkState, pump: PumpLink | None = None) -> None:
        if self.pump is None or (pump is not None and pump is not self.pump):
            return  # from a driver since detached
        was = self.pump.state.status if self.pump.state is not None else None
        self.pump.update(link)
        if link.status is not was:
            log.info("%s: pump link %s: %s", self.name, link.status.value, link.reason)
            session_id = state.session_id if (state := self.state) is not None else None
            self.host.floor.journal.recorder.record_link(self.name, session_id, self.now(), link)
        self.listener.link(link)
        self.evaluate_alarms(self.now())

    def on_reading(self, t: Telemetry) -> list[Command]:
        """The commands that document what the pump did (pure decision; nothing is run)."""
        return self.debounce.on_reading(self.state, t)

    def receive(self, t: Telemetry, pump: PumpLink | None = None) -> None:
        """A reading from the chair's driver, on the owner's thread."""
        if self.pump is None or (pump is not None and pump is not self.pump):
            return  # a reading queued before the driver was detached
        if is_late(t, self.telemetry, self.state):
            # Taken before the reading the chair holds or the last entry that set the pump (delivered
            # late under load): it says nothing about the pump now, so it documents nothing and judges
            # no alarm. Not stored either: the store keeps the pump's changes in the order it made them,
            # compared with its last sample; what is stored after it supersedes it, and an older one
            # would make the next comparison (and the lost-link row) describe the past.
            log.debug("%s: a reading taken at %s arrived after a newer one: set aside", self.name, t.at)
            return
        self.telemetry = t
        self.history.append(t.at.timestamp(), t.rate_ml_h, t.volume_infused_ml)
        self._store_telemetry(t)
        self._document(self.on_reading(t))
        self.listener.telemetry(t)
        self.evaluate_alarms(t.at)
        self.sync()

    def _store_telemetry(self, t: Telemetry) -> None:
        session_id = state.session_id if (state := self.state) is not None else None
        self.host.floor.journal.recorder.record_telemetry(self.name, session_id, t, self.link)

    def _document(self, commands: list[Command]) -> None:
        seen = self.debounce.documented
        for command in commands:
            try:
                self.run(command, self.host.nurse or PUMP_ACTOR)
                log.info("%s: documented from the pump: %s", self.name, type(command).__name__)
            except CommandRefused as refused:
                kind = seen.kind if seen is not None else "change"
                self.listener.message(f"{self.name}: the pump {kind} was not documented: {refused}")
            except JournalError:
                self.debounce.reset()  # try again on the next reading
            if isinstance(command, ResumeInfusion) and seen is not None and seen.kind == "running":
                resumed = self.state
                if resumed is not None and not self.host.alarm_policy.same_rate(
                    resumed.pump_rate_ml_h, seen.rate_ml_h
                ):
                    self.debounce.reset()  # the rate goes in on the next poll

    # ------------------------------------------------------------------------------------------
    # Commands

    def execute(
        self, command: Command, actor: str | None = None, cosigner: Account | None = None
    ) -> ChairState:
        """Run a nurse's command as the station's current nurse (or `actor`). Raises CommandRefused
        (with the reason and whether an override may pass it; NotPermitted when the signed-in role may
        not do it without a `cosigner`) or JournalError (nothing recorded)."""
        if isinstance(command, CheckIn) and command.chair != self.name:
            raise ValueError(f"check-in for {command.chair} sent to {self.name}")
        if actor is not None:
            return self.run(command, actor)
        actor = self.host.nurse
        signoff = self.host.authorize(protected_actions(command, self.state, actor), cosigner)
        return self.run(command, actor, signoff)

    def run(self, command: Command, actor: str, signoff: SignOff | None = None) -> ChairState:
        if not actor.strip():
            refused = no_nurse()
            self.listener.message(f"{self.name}: not recorded. {refused}")
            raise refused
        floor = self.host.floor
        state = floor.session_for_chair(self.name)
        try:
            if isinstance(command, CheckIn):
                new_state = floor.check_in(command, actor, signoff)
            else:
                if state is None:
                    raise CommandRefused(
                        [GuardFailure("no_session", f"{self.name} has no patient checked in")],
                        overridable=False,
                    )
                new_state = floor.execute(state.session_id, command, actor, signoff)
        except CommandRefused as refused:
            self.listener.message(f"{self.name}: not recorded. {refused}")
            raise
        except JournalError as exc:
            self._journal_failed(exc)
            raise
        if self.journal_problem:
            self.journal_problem = ""
            self.listener.alarms_changed()
        self.sync(new_state)
        if not isinstance(command, RecordAlarm):
            self.evaluate_alarms(self.now())
        return new_state

    def _journal_failed(self, exc: JournalError) -> None:
        text = f"{self.name}: NOT RECORDED, the record cannot be written: {exc}"
        log.error("%s", text)
        first = not self.journal_problem
        self.journal_problem = str(exc)
        self.listener.message(text)
        if first:
            self.listener.alarms_changed()

    def sync(self, state: ChairState | None = None) -> None:
        """Tell `changed` when the session moved (by us, a dialog, or anything else on the floor)."""
        state = state if state is not None else self.state
        seq = state.last_seq if state is not None else 0
        session_id = state.session_id if state is not None else None
        if session_id != self._session_id:
            self._session_id = session_id
            self.history.clear()
            for point in self.host.floor.journal.recorder.plot_points(self.name, session_id) if state else ():
                self.history.append(*point)  # a restart: the plot shows the session's stored readings again
            self.debounce.reset()
            restored = state.alarms.values() if state is not None else ()
            self.alarms = ChairAlarms(self.host.alarm_policy, restored)
            self._last_seq_emitted = -1
        if seq != self._last_seq_emitted:
            self._last_seq_emitted = seq
            self.listener.changed()

    # ------------------------------------------------------------------------------------------
    # Alarms (rules and board: app.domain.alarms; the loop: app.station.alarms)

    @property
    def active_alarms(self) -> list[Alarm]:
        return self.alarms.board.active()

    def escalated_alarms(self, now: datetime | None = None) -> list[Alarm]:
        return self.alarms.board.escalated(now or self.now())

    def acknowledge(
        self,
        alarm_id: str,
        by: str | None = None,
        cosigner: Account | None = None,
        via: tuple[str, str] | None = None,
    ) -> None:
        """Acknowledge as the nurse at the station, or as `by` (the charge nurse on the floor's
        overview, whose role the caller checked; `via`: (overview, command id), journaled with it);
        journaled with that identity; refused when nobody is identified. At the station an escalated
        alarm needs a charge nurse (or one co-signing)."""
        nurse = self.host.nurse if by is None else by.strip()
        signoff: SignOff | None = None
        if by is None:
            escalated = any(a.id == alarm_id for a in self.escalated_alarms())
            actions = (
                [Action.CHAIR_ENTRY, Action.ACKNOWLEDGE_ESCALATION] if escalated else [Action.CHAIR_ENTRY]
            )
            try:
                signoff = self.host.authorize(actions, cosigner)
            except NotPermitted as refused:
                self.listener.message(f"{self.name}: not acknowledged. {refused}")
                raise
        if not nurse:
            self.listener.message(f"{self.name}: identify yourself before acknowledging an alarm")
            raise no_nurse()
        for transition in self.alarms.board.acknowledge(alarm_id, nurse, self.now()):
            self._journal_alarm(transition, signoff, via)
        self.listener.alarms_changed()

    def pause_audio(self) -> None:
        self.alarms.board.pause_audio(self.now())
        self.listener.alarms_changed()

    def tick(self, now: datetime) -> None:
        self.sync()
        self.evaluate_alarms(now)

    def evaluate_alarms(self, now: datetime) -> None:
        """Judge the rules at `now`, or at the latest moment already judged: never back in time (a
        reading taken before the station's last tick must not clear what the clock raised)."""
        if self._judged_at is not None and now < self._judged_at:
            now = self._judged_at
        self._judged_at = now
        transitions = self.alarms.update(
            now,
            self.name,
            self.state,
            self.telemetry,
            self.pump,
            storage_problem=self.host.floor.journal.storage_problem(self.name),
            journal_loss=self.host.journal_loss,
            display_tz=self.host.display_tz,
        )
        for transition in transitions:
            self._journal_alarm(transition)
        if transitions:
            self.listener.alarms_changed()

    def _journal_alarm(
        self,
        transition: AlarmTransition,
        signoff: SignOff | None = None,
        via: tuple[str, str] | None = None,
    ) -> None:
        state = self.state
        if state is None or state.phase is Phase.EMPTY:
            return  # no session to journal it with (an idle chair's pump link)
        command = transition.command()
        if via is not None:
            command = replace(command, overview=via[0], command_id=via[1])
        try:
            self.run(command, transition.by or SYSTEM_ACTOR, signoff)
            log.info("%s: alarm %s: %s", self.name, transition.kind, transition.alarm.rule)
        except CommandRefused as refused:
            log.warning("%s: alarm not journaled: %s", self.name, refused)
        except JournalError:
            pass  # already reported by run


__all__ = ["PUMP_ACTOR", "SYSTEM_ACTOR", "ChairListener", "ChairSession", "LinkStatus", "QuietListener"]
