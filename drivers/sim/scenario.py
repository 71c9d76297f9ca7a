"""Scripts of the nurse's hands (and of line faults), replayed on a simulated pump.

A scenario is a TOML file of steps, each at a simulated time::

    name = "Ocrevus 600 mg"
    [[steps]]
    at_min = 0
    do = "change_bag"
    volume_ml = 500

Actions: set_rate(ml_h), set_vtbi(ml, end_action), start, pause, resume, stop, change_bag(volume_ml,
vtbi_ml), clear_volume, raise_alarm(alarm), clear_alarm(alarm), power_cycle(new_serial, off_s), and
fault(kind, ...) with the kinds of `PumpServer.inject` (durations in real seconds). Built-in scenarios
live in ``drivers/sim/scenarios/``.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from drivers.sim.pump import MAX_RATE_ML_H, PumpOperationError, SimAlarm, SimulatedPump
from drivers.sim.responder import FAULT_KINDS
from drivers.sim.server import PumpServer

log = logging.getLogger(__name__)

SCENARIO_DIR = Path(__file__).with_name("scenarios")

# action -> (required parameters, optional parameters)
ACTIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "set_rate": (frozenset({"ml_h"}), frozenset()),
    "set_vtbi": (frozenset({"ml"}), frozenset({"end_action"})),
    "start": (frozenset(), frozenset()),
    "pause": (frozenset(), frozenset()),
    "resume": (frozenset(), frozenset()),
    "stop": (frozenset(), frozenset()),
    "change_bag": (frozenset({"volume_ml"}), frozenset({"vtbi_ml"})),
    "clear_volume": (frozenset(), frozenset()),
    "raise_alarm": (frozenset({"alarm"}), frozenset()),
    "clear_alarm": (frozenset({"alarm"}), frozenset()),
    "power_cycle": (frozenset(), frozenset({"new_serial", "off_s"})),
    "fault": (frozenset({"kind"}), frozenset({"count", "size", "delay_s", "duration_s", "rate", "volume"})),
}
FAULTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "bad_crc": (frozenset(), frozenset({"count"})),
    "garbage": (frozenset(), frozenset({"count", "size"})),
    "slow": (frozenset({"delay_s"}), frozenset({"duration_s"})),
    "silence": (frozenset({"duration_s"}), frozenset()),
    "disconnect": (frozenset({"duration_s"}), frozenset()),
    "implausible": (frozenset(), frozenset({"count", "rate", "volume"})),
}
_TIME_SCALED = ("delay_s", "duration_s")

MAX_BAG_ML = 10_000.0  # no infusion bag holds 10 L
MAX_SCENARIO_S = 7 * 24 * 3600.0
# parameter -> (lowest, highest, lowest excluded) for numbers; (lowest, highest) for whole numbers
_NUMBERS: dict[str, tuple[float, float, bool]] = {
    "ml_h": (0.0, MAX_RATE_ML_H, True),
    "ml": (0.0, MAX_BAG_ML, True),
    "volume_ml": (0.0, MAX_BAG_ML, True),
    "vtbi_ml": (0.0, MAX_BAG_ML, True),
    "off_s": (0.0, 3600.0, False),
    "delay_s": (0.0, 60.0, False),
    "duration_s": (0.0, 3600.0, False),
}
_WHOLE: dict[str, tuple[int, int]] = {"count": (1, 10_000), "size": (1, 65_536)}
_TEXT = frozenset({"end_action", "alarm", "kind", "new_serial", "note", "rate", "volume"})
# "rate" and "volume" of the implausible fault are the raw text put on the wire ("-250", "nan")


def _param_problem(key: str, value: Any) -> str | None:
    """Why a step's parameter value is unusable, or None."""
    if key in _TEXT:
        return None if isinstance(value, str) and value.strip() else f"must be a text, not {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, not {value!r}"
    if key in _WHOLE:
        low_whole, high_whole = _WHOLE[key]
        if not isinstance(value, int) or not low_whole <= value <= high_whole:
            return f"must be a whole number from {low_whole} to {high_whole}, not {value!r}"
        return None
    low, high, above = _NUMBERS[key]
    if not math.isfinite(value) or value > high or value < low or (above and value == low):
        lower = f"above {low:g}" if above else f"from {low:g}"
        return f"must be a number {lower} to {high:g}, not {value!r}"
    return None


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Step:
    at_s: float
    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.at_s / 60:g} min {self.action}({args})" + (f"  # {self.note}" if self.note else "")


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    description: str = ""
    source: str = ""

    @property
    def duration_s(self) -> float:
        return self.steps[-1].at_s if self.steps else 0.0

    @property
    def needs_server(self) -> bool:
        return any(step.action == "fault" for step in self.steps)


