"""When an unattended station locks: after `idle_lock_min` without any input (no Qt here; the clock is
injected, the Qt side reports input and asks on every tick)."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.domain.clock import Clock

__all__ = ["DEFAULT_IDLE_LOCK_MIN", "IdleTimer"]

DEFAULT_IDLE_LOCK_MIN = 5.0  # the station configuration's idle_lock_min when it names none


class IdleTimer:
    def __init__(self, clock: Clock, idle_lock_min: float = DEFAULT_IDLE_LOCK_MIN) -> None:
        if idle_lock_min <= 0:
            raise ValueError(f"the idle lock needs a time above 0 minutes, not {idle_lock_min:g}")
        self.clock = clock
        self.idle = timedelta(minutes=idle_lock_min)
        self.last_input = clock.now()

    def input(self) -> None:
        self.last_input = self.clock.now()

    def due(self, now: datetime | None = None) -> bool:
        return (now or self.clock.now()) - self.last_input >= self.idle
