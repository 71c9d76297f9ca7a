"""The demo floor: N simulated pumps on pseudo-terminals, and the nurses' side played through the app.

`Demo` starts one `drivers.sim.SimulatedPump` per chair, served on a pseudo-terminal in this process,
so the production driver reads it over a real tty. The pumps' time is the floor's clock, whatever it
is (a ManualClock in tests, a `SpeedClock` in the GUI), so pump and record never drift apart.

`advance(now)` does every scripted nurse action that is due: check-in, screening, premedication,
starting the pump, following the rate ladder on the pump, reactions (grade 1-2: rate halved; grade 3:
stop, restart at half once resolved; grade 4: discontinued), a pump occlusion, completion and discharge.
Actions go through `Floor.check_in`/`Floor.execute` (so they are journaled and guarded like a
nurse's) and through the simulated pump's control API (the nurse's hands on the pump). What the pump does
by itself (its end of infusion) is documented here too, as the chair controller would from telemetry;
when a controller got there first the command is refused for the phase and skipped.

The first six chairs are timed so that `SHOWCASE_MIN` into the demo the floor has a chair in every
phase; `fast_forward()` gets there at once. No Qt here: the GUI calls `advance` from its tick and
connects drivers to the URLs `start()` returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from app.domain.chair import ChairState
from app.domain.clock import Clock, ManualClock
from app.domain.commands import (
    ChangeRate,
    CheckIn,
    Command,
    Discharge,
    Discontinue,
    GivePremedication,
    Override,
    RecordReaction,
    RecordScreening,
    RecordVitals,
    ResolveSymptoms,
    ResumeInfusion,
    StartInfusion,
)
from app.domain.decide import CommandRefused
from app.domain.phase import Phase
from app.domain.schedule import SegmentKind
from app.floor import Floor
from app.station.config import ChairConfig, PumpConfig, StationConfig
from app.station.pump import PumpObservation, delivery_command_for, observe
from app.store.journal import JournalError
from drivers.base import DeliveryState
from drivers.sim import PumpServer, SimAlarm, SimulatedPump, SimulatorFleet
from drivers.sim.pump import PumpSnapshot
from drivers.sim.responder import WireSpy, telemetry_of

log = logging.getLogger(__name__)

RATE_EPSILON_ML_H = 0.05
BAG_OVERFILL_ML = 25.0  # a bag holds a little more than its labelled volume; the pump's VTBI is the label
NURSES = ("AB", "CD", "EF")
PATIENTS = ("JD", "MK", "AL", "TS", "RB", "CH", "PW", "EN", "GF", "LO", "SV", "DM")
DISCHARGE_VITALS = {"systolic_mmhg": 124.0, "heart_rate_bpm": 74.0, "spo2_percent": 98.0}
SIGNS = {
    1: ("pruritus",),
    2: ("flushing", "throat irritation"),
    3: ("rigors", "dyspnea"),  # no sign of anaphylaxis: those discontinue at any grade (issue 16)
    4: ("anaphylaxis", "hypotension"),
}


@dataclass(frozen=True)
class Script:
    """What happens at one chair. Minutes count from the infusion start unless said otherwise."""

    protocol_id: str
    begins_at_min: float = 0.0  # check-in, from the demo's start
    reaction_grade: int | None = None
    reaction_at_min: float = 0.0
    resolved_after_min: float = 25.0  # grade 3: symptoms resolve, the infusion restarts at half the rate
    step_delay_min: float = 0.0  # how late this nurse makes the step-ups
    occlusion_at_min: float | None = None
    occlusion_for_min: float = 4.0
    # minutes after check-in / after the event
    screening_after_min: float = 10.0
    premedication_after_min: float = 12.0
    start_after_ready_min: float = 2.0
    stop_pump_after_min: float = 2.0  # after the end of infusion: the nurse disconnects the line
    discharge_after_min: float = 3.0  # after the observation ends
    discharge_after_discontinued_min: float = 45.0


# The first chairs show one of each course, timed so that SHOWCASE_MIN after the start the floor has
# a chair in every phase (infusing, premedication, stopped for a grade 3 reaction, discontinued after a
# grade 4, screening, observation). Grade 3 and grade 4 happen once on the floor.
SHOWCASE_MIN = 150.0
FIRST_SCRIPTS = (
    Script("ocrevus-600-subsequent", begins_at_min=0, reaction_grade=2, reaction_at_min=75),
    Script("ocrevus-300-initial", begins_at_min=120, step_delay_min=7),
    Script("ocrevus-600-subsequent", begins_at_min=46, reaction_grade=3, reaction_at_min=50),
    Script("ocrevus-300-initial", begins_at_min=40, reaction_grade=4, reaction_at_min=40),
    Script("ocrevus-600-short", begins_at_min=145, occlusion_at_min=45),
    Script("natalizumab-300", begins_at_min=30),
)
MORE_SCRIPTS = (
    Script("ocrevus-600-subsequent"),
    Script("ocrevus-300-initial", reaction_grade=2, reaction_at_min=65),
    Script("natalizumab-300"),
    Script("ocrevus-600-short"),
    Script("ocrevus-600-subsequent", reaction_grade=1, reaction_at_min=95),
)


def script_for(index: int, stagger_min: float = 20.0) -> Script:
    """Chair `index`'s script (0-based). Chairs after the first six start `stagger_min` apart over
    four hours, so a large floor is spread over every phase too."""
    if index < len(FIRST_SCRIPTS):
        return FIRST_SCRIPTS[index]
    extra = index - len(FIRST_SCRIPTS)
    script = MORE_SCRIPTS[extra % len(MORE_SCRIPTS)]
    return replace(script, begins_at_min=(extra * stagger_min) % 240.0)


class SpeedClock:
    """The floor's clock for the GUI demo: wall time running `speed` times faster from `start`."""

    def __init__(
        self,
        speed: float = 1.0,
        start: datetime | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = start or datetime.now(UTC)
        if self._start.tzinfo is None:
            raise ValueError("SpeedClock needs a timezone-aware start")
        self._monotonic = monotonic
        self._anchor = monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(self._monotonic() - self._anchor) * self.speed)

    def advance(self, *, minutes: float = 0.0, seconds: float = 0.0) -> datetime:
        """Jump forward (the demo's fast-forward to a busy floor)."""
        jump = timedelta(minutes=minutes, seconds=seconds)
        if jump < timedelta(0):
            raise ValueError("time only goes forward")
        self._start += jump
        return self.now()


