"""Loads the alarm policy (resources/alarms.toml). File I/O lives here, out of app.domain."""

from __future__ import annotations

import tomllib
from pathlib import Path

from app.domain.alarms import AlarmPolicy, AlarmPolicyError
from app.resources import resource_path


def load_alarm_policy(path: Path | None = None) -> AlarmPolicy:
    """The policy from `path` (default: the shipped resources/alarms.toml).

    A bad file raises AlarmPolicyError naming the file and the field."""
    path = path or resource_path("alarms.toml")
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise AlarmPolicyError(path.name, "(file)", f"is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise AlarmPolicyError(path.name, "(file)", f"cannot be read: {exc.strerror or exc}") from exc
    return AlarmPolicy.from_mapping(data, path.name)
