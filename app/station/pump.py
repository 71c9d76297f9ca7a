"""A chair's pump: what its readings mean for the record, and the attachment of its driver.

`observe` turns a reading into what the journal documents (running at a rate, stopped and why,
complete); `command_for` is the command that documents it in the session's phase. `PumpLink` is the
attached driver and the state of its link, with the moment it was lost: the link-lost quiet time
starts when the pump is attached (so an infusing chair whose pump never answers after a restart raises
the alarm too), and again each time a connected link is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.alarms import AlarmPolicy
from app.domain.chair import ChairState
from app.domain.commands import ChangeRate, Command, CompleteInfusion, PauseInfusion, ResumeInfusion
from app.domain.delivery import PUMP_ALARM_REASON
from app.domain.events import EventType
from app.domain.phase import Phase
from drivers.base import DeliveryState, LinkState, LinkStatus, PumpDriver, Telemetry


@dataclass(frozen=True)
class PumpObservation:
    """What the pump is doing, in the words the journal uses."""

    kind: str  # "running" | "stopped" | "complete"
    rate_ml_h: float = 0.0
    reason: str = ""

    def same_as(self, other: PumpObservation | None, policy: AlarmPolicy) -> bool:
        return (
            other is not None
            and other.kind == self.kind
            and policy.same_rate(other.rate_ml_h, self.rate_ml_h)
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
        reason = f"{PUMP_ALARM_REASON}: {texts}" if texts else f"pump {t.state.value}"
        return PumpObservation("stopped", reason=reason)
    return None


_SETS_THE_PUMP = frozenset(
    {
        EventType.INFUSION_STARTED,
        EventType.RATE_CHANGED,
        EventType.INFUSION_PAUSED,
        EventType.INFUSION_RESUMED,
    }
)


def is_late(t: Telemetry, newest: Telemetry | None, state: ChairState | None) -> bool:
    """`t` was taken before the newest reading the chair holds, or before the record last set the pump
    (started, paused, resumed, rate changed): it no longer says what the pump does (delivered late)."""
    if newest is not None and t.at < newest.at:
        return True
    entries = state.events if state is not None else ()
    return any(e.type in _SETS_THE_PUMP and t.at < e.at for e in entries)


def command_for(
    state: ChairState, seen: PumpObservation, volume_infused_ml: float, at: datetime, policy: AlarmPolicy
) -> Command | None:
    """The command that documents `seen` (first seen `at`) in the session's phase; None if nothing to.
    A running pump at a rate that is not the same rate (`policy.same_rate`) is a rate change."""
    if state.phase is Phase.INFUSING and seen.kind == "running":
        if policy.same_rate(state.pump_rate_ml_h, seen.rate_ml_h):
            return None
        return ChangeRate(seen.rate_ml_h, source="pump", reason="seen on the pump", at=at)
    return delivery_command_for(state, seen, volume_infused_ml, at)


def delivery_command_for(
    state: ChairState, seen: PumpObservation, volume_infused_ml: float, at: datetime
) -> Command | None:
    """The command that documents a pump stopping, restarting or completing (no rate question)."""
    phase = state.phase
    if phase is Phase.INFUSING:
        if seen.kind == "stopped":
            return PauseInfusion(reason=seen.reason, source="pump", at=at)
        if seen.kind == "complete":
            return CompleteInfusion(source="pump", volume_infused_ml=volume_infused_ml, at=at)
    elif phase is Phase.PAUSED:
        if seen.kind == "running":
            return ResumeInfusion(source="pump", at=at)
        if seen.kind == "complete":
            return CompleteInfusion(source="pump", volume_infused_ml=volume_infused_ml, at=at)
    return None


class PumpDebounce:
    """The one-poll debounce: a change is documented once it held for two readings in a row, with the
    time it was first seen. Remembers what was last acted on, so each change is documented once."""

    def __init__(self, policy: AlarmPolicy) -> None:
        self.policy = policy  # the station's: what counts as the same rate
        self._last_seen: PumpObservation | None = None
        self._last_seen_at: datetime | None = None
        self.documented: PumpObservation | None = None

    def reset(self) -> None:
        self.documented = None

    def on_reading(self, state: ChairState | None, t: Telemetry) -> list[Command]:
        seen = observe(t)
        if seen is None:
            return []
        if not seen.same_as(self._last_seen, self.policy):
            self._last_seen, self._last_seen_at = seen, t.at
            return []  # stable for one poll before it is journaled
        if state is None or seen.same_as(self.documented, self.policy):
            return []
        self.documented = seen
        command = command_for(state, seen, t.volume_infused_ml, self._last_seen_at or t.at, self.policy)
        return [] if command is None else [command]


Now = Callable[[], datetime]


class PumpLink:
    """One chair's attached driver and the state of its link."""

    def __init__(self, config: Mapping[str, Any], now: Now) -> None:
        self.config = dict(config)
        self._now = now
        self.driver: PumpDriver | None = None
        self.state: LinkState | None = None
        self.lost_since: datetime | None = None
        self.faults = 0

    @property
    def url(self) -> str:
        return str(self.config.get("url", ""))

    @property
    def connected(self) -> bool:
        return self.state is not None and self.state.status is LinkStatus.CONNECTED

    def start(
        self,
        on_telemetry: Callable[[Telemetry], None],
        on_link_state: Callable[[LinkState], None],
        driver_clock: Now,
    ) -> PumpDriver:
        """Open and start the driver (see `drivers.open_driver`); the quiet time starts now."""
        from drivers import open_driver

        driver = open_driver(
            self.config, on_telemetry=on_telemetry, on_link_state=on_link_state, clock=driver_clock
        )
        self.driver = driver
        self.state = LinkState(LinkStatus.CONNECTING, f"opening {self.url}")
        self.lost_since = self._now()
        driver.start()
        return driver

    def stop(self) -> None:
        driver, self.driver = self.driver, None
        if driver is not None:
            driver.stop()

    def update(self, link: LinkState) -> None:
        was_connected = self.connected
        self.state = link
        if link.status is LinkStatus.CONNECTED:
            self.lost_since = None
        elif was_connected or self.lost_since is None:
            self.lost_since = self._now()
