"""The station's configuration file: which pump sits at which chair, and the station's own settings.

One TOML file per station (default: `app.paths.default_config_path()`)::

    [station]
    name = "Pod A"                 # unique per station
    display_tz = "Europe/Zurich"   # IANA zone the screens show (default: this computer's zone)
    shift_file = "shifts.toml"     # shift boundaries, relative to this file (default: the shipped ones)

    [[chairs]]
    name = "Chair 1"
    protocol = "alaris"            # a driver name (drivers.available_protocols())
    url = "/dev/ttyUSB0"           # any pyserial URL: COM3, rfc2217://host:port, socket://host:port
    quiet_time_s = 10              # optional link settings; left out, the driver's default applies

A chair without ``protocol`` and ``url`` is a chair without a pump. Every error names the file, the
chair and the key, so the person fixing it does not have to guess. Qt-free: the headless station, the
CLI and the Pumps dialog all read and write the file through this module.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import logging
import math
import os
import re
import shutil
import tempfile
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import tomli_w

from app.accounts.idle import DEFAULT_IDLE_LOCK_MIN
from app.bounded_input import BadInputFile, load_toml, refuse_special
from app.domain.clock import is_zone_name, machine_zone_name
from app.export.hl7_settings import Hl7Settings, normalize_eui64, settings_from_table, station_eui64
from app.station.config_error import StationConfigError as StationConfigError  # its readers import it here
from app.store.telemetry import (
    DEFAULT_HEARTBEAT_S,
    DEFAULT_RETENTION_DAYS,
    MAX_RETENTION_DAYS,
    MIN_HEARTBEAT_S,
)
from drivers import available_protocols

MAX_CHAIRS = 48
"""The most chairs one station watches (one screen, one nurse team)."""

MAX_NAME_CHARS = 40

LINK_KEYS = ("poll_interval_s", "quiet_time_s", "handshake", "reply_timeout_s", "reconnect_max_s")
"""The per-pump link settings every driver accepts (see drivers.alaris.driver.from_config)."""

LINK_SECONDS_MAX: dict[str, float] = {
    "poll_interval_s": 60.0,
    "quiet_time_s": 600.0,
    "reply_timeout_s": 60.0,
    "reconnect_max_s": 600.0,
}
"""Upper bounds of the numeric link settings; each must also be above 0."""

SERIAL_URL_SCHEMES = ("rfc2217", "socket", "loop", "spy", "hwgrep", "alt", "cp2110")
"""pyserial's URL handlers; a URL without ``scheme://`` is a local port (/dev/ttyUSB0, COM3)."""

# [telemetry] heartbeat_s and retention_days default to app.store.telemetry's DEFAULT_HEARTBEAT_S and
# DEFAULT_RETENTION_DAYS (their one home). The retention is an institutional choice (records policy), not
# a clinical number: set it in the file to what the centre's records office requires.
DEFAULT_STATION_NAMES = frozenset({"Pod A", "Station", "Demo", "CHAIRSIDE", "Chairside"})
"""The example file's, the one-chair start's, the demo's and the HL7 default: names many stations have."""
DEFAULT_ANCHOR_INTERVAL_MIN = 15.0
"""How often the station signs a journal anchor (app.station.anchors). Institutional, not clinical: how
much of the journal an undetected rewrite could cover at most."""

_TOP_KEYS = ("station", "telemetry", "chairs", "broker", "hl7", "floor")
_STATION_KEYS = ("name", "display_tz", "shift_file", "idle_lock_min", "anchor_interval_min")
_TELEMETRY_KEYS = ("heartbeat_s", "retention_days")
_CHAIR_KEYS = ("name", "protocol", "url", *LINK_KEYS)