def _parse_step(index: int, raw: Mapping[str, Any], where: str) -> Step:
    entry = dict(raw)
    action = entry.pop("do", None)
    if not isinstance(action, str) or action not in ACTIONS:  # a list or a table is no action either
        raise ScenarioError(f"{where} step {index}: unknown action {action!r}; known: {', '.join(ACTIONS)}")
    note = entry.pop("note", "")
    if not isinstance(note, str):
        raise ScenarioError(f"{where} step {index} ({action}): note must be a text, not {note!r}")
    times = [k for k in ("at_s", "at_min") if k in entry]
    if len(times) != 1:
        raise ScenarioError(f"{where} step {index} ({action}): give exactly one of at_s or at_min")
    at = entry.pop(times[0])
    at_s = float(at) * (60 if times[0] == "at_min" else 1) if isinstance(at, int | float) else math.nan
    if isinstance(at, bool) or not 0 <= at_s <= MAX_SCENARIO_S:
        raise ScenarioError(
            f"{where} step {index} ({action}): time must be a number from 0 to {MAX_SCENARIO_S / 60:g} min, "
            f"not {at!r}"
        )
    required, optional = ACTIONS[action]
    if action == "fault":
        kind = entry.get("kind")
        if not isinstance(kind, str) or kind not in FAULTS:
            raise ScenarioError(
                f"{where} step {index}: unknown fault {entry.get('kind')!r}; known: {FAULT_KINDS}"
            )
        fault_required, fault_optional = FAULTS[entry["kind"]]
        required, optional = required | fault_required, fault_optional
    missing = required - entry.keys()
    unknown = entry.keys() - required - optional
    if missing or unknown:
        raise ScenarioError(
            f"{where} step {index} ({action}): missing {sorted(missing)}, unknown {sorted(unknown)}"
        )
    for key, value in entry.items():
        problem = _param_problem(key, value)
        if problem is not None:
            raise ScenarioError(f"{where} step {index} ({action}): {key} {problem}")
    if action in ("raise_alarm", "clear_alarm"):
        try:
            SimAlarm(entry["alarm"])
        except ValueError:
            known = ", ".join(a.value for a in SimAlarm)
            raise ScenarioError(
                f"{where} step {index}: unknown alarm {entry['alarm']!r}; known: {known}"
            ) from None
    return Step(at_s=at_s, action=action, params=entry, note=note)


def parse_scenario(text: str, where: str = "<scenario>") -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"{where}: {error}") from error
    unknown = data.keys() - {"name", "description", "source", "steps"}
    if unknown:
        raise ScenarioError(
            f"{where}: unknown keys {sorted(unknown)}; known: name, description, source, steps"
        )
    for key in ("name", "description", "source"):
        if key in data and not isinstance(data[key], str):
            raise ScenarioError(f"{where}: {key} must be a text, not {data[key]!r}")
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ScenarioError(f"{where}: no [[steps]]")
    if not all(isinstance(raw, Mapping) for raw in raw_steps):
        raise ScenarioError(f"{where}: every [[steps]] entry must be a table")
    steps = [_parse_step(i + 1, raw, where) for i, raw in enumerate(raw_steps)]
    if any(later.at_s < earlier.at_s for earlier, later in itertools.pairwise(steps)):
        raise ScenarioError(f"{where}: steps must be in time order")
    return Scenario(
        name=str(data.get("name", where)),
        steps=tuple(steps),
        description=str(data.get("description", "")),
        source=str(data.get("source", "")),
    )


