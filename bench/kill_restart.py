"""Kill the configured station with SIGKILL during infusions, restart it, and check what survives.

The station is the real `chairside --config FILE` (offscreen Qt), started as a subprocess from a
configuration file whose pumps are simulated pumps served over TCP by this process (they outlive the
station, as real pumps do). The nurse side puts every chair into an infusion through the app's own
commands (the station core) before the first start; during each run the nurse changes a pump's rate
at the pump, which the station documents by itself. Each iteration one pump is pulled (its port goes
away) and the previous one comes back. At a random moment the station gets SIGKILL; then:

- every present pump is reconnected (time from the station attaching its pumps to "connected"),
- no acknowledged entry is lost (every entry committed before the kill is there, with its hash, and the
  chain verifies),
- the pulled pump's chair raises the link-lost alarm once the quiet time is over (latency from attach).

Run: `.venv/bin/python bench/kill_restart.py [--iterations 20] [--chairs 4]`; `make test` runs 3.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.alarm_policy import load_alarm_policy  # noqa: E402
from app.domain.clock import SystemClock  # noqa: E402
from app.domain.commands import (  # noqa: E402
    CheckIn,
    GivePremedication,
    Override,
    RecordScreening,
    RecordVitals,
    StartInfusion,
)
from app.station.config import load_station_config  # noqa: E402
from app.station.start import open_floor, station_for  # noqa: E402
from app.store.journal import Journal  # noqa: E402
from drivers.sim.clock import ScaledClock  # noqa: E402
from drivers.sim.pump import SimulatedPump  # noqa: E402
from drivers.sim.server import SimulatorFleet, TcpPumpServer  # noqa: E402

WAIT_S = 60.0  # the longest anything may take on a loaded machine before the run fails


@dataclass
class Figures:
    iterations: int = 0
    startup_s: list[float] = field(default_factory=list)  # process start -> pumps attached
    reconnect_s: list[float] = field(default_factory=list)  # pumps attached -> link connected, per pump
    alarm_latency_s: list[float] = field(default_factory=list)  # attached -> link-lost alarm raised
    kills: int = 0  # every SIGKILL, the measured ones and those early in a start
    early_kills: int = 0  # SIGKILL while the station was still starting or attaching (0-3 s in)
    acknowledged: int = 0  # entries committed before a kill, checked after the restart
    lost: int = 0
    documented: int = 0  # pump rate changes the station documented by itself
    chain_intact: bool = True
    quiet_s: float = 0.0
    problems: list[str] = field(default_factory=list)


def _log_time(line: str) -> float:
    """The wall time (epoch s) a station log line was written (format of app.ui.launch)."""
    stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    return stamp.astimezone().timestamp()


class StationProcess:
    def __init__(self, config: Path, db: Path, data_dir: Path) -> None:
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "CHAIRSIDE_LOG": "INFO",
            "CHAIRSIDE_DATA_DIR": str(data_dir),
            "PYTHONPATH": str(ROOT),
        }
        self.started = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "--config", str(config), "--db", str(db), "--nurse", "AB"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.proc.stderr is not None
        threading.Thread(target=self._read, args=(self.proc.stderr,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def wait_line(self, *needles: str, timeout_s: float = WAIT_S) -> str:
        """The next log line holding every needle (earlier lines are kept in `seen`)."""
        for line in self.seen:
            if all(n in line for n in needles):
                self.seen.remove(line)
                return line
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and self.lines.empty()):
                raise TimeoutError(f"station never logged {needles}; exit {self.proc.poll()}")
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if all(n in line for n in needles):
                return line
            self.seen.append(line)
            if "Traceback" in line or " ERROR " in line:
                raise RuntimeError(f"station error: {line}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=WAIT_S)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def _committed(db: Path) -> dict[int, str]:
    with Journal(db, read_only=True) as journal:
        return {entry.position: entry.hash for entry in journal.entries()}


def _start_infusions(db: Path, config_path: Path, pumps: list[SimulatedPump]) -> None:
    """The nurse side, through the station core (the app's own commands), before the first start."""
    clock = SystemClock()
    config = load_station_config(config_path)
    opened = open_floor(db, clock)
    station = station_for(opened.floor, config, clock)
    try:
        for index, (chair, pump) in enumerate(zip(station.chairs, pumps, strict=True)):
            now = clock.now()
            chair.execute(
                CheckIn(
                    chair=chair.name,
                    patient_mrn=f"KILL-{index + 1:04d}",
                    patient_initials="JD",
                    protocol_id="ocrevus-600-subsequent",
                    bag_volume_ml=500.0,
                    bag_lot=f"LOT{index:03d}",
                    bag_expiry=date.today() + timedelta(days=30),
                    bag_prepared_at=now - timedelta(minutes=20),
                    prior_infusions=2,
                    prior_serious_reaction=False,
                    last_dose_on=(now - timedelta(days=182)).date(),
                ),
                "AB",
            )
            protocol = chair.state.require_protocol()  # type: ignore[union-attr]
            chair.execute(RecordVitals({"systolic_mmhg": 124, "heart_rate_bpm": 72}), "AB")  # baseline
            chair.execute(RecordScreening({i.id: i.acceptable_answer for i in protocol.screening}), "AB")
            for premed in protocol.premedications:
                chair.execute(
                    GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route), "AB"
                )
            started = chair.execute(
                StartInfusion(override=Override("AB", "kill-restart bench: premedication timing not waited")),
                "AB",
            )
            pump.change_bag(520.0, 500.0)
            pump.set_rate(started.pump_rate_ml_h or 40.0)
            pump.start()
    finally:
        station.close()
        opened.close()


