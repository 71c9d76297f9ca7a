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
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

from app.domain.events.kinds import EventType
from app.domain.events.payloads import OPTIONAL, PAYLOADS, Payload, Record, SignOff, Unreadable
from app.domain.events.times import format_time, parse_time

R = TypeVar("R", bound=Record)

SIGN_OFF_KEYS = frozenset(f.name for f in dataclasses.fields(SignOff) if f.name not in ("extra", "absent"))
_WIRE = frozenset({"extra", "absent"})


class PayloadError(ValueError):
    """An entry's JSON that does not fit its type (one line: which entry field, what was found)."""


Reader = Callable[[Any, str], Any]  # (JSON value, where it is for the error) -> typed value


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    kind: Any  # the resolved annotation
    has_default: bool
    default: Any
    optional: bool
    read: Reader


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
        kind = hints[f.name]
        optional = bool(f.metadata.get(OPTIONAL))
        out.append(_Field(f.name, kind, has_default, default, optional, _reader(kind)))
    return tuple(out)


def _reader(kind: Any) -> Reader:
    """How a JSON value of a field of type `kind` is read (built once per field, not per entry)."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(kind) if a is not type(None)]
        read_inner = _reader(inner)
        return lambda value, where: None if value is None else read_inner(value, where)
    if kind is Any:
        return lambda value, where: value
    if kind is float:
        return _read_number  # an integer stays one, so it is written back as it was
    if kind is int:
        return _read_whole
    if kind is bool or kind is str:
        return _read_exactly(kind)
    if kind is datetime:
        return _read_time
    if kind is date:
        return _read_date
    if isinstance(kind, type) and issubclass(kind, Enum):
        return _read_enum(kind)
    if isinstance(kind, type) and issubclass(kind, Record):
        return _read_record(kind)
    if origin is tuple:
        read_item = _reader(typing.get_args(kind)[0])

        def read_tuple(value: Any, where: str) -> tuple[Any, ...]:
            if not isinstance(value, list | tuple):
                raise PayloadError(f"{where}: expected a list, found {value!r}")
            return tuple(read_item(v, f"{where}[{i}]") for i, v in enumerate(value))

        return read_tuple
    if origin in (Mapping, dict):
        return _read_mapping
    raise TypeError(f"the codec cannot read a {kind!r}")  # a payload field of a new shape


def _read_number(value: Any, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{where}: expected a number, found {value!r}")
    return value


def _read_whole(value: Any, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"{where}: expected a whole number, found {value!r}")
    return value


def _read_exactly(kind: type) -> Reader:
    def read(value: Any, where: str) -> Any:
        if not isinstance(value, kind):
            raise PayloadError(f"{where}: expected {kind.__name__}, found {value!r}")
        return value

    return read


def _read_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise PayloadError(f"{where}: expected a time, found {value!r}")
    try:
        moment = parse_time(value)
    except ValueError as exc:
        raise PayloadError(f"{where}: {exc}") from exc
    if format_time(moment) != value:
        raise PayloadError(f"{where}: time {value!r} is not in the journal's form")
    return moment


def _read_date(value: Any, where: str) -> date:
    if not isinstance(value, str):
        raise PayloadError(f"{where}: expected a date, found {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise PayloadError(f"{where}: {exc}") from exc


def _read_enum(kind: type[Enum]) -> Reader:
    def read(value: Any, where: str) -> Enum:
        try:
            return kind(value)
        except ValueError as exc:
            raise PayloadError(f"{where}: {value!r} is not a {kind.__name__}") from exc

    return read


def _read_record(kind: type[Record]) -> Reader:
    def read(value: Any, where: str) -> Record:
        if not isinstance(value, Mapping):
            raise PayloadError(f"{where}: expected an object, found {value!r}")
        return decode_record(kind, value, where)

    return read


def _read_mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where}: expected an object, found {value!r}")
    return dict(value)


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
    fields = _fields(cls)
    for f in fields:
        if f.name in data:
            values[f.name] = f.read(data[f.name], f"{where}.{f.name}")
        elif f.has_default:
            if not f.optional:
                absent.add(f.name)
        else:
            raise PayloadError(f"{where}: {f.name!r} is missing")
    extra = {k: v for k, v in data.items() if k not in values} if len(data) > len(values) else {}
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


def read_entry(event_type: EventType, data: Mapping[str, Any]) -> tuple[Payload, SignOff | None]:
    """`decode_entry` for an entry already in a journal: one that does not fit its type is kept as
    `Unreadable` (nothing recorded is lost, nothing else stops), with the reason."""
    try:
        return decode_entry(event_type, data)
    except PayloadError as exc:
        return Unreadable(raw=dict(data), problem=str(exc)), None


def encode_entry(payload: Payload, signoff: SignOff | None = None) -> dict[str, Any]:
    """The JSON object written for an entry: its payload's fields, and its sign-off beside them."""
    out = dict(payload.raw) if isinstance(payload, Unreadable) else encode_record(payload)
    if signoff is not None:
        clash = sorted(out.keys() & SIGN_OFF_KEYS)
        if clash:  # the sign-off sits beside the payload's keys on disk: they must not collide
            raise PayloadError(
                f"a {type(payload).__name__} entry has its own {clash}: it cannot be co-signed"
            )
        out.update(encode_record(signoff))
    return out
