"""Where Chairside keeps its data on each platform (without needing Qt)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def data_dir() -> Path:
    override = os.environ.get("CHAIRSIDE_DATA_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
        return base / "Chairside"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Chairside"
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "chairside"


def default_db_path() -> Path:
    return data_dir() / "chairside.sqlite"


def config_dir() -> Path:
    """The private configuration folder (the station key lives here). CHAIRSIDE_CONFIG_DIR overrides."""
    override = os.environ.get("CHAIRSIDE_CONFIG_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
        return base / "Chairside" / "config"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Preferences" / "Chairside"
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "chairside"
