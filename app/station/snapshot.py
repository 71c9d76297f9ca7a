"""A chair as the floor sees it: the JSON of `chairside/v1/<station>/chairs/<chair>` (docs/mqtt.md).

One function builds it from a chair session, so the published state and anything else that shows a
chair from outside the station say the same thing. Times are ISO 8601 in UTC; `display_tz` names the
station's zone, in which the texts are said and the floor shows this station's times.
"""

from __future__ import annotations

import math
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from app.domain.clock_face import ClockFace
from app.domain.phase import Phase
from app.domain.timeline import SessionTimeline
from app.station.floor_messages import SCHEMA
from app.station.status_text import next_action, next_deadline, progress, vitals_countdown

if TYPE_CHECKING:
    from app.domain.chair import ChairState
    from app.station.session import ChairSession


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def pump_rate(chair: ChairSession) -> float | None:
    """What the pump delivers now: its rate while delivering, 0 while stopped, None when unknown."""
    telemetry = chair.telemetry
    if telemetry is None or not chair.pump_connected:
        return None
    return telemetry.rate_ml_h if telemetry.state.is_delivering else 0.0


def chair_snapshot(
    chair: ChairSession, now: datetime, *, station: str, index: int, zone: tzinfo | None = None
) -> dict[str, Any]:
    """Everything but `updated_at` and `published_at` (the publisher stamps those). `zone`: the
    station's display zone (the texts are said in it, and the message names it for the floor)."""
    face = ClockFace.of(zone)
    state = chair.state
    phase = state.phase if state is not None else Phase.EMPTY
    rate = pump_rate(chair)
    planned: float | None = None
    if state is not None and phase is Phase.INFUSING:
        planned = state.planned_rate_ml_h(now)
    elif phase is Phase.PAUSED:
        planned = 0.0
    action = next_action(state, now, rate, face.zone, policy=chair.host.alarm_policy)
    deadline = next_deadline(state, now) if state is not None else None
    telemetry = chair.telemetry if chair.pump_connected else None
    board = chair.alarms.board
    escalated = {a.id for a in board.escalated(now)}
    alarms = [
        {
            "id": alarm.id,
            "rule": alarm.rule,
            "priority": alarm.priority.value,
            "message": alarm.message,
            "raised_at": iso(alarm.raised_at),
            "acknowledged": alarm.acknowledged,
            "acknowledged_by": alarm.acknowledged_by,
            "escalated": alarm.id in escalated,
        }
        for alarm in board.active()
        if alarm.category.is_alarm
    ]
    notices = [a.message for a in board.active() if not a.category.is_alarm]  # news, never escalates
    vitals = vitals_countdown(state, now)
    if chair.journal_problem:
        alarms.insert(
            0,
            {
                "id": "journal",
                "rule": "journal_write_failed",
                "priority": "high",
                "message": f"NOT RECORDED: {chair.journal_problem}",
                "raised_at": None,
                "acknowledged": False,
                "acknowledged_by": None,
                "escalated": True,
            },
        )
    link = chair.link
    return {
        "schema": SCHEMA,
        "station": station,
        "chair": chair.name,
        "index": index,
        "display_tz": face.name,
        "phase": phase.value,
        "anaphylaxis": _anaphylaxis(state),
        "session": state.session_id if state is not None else None,
        "initials": state.patient_initials if state is not None else "",
        "nurse": state.assigned_nurse if state is not None else "",
        "protocol": (
            {"id": state.protocol.id, "name": state.protocol.name}
            if state is not None and state.protocol is not None
            else None
        ),
        "pump": {
            "rate_ml_h": rate,
            "planned_rate_ml_h": planned,
            "volume_ml": round(telemetry.volume_infused_ml, 1) if telemetry is not None else None,
            "read_at": iso(telemetry.at) if telemetry is not None else None,
        },
        "next": {
            "action": action.text if state is not None else "",
            "urgent": action.urgent,
            "due_label": deadline.label if deadline is not None else None,
            "due_at": iso(deadline.target) if deadline is not None else None,
        },
        # The delivery segments and how the infusion stands, from the session timeline (the one reading)
        "delivery": SessionTimeline.of(state).as_json() if state is not None else None,
        "progress": _rounded(progress(state, now, telemetry.volume_infused_ml if telemetry else None)),
        "alarms": alarms,
        "notice": notices[-1] if notices else None,
        "vitals": (
            {"label": vitals.label, "due_at": iso(vitals.target), "overdue": vitals.target < now}
            if vitals is not None
            else None
        ),
        "link": {
            "pump": chair.has_pump,
            "state": link.status.value if link is not None else None,
            "since": iso(chair.link_lost_since),
        },
    }


def _anaphylaxis(state: ChairState | None) -> dict[str, Any] | None:
    """After anaphylaxis: its onset and the end of its observation (the floor shows the chair red)."""
    if state is None or state.anaphylaxis_observation_until is None:
        return None
    onset = min(r.onset_at for r in state.reactions if r.anaphylaxis)
    return {"onset_at": iso(onset), "observe_until": iso(state.anaphylaxis_observation_until)}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


READING_POINTS = 240
"""At most this many points of each curve in a chair's readings message (the overview's plot)."""


def chair_readings(chair: ChairSession, now: datetime, *, station: str) -> dict[str, Any] | None:
    """The chair's plan-vs-pump plot for the floor (`chairs/<chair>/readings`), or None without a
    session: the pump's readings (at most READING_POINTS, evenly thinned) and the plan's step corners."""
    state = chair.state
    if state is None:
        return None
    times, rates, _volumes = chair.history.arrays()
    step = max(1, math.ceil(len(times) / READING_POINTS))
    pump = [
        [round(float(t), 1), round(float(r), 2)] for t, r in zip(times[::step], rates[::step], strict=True)
    ]
    plan: list[list[float]] = []
    if state.infusion_started_at is not None and state.protocol is not None:
        schedule = state.plan(resume_open_at=now if state.phase is Phase.PAUSED else None)
        start = state.infusion_started_at.timestamp()
        for segment in schedule.segments[: READING_POINTS // 2]:
            plan += [
                [round(start + segment.start_min * 60, 1), segment.rate_ml_h],
                [round(start + segment.end_min * 60, 1), segment.rate_ml_h],
            ]
    return {
        "schema": SCHEMA,
        "station": station,
        "chair": chair.name,
        "session": state.session_id,
        "pump": pump,
        "plan": plan,
    }