@dataclass(frozen=True)
class PumpConfig:
    """How to reach one chair's pump. A link setting left as None takes the driver's default."""

    protocol: str
    url: str
    poll_interval_s: float | None = None
    quiet_time_s: float | None = None
    handshake: bool | None = None
    reply_timeout_s: float | None = None
    reconnect_max_s: float | None = None

    def link_settings(self) -> dict[str, Any]:
        """The link settings this pump sets (the others take the driver's defaults)."""
        return {key: getattr(self, key) for key in LINK_KEYS if getattr(self, key) is not None}

    def as_driver_config(self) -> dict[str, Any]:
        """What `drivers.open_driver` takes."""
        return {"protocol": self.protocol, "url": self.url, **self.link_settings()}


@dataclass(frozen=True)
class ChairConfig:
    name: str
    pump: PumpConfig | None = None


@dataclass(frozen=True)
class StationConfig:
    name: str
    chairs: tuple[ChairConfig, ...]
    display_tz: str = field(default_factory=lambda: machine_zone_name())
    shift_file: Path | None = None
    """Shift boundaries (absolute once loaded); None: the shipped resources/shifts.toml."""
    heartbeat_s: float = DEFAULT_HEARTBEAT_S
    """A reading is stored at least this often while nothing changes."""
    retention_days: int = DEFAULT_RETENTION_DAYS
    idle_lock_min: float = DEFAULT_IDLE_LOCK_MIN
    """Minutes without input before the station locks (for the accounts feature)."""
    anchor_interval_min: float = DEFAULT_ANCHOR_INTERVAL_MIN
    """Minutes between signed journal anchors (and one at a clean shutdown)."""
    broker: Mapping[str, Any] = field(default_factory=dict)
    """The [broker] table (MQTT), checked by `app.station.broker.parse_broker`; empty: no broker."""
    hl7: Mapping[str, Any] = field(default_factory=dict)
    """The raw [hl7] table (live HL7 feed), read by that feature."""
    floor: Mapping[str, Any] = field(default_factory=dict)
    """The [floor] table: `overviews = [{name, public_key}]` whose signed commands this station accepts
    (checked by `app.station.floor_signing.parse_floor`)."""
    path: Path | None = field(default=None, compare=False)
    """Where the configuration was loaded from."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.display_tz)

    @property
    def chair_names(self) -> list[str]:
        return [chair.name for chair in self.chairs]

    def chair(self, name: str) -> ChairConfig:
        for chair in self.chairs:
            if chair.name == name:
                return chair
        raise KeyError(f"no chair {name!r} in {self.path or 'the station configuration'}")


def default_name_warning(config: StationConfig) -> str | None:
    """A station named like many others is hard to tell apart on the floor and in the hospital's logs
    (its HL7 identity is its own: generated at the first start)."""
    if config.name.strip() not in DEFAULT_STATION_NAMES:
        return None
    return (
        f'[station] name "{config.name}" is a default: give this station its own name (e.g. the pod or '
        "room), which the floor's overview and the HL7 messages (MSH-3) show"
    )


# -- reading -------------------------------------------------------------------------------------


def load_station_config(path: Path | str) -> StationConfig:
    """Read and check the file; StationConfigError naming the file, chair and key on any problem."""
    path = Path(path)
    try:
        data = load_toml(path)  # bounded: a regular file, not too deep, keys not too long
    except FileNotFoundError:
        raise StationConfigError("no such file", file=path) from None
    except BadInputFile as error:
        raise StationConfigError(str(error), file=path) from None
    except OSError as error:
        raise StationConfigError(f"cannot read it: {error.strerror or error}", file=path) from None
    return parse_station_config(data, source=path)


def parse_station_config(data: Mapping[str, Any], *, source: Path | str) -> StationConfig:
    """The same checks as `load_station_config`, on an already-parsed document (the Pumps dialog)."""
    source = Path(source)
    _refuse_unknown(data, _TOP_KEYS, source, section=None, what="section")
    station = _table(data, "station", source, required=True)
    _refuse_unknown(station, _STATION_KEYS, source, section="station")
    telemetry = _table(data, "telemetry", source, required=False)
    _refuse_unknown(telemetry, _TELEMETRY_KEYS, source, section="telemetry")

    def fail(problem: str, section: str, key: str | None = None) -> StationConfigError:
        return StationConfigError(problem, file=source, section=section, key=key)

    name = _name(station.get("name"), lambda p: fail(p, "station", "name"))
    display_tz = station.get("display_tz", machine_zone_name())
    if not isinstance(display_tz, str) or not is_zone_name(display_tz):
        raise fail(
            f"{display_tz!r} is not an IANA time zone name (e.g. 'Europe/Zurich', 'America/New_York')",
            "station",
            "display_tz",
        )
    shift_file = _shift_file(station.get("shift_file"), source, lambda p: fail(p, "station", "shift_file"))
    idle_lock_min = _number(
        station.get("idle_lock_min", DEFAULT_IDLE_LOCK_MIN),
        low=0.0,
        high=240.0,
        unit="minutes",
        fail=lambda p: fail(p, "station", "idle_lock_min"),
    )
    anchor_interval_min = _number(
        station.get("anchor_interval_min", DEFAULT_ANCHOR_INTERVAL_MIN),
        low=0.0,
        high=1440.0,
        unit="minutes",
        fail=lambda p: fail(p, "station", "anchor_interval_min"),
    )
    heartbeat_s = _number(
        telemetry.get("heartbeat_s", DEFAULT_HEARTBEAT_S),
        low=0.0,
        high=3600.0,
        unit="seconds",
        fail=lambda p: fail(p, "telemetry", "heartbeat_s"),
    )
    if heartbeat_s < MIN_HEARTBEAT_S:
        raise fail(
            f"must be at least {MIN_HEARTBEAT_S:g} second (pumps are read once a second), not {heartbeat_s!r}",
            "telemetry",
            "heartbeat_s",
        )
    retention = telemetry.get("retention_days", DEFAULT_RETENTION_DAYS)
    if (
        isinstance(retention, bool)
        or not isinstance(retention, int)
        or not 1 <= retention <= MAX_RETENTION_DAYS
    ):
        raise fail(
            f"must be a whole number of days from 1 to {MAX_RETENTION_DAYS}, not {retention!r}",
            "telemetry",
            "retention_days",
        )
    broker = _table(data, "broker", source, required=False)
    if broker:
        from app.station.broker import BrokerError, parse_broker  # the one reader of [broker]

        try:
            parse_broker(broker, base=source.parent)
        except BrokerError as error:
            raise fail(error.problem, "broker", error.key) from None
        from app.station.broker import refuse_reserved

        try:
            refuse_reserved(name)
        except BrokerError as error:
            raise fail(error.problem, "station", "name") from None
    hl7 = _table(data, "hl7", source, required=False)
    from app.station.hl7_feed import parse_feed  # the live feed's settings, checked here with the rest

    parse_feed(hl7, source)
    _hl7_identities(hl7, name, lambda p, key: fail(p, "hl7", key))
    floor = _table(data, "floor", source, required=False)
    from app.station.floor_signing import parse_floor  # the one reader of [floor]

    try:
        parse_floor(floor)
    except ValueError as error:
        raise fail(str(error), "floor") from None
    chairs = _chairs(data.get("chairs"), source)
    return StationConfig(
        name=name,
        chairs=chairs,
        display_tz=display_tz,
        shift_file=shift_file,
        heartbeat_s=heartbeat_s,
        retention_days=retention,
        idle_lock_min=idle_lock_min,
        anchor_interval_min=anchor_interval_min,
        broker=copy.deepcopy(dict(broker)),
        hl7=copy.deepcopy(dict(hl7)),
        floor=copy.deepcopy(dict(floor)),
        path=source,
    )


def _hl7_identities(hl7: Mapping[str, Any], station_name: str, fail: Any) -> None:
    """The [hl7] identities the feed and the exports will use, checked now rather than when the feed
    starts: each EUI-64 by its key, then the rest as the one reader of [hl7] reads them."""
    eui64s: list[tuple[str, Any]] = (
        [("station_eui64", hl7["station_eui64"])] if "station_eui64" in hl7 else []
    )
    pumps = hl7.get("pump_eui64")
    if isinstance(pumps, Mapping):
        eui64s += [(f"pump_eui64.{chair}", value) for chair, value in pumps.items()]
    for key, value in eui64s:
        try:
            normalize_eui64(value if isinstance(value, str) else repr(value))
        except ValueError as error:
            raise fail(str(error), key) from None
    try:
        settings_from_table({k: v for k, v in hl7.items() if k != "feed"}, station_name)
    except ValueError as error:
        text = str(error).removeprefix("[hl7] ")
        key, _, problem = text.partition(": ")
        raise fail(problem or text, key if problem else None) from None


def _table(data: Mapping[str, Any], key: str, source: Path, *, required: bool) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        if required:
            raise StationConfigError(f"missing: the file needs a [{key}] table", file=source, section=key)
        return {}
    if not isinstance(value, Mapping):
        raise StationConfigError(
            f"must be a table ([{key}]), not {type(value).__name__}", file=source, section=key
        )
    return value


def _refuse_unknown(
    table: Mapping[str, Any],
    allowed: tuple[str, ...],
    source: Path,
    *,
    section: str | None,
    chair_index: int | None = None,
    chair_name: str | None = None,
    what: str = "key",
) -> None:
    for key in table:
        if key in allowed:
            continue
        close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(allowed)}"
        raise StationConfigError(
            f"unknown {what}{hint}",
            file=source,
            section=section,
            chair_index=chair_index,
            chair_name=chair_name,
            key=str(key),
        )


class _Fail:
    """Builds errors about one chair."""

    def __init__(self, source: Path, index: int, name: str | None) -> None:
        self.source, self.index, self.name = source, index, name

    def __call__(self, key: str | None, problem: str) -> StationConfigError:
        return StationConfigError(
            problem, file=self.source, chair_index=self.index, chair_name=self.name, key=key
        )


def _chairs(value: Any, source: Path) -> tuple[ChairConfig, ...]:
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise StationConfigError(
            "must be an array of tables, one [[chairs]] block per chair", file=source, key="chairs"
        )
    if not 1 <= len(value) <= MAX_CHAIRS:
        raise StationConfigError(
            f"a station has 1 to {MAX_CHAIRS} chairs ([[chairs]] blocks), not {len(value)}",
            file=source,
            key="chairs",
        )
    chairs: list[ChairConfig] = []
    names: dict[str, int] = {}
    urls: dict[str, str] = {}
    for index, table in enumerate(value, start=1):
        raw_name = table.get("name")
        shown = raw_name.strip() if isinstance(raw_name, str) and raw_name.strip() else None
        fail = _Fail(source, index, shown)
        _refuse_unknown(table, _CHAIR_KEYS, source, section="chairs", chair_index=index, chair_name=shown)
        name = _name(raw_name, lambda p, fail=fail: fail("name", p))
        folded = comparable_name(name)
        if folded in names:
            raise fail("name", f"the same name as [[chairs]] {names[folded]}; each chair needs its own")
        names[folded] = index
        pump = _pump(table, fail)
        if pump is not None:
            port = same_port_key(pump.url)
            if port in urls:
                raise fail("url", f"{pump.url!r} is the same port as the pump of {urls[port]!r}")
            urls[port] = name
        chairs.append(ChairConfig(name=name, pump=pump))
    return tuple(chairs)


def comparable_name(name: str) -> str:
    """Names that read the same compare equal: NFKC (full-width letters, ligatures) and case folded."""
    return unicodedata.normalize("NFKC", name).casefold()


def same_port_key(url: str) -> str:
    """One key per port however it is spelled: a local device by its real path (symlinks such as
    /dev/serial/by-id/..., `.` and `..` resolved), a URL as written (lower-case scheme and host)."""
    if "://" in url:
        return url.lower()
    return os.path.realpath(url)


def _pump(table: Mapping[str, Any], fail: _Fail) -> PumpConfig | None:
    protocol, url = table.get("protocol"), table.get("url")
    settings = [key for key in LINK_KEYS if key in table]
    if protocol is None and url is None:
        if settings:
            raise fail(settings[0], "set, but the chair has no pump: add its protocol and url")
        return None
    known = available_protocols()
    if protocol is None:
        raise fail("protocol", f"missing: the pump at {url!r} needs its protocol ({', '.join(known)})")
    if not isinstance(protocol, str) or protocol.strip().lower() not in known:
        raise fail("protocol", f"unknown pump protocol {protocol!r}; known: {', '.join(known)}")
    if url is None:
        raise fail("url", "missing: the pump needs its port, e.g. /dev/ttyUSB0, COM3 or socket://host:port")
    if not isinstance(url, str) or not url.strip():
        raise fail("url", "must be a non-empty string")
    url = url.strip()
    problem = serial_url_problem(url)
    if problem:
        raise fail("url", problem)
    values: dict[str, Any] = {}
    for key in settings:
        value = table[key]
        if key == "handshake":
            if not isinstance(value, bool):
                raise fail(key, f"must be true or false, not {value!r}")
            values[key] = value
        else:
            values[key] = _number(
                value,
                low=0.0,
                high=LINK_SECONDS_MAX[key],
                unit="seconds",
                fail=lambda p, key=key: fail(key, p),
            )
    return PumpConfig(protocol=protocol.strip().lower(), url=url, **values)


def serial_url_problem(url: str) -> str | None:
    """Why pyserial could not open ``url`` (an unknown scheme, a missing port), or None."""
    if "://" not in url:
        return None
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in SERIAL_URL_SCHEMES:
        return f"unknown URL scheme {scheme!r}:// (pyserial knows {', '.join(SERIAL_URL_SCHEMES)})"
    if scheme.lower() in ("socket", "rfc2217"):
        host_port = rest.split("?", 1)[0]
        match = re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[^:/\[\]]+):(\d{1,5})", host_port)
        if not match or not 0 < int(match.group(2)) < 65536:
            return f"{scheme}:// needs host:port with a port from 1 to 65535, e.g. {scheme}://10.1.2.3:4001"
    return None


def _name(value: Any, fail: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail("missing or empty: give it a name" if value is None else "must be a non-empty string")
    name = value.strip()
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise fail(f"must be one line of text, not {name!r}")
    for char in name:  # look-alikes: a name that reads the same must be the same name
        category = unicodedata.category(char)
        if category in ("Cf", "Cc", "Co", "Cn", "Zl", "Zp") or (category == "Zs" and char != " "):
            raise fail(
                f"contains an invisible or unusual space character U+{ord(char):04X}: type the name again"
            )
    if len(name) > MAX_NAME_CHARS:
        raise fail(f"at most {MAX_NAME_CHARS} characters, not {len(name)}")
    return name


def _number(value: Any, *, low: float, high: float, unit: str, fail: Any) -> float:
    """A finite number of ``unit`` above ``low`` and at most ``high``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"must be a number of {unit}, not {value!r}")
    number = float(value)
    if not math.isfinite(number) or not low < number <= high:
        raise fail(f"must be above {low:g} and at most {high:g} {unit}, not {value!r}")
    return number


