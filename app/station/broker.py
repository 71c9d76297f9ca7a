"""Where a station publishes the floor, and the topics it uses (schema: docs/mqtt.md).

The ``[broker]`` table of the station configuration, or ``--broker URL`` on the command line::

    [broker]
    url = "mqtts://floor-broker.example:8883"   # mqtt:// only on this computer unless allow_plaintext
    username = "pod-a"                           # the broker's ACL lets it write chairside/v1/pod-a/#
    password_file = "broker-password"            # relative to the configuration file; first line
    ca_file = "floor-ca.pem"                     # the CA that signed the broker's certificate
    keepalive_s = 5                              # at most 10: the floor sees a dead station in 1.5x this
    allow_plaintext = false                      # true lets mqtt:// leave this computer (no TLS)

Qt-free: the station core, the overview and the tests read it through here.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

TOPIC_PREFIX = "chairside/v1"
KEEPALIVE_MAX_S = 10.0
DEFAULT_KEEPALIVE_S = 5.0
_KEYS = ("url", "username", "password_file", "ca_file", "keepalive_s", "allow_plaintext", "topic_prefix")
_PORTS = {"mqtt": 1883, "mqtts": 8883}


class BrokerError(ValueError):
    """A broker setting that cannot be used; `key` names the setting."""

    def __init__(self, problem: str, key: str | None = None) -> None:
        self.problem = problem
        self.key = key
        super().__init__(f"[broker] {key}: {problem}" if key else f"broker: {problem}")


@dataclass(frozen=True)
class BrokerSettings:
    url: str
    host: str
    port: int
    tls: bool
    username: str | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    keepalive_s: float = DEFAULT_KEEPALIVE_S
    allow_plaintext: bool = False

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def password(self) -> str | None:
        """The first line of the password file (read when connecting, never stored in the config)."""
        if self.password_file is None:
            return None
        try:
            lines = self.password_file.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            problem = f"cannot read {self.password_file}: {error.strerror or error}"
            raise BrokerError(problem, "password_file") from None
        return lines[0].strip() if lines else ""


def _refuse_non_certificate(path: Path) -> None:
    """The CA file must hold at least one PEM certificate TLS can load (checked now, not at connect)."""
    import ssl

    try:
        context = ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError):
        context = None
    if context is None or not context.cert_store_stats()["x509"]:
        raise BrokerError(
            f"{path.name} is not a certificate (a PEM file with the floor's CA certificate)", "ca_file"
        )


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_url(url: Any) -> tuple[str, int, bool]:
    """(host, port, tls) of an mqtt:// or mqtts:// URL."""
    if not isinstance(url, str) or not url.strip():
        raise BrokerError(
            "missing: give the broker as mqtts://host[:port] (or mqtt:// on this computer)", "url"
        )
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise BrokerError(f"{url!r} is not a broker URL ({error})", "url") from None
    scheme = parts.scheme.lower()
    if scheme not in _PORTS:
        raise BrokerError(f"{url!r}: use mqtts://host[:port] (TLS) or mqtt://host[:port]", "url")
    if not parts.hostname:
        raise BrokerError(f"{url!r} names no host", "url")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BrokerError(
            f"{url!r}: only mqtt(s)://host[:port]; the topics are fixed ({TOPIC_PREFIX})", "url"
        )
    return parts.hostname, port or _PORTS[scheme], scheme == "mqtts"


def parse_broker(table: Mapping[str, Any], *, base: Path | None = None) -> BrokerSettings:
    """Check the [broker] table; relative files are relative to `base` (the configuration's folder)."""
    for key in table:
        if key not in _KEYS:
            raise BrokerError(f"unknown key; known: {', '.join(_KEYS)}", str(key))
    url = table.get("url")
    host, port, tls = parse_url(url)
    assert isinstance(url, str)
    prefix = table.get("topic_prefix", TOPIC_PREFIX)
    if prefix != TOPIC_PREFIX:
        raise BrokerError(f"the topics are fixed: {TOPIC_PREFIX!r}, not {prefix!r}", "topic_prefix")
    parts = urlsplit(url.strip())
    username = table.get("username", unquote(parts.username) if parts.username else None)
    if username is not None and (not isinstance(username, str) or not username.strip()):
        raise BrokerError("must be a non-empty string", "username")
    allow = table.get("allow_plaintext", False)
    if not isinstance(allow, bool):
        raise BrokerError(f"must be true or false, not {allow!r}", "allow_plaintext")
    keepalive = table.get("keepalive_s", DEFAULT_KEEPALIVE_S)
    if isinstance(keepalive, bool) or not isinstance(keepalive, int | float):
        raise BrokerError(f"must be a number of seconds, not {keepalive!r}", "keepalive_s")
    if not math.isfinite(keepalive) or not 1 <= keepalive <= KEEPALIVE_MAX_S:
        raise BrokerError(
            f"must be 1 to {KEEPALIVE_MAX_S:g} seconds (the floor must see a dead station quickly), "
            f"not {keepalive!r}",
            "keepalive_s",
        )
    files: dict[str, Path | None] = {}
    for key in ("password_file", "ca_file"):
        value = table.get(key)
        if value is None:
            files[key] = None
            continue
        if not isinstance(value, str) or not value.strip():
            raise BrokerError("must be a file name (relative to the configuration) or an absolute path", key)
        path = Path(value.strip()).expanduser()
        if not path.is_absolute() and base is not None:
            path = base.absolute() / path
        if not path.is_file():
            raise BrokerError(f"no such file: {path}", key)
        files[key] = path
    if files["ca_file"] is not None and not tls:
        raise BrokerError("a CA file is for a TLS broker: use mqtts://", "ca_file")
    if files["ca_file"] is not None:
        _refuse_non_certificate(files["ca_file"])
    settings = BrokerSettings(
        url=url.strip(),
        host=host,
        port=port,
        tls=tls,
        username=username.strip() if isinstance(username, str) else None,
        password_file=files["password_file"],
        ca_file=files["ca_file"],
        keepalive_s=float(keepalive),
        allow_plaintext=allow,
    )
    refuse_plaintext(settings)
    return settings


