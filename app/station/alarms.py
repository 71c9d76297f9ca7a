"""The alarm loop of one chair: the rules (`app.domain.alarms.evaluate`) over what the chair knows
now, the board that turns conditions into alarms, and the transitions the session journals."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo

from app.domain.alarms import (
    AlarmBoard,
    AlarmInputs,
    AlarmPolicy,
    AlarmTransition,
    PumpAlarmReading,
    PumpDelivery,
    PumpReading,
    evaluate,
)
from app.domain.chair import AlarmRecord, ChairState
from app.station.pump import PumpLink, is_late
from drivers.base import Telemetry


def reading_of(t: Telemetry | None) -> PumpReading | None:
    """A driver's reading in the alarm rules' words."""
    if t is None:
        return None
    return PumpReading(
        t.at,
        t.rate_ml_h,
        t.volume_infused_ml,
        PumpDelivery(t.state.value),
        tuple(PumpAlarmReading(a.code, str(a.kind), a.text) for a in t.alarms),
    )


class ChairAlarms:
    """One chair's board; `update` evaluates every rule and returns what changed (to journal)."""

    def __init__(self, policy: AlarmPolicy, restored: Iterable[AlarmRecord] = ()) -> None:
        self.policy = policy
        self.board = AlarmBoard(policy, restored)

    def update(
        self,
        now: datetime,
        chair: str,
        state: ChairState | None,
        telemetry: Telemetry | None,
        pump: PumpLink | None,
        *,
        storage_problem: str = "",
        journal_loss: str = "",
        display_tz: tzinfo | None = None,
    ) -> list[AlarmTransition]:
        """`display_tz`: the station's zone for alarm texts (None: this computer's zone, by its name)."""
        inputs = AlarmInputs(
            now=now,
            state=state,
            # a reading taken before the record last set the pump: the record's rate, not the reading's
            reading=None if telemetry is None or is_late(telemetry, None, state) else reading_of(telemetry),
            link_connected=pump is None or pump.connected,
            link_lost_since=pump.lost_since if pump is not None else None,
            chair=chair,
            storage_problem=storage_problem,
            journal_loss=journal_loss,
            display_tz=display_tz,
        )
        return self.board.update(evaluate(inputs, self.policy), now)
