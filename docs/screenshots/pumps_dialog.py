"""Regenerates docs/screenshots/pumps-dialog.png: Station > Pumps… with a few rows tested.

    xvfb-run -s "-screen 0 1920x1080x24" .venv/bin/python docs/screenshots/pumps_dialog.py

Two simulated pumps on pseudo-terminals answer, one chair's adapter is missing, one device server
refuses the connection (a local port nobody listens on), one chair has no pump.
"""

from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app.station.config import ChairConfig, PumpConfig, StationConfig, save_station_config
from app.ui.dialogs.pumps import PumpsDialog
from app.ui.theme import apply_theme
from drivers.sim import ManualClock, SimulatedPump, serve_pty

OUT = Path(__file__).resolve().parent / "pumps-dialog.png"
"""Another file and size: ``pumps_dialog.py OUT.png 1326x700``."""


def closed_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> int:
    app = QApplication(sys.argv)
    apply_theme(app)
    pumps = []
    for serial, rate in (("8002-51740", 120.0), ("8002-51741", 0.0)):
        pump = SimulatedPump(serial, clock=ManualClock())
        if rate:
            pump.change_bag(250)
            pump.set_rate(rate)
            pump.start()
            pump.clock.advance(1800)
        pumps.append(serve_pty(pump))
    port = closed_local_port()
    with tempfile.TemporaryDirectory() as folder:
        config = StationConfig(
            name="Pod A",
            display_tz="Europe/Zurich",
            chairs=(
                ChairConfig("Chair 1", PumpConfig("alaris", pumps[0].url)),
                ChairConfig("Chair 2", PumpConfig("alaris", pumps[1].url, poll_interval_s=2.0)),
                ChairConfig("Chair 3", PumpConfig("alaris", "/dev/ttyUSB2")),
                ChairConfig("Chair 4", PumpConfig("alaris", f"socket://127.0.0.1:{port}", quiet_time_s=15.0)),
                ChairConfig("Chair 5", PumpConfig("alaris", "rfc2217://serial-a5.pod-a.example:4001")),
                ChairConfig("Recliner 6"),
            ),
        )
        path = save_station_config(config, Path(folder) / "chairside" / "station.toml")
        dialog = PumpsDialog(path)
        out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
        width, height = (int(n) for n in (sys.argv[2] if len(sys.argv) > 2 else "1600x760").split("x"))
        dialog.resize(width, height)
        dialog.show()
        pending = {0, 1, 2, 3}
        dialog.test_finished.connect(lambda *_: pending.pop() if pending else None)
        for row in sorted(pending):
            dialog.test_row(row)
        while pending:
            app.processEvents()
            dialog.wait_for_tests(0.05)
        app.processEvents()
        dialog.grab().save(str(out))
        print(f"saved {out}")
        dialog.close()
    for server in pumps:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
