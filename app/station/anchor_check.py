"""At start, once connected: does the journal still hold what the floor's broker witnessed?

The station's newest signed anchor is retained on `chairside/v1/<station>/anchor` (app.station.anchor_topic).
A journal that lost its last entries (lost WAL frames, a truncation) or was rewritten, with its local
anchors file trimmed or deleted to match, passes the check at open (app.export.seals.lost_entries_problem)
but not this one: the station subscribes to its own anchor topic and compares the retained anchor, signed
with its own key (checked), with the journal.

What "refuse" means for a running station: patients are on a drip, so the station does NOT stop. The pumps
stay monitored, alarms keep working and every new entry is still recorded (losing those too would be
worse). Instead, once, on the station's thread:
- a `journal_loss_found` entry names the witnessed anchor and the last good position, so everything
  recorded after it visibly sits over the loss (nothing is journaled over it silently);
- `station.journal_loss` raises the high technical alarm "the journal lost entries" at every chair with a
  session in progress, and a station line goes to the status bar and the floor's station status;
- no anchor is signed or published for the rest of the run: a new anchor would vouch for the damaged
  chain and replace the retained anchor, the only evidence of the loss, on the broker.

Until the comparison is made, the anchors the timer signs are kept back from the broker (the newest is
published once the retained one was compared), so the station never overwrites the evidence first.
paho's thread only queues (`heard`, `subscribed`); everything else runs in `tick`, on the station's thread.
Qt-free."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.domain.events import Event, JournalLossFound
from app.export.seals import (
    ANCHOR_ACTOR,
    ANCHOR_STREAM,
    AnchorLog,
    SealError,
    anchor_log_path,
    check_signature,
)
from app.station.station import Station
from app.store.journal import Journal, JournalError

log = logging.getLogger(__name__)

RETAINED_WAIT = timedelta(seconds=2)
"""After the broker granted the subscription, its retained anchor comes at once: this long (station
clock) without one and there is none to compare (a station's first run on this broker)."""
WARNING_KEY = "journal_loss"


class BrokerAnchorCheck:
    """Compares the retained anchor with the journal, and holds the station's anchors back until then."""

    def __init__(self, station: Station, trusted: Ed25519PublicKey) -> None:
        self.station = station
        self.journal: Journal = station.floor.journal
        self.trusted = trusted
        self.opened_head = self.journal.head()[0]
        """Where the journal ended when the station started (before this run recorded anything)."""
        self._heard: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._subscribed = threading.Event()
        self._subscribed_at: datetime | None = None
        self.compared = False
        """The retained anchor was compared (or the broker had none)."""
        self.problem = ""
        """The one line naming the loss and the last good position ('' while none was found)."""
        self._held: dict[str, Any] | None = None
        self._publish: Callable[[dict[str, Any]], None] | None = None

    # paho's thread ---------------------------------------------------------------------------------

    def heard(self, payload: bytes) -> None:
        self._heard.put(payload)

    def subscribed(self) -> None:
        self._subscribed.set()

    def resubscribing(self) -> None:
        """A new connection: the broker will send its retained anchor again (compared again)."""
        self._subscribed.clear()

    # the station's thread --------------------------------------------------------------------------

    def witness(self, publish: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        """The anchor timer's witness: `publish` once compared and intact, never after a loss."""
        self._publish = publish

        def gated(record: dict[str, Any]) -> None:
            if self.problem:
                return
            if self.compared:
                publish(record)
            else:
                self._held = record

        return gated

    def tick(self, now: datetime) -> None:
        while True:
            try:
                payload = self._heard.get_nowait()
            except queue.Empty:
                break
            self._compare(payload, now)
        if self.compared or self.problem:
            return
        if self._subscribed.is_set():
            if self._subscribed_at is None:
                self._subscribed_at = now
            elif now - self._subscribed_at >= RETAINED_WAIT:
                self._settled()

    def _settled(self) -> None:
        self.compared = True
        held, self._held = self._held, None
        if held is not None and self._publish is not None:
            self._publish(held)

    def _compare(self, payload: bytes, now: datetime) -> None:
        try:
            record = json.loads(payload)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            check_signature(record, self.trusted, "the anchor retained on the broker")
            position, anchored_hash = int(record["position"]), str(record["head_hash"])
        except (ValueError, KeyError, TypeError, SealError) as exc:
            # Not this station's signed anchor: it says nothing about the journal (and must not be able
            # to raise an alarm); the station's own next anchor replaces it once compared.
            log.warning("the anchor retained on the broker is not this station's signed anchor: %s", exc)
            self._settled_if_first()
            return
        row = self.journal.conn.execute("SELECT hash FROM events WHERE position = ?", (position,)).fetchone()
        if row is not None and row[0] == anchored_hash:
            self._settled_if_first()
            return
        if self.problem:
            return
        self._lost(record, position, anchored_hash, now)

    def _settled_if_first(self) -> None:
        if not self.compared and not self.problem:
            self._settled()

    def _lost(self, record: dict[str, Any], position: int, anchored_hash: str, now: datetime) -> None:
        good = self._last_good(position)
        at = str(record.get("at", "?"))
        if position > self.opened_head:
            what = f"the journal ended at entry {self.opened_head} when the station started"
        else:
            what = f"the journal's entry {position} is no longer the one signed"
        self.problem = (
            f"the floor's broker holds this station's signed anchor of entry {position} ({at}) but {what}: "
            f"entries were lost; the last good position is entry {good}. Pumps and alarms keep running and "
            "new entries are recorded after this line; no anchor is signed until the journal is restored "
            "from a backup (chairside verify --witness says more)"
        )
        log.error("journal %s: %s", self.journal.path, self.problem)
        self._held = None
        self.station.journal_loss = self.problem
        self.station.service_warnings[WARNING_KEY] = f"JOURNAL LOST ENTRIES: {self.problem}"
        entry = JournalLossFound(
            anchored_position=position,
            anchored_hash=anchored_hash,
            anchored_at=at,
            journal_head=self.opened_head,
            last_good=good,
            problem=self.problem,
        )
        try:
            self.journal.append(
                ANCHOR_STREAM, [Event.of(entry, now, ANCHOR_ACTOR)], self.journal.last_seq(ANCHOR_STREAM)
            )
        except JournalError as exc:  # the alarm and the status line say it anyway
            log.error("the journal loss could not be recorded: %s", exc)

    def _last_good(self, witnessed: int) -> int:
        """The newest position below the witnessed one that a local signed anchor still confirms."""
        try:
            records = AnchorLog(anchor_log_path(self.journal.path)).records()
        except SealError:
            records = []
        for record in reversed(records):
            position = int(record.get("position", 0))
            if position >= witnessed or position > self.opened_head:
                continue
            try:
                check_signature(record, self.trusted, "a local anchor")
            except SealError:
                continue
            row = self.journal.conn.execute(
                "SELECT hash FROM events WHERE position = ?", (position,)
            ).fetchone()
            if row is not None and row[0] == record.get("head_hash"):
                return position
        return 0
