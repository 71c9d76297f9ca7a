"""The station: every chair of the floor, the nurse identified at it, and the tick.

`tick(now)` drives the countdowns and the time-based alarms from the injected clock. Without Qt, the
drivers' callbacks land in the station's inbox (thread-safe) and `process(timeout)` hands them to
their chairs on the owner's thread; the Qt layer routes them through queued signals instead.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, tzinfo
from typing import Any

from app.accounts.authority import authorize
from app.accounts.roles import Action
from app.accounts.store import Account, AccountStore
from app.alarm_policy import load_alarm_policy
from app.domain.alarms import AlarmPolicy
from app.domain.clock import Clock
from app.domain.clock_face import ClockFace
from app.domain.events import EventType, SignOff
from app.floor import Floor
from app.station.config import MAX_CHAIRS
from app.station.pump import PumpLink
from app.station.session import ChairSession
from drivers.base import LinkState, Telemetry

log = logging.getLogger(__name__)


def chair_names(count: int) -> list[str]:
    if not 1 <= count <= MAX_CHAIRS:
        raise ValueError(f"a floor has 1 to {MAX_CHAIRS} chairs, not {count}")
    return [f"Chair {n}" for n in range(1, count + 1)]


class Station:
    def __init__(
        self,
        floor: Floor,
        chairs: int | Sequence[str] = 6,
        clock: Clock | None = None,
        *,
        alarm_policy: AlarmPolicy | None = None,
        accounts: AccountStore | None = None,
    ) -> None:
        self.floor = floor
        self.clock: Clock = clock or floor.clock
        self.nurse = ""  # who signs the next entry: the signed-in account's ID (initials without accounts)
        # With accounts (every station started from its database) the signed-in account signs every
        # entry and roles are enforced (app.accounts); without (bare stations in tests) initials as before.
        self.accounts = accounts
        self.signed_in: Account | None = None
        self.alarm_policy: AlarmPolicy = alarm_policy or load_alarm_policy()  # loaded once, handed down
        floor.journal.recorder.same_rate_ml_h = self.alarm_policy.same_rate_ml_h
        names = chair_names(chairs) if isinstance(chairs, int) else list(chairs)
        if not 1 <= len(names) <= MAX_CHAIRS:
            raise ValueError(f"a floor has 1 to {MAX_CHAIRS} chairs, not {len(names)}")
        if len(set(names)) != len(names):
            raise ValueError("two chairs have the same name")
        self._inbox: queue.SimpleQueue[tuple[ChairSession, PumpLink, Telemetry | LinkState]] = (
            queue.SimpleQueue()
        )
        self.chairs: list[ChairSession] = [ChairSession(self, name) for name in names]
        self._by_name = {c.name: c for c in self.chairs}
        self.tick_hooks: list[Callable[[datetime], None]] = []
        self.service_warnings: dict[str, str] = {}
        """What a service beside the chairs needs someone to see (the HL7 feed's set-aside messages), one
        line per service: the status bar and the floor's station status show them."""
        self.journal_loss = ""
        """Set when the floor's broker holds a signed anchor of this station that the journal no longer
        has (app.station.anchor_check): a high technical alarm at every chair with a session in progress."""
        self.handoff: Callable[[ChairSession, PumpLink, Telemetry | LinkState], None] = self._enqueue
        """How a driver's callback reaches the owner's thread: the inbox (see `process`) by default;
        the Qt layer puts a queued signal here."""

    def chair(self, name_or_index: str | int) -> ChairSession:
        """A chair by name ("Chair 3") or by 1-based number."""
        if isinstance(name_or_index, int):
            return self.chairs[name_or_index - 1]
        return self._by_name[name_or_index]

    def set_nurse(self, initials: str) -> bool:
        """Identify the nurse at the station; True when it changed. With accounts, for code (tests, the
        demo): the ID must be an enabled account (the UI signs in with the PIN through `sign_in`)."""
        if self.accounts is not None:
            if not initials.strip():
                return self.sign_out()
            account = self.accounts.require(initials)
            if account.disabled:
                raise ValueError(f"the account {account.id} is disabled")
            return self.sign_in(account)
        initials = initials.strip().upper()
        if initials == self.nurse:
            return False
        self.nurse = initials
        return True

    def sign_in(self, account: Account) -> bool:
        """`account` was checked (PIN or badge) by the caller; it signs every entry from now on."""
        previous = self.signed_in
        if previous is not None and previous.id != account.id and self.accounts is not None:
            self.accounts.record(
                EventType.SIGNED_OUT, previous.id, {"account": previous.id, "by": account.id}
            )
        changed = previous is None or previous.id != account.id
        self.signed_in, self.nurse = account, account.id
        return changed

    def sign_out(self) -> bool:
        account, self.signed_in = self.signed_in, None
        self.nurse = ""
        if account is not None and self.accounts is not None:
            self.accounts.record(EventType.SIGNED_OUT, account.id, {"account": account.id})
        return account is not None

    @contextmanager
    def acting_as(self, account: Account) -> Iterator[None]:
        """One action by someone identified by badge alone (an alarm acknowledged at a locked station)."""
        previous, nurse = self.signed_in, self.nurse
        self.signed_in, self.nurse = account, account.id
        try:
            yield
        finally:
            self.signed_in, self.nurse = previous, nurse

    def authorize(self, actions: Sequence[Action], cosigner: Account | None = None) -> SignOff | None:
        """The sign-off record for an action by whoever is signed in (see app.accounts.authority)."""
        if self.accounts is None:
            return None
        return authorize(self.signed_in, actions, cosigner)

    @property
    def display_tz(self) -> tzinfo:
        """The zone the screens, refusals and alarm texts show: the floor's (the configuration's
        display_tz; by default this computer's zone under its IANA name)."""
        return self.floor.display_tz

    @display_tz.setter
    def display_tz(self, zone: tzinfo) -> None:
        self.floor.display_tz = zone

    @property
    def face(self) -> ClockFace:
        """The station's clock face: every time a person reads at this station."""
        return self.floor.face

    def now(self) -> datetime:
        return self.clock.now()

    def attach_pumps(self, pumps: Mapping[str, Mapping[str, Any]]) -> None:
        """Attach every configured pump ({chair name: driver config}); an unknown chair is an error."""
        unknown = sorted(set(pumps) - set(self._by_name))
        if unknown:
            raise ValueError(f"pumps configured for chairs not on this floor: {', '.join(unknown)}")
        for name, config in pumps.items():
            self._by_name[name].attach_driver(config)

    # ------------------------------------------------------------------------------------------
    # Without Qt: the drivers' callbacks queue here

    def post(self, chair: ChairSession, pump: PumpLink, item: Telemetry | LinkState) -> None:
        """From a driver's thread."""
        self.handoff(chair, pump, item)

    def _enqueue(self, chair: ChairSession, pump: PumpLink, item: Telemetry | LinkState) -> None:
        self._inbox.put((chair, pump, item))

    @staticmethod
    def deliver(chair: ChairSession, pump: PumpLink, item: Telemetry | LinkState) -> None:
        """On the owner's thread: a reading or a link change to its chair."""
        if isinstance(item, Telemetry):
            chair.receive(item, pump)
        else:
            chair.on_link(item, pump)

    def process(self, timeout: float = 0.0) -> int:
        """Hand queued readings and link changes to their chairs (waiting up to `timeout` for the
        first). Returns how many were handled."""
        handled = 0
        block = timeout > 0
        while True:
            try:
                chair, pump, item = self._inbox.get(block=block, timeout=timeout if block else None)
            except queue.Empty:
                return handled
            block = False
            handled += 1
            self.deliver(chair, pump, item)

    def tick(self, now: datetime | None = None) -> datetime:
        now = now or self.now()
        for hook in self.tick_hooks:
            hook(now)
        for chair in self.chairs:
            chair.tick(now)
        self.floor.journal.recorder.housekeeping(now)  # at most hourly: compaction and retention
        return now

    def close(self) -> None:
        for chair in self.chairs:
            chair.detach_driver()
