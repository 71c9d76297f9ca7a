"""HL7 v2.6 messages for the hospital's systems (IHE PCD), built on a fast path of our own.

- Pump delivery events as IHE PCD IPEC (PCD-10) `ORU^R42^ORU_R01`, one event per message, laid out as
  the IPEC supplement's sample message. A rate change while running is a Delivery Stop with delivery
  status *transitioning* followed by a Delivery Start at the new rate; a pause is a Stop (not
  delivering, with the reason); a completion is a Complete (never "stopped by clinician"); pause then
  discontinue is one Stop. Stop and Complete always carry the delivered volume (the event's own, or
  the last pump sample's).
- Rates and volumes sampled from the pump, vital signs, reactions (a coded observation and an NTE) and
  notes (NTE) as PCD-01 `ORU^R01^ORU_R01`.
- Alarms as IHE PCD ACM `ORU^R40^ORU_R40` (raise, acknowledge, clear).

One chronological stream: every message sorted by the time it reports (journal order breaks ties).
`SessionFeed` turns one journal entry or one pump sample into messages, so a live feed can call it
as entries are recorded; `build_messages` runs it over an export range.

Segments are joined with our own encoder; every free-text value goes through `text` (HL7 escape
sequences). hl7apy's strict validation is kept in the tests (`parse_validated`), not on this path.
Codes: app.export.hl7_codes; identities: app.export.hl7_settings; both documented in docs/hl7.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from app.domain.chair import ChairState
from app.domain.delivery import ChangeKind, Delivery, DeliveryChange, StopReason, step
from app.domain.describe import Audience, describe, release_words
from app.domain.describe import number_text as num
from app.domain.events import (
    CheckedIn,
    EventType,
    InfusionCompleted,
    ReactionRecorded,
    VitalsRecorded,
)
from app.export import hl7_codes as C
from app.export.hl7_acm import alarm_entry_messages, discharge_ends
from app.export.hl7_encoding import hl7_time, segment, text
from app.export.hl7_settings import Hl7Settings
from app.export.model import (
    Progress,
    SessionLog,
    ShiftLog,
    TelemetrySample,
    delivered_rate_ml_h,
    is_person,
    no_progress,
)
from app.export.shifts import LocalTime
from app.store.journal import JournalEntry
from app.store.telemetry import volume_at

HL7_VERSION = "2.6"

# PID-5: the station knows the patient's initials, not a name. Initials are no XPN component (a family
# name "JD" would be read as a surname) and no HL7 table 0200 name type says "initials"; PCD TF-2 B.5
# PID-5: "If no name is available, the name type code should be U - unspecified, and the other
# components should be empty". The patient is identified by PID-3 (MRN) and PV1 (docs/hl7.md).
NO_NAME = "^^^^^^U"


@dataclass(frozen=True)
class Hl7Message:
    control_id: str
    trigger: str  # R42, R01 or R40
    what: str  # "delivery start", "pump sample", ...
    session_id: str
    er7: str  # segments separated by CR, the last one ended by CR
    at: datetime | None = None  # the moment the message reports (for the chronological order)
    position: int = 0  # journal position of the entry it comes from (0 for pump samples)


# ------------------------------------------------------------------------------------------------
# Encoding

# text, hl7_time and segment live in app.export.hl7_encoding (the ACM module uses them too)


# (value type, OBX-3, OBX-4 sub-id, OBX-5, OBX-6 unit, OBX-8 abnormal flags)
Value = tuple[str, str, str, str, str, str]


def value(kind: str, code: str, sub_id: str, content: str = "", unit: str = "", flags: str = "") -> Value:
    return (kind, code, sub_id, content, unit, flags)


@dataclass(frozen=True)
class _Delivery:
    """What the pump was doing at a moment, for the IPEC values."""

    infusing: bool
    current_rate_ml_h: float
    programmed_rate_ml_h: float
    vtbi_ml: float
    delivered_ml: float | None
    status: str  # delivering | not-delivering | transitioning
    not_delivering_reason: str = ""  # pump-stopped-by-clinician | pump-stopped-not-specified | ...


# ------------------------------------------------------------------------------------------------
# Message building


class Hl7Builder:
    """Builds the messages of one station; `created` is MSH-7 (the export time, or now for a feed)."""

    def __init__(self, settings: Hl7Settings, local: LocalTime, created: datetime) -> None:
        self.settings = settings
        self.local = local
        self.created = hl7_time(local, created)
        self.station = settings.station_id
        self.sender = f"{text(settings.station_name)}^{self.station}^EUI-64"

    def time(self, moment: datetime) -> str:
        return hl7_time(self.local, moment)

    def stamp(self, created: datetime) -> None:
        """MSH-7 of the messages built from now on (a live feed stamps each message as it sends)."""
        self.created = hl7_time(self.local, created)

    def msh(self, trigger: str, structure: str, control_id: str, profile: str) -> str:
        return segment(
            "MSH",
            "^~\\&",
            self.sender,
            text(self.settings.facility),
            "",
            "",
            self.created,
            "",
            f"ORU^{trigger}^{structure}",
            control_id,
            "P",
            HL7_VERSION,
            "",
            "",
            "AL",
            "NE",
            "",
            "UNICODE UTF-8",
            "",
            "",
            profile,
        )

    def patient(self, state: ChairState, visit: str) -> list[str]:
        authority = text(self.settings.assigning_authority)
        location = f"{text(self.settings.point_of_care)}^^{text(state.chair)}^{text(self.settings.facility)}"
        pv1 = ["", "O", location] + [""] * 15 + [f"{text(visit)}^^^{authority}^VN" if visit else ""]
        return [
            segment(
                "PID",
                "",
                "",
                f"{text(state.patient_mrn)}^^^{authority}^MR",
                "",
                NO_NAME,
            ),
            segment("PV1", *pv1),
        ]

    def obr(self, order: str, filler: str, service: str, at: datetime) -> str:
        placer = f"{text(order)}^{text(self.settings.assigning_authority)}" if order else ""
        return segment("OBR", "1", placer, filler, service, "", "", self.time(at))

    def filler(self, key: str) -> str:
        return f"{text(key)}^{text(self.settings.station_name)}^{self.station}^EUI-64"

    def equipment(self, chair: str) -> str:
        """OBX-18 of the pump's MDS row: the chair's pump by its EUI-64."""
        return f"{text(chair)}^^{self.settings.pump_id(chair)}^EUI-64"

    def station_equipment(self) -> str:
        """OBX-18 of the station's own MDS row (what the nurse typed in, the station's alerts)."""
        return f"{text(self.settings.station_name)}^^{self.station}^EUI-64"

    @staticmethod
    def obx(values: Sequence[Value], at: str, observer: str, equipment: str, method: str = "") -> list[str]:
        """OBX rows; `method` is OBX-17 (observation method) of the rows with a value."""
        segments = []
        for index, (kind, code, sub_id, content, unit, flags) in enumerate(values, start=1):
            segments.append(
                segment(
                    "OBX",
                    str(index),
                    kind,
                    code,
                    sub_id,
                    content,
                    unit,
                    "",
                    flags,
                    "",
                    "",
                    "R" if content else "X",
                    "",
                    "",
                    at,
                    "",
                    observer if content else "",
                    method if content else "",
                    equipment if sub_id == "1.0.0.0" else "",
                )
            )
        return segments

    @staticmethod
    def nte(comments: Iterable[str]) -> list[str]:
        return [segment("NTE", str(i), "", text(c)) for i, c in enumerate(comments, start=1) if c]

    @staticmethod
    def join(segments: Sequence[str]) -> str:
        return "\r".join(segments) + "\r"


def observer(actor: str) -> str:
    """OBX-16 responsible observer (XCN): the nurse's station user name as the ID."""
    return text(actor) if is_person(actor) else ""


