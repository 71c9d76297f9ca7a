"""A chair's recent pump readings for the live plot: a preallocated ring buffer (numpy, no Qt)."""

from __future__ import annotations

import numpy as np


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