def refuse_plaintext(settings: BrokerSettings) -> None:
    """Patient identifiers travel over TLS: plain mqtt:// only to this computer unless allowed."""
    if not settings.tls and not settings.loopback and not settings.allow_plaintext:
        raise BrokerError(
            f"{settings.url} is not encrypted and not on this computer: patient initials would cross "
            "the network in clear. Use mqtts:// (with ca_file), or set allow_plaintext = true",
            "url",
        )


def broker_from_url(url: str, overrides: Mapping[str, Any] | None = None) -> BrokerSettings:
    """`--broker URL` (the configuration's other [broker] settings, if any, still apply)."""
    return parse_broker({**(overrides or {}), "url": url})


_SLUG = re.compile(r"[^a-z0-9]+")

RESERVED_USERS = ("overview", "witness")
"""Broker users that are not stations (packaging/mosquitto/acl): no station may take their topic level."""


def station_id(name: str) -> str:
    """The station's topic level (and its broker username): "Pod A" -> "pod-a". Only a-z, 0-9 and
    "-" survive, so no MQTT wildcard, separator or NUL can reach a topic."""
    slug = _SLUG.sub("-", name.strip().lower()).strip("-")
    if not slug:
        raise ValueError(f"station name {name!r} has no letters or digits to name its topics")
    return slug


def refuse_reserved(name: str) -> None:
    """A station whose topic level is another broker user's (the overview, the witness) is refused."""
    level = station_id(name)
    if level in RESERVED_USERS:
        raise BrokerError(
            f"the station name {name!r} would publish as broker user {level!r}, which is the "
            f"{level}'s: name the station otherwise",
            None,
        )


def station_root(station: str) -> str:
    return f"{TOPIC_PREFIX}/{station}"


def status_topic(station: str) -> str:
    return f"{station_root(station)}/status"


def chair_topic(station: str, chair: str) -> str:
    return f"{station_root(station)}/chairs/{chair_id(chair)}"


def readings_topic(station: str, chair: str) -> str:
    return f"{chair_topic(station, chair)}/readings"


def events_topic(station: str) -> str:
    return f"{station_root(station)}/events"


def commands_topic(station: str) -> str:
    return f"{station_root(station)}/commands"


def answers_topic(station: str) -> str:
    return f"{station_root(station)}/answers"


def overview_status_topic(name: str) -> str:
    """An overview's own status: under `_overviews`, which no station's topic level can be ("_")."""
    return f"{TOPIC_PREFIX}/_overviews/{station_id(name)}/status"


_ESCAPED = {"%": "%25", "/": "%2F", "+": "%2B", "#": "%23", "\x00": "%00"}


def chair_id(name: str) -> str:
    """A chair's topic level: its name with MQTT's special characters (and "%") percent-escaped, so
    two names never share a topic ("Chair/1" -> "Chair%2F1", "Chair_1" stays "Chair_1")."""
    return "".join(_ESCAPED.get(c, c) for c in name)


def make_client(settings: BrokerSettings, client_id: str, *, clean_session: bool = True) -> Any:
    """A paho client (MQTT 3.1.1) with the settings' credentials and TLS; not connected yet."""
    import ssl

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    refuse_plaintext(settings)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,  # the witness keeps its session: anchors wait for it at the broker
        protocol=mqtt.MQTTv311,
    )
    if settings.username:
        client.username_pw_set(settings.username, settings.password())
    if settings.tls:
        context = ssl.create_default_context(
            cafile=str(settings.ca_file) if settings.ca_file is not None else None
        )
        client.tls_set_context(context)
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    return client