def _advance_clock(clock: Clock, seconds: float) -> None:
    if not isinstance(clock, ManualClock | SpeedClock):
        raise ValueError(f"a {type(clock).__name__} cannot be moved on by hand")
    clock.advance(seconds=seconds)


class PumpClock:
    """drivers.sim's clock protocol (seconds) read from the floor's clock, so the pumps share its time."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._epoch = clock.now()

    def now(self) -> float:
        return (self._clock.now() - self._epoch).total_seconds()

    def advance(self, seconds: float) -> None:
        _advance_clock(self._clock, seconds)

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        while not stop.is_set():
            if self.now() >= t:
                return True
            stop.wait(0.05)
        return False


@dataclass
class DemoChair:
    name: str
    index: int
    script: Script
    begins_at: datetime
    pump: SimulatedPump
    url: str = ""
    session_id: str = ""
    nurse: str = "AB"
    done: bool = False
    final_phase: Phase | None = None
    reacted: bool = False
    occluded_at: datetime | None = None
    occlusion_cleared: bool = False
    pump_stopped_after_end: bool = False
    actions: list[str] = field(default_factory=list)


DEMO_MRN_PREFIX = "DEMO-"
DEMO_ACTOR = "demo"


class DemoChairOccupied(RuntimeError):
    """A chair the demo would use holds a real patient's open session."""


