"""IHE PCD ACM Report Alert [PCD-04] (`ORU^R40^ORU_R40`) messages for the station's alarms.

Checked against IHE PCD TF-2 Rev 8.0 (2018-10-23), `IHEPCD/ihe-ocd-tf-2019` markdown (docs/hl7.md,
"Alarms (ACM)", lists each point with its section):

- MSH-21: 1.3.6.1.4.1.19376.1.6.1.4.1 (B.1, MSH-21 table: "Alert Communication Management PCD-04
  Report Alert message"; app.export.hl7_codes.ACM_PROFILE).
- OBR-3 identifies one status update, OBR-29 (EIP, required) the alert indication across its whole
  history (B.7.1): OBR-3 = the journal entry (`POSITION^STATION^STATION_EUI64^EUI-64`), OBR-29 =
  `^SESSION:ALARM_ID&STATION&STATION_EUI64&EUI-64` (filler assigned): unique per indication across the
  centre, since the station's EUI-64 is (app.export.hl7_settings.station_eui64) and the session id is
  a UUID; the journal's alarm id alone is a per-chair counter.
- OBX facets (B.8.5, Table B.8.5-1/-2): event identification `196616^MDC_EVT_ALARM^MDC` with the
  specific alert as CWE in OBX-5 (technical and advisory alerts), source identification
  `68480^MDC_ATTR_ALERT_SOURCE^MDC` with the source's object code in OBX-5, then phase, state,
  inactivation state, priority and type as separate OBX segments (the OBX-8 form is deprecated).
- OBX-11 is F in every segment (B.8.6: "the only possible value is F").
- Attribution: an alarm the pump reports (`pump_*`) has the pump's MDS row (70049, its EUI-64 in
  OBX-18) and names it as its source; everything the station works out itself (link lost, storage,
  protocol checks, vital signs) names the station (its EUI-64), never the pump.
- Every alert ends: when cleared, and at the patient's discharge at the latest (app.export.alerts).
- Notifications (infusion complete, observation complete) are not alarms: no ACM message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from app.domain.alarms import RULES_BY_ID, AlarmCategory
from app.domain.chair import AlarmRecord, ChairState
from app.domain.events import AlarmEntry, EventType
from app.export import hl7_codes as C
from app.export.alerts import is_notification
from app.export.hl7_encoding import segment, text
from app.export.hl7_settings import Hl7Settings
from app.export.model import is_person
from app.store.journal import JournalEntry


class Builder(Protocol):
    """What of app.export.hl7.Hl7Builder this module uses (the message head, times, identities)."""

    settings: Hl7Settings
    station: str

    def time(self, moment: datetime) -> str: ...

    def msh(self, trigger: str, structure: str, control_id: str, profile: str) -> str: ...

    def patient(self, state: ChairState, visit: str) -> list[str]: ...

    def equipment(self, chair: str) -> str: ...

    def station_equipment(self) -> str: ...


class Session(Protocol):
    """What of app.export.hl7.SessionFeed this module uses."""

    @property
    def builder(self) -> Builder: ...

    @property
    def state(self) -> ChairState: ...

    @property
    def session_id(self) -> str: ...

    @property
    def order_number(self) -> str: ...

    @property
    def visit_number(self) -> str: ...


@dataclass(frozen=True)
class ReportAlert:
    """One ORU^R40 message, ready to be wrapped as an app.export.hl7.Hl7Message."""

    control_id: str
    what: str
    er7: str
    at: datetime


STATION_SOURCE = "CHAIRSIDE^Chairside station (alert reporter)^L"
"""The source of the alerts the station itself works out (no MDC object code names a station)."""

PHASES = {
    EventType.ALARM_RAISED: ("start", "active", "enabled"),
    EventType.ALARM_ACKNOWLEDGED: ("update", "active", "alert-acknowledged"),
    EventType.ALARM_CLEARED: ("end", "inactive", "enabled"),
}


def from_the_pump(rule: str) -> bool:
    """The pump reported it (occlusion, air, door, battery, fault): the pump is its source."""
    return rule.startswith("pump_")


def alert_type(rule: str) -> str:
    """ST technical (the pump's, the link's, the station's storage); SA advisory (the station's checks
    of what was recorded: protocol, bag, vital signs entered by the nurse)."""
    found = RULES_BY_ID.get(rule)
    technical = found.category is AlarmCategory.TECHNICAL if found is not None else from_the_pump(rule)
    return "ST" if technical else "SA"


def alert_code(rule: str, message: str) -> str:
    """OBX-5 of the event identification (CWE): the MDC event where there is one, else the rule in the
    local coding system; the text the nurse saw as original text (CWE-9)."""
    event = C.ALARM_EVENTS.get(rule)
    words = text(rule.replace("_", " "))
    code = event.cwe if event is not None else f"{text(rule)}^{words}^L"
    return f"{code}^^^^^^{text(message)}"


def parent(builder: Builder, session_id: str, alarm_id: str) -> str:
    """OBR-29 (EIP): the alert indication, filler assigned, the same in its start, updates and end."""
    station = builder.settings
    return f"^{text(f'{session_id}:{alarm_id}')}&{text(station.station_name)}&{builder.station}&EUI-64"


def acm_message(
    feed: Session,
    entry: JournalEntry,
    alarm: AlarmRecord,
    kind: EventType,
    at: datetime,
    part: int = 0,
) -> ReportAlert | None:
    """One Report Alert for `alarm` (start, update or end), None for a notification."""
    if is_notification(alarm.rule):
        return None
    b = feed.builder
    state: ChairState = feed.state
    control = f"{b.station}.{entry.position}" + (f".{part}" if part else "")
    phase, alert_state, inactivation = PHASES[kind]
    priority = C.ALARM_PRIORITY.get(alarm.priority, "PN")
    pump = from_the_pump(alarm.rule)
    when = b.time(at)
    by = text(entry.actor) if kind == EventType.ALARM_ACKNOWLEDGED and is_person(entry.actor) else ""
    pump_id = b.equipment(state.chair)
    station_id = b.station_equipment()
    source = C.MDC_DEV_PUMP_INFUS_LVP_MDS.cwe if pump else STATION_SOURCE
    rows: list[tuple[str, str, str, str, str]] = []  # (value type, OBX-3, OBX-4, OBX-5, OBX-18)
    if pump:  # the device-related row of the pump (B.8.1): the alert's facets sit under it
        rows.append(("", C.MDC_DEV_PUMP_INFUS_LVP_MDS.cwe, "1.0.0.0", "", pump_id))
    rows += [
        ("CWE", C.MDC_EVT_ALARM.cwe, "1.0.0.0.1", alert_code(alarm.rule, alarm.message), ""),
        ("CWE", C.MDC_ATTR_ALERT_SOURCE.cwe, "1.0.0.0.2", source, pump_id if pump else station_id),
        ("ST", C.MDC_ATTR_EVENT_PHASE.cwe, "1.0.0.0.3", phase, ""),
        ("ST", C.MDC_ATTR_ALARM_STATE.cwe, "1.0.0.0.4", alert_state, ""),
        ("ST", C.MDC_ATTR_ALARM_INACTIVATION_STATE.cwe, "1.0.0.0.5", inactivation, ""),
        ("ST", C.MDC_ATTR_ALARM_PRIORITY.cwe, "1.0.0.0.6", priority, ""),
        ("ST", C.MDC_ATTR_ALERT_TYPE.cwe, "1.0.0.0.7", alert_type(alarm.rule), ""),
    ]
    obr = segment(
        "OBR",
        "1",
        f"{text(feed.order_number)}^{text(b.settings.assigning_authority)}" if feed.order_number else "",
        f"{entry.position}^{text(b.settings.station_name)}^{b.station}^EUI-64",
        C.ALARM_SERVICE,
        "",
        "",
        when,
        *([""] * 21),
        parent(b, feed.session_id, alarm.alarm_id),
    )
    segments = [b.msh("R40", "ORU_R40", control, C.ACM_PROFILE), *b.patient(state, feed.visit_number), obr]
    for index, (kind_, code, sub_id, content, equipment) in enumerate(rows, start=1):
        segments.append(
            segment(
                "OBX",
                str(index),
                kind_,
                code,
                sub_id,
                content,
                "",
                "",
                "",
                "",
                "",
                "F",  # B.8.6: a Report Alert is final; updates come as further Report Alerts
                "",
                "",
                when,
                "",
                by if sub_id == "1.0.0.0.1" else "",
                "",
                equipment,
            )
        )
    return ReportAlert(control, f"alarm {phase}", "\r".join(segments) + "\r", at)


def alarm_entry_messages(feed: Session, entry: JournalEntry, part: int = 0) -> list[ReportAlert]:
    """The Report Alert of an alarm entry (raised, acknowledged, cleared), as the session now knows it."""
    p = entry.event.payload_as(AlarmEntry)
    alarm = feed.state.alarms.get(p.alarm_id) or AlarmRecord(
        p.alarm_id, p.rule, p.priority, p.message, entry.occurred_at
    )
    message = acm_message(feed, entry, alarm, EventType(entry.type), entry.occurred_at, part)
    return [message] if message is not None else []


def discharge_ends(feed: Session, before: ChairState, entry: JournalEntry) -> list[ReportAlert]:
    """At discharge every alert of the session still active ends (TF-2 B.8.5: start ... end)."""
    active = [
        a
        for a in sorted(before.alarms.values(), key=lambda a: a.raised_at)
        if a.cleared_at is None and not is_notification(a.rule)
    ]
    several = len(active) > 1
    messages = []
    for number, alarm in enumerate(active, start=1):
        message = acm_message(
            feed, entry, alarm, EventType.ALARM_CLEARED, entry.occurred_at, number if several else 0
        )
        if message is not None:
            messages.append(message)
    return messages
