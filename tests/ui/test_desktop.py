"""Before Qt starts, the station names a missing system library and its package instead of Qt's abort
(issue 12, point 9)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.ui.desktop import (
    LIBRARY_PACKAGES,
    desktop_problem,
    missing_from_ldd,
    will_use_xcb,
    xcb_plugin,
)

REPO = Path(__file__).resolve().parents[2]
# This machine's `ldd libqxcb.so` with the two libraries a fresh Debian 12 desktop lacks shown as
# "not found" (the lines ldd prints then), paths anonymised.
FRESH_DEBIAN = (Path(__file__).with_name("data") / "ldd-libqxcb-fresh-debian.txt").read_text(encoding="utf-8")


def test_reads_the_missing_libraries_from_ldd() -> None:
    assert missing_from_ldd(FRESH_DEBIAN) == ["libxkbcommon-x11.so.0", "libxcb-cursor.so.0"]
    assert missing_from_ldd(FRESH_DEBIAN.replace("=> not found", "=> /lib/x.so (0x1)")) == []


def test_names_the_library_the_package_and_the_command() -> None:
    from app.ui.desktop import describe_missing

    text = describe_missing(missing_from_ldd(FRESH_DEBIAN))
    assert "libxcb-cursor.so.0" in text
    assert "sudo apt-get install -y libxcb-cursor0 libxkbcommon-x11-0" in text
    assert "\n" not in text
    assert "apt-file search libfoo.so.1" in describe_missing(["libfoo.so.1"])


@pytest.mark.parametrize(
    ("env", "platform", "xcb"),
    [
        ({"DISPLAY": ":0"}, "linux", True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", False),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"QT_QPA_PLATFORM": "wayland;xcb", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, "linux", False),
        ({"DISPLAY": ":0"}, "win32", False),
        ({}, "linux", False),
    ],
)
def test_checks_only_when_qt_will_use_xcb(env: dict[str, str], platform: str, xcb: bool) -> None:
    assert will_use_xcb(env, platform) is xcb


def test_this_machine_has_every_library() -> None:
    """A real ldd run on the installed plugin: `make test` installs packaging/system-packages.txt."""
    assert xcb_plugin({}) is not None
    assert desktop_problem({"DISPLAY": ":0"}, "linux") is None


def test_every_package_is_in_the_system_package_list() -> None:
    listed = {
        line.split("#")[0].strip()
        for line in (REPO / "packaging" / "system-packages.txt").read_text(encoding="utf-8").splitlines()
    }
    assert set(LIBRARY_PACKAGES.values()) <= listed


def _broken_plugin_folder(tmp_path: Path) -> Path:
    """The real xcb plugin, copied away from the Qt libraries it loads: ldd reports them not found."""
    plugin = xcb_plugin({})
    assert plugin is not None
    folder = tmp_path / "plugins"
    (folder / "platforms").mkdir(parents=True)
    shutil.copy(plugin, folder / "platforms" / "libqxcb.so")
    return folder


def test_a_plugin_with_missing_libraries(tmp_path: Path) -> None:
    folder = _broken_plugin_folder(tmp_path)
    problem = desktop_problem({"DISPLAY": ":0", "QT_PLUGIN_PATH": str(folder)}, "linux")
    assert problem is not None
    assert "libQt6XcbQpa.so.6" in problem


def test_the_station_stops_with_one_line_before_qt_starts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(
        DISPLAY=":0", QT_PLUGIN_PATH=str(_broken_plugin_folder(tmp_path)), CHAIRSIDE_DATA_DIR=str(tmp_path)
    )
    result = subprocess.run(
        [sys.executable, "-m", "app", "--quit-after", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("chairside: ")
    assert "libQt6XcbQpa.so.6" in result.stderr
    assert not (tmp_path / "chairside.sqlite").exists(), "nothing started"


def test_no_display_at_all(tmp_path: Path) -> None:
    problem = desktop_problem({}, "linux")
    assert problem is not None and "DISPLAY" in problem
