"""HL7 v2.6 messages for the hospital's systems, built and validated with hl7apy.

- Pump delivery events as IHE PCD IPEC (PCD-10) `ORU^R42^ORU_R01`: delivery start (infusion started,
  resumed), delivery stop (paused, stopped for a reaction, discontinued) and delivery complete. One
  event per message, as the profile asks, laid out as in the IPEC supplement's sample message (MDS /
  VMD / delivery info / primary source containment in OBX-4).
- Rate and volume as PCD-01 `ORU^R01^ORU_R01`: one message per journal rate change, plus pump samples
  (journal telemetry) at most every `sample_interval_min`.

MDC codes from reference/pump-protocols.md; where the IPEC supplement publishes no numeric code yet
(delivery stop/complete and several attributes) the code is 0 with the reference id, exactly as the
supplement's own sample does ("code value of 0 are pending"). Times are local with offset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

from app.domain.chair import ChairState
from app.domain.events import EventType
from app.domain.phase import Phase
from app.export.model import ExportError, Progress, SessionLog, ShiftLog, TelemetrySample, no_progress
from app.export.records import num
from app.export.shifts import LocalTime
from app.store.journal import JournalEntry
from app.store.telemetry import volume_at

HL7_VERSION = "2.6"
SENDING_APPLICATION = "CHAIRSIDE"
PCD10_PROFILE = "IHE_PCD_010^IHE PCD^1.3.6.1.4.1.19376.1.6.4.10^ISO"
PCD01_PROFILE = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
PCD01_SERVICE = "182777000^monitoring of patient^SNOMED-CT"


@dataclass(frozen=True)
class Mdc:
    code: int
    ref_id: str

    @property
    def cwe(self) -> str:
        return f"{self.code}^{self.ref_id}^MDC"


# Codes given in reference/pump-protocols.md
MDC_FLOW_FLUID_PUMP = Mdc(157784, "MDC_FLOW_FLUID_PUMP")
MDC_VOL_FLUID_TBI = Mdc(157884, "MDC_VOL_FLUID_TBI")
MDC_VOL_FLUID_DELIV_TOTAL = Mdc(157993, "MDC_VOL_FLUID_DELIV_TOTAL")
MDC_VOL_FLUID_TBI_REMAIN = Mdc(157872, "MDC_VOL_FLUID_TBI_REMAIN")
MDC_TIME_PD_REMAIN = Mdc(157916, "MDC_TIME_PD_REMAIN")
MDC_PUMP_INFUSING_STATUS = Mdc(184519, "MDC_PUMP_INFUSING_STATUS")
MDC_EVT_PUMP_DELIV_START = Mdc(197288, "MDC_EVT_PUMP_DELIV_START")
MDC_EVT_ALARM = Mdc(196616, "MDC_EVT_ALARM")
MDC_EVT_FLUID_LINE_OCCL = Mdc(196940, "MDC_EVT_FLUID_LINE_OCCL")
# Codes from the IPEC supplement's sample message and tables
MDC_DEV_PUMP_INFUS_LVP_MDS = Mdc(70049, "MDC_DEV_PUMP_INFUS_LVP_MDS")
MDC_DEV_PUMP_INFUS_LVP_VMD = Mdc(70050, "MDC_DEV_PUMP_INFUS_LVP_VMD")
MDC_DRUG_NAME_LABEL = Mdc(184514, "MDC_DRUG_NAME_LABEL")
# Published with code 0 (pending) in the IPEC supplement
MDC_EVT_PUMP_DELIV_STOP = Mdc(0, "MDC_EVT_PUMP_DELIV_STOP")
MDC_EVT_PUMP_DELIV_COMP = Mdc(0, "MDC_EVT_PUMP_DELIV_COMP")
MDC_ATTR_EVT_COND = Mdc(0, "MDC_ATTR_EVT_COND")
MDC_DEV_PUMP_DELIVERY_INFO = Mdc(0, "MDC_DEV_PUMP_DELIVERY_INFO")
MDC_FLOW_FLUID_PUMP_CURRENT = Mdc(0, "MDC_FLOW_FLUID_PUMP_CURRENT")
MDC_DEV_PUMP_ACTIVE_SOURCES = Mdc(0, "MDC_DEV_PUMP_ACTIVE_SOURCES")
MDC_DEV_PUMP_INFUSATE_SOURCE_PRIMARY = Mdc(0, "MDC_DEV_PUMP_INFUSATE_SOURCE_PRIMARY")
MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS = Mdc(0, "MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS")
MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE = Mdc(0, "MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE")
MDC_DEV_PUMP_NOT_DELIVERING_REASON = Mdc(0, "MDC_DEV_PUMP_NOT_DELIVERING_REASON")
MDC_DEV_PUMP_SOURCE_CHANNEL_LABEL = Mdc(0, "MDC_DEV_PUMP_SOURCE_CHANNEL_LABEL")

UNIT_ML_H = "265266^MDC_DIM_MILLI_L_PER_HR^MDC^mL/h^mL/h^UCUM"
UNIT_ML = "263762^MDC_DIM_MILLI_L^MDC^mL^mL^UCUM"
UNIT_MIN = "264352^MDC_DIM_MIN^MDC^min^min^UCUM"

DELIVERY_EVENTS = {
    "start": MDC_EVT_PUMP_DELIV_START,
    "stop": MDC_EVT_PUMP_DELIV_STOP,
    "complete": MDC_EVT_PUMP_DELIV_COMP,
}


@dataclass(frozen=True)
class Hl7Message:
    control_id: str
    trigger: str  # "R42" or "R01"
    what: str  # "delivery start", "rate change", ...
    session_id: str
    er7: str  # segments separated by CR


@dataclass(frozen=True)
class _Delivery:
    """What the pump was doing at a moment, for the OBX values."""

    infusing: bool
    current_rate_ml_h: float
    programmed_rate_ml_h: float
    vtbi_ml: float
    delivered_ml: float | None


_SPECIALS = {
    "\\": "\\E\\",
    "|": "\\F\\",
    "^": "\\S\\",
    "&": "\\T\\",
    "~": "\\R\\",
    "\r": "\\X0D\\",
    "\n": "\\X0A\\",
}
_SPECIAL_RE = re.compile(r"[\\|^&~\r\n]")


def text(value: object) -> str:
    """A value made safe for one HL7 component (delimiters escaped as HL7 escape sequences)."""
    return _SPECIAL_RE.sub(lambda m: _SPECIALS[m.group(0)], str(value))


def hl7_time(local: LocalTime, moment: datetime) -> str:
    return local.to_local(moment).strftime("%Y%m%d%H%M%S%z")


class _Builder:
    def __init__(self, log: ShiftLog, facility: str) -> None:
        self.log = log
        self.local = log.local
        self.facility = facility
        self.created = hl7_time(log.local, log.exported_at)

    def message(self, trigger: str, control_id: str, profile: str) -> Message:
        m = Message("ORU_R01", version=HL7_VERSION, validation_level=VALIDATION_LEVEL.STRICT)
        m.msh.msh_3 = SENDING_APPLICATION
        m.msh.msh_4 = text(self.facility)
        m.msh.msh_7 = self.created
        m.msh.msh_9 = f"ORU^{trigger}^ORU_R01"
        m.msh.msh_10 = control_id
        m.msh.msh_11 = "P"
        m.msh.msh_12 = HL7_VERSION
        m.msh.msh_15 = "AL"
        m.msh.msh_16 = "NE"
        m.msh.msh_18 = "UNICODE UTF-8"
        m.msh.msh_21 = profile
        return m

    def patient_order(self, m: Message, state: ChairState, placer: str, service: str, at: datetime) -> object:
        result = m.add_group("ORU_R01_PATIENT_RESULT")
        patient = result.add_group("ORU_R01_PATIENT")
        patient.pid.pid_3 = f"{text(state.patient_mrn)}^^^{SENDING_APPLICATION}^MR"
        patient.pid.pid_5 = f"{text(state.patient_initials)}^^^^^^U"
        visit = patient.add_group("ORU_R01_VISIT")
        visit.pv1.pv1_2 = "O"
        visit.pv1.pv1_3 = f"{text(self.facility)}^{text(state.chair)}"
        order = result.add_group("ORU_R01_ORDER_OBSERVATION")
        order.obr.obr_1 = "1"
        order.obr.obr_2 = f"{text(state.session_id)}^{SENDING_APPLICATION}"
        order.obr.obr_3 = f"{text(placer)}^{SENDING_APPLICATION}"
        order.obr.obr_4 = service
        order.obr.obr_7 = hl7_time(self.local, at)
        return order

    @staticmethod
    def obx(order: object, values: Sequence[tuple[str, str, str, str, str]], at: str, equipment: str) -> None:
        for index, (value_type, code, sub_id, value, unit) in enumerate(values, start=1):
            group = order.add_group("ORU_R01_OBSERVATION")  # type: ignore[attr-defined]
            obx = group.obx
            obx.obx_1 = str(index)
            if value_type:
                obx.obx_2 = value_type
            obx.obx_3 = code
            obx.obx_4 = sub_id
            if value:
                obx.obx_5 = value
            if unit:
                obx.obx_6 = unit
            obx.obx_11 = "R" if value else "X"
            obx.obx_14 = at
            if sub_id == "1.0.0.0":
                obx.obx_18 = equipment

    def delivery_values(self, state: ChairState, d: _Delivery) -> list[tuple[str, str, str, str, str]]:
        remaining = None if d.delivered_ml is None else max(0.0, d.vtbi_ml - d.delivered_ml)
        minutes_left = (
            None
            if remaining is None or d.current_rate_ml_h <= 0
            else round(remaining / d.current_rate_ml_h * 60.0)
        )
        values = [
            (
                "CWE",
                MDC_PUMP_INFUSING_STATUS.cwe,
                "1.1.1.1",
                _status_value(d.infusing),
                "",
            ),
            ("NM", MDC_FLOW_FLUID_PUMP_CURRENT.cwe, "1.1.1.2", num(d.current_rate_ml_h), UNIT_ML_H),
            ("CWE", MDC_DEV_PUMP_ACTIVE_SOURCES.cwe, "1.1.1.3", "^pump-source-info-primary", ""),
            ("", MDC_DEV_PUMP_INFUSATE_SOURCE_PRIMARY.cwe, "1.1.2.0", "", ""),
            (
                "CWE",
                MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS.cwe,
                "1.1.2.1",
                "^pump-delivery-status-delivering" if d.infusing else "^pump-delivery-status-not-delivering",
                "",
            ),
            (
                "CWE",
                MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE.cwe,
                "1.1.2.2",
                "^pump-program-delivery-mode-continuous",
                "",
            ),
        ]
        if not d.infusing:
            values.append(
                ("CWE", MDC_DEV_PUMP_NOT_DELIVERING_REASON.cwe, "1.1.2.3", "^pump-stopped-by-clinician", "")
            )
        values += [
            ("ST", MDC_DEV_PUMP_SOURCE_CHANNEL_LABEL.cwe, "1.1.2.4", "Primary", ""),
            ("NM", MDC_FLOW_FLUID_PUMP.cwe, "1.1.2.5", num(d.programmed_rate_ml_h), UNIT_ML_H),
            ("NM", MDC_VOL_FLUID_TBI.cwe, "1.1.2.6", num(d.vtbi_ml), UNIT_ML),
        ]
        if d.delivered_ml is not None and remaining is not None:
            values += [
                ("NM", MDC_VOL_FLUID_DELIV_TOTAL.cwe, "1.1.2.7", num(d.delivered_ml), UNIT_ML),
                ("NM", MDC_VOL_FLUID_TBI_REMAIN.cwe, "1.1.2.8", num(remaining), UNIT_ML),
            ]
        if minutes_left is not None:
            values.append(("NM", MDC_TIME_PD_REMAIN.cwe, "1.1.2.9", str(minutes_left), UNIT_MIN))
        if state.protocol is not None:
            values.append(("ST", MDC_DRUG_NAME_LABEL.cwe, "1.1.2.10", text(state.protocol.drug), ""))
        return values

    def device_head(self) -> list[tuple[str, str, str, str, str]]:
        return [("", MDC_DEV_PUMP_INFUS_LVP_MDS.cwe, "1.0.0.0", "", "")]

    def vmd(self) -> list[tuple[str, str, str, str, str]]:
        return [
            ("", MDC_DEV_PUMP_INFUS_LVP_VMD.cwe, "1.1.0.0", "", ""),
            ("", MDC_DEV_PUMP_DELIVERY_INFO.cwe, "1.1.1.0", "", ""),
        ]

    def finish(self, m: Message, trigger: str, what: str, session_id: str) -> Hl7Message:
        try:
            m.validate()
        except HL7apyException as exc:
            raise ExportError(f"HL7 {what} message for session {session_id} is not valid: {exc}") from exc
        er7 = m.to_er7()
        return Hl7Message(str(m.msh.msh_10.value), trigger, what, session_id, er7)

    def delivery_event(self, state: ChairState, entry: JournalEntry, kind: str, d: _Delivery) -> Hl7Message:
        control = f"CS{entry.position}"
        m = self.message("R42", control, PCD10_PROFILE)
        placer = f"{state.session_id}-{entry.seq}"
        service = (
            f"{text(state.protocol.id)}^{text(state.protocol.name)}^L" if state.protocol else PCD01_SERVICE
        )
        order = self.patient_order(m, state, placer, service, entry.occurred_at)
        at = hl7_time(self.local, entry.occurred_at)
        values = [
            *self.device_head(),
            ("CWE", MDC_ATTR_EVT_COND.cwe, "1.0.0.1", DELIVERY_EVENTS[kind].cwe, ""),
            ("ST", "0^MDC_ATTR_EVT_SOURCE^MDC", "1.0.0.2", "1.1.2.0", ""),
            *self.vmd(),
            *self.delivery_values(state, d),
        ]
        self.obx(order, values, at, f"{text(state.chair)}^{SENDING_APPLICATION}")
        return self.finish(m, "R42", f"delivery {kind}", state.session_id)

    def observation(
        self, state: ChairState, control: str, placer: str, at_time: datetime, d: _Delivery, what: str
    ) -> Hl7Message:
        m = self.message("R01", control, PCD01_PROFILE)
        order = self.patient_order(m, state, placer, PCD01_SERVICE, at_time)
        values = [*self.device_head(), *self.pcd01_values(d)]
        self.obx(order, values, hl7_time(self.local, at_time), f"{text(state.chair)}^{SENDING_APPLICATION}")
        return self.finish(m, "R01", what, state.session_id)

    @staticmethod
    def pcd01_values(d: _Delivery) -> list[tuple[str, str, str, str, str]]:
        """Rate and volumes only (PCD-01 device data; the IPEC context lives in the R42 events)."""
        values = [
            ("", MDC_DEV_PUMP_INFUS_LVP_VMD.cwe, "1.1.0.0", "", ""),
            ("CWE", MDC_PUMP_INFUSING_STATUS.cwe, "1.1.1.1", _status_value(d.infusing), ""),
            ("NM", MDC_FLOW_FLUID_PUMP.cwe, "1.1.1.2", num(d.current_rate_ml_h), UNIT_ML_H),
            ("NM", MDC_VOL_FLUID_TBI.cwe, "1.1.1.3", num(d.vtbi_ml), UNIT_ML),
        ]
        if d.delivered_ml is not None:
            remaining = max(0.0, d.vtbi_ml - d.delivered_ml)
            values += [
                ("NM", MDC_VOL_FLUID_DELIV_TOTAL.cwe, "1.1.1.4", num(d.delivered_ml), UNIT_ML),
                ("NM", MDC_VOL_FLUID_TBI_REMAIN.cwe, "1.1.1.5", num(remaining), UNIT_ML),
            ]
        return values


def _status_value(infusing: bool) -> str:
    return "^pump-status-infusing" if infusing else "^pump-status-not-infusing"


def _delivered_at(samples: Sequence[TelemetrySample], moment: datetime) -> float | None:
    """The pump's delivered volume at `moment`, interpolated between the stored readings."""
    return volume_at(samples, moment)


