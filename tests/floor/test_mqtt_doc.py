"""docs/mqtt.md's `events` data shapes are generated from the typed events: the committed document is
what the generator makes from today's types (run `python docs/mqtt_events.py` after changing them)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from app.domain.events import EventType
from app.station.floor_messages import SCHEMA

ROOT = Path(__file__).resolve().parents[2]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mqtt_events", ROOT / "docs" / "mqtt_events.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_events_data_shapes_in_the_doc_are_generated_from_the_types() -> None:
    docs = generator()
    text = docs.DOC.read_text(encoding="utf-8")
    assert docs.updated(text) == text, "docs/mqtt.md is out of date: run python docs/mqtt_events.py"
    for kind in EventType:
        assert f"#### `{kind.value}`" in text, kind
    assert "`patient_mrn`" not in text.split(docs.BEGIN)[1].split("| field |")[1]  # removed, never listed


def test_every_topic_and_the_schema_version_are_documented() -> None:
    text = (ROOT / "docs" / "mqtt.md").read_text(encoding="utf-8")
    assert f"# The floor over MQTT: topic schema (version {SCHEMA})" in text
    for topic in (
        "status",
        "chairs/&lt;chair&gt;",
        "chairs/&lt;chair&gt;/readings",
        "events",
        "commands",
        "answers",
    ):
        assert f"## {topic}" in text, topic
    # Every field of every example is in its topic's table
    examples = 0
    for section in text.split("\n## ")[1:]:
        if "```json" not in section:
            continue
        examples += 1
        example = json.loads(section.split("```json")[1].split("```")[0])
        table = section.split("```json")[1].split("```")[1]
        for key, value in example.items():
            assert f"`{key}" in table, (section.splitlines()[0], key)
            if isinstance(value, dict) and key not in ("by", "protocol", "data"):
                for inner in value:
                    assert f"`{key}.{inner}`" in table or f"`{inner}`" in table, f"{key}.{inner}"
    assert examples == 7
