"""The station's signed journal anchors on the floor's broker: `chairside/v1/<station>/anchor`,
retained (QoS 1), so every overview and `chairside witness` holds the newest one, and a witness that
was connected holds them all. The anchor is published as the station signed it (app.export.seals)."""

from __future__ import annotations

import json
from typing import Any

import paho.mqtt.client as mqtt

from app.station.broker import TOPIC_PREFIX, station_root

ANCHOR_TOPIC_LEVEL = "anchor"
ANCHORS_OF_EVERY_STATION = f"{TOPIC_PREFIX}/+/{ANCHOR_TOPIC_LEVEL}"


def anchor_topic(station: str) -> str:
    return f"{station_root(station)}/{ANCHOR_TOPIC_LEVEL}"


def station_of_anchor_topic(topic: str) -> str | None:
    """The station level of an anchor topic, or None for any other topic."""
    parts = topic.split("/")
    if len(parts) == 4 and "/".join(parts[:2]) == TOPIC_PREFIX and parts[3] == ANCHOR_TOPIC_LEVEL:
        return parts[2] or None
    return None


def publish_anchor(client: mqtt.Client, station: str, record: dict[str, Any]) -> mqtt.MQTTMessageInfo:
    payload = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return client.publish(anchor_topic(station), payload.encode("utf-8"), qos=1, retain=True)