def _status_value(infusing: bool) -> str:
    return "^pump-status-infusing" if infusing else "^pump-status-not-infusing"


def delivery_values(state: ChairState, event_code: C.Mdc, d: _Delivery, at: str) -> list[Value]:
    """The IPEC event's OBX values, as in the supplement's sample message (MDS / VMD / delivery info /
    primary source)."""
    # The pump never delivers more than the bag: a reading past it (the line's overfill, a pump
    # counting on in KVO) is reported as the VTBI, so delivered + remaining always add up.
    delivered = None if d.delivered_ml is None else min(d.delivered_ml, d.vtbi_ml)
    remaining = None if delivered is None else max(0.0, d.vtbi_ml - delivered)
    # Time remaining at the programmed rate, with Starts, Stops and Completes alike (IPEC X.1.2.1-4)
    minutes_left = (
        None
        if remaining is None or d.programmed_rate_ml_h <= 0
        else round(remaining / d.programmed_rate_ml_h * 60.0)
    )
    values = [
        value("", C.MDC_DEV_PUMP_INFUS_LVP_MDS.cwe, "1.0.0.0"),
        value("CWE", C.MDC_ATTR_EVT_COND.cwe, "1.0.0.1", event_code.cwe),
        value("ST", C.MDC_ATTR_EVT_SOURCE.cwe, "1.0.0.2", "1.1.2.0"),
        value("DTM", C.MDC_ATTR_TIME_ABS.cwe, "1.0.0.3", at),
        value("", C.MDC_DEV_PUMP_INFUS_LVP_VMD.cwe, "1.1.0.0"),
        value("", C.MDC_DEV_PUMP_DELIVERY_INFO.cwe, "1.1.1.0"),
        value("CWE", C.MDC_PUMP_INFUSING_STATUS.cwe, "1.1.1.1", _status_value(d.infusing)),
        value("NM", C.MDC_FLOW_FLUID_PUMP_CURRENT.cwe, "1.1.1.2", num(d.current_rate_ml_h), C.UNIT_ML_H.cwe),
        value("CWE", C.MDC_DEV_PUMP_ACTIVE_SOURCES.cwe, "1.1.1.3", "^pump-source-info-primary"),
        value("", C.MDC_DEV_PUMP_INFUSATE_SOURCE_PRIMARY.cwe, "1.1.2.0"),
        value(
            "CWE", C.MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS.cwe, "1.1.2.1", f"^pump-delivery-status-{d.status}"
        ),
        value(
            "CWE",
            C.MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE.cwe,
            "1.1.2.2",
            "^pump-program-delivery-mode-continuous",
        ),
        value("ST", C.MDC_DEV_PUMP_SOURCE_CHANNEL_LABEL.cwe, "1.1.2.3", "Primary"),
        value("NM", C.MDC_FLOW_FLUID_PUMP.cwe, "1.1.2.4", num(d.programmed_rate_ml_h), C.UNIT_ML_H.cwe),
        value("NM", C.MDC_VOL_FLUID_TBI.cwe, "1.1.2.6", num(d.vtbi_ml), C.UNIT_ML.cwe),
    ]
    if delivered is not None and remaining is not None:
        values += [
            value("NM", C.MDC_VOL_FLUID_DELIV_TOTAL.cwe, "1.1.2.7", num(delivered), C.UNIT_ML.cwe),
            value("NM", C.MDC_VOL_FLUID_TBI_REMAIN.cwe, "1.1.2.8", num(remaining), C.UNIT_ML.cwe),
        ]
    if minutes_left is not None:
        values.append(value("NM", C.MDC_TIME_PD_REMAIN.cwe, "1.1.2.9", str(minutes_left), C.UNIT_MIN.cwe))
    if state.protocol is not None:
        values.append(value("ST", C.MDC_DRUG_NAME_LABEL.cwe, "1.1.2.10", text(state.protocol.drug)))
    if d.not_delivering_reason:
        values.append(
            value("CWE", C.MDC_DEV_PUMP_NOT_DELIVERING_REASON.cwe, "1.1.2.11", f"^{d.not_delivering_reason}")
        )
    return values


