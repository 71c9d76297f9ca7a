"""The one codec between an entry's JSON (the journal's `payload`, covered by the hash chain) and its
typed payload. Written back, a decoded entry gives the same JSON, key for key and number for number:
keys it does not know are kept (`Record.extra`), keys an older entry lacked stay out (`Record.absent`),
an integer rate stays an integer. A co-signed entry's `by`, `cosigned_by`, `cosigned_for` sit in the
same JSON object on disk and are read into the `SignOff` envelope, not into the payload.

Nothing outside this module reads an entry's JSON by key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

from app.domain.events.kinds import EventType
from app.domain.events.payloads import OPTIONAL, PAYLOADS, Payload, Record, SignOff
from app.domain.events.times import format_time, parse_time

R = TypeVar("R", bound=Record)

SIGN_OFF_KEYS = frozenset(f.name for f in dataclasses.fields(SignOff) if f.name not in ("extra", "absent"))
_WIRE = frozenset({"extra", "absent"})


class PayloadError(ValueError):
    """An entry's JSON that does not fit its type (one line: which entry field, what was found)."""


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    kind: Any  # the resolved annotation
    has_default: bool
    default: Any
    optional: bool


_FIELDS: dict[type[Record], tuple[_Field, ...]] = {}


def _fields(cls: type[Record]) -> tuple[_Field, ...]:
    known = _FIELDS.get(cls)
    if known is None:
        known = _FIELDS[cls] = _read_fields(cls)
    return known


def _read_fields(cls: type[Record]) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name in _WIRE:
            continue
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        default = (
            f.default
            if f.default is not dataclasses.MISSING
            else f.default_factory()
            if f.default_factory is not dataclasses.MISSING
            else None
        )
        out.append(_Field(f.name, hints[f.name], has_default, default, bool(f.metadata.get(OPTIONAL))))
    return tuple(out)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _decode_value(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None:
            return None
        return _decode_value(options[0], value, where)
    if kind is Any:
        return value
    if kind is float:
        if not _is_number(value):
            raise PayloadError(f"{where}: expected a number, found {value!r}")
        return value  # an integer stays one, so it is written back as it was
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise PayloadError(f"{where}: expected a whole number, found {value!r}")
        return value
    if kind is bool or kind is str:
        if not isinstance(value, kind):
            raise PayloadError(f"{where}: expected {kind.__name__}, found {value!r}")
        return value
    if kind is datetime:
        if not isinstance(value, str):
            raise PayloadError(f"{where}: expected a time, found {value!r}")
        moment = _parse(value, where)
        if format_time(moment) != value:
            raise PayloadError(f"{where}: time {value!r} is not in the journal's form")
        return moment
    if kind is date:
        if not isinstance(value, str):
            raise PayloadError(f"{where}: expected a date, found {value!r}")
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise PayloadError(f"{where}: {exc}") from exc
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(value)
        except ValueError as exc:
            raise PayloadError(f"{where}: {value!r} is not a {kind.__name__}") from exc
    if isinstance(kind, type) and issubclass(kind, Record):
        if not isinstance(value, Mapping):
            raise PayloadError(f"{where}: expected an object, found {value!r}")
        return decode_record(kind, value, where)
    if origin is tuple:
        (item, _) = typing.get_args(kind)
        if not isinstance(value, list | tuple):
            raise PayloadError(f"{where}: expected a list, found {value!r}")
        return tuple(_decode_value(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise PayloadError(f"{where}: expected an object, found {value!r}")
        return dict(value)
    raise TypeError(f"{where}: the codec cannot read a {kind!r}")  # a payload field of a new shape


def _parse(text: str, where: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise PayloadError(f"{where}: {exc}") from exc


def _encode_value(value: Any) -> Any:
    if isinstance(value, Record):
        return encode_record(value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_encode_value(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _encode_value(v) for k, v in value.items()}
    return value


def decode_record(cls: type[R], data: Mapping[str, Any], where: str = "") -> R:
    """`data` as a `cls` (a payload or a piece of one); PayloadError when it does not fit."""
    where = where or cls.__name__
    values: dict[str, Any] = {}
    absent = set()
    for f in _fields(cls):
        if f.name in data:
            values[f.name] = _decode_value(f.kind, data[f.name], f"{where}.{f.name}")
        elif f.has_default:
            if not f.optional:
                absent.add(f.name)
        else:
            raise PayloadError(f"{where}: {f.name!r} is missing")
    known = {f.name for f in _fields(cls)}
    extra = {k: v for k, v in data.items() if k not in known}
    return cls(**values, extra=extra, absent=frozenset(absent))


def encode_record(record: Record) -> dict[str, Any]:
    """The JSON object of `record`: what the journal writes (and hashes)."""
    out: dict[str, Any] = {}
    for f in _fields(type(record)):
        value = getattr(record, f.name)
        if (f.optional or f.name in record.absent) and value == f.default:
            continue
        out[f.name] = _encode_value(value)
    out.update(record.extra)
    return out


def payload_type(event_type: EventType) -> type[Payload]:
    return PAYLOADS[event_type]


def decode_entry(event_type: EventType, data: Mapping[str, Any]) -> tuple[Payload, SignOff | None]:
    """An entry's JSON as its typed payload and its sign-off envelope (None: not co-signed)."""
    signoff = None
    if "cosigned_by" in data:
        signoff = decode_record(SignOff, {k: v for k, v in data.items() if k in SIGN_OFF_KEYS}, "sign-off")
        data = {k: v for k, v in data.items() if k not in SIGN_OFF_KEYS}
    return decode_record(payload_type(event_type), data, str(event_type)), signoff


def encode_entry(payload: Payload, signoff: SignOff | None = None) -> dict[str, Any]:
    """The JSON object written for an entry: its payload's fields, and its sign-off beside them."""
    out = encode_record(payload)
    if signoff is not None:
        out.update(encode_record(signoff))
    return out
