"""A volumetric infusion pump, modelled: what the nurse's hands do to it and what it then delivers.

Volume integrates over simulated time (an injected clock), so a test can run a four-hour infusion in
milliseconds and the demo can run it at any speed. The model knows nothing of wire protocols; the
server in `drivers.sim.server` makes it speak Alaris.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass

from drivers.base import DeliveryState
from drivers.sim.clock import ManualClock, SimClock

MAX_RATE_ML_H = 999.0


class SimAlarm(enum.Enum):
    """What can go wrong at the pump, highest priority first."""

    EMPTY_BATTERY = "empty_battery"
    OCCLUSION = "occlusion"
    AIR_IN_LINE = "air_in_line"
    DOOR_OPEN = "door_open"
    END_OF_INFUSION = "end_of_infusion"
    CALL_BACK = "call_back"
    LOW_BATTERY = "low_battery"

    @property
    def stops_delivery(self) -> bool:
        return self in _STOPPING


_STOPPING = frozenset({SimAlarm.EMPTY_BATTERY, SimAlarm.OCCLUSION, SimAlarm.AIR_IN_LINE, SimAlarm.DOOR_OPEN})
_PRIORITY = {alarm: rank for rank, alarm in enumerate(SimAlarm)}


class PumpOperationError(ValueError):
    """The nurse asked the pump for something it would refuse (start without a rate, ...)."""


@dataclass(frozen=True, slots=True)
class PumpSnapshot:
    t_s: float
    serial: str
    powered: bool
    state: DeliveryState
    rate_ml_h: float
    """As the pump reports it: the programmed rate, the KVO rate in KVO."""
    set_rate_ml_h: float
    volume_infused_ml: float
    vtbi_ml: float | None
    """Still to be infused; None when no VTBI is set."""
    end_action: str
    """What happens when the VTBI is done: "KVO" or "STOP"."""
    bag_ml: float | None
    pressure_mmhg: float
    time_remaining_s: float | None
    alarms: tuple[SimAlarm, ...]
    """Highest priority first."""
    log_id: int
    boot_count: int


class SimulatedPump:
    """One pump. Every method is thread-safe; the server reads it while a scenario works it."""

    def __init__(
        self,
        serial: str = "8002-51740",
        *,
        clock: SimClock | None = None,
        kvo_rate_ml_h: float = 1.0,
        callback_after_s: float | None = 120.0,
        bag_overfill: float = 0.05,
    ) -> None:
        self.clock: SimClock = clock if clock is not None else ManualClock()
        self.kvo_rate_ml_h = kvo_rate_ml_h
        self.bag_overfill = bag_overfill
        """Bags hold a little more than their label (here 5 %), so a VTBI of the labelled volume ends
        before the bag runs dry."""
        self.callback_after_s = callback_after_s
        self._lock = threading.RLock()
        self._t = self.clock.now()
        self._serial = serial
        self._boot_count = 0
        self._log_id = 127904
        self._off_until: float | None = None
        self._next_serial = serial
        self._reset_programme()

    def _reset_programme(self) -> None:
        self._state = DeliveryState.STOPPED
        self._set_rate = 0.0
        self._vtbi: float | None = None
        self._end_action = "KVO"
        self._bag: float | None = None
        self._volume = 0.0
        self._alarms: set[SimAlarm] = set()
        self._paused_at: float | None = None

    # -- time --------------------------------------------------------------------------------------

    def _delivery_rate(self) -> float:
        if self._state is DeliveryState.INFUSING:
            return self._set_rate
        if self._state is DeliveryState.KVO:
            return min(self.kvo_rate_ml_h, self._set_rate) if self._set_rate else self.kvo_rate_ml_h
        return 0.0

    def _advance(self) -> float:
        """Bring the model up to the clock: integrate volume, end the VTBI, empty the bag, boot."""
        now = self.clock.now()
        while True:
            if self._off_until is not None:
                if now < self._off_until:
                    self._t = now
                    break
                self._t = self._off_until
                self._boot()
            if self._t >= now:
                break
            rate = self._delivery_rate()
            if rate <= 0:
                self._t = now
                break
            step = now - self._t
            to_end = (
                self._vtbi * 3600 / rate if self._state is DeliveryState.INFUSING and self._vtbi else None
            )
            to_empty = self._bag * 3600 / rate if self._bag is not None else None
            events = [e for e in (to_end, to_empty) if e is not None]
            step = min([step, *events])
            self._deliver(rate * step / 3600)
            self._t += step
            if self._state is DeliveryState.INFUSING and self._vtbi is not None and self._vtbi <= 1e-9:
                self._vtbi = 0.0
                self._alarms.add(SimAlarm.END_OF_INFUSION)
                self._state = DeliveryState.KVO if self._end_action == "KVO" else DeliveryState.COMPLETE
                self._log_id += 1
            if self._bag is not None and self._bag <= 1e-9 and self._state.is_delivering:
                self._bag = 0.0
                self._raise(SimAlarm.AIR_IN_LINE)
        return now

    def _deliver(self, ml: float) -> None:
        self._volume += ml
        if self._vtbi is not None and self._state is DeliveryState.INFUSING:
            self._vtbi = max(0.0, self._vtbi - ml)
        if self._bag is not None:
            self._bag = max(0.0, self._bag - ml)

    def _boot(self) -> None:
        self._off_until = None
        self._serial = self._next_serial
        self._boot_count += 1
        self._reset_programme()
        self._log_id += 1

    # -- what the pump shows -------------------------------------------------------------------------

    def snapshot(self) -> PumpSnapshot:
        with self._lock:
            now = self._advance()
            alarms = set(self._alarms)
            if (
                self._state is DeliveryState.PAUSED
                and self.callback_after_s is not None
                and self._paused_at is not None
                and now - self._paused_at >= self.callback_after_s
            ):
                alarms.add(SimAlarm.CALL_BACK)
            rate = self._delivery_rate() if self._state is DeliveryState.KVO else self._set_rate
            if SimAlarm.OCCLUSION in alarms:
                pressure = 350.0
            elif self._state.is_delivering:
                pressure = round(10.0 + 0.1 * rate, 2)
            else:
                pressure = 3.0
            if self._state in (DeliveryState.KVO, DeliveryState.COMPLETE):
                remaining_s: float | None = 0.0
            elif self._vtbi is not None and self._set_rate > 0:
                remaining_s = self._vtbi * 3600 / self._set_rate
            else:
                remaining_s = None
            return PumpSnapshot(
                t_s=now,
                serial=self._serial,
                powered=self._off_until is None,
                state=self._state,
                rate_ml_h=rate,
                set_rate_ml_h=self._set_rate,
                volume_infused_ml=self._volume,
                vtbi_ml=self._vtbi,
                end_action=self._end_action,
                bag_ml=self._bag,
                pressure_mmhg=pressure,
                time_remaining_s=remaining_s,
                alarms=tuple(sorted(alarms, key=_PRIORITY.__getitem__)),
                log_id=self._log_id,
                boot_count=self._boot_count,
            )

    @property
    def serial(self) -> str:
        with self._lock:
            self._advance()
            return self._serial

    @property
    def powered(self) -> bool:
        with self._lock:
            self._advance()
            return self._off_until is None

    # -- the nurse's hands ---------------------------------------------------------------------------

    def _act(self) -> None:
        self._advance()
        if self._off_until is not None:
            raise PumpOperationError("the pump is switched off")
        self._log_id += 1

    def set_rate(self, ml_h: float) -> None:
        if not 0 < ml_h <= MAX_RATE_ML_H:
            raise PumpOperationError(f"rate must be in (0, {MAX_RATE_ML_H}] mL/h, not {ml_h}")
        with self._lock:
            self._act()
            self._set_rate = float(ml_h)

    def set_vtbi(self, ml: float | None, end_action: str = "KVO") -> None:
        """Programme the volume to be infused (None: no VTBI) and what follows it (KVO or STOP)."""
        if ml is not None and ml <= 0:
            raise PumpOperationError(f"VTBI must be positive, not {ml}")
        if end_action not in ("KVO", "STOP"):
            raise PumpOperationError(f"end action is KVO or STOP, not {end_action!r}")
        with self._lock:
            self._act()
            self._vtbi = None if ml is None else float(ml)
            self._end_action = end_action
            self._end_of_infusion_acknowledged()

    def _end_of_infusion_acknowledged(self) -> None:
        self._alarms.discard(SimAlarm.END_OF_INFUSION)
        if self._state in (DeliveryState.KVO, DeliveryState.COMPLETE):
            self._state = DeliveryState.STOPPED

    def start(self) -> None:
        with self._lock:
            self._act()
            if self._set_rate <= 0:
                raise PumpOperationError("set a rate before starting")
            if self._vtbi == 0:
                raise PumpOperationError("the VTBI is done: set a new VTBI or change the bag")
            blocking = [a.value for a in self._alarms if a.stops_delivery]
            if blocking:
                raise PumpOperationError(f"cannot start with alarms {blocking}")
            self._alarms.discard(SimAlarm.END_OF_INFUSION)
            self._state = DeliveryState.INFUSING
            self._paused_at = None

    def pause(self) -> None:
        with self._lock:
            self._act()
            if self._state.is_delivering:
                self._state = DeliveryState.PAUSED
                self._paused_at = self._t

    def resume(self) -> None:
        with self._lock:
            if self.snapshot().state is not DeliveryState.PAUSED:
                raise PumpOperationError("resume needs a pump on hold")
            self.start()

    def stop(self) -> None:
        with self._lock:
            self._act()
            self._end_of_infusion_acknowledged()
            if self._state is not DeliveryState.ALARM:
                self._state = DeliveryState.STOPPED
            self._paused_at = None

    def change_bag(self, volume_ml: float, vtbi_ml: float | None = None) -> None:
        """Hang a new bag labelled ``volume_ml`` and programme its VTBI (the label unless given)."""
        if volume_ml <= 0:
            raise PumpOperationError(f"bag volume must be positive, not {volume_ml}")
        with self._lock:
            self._act()
            self._bag = volume_ml * (1 + self.bag_overfill)
            self._vtbi = float(volume_ml if vtbi_ml is None else vtbi_ml)
            self._alarms.discard(SimAlarm.AIR_IN_LINE)
            self._end_of_infusion_acknowledged()
            self._settle_alarm_state()

    def clear_volume(self) -> None:
        with self._lock:
            self._act()
            self._volume = 0.0

    def _raise(self, alarm: SimAlarm) -> None:
        self._alarms.add(alarm)
        if alarm.stops_delivery and self._state in (
            DeliveryState.INFUSING,
            DeliveryState.KVO,
            DeliveryState.PAUSED,
        ):
            self._state = DeliveryState.ALARM
        self._log_id += 1

    def _settle_alarm_state(self) -> None:
        if self._state is DeliveryState.ALARM and not any(a.stops_delivery for a in self._alarms):
            self._state = DeliveryState.PAUSED  # the nurse restarts it
            self._paused_at = self._t

    def raise_alarm(self, alarm: SimAlarm | str) -> None:
        alarm = SimAlarm(alarm)
        if alarm in (SimAlarm.END_OF_INFUSION, SimAlarm.CALL_BACK):
            raise PumpOperationError(f"{alarm.value} is the pump's own doing, not something to raise")
        with self._lock:
            self._act()
            self._raise(alarm)

    def clear_alarm(self, alarm: SimAlarm | str) -> None:
        """The nurse fixes the cause (clears the line, closes the door, plugs in the mains)."""
        alarm = SimAlarm(alarm)
        with self._lock:
            self._act()
            self._alarms.discard(alarm)
            self._settle_alarm_state()

    def power_cycle(self, new_serial: str | None = None, off_s: float = 5.0) -> None:
        """Switch off for ``off_s`` simulated seconds; it boots unprogrammed, maybe as another pump."""
        with self._lock:
            self._act()
            self._off_until = self._t + max(0.0, off_s)
            self._next_serial = new_serial or self._serial
            self._state = DeliveryState.STOPPED
            self._advance()