def _shift_file(value: Any, source: Path, fail: Any) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise fail("must be a file name (relative to this file) or an absolute path")
    path = Path(value.strip()).expanduser()
    if not path.is_absolute():
        path = source.parent.absolute() / path
    if not path.is_file():
        raise fail(f"no such file: {path}")
    from app.export.shifts import ShiftConfig, ShiftError  # the one reader of shift files

    try:
        ShiftConfig.load(path)
    except (ShiftError, ValueError) as error:
        raise fail(f"unusable: {error}") from None
    return path


# -- writing -------------------------------------------------------------------------------------


def station_config_data(config: StationConfig, *, relative_to: Path | None = None) -> dict[str, Any]:
    """The TOML document for ``config``; the shift file relative to ``relative_to`` when inside it."""
    station: dict[str, Any] = {"name": config.name, "display_tz": config.display_tz}
    if config.shift_file is not None:
        shift = config.shift_file
        if relative_to is not None and shift.is_relative_to(relative_to.absolute()):
            shift = shift.relative_to(relative_to.absolute())
        station["shift_file"] = shift.as_posix()
    station["idle_lock_min"] = config.idle_lock_min
    if config.anchor_interval_min != DEFAULT_ANCHOR_INTERVAL_MIN:
        station["anchor_interval_min"] = config.anchor_interval_min
    data: dict[str, Any] = {
        "station": station,
        "telemetry": {"heartbeat_s": config.heartbeat_s, "retention_days": config.retention_days},
    }
    if config.broker:
        data["broker"] = copy.deepcopy(dict(config.broker))
    if config.hl7:
        data["hl7"] = copy.deepcopy(dict(config.hl7))
    if config.floor:
        data["floor"] = copy.deepcopy(dict(config.floor))
    chairs = []
    for chair in config.chairs:
        table: dict[str, Any] = {"name": chair.name}
        if chair.pump is not None:
            table.update(chair.pump.as_driver_config())
        chairs.append(table)
    data["chairs"] = chairs
    return data