def _write_config(path: Path, servers: list[TcpPumpServer]) -> None:
    lines = ['[station]\nname = "Kill-restart bench"\n']
    for index, server in enumerate(servers):
        lines.append(
            f'[[chairs]]\nname = "Chair {index + 1}"\nprotocol = "alaris"\nurl = "{server.url}"\n'
            "poll_interval_s = 0.5\nreconnect_max_s = 1\n"
        )
    path.write_text("\n".join(lines), encoding="utf-8")


def run(iterations: int = 20, chairs: int = 4, seed: int = 1, say: bool = True) -> Figures:
    rng = random.Random(seed)
    figures = Figures(quiet_s=load_alarm_policy().link_lost_quiet_s)
    with (
        tempfile.TemporaryDirectory(prefix="chairside-kill-") as tmp,
        SimulatorFleet(0, transport="socket") as fleet,
    ):
        work = Path(tmp)
        db, config = work / "station.sqlite", work / "station.toml"
        clock = ScaledClock(1.0)
        pumps = [SimulatedPump(f"8002-{51740 + i}", clock=clock) for i in range(chairs)]
        servers = [fleet.add(pump) for pump in pumps]
        assert all(isinstance(s, TcpPumpServer) for s in servers)
        _write_config(config, servers)  # type: ignore[arg-type]
        _start_infusions(db, config, pumps)
        for k in range(iterations):
            pulled = k % chairs
            for index, server in enumerate(servers):
                if index == pulled:
                    server.disconnect()
                else:
                    server.reconnect()
            if rng.random() < 0.5:  # a kill while the station starts: replaying, attaching, connecting
                early = StationProcess(config, db, work)
                committed = _committed(db)
                threading.Event().wait(rng.uniform(0.2, 3.0))
                early.kill()
                figures.kills += 1
                figures.early_kills += 1
                after = _committed(db)
                figures.acknowledged += len(committed)
                figures.lost += sum(1 for p, h in committed.items() if after.get(p) != h)
            before = _committed(db)
            station = StationProcess(config, db, work)
            try:
                attached = _log_time(station.wait_line("pumps attached"))
                figures.startup_s.append(attached - station.started)
                for index in range(chairs):
                    if index == pulled:
                        continue
                    line = station.wait_line(f"Chair {index + 1}: pump link connected")
                    figures.reconnect_s.append(_log_time(line) - attached)
                # The nurse turns a present pump up or down at the pump; the station documents it
                nurse_at = rng.choice([i for i in range(chairs) if i != pulled])
                rate = pumps[nurse_at].snapshot().set_rate_ml_h
                pumps[nurse_at].set_rate(rate + 10.0 if rate < 150 else rate - 10.0)
                station.wait_line(f"Chair {nurse_at + 1}: documented from the pump: ChangeRate")
                figures.documented += 1
                line = station.wait_line(f"Chair {pulled + 1}: alarm raised: link_lost_infusing")
                figures.alarm_latency_s.append(_log_time(line) - attached)
                # SIGKILL at a random moment, possibly in the middle of documenting another change
                other = rng.choice([i for i in range(chairs) if i != pulled])
                pumps[other].set_rate(pumps[other].snapshot().set_rate_ml_h + 5.0)
                acknowledged = _committed(db)
                threading.Event().wait(rng.uniform(0.0, 1.5))
            finally:
                station.kill()
                figures.kills += 1
            after = _committed(db)
            lost = [p for p, h in acknowledged.items() if after.get(p) != h]
            lost += [p for p, h in before.items() if after.get(p) != h]
            figures.acknowledged += len(acknowledged)
            figures.lost += len(set(lost))
            with Journal(db, read_only=True) as journal:
                if not journal.verify().intact:
                    figures.chain_intact = False
                    figures.problems.append(f"iteration {k + 1}: {journal.verify().first_problem}")
            figures.iterations += 1
            if say:
                print(
                    f"kill {k + 1:2d}: reconnect max {max(figures.reconnect_s[-(chairs - 1) :]):.2f} s, "
                    f"link-lost alarm {figures.alarm_latency_s[-1]:.2f} s after attach, "
                    f"{len(acknowledged)} entries acknowledged, {len(set(lost))} lost",
                    flush=True,
                )
    return figures


def report(f: Figures) -> str:
    def p50(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    return "\n".join(
        [
            f"SIGKILL + restart of the configured station: {f.kills} kills ({f.early_kills} while starting), "
            f"{f.iterations} measured restarts",
            f"  station start to pumps attached: p50 {p50(f.startup_s):.2f} s, max {max(f.startup_s):.2f} s",
            f"  pump reconnected after attach ({len(f.reconnect_s)} links): p50 {p50(f.reconnect_s):.2f} s, "
            f"max {max(f.reconnect_s):.2f} s",
            f"  link-lost alarm for the pulled pump, after attach: p50 {p50(f.alarm_latency_s):.2f} s, "
            f"max {max(f.alarm_latency_s):.2f} s (quiet time {f.quiet_s:g} s + the 1 s tick)",
            f"  entries acknowledged before the kills: {f.acknowledged} checked, {f.lost} lost; "
            f"chain {'intact' if f.chain_intact else 'BROKEN'}; pump changes documented: {f.documented}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--chairs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    figures = run(args.iterations, args.chairs, args.seed)
    print(report(figures))
    return 0 if figures.lost == 0 and figures.chain_intact else 1


if __name__ == "__main__":
    raise SystemExit(main())
