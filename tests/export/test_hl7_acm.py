"""IHE PCD ACM Report Alerts (ORU^R40) checked against TF-2 Rev 8.0 (docs/hl7.md, "Alarms (ACM)"):
MSH-21's OID, OBR-3 per update and OBR-29 per alert unique across sessions, every alert ending (at
discharge at the latest), no notifications as alarms, the event and source facets, OBX-11 F and the
attribution of station advisories to the station, not the pump."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from app.domain.clock import ManualClock
from app.export.api import ExportRequest, run_export
from app.export.hl7_batch import read_file
from app.export.hl7_check import parse_validated
from app.export.sample_shift import Visit, run_shift
from app.export.shifts import LocalTime, ShiftConfig
from app.floor import Floor
from app.store.journal import Journal


@pytest.fixture(autouse=True)
def own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAIRSIDE_CONFIG_DIR", str(tmp_path / "config"))


def _fields(er7: str) -> list[list[str]]:
    return [segment.split("|") for segment in er7.rstrip("\r").split("\r")]


@pytest.fixture
def alerts(
    floor: Floor, clock: ManualClock, journal: Journal, db_path: Path, tmp_path: Path
) -> dict[str, list[list[list[str]]]]:
    """Two patients one after the other at Chair 1, each with a step-up advisory nobody clears and an
    observation-complete notification; Chair 2 with an occlusion raised, acknowledged and cleared."""
    clock.set(datetime(2026, 1, 5, 6, 30, tzinfo=UTC))
    visits = [
        Visit("Chair 1", "AB", "MRN-1", "ocrevus-600-short", advisory_at_min=20.0, observation_notice=True),
        Visit("Chair 1", "CD", "MRN-2", "ocrevus-600-short", advisory_at_min=20.0, observation_notice=True),
        Visit("Chair 2", "EF", "MRN-3", "ocrevus-600-short", occlusion_alarm_at_min=35.0),
    ]
    run_shift(floor, clock, visits, until=datetime(2026, 1, 5, 17, 0, tzinfo=UTC))
    journal.close()
    config = ShiftConfig(ShiftConfig.load().shifts, LocalTime.named("Europe/Zurich"))
    out = tmp_path / "shift.hl7"
    run_export(
        ExportRequest(db_path, config.range_for(date(2026, 1, 5), "day"), "hl7", out, local=config.local)
    )
    by_alert: dict[str, list[list[list[str]]]] = defaultdict(list)
    for er7 in read_file(out).messages:
        if "|ORU^R40^ORU_R40|" in er7:
            parse_validated(er7)  # hl7apy strict, v2.6
            segments = _fields(er7)
            obr = next(s for s in segments if s[0] == "OBR")
            by_alert[obr[29] if len(obr) > 29 else ""].append(segments)
    return by_alert


def _obx(message: list[list[str]]) -> list[list[str]]:
    return [s + [""] * (19 - len(s)) for s in message if s[0] == "OBX"]


def _facet(message: list[list[str]], code: str) -> list[str]:
    return next(s for s in _obx(message) if s[3].split("^")[0] == code)


def test_each_alert_has_one_parent_across_its_start_updates_and_end(
    alerts: dict[str, list[list[list[str]]]],
) -> None:
    assert "" not in alerts  # OBR-29 is in every Report Alert
    assert len(alerts) == 3  # two advisories (the same alarm id at one chair) and the occlusion: three alerts
    filler_ids = [next(s for s in m if s[0] == "OBR")[3] for ms in alerts.values() for m in ms]
    assert len(filler_ids) == len(set(filler_ids))  # OBR-3: one per status update
    for parent, messages in alerts.items():
        assert parent.startswith("^") and parent.endswith("&EUI-64")  # filler assigned, the station's EUI-64
        phases = [_facet(m, "68481")[5] for m in messages]
        assert phases[0] == "start" and phases[-1] == "end" and phases.count("end") == 1  # every alert ends
        assert all(m[0][20] == "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.4.1^ISO" for m in messages)


def test_an_advisory_nobody_cleared_ends_at_the_discharge_and_is_the_stations(
    alerts: dict[str, list[list[list[str]]]], db_path: Path
) -> None:
    from app.domain.chair import ChairState

    advisories = {p: ms for p, ms in alerts.items() if "step_up_overdue" in _facet(ms[0], "196616")[5]}
    assert len(advisories) == 2
    zone = LocalTime.named("Europe/Zurich")
    with Journal(db_path, read_only=True) as journal:
        for parent, messages in advisories.items():
            session_id = parent[1:].split(":")[0]
            session = ChairState.replay(session_id, journal.events(session_id))
            assert session.discharged_at is not None
            end = messages[-1]
            assert _facet(end, "68481")[5] == "end" and _facet(end, "68482")[5] == "inactive"
            assert _facet(end, "196616")[14] == zone.to_local(session.discharged_at).strftime(
                "%Y%m%d%H%M%S%z"
            )
            for message in messages:  # never attributed to the pump: no pump MDS row, the station as source
                assert not [s for s in _obx(message) if s[3].startswith("70049^")]
                source = _facet(message, "68480")
                assert source[5].startswith("CHAIRSIDE^") and source[18].endswith("^EUI-64")
                assert _facet(message, "68485")[5] == "SA"


def test_event_identification_is_mdc_evt_alarm_with_the_specific_alert_as_cwe(
    alerts: dict[str, list[list[list[str]]]],
) -> None:
    occlusion = next(ms for ms in alerts.values() if "MDC_EVT_FLUID_LINE_OCCL" in _facet(ms[0], "196616")[5])
    for message in occlusion:
        event = _facet(message, "196616")
        assert event[2] == "CWE" and event[3] == "196616^MDC_EVT_ALARM^MDC"
        assert event[5].startswith("196940^MDC_EVT_FLUID_LINE_OCCL^MDC") and event[8] == ""  # no OBX-8 flags
        mds = _obx(message)[0]
        assert mds[3].startswith("70049^") and mds[4] == "1.0.0.0" and mds[18].endswith("^EUI-64")  # the pump
        assert _facet(message, "68480")[5].startswith("70049^MDC_DEV_PUMP_INFUS_LVP_MDS^MDC")
        assert _facet(message, "68485")[5] == "ST" and _facet(message, "68484")[5] == "PH"
    assert [_facet(m, "68481")[5] for m in occlusion] == ["start", "update", "end"]
    assert _facet(occlusion[1], "68483")[5] == "alert-acknowledged"


def test_every_report_alert_obx_is_final(alerts: dict[str, list[list[list[str]]]]) -> None:
    statuses = {obx[11] for ms in alerts.values() for m in ms for obx in _obx(m)}
    assert statuses == {"F"}


def test_notifications_are_not_sent_as_alarms(alerts: dict[str, list[list[list[str]]]]) -> None:
    texts = " ".join("|".join(s) for ms in alerts.values() for m in ms for s in m)
    assert "observation_complete" not in texts and "observation complete" not in texts
