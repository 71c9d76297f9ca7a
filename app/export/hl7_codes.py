"""The coded terms the HL7 export uses, in one place (docs/hl7.md lists them with their sources).

ISO/IEEE 11073-10101 (MDC) codes are `partition * 65536 + term code`. Where RTMMS / the IHE PCD texts
give a code, it is used. Where the IPEC supplement still publishes "0" (pending), a code from the
private range 0xF000-0xFFFF *of the term's own partition* is used, so that routing on OBX-3.1 / OBX-5.1
can tell every term apart (a receiver must be told of these: see docs/hl7.md). When RTMMS assigns a
code, change it here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.delivery import StopReason

PARTITION_OBJECT = 1  # MDC_PART_OBJ: objects, attributes
PARTITION_SCADA = 2  # MDC_PART_SCADA: measurements, pump settings
PARTITION_EVENT = 3  # MDC_PART_EVT: events
PRIVATE_FIRST = 0xF000


def private_code(partition: int, offset: int) -> int:
    """A code from the private range (0xF000-0xFFFF) of an MDC partition."""
    if not 0 <= offset <= 0x0FFF:
        raise ValueError("private offset out of range")
    return partition * 65536 + PRIVATE_FIRST + offset


@dataclass(frozen=True)
class Mdc:
    code: int
    ref_id: str

    @property
    def cwe(self) -> str:
        return f"{self.code}^{self.ref_id}^MDC"


@dataclass(frozen=True)
class Unit:
    code: int
    ref_id: str
    ucum: str

    @property
    def cwe(self) -> str:
        return f"{self.code}^{self.ref_id}^MDC^{self.ucum}^{self.ucum}^UCUM"


# --- Pump: codes published in RTMMS / the IHE PCD texts (reference/pump-protocols.md, IPEC sample)
MDC_DEV_PUMP_INFUS_LVP_MDS = Mdc(70049, "MDC_DEV_PUMP_INFUS_LVP_MDS")
MDC_DEV_PUMP_INFUS_LVP_VMD = Mdc(70050, "MDC_DEV_PUMP_INFUS_LVP_VMD")
MDC_FLOW_FLUID_PUMP = Mdc(157784, "MDC_FLOW_FLUID_PUMP")
MDC_VOL_FLUID_TBI = Mdc(157884, "MDC_VOL_FLUID_TBI")
MDC_VOL_FLUID_DELIV_TOTAL = Mdc(157993, "MDC_VOL_FLUID_DELIV_TOTAL")
MDC_VOL_FLUID_TBI_REMAIN = Mdc(157872, "MDC_VOL_FLUID_TBI_REMAIN")
MDC_TIME_PD_REMAIN = Mdc(157916, "MDC_TIME_PD_REMAIN")
MDC_PUMP_INFUSING_STATUS = Mdc(184519, "MDC_PUMP_INFUSING_STATUS")
MDC_DRUG_NAME_LABEL = Mdc(184514, "MDC_DRUG_NAME_LABEL")
MDC_EVT_PUMP_DELIV_START = Mdc(197288, "MDC_EVT_PUMP_DELIV_START")
MDC_ATTR_TIME_ABS = Mdc(67975, "MDC_ATTR_TIME_ABS")  # MDC_PART_OBJ 2439: the device's absolute time

# --- Pump: published as "0" (pending) in the IPEC supplement: private codes of their partition
MDC_EVT_PUMP_DELIV_STOP = Mdc(private_code(PARTITION_EVENT, 1), "MDC_EVT_PUMP_DELIV_STOP")
MDC_EVT_PUMP_DELIV_COMP = Mdc(private_code(PARTITION_EVENT, 2), "MDC_EVT_PUMP_DELIV_COMP")
MDC_ATTR_EVT_COND = Mdc(private_code(PARTITION_OBJECT, 1), "MDC_ATTR_EVT_COND")
MDC_ATTR_EVT_SOURCE = Mdc(private_code(PARTITION_OBJECT, 2), "MDC_ATTR_EVT_SOURCE")
MDC_DEV_PUMP_DELIVERY_INFO = Mdc(private_code(PARTITION_OBJECT, 3), "MDC_DEV_PUMP_DELIVERY_INFO")
MDC_DEV_PUMP_INFUSATE_SOURCE_PRIMARY = Mdc(
    private_code(PARTITION_OBJECT, 4), "MDC_DEV_PUMP_INFUSATE_SOURCE_PRIMARY"
)
MDC_FLOW_FLUID_PUMP_CURRENT = Mdc(private_code(PARTITION_SCADA, 1), "MDC_FLOW_FLUID_PUMP_CURRENT")
MDC_DEV_PUMP_ACTIVE_SOURCES = Mdc(private_code(PARTITION_SCADA, 2), "MDC_DEV_PUMP_ACTIVE_SOURCES")
MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS = Mdc(
    private_code(PARTITION_SCADA, 3), "MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS"
)
MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE = Mdc(
    private_code(PARTITION_SCADA, 4), "MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE"
)
MDC_DEV_PUMP_NOT_DELIVERING_REASON = Mdc(
    private_code(PARTITION_SCADA, 5), "MDC_DEV_PUMP_NOT_DELIVERING_REASON"
)
MDC_DEV_PUMP_SOURCE_CHANNEL_LABEL = Mdc(private_code(PARTITION_SCADA, 6), "MDC_DEV_PUMP_SOURCE_CHANNEL_LABEL")

# Pump Not Delivering Reason per delivery stop (app.domain.delivery.StopReason), from the IPEC supplement's
# Table X.1.2.1-4 scenarios: a pause or a stop by the nurse is pump-stopped-by-clinician, a stop on a pump
# alarm (occlusion, air in line) pump-stopped-alarming, a stop the pump reports without saying why
# pump-stopped-not-specified. A Complete that does not go on to KVO is not-delivering, which Table
# X.1.2.1-2 makes require a reason: the supplement has none for "volume reached", so not-specified.
# A rate change is a transitioning Stop: no reason.
NOT_DELIVERING_REASON: dict[StopReason, str] = {
    StopReason.PAUSED: "pump-stopped-by-clinician",
    StopReason.REACTION: "pump-stopped-by-clinician",
    StopReason.REACTION_DISCONTINUED: "pump-stopped-by-clinician",
    StopReason.DISCONTINUED: "pump-stopped-by-clinician",
    StopReason.PUMP_ALARM: "pump-stopped-alarming",
    StopReason.PUMP_STOPPED: "pump-stopped-not-specified",
    StopReason.COMPLETE: "pump-stopped-not-specified",
}

# OBX-17 observation method (PCD TF-2): values a nurse measured and typed in
MANUAL_MEASUREMENT = "MMEAS^manual-measurement^MDC"

# --- Alarms (IHE PCD ACM, PCD TF-2 Report Alert [PCD-04])
MDC_EVT_ALARM = Mdc(196616, "MDC_EVT_ALARM")
MDC_EVT_FLUID_LINE_OCCL = Mdc(196940, "MDC_EVT_FLUID_LINE_OCCL")
MDC_ATTR_ALERT_SOURCE = Mdc(68480, "MDC_ATTR_ALERT_SOURCE")
MDC_ATTR_EVENT_PHASE = Mdc(68481, "MDC_ATTR_EVENT_PHASE")
MDC_ATTR_ALARM_STATE = Mdc(68482, "MDC_ATTR_ALARM_STATE")
MDC_ATTR_ALARM_INACTIVATION_STATE = Mdc(68483, "MDC_ATTR_ALARM_INACTIVATION_STATE")
MDC_ATTR_ALARM_PRIORITY = Mdc(68484, "MDC_ATTR_ALARM_PRIORITY")
MDC_ATTR_ALERT_TYPE = Mdc(68485, "MDC_ATTR_ALERT_TYPE")

# Alarm rules (app.domain.alarms) with an MDC event of their own; the rest report MDC_EVT_ALARM.
ALARM_EVENTS = {"pump_occlusion": MDC_EVT_FLUID_LINE_OCCL}
ALARM_PRIORITY = {"high": "PH", "medium": "PM", "low": "PL"}

# --- Vital signs (manual, non-invasive)
MDC_PRESS_BLD_NONINV_SYS = Mdc(150021, "MDC_PRESS_BLD_NONINV_SYS")
MDC_PRESS_BLD_NONINV_DIA = Mdc(150022, "MDC_PRESS_BLD_NONINV_DIA")
MDC_PULS_RATE_NON_INV = Mdc(149546, "MDC_PULS_RATE_NON_INV")
MDC_RESP_RATE = Mdc(151562, "MDC_RESP_RATE")
MDC_PULS_OXIM_SAT_O2 = Mdc(150456, "MDC_PULS_OXIM_SAT_O2")
MDC_TEMP_BODY = Mdc(150364, "MDC_TEMP_BODY")

UNIT_ML_H = Unit(265266, "MDC_DIM_MILLI_L_PER_HR", "mL/h")
UNIT_ML = Unit(263762, "MDC_DIM_MILLI_L", "mL")
UNIT_MIN = Unit(264352, "MDC_DIM_MIN", "min")
UNIT_MMHG = Unit(266016, "MDC_DIM_MMHG", "mm[Hg]")
UNIT_BEATS_MIN = Unit(264864, "MDC_DIM_BEAT_PER_MIN", "{beat}/min")
UNIT_RESP_MIN = Unit(264928, "MDC_DIM_RESP_PER_MIN", "{resp}/min")
UNIT_PERCENT = Unit(262688, "MDC_DIM_PERCENT", "%")
UNIT_DEG_C = Unit(268192, "MDC_DIM_DEGC", "Cel")

# --- What the nurse types in (vital signs, reactions): the station is the device (MDS) it comes from,
# the manual-entry device, never the pump (PCD TF-2 B.8.3: every metric hangs off its MDS, VMD and
# channel rows). No MDC object names a station: a local code, as the ACM source of its own alerts.
STATION_MANUAL_ENTRY_MDS = "CHAIRSIDE^Chairside station (manual entry)^L"
# VMD and channel objects of the PCD TF-2 Rev 8.0 sample messages (E.1.1 physiological monitor, E.1.2
# episodic NIBP): blood pressure and pulse in the NIBP channel, SpO2 in the SpO2 VMD.
MDC_DEV_PRESS_BLD_NONINV_VMD = Mdc(70686, "MDC_DEV_PRESS_BLD_NONINV_VMD")
MDC_DEV_PRESS_BLD_NONINV_CHAN = Mdc(70687, "MDC_DEV_PRESS_BLD_NONINV_CHAN")
MDC_DEV_ANALY_SAT_O2_VMD = Mdc(69642, "MDC_DEV_ANALY_SAT_O2_VMD")

# The containment tree of a vital-signs report (OBX-4 <MDS>.<VMD>.<CHAN>.<METRIC>): the device rows,
# then each value's place. 0 is TF-2's "anonymous" VMD or channel: respiratory rate and temperature
# have no VMD object in the TF-2 samples, so they sit directly under the MDS (the flattened form, B.8.1).
VITAL_SIGN_DEVICES: dict[str, str] = {
    "1.0.0.0": STATION_MANUAL_ENTRY_MDS,
    "1.1.0.0": MDC_DEV_PRESS_BLD_NONINV_VMD.cwe,
    "1.1.1.0": MDC_DEV_PRESS_BLD_NONINV_CHAN.cwe,
    "1.2.0.0": MDC_DEV_ANALY_SAT_O2_VMD.cwe,
}

# journal vital-sign key -> (term, unit, OBX-4)
VITAL_SIGNS: dict[str, tuple[Mdc, Unit, str]] = {
    "systolic_mmhg": (MDC_PRESS_BLD_NONINV_SYS, UNIT_MMHG, "1.1.1.1"),
    "diastolic_mmhg": (MDC_PRESS_BLD_NONINV_DIA, UNIT_MMHG, "1.1.1.2"),
    "heart_rate_bpm": (MDC_PULS_RATE_NON_INV, UNIT_BEATS_MIN, "1.1.1.3"),
    "respiratory_rate_per_min": (MDC_RESP_RATE, UNIT_RESP_MIN, "1.0.0.1"),
    "spo2_percent": (MDC_PULS_OXIM_SAT_O2, UNIT_PERCENT, "1.2.0.1"),
    "temperature_c": (MDC_TEMP_BODY, UNIT_DEG_C, "1.0.0.2"),
}

# --- Local (non-MDC) codes, coding system "L" (HL7 table 0396: locally defined)
INFUSION_REACTION = "INFRXN^Infusion-related reaction^L"
PCD01_SERVICE = "182777000^monitoring of patient^SCT"  # HL7 table 0396: SNOMED CT is SCT
ALARM_SERVICE = MDC_EVT_ALARM.cwe

PCD10_PROFILE = "IHE_PCD_010^IHE PCD^1.3.6.1.4.1.19376.1.6.4.10^ISO"
PCD01_PROFILE = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
# TF-2 Rev 8.0 B.1, MSH-21 table: "1.3.6.1.4.1.19376.1.6.1.4.1 Alert Communication Management PCD-04 Report
# Alert message" (the 1.3.6.1.4.1.19376.1.6.4.4 used before is in no TF table)
ACM_PROFILE = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.4.1^ISO"