def builtin_scenarios() -> list[str]:
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A scenario file, or a built-in one by name (``ocrevus-600-mild-reaction``)."""
    path = Path(name_or_path)
    if not path.is_file():
        builtin = SCENARIO_DIR / f"{path.stem if path.suffix == '.toml' else path.name}.toml"
        if not builtin.is_file():
            raise ScenarioError(
                f"no scenario {str(name_or_path)!r}; built in: {', '.join(builtin_scenarios())}"
            )
        path = builtin
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {error.start})") from None
    return parse_scenario(text, str(path))


class ScenarioRunner:
    """Replays a scenario on one pump (and its server, for faults) against the pump's clock.

    Step times count from ``start_s`` on the pump's clock (default: now). Either call `advance_to`
    (moves the clock; tests and fast-forward) or `start` a thread that waits for the clock.
    """

    def __init__(
        self,
        scenario: Scenario,
        pump: SimulatedPump,
        server: PumpServer | None = None,
        *,
        start_s: float | None = None,
        fault_duration_scale: float = 1.0,
        on_step: Callable[[Step], None] | None = None,
    ) -> None:
        if scenario.needs_server and server is None:
            raise ScenarioError(f"scenario {scenario.name!r} injects line faults: give it the pump's server")
        self.scenario = scenario
        self.pump = pump
        self.server = server
        self.start_s = pump.clock.now() if start_s is None else start_s
        self.fault_duration_scale = fault_duration_scale
        self._on_step = on_step
        self._next = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self.done = threading.Event()
        self.failures: list[tuple[Step, str]] = []
        """Steps the pump refused while running on the thread (the thread logs and goes on)."""
        self._thread: threading.Thread | None = None

    @property
    def remaining(self) -> tuple[Step, ...]:
        return self.scenario.steps[self._next :]

    def due_at(self, step: Step) -> float:
        return self.start_s + step.at_s

    def apply(self, step: Step) -> None:
        """Do one step now."""
        params = dict(step.params)
        log.info("scenario %s: %s", self.scenario.name, step)
        if step.action == "fault":
            assert self.server is not None
            for key in _TIME_SCALED:
                if key in params:
                    params[key] = float(params[key]) * self.fault_duration_scale
            self.server.inject(params.pop("kind"), **params)
        else:
            getattr(self.pump, step.action)(**params)
        if self._on_step is not None:
            self._on_step(step)

    def _pop_due(self, t: float) -> Step | None:
        with self._lock:
            if self._next < len(self.scenario.steps) and self.due_at(self.scenario.steps[self._next]) <= t:
                step = self.scenario.steps[self._next]
                self._next += 1
                return step
            return None

    def advance_to(self, scenario_s: float) -> list[Step]:
        """Move the pump's clock to ``scenario_s`` into the scenario, doing each step at its time."""
        done: list[Step] = []
        target = self.start_s + scenario_s
        with self._lock:
            while (step := self._pop_due(target)) is not None:
                self._clock_to(self.due_at(step))
                self.apply(step)
                done.append(step)
            self._clock_to(target)
            if not self.remaining:
                self.done.set()
        return done

    def _clock_to(self, t: float) -> None:
        delta = t - self.pump.clock.now()
        if delta > 0:
            self.pump.clock.advance(delta)

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=f"scenario {self.scenario.name}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        for step in self.remaining:
            if not self.pump.clock.wait_until(self.due_at(step), self._stop):
                return
            if self._pop_due(self.pump.clock.now()) is not step:
                continue  # someone else (advance_to) did it
            try:
                self.apply(step)
            except PumpOperationError as error:
                log.error("scenario %s: %s refused: %s", self.scenario.name, step, error)
                self.failures.append((step, str(error)))
        self.done.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)
