"""``chairside-sim``: simulated pumps for a demo or a cable check, one URL per pump on stdout.

    chairside-sim --chairs 6 --speed 60 --scenario ocrevus-600-mild-reaction

Runs until SIGINT or SIGTERM. Without ``--scenario`` each pump runs the built-in ``basic-infusion``
(250 mL at 100 mL/h); ``--idle`` leaves them unprogrammed.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from drivers.sim.scenario import ScenarioError, ScenarioRunner, builtin_scenarios, load_scenario
from drivers.sim.server import SimulatorFleet

DEFAULT_SCENARIO = "basic-infusion"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chairside-sim",
        description="Serve simulated Alaris pumps on pseudo-terminals (default) or TCP.",
        epilog=f"Built-in scenarios: {', '.join(builtin_scenarios())}",
    )
    parser.add_argument("--chairs", type=int, default=1, help="number of pumps (default 1)")
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--tcp", action="store_true", help="serve on socket://127.0.0.1:PORT")
    transport.add_argument("--rfc2217", action="store_true", help="serve as RFC 2217 serial device servers")
    parser.add_argument("--host", default="127.0.0.1", help="TCP address to listen on")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    parser.add_argument("--scenario", help=f"TOML file or built-in name (default {DEFAULT_SCENARIO})")
    parser.add_argument("--idle", action="store_true", help="run no scenario: pumps wait, unprogrammed")
    parser.add_argument(
        "--stagger-min", type=float, default=0.0, help="start pump N this many simulated minutes later"
    )
    parser.add_argument("--link-dir", help="directory for the pty symlinks (default: a temporary one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every wire frame to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.chairs < 1 or args.speed <= 0 or args.stagger_min < 0:
        print("chairside-sim: --chairs must be >= 1, --speed > 0, --stagger-min >= 0", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    scenario = None
    if not args.idle:
        try:
            scenario = load_scenario(args.scenario or DEFAULT_SCENARIO)
        except (ScenarioError, OSError) as error:
            print(f"chairside-sim: {error}", file=sys.stderr)
            return 2
    transport = "rfc2217" if args.rfc2217 else "socket" if args.tcp else "pty"

    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())

    runners: list[ScenarioRunner] = []
    with SimulatorFleet(
        args.chairs, transport=transport, speed=args.speed, link_dir=args.link_dir, host=args.host
    ) as fleet:
        try:
            if scenario is not None:
                for index, server in enumerate(fleet.servers):
                    runner = ScenarioRunner(scenario, server.pump, server)
                    # Chair N began its infusion N x stagger minutes ago.
                    runner.advance_to(60.0 * args.stagger_min * (len(fleet.servers) - 1 - index))
                    runners.append(runner.start())
            for url in fleet.urls:
                print(url, flush=True)
            stop.wait()
        finally:
            for runner in runners:
                runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