def build_messages(
    log: ShiftLog,
    sample_interval_min: float = 15.0,
    facility: str = "INFUSION",
    progress: Progress = no_progress,
) -> list[Hl7Message]:
    builder = _Builder(log, facility)
    messages: list[Hl7Message] = []
    for index, session in enumerate(log.sessions):
        messages += _session_messages(builder, log, session, sample_interval_min)
        progress(0.3 + 0.6 * (index + 1) / max(1, len(log.sessions)), f"HL7 for {session.chair}")
    return messages


def _session_messages(
    builder: _Builder, log: ShiftLog, session: SessionLog, sample_interval_min: float
) -> list[Hl7Message]:
    in_range = {e.seq: e for e in session.entries}
    state = ChairState(session.session_id)
    messages: list[Hl7Message] = []
    for event in session.state.events:
        before = state
        state = state.apply(event)
        entry = in_range.get(event.seq)
        if entry is None or state.bag is None:
            continue
        vtbi = state.bag.volume_ml
        delivered = _delivered_at(session.telemetry, event.at)
        kind: str | None = None
        d: _Delivery | None = None
        if event.type is EventType.INFUSION_STARTED:
            rate = float(event.data.get("rate_ml_h", 0.0))
            kind, d = "start", _Delivery(True, rate, rate, vtbi, 0.0)
        elif event.type is EventType.INFUSION_RESUMED:
            rate = float(event.data.get("restart_rate_ml_h") or state.planned_rate_ml_h(event.at))
            kind, d = "start", _Delivery(True, rate, rate, vtbi, delivered)
        elif (before.phase in (Phase.INFUSING, Phase.PAUSED) and state.phase is Phase.DISCONTINUED) or (
            before.phase is Phase.INFUSING and state.phase is Phase.PAUSED
        ):
            kind, d = "stop", _Delivery(False, 0.0, before.pump_rate_ml_h or 0.0, vtbi, delivered)
        elif event.type is EventType.INFUSION_COMPLETED:
            volume = event.data.get("volume_infused_ml")
            total = float(volume) if volume is not None else delivered
            kind, d = "complete", _Delivery(False, 0.0, before.pump_rate_ml_h or 0.0, vtbi, total)
        elif event.type is EventType.RATE_CHANGED:
            rate = float(event.data.get("rate_ml_h", 0.0))
            d = _Delivery(state.phase is Phase.INFUSING and rate > 0, rate, rate, vtbi, delivered)
            placer = f"{session.session_id}-{event.seq}"
            messages.append(
                builder.observation(state, f"CS{entry.position}", placer, event.at, d, "rate change")
            )
        if kind is not None and d is not None:
            messages.append(builder.delivery_event(state, entry, kind, d))
    messages += _sample_messages(builder, log, session, sample_interval_min)
    return messages