def pcd01_values(d: _Delivery) -> list[Value]:
    """A pump sample: rate and volumes (PCD-01 device data), in the IPEC message's containment tree
    (MDS, VMD, delivery info channel, primary source channel), every metric under its device rows."""
    values = [
        value("", C.MDC_DEV_PUMP_INFUS_LVP_MDS.cwe, "1.0.0.0"),
        value("", C.MDC_DEV_PUMP_INFUS_LVP_VMD.cwe, "1.1.0.0"),
        value("", C.MDC_DEV_PUMP_DELIVERY_INFO.cwe, "1.1.1.0"),
        value("CWE", C.MDC_PUMP_INFUSING_STATUS.cwe, "1.1.1.1", _status_value(d.infusing)),
        value("NM", C.MDC_FLOW_FLUID_PUMP.cwe, "1.1.1.2", num(d.current_rate_ml_h), C.UNIT_ML_H.cwe),
        value("", C.MDC_DEV_PUMP_INFUSATE_SOURCE_PRIMARY.cwe, "1.1.2.0"),
        value("NM", C.MDC_VOL_FLUID_TBI.cwe, "1.1.2.6", num(d.vtbi_ml), C.UNIT_ML.cwe),
    ]
    if d.delivered_ml is not None:
        delivered = min(d.delivered_ml, d.vtbi_ml)  # never more than the bag (as in delivery_values)
        remaining = max(0.0, d.vtbi_ml - delivered)
        values += [
            value("NM", C.MDC_VOL_FLUID_DELIV_TOTAL.cwe, "1.1.2.7", num(delivered), C.UNIT_ML.cwe),
            value("NM", C.MDC_VOL_FLUID_TBI_REMAIN.cwe, "1.1.2.8", num(remaining), C.UNIT_ML.cwe),
        ]
    return values


