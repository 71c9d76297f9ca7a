"""Driver benchmark: decoder throughput, and poll-to-Telemetry latency with many pumps on ptys.

    .venv/bin/python bench/driver.py [--pumps 48] [--seconds 25] [--frames 200000]   (or: make bench)

1. Frames decoded per second on one core (the Alaris FrameDecoder fed in 32-byte reads, as a serial
   port delivers them), also as a multiple of what a 38400-baud 8N1 line can carry (3840 bytes/s
   divided by the mean frame length of a poll cycle).
2. Poll-to-Telemetry latency: N simulated pumps, each on its own pseudo-terminal, each read by its own
   AlarisDriver polling at 1 Hz (handshake keep-alive + INF + INF_VTBI + ALARM per cycle), all in this
   process; latency is from the start of a poll cycle to its Telemetry callback.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable

from drivers.alaris import AlarisDriver
from drivers.alaris.codec import FrameDecoder, encode_fields
from drivers.base import LinkState, LinkStatus, Telemetry
from drivers.sim import ScenarioRunner, SimulatorFleet, load_scenario

LINE_BYTES_PER_S = 38400 / 10  # 8N1: 10 bits on the wire per byte


def poll_cycle_replies(i: int) -> list[bytes]:
    """The four replies of one poll cycle, with changing numbers so no two INF frames are alike."""
    volume = f"{i * 0.0278:.3f}"
    inf = f"INF^8002-51740^-^INFUS^100.00^ml/h^^{volume}^ml^20.00^mmHg^02:29:59^EVENT^{127904 + i}"
    return [
        encode_fields("REMOTE_CTRL", "ENABLED", "****", "PERMIT", "0", "ms"),
        encode_fields(*inf.split("^")),
        encode_fields("INF_VTBI", "ACTIV", f"{250 - i * 0.0278:.3f}", "ml", "KVO"),
        encode_fields("ALARM", "AL_NOALM", " ", " "),
    ]


def bench_decoder(frames: int) -> None:
    stream = b"".join(frame for i in range(frames // 4) for frame in poll_cycle_replies(i))
    count = (frames // 4) * 4
    mean_len = len(stream) / count
    chunks = [stream[i : i + 32] for i in range(0, len(stream), 32)]
    best = float("inf")
    for _ in range(3):
        decoder = FrameDecoder()
        started = time.perf_counter()
        decoded = 0
        for chunk in chunks:
            decoded += len(decoder.feed(chunk))
        best = min(best, time.perf_counter() - started)
        assert decoded == count, (decoded, count)
    rate = count / best
    line_rate = LINE_BYTES_PER_S / mean_len
    print("== decoder (one core, best of 3)")
    print(
        f"frames decoded        {count} in {best:.3f} s = {rate:,.0f} frames/s ({len(stream) / best / 1e6:.1f} MB/s)"
    )
    print(f"mean frame length     {mean_len:.1f} bytes (one poll cycle's replies)")
    print(
        f"38400-baud line       {line_rate:,.1f} frames/s -> decoder = {rate / line_rate:,.0f} x line capacity"
    )


def bench_latency(pumps: int, seconds: float, warmup_s: float) -> None:
    latencies: list[float] = []
    lock = threading.Lock()
    connected = threading.Semaphore(0)
    measuring = threading.Event()
    drivers: list[AlarisDriver] = []

    def make_callbacks(index: int) -> tuple[Callable[[Telemetry], None], Callable[[LinkState], None]]:
        def on_telemetry(telemetry: Telemetry) -> None:
            latency = time.monotonic() - drivers[index].stats.last_poll_started
            if measuring.is_set():
                with lock:
                    latencies.append(latency)

        def on_link_state(state: LinkState) -> None:
            if state.status is LinkStatus.CONNECTED:
                connected.release()

        return on_telemetry, on_link_state

    scenario = load_scenario("basic-infusion")
    with SimulatorFleet(pumps, speed=1.0) as fleet:
        for server in fleet.servers:
            ScenarioRunner(scenario, server.pump, server).advance_to(0)  # each pump infusing
        for index, url in enumerate(fleet.urls):
            on_telemetry, on_link_state = make_callbacks(index)
            drivers.append(AlarisDriver(url, on_telemetry=on_telemetry, on_link_state=on_link_state))
        for driver in drivers:
            driver.start()
        try:
            for _ in drivers:
                if not connected.acquire(timeout=30):
                    raise SystemExit("not every pump connected within 30 s")
            threading.Event().wait(warmup_s)
            cpu_start, wall_start = os.times(), time.monotonic()
            measuring.set()
            threading.Event().wait(seconds)
            measuring.clear()
            cpu_end, wall = os.times(), time.monotonic() - wall_start
        finally:
            for driver in drivers:
                driver.stop()
    cpu_s = (cpu_end.user + cpu_end.system) - (cpu_start.user + cpu_start.system)
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    print(
        f"== poll-to-Telemetry latency: {pumps} pumps on ptys, 1 Hz, {wall:.1f} s measured after {warmup_s:g} s"
    )
    print(f"readings              {len(ordered)} (expected ~{pumps * wall:.0f})")
    print(f"p50 / p99 / max       {pct(50):.2f} / {pct(99):.2f} / {ordered[-1] * 1000:.2f} ms")
    print(f"mean                  {statistics.fmean(ordered) * 1000:.2f} ms")
    print(f"link losses           {sum(d.stats.losses for d in drivers)}")
    print(f"reply time-outs       {sum(d.stats.reply_timeouts for d in drivers)}")
    print(f"corrupt frames        {sum(d.stats.bad_frames for d in drivers)}")
    print(f"process CPU           {cpu_s / wall * 100:.1f} % of one core (drivers + simulators)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pumps", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--frames", type=int, default=200_000)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores")
    bench_decoder(args.frames)
    bench_latency(args.pumps, args.seconds, args.warmup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
