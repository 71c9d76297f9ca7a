"""SIGKILL the configured station during infusions and restart it (bench/kill_restart.py runs 20)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("kill_restart", ROOT / "bench" / "kill_restart.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kill_restart"] = module
    spec.loader.exec_module(module)
    return module


def test_three_kills_lose_nothing_and_every_pump_comes_back() -> None:
    bench = _bench()
    figures = bench.run(iterations=3, chairs=3, seed=7, say=False)
    assert figures.iterations == 3 and figures.kills == 3 + figures.early_kills
    assert figures.acknowledged > 0 and figures.lost == 0
    assert figures.chain_intact, figures.problems
    assert len(figures.reconnect_s) == 3 * 2  # every present pump, after every restart
    assert figures.documented == 3  # the station documented a change at the pump each run
    # The pulled pump's chair alarms once the quiet time is over: not before, and not much later
    assert all(figures.quiet_s <= s <= figures.quiet_s + 10 for s in figures.alarm_latency_s)