def _containment_key(sub_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in sub_id.split("."))


def contained(devices: dict[str, str], values: Sequence[Value]) -> list[Value]:
    """`values` with the device rows (MDS, VMD, channel; OBX-3 from `devices` by OBX-4) they hang off,
    in dictionary order of OBX-4 (PCD TF-2 B.8.3, B.8.4). A 0 VMD or channel is anonymous: no row."""
    needed: set[str] = set()
    for _, _, sub_id, *_ in values:
        mds, vmd, chan = sub_id.split(".")[:3]
        needed.add(f"{mds}.0.0.0")
        if vmd != "0":
            needed.add(f"{mds}.{vmd}.0.0")
            if chan != "0":
                needed.add(f"{mds}.{vmd}.{chan}.0")
    rows = [value("", devices[sub_id], sub_id) for sub_id in needed]
    return sorted([*rows, *values], key=lambda row: _containment_key(row[2]))


@dataclass
class SessionFeed:
    """One session's messages, entry by entry and sample by sample, in the order they were recorded.

    A live feed keeps one per open session and calls `on_entry` / `on_sample` as things are recorded;
    the export replays a session from its check-in and keeps the messages of the entries in range."""

    builder: Hl7Builder
    session_id: str
    state: ChairState = field(init=False)
    last_volume_ml: float | None = None
    last_sample_message: datetime | None = None
    visit_number: str = ""
    order_number: str = ""
    nurse: str = ""
    samples: Sequence[TelemetrySample] = ()  # the export gives the session's readings: volumes interpolate
    delivery: Delivery = field(default_factory=Delivery)  # the session's delivery so far (its segments)

    def __post_init__(self) -> None:
        self.state = ChairState(self.session_id)

    # -- inputs

    def on_entry(self, entry: JournalEntry, emit: bool = True) -> list[Hl7Message]:
        before = self.state
        event = entry.to_event()
        self.state = after = before.apply(event)
        self.delivery, changes = step(self.delivery, event)
        if isinstance(event.payload, CheckedIn):
            self.visit_number = event.payload.visit_number
            self.order_number = event.payload.order_number
        if is_person(entry.actor):
            self.nurse = entry.actor
        if entry.type == EventType.INFUSION_STARTED:
            self.last_volume_ml = 0.0
        if isinstance(event.payload, InfusionCompleted) and event.payload.volume_infused_ml is not None:
            self.last_volume_ml = float(event.payload.volume_infused_ml)
        if not emit or after.bag is None:
            return []
        return self._messages(changes, before, entry)

    def on_sample(self, sample: TelemetrySample, interval_min: float, emit: bool = True) -> list[Hl7Message]:
        if sample.volume_ml is not None:
            self.last_volume_ml = sample.volume_ml
        state = self.state
        if not emit or interval_min <= 0 or state.bag is None:
            return []
        if self.last_sample_message is not None and sample.at - self.last_sample_message < timedelta(
            minutes=interval_min
        ):
            return []
        self.last_sample_message = sample.at
        delivered = delivered_rate_ml_h(sample)
        infusing = delivered > 0
        d = _Delivery(
            infusing,
            delivered,
            sample.rate_ml_h,
            state.bag.volume_ml,
            sample.volume_ml,
            "delivering" if infusing else "not-delivering",
        )
        control = f"{self.builder.station}.{self.session_id[:8]}.{sample.at:%Y%m%d%H%M%S}"
        segments = self._head("R01", "ORU_R01", control, C.PCD01_PROFILE, "", C.PCD01_SERVICE, sample.at)
        segments += Hl7Builder.obx(
            pcd01_values(d), self.builder.time(sample.at), "", self.builder.equipment(state.chair)
        )
        return [
            Hl7Message(
                control, "R01", "pump sample", self.session_id, Hl7Builder.join(segments), sample.at, 0
            )
        ]

    def volume_at(self, moment: datetime) -> float | None:
        """The delivered volume at `moment`: interpolated between the stored readings (app.store.telemetry)
        when the feed has them, else the last one seen, else the last the journal recorded."""
        if self.samples:
            interpolated = volume_at(self.samples, moment)
            if interpolated is not None:
                return round(interpolated, 3)
        return self.last_volume_ml

    # -- message kinds

    def _head(
        self,
        trigger: str,
        structure: str,
        control: str,
        profile: str,
        filler_key: str,
        service: str,
        at: datetime,
    ) -> list[str]:
        b = self.builder
        filler = b.filler(filler_key or self.session_id)
        return [
            b.msh(trigger, structure, control, profile),
            *b.patient(self.state, self.visit_number),
            b.obr(self.order_number, filler, service, at),
        ]

    def _service(self) -> str:
        protocol = self.state.protocol
        return f"{text(protocol.id)}^{text(protocol.name)}^L" if protocol else C.PCD01_SERVICE

    def _messages(
        self, changes: list[DeliveryChange], before: ChairState, entry: JournalEntry
    ) -> list[Hl7Message]:
        """The IPEC events of the delivery changes this entry made (app.domain.delivery: the one rule
        for segments and their stop reasons), then the entry's own message if it has one, then its ACM
        alerts."""
        assert self.state.bag is not None
        vtbi = self.state.bag.volume_ml
        out: list[tuple[C.Mdc, _Delivery, str, datetime]] = []
        for change in changes:  # dated by the delivery (a back-dated entry never stops before a start)
            rate = change.rate_ml_h
            delivered = self.volume_at(change.at)
            if change.kind is ChangeKind.START:
                volume = 0.0 if entry.type == EventType.INFUSION_STARTED else delivered
                what = "start (rate change)" if out else "start"
                d = _Delivery(True, rate, rate, vtbi, volume, "delivering")
                out.append((C.MDC_EVT_PUMP_DELIV_START, d, what, change.at))
            elif change.reason is StopReason.RATE_CHANGE:
                d = _Delivery(True, rate, rate, vtbi, delivered, "transitioning")
                out.append((C.MDC_EVT_PUMP_DELIV_STOP, d, "stop (rate change)", change.at))
            else:
                assert change.reason is not None
                reason = C.NOT_DELIVERING_REASON[change.reason]
                if change.kind is ChangeKind.COMPLETE:  # the completion's own volume comes first
                    total = change.volume_ml if change.volume_ml is not None else delivered
                    d = _Delivery(False, 0.0, rate, vtbi, total or 0.0, "not-delivering", reason)
                    out.append((C.MDC_EVT_PUMP_DELIV_COMP, d, "complete", change.at))
                else:
                    d = _Delivery(False, 0.0, rate, vtbi, delivered or 0.0, "not-delivering", reason)
                    out.append((C.MDC_EVT_PUMP_DELIV_STOP, d, f"stop ({change.reason.value})", change.at))
        extra = {
            EventType.VITALS_RECORDED: self._vitals,
            EventType.REACTION_RECORDED: self._reaction,
            EventType.NOTE_ADDED: self._note,
        }.get(EventType(entry.type))
        if extra is None and release_words(entry.event):  # a discharge on a prescriber's release: its NTE
            extra = self._note
        several = len(out) + (extra is not None) > 1  # then MSH-10 is position.1, position.2, ...
        messages = [
            self._delivery_message(entry, code, d, what, index if several else 0, at)
            for index, (code, d, what, at) in enumerate(out, start=1)
        ]
        if extra is not None:
            messages.append(extra(entry, len(out) + 1 if several else 0))
        messages += self._alerts(before, entry)
        return messages

    def _alerts(self, before: ChairState, entry: JournalEntry) -> list[Hl7Message]:
        """ACM Report Alerts (app.export.hl7_acm): an alarm entry's, and at discharge the end of every
        alert still active."""
        kind = EventType(entry.type)
        if kind in (EventType.ALARM_RAISED, EventType.ALARM_ACKNOWLEDGED, EventType.ALARM_CLEARED):
            alerts = alarm_entry_messages(self, entry)
        elif kind == EventType.DISCHARGED:
            alerts = discharge_ends(self, before, entry)
        else:
            return []
        return [
            Hl7Message(a.control_id, "R40", a.what, self.session_id, a.er7, a.at, entry.position)
            for a in alerts
        ]

    def _control(self, entry: JournalEntry, part: int = 0) -> str:
        return f"{self.builder.station}.{entry.position}" + (f".{part}" if part else "")

    def _delivery_message(
        self, entry: JournalEntry, code: C.Mdc, d: _Delivery, what: str, part: int, at: datetime
    ) -> Hl7Message:
        control = self._control(entry, part)
        b = self.builder
        segments = self._head("R42", "ORU_R01", control, C.PCD10_PROFILE, "", self._service(), at)
        values = delivery_values(self.state, code, d, b.time(at))
        responsible = self.state.assigned_nurse or self.nurse  # the domain's responsible nurse
        segments += b.obx(values, b.time(at), observer(responsible), b.equipment(self.state.chair))
        return self._message(control, "R42", f"delivery {what}", entry, segments, at)

    def _message(
        self,
        control: str,
        trigger: str,
        what: str,
        entry: JournalEntry,
        segments: list[str],
        at: datetime | None = None,
    ) -> Hl7Message:
        return Hl7Message(
            control,
            trigger,
            what,
            self.session_id,
            Hl7Builder.join(segments),
            entry.occurred_at if at is None else at,
            entry.position,
        )

    def _vitals(self, entry: JournalEntry, part: int = 0) -> Hl7Message:
        control = self._control(entry, part)
        b = self.builder
        values: list[Value] = []
        vitals = entry.event.payload_as(VitalsRecorded)
        recorded, alerts = vitals.values, vitals.alerts
        for key, (term, unit, sub_id) in C.VITAL_SIGNS.items():
            if key in recorded and recorded[key] is not None:
                values.append(value("NM", term.cwe, sub_id, num(recorded[key]), unit.cwe))
        segments = self._head(
            "R01", "ORU_R01", control, C.PCD01_PROFILE, "", C.PCD01_SERVICE, entry.occurred_at
        )
        segments += b.nte(f"ALERT: {a}" for a in alerts)
        rows = contained(C.VITAL_SIGN_DEVICES, values)  # the station (manual entry) is their MDS
        when, by = b.time(entry.occurred_at), observer(entry.actor)
        segments += b.obx(rows, when, by, b.station_equipment(), C.MANUAL_MEASUREMENT)
        return self._message(control, "R01", "vital signs", entry, segments)

    def _reaction(self, entry: JournalEntry, part: int = 0) -> Hl7Message:
        control = self._control(entry, part)
        b = self.builder
        p = entry.event.payload_as(ReactionRecorded)
        grade = int(p.grade)
        values = [
            value("CWE", C.INFUSION_REACTION, "1.0.0.1", f"{grade}^CTCAE grade {grade}^L", "", "A"),
            value("NM", C.MDC_FLOW_FLUID_PUMP.cwe, "1.0.0.2", num(p.rate_at_onset_ml_h), C.UNIT_ML_H.cwe),
        ]
        notes = [describe(entry.event, Audience.HL7)]
        if p.notes:
            notes.append(p.notes)
        segments = self._head(
            "R01", "ORU_R01", control, C.PCD01_PROFILE, "", C.PCD01_SERVICE, entry.occurred_at
        )
        rows = contained({"1.0.0.0": C.STATION_MANUAL_ENTRY_MDS}, values)  # entered by the nurse: the station
        segments += b.obx(rows, b.time(entry.occurred_at), observer(entry.actor), b.station_equipment())
        segments += b.nte(notes)
        return self._message(control, "R01", "reaction", entry, segments)

    def _note(self, entry: JournalEntry, part: int = 0) -> Hl7Message:
        control = self._control(entry, part)
        b = self.builder
        segments = self._head(
            "R01", "ORU_R01", control, C.PCD01_PROFILE, "", C.PCD01_SERVICE, entry.occurred_at
        )
        segments += b.nte([describe(entry.event, Audience.HL7)])
        return self._message(control, "R01", "note", entry, segments)


