"""Signed journal anchors on a timer: the station signs its journal's head (app.export.seals.AnchorLog)
every `[station] anchor_interval_min` minutes of the station's clock and once more at a clean
shutdown, so a rewritten chain fails `chairside verify` even when nobody exported. Each anchor is also
a journal entry, and leaves the station through `witnesses` (the floor's broker: app.station.anchor_topic),
so a witness outside the station holds it. Qt-free."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.export.seals import AnchorLog, SealError, anchor_log_path, load_or_create_key
from app.store.journal import Journal, JournalError

log = logging.getLogger(__name__)


def station_key() -> Ed25519PrivateKey | None:
    """The station key, created at first start in the private configuration folder. A failure is
    logged and the station starts anyway (exports and anchors then say the key is missing)."""
    try:
        return load_or_create_key()
    except (OSError, SealError) as exc:
        log.error("the station key cannot be created: %s", exc)
        return None


class AnchorTimer:
    """`tick(now)` from the station's tick; `close(now)` at shutdown. An interval of 0: no timer, only
    the anchor at shutdown."""

    def __init__(self, journal: Journal, key: Ed25519PrivateKey, interval_min: float, now: datetime) -> None:
        self.journal = journal
        self.key = key
        self.log = AnchorLog(anchor_log_path(journal.path))
        self.interval = timedelta(minutes=interval_min)
        self.last = now
        self.written = 0
        self.station = ""  # the station's topic level, when it publishes (named in each anchor)
        self.witnesses: list[Callable[[dict[str, Any]], None]] = []
        """Called with every signed anchor (the publisher's retained anchor topic)."""
        self.withheld: Callable[[], str] = lambda: ""
        """Why no anchor may be signed now ('' when one may): the journal lost entries its witness holds
        (app.station.anchor_check), and an anchor would vouch for the damaged chain."""

    def tick(self, now: datetime) -> None:
        if self.interval > timedelta(0) and now - self.last >= self.interval:
            self._append(now)

    def close(self, now: datetime) -> None:
        self._append(now)

    def _append(self, now: datetime) -> None:
        self.last = now
        if self.withheld():
            return
        try:
            record = self.log.append(self.journal, self.key, now, self.station)
            self.written += 1
        except (OSError, SealError, JournalError) as exc:  # nothing lost; the next anchor tries again
            log.error("journal anchor not written to %s: %s", self.log.path, exc)
            return
        for witness in self.witnesses:
            witness(record)
