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
    """The platform's folder for settings (``CHAIRSIDE_CONFIG_DIR`` overrides it)."""
    override = os.environ.get("CHAIRSIDE_CONFIG_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
        return base / "Chairside"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Preferences" / "Chairside"
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "chairside"


def default_config_path() -> Path:
    """The station configuration file: ``$XDG_CONFIG_HOME/chairside/station.toml`` on Linux."""
    return config_dir() / "station.toml"
