"""`chairside witness --broker URL --db PATH`: a small headless process (the charge nurse's PC, a
server) that subscribes to every station's retained anchor topic and keeps each signed anchor in its
own append-only database (app.witness.store). Its MQTT session is persistent (QoS 1), so anchors
published while it was down reach it when it is back, as long as the broker kept its session.

`retained_anchors(URL)` is the other use of the broker: `verify --witness URL` reads the newest anchor
each station left retained there."""

from __future__ import annotations

import argparse
import logging
import queue
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from app.station.anchor_topic import ANCHORS_OF_EVERY_STATION, anchor_topic, station_of_anchor_topic
from app.station.broker import BrokerError, BrokerSettings, make_client, parse_broker
from app.witness.store import Witnessed, WitnessError, WitnessStore, parse_anchor

log = logging.getLogger(__name__)

RETAINED_QUIET_S = 1.0
"""`verify --witness URL`: after the subscription is acknowledged, the retained anchors come at once;
this long without another one and the broker has given them all."""
CONNECT_TIMEOUT_S = 10.0


def broker_settings(args: argparse.Namespace) -> BrokerSettings:
    table: dict[str, Any] = {"url": args.broker}
    for key in ("username", "password_file", "ca_file"):
        value = getattr(args, key, None)
        if value:
            table[key] = str(value)
    if getattr(args, "allow_plaintext", False):
        table["allow_plaintext"] = True
    return parse_broker(table, base=Path.cwd())


def add_broker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--username", help="the broker user (the shipped ACL: witness)")
    parser.add_argument("--password-file", type=Path, help="a file whose first line is the password")
    parser.add_argument("--ca-file", type=Path, help="the CA that signed the broker's certificate")
    parser.add_argument("--allow-plaintext", action="store_true", help="mqtt:// beyond this computer")


class _Subscriber:
    """A paho client subscribed to anchor topics; messages land on a queue for the caller's thread."""

    def __init__(self, settings: BrokerSettings, client_id: str, topic: str, clean_session: bool) -> None:
        self.settings = settings
        self.topic = topic
        self.messages: queue.SimpleQueue[tuple[str, bytes, bool]] = queue.SimpleQueue()
        self.subscribed = threading.Event()
        self.refused = ""
        self.client = make_client(settings, client_id, clean_session=clean_session)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.refused = f"the broker {self.settings.url} refused the connection: {reason}"
            self.subscribed.set()
            return
        client.subscribe(self.topic, qos=1)

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.put((message.topic, bytes(message.payload), bool(message.retain)))

    def start(self) -> None:
        try:
            self.client.connect(self.settings.host, self.settings.port, keepalive=30)
        except OSError as exc:
            raise WitnessError(f"cannot reach the broker {self.settings.url}: {exc}") from None
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_anchors(settings: BrokerSettings, station: str | None = None) -> dict[str, list[Witnessed]]:
    """The newest anchor every station (or `station`) left retained on the broker."""
    topic = anchor_topic(station) if station else ANCHORS_OF_EVERY_STATION
    subscriber = _Subscriber(
        settings, f"chairside-verify-{socket.gethostname()}-{time.monotonic_ns()}", topic, True
    )
    subscriber.start()
    found: dict[str, list[Witnessed]] = {}
    try:
        if not subscriber.subscribed.wait(CONNECT_TIMEOUT_S):
            raise WitnessError(f"the broker {settings.url} did not answer within {CONNECT_TIMEOUT_S:g} s")
        if subscriber.refused:
            raise WitnessError(subscriber.refused)
        while True:
            try:
                topic_name, payload, _retained = subscriber.messages.get(timeout=RETAINED_QUIET_S)
            except queue.Empty:
                break
            name = station_of_anchor_topic(topic_name)
            if name is None:
                continue
            try:
                record = parse_anchor(payload)
            except WitnessError as exc:
                log.warning("the anchor retained for station %s is not usable: %s", name, exc)
                continue
            found[name] = [Witnessed(name, record, "")]
    finally:
        subscriber.stop()
    return found


def run_witness(settings: BrokerSettings, db_path: Path, stop: threading.Event) -> int:
    """Keep every anchor published on the broker until `stop` is set."""
    store = WitnessStore(db_path)
    subscriber = _Subscriber(
        settings, f"chairside-witness-{socket.gethostname()}", ANCHORS_OF_EVERY_STATION, False
    )
    subscriber.start()
    announced = False
    try:
        while not stop.is_set():
            if not announced and subscriber.subscribed.is_set() and not subscriber.refused:
                announced = True
                print(
                    f"chairside witness: subscribed to {settings.url}; every station's anchors are kept in {db_path}",
                    file=sys.stderr,
                    flush=True,
                )
            try:
                topic, payload, _retained = subscriber.messages.get(timeout=0.2)
            except queue.Empty:
                if subscriber.refused:
                    print(f"chairside witness: {subscriber.refused}", file=sys.stderr)
                    return 2
                continue
            station = station_of_anchor_topic(topic)
            if station is None:
                continue
            try:
                record = parse_anchor(payload)
            except WitnessError as exc:
                log.warning("station %s: an anchor was refused: %s", station, exc)
                continue
            if store.add(station, record):
                log.info("station %s: anchor of entry %s kept", station, record["position"])
    finally:
        subscriber.stop()
        store.close()
    return 0


def cmd_witness(args: argparse.Namespace) -> int:
    try:
        settings = broker_settings(args)
    except BrokerError as exc:
        print(f"chairside witness: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_a: stop.set())
    try:
        return run_witness(settings, Path(args.db), stop)
    except WitnessError as exc:
        print(f"chairside witness: {exc}", file=sys.stderr)
        return 2


def register(sub: Any) -> None:
    parser = sub.add_parser("witness", help="keep every station's signed journal anchors (from the broker)")
    parser.add_argument("--broker", required=True, help="the floor's broker, mqtts://host[:port]")
    parser.add_argument("--db", required=True, help="the witness's own database (created if missing)")
    add_broker_arguments(parser)
    parser.set_defaults(func=cmd_witness)


def witness_anchors(
    source: str, station: str | None = None, *, ca_file: Path | None = None, password_file: Path | None = None
) -> dict[str, list[dict[str, Any]]]:
    """For `verify --witness`: a witness database (PATH) or the floor's broker (mqtt(s)://URL), read
    without changing anything. {station: its signed anchors in the order the witness got them}."""
    if source.startswith(("mqtt://", "mqtts://")):
        table: dict[str, Any] = {"url": source}
        if ca_file is not None:
            table["ca_file"] = str(ca_file)
        if password_file is not None:
            table["password_file"] = str(password_file)
        try:
            settings = parse_broker(table, base=Path.cwd())
        except BrokerError as exc:
            raise WitnessError(str(exc)) from None
        held = retained_anchors(settings, station)
    else:
        with WitnessStore(Path(source), read_only=True) as store:
            held = {name: store.anchors(name) for name in store.stations()}
    return {name: [w.record for w in anchors] for name, anchors in held.items()}
