"""At start, once connected, a station compares its journal with its own signed anchor retained on the
floor's broker (app.station.anchor_check): a real Mosquitto, a real `chairside headless` station started
from its configuration, the journal truncated between two runs with its local anchors file trimmed to
match (so the check at open, against the local anchors, passes)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import tomli_w

from app.export.seals import anchor_log_path
from tests.floor.conftest import seed_infusions
from tests.floor.support import Broker, Listener, StationProcess, mosquitto_missing
from tests.tampering import cut_journal_to

if mosquitto_missing():
    pytest.fail(mosquitto_missing() or "", pytrace=False)

CHAIRS = [f"Chair {n}" for n in range(1, 4)]
ANCHOR_TOPIC = "chairside/v1/pod-a/anchor"
STATUS_TOPIC = "chairside/v1/pod-a/status"


def _station(folder: Path, broker: Broker) -> tuple[Path, Path]:
    folder.mkdir(parents=True)
    config = folder / "station.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "station": {"name": "Pod A", "anchor_interval_min": 0.02},  # an anchor a second or so
                "chairs": [{"name": name} for name in CHAIRS],
                "broker": {"url": broker.url},
            }
        ),
        encoding="utf-8",
    )
    db = folder / "station.sqlite"
    seed_infusions(db, CHAIRS, CHAIRS)  # sessions under way: their chairs raise the alarm
    return config, db


def _retained_anchor(broker: Broker) -> dict[str, object]:
    listener = Listener(broker, ANCHOR_TOPIC)
    try:
        listener.wait_for(lambda: bool(listener.on(ANCHOR_TOPIC)), 30, "the retained anchor")
        return listener.on(ANCHOR_TOPIC)[0]
    finally:
        listener.close()


def _truncate_to_an_earlier_anchor(db: Path, witnessed: int) -> int:
    """Entries after an earlier local anchor deleted, the head reset, the anchors file trimmed to match:
    what lost WAL frames or a careful truncation leave. Returns the position kept."""
    anchors_file = anchor_log_path(db)
    records = [json.loads(line) for line in anchors_file.read_text(encoding="utf-8").splitlines() if line]
    earlier = [r for r in records if int(r["position"]) < witnessed - 3]
    assert earlier, records
    keep = int(earlier[-1]["position"])
    cut_journal_to(db, keep)
    anchors_file.write_text("".join(json.dumps(r) + "\n" for r in earlier), encoding="utf-8")
    return keep


def _entries(db: Path, kind: str) -> list[dict[str, object]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT payload FROM events WHERE type = ? ORDER BY position", (kind,)).fetchall()
    finally:
        conn.close()
    return [json.loads(row[0]) for row in rows]


def _warnings(listener: Listener) -> list[str]:
    statuses = listener.on(STATUS_TOPIC)
    return [str(w) for w in statuses[-1].get("warnings", [])] if statuses else []


def _loss_alarms(listener: Listener, chair: str) -> list[dict[str, object]]:
    snapshots = listener.on(f"chairside/v1/pod-a/chairs/{chair}")
    alarms = snapshots[-1].get("alarms", []) if snapshots else []
    return [a for a in alarms if a.get("rule") == "journal_lost_entries"]


def test_a_journal_truncated_with_its_anchors_trimmed_is_found_against_the_brokers_anchor(
    tmp_path: Path,
) -> None:
    broker = Broker(tmp_path / "broker").start()
    try:
        config, db = _station(tmp_path / "station", broker)
        anchors = Listener(broker, ANCHOR_TOPIC)
        first = StationProcess(config, db).start()
        try:
            anchors.wait_for(lambda: len(anchors.on(ANCHOR_TOPIC)) >= 6, 90, "six anchors on the broker")
        finally:
            code, err = first.stop()
            anchors.close()
        assert code == 0, err
        witnessed = _retained_anchor(broker)
        position = int(str(witnessed["position"]))
        keep = _truncate_to_an_earlier_anchor(db, position)

        floor = Listener(broker, "chairside/v1/pod-a/#")
        second = StationProcess(config, db).start()
        try:
            floor.wait_for(
                lambda: any("JOURNAL LOST ENTRIES" in w for w in _warnings(floor)),
                60,
                "the station's status to name the loss",
            )
            warning = next(w for w in _warnings(floor) if "JOURNAL LOST ENTRIES" in w)
            assert f"anchor of entry {position}" in warning, warning
            assert f"the journal ended at entry {keep}" in warning, warning
            assert f"the last good position is entry {keep}" in warning, warning
            for chair in CHAIRS:  # a high technical alarm at every chair with a session in progress
                floor.wait_for(lambda c=chair: bool(_loss_alarms(floor, c)), 30, f"the alarm at {chair}")
                (alarm,) = _loss_alarms(floor, chair)
                assert alarm["priority"] == "high", alarm
            assert second.process is not None and second.process.poll() is None  # still monitoring
            # The broker had acknowledged entries past the cut: the station still publishes what it records
            # now (the loss itself first), and says its feed restarted.
            floor.wait_for(
                lambda: any(
                    e["seq"] == keep + 1 and e["type"] == "journal_loss_found"
                    for e in floor.on("chairside/v1/pod-a/events")
                ),
                30,
                "the journal_loss_found entry on the floor",
            )
            assert any("FLOOR FEED RESTARTED" in w for w in _warnings(floor)), _warnings(floor)
        finally:
            code, err = second.stop()
            floor.close()
        assert code == 0, err

        (found,) = _entries(db, "journal_loss_found")  # journaled once, not silently run on
        assert (found["anchored_position"], found["journal_head"], found["last_good"]) == (
            position,
            keep,
            keep,
        )
        raised = [a for a in _entries(db, "alarm_raised") if a.get("rule") == "journal_lost_entries"]
        assert len(raised) == len(CHAIRS), raised
        # No anchor vouched for the damaged chain: the broker still holds the evidence, and the local
        # anchors file still ends where it was trimmed.
        assert _retained_anchor(broker)["position"] == position
        local = anchor_log_path(db).read_text(encoding="utf-8").splitlines()
        assert int(json.loads(local[-1])["position"]) == keep
    finally:
        broker.stop()


def test_an_untouched_journal_agrees_with_the_brokers_anchor_and_anchors_on(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "broker").start()
    try:
        config, db = _station(tmp_path / "station", broker)
        first = StationProcess(config, db).start()
        anchors = Listener(broker, ANCHOR_TOPIC)
        try:
            anchors.wait_for(lambda: len(anchors.on(ANCHOR_TOPIC)) >= 3, 90, "three anchors on the broker")
        finally:
            code, err = first.stop()
            anchors.close()
        assert code == 0, err
        before = int(str(_retained_anchor(broker)["position"]))

        floor = Listener(broker, "chairside/v1/pod-a/#")
        second = StationProcess(config, db).start()
        try:  # the retained anchor compared and held: the station's own anchors go out again
            floor.wait_for(
                lambda: any(int(a["position"]) > before for a in floor.on(ANCHOR_TOPIC)),
                60,
                "a newer anchor on the broker",
            )
            assert not any("JOURNAL LOST ENTRIES" in w for w in _warnings(floor))
        finally:
            code, err = second.stop()
            floor.close()
        assert code == 0, err
        assert _entries(db, "journal_loss_found") == []
    finally:
        broker.stop()
