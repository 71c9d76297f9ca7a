"""Who the station is to the hospital's interface engine: names, the assigning authority and EUI-64s.

The station configuration's `[hl7]` section fills an `Hl7Settings`; the defaults work without one.

EUI-64 (IEEE, 16 hex digits) for the station (MSH-3) and for each pump (OBX-18). A configured value is
used as given. Otherwise the station's is the one generated at its first start and kept in its
configuration folder (`station-eui64`: 8 random bytes, locally administered), so two stations that
were given the same name (or none) never share an identity, and with it MSH-10 (station EUI-64 and
journal position): a receiver that de-duplicates on MSH-10 would otherwise drop one station's
messages. The pumps' are derived from it, stable across restarts and distinct across stations:

    eui64(parts) = first 8 bytes of SHA-256("chairside-eui64" 0x1F part1 0x1F part2 ...),
                   first byte with bit 1 set (locally administered) and bit 0 cleared (unicast)

    station EUI-64 = configured, else generated at first start (else, without a configuration
                     folder, eui64("station", station_name))
    pump EUI-64    = eui64("pump", station EUI-64, pump serial number or, if unknown, the chair name)

A locally administered EUI-64 never collides with a manufacturer's (OUI-based) identifier.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_HEX16 = re.compile(r"^[0-9A-F]{16}$")


def derive_eui64(*parts: str) -> str:
    material = "\x1f".join(("chairside-eui64", *parts)).encode("utf-8")
    raw = bytearray(hashlib.sha256(material).digest()[:8])
    raw[0] = (raw[0] | 0x02) & 0xFE
    return raw.hex().upper()


def normalize_eui64(value: str) -> str:
    """16 hex digits, upper case; separators (- : space) are dropped. ValueError if it is not one."""
    cleaned = re.sub(r"[-: ]", "", value).upper()
    if not _HEX16.match(cleaned):
        raise ValueError(f"{value!r} is not an EUI-64 (16 hexadecimal digits)")
    return cleaned


STATION_EUI64_FILE = "station-eui64"


def _random_eui64() -> str:
    raw = bytearray(os.urandom(8))
    raw[0] = (raw[0] | 0x02) & 0xFE  # locally administered, unicast
    return raw.hex().upper()


def station_eui64(folder: Path | None = None) -> str:
    """This station's EUI-64: read from its configuration folder, generated there at the first start.
    ValueError (one line) when the file holds something else."""
    from app.paths import config_dir

    path = (folder or config_dir()) / STATION_EUI64_FILE
    try:
        return normalize_eui64(path.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        pass
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}; delete it to generate a new station identity") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:  # another process of this station was first
        return normalize_eui64(path.read_text(encoding="utf-8").strip())
    value = _random_eui64()
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return value


@dataclass(frozen=True)
class Hl7Settings:
    station_name: str = "CHAIRSIDE"  # MSH-3.1 (sending application)
    facility: str = "INFUSION"  # MSH-4 and PV1-3.4
    point_of_care: str = "INFUSION"  # PV1-3.1 (the unit); PV1-3.3 bed is the chair
    assigning_authority: str = "HOSP"  # PID-3.4 and PV1-19.4: the hospital's, not the app's
    station_eui64: str = ""  # MSH-3.2; empty: derived from station_name
    pump_eui64: Mapping[str, str] = field(default_factory=dict)  # chair -> EUI-64 (OBX-18)
    pump_serial: Mapping[str, str] = field(default_factory=dict)  # chair -> serial (for the derivation)
    sample_interval_min: float = 15.0  # pump samples as PCD-01 at most this often (0: none)

    def __post_init__(self) -> None:
        if self.station_eui64:
            object.__setattr__(self, "station_eui64", normalize_eui64(self.station_eui64))
        for chair, value in self.pump_eui64.items():
            normalize_eui64(value)  # refuse a bad one when the settings are read
            del chair

    @property
    def station_id(self) -> str:
        return self.station_eui64 or derive_eui64("station", self.station_name)

    def pump_id(self, chair: str) -> str:
        if chair in self.pump_eui64:
            return normalize_eui64(self.pump_eui64[chair])
        return derive_eui64("pump", self.station_id, self.pump_serial.get(chair) or chair)


def settings_to_json(settings: Hl7Settings, chairs: list[str]) -> dict[str, object]:
    """What a verifier needs to build the same messages again (recorded in the export's manifest)."""
    return {
        "station_name": settings.station_name,
        "facility": settings.facility,
        "point_of_care": settings.point_of_care,
        "assigning_authority": settings.assigning_authority,
        "station_eui64": settings.station_id,
        "pump_eui64": {chair: settings.pump_id(chair) for chair in chairs},
        "sample_interval_min": settings.sample_interval_min,
    }


def settings_from_json(data: object) -> Hl7Settings:
    if not isinstance(data, dict):
        raise ValueError("the HL7 settings record is missing")
    return Hl7Settings(
        station_name=str(data["station_name"]),
        facility=str(data["facility"]),
        point_of_care=str(data["point_of_care"]),
        assigning_authority=str(data["assigning_authority"]),
        station_eui64=str(data["station_eui64"]),
        pump_eui64={str(k): str(v) for k, v in dict(data["pump_eui64"]).items()},
        sample_interval_min=float(data["sample_interval_min"]),
    )


_TABLE_TEXT_KEYS = ("station_name", "facility", "point_of_care", "assigning_authority", "station_eui64")


def settings_from_table(
    table: Mapping[str, object], station_name: str = "", station_id: str = ""
) -> Hl7Settings:
    """Hl7Settings from the station file's `[hl7]` table (keys of the live feed are left to it).
    ValueError names the key on a bad value. The station's own name is the default station_name, its
    generated identity (`station_eui64()`) the default station_eui64."""
    values: dict[str, object] = {}
    if station_name:
        values["station_name"] = station_name
    if station_id:
        values["station_eui64"] = station_id
    for key in _TABLE_TEXT_KEYS:
        if key in table:
            value = table[key]
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"[hl7] {key}: use a non-empty text")
            values[key] = value.strip()
    if "sample_interval_min" in table:
        interval = table["sample_interval_min"]
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not 0 <= interval <= 1440:
            raise ValueError("[hl7] sample_interval_min: use minutes from 0 (none) to 1440")
        values["sample_interval_min"] = float(interval)
    pumps = table.get("pump_eui64", {})
    if not isinstance(pumps, Mapping):
        raise ValueError('[hl7] pump_eui64: use a table of chair = "EUI-64"')
    values["pump_eui64"] = {str(chair): str(eui) for chair, eui in pumps.items()}
    try:
        return Hl7Settings(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"[hl7] {exc}") from exc
