"""Write a mapping as TOML text (tomllib only reads), so that tests can mutate a protocol or scenario
file and write it back: scalars (with nan and inf), lists, tables and arrays of tables."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_scalar(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def dumps(data: Mapping[str, Any], prefix: str = "") -> str:
    lines: list[str] = []
    nested: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, Mapping) or _is_table_array(value):
            nested.append((key, value))
        else:
            lines.append(f"{json.dumps(str(key))} = {_scalar(value)}")
    for key, value in nested:
        name = f"{prefix}{json.dumps(str(key))}"
        if isinstance(value, Mapping):
            lines.append(f"\n[{name}]")
            lines.append(dumps(value, f"{name}."))
        else:
            for entry in value:
                lines.append(f"\n[[{name}]]")
                lines.append(dumps(entry, f"{name}."))
    return "\n".join(line for line in lines if line)
