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

from drivers.command_line import OneLineParser, existing_directory, number_in, run_command, whole_in
from drivers.sim.pump import PumpOperationError
from drivers.sim.scenario import ScenarioError, ScenarioRunner, builtin_scenarios, load_scenario
from drivers.sim.server import SimulatorFleet

DEFAULT_SCENARIO = "basic-infusion"
MAX_PUMPS = 200
MAX_SPEED = 10_000.0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="chairside-sim",
        description="Serve simulated Alaris pumps on pseudo-terminals (default) or TCP.",
        epilog=f"Built-in scenarios: {', '.join(builtin_scenarios())}",
    )
    parser.add_argument(
        "--chairs",
        type=whole_in(1, MAX_PUMPS),
        default=1,
        help=f"number of pumps, 1 to {MAX_PUMPS} (default 1)",
    )
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--tcp", action="store_true", help="serve on socket://127.0.0.1:PORT")
    transport.add_argument("--rfc2217", action="store_true", help="serve as RFC 2217 serial device servers")
    parser.add_argument("--host", default="127.0.0.1", help="TCP address to listen on")
    parser.add_argument(
        "--speed",
        type=number_in(0.0, MAX_SPEED, above_low=True),
        default=1.0,
        help="simulated seconds per real second",
    )
    parser.add_argument("--scenario", help=f"TOML file or built-in name (default {DEFAULT_SCENARIO})")
    parser.add_argument("--idle", action="store_true", help="run no scenario: pumps wait, unprogrammed")
    parser.add_argument(
        "--stagger-min",
        type=number_in(0.0, 24 * 60.0, unit="min"),
        default=0.0,
        help="start pump N this many simulated minutes later",
    )
    parser.add_argument(
        "--quit-after",
        type=number_in(0.0, 7 * 24 * 3600.0, unit="s"),
        metavar="S",
        help="stop after S seconds (real time) instead of waiting for SIGINT or SIGTERM",
    )
    parser.add_argument(
        "--link-dir",
        type=existing_directory,
        help="directory for the pty symlinks (default: a temporary one)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every wire frame to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command("chairside-sim", lambda: serve(args), (ScenarioError,))


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    scenario = None if args.idle else load_scenario(args.scenario or DEFAULT_SCENARIO)
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
                    try:
                        runner.advance_to(60.0 * args.stagger_min * (len(fleet.servers) - 1 - index))
                    except PumpOperationError as refused:
                        raise ScenarioError(
                            f"scenario {scenario.name!r}: the pump refused a step: {refused}"
                        ) from None
                    runners.append(runner.start())
            for url in fleet.urls:
                print(url, flush=True)
            stop.wait(args.quit_after)
        finally:
            for runner in runners:
                runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
