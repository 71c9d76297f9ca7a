"""TCP ports for the servers the tests start (Mosquitto, MLLP receivers) that must know their port before
they listen, or listen again on the same one.

Under pytest-xdist every worker takes its ports from its own band, one after another, so two workers
never pick the same port between one's probe and its server's bind (the kernel's "any free port" can
hand the same number to two processes in that gap). Each port is still checked free on this machine, and
each run starts at a random place in its band, so two runs at once on one machine rarely meet.
"""

from __future__ import annotations

import os
import random
import re
import socket

BAND_START = 20000  # below Linux's ephemeral range (32768-60999): the kernel does not hand these out
BAND_SIZE = 1500  # eight workers fit below 32000


def _worker_index() -> int:
    match = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    return int(match.group(1)) + 1 if match else 0


def _band() -> range:
    first = BAND_START + (_worker_index() % 8) * BAND_SIZE
    return range(first, first + BAND_SIZE)


_BAND = _band()
_offset = random.randrange(BAND_SIZE)


def free_port() -> int:
    """A port on 127.0.0.1 that is free now and that no other worker of this run will pick."""
    global _offset
    for _ in range(BAND_SIZE):
        port = _BAND[_offset % BAND_SIZE]
        _offset += 1
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port left in {_BAND}")
