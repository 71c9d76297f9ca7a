"""The tamper suite (issue 19): a real station (`chairside headless`) publishes its signed anchors to a
real Mosquitto (TLS, users, the shipped ACL); a real `chairside witness` process keeps them in its own
database. Copies of the station's journal are then rewritten, truncated, re-signed and damaged in the
WAL; `verify --witness` finds each, and `verify` without a witness never says intact (exit 0)."""

from __future__ import annotations

import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.cli import main
from app.export.seals import ANCHOR_KIND, anchor_log_path, public_text, record_digest, sign
from app.store.journal import GENESIS_HASH, row_hash
from app.witness.store import WitnessStore
from tests.floor.conftest import seed_infusions
from tests.floor.support import ROOT, Broker, StationProcess, mosquitto_missing

USERS = {"pod-a": "pod-a-secret", "witness": "witness-secret", "overview": "overview-secret"}
WAL_SEEDS = range(50)

if mosquitto_missing():
    pytest.fail(mosquitto_missing() or "", pytrace=False)


@dataclass(frozen=True)
class Witnessed:
    folder: Path  # the station's journal (with its -wal, the station was killed) and anchors file
    db: Path
    witness_db: Path
    witness_url: str
    ca: Path
    password_file: Path
    station_key: str

    def copy(self, into: Path) -> Path:
        """A copy of the journal as an auditor would get it: the file, its -wal and its anchors file."""
        into.mkdir(parents=True)
        for name in (self.db.name, f"{self.db.name}-wal", anchor_log_path(self.db).name):
            if (self.folder / name).exists():
                shutil.copyfile(self.folder / name, into / name)
        return into / self.db.name


def _wait(what: object, timeout_s: float, say: str) -> None:
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while not what():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {say}"
        pause.wait(0.1)


def _witnessed_count(path: Path) -> int:
    if not path.exists():
        return 0
    with WitnessStore(path, read_only=True) as store:
        return len(store.anchors("pod-a"))