_HEADER = (
    "# Chairside station configuration, written by chairside (the Pumps dialog or save).\n"
    "# Comments are not kept when it is written; docs/station.example.toml explains every key.\n\n"
)


def save_station_config(config: StationConfig, path: Path | str) -> Path:
    """Write ``config`` to ``path`` atomically (temp file + rename), readable by its owner only (0600).

    The previous file, if any, is kept beside it as ``<name>.bak``. Returns the path written.
    """
    path = Path(path)
    try:
        refuse_special(path)  # the rename would replace a FIFO or a device
    except BadInputFile as error:
        raise StationConfigError(str(error), file=path) from None
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = _HEADER + tomli_w.dumps(station_config_data(config, relative_to=folder))
    parse_station_config(tomllib.loads(text), source=path)  # never write what the loader refuses
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as temp:
            os.chmod(temp_name, 0o600)
            temp.write(text)
            temp.flush()
            os.fsync(temp.fileno())
        if path.exists():
            backup = path.with_name(path.name + ".bak")
            shutil.copyfile(path, backup)
            os.chmod(backup, 0o600)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the platform allows
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return path


def load_hl7_settings(path: Path | None) -> Hl7Settings:
    """The station file's [hl7] identities (`path`, else the station's default file when present), or
    the defaults. ExportError names the file and key on a bad value."""
    from app.export.model import ExportError
    from app.paths import default_config_path

    if path is None:
        try:
            present = default_config_path().exists()
        except OSError:  # another user's private folder: the defaults
            present = False
        path = default_config_path() if present else None
    try:  # the station's identity, generated at its first start (MSH-3, MSH-10 unique across the centre)
        identity = station_eui64()
    except (OSError, ValueError) as exc:  # the export goes on: the name-derived identity, said once
        logging.getLogger(__name__).warning("the station identity (MSH-3) is derived from its name: %s", exc)
        identity = ""
    if path is None:
        return Hl7Settings(station_eui64=identity)
    try:
        config = load_station_config(path)
        return settings_from_table(config.hl7, config.name, identity)
    except (StationConfigError, ValueError) as exc:
        raise ExportError(f"{path}: {exc}") from exc


def load_display_zone(path: Path | None) -> str | None:
    """The display zone the station file names (`path`, else the station's default file when present);
    None without a file (the reader then shows this computer's zone). StationConfigError names the file
    and key on a bad file: a command asked to show a station's times never falls back silently."""
    from app.paths import default_config_path

    if path is None:
        try:
            present = default_config_path().exists()
        except OSError:  # another user's private folder: no station file
            present = False
        if not present:
            return None
        path = default_config_path()
    return load_station_config(path).display_tz
