"""How long `chairside config check` takes for a full station, against probing one pump.

    .venv/bin/python bench/config_check.py [--pumps 48] [--runs 5]   (or: make bench)

Starts `chairside-sim --chairs N` as its own process (simulated Alaris pumps on pseudo-terminals),
writes a station configuration with one chair per pump (default link settings, as a station would
have them), then times:

1. the baseline: `check_station` on a configuration with the first pump only (median of the runs);
2. `check_station` on all N pumps (median of the runs), as a multiple of the baseline;
3. the whole command, `chairside config check --config FILE`, as a new process (once), which adds
   the interpreter start and imports.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.station.check import check_station
from app.station.config import ChairConfig, PumpConfig, StationConfig, save_station_config


def start_simulator(pumps: int, link_dir: Path) -> tuple[subprocess.Popen[str], list[str]]:
    sim = subprocess.Popen(
        [sys.executable, "-m", "drivers.sim", "--chairs", str(pumps), "--link-dir", str(link_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sim.stdout is not None
    urls = [sim.stdout.readline().strip() for _ in range(pumps)]
    if not all(urls):
        sim.terminate()
        raise SystemExit(f"chairside-sim printed {sum(map(bool, urls))} of {pumps} URLs")
    return sim, urls


def station(urls: list[str]) -> StationConfig:
    chairs = tuple(
        ChairConfig(f"Chair {n}", PumpConfig("alaris", url)) for n, url in enumerate(urls, start=1)
    )
    return StationConfig(name="Bench", chairs=chairs, display_tz="UTC")


def timed_check(config: StationConfig) -> float:
    started = time.perf_counter()
    checks = check_station(config)
    elapsed = time.perf_counter() - started
    failed = [check.chair.name for check in checks if check.status != "ok"]
    if failed:
        raise SystemExit(f"pumps did not answer: {failed} ({checks[0].detail})")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pumps", type=int, default=48)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chairside-bench-") as folder:
        (Path(folder) / "ptys").mkdir()
        sim, urls = start_simulator(args.pumps, Path(folder) / "ptys")
        try:
            one = [timed_check(station(urls[:1])) for _ in range(args.runs)]
            full = [timed_check(station(urls)) for _ in range(args.runs)]
            config_file = save_station_config(station(urls), Path(folder) / "station.toml")
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "app", "config", "check", "--config", str(config_file)],
                capture_output=True,
                text=True,
                env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
                check=False,
            )
            command_s = time.perf_counter() - started
        finally:
            sim.terminate()
            sim.wait(timeout=30)
    if done.returncode != 0:
        print(done.stdout, done.stderr, file=sys.stderr)
        raise SystemExit(f"chairside config check exited {done.returncode}")
    baseline, median = statistics.median(one), statistics.median(full)
    print(f"config check, {os.cpu_count()} CPUs, {args.runs} runs each, pumps on ptys from chairside-sim:")
    print(f"  baseline, 1 pump:    median {baseline:6.3f} s  (min {min(one):.3f}, max {max(one):.3f})")
    print(
        f"  {args.pumps} pumps at once: median {median:6.3f} s  (min {min(full):.3f}, max {max(full):.3f})"
        f"  = {median / baseline:.1f} x the baseline"
    )
    print(f"  `chairside config check`, {args.pumps} pumps, new process: {command_s:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
