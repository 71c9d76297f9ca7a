"""The sign-in policy's numbers, read from resources/accounts.toml (each table cites its source)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.resources import resource_path


@dataclass(frozen=True)
class ScryptCost:
    n: int
    r: int
    p: int


@dataclass(frozen=True)
class AccountSettings:
    max_failures: int = 5
    lock_min: float = 5.0
    pin_min_digits: int = 6
    pin_cost: ScryptCost = ScryptCost(2**17, 8, 1)

    @classmethod
    def load(cls, path: Path | None = None) -> AccountSettings:
        path = path or resource_path("accounts.toml")
        try:
            with path.open("rb") as handle:
                data: dict[str, Any] = tomllib.load(handle)
            lockout, pin, cost = data["lockout"], data["pin"], data["scrypt"]
            settings = cls(
                max_failures=int(lockout["max_failures"]),
                lock_min=float(lockout["lock_min"]),
                pin_min_digits=int(pin["min_digits"]),
                pin_cost=ScryptCost(int(cost["pin_n"]), int(cost["pin_r"]), int(cost["pin_p"])),
            )
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path.name}: the sign-in policy cannot be read ({exc})") from exc
        if settings.max_failures < 1 or settings.lock_min <= 0 or settings.pin_min_digits < 6:
            raise ValueError(f"{path.name}: max_failures >= 1, lock_min > 0 and min_digits >= 6 are required")
        return settings