# ------------------------------------------------------------------------------------------------
# The export


def session_messages(
    builder: Hl7Builder, log: ShiftLog, session: SessionLog, interval_min: float
) -> list[Hl7Message]:
    """Replay a session from its check-in; keep the messages of the entries and samples in range."""
    in_range = {e.position for e in session.entries}
    feed = SessionFeed(builder, session.session_id, samples=session.telemetry)
    samples = session.telemetry
    index = 0
    messages: list[Hl7Message] = []

    def feed_samples(until: datetime | None) -> None:
        nonlocal index
        while index < len(samples) and (until is None or samples[index].at <= until):
            sample = samples[index]
            messages.extend(
                feed.on_sample(sample, interval_min, log.range.since <= sample.at < log.range.until)
            )
            index += 1

    for entry in session.history:
        feed_samples(entry.occurred_at)
        messages.extend(feed.on_entry(entry, emit=entry.position in in_range))
    feed_samples(None)
    return messages


def chronological(messages: Iterable[Hl7Message]) -> list[Hl7Message]:
    """One stream ordered by the time each message reports; journal order, then build order, break ties."""
    numbered = list(enumerate(messages))
    numbered.sort(key=lambda item: (item[1].at or datetime.min, item[1].position or 0, item[0]))
    return [message for _, message in numbered]


