"""Pump drivers: one package per wire protocol, found by name.

A chair's configuration names its pump's protocol and port, e.g.
``{protocol = "alaris", url = "/dev/ttyUSB3"}`` (+ optional ``poll_interval_s``, ``quiet_time_s``,
``handshake``, ``reply_timeout_s``, ``reconnect_max_s``); `open_driver` builds the driver for it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from drivers.base import (
    AlarmKind,
    Clock,
    ConfigError,
    DeliveryState,
    DriverError,
    LinkState,
    LinkStateCallback,
    LinkStatus,
    PumpAlarm,
    PumpDriver,
    PumpIdentity,
    Telemetry,
    TelemetryCallback,
    utc_now,
)

DriverFactory = Callable[..., PumpDriver]
"""``factory(config, *, on_telemetry, on_link_state, clock) -> PumpDriver``."""

_BUILTIN: dict[str, str] = {"alaris": "drivers.alaris.driver:AlarisDriver.from_config"}
_registered: dict[str, DriverFactory] = {}


def register_driver(name: str, factory: DriverFactory) -> None:
    _registered[name.lower()] = factory


def available_protocols() -> list[str]:
    return sorted(set(_BUILTIN) | set(_registered))


def driver_for(name: str) -> DriverFactory:
    """The factory for protocol ``name``; ConfigError naming the known ones if there is none."""
    key = str(name).strip().lower()
    if key in _registered:
        return _registered[key]
    if key in _BUILTIN:
        module_name, _, attribute = _BUILTIN[key].partition(":")
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
        factory: DriverFactory = target
        _registered[key] = factory
        return factory
    raise ConfigError(f"unknown pump protocol {name!r}; known protocols: {', '.join(available_protocols())}")


def open_driver(
    config: Mapping[str, Any],
    *,
    on_telemetry: TelemetryCallback,
    on_link_state: LinkStateCallback,
    clock: Clock = utc_now,
) -> PumpDriver:
    """Build (not start) the driver a chair's pump configuration asks for. Call ``start()`` on it."""
    if "protocol" not in config:
        raise ConfigError(f"pump configuration has no protocol; known: {', '.join(available_protocols())}")
    factory = driver_for(config["protocol"])
    return factory(config, on_telemetry=on_telemetry, on_link_state=on_link_state, clock=clock)


__all__ = [
    "AlarmKind",
    "Clock",
    "ConfigError",
    "DeliveryState",
    "DriverError",
    "DriverFactory",
    "LinkState",
    "LinkStatus",
    "PumpAlarm",
    "PumpDriver",
    "PumpIdentity",
    "Telemetry",
    "available_protocols",
    "driver_for",
    "open_driver",
    "register_driver",
    "utc_now",
]