def _sample_messages(
    builder: _Builder, log: ShiftLog, session: SessionLog, interval_min: float
) -> list[Hl7Message]:
    if interval_min <= 0:
        return []
    state = session.state
    if state.bag is None:
        return []
    messages = []
    last: datetime | None = None
    for sample in session.telemetry:
        if not log.range.since <= sample.at < log.range.until:
            continue
        if last is not None and sample.at - last < timedelta(minutes=interval_min):
            continue
        last = sample.at
        infusing = sample.rate_ml_h > 0
        d = _Delivery(infusing, sample.rate_ml_h, sample.rate_ml_h, state.bag.volume_ml, sample.volume_ml)
        control = f"CST{session.session_id[:8]}{sample.at:%Y%m%d%H%M%S}"
        messages.append(
            builder.observation(state, control, f"{session.session_id}-T", sample.at, d, "pump sample")
        )
    return messages


def write_hl7(messages: Iterable[Hl7Message], output: Path) -> int:
    """Messages one after another, segments ended by CR and each message by CR LF (readable in an
    editor; `read_hl7_file` and common interface engines split on MSH)."""
    count = 0
    with output.open("w", encoding="utf-8", newline="") as handle:
        for message in messages:
            handle.write(message.er7.rstrip("\r") + "\r\n")
            count += 1
    return count


def read_hl7_file(path: Path) -> list[str]:
    """The messages of a file written by `write_hl7` (each as ER7 with CR segment separators)."""
    content = path.read_text(encoding="utf-8").replace("\r\n", "\r").replace("\n", "\r")
    messages: list[str] = []
    current: list[str] = []
    for segment in content.split("\r"):
        if not segment:
            continue
        if segment.startswith("MSH|") and current:
            messages.append("\r".join(current))
            current = []
        current.append(segment)
    if current:
        messages.append("\r".join(current))
    return messages


def parse_validated(er7: str) -> Message:
    """Parse with hl7apy at the strict level and validate against the v2.6 structure."""
    message = parse_message(er7, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    message.validate()
    return message
