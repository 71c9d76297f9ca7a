"""The HL7 batch envelope of a file export (`chairside export --format hl7 --batch`): the messages between
a file header (FHS) and batch header (BHS) and their trailers (BTS with the message count, FTS with the
batch count), HL7 v2.6 chapter 2.10.3, for interface engines that take a file only as a batch.

    FHS|^~\\&|STATION_NAME^STATION_EUI64^EUI-64|FACILITY|||CREATED||||STATION_EUI64.CREATED.F
    BHS|^~\\&|STATION_NAME^STATION_EUI64^EUI-64|FACILITY|||CREATED||||STATION_EUI64.CREATED.B
    MSH|... (each message, as without --batch)
    BTS|<messages in the batch>
    FTS|1

The envelope is built from the export's own moment and identities (recorded in the manifest), so
`verify` rebuilds it and checks it as it checks every message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app.export.hl7 import Hl7Message, split_messages
from app.export.hl7_encoding import hl7_time, segment, text
from app.export.hl7_settings import Hl7Settings
from app.export.shifts import LocalTime

HEADERS = ("FHS", "BHS")
TRAILERS = ("BTS", "FTS")


@dataclass(frozen=True)
class Envelope:
    header: tuple[str, ...]
    trailer: tuple[str, ...]


def envelope(settings: Hl7Settings, local: LocalTime, created: datetime, count: int) -> Envelope:
    sender = f"{text(settings.station_name)}^{settings.station_id}^EUI-64"
    stamp = hl7_time(local, created)
    control = f"{settings.station_id}.{local.to_local(created):%Y%m%d%H%M%S}"

    def head(name: str, kind: str) -> str:
        return segment(
            name, "^~\\&", sender, text(settings.facility), "", "", stamp, "", "", "", control + kind
        )

    return Envelope((head("FHS", ".F"), head("BHS", ".B")), (segment("BTS", str(count)), segment("FTS", "1")))


def write_batch(
    messages: Iterable[Hl7Message], output: Path, settings: Hl7Settings, local: LocalTime, created: datetime
) -> int:
    """The messages in their envelope; every segment ended by CR, as in a plain export."""
    listed = list(messages)
    wrap = envelope(settings, local, created, len(listed))
    with output.open("w", encoding="utf-8", newline="") as handle:
        handle.write("".join(s + "\r" for s in wrap.header))
        for message in listed:
            handle.write(message.er7)
        handle.write("".join(s + "\r" for s in wrap.trailer))
    return len(listed)


@dataclass(frozen=True)
class HL7File:
    messages: list[str]
    envelope: Envelope | None  # None: a plain file (no FHS/BHS)


def read_file(path: Path) -> HL7File:
    """The messages of an .hl7 file and its batch envelope, when it has one."""
    content = path.read_text(encoding="utf-8").replace("\r\n", "\r").replace("\n", "\r")
    segments = [s for s in content.split("\r") if s]
    header = tuple(s for s in segments if s[:3] in HEADERS)
    trailer = tuple(s for s in segments if s[:3] in TRAILERS)
    body = "\r".join(s for s in segments if s[:3] not in HEADERS + TRAILERS)
    messages = split_messages(body + "\r") if body else []
    return HL7File(messages, Envelope(header, trailer) if header or trailer else None)


def envelope_problems(found: Envelope | None, expected: Envelope | None) -> list[str]:
    """What differs in the envelope: missing, added or edited (a count that no longer matches)."""
    if found == expected:
        return []
    if expected is None:
        return ["the file has a batch envelope (FHS/BHS) its export did not write"]
    if found is None:
        return ["the file's batch envelope (FHS/BHS/BTS/FTS) is missing"]
    problems = []
    for name, got, want in (
        ("header", found.header, expected.header),
        ("trailer", found.trailer, expected.trailer),
    ):
        if got != want:
            problems.append(f"the batch {name} reads {' '.join(got)!r}, the export wrote {' '.join(want)!r}")
    return problems