def build_messages(
    log: ShiftLog,
    settings: Hl7Settings | None = None,
    progress: Progress = no_progress,
) -> list[Hl7Message]:
    settings = settings or Hl7Settings()
    builder = Hl7Builder(settings, log.local, log.exported_at)
    messages: list[Hl7Message] = []
    for index, session in enumerate(log.sessions):
        messages += session_messages(builder, log, session, settings.sample_interval_min)
        progress(0.3 + 0.6 * (index + 1) / max(1, len(log.sessions)), f"HL7 for {session.chair}")
    return chronological(messages)


def write_hl7(messages: Iterable[Hl7Message], output: Path) -> int:
    """Messages one after another, each segment (the last one too) ended by CR and nothing between
    messages: the byte stream an interface engine reads, split on MSH (docs/hl7.md)."""
    count = 0
    with output.open("w", encoding="utf-8", newline="") as handle:
        for message in messages:
            handle.write(message.er7)
            count += 1
    return count


def read_hl7_file(path: Path) -> list[str]:
    """The messages of an .hl7 file (each as ER7, segments ended by CR); CR LF and LF are accepted."""
    content = path.read_text(encoding="utf-8").replace("\r\n", "\r").replace("\n", "\r")
    return split_messages(content)


def split_messages(content: str) -> list[str]:
    messages: list[str] = []
    current: list[str] = []
    for seg in content.split("\r"):
        if not seg:
            continue
        if seg.startswith("MSH|") and current:
            messages.append("\r".join(current) + "\r")
            current = []
        current.append(seg)
    if current:
        messages.append("\r".join(current) + "\r")
    return messages
