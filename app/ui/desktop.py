"""Can this desktop show the station? Checked before Qt starts, so that a missing system library gives
one sentence naming the library and the Debian/Ubuntu package, instead of Qt's abort ("could not load
the Qt platform plugin xcb ... Aborted (core dumped)").

Since Qt 6.5 the X11 (xcb) platform plugin needs libxcb-cursor0 and friends, which a fresh desktop
may not have. `desktop_problem()` runs `ldd` on the plugin Qt would load and reads its "not found"
lines. It checks only when the platform will be xcb (Linux, `DISPLAY` set, no other
`QT_QPA_PLATFORM`); everywhere else it says nothing. No Qt import here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# The libraries libqxcb.so loads from the system (ldd on this machine, Debian 12) and their packages.
# The same names hold on Ubuntu 22.04 and later. packaging/system-packages.txt lists them for `make`.
LIBRARY_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$", re.MULTILINE)


def missing_from_ldd(output: str) -> list[str]:
    """The libraries an `ldd` listing says are not found, in its order, each once."""
    seen: dict[str, None] = {}
    for name in _NOT_FOUND.findall(output):
        seen.setdefault(name, None)
    return list(seen)


def will_use_xcb(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> bool:
    """Qt on Linux picks xcb for an X11 session unless QT_QPA_PLATFORM names another platform."""
    if not platform.startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(";")[0].split(":")[0] == "xcb"
    if env.get("XDG_SESSION_TYPE") == "wayland" and env.get("WAYLAND_DISPLAY"):
        return False
    return bool(env.get("DISPLAY"))


def xcb_plugin(env: Mapping[str, str] = os.environ) -> Path | None:
    """The xcb plugin Qt would load: from QT_PLUGIN_PATH first (Qt searches it first), else PySide6's."""
    folders = [Path(p) for p in env.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p]
    try:
        import PySide6  # the package only: no Qt library is loaded by this import

        folders.append(Path(PySide6.__file__).parent / "Qt" / "plugins")
    except ImportError:
        pass
    for folder in folders:
        plugin = folder / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def describe_missing(missing: list[str]) -> str:
    """One sentence: what is missing and the command that installs it."""
    qt_own = [name for name in missing if name.startswith("libQt6") or name.startswith("libicu")]
    if qt_own:
        return (
            f"the Qt libraries that come with PySide6 are incomplete ({', '.join(qt_own)} not found): "
            "reinstall it (make clean, then make demo)"
        )
    packages = sorted({LIBRARY_PACKAGES[name] for name in missing if name in LIBRARY_PACKAGES})
    unknown = [name for name in missing if name not in LIBRARY_PACKAGES]
    parts = []
    if packages:
        parts.append(f"install them with: sudo apt-get install -y {' '.join(packages)}")
    if unknown:
        parts.append(f"find the package for {', '.join(unknown)} with: apt-file search {unknown[0]}")
    return (
        f"this desktop lacks system libraries that Qt's X11 platform plugin needs ({', '.join(missing)}); "
        + "; ".join(parts)
    )


def desktop_problem(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> str | None:
    """Why Qt could not open a window here, in one sentence, or None (also when it cannot tell)."""
    no_display = not any(env.get(name) for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"))
    if platform.startswith("linux") and no_display:
        return (
            "there is no display to show the station on (DISPLAY is not set): start it from the desktop "
            "session, or set QT_QPA_PLATFORM=offscreen for a --screenshot"
        )
    if not will_use_xcb(env, platform):
        return None
    plugin = xcb_plugin(env)
    ldd = shutil.which("ldd")
    if plugin is None or ldd is None:
        return None
    try:
        listing = subprocess.run(
            [ldd, str(plugin)], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    missing = missing_from_ldd(listing)
    return describe_missing(missing) if missing else None
