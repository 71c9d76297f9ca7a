"""HL7 v2.6: IPEC ORU^R42 delivery events and PCD-01 ORU^R01 rates and volumes, parsed and validated
with hl7apy, sent over MLLP to a listener running in the test."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.domain.chair import ChairState
from app.export.api import ExportRequest, run_export
from app.export.hl7 import read_hl7_file
from app.export.hl7_check import parse_validated
from app.export.hl7_settings import Hl7Settings
from app.export.mllp import END_BLOCK, START_BLOCK, MllpError

from .conftest import SimulatedShift


def _obx(er7: str) -> dict[str, list[str]]:
    """OBX-3 reference id -> [OBX-5]"""
    found: dict[str, list[str]] = {}
    for segment in er7.rstrip("\r").split("\r"):
        fields = segment.split("|")
        if fields[0] == "OBX":
            found.setdefault(fields[3].split("^")[1], []).append(fields[5])
    return found


def test_hl7_messages_validate_and_carry_the_journal_values(
    simulated: SimulatedShift, tmp_path: Path
) -> None:
    out = tmp_path / "shift.hl7"
    result = run_export(
        ExportRequest(
            simulated.db_path,
            simulated.export_range,
            "hl7",
            out,
            local=simulated.local,
            hl7_sample_interval_min=60,
        )
    )
    texts = read_hl7_file(out)
    assert len(texts) == result.items
    parsed = [parse_validated(t) for t in texts]  # every message: hl7apy strict, v2.6 structure
    station = Hl7Settings().station_id
    by_control = {m.msh.msh_10.value: t for m, t in zip(parsed, texts, strict=True)}
    assert len(by_control) == len(texts)
    entries = list(
        simulated.journal.entries(since=simulated.export_range.since, until=simulated.export_range.until)
    )
    kinds = {m.msh.msh_9.to_er7() for m in parsed}
    assert kinds == {"ORU^R42^ORU_R01", "ORU^R01^ORU_R01", "ORU^R40^ORU_R01"}  # R40 checked as R01
    assert all(m.msh.msh_12.value == "2.6" for m in parsed)
    counts = {"start": 0, "complete": 0, "pause": 0, "rate": 0, "alarm": 0}
    for entry in entries:
        control = f"{station}.{entry.position}"
        if entry.type == "infusion_started":
            counts["start"] += 1
            obx = _obx(by_control[control])
            assert obx["MDC_ATTR_EVT_COND"] == ["197288^MDC_EVT_PUMP_DELIV_START^MDC"]
            assert obx["MDC_FLOW_FLUID_PUMP"] == [f"{entry.payload['rate_ml_h']:g}"]
        elif entry.type == "infusion_completed":
            counts["complete"] += 1
            obx = _obx(by_control[control])
            assert obx["MDC_ATTR_EVT_COND"][0].endswith("^MDC_EVT_PUMP_DELIV_COMP^MDC")
            assert obx["MDC_VOL_FLUID_DELIV_TOTAL"] == [f"{entry.payload['volume_infused_ml']:g}"]
        elif entry.type == "infusion_paused":
            counts["pause"] += 1
            assert "MDC_EVT_PUMP_DELIV_STOP" in by_control[control]
        elif entry.type == "rate_changed" and f"{control}.1" in by_control:
            counts["rate"] += 1
            stop, start = _obx(by_control[f"{control}.1"]), _obx(by_control[f"{control}.2"])
            assert stop["MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS"] == ["^pump-delivery-status-transitioning"]
            assert start["MDC_FLOW_FLUID_PUMP_CURRENT"] == [f"{entry.payload['rate_ml_h']:g}"]
        elif entry.type.startswith("alarm_"):
            counts["alarm"] += 1
            assert "|ORU^R40^ORU_R40|" in by_control[control]
    assert counts["start"] == 6 and counts["complete"] == 4 and counts["pause"] >= 1
    assert counts["rate"] > 10 and counts["alarm"] == 3
    # Patient identity survives HL7 escaping and UTF-8.
    pids = [m.oru_r01_patient_result.oru_r01_patient.pid for m in parsed]
    chair_one = [pid for pid in pids if pid.pid_3.cx_1.value == "MRN-ü001"]
    assert chair_one and all(pid.pid_5.to_er7() == "^^^^^^U" for pid in chair_one)  # initials: no name
    # The file: each segment ended by CR, nothing between messages.
    raw = out.read_bytes()
    assert b"\n" not in raw and raw.endswith(b"\r") and raw.count(b"MSH|") == len(texts)


class Listener:
    """A bounded MLLP receiver on 127.0.0.1: answers each message with `reply(control_id)`."""

    def __init__(self, reply: Callable[[str], str | None], limit: int = 1000, port: int = 0) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.server.settimeout(10)
        self.port = self.server.getsockname()[1]
        self.received: list[str] = []
        self.reply = reply
        self.limit = limit
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            buffer = b""
            while len(self.received) < self.limit:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while END_BLOCK in buffer:
                    frame, buffer = buffer.split(END_BLOCK, 1)
                    text = frame.lstrip(START_BLOCK).decode("utf-8")
                    self.received.append(text)
                    control = text.split("\r")[0].split("|")[9]
                    answer = self.reply(control)
                    if answer is None:
                        self.stop.wait(10)  # say nothing (connection open): the sender must time out
                        return
                    conn.sendall(START_BLOCK + answer.encode() + END_BLOCK)

    def close(self) -> None:
        self.stop.set()
        self.server.close()
        self.thread.join(timeout=15)


def ack(code: str, text: str = "") -> Callable[[str], str]:
    def reply(control: str) -> str:
        return (
            f"MSH|^~\\&|EHR||CHAIRSIDE||20260105||ACK^R01^ACK|A{control}|P|2.6\rMSA|{code}|{control}|{text}"
        )

    return reply


@pytest.fixture
def listener_factory() -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def make(reply: Callable[[str], str | None], limit: int = 1000, port: int = 0) -> Listener:
        made.append(Listener(reply, limit, port))
        return made[-1]

    yield make
    for listener in made:
        listener.close()


def _request(sim: SimulatedShift, port: int, out: Path | None, timeout_s: float = 5.0) -> ExportRequest:
    return ExportRequest(
        sim.db_path,
        sim.export_range,
        "hl7",
        out,
        local=sim.local,
        mllp=("127.0.0.1", port),
        mllp_timeout_s=timeout_s,
        hl7_sample_interval_min=0,
    )


def test_mllp_sends_every_message_and_checks_each_ack(
    simulated: SimulatedShift, listener_factory: Callable[..., Listener]
) -> None:
    listener = listener_factory(ack("AA"))
    result = run_export(_request(simulated, listener.port, None))
    listener.close()
    assert result.sent == result.items > 0
    assert len(listener.received) == result.items
    for text in listener.received:
        parse_validated(text)
    states = [ChairState.replay(s, simulated.journal.events(s)) for s in simulated.result.session_ids]
    assert sum(len(s.events) for s in states) > result.items


def test_mllp_application_error_stops_with_a_clear_message(
    simulated: SimulatedShift, listener_factory: Callable[..., Listener], tmp_path: Path
) -> None:
    calls = []

    def reply(control: str) -> str:
        calls.append(control)
        return ack("AA")(control) if len(calls) < 3 else ack("AE", "unknown patient")(control)

    listener = listener_factory(reply)
    with pytest.raises(
        MllpError, match=r"error message 3 of \d+ .*MSA-1 AE: unknown patient.*2 accepted"
    ) as info:
        run_export(_request(simulated, listener.port, tmp_path / "sent.hl7"))
    assert info.value.accepted == 2
    assert (tmp_path / "sent.hl7").exists()  # the file is written even when the receiver refuses


def test_mllp_reject_and_silence(
    simulated: SimulatedShift, listener_factory: Callable[..., Listener]
) -> None:
    listener = listener_factory(ack("AR", "not allowed"))
    with pytest.raises(MllpError, match="rejected message 1 of"):
        run_export(_request(simulated, listener.port, None))
    silent = listener_factory(lambda control: None)
    with pytest.raises(MllpError, match=r"no acknowledgement from 127\.0\.0\.1:\d+ within 0\.3 s"):
        run_export(_request(simulated, silent.port, None, timeout_s=0.3))


def test_mllp_connection_refused_is_reported(simulated: SimulatedShift) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(MllpError, match="cannot connect to the HL7 receiver"):
        run_export(_request(simulated, port, None))


def test_mllp_frames_end_the_last_segment_with_cr_and_a_rerun_resumes(
    simulated: SimulatedShift, listener_factory: Callable[..., Listener]
) -> None:
    calls: list[str] = []

    def refuse_the_fourth(control: str) -> str:
        calls.append(control)
        return ack("AA")(control) if len(calls) <= 3 else ack("AE", "engine busy")(control)

    first = listener_factory(refuse_the_fourth)
    with pytest.raises(MllpError) as info:
        run_export(_request(simulated, first.port, None))
    assert info.value.accepted == 3
    assert all(text.endswith("\r") for text in first.received)  # ...<CR><FS><CR> on the wire
    first.close()  # the engine restarts on the same address
    second = listener_factory(ack("AA"), port=first.port)
    result = run_export(_request(simulated, second.port, None))
    assert result.resumed == 3 and result.sent == result.items - 3
    sent_again = [text.split("\r")[0].split("|")[9] for text in second.received]
    assert sent_again[0] == calls[3]  # the refused message comes first; the accepted ones are not resent
    assert not set(sent_again) & set(calls[:3])


def test_mllp_receiver_dropping_the_connection_then_a_rerun_resumes(
    simulated: SimulatedShift, listener_factory: Callable[..., Listener]
) -> None:
    dropping = listener_factory(ack("AA"), limit=2)  # acknowledges two, then hangs up
    with pytest.raises(MllpError, match="2 accepted before it") as info:
        run_export(_request(simulated, dropping.port, None))
    assert info.value.accepted == 2
    dropping.close()
    again = listener_factory(ack("AA"), port=dropping.port)
    result = run_export(_request(simulated, again.port, None))
    assert result.resumed == 2 and result.sent == result.items - 2 == len(again.received)