class Demo:
    def __init__(
        self,
        floor: Floor,
        clock: Clock | None = None,
        chairs: int = 6,
        speed: float = 1.0,
        *,
        stagger_min: float = 20.0,
        chair_names: Sequence[str] | None = None,
    ) -> None:
        """`clock` is the floor's clock (default floor.clock); `speed` is how fast it runs against
        wall time (1 for a ManualClock), kept for the GUI to pace its tick."""
        if chairs < 1:
            raise ValueError("a demo needs at least one chair")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.floor = floor
        self.clock: Clock = clock or floor.clock
        self.speed = speed
        names = list(chair_names) if chair_names is not None else [f"Chair {n}" for n in range(1, chairs + 1)]
        if len(names) != chairs:
            raise ValueError(f"{chairs} chairs but {len(names)} names")
        self._pump_clock = PumpClock(self.clock)
        start = self.clock.now()
        self.chairs = [
            DemoChair(
                name=name,
                index=i,
                script=(script := script_for(i, stagger_min)),
                begins_at=start + timedelta(minutes=script.begins_at_min),
                pump=SimulatedPump(f"8002-{51740 + i}", clock=self._pump_clock),
                nurse=NURSES[i % len(NURSES)],
            )
            for i, name in enumerate(names)
        ]
        for chair in self.chairs:
            if chair.script.protocol_id not in floor.protocols:
                raise ValueError(
                    f"demo script needs protocol {chair.script.protocol_id!r}, not in the library"
                )
        self._fleet: SimulatorFleet | None = None
        self._storage_problem = ""  # the last write failure, logged once

    # ------------------------------------------------------------------------------------------

    def release_leftovers(self) -> list[str]:
        """Close the sessions a previous demo run left open on this demo's chairs (patients with a
        DEMO- MRN), with journaled entries, so the demo can run on the station's own database. A chair
        holding a real patient is never touched: the demo refuses to start instead."""
        released = []
        for chair in self.chairs:
            state = self.floor.session_for_chair(chair.name)
            if state is None or state.session_id == chair.session_id:  # none, or this demo's own
                continue
            if not state.patient_mrn.startswith(DEMO_MRN_PREFIX):
                raise DemoChairOccupied(
                    f"{chair.name} holds a real patient ({state.patient_initials}); the demo will not use it. "
                    "Run the demo with --db on a separate database."
                )
            if state.phase in (Phase.SCREENING, Phase.PREMEDICATION, Phase.INFUSING, Phase.PAUSED):
                self.floor.execute(state.session_id, Discontinue("demo restarted"), DEMO_ACTOR)
            override = Override(DEMO_ACTOR, "demo restarted")
            self.floor.execute(state.session_id, Discharge(override=override), DEMO_ACTOR)
            released.append(chair.name)
        return released

    def start(self) -> dict[str, str]:
        """Serve every chair's pump on a pseudo-terminal; returns {chair name: URL to open}."""
        self.release_leftovers()
        if self._fleet is None:
            self._fleet = SimulatorFleet(0, transport="pty")
            for chair in self.chairs:
                server = self._fleet.add(chair.pump)
                server.responder.spy = WireSpy(max_bytes=0, max_frames=16)  # not the tests' 4 MB per pump
                chair.url = server.url
        return {chair.name: chair.url for chair in self.chairs}

    @property
    def servers(self) -> list[PumpServer]:
        """The simulated pumps' servers (after `start`), in chair order: benches inject line faults."""
        return list(self._fleet.servers) if self._fleet is not None else []

    def station_config(self, chair_names: Sequence[str] | None = None) -> StationConfig:
        """The station configuration for these simulated pumps (call `start` first): the demo starts
        the station through the same path as a configured floor. `chair_names` adds chairs without a
        pump after the demo's own."""
        if any(not chair.url for chair in self.chairs):
            raise RuntimeError("start the demo's pumps before asking for their configuration")
        pumps = {chair.name: PumpConfig("alaris", chair.url) for chair in self.chairs}
        names = list(chair_names) if chair_names is not None else list(pumps)
        names += [name for name in pumps if name not in names]
        return StationConfig(name="Demo", chairs=tuple(ChairConfig(name, pumps.get(name)) for name in names))

    def stop(self) -> None:
        if self._fleet is not None:
            self._fleet.close()
            self._fleet = None

    def fast_forward(self, minutes: float = SHOWCASE_MIN, step_min: float = 1.0) -> None:
        """Move the clock on by `minutes`, doing what is due every `step_min`: the floor is then as busy
        as it would be after that long. Needs a clock that can jump (ManualClock, SpeedClock)."""
        left = minutes
        while left > 1e-9:
            step = min(step_min, left)
            _advance_clock(self.clock, step * 60.0)
            left -= step
            self.advance()

    @property
    def finished(self) -> bool:
        return all(chair.done for chair in self.chairs)

    def advance(self, now: datetime | None = None) -> list[str]:
        """Do every scripted action due by `now` (default: the clock's now). Returns what was done."""
        now = now or self.clock.now()
        done: list[str] = []
        for chair in self.chairs:
            for _ in range(20):  # a chair rarely has more than two actions due at once
                try:
                    action = self._step(chair, now)
                except (
                    JournalError
                ) as exc:  # full disk: the station shows its storage alarm; retried next tick
                    if str(exc) != self._storage_problem:
                        log.warning("demo %s: not recorded, will retry: %s", chair.name, exc)
                    self._storage_problem = str(exc)
                    break
                if action is None:
                    break
                self._storage_problem = ""
                text = f"{chair.name}: {action}"
                chair.actions.append(text)
                done.append(text)
                log.info("demo %s", text)
        return done

    # ------------------------------------------------------------------------------------------

    def _state(self, chair: DemoChair) -> ChairState | None:
        return self.floor.sessions.get(chair.session_id) if chair.session_id else None

    def _run(self, chair: DemoChair, command: Command) -> ChairState:
        return self.floor.execute(chair.session_id, command, chair.nurse)

    @staticmethod
    def _seen(snapshot: PumpSnapshot, now: datetime) -> PumpObservation | None:
        return observe(telemetry_of(snapshot, now))

    def _document(self, chair: DemoChair, state: ChairState, snapshot: PumpSnapshot, now: datetime) -> bool:
        """Journal what the pump did by itself (stopped, complete), as the station's core decides it
        (`app.station.pump`), unless the station already has (refused for the phase)."""
        reading = telemetry_of(snapshot, now)
        seen = observe(reading)
        if seen is None or seen.kind == "running":
            return False  # rate changes are the nurse's, made through the app below
        command = delivery_command_for(state, seen, round(reading.volume_infused_ml, 1), now)
        if command is None:
            return False
        try:
            self._run(chair, command)
        except CommandRefused as refused:
            if all(f.code == "wrong_phase" for f in refused.failures):
                return False
            raise
        return True

    def _step(self, chair: DemoChair, now: datetime) -> str | None:
        if chair.done or now < chair.begins_at:
            return None
        if not chair.session_id:
            return self._check_in(chair, now)
        state = self._state(chair)
        if state is None:  # discharged: the session left the floor
            chair.done = True
            chair.final_phase = Phase.DISCHARGED
            return None
        due = state.vitals_due
        if due is not None and now >= due[0]:
            self._run(chair, RecordVitals(dict(DISCHARGE_VITALS)))  # the nurse takes them on schedule
            return f"vital signs ({due[1]})"
        handler = {
            Phase.SCREENING: self._screening,
            Phase.PREMEDICATION: self._premedication,
            Phase.INFUSING: self._infusing,
            Phase.PAUSED: self._paused,
            Phase.OBSERVATION: self._observation,
            Phase.DISCONTINUED: self._discontinued,
        }.get(state.phase)
        return handler(chair, state, now) if handler is not None else None

    def _check_in(self, chair: DemoChair, now: datetime) -> str:
        protocol = self.floor.protocols[chair.script.protocol_id]
        prior = protocol.eligibility.min_prior_infusions
        command = CheckIn(
            chair=chair.name,
            patient_mrn=f"{DEMO_MRN_PREFIX}{chair.index + 1:04d}",
            patient_initials=PATIENTS[chair.index % len(PATIENTS)],
            protocol_id=protocol.id,
            bag_volume_ml=protocol.bag_volume_ml,
            bag_lot=f"DEMO{chair.index + 1:03d}",
            bag_expiry=(now + timedelta(days=365)).date(),
            bag_prepared_at=now - timedelta(minutes=20),
            prior_infusions=prior,
            prior_serious_reaction=False,
            last_dose_on=(now - timedelta(days=182)).date() if prior else None,
            first_dose=not prior,
        )
        chair.session_id = self.floor.check_in(command, chair.nurse).session_id
        return f"checked in ({protocol.id})"

    def _screening(self, chair: DemoChair, state: ChairState, now: datetime) -> str | None:
        assert state.checked_in_at is not None
        if now < state.checked_in_at + timedelta(minutes=chair.script.screening_after_min):
            return None
        protocol = state.require_protocol()
        self._run(chair, RecordScreening({item.id: item.acceptable_answer for item in protocol.screening}))
        return "screening recorded"

    def _premedication(self, chair: DemoChair, state: ChairState, now: datetime) -> str | None:
        assert state.checked_in_at is not None
        protocol = state.require_protocol()
        if protocol.premedications and not state.premedications:
            if now < state.checked_in_at + timedelta(minutes=chair.script.premedication_after_min):
                return None
            for premed in protocol.premedications:
                self._run(
                    chair, GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route)
                )
            return "premedication given"
        ready = state.premedication_ready_at
        if ready is None or now < ready + timedelta(minutes=chair.script.start_after_ready_min):
            return None
        started = self._run(chair, StartInfusion())
        rate = started.pump_rate_ml_h or protocol.steps[0].rate_ml_h
        bag = state.bag.volume_ml if state.bag is not None else protocol.bag_volume_ml
        chair.pump.change_bag(bag + BAG_OVERFILL_ML, vtbi_ml=bag)
        chair.pump.set_rate(rate)
        chair.pump.start()
        return f"infusion started at {rate:g} mL/h"

    def _infusing(self, chair: DemoChair, state: ChairState, now: datetime) -> str | None:
        script = chair.script
        snapshot = chair.pump.snapshot()
        if self._document(chair, state, snapshot, now):
            seen = self._seen(snapshot, now)
            if seen is not None and seen.kind == "complete":
                return f"pump reports end of infusion ({snapshot.volume_infused_ml:.0f} mL)"
            return f"pump stopped ({seen.reason if seen else 'unknown'})"
        minute = state.minutes_from_start(now)
        if script.reaction_grade is not None and not chair.reacted and minute >= script.reaction_at_min:
            chair.reacted = True
            after = self._run(chair, RecordReaction(script.reaction_grade, SIGNS[script.reaction_grade]))
            if after.phase is Phase.PAUSED:
                chair.pump.pause()
            elif after.discontinued_at is not None:  # grade 4: stopped for good, then observed
                chair.pump.stop()
            return f"grade {script.reaction_grade} reaction recorded"
        holding = [r for r in state.reactions if r.holds_until_resolved]
        if holding and now >= holding[-1].onset_at + timedelta(minutes=script.resolved_after_min):
            self._run(chair, ResolveSymptoms())
            return "symptoms resolved"
        if (
            script.occlusion_at_min is not None
            and chair.occluded_at is None
            and minute >= script.occlusion_at_min
        ):
            chair.occluded_at = now
            chair.pump.raise_alarm(SimAlarm.OCCLUSION)
            self._document(chair, state, chair.pump.snapshot(), now)
            return "pump occlusion"
        return self._follow_plan(chair, state, now, snapshot.state, snapshot.set_rate_ml_h)

    def _follow_plan(
        self, chair: DemoChair, state: ChairState, now: datetime, delivery: DeliveryState, set_rate: float
    ) -> str | None:
        planned = state.planned_rate_ml_h(now)
        if (
            delivery is not DeliveryState.INFUSING
            or planned <= 0
            or abs(planned - set_rate) < RATE_EPSILON_ML_H
        ):
            return None
        assert state.infusion_started_at is not None
        segment = state.plan().segment_at(state.minutes_from_start(now))
        reduced = segment is not None and segment.kind is SegmentKind.REDUCED and planned < set_rate
        if segment is not None and not reduced:
            due = state.infusion_started_at + timedelta(minutes=segment.start_min)
            if now < due + timedelta(minutes=chair.script.step_delay_min):
                return None
        reason = "reaction: rate reduced per protocol" if reduced else "rate step per protocol"
        chair.pump.set_rate(planned)
        self._run(chair, ChangeRate(planned, source="nurse", reason=reason))
        return f"pump set to {planned:g} mL/h ({reason})"

    def _paused(self, chair: DemoChair, state: ChairState, now: datetime) -> str | None:
        stop = state.unresolved_stop_reaction
        if stop is not None:
            if now < stop.onset_at + timedelta(minutes=chair.script.resolved_after_min):
                return None
            self._run(chair, ResumeInfusion())
            self._restart_pump(chair, stop.restart_rate_ml_h)
            return f"symptoms resolved: restarted at {stop.restart_rate_ml_h:g} mL/h"
        if chair.occluded_at is not None and not chair.occlusion_cleared:
            if now < chair.occluded_at + timedelta(minutes=chair.script.occlusion_for_min):
                return None
            chair.occlusion_cleared = True
            chair.pump.clear_alarm(SimAlarm.OCCLUSION)
            self._run(chair, ResumeInfusion())
            self._restart_pump(chair, None)
            return "occlusion cleared: pump restarted"
        return None

    def _restart_pump(self, chair: DemoChair, rate: float | None) -> None:
        if rate:
            chair.pump.set_rate(rate)
        if chair.pump.snapshot().state is DeliveryState.PAUSED:
            chair.pump.resume()
        else:
            chair.pump.start()

    def _observation(self, chair: DemoChair, state: ChairState, now: datetime) -> str | None:
        ended = state.infusion_ended_at
        assert ended is not None
        script = chair.script
        if state.unresolved_reactions:
            onset = state.unresolved_reactions[-1].onset_at
            if now < onset + timedelta(minutes=script.resolved_after_min):
                return None
            self._run(chair, ResolveSymptoms())
            return "symptoms resolved"
        if not chair.pump_stopped_after_end and now >= ended + timedelta(minutes=script.stop_pump_after_min):
            chair.pump_stopped_after_end = True
            chair.pump.stop()
            return "line disconnected, pump stopped"
        ends = state.observation_ends_at
        if ends is None or now < ends + timedelta(minutes=script.discharge_after_min):
            return None
        if not any(v.at >= ended for v in state.vitals):
            self._run(chair, RecordVitals(dict(DISCHARGE_VITALS)))
            return "vital signs before discharge"
        self._run(chair, Discharge())
        final = Phase.DISCONTINUED if state.discontinued_at is not None else Phase.DISCHARGED
        chair.done, chair.final_phase = True, final
        return "discharged after observation"

    def _discontinued(self, chair: DemoChair, state: ChairState, now: datetime) -> str | None:
        assert state.discontinued_at is not None
        if now < state.discontinued_at + timedelta(minutes=chair.script.discharge_after_discontinued_min):
            return None
        self._run(chair, Discharge())
        chair.done, chair.final_phase = True, Phase.DISCONTINUED
        return "discharged after discontinuation"
