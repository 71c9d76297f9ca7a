"""Signed commands from the floor: the overview's key, and the station's check of every command.

Each overview has an Ed25519 key (created at its first start, 0600, like the station key). A command
names the person signed in at the overview, the overview, its id and the time it was sent, and is
signed over all of that (canonical JSON of everything but the signature). A station accepts a command
only when:

- the overview is enrolled in its configuration (`[floor] overviews = [{name, public_key}]`) and the
  signature checks against that overview's key;
- it was sent less than `MAX_AGE_S` ago (and not from the future by more than that);
- its id was never seen before (a replay is refused; ids are kept for as long as a command is fresh).

Qt-free and database-free (the overview and the station core both use it).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.station.floor_messages import CommandMessage

MAX_AGE_S = 60.0
PUBLIC_PREFIX = "ed25519:"
OVERVIEW_KEY_FILE = "overview-ed25519.pem"


class CommandNotAccepted(ValueError):
    """Why a station refuses a command, in one line (answered and journaled as refused)."""


def canonical(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def public_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public(text: str) -> Ed25519PublicKey:
    body = text.strip().removeprefix(PUBLIC_PREFIX)
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(body, validate=True))
    except ValueError:
        raise ValueError(f"{text[:60]!r} is not an Ed25519 public key (ed25519:BASE64)") from None


def load_or_create_overview_key(path: Path) -> Ed25519PrivateKey:
    """The overview's key at `path`; created (0600, its folder 0700) at the first start."""
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as error:
            raise ValueError(f"the overview key {path} cannot be read: {error}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"the overview key {path} is not an Ed25519 key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        path.parent.chmod(0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = path.with_name(path.name + ".part")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return key


def signed(key: Ed25519PrivateKey, body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` with its signature (over everything else)."""
    return {**body, "signature": base64.b64encode(key.sign(canonical(body))).decode("ascii")}


@dataclass(frozen=True)
class EnrolledOverview:
    name: str
    public_key: Ed25519PublicKey


def parse_overviews(entries: Any) -> list[EnrolledOverview]:
    """`[floor] overviews = [{name, public_key}]`; ValueError in one line naming the entry."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ValueError("overviews: expected a list of {name, public_key}")
    enrolled: list[EnrolledOverview] = []
    for n, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping) or set(entry) != {"name", "public_key"}:
            raise ValueError(f"overviews[{n}]: expected exactly name and public_key")
        name, public = entry["name"], entry["public_key"]
        if not isinstance(name, str) or not name.strip() or len(name) > 80:
            raise ValueError(f"overviews[{n}].name: a non-empty name of at most 80 characters")
        if not isinstance(public, str):
            raise ValueError(f"overviews[{n}].public_key: expected ed25519:BASE64 text")
        try:
            key = parse_public(public)
        except ValueError as error:
            raise ValueError(f"overviews[{n}].public_key: {error}") from None
        if any(e.name == name.strip() for e in enrolled):
            raise ValueError(f"overviews[{n}].name: {name!r} is enrolled twice")
        enrolled.append(EnrolledOverview(name.strip(), key))
    return enrolled


class CommandGate:
    """The station's check of every command: enrolled key, fresh, never seen."""

    def __init__(self, overviews: Sequence[EnrolledOverview], station_id: str) -> None:
        self.overviews = {o.name: o for o in overviews}
        self.station_id = station_id
        self._seen: dict[str, datetime] = {}

    def check(self, command: CommandMessage, now: datetime) -> None:
        """Nothing when the command may run; CommandNotAccepted (one line) otherwise."""
        enrolled = self.overviews.get(command.overview)
        if enrolled is None:
            raise CommandNotAccepted(f"overview {command.overview!r} is not enrolled at this station")
        if command.signature is None:
            raise CommandNotAccepted(f"unsigned command claiming to come from overview {command.overview!r}")
        try:
            enrolled.public_key.verify(
                base64.b64decode(command.signature, validate=True), canonical(command.body)
            )
        except (InvalidSignature, ValueError):
            raise CommandNotAccepted(
                f"the signature does not match overview {command.overview!r}'s enrolled key"
            ) from None
        if command.station != self.station_id:
            raise CommandNotAccepted(f"the command is for station {command.station!r}, not this one")
        age = (now - command.sent_at).total_seconds()
        if age > MAX_AGE_S or age < -MAX_AGE_S:
            raise CommandNotAccepted(f"the command was sent {age:.0f} s ago (at most {MAX_AGE_S:.0f} s)")
        self._forget(now)
        if command.id in self._seen:
            raise CommandNotAccepted(f"command {command.id} was already received (a replay)")
        self._seen[command.id] = command.sent_at

    def remember(self, command_id: str, sent_at: datetime) -> None:
        """A command already received (before a restart: its id is in the journal)."""
        self._seen[command_id] = sent_at

    def _forget(self, now: datetime) -> None:
        horizon = now - timedelta(seconds=2 * MAX_AGE_S)
        for command_id in [c for c, sent in self._seen.items() if sent < horizon]:
            del self._seen[command_id]


def parse_floor(table: Mapping[str, Any]) -> list[EnrolledOverview]:
    """The [floor] table of a station configuration: only `overviews`."""
    unknown = sorted(set(table) - {"overviews"})
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r}; known: overviews")
    return parse_overviews(table.get("overviews"))
