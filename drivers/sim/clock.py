"""Simulated time: seconds since the simulation began, running at any speed, or by hand in tests."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class SimClock(Protocol):
    def now(self) -> float:
        """Simulated seconds."""
        ...

    def advance(self, seconds: float) -> None:
        """Jump forward (fast-forward a pump, or step a test)."""
        ...

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        """Block until ``now() >= t``; False if ``stop`` was set first."""
        ...


class ScaledClock:
    """Real time times ``speed`` (60: one simulated minute per second)."""

    def __init__(self, speed: float = 1.0, start_s: float = 0.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._lock = threading.Lock()
        self._speed = speed
        self._anchor_real = time.monotonic()
        self._anchor_sim = start_s

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        with self._lock:
            real = time.monotonic()
            self._anchor_sim += (real - self._anchor_real) * self._speed
            self._anchor_real = real
            self._speed = speed

    def now(self) -> float:
        with self._lock:
            return self._anchor_sim + (time.monotonic() - self._anchor_real) * self._speed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only goes forward")
        with self._lock:
            self._anchor_sim += seconds

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        while not stop.is_set():
            remaining = (t - self.now()) / self._speed
            if remaining <= 0:
                return True
            stop.wait(min(remaining, 0.5))  # re-read: the speed or an advance may change the answer
        return False


class ManualClock:
    """Time that moves only when told to: a test runs a four-hour infusion in milliseconds."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s
        self._changed = threading.Condition()

    def now(self) -> float:
        with self._changed:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only goes forward")
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def set(self, t: float) -> None:
        with self._changed:
            if t < self._now:
                raise ValueError("time only goes forward")
            self._now = t
            self._changed.notify_all()

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        with self._changed:
            while self._now < t:
                if stop.is_set():
                    return False
                self._changed.wait(0.1)
            return True