@pytest.fixture(scope="module")
def witnessed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witnessed]:
    tmp = tmp_path_factory.mktemp("witnessed")
    broker = Broker(tmp / "broker", tls=True, users=dict(USERS)).start()
    assert broker.ca is not None
    secrets = {user: tmp / f"{user}.password" for user in USERS}
    for user, path in secrets.items():
        path.write_text(USERS[user] + "\n")
    witness_db = tmp / "witness" / "anchors.sqlite"
    witness = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "witness",
            "--broker",
            broker.url,
            "--db",
            str(witness_db),
            "--username",
            "witness",
            "--password-file",
            str(secrets["witness"]),
            "--ca-file",
            str(broker.ca),
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    station_folder = tmp / "station"
    station_folder.mkdir()
    db = station_folder / "station.sqlite"
    try:
        assert witness.stderr is not None
        line = witness.stderr.readline()
        assert "subscribed to" in line, line + witness.stderr.read()
        config = station_folder / "station.toml"
        broker_table = {
            "url": broker.url,
            "ca_file": str(broker.ca),
            "username": "pod-a",
            "password_file": str(secrets["pod-a"]),
        }
        config.write_text(
            tomli_w.dumps(
                {
                    "station": {"name": "Pod A", "anchor_interval_min": 0.02},  # an anchor a second or so
                    "chairs": [{"name": f"Chair {n}"} for n in range(1, 5)],
                    "broker": broker_table,
                }
            )
        )
        chairs = [f"Chair {n}" for n in range(1, 5)]
        seed_infusions(db, chairs, chairs)  # sessions with MRNs, under way
        station = StationProcess(config, db).start()
        try:
            _wait(lambda: _witnessed_count(witness_db) >= 5, 90, "five anchors at the witness")
        finally:
            station.kill()  # SIGKILL: its last entries stay in the -wal, as after a power cut
        assert (station_folder / "station.sqlite-wal").stat().st_size > 0
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        (entries,) = conn.execute("SELECT count(*) FROM events").fetchone()
        conn.close()
        assert entries > 25, entries  # enough to cut 20 off
        capture = subprocess.run(
            [sys.executable, "-m", "app", "keys", "public"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        url = f"mqtts://witness@127.0.0.1:{broker.port}"
        yield Witnessed(
            station_folder, db, witness_db, url, broker.ca, secrets["witness"], capture.stdout.strip()
        )
    finally:
        witness.send_signal(signal.SIGTERM)
        witness.communicate(timeout=30)
        broker.stop()


def _verify(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _with_witness(w: Witnessed, db: Path) -> list[str]:
    return ["--db", str(db), "--witness", str(w.witness_db)]


def _raw(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    conn.execute("DROP TRIGGER events_are_append_only_update")
    conn.execute("DROP TRIGGER events_are_append_only_delete")
    return conn


def _restore_triggers(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events "
        "BEGIN SELECT RAISE(ABORT, 'the journal is append-only: add a correction instead'); END"
    )
    conn.execute(
        "CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events "
        "BEGIN SELECT RAISE(ABORT, 'the journal is append-only: entries cannot be deleted'); END"
    )
    conn.commit()
    conn.close()


def _rewrite_mrn(db: Path) -> int:
    """The issue's attack: triggers dropped, an MRN changed, every hash recomputed, head reset, triggers
    restored. Returns the position changed."""
    conn = _raw(db)
    (target,) = conn.execute(
        "SELECT MIN(position) FROM events WHERE type = 'checked_in' AND payload LIKE '%MRN-0042%'"
    ).fetchone()
    prev = GENESIS_HASH
    for row in conn.execute("SELECT * FROM events ORDER BY position").fetchall():
        data = dict(row)
        if data["position"] == target:
            data["payload"] = data["payload"].replace("MRN-0042", "MRN-9999")
        if data["position"] >= target:
            data["prev_hash"] = prev
            data["hash"] = row_hash(data)
            conn.execute(
                "UPDATE events SET payload = ?, prev_hash = ?, hash = ? WHERE position = ?",
                (data["payload"], data["prev_hash"], data["hash"], data["position"]),
            )
        prev = data["hash"]
    conn.execute("UPDATE journal_head SET hash = ? WHERE id = 1", (prev,))
    _restore_triggers(conn)
    return int(target)


def _truncate(db: Path, entries: int) -> int:
    """The last `entries` entries deleted and the head reset to the new last one. Returns the new head."""
    conn = _raw(db)
    (head,) = conn.execute("SELECT MAX(position) FROM events").fetchone()
    keep = int(head) - entries
    conn.execute("DELETE FROM events WHERE position > ?", (keep,))
    (last_hash,) = conn.execute("SELECT hash FROM events WHERE position = ?", (keep,)).fetchone()
    conn.execute("UPDATE journal_head SET position = ?, hash = ? WHERE id = 1", (keep, last_hash))
    _restore_triggers(conn)
    return keep


def _anchors(db: Path) -> list[dict[str, object]]:
    path = anchor_log_path(db)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write_anchors(db: Path, records: list[dict[str, object]]) -> None:
    anchor_log_path(db).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


def _never_intact_without_witness(db: Path, capsys: pytest.CaptureFixture[str], station_key: str) -> None:
    for extra in ([], ["--public-key", station_key]):
        code, text = _verify(["--db", str(db), *extra], capsys)
        assert code != 0, text
        assert "journal intact" not in text


def test_an_untouched_copy_is_confirmed_by_the_witness_and_only_by_it(
    witnessed: Witnessed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = witnessed.copy(tmp_path / "copy")
    code, text = _verify(_with_witness(witnessed, db), capsys)
    assert code == 0 and "journal intact" in text and "agrees with the witness" in text, text
    code, text = _verify(
        [
            "--db",
            str(db),
            "--witness",
            witnessed.witness_url,
            "--witness-ca-file",
            str(witnessed.ca),
            "--witness-password-file",
            str(witnessed.password_file),
        ],
        capsys,
    )
    assert code == 0 and "agrees with the witness" in text, text  # the anchor retained on the broker
    code, text = _verify(["--db", str(db), "--public-key", witnessed.station_key], capsys)
    assert code == 1 and "no witness given" in text, text
    assert sorted(p.name for p in db.parent.iterdir()) == sorted(
        [db.name, f"{db.name}-wal", anchor_log_path(db).name]
    )  # verify wrote nothing beside the copy


def test_a_rewrite_with_the_anchors_deleted_is_found(
    witnessed: Witnessed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = witnessed.copy(tmp_path / "copy")
    position = _rewrite_mrn(db)
    anchor_log_path(db).unlink()
    code, text = _verify(_with_witness(witnessed, db), capsys)
    assert code == 1 and "NOT intact" in text and "the journal was rewritten" in text, text
    first_witnessed = min(int(r["position"]) for r in _anchors(witnessed.db))
    good = "before entry" if position < first_witnessed else "entry"
    assert f"the last good position is {good}" in text, text
    _never_intact_without_witness(db, capsys, witnessed.station_key)
    anchor_log_path(db).write_text("", encoding="utf-8")  # emptied rather than deleted
    code, text = _verify(_with_witness(witnessed, db), capsys)
    assert code == 1 and "the journal was rewritten" in text, text
    _never_intact_without_witness(db, capsys, witnessed.station_key)


@pytest.mark.parametrize("entries", [1, 4, 20])
def test_a_truncation_with_the_anchors_trimmed_is_found(
    witnessed: Witnessed, tmp_path: Path, capsys: pytest.CaptureFixture[str], entries: int
) -> None:
    db = witnessed.copy(tmp_path / "copy")
    head = _truncate(db, entries)
    _write_anchors(db, [r for r in _anchors(db) if int(str(r["position"])) <= head])
    code, text = _verify(_with_witness(witnessed, db), capsys)
    assert code == 1 and f"the journal ends at entry {head}" in text and "entries were lost" in text, text
    _never_intact_without_witness(db, capsys, witnessed.station_key)
    code, text = _verify(["--db", str(db)], capsys)
    assert "journal intact" not in text


def test_anchors_re_signed_with_another_key_are_found(
    witnessed: Witnessed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = witnessed.copy(tmp_path / "copy")
    _rewrite_mrn(db)
    conn = sqlite3.connect(db)
    heads = dict(conn.execute("SELECT position, hash FROM events").fetchall())
    conn.close()
    forger = Ed25519PrivateKey.generate()
    forged: list[dict[str, object]] = []
    for record in _anchors(db):
        body = {k: v for k, v in record.items() if k != "signature"}
        body["head_hash"] = heads[int(str(body["position"]))]  # the anchors now match the rewrite
        body["previous"] = record_digest(forged[-1]) if forged else ""  # and follow one another
        assert body["kind"] == ANCHOR_KIND
        body["signature"] = sign(forger, body)
        forged.append(body)
    _write_anchors(db, forged)
    code, text = _verify(_with_witness(witnessed, db), capsys)
    assert code == 1 and "NOT intact" in text, text
    # Checked against the forger's own key, the anchors hold: only the witness sees through it.
    code, text = _verify(["--db", str(db), "--public-key", public_text(forger)], capsys)
    assert code == 1 and "journal intact" not in text and "no witness given" in text, text
    code, text = _verify([*_with_witness(witnessed, db), "--public-key", witnessed.station_key], capsys)
    assert code == 1 and "NOT intact" in text, text
    _never_intact_without_witness(db, capsys, witnessed.station_key)


def _entries(db: Path) -> list[tuple[int, str]]:
    """The journal as our own read-only open reads it (the WAL recovered in a private snapshot)."""
    from app.store.journal import Journal

    with Journal(db, read_only=True) as journal:
        return [(e.position, e.hash) for e in journal.entries()]


def test_random_wal_byte_flips_are_found(
    witnessed: Witnessed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = _entries(witnessed.copy(tmp_path / "original"))
    lost_cases = 0
    for seed in WAL_SEEDS:
        db = witnessed.copy(tmp_path / f"seed-{seed}")
        wal = db.with_name(db.name + "-wal")
        data = bytearray(wal.read_bytes())
        draw = random.Random(seed)
        offset = draw.randrange(len(data))
        data[offset] ^= 1 << draw.randrange(8)
        wal.write_bytes(bytes(data))
        now = _entries(db)
        code, text = _verify(_with_witness(witnessed, db), capsys)
        if now != original:  # committed entries were lost with the damaged frames
            lost_cases += 1
            assert code == 1 and "NOT intact" in text, (seed, offset, text)
            assert main(["status", "--db", str(db)]) == 2, seed  # status refuses it too
            assert "last good position" in capsys.readouterr().err
        else:
            assert code == 0, (seed, offset, text)  # a flip in frames that held no entry: nothing lost
        _never_intact_without_witness(db, capsys, witnessed.station_key)
    assert lost_cases >= 10, lost_cases  # most flips hit frames holding entries
