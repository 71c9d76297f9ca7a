"""Signed seals: the station key, journal anchors and signed export manifests.

- **Station key**: Ed25519, created at first use in the private configuration folder
  (`app.paths.config_dir()`, file `station-ed25519.pem`, mode 0600, folder 0700). Its public half is
  what `chairside keys public` prints; a verifier elsewhere passes it to `verify --public-key`.
- **Anchors**: a signed record of the journal head (position, head hash, time) and of the pump samples
  recorded so far (a running SHA-256 over the telemetry rows, so samples are sealed per anchor),
  appended as one JSON line to `<database>.anchors.jsonl`, outside the database. Each anchor names the
  previous one's digest. Someone who rewrites the chain (edits an entry, recomputes every hash and
  resets the head) cannot make the signed head hashes match again without the station key.
- **Manifests**: every export's manifest is signed (the file hash, the seal, the zone, the anchors it
  carries), so an export re-hashed by hand no longer verifies.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.domain.chair import format_time
from app.domain.events import Event, EventType, JournalAnchored
from app.export.model import compacted_until, sample_seal
from app.paths import config_dir
from app.store.journal import STATION_STREAM_PREFIX, Journal, JournalError, canonical_json

KEY_FILE = "station-ed25519.pem"
PUBLIC_PREFIX = "ed25519:"
ANCHOR_KIND = "chairside-anchor"
ANCHOR_KEYS = frozenset(
    {"kind", "position", "head_hash", "at", "samples_until_ms", "samples", "compacted_until_ms", "previous"}
)
ANCHOR_STREAM = f"{STATION_STREAM_PREFIX}anchors"
"""The journal stream of the anchors' own entries: each anchor signs the head that records it."""
ANCHOR_ACTOR = "station"


class SealError(RuntimeError):
    """A key, anchor or signature problem, said in one line."""


# ------------------------------------------------------------------------------------------------
# Keys


def key_path(folder: Path | None = None) -> Path:
    return (folder or config_dir()) / KEY_FILE


def load_or_create_key(folder: Path | None = None) -> Ed25519PrivateKey:
    """The station key; created (0600, in a 0700 folder) if there is none yet."""
    path = key_path(folder)
    try:
        present = path.exists()
    except OSError as exc:
        raise SealError(f"cannot reach the configuration folder {path.parent}: {exc}") from exc
    if present:
        return load_key(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        path.parent.chmod(0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = path.with_name(f"{path.name}.{os.getpid()}.part")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, path)  # never replaces a key: two stations starting at once keep the first
    except FileExistsError:
        return load_key(folder)
    finally:
        temporary.unlink(missing_ok=True)
    return key


def load_key(folder: Path | None = None) -> Ed25519PrivateKey:
    path = key_path(folder)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise SealError(f"cannot read the station key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SealError(f"{path} is not an Ed25519 key")
    return key


def public_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public(text: str) -> Ed25519PublicKey:
    body = text.strip()
    if body.startswith(PUBLIC_PREFIX):
        body = body[len(PUBLIC_PREFIX) :]
    try:
        raw = base64.b64decode(body, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise SealError(
            f"{text!r} is not a station public key (expected the line `chairside keys public` prints)"
        ) from exc


def fingerprint(public: str) -> str:
    return hashlib.sha256(public.encode("ascii")).hexdigest()[:16]


def trusted_key(public: str | None) -> Ed25519PublicKey | None:
    """The key signatures are checked against: the one given, else this computer's station key."""
    if public:
        return parse_public(public)
    try:
        present = key_path().exists()
    except OSError:  # another user's private folder: as if there were no key here
        return None
    if not present:
        return None
    try:
        return load_key().public_key()
    except SealError:
        if not os.access(key_path(), os.R_OK):
            return None  # the station's key, not readable by this user
        raise


def sign(key: Ed25519PrivateKey, document: dict[str, Any]) -> dict[str, str]:
    material = canonical_json(document).encode("utf-8")
    return {
        "algorithm": "Ed25519",
        "public_key": public_text(key),
        "value": base64.b64encode(key.sign(material)).decode("ascii"),
    }


def check_signature(document: dict[str, Any], trusted: Ed25519PublicKey, what: str) -> None:
    """`document` carries its own "signature"; it must be over the rest, by the trusted key."""
    signature = document.get("signature")
    if not isinstance(signature, dict) or "value" not in signature:
        raise SealError(f"{what} is not signed")
    body = {k: v for k, v in document.items() if k != "signature"}
    try:
        trusted.verify(base64.b64decode(str(signature["value"])), canonical_json(body).encode("utf-8"))
    except (InvalidSignature, ValueError) as exc:
        signer = str(signature.get("public_key", "?"))
        who = (
            ""
            if signer == public_text(trusted)
            else f" (it names key {fingerprint(signer)}, not the station's)"
        )
        raise SealError(f"{what}: the signature does not match its content or the station key{who}") from exc


# ------------------------------------------------------------------------------------------------
# Anchors


def anchor_log_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".anchors.jsonl")


def record_digest(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@dataclass(frozen=True)
class AnchorLog:
    path: Path

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records = []
        try:
            lines = self.path.read_bytes().decode("utf-8").splitlines()
        except OSError as exc:
            raise SealError(f"cannot read the anchor log {self.path}: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise SealError(
                f"the anchor log {self.path.name} is damaged: byte {exc.start} is not UTF-8 text"
            ) from None
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise SealError(f"{self.path.name} line {number} is damaged: {exc}") from exc
            if not is_anchor(record):
                raise SealError(
                    f"{self.path.name} line {number} is not a Chairside anchor (damaged or foreign)"
                )
            records.append(record)
        return records

    def append(
        self, journal: Journal, key: Ed25519PrivateKey, now: datetime | None = None, station: str = ""
    ) -> dict[str, Any]:
        """The station's anchor: record it in the journal (a `journal_anchored` entry, so the chain
        says when anchors were made and the anchor covers its own entry), sign the head that entry
        made and the pump samples recorded so far, append it to the log. Only a station (a writable
        journal) anchors: archive copies are read, never anchored."""
        if journal.read_only:
            raise SealError(f"{journal.path} is open read-only: only its station anchors it")
        records = self.records()
        last = records[-1] if records else None
        moment = now or datetime.now(UTC)
        entry = JournalAnchored(
            previous=record_digest(last) if last else "", key=fingerprint(public_text(key)), station=station
        )
        journal.append(
            ANCHOR_STREAM, [Event.of(entry, moment, ANCHOR_ACTOR)], journal.last_seq(ANCHOR_STREAM)
        )
        position, head_hash = journal.head()
        after_ms = int(last["samples_until_ms"]) if last else 0
        until_ms = max(journal.recorder.settled_ms(_ms(moment)), after_ms)
        samples = sample_seal(journal, after_ms, until_ms)
        compacted = compacted_until(journal)
        record: dict[str, Any] = {
            "kind": ANCHOR_KIND,
            "position": position,
            "head_hash": head_hash,
            "at": format_time(moment),
            "samples_until_ms": until_ms,
            "samples": samples,  # per reading stream: SHA-256 of its readings since the previous anchor
            "compacted_until_ms": {key: compacted.get(key, 0) for key in samples},
            "previous": record_digest(last) if last else "",
        }
        if station:
            record["station"] = station
        record["signature"] = sign(key, record)
        journal.recorder.seal(until_ms)  # no reading at or before this moment is written any more
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(canonical_json(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return record


def is_anchor(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and record.get("kind") == ANCHOR_KIND
        and set(record) >= ANCHOR_KEYS
        and isinstance(record.get("samples"), dict)
        and isinstance(record.get("position"), int)
        and isinstance(record.get("head_hash"), str)
    )


def anchor_entry_positions(journal: Journal) -> list[int]:
    """Where the journal recorded its anchors (its `journal_anchored` entries), in order."""
    rows = journal.conn.execute(
        "SELECT position FROM events WHERE session_id = ? AND type = ? ORDER BY position",
        (ANCHOR_STREAM, str(EventType.JOURNAL_ANCHORED)),
    )
    return [int(row[0]) for row in rows]


def lost_entries_problem(journal: Journal) -> str | None:
    """Every open of a journal: does its head still reach the last anchor beside it? None when it does
    (or there is no anchor), else one line naming the last good position: the newest anchor whose entry
    the journal still holds with the same hash. Signatures are not needed to see that entries are gone."""
    try:
        records = AnchorLog(anchor_log_path(journal.path)).records()
    except SealError:
        return None  # a damaged log is verify's to report; nothing here says entries were lost
    if not records:
        return None
    position, _hash = journal.head()
    last = records[-1]
    if _still_there(journal, last):
        return None
    good = next((int(r["position"]) for r in reversed(records) if _still_there(journal, r)), 0)
    what = "lost entries" if position < int(last["position"]) else "was changed"
    return (
        f"{journal.path} {what}: its last anchor ({last.get('at')}) signed entry {last['position']}, "
        f"the journal now ends at entry {position} and the last good position is entry {good}. "
        "Nothing was changed: restore the journal from a backup (chairside verify --witness says more)"
    )


def _still_there(journal: Journal, record: dict[str, Any]) -> bool:
    position = int(record["position"])
    if position == 0:
        return True
    row = journal.conn.execute("SELECT hash FROM events WHERE position = ?", (position,)).fetchone()
    return row is not None and row[0] == record["head_hash"]


def refuse_lost_entries(journal: Journal) -> None:
    """JournalError (one line) if the journal lost entries since its last anchor (see above)."""
    problem = lost_entries_problem(journal)
    if problem is not None:
        raise JournalError(problem)


def check_anchor(journal: Journal, record: dict[str, Any], trusted: Ed25519PublicKey | None) -> None:
    """The anchor is signed by the station and the journal still has its head hash at its position."""
    where = f"the anchor of {record.get('at', '?')} (entry {record.get('position', '?')})"
    if trusted is not None:
        check_signature(record, trusted, where)
    position = int(record.get("position", 0))
    if position == 0:
        return
    row = journal.conn.execute("SELECT hash FROM events WHERE position = ?", (position,)).fetchone()
    if row is None:
        raise SealError(f"{where}: the journal no longer has entry {position} (entries deleted)")
    if row["hash"] != record.get("head_hash"):
        raise SealError(
            f"{where}: the journal was rewritten: entry {position} now has hash {str(row['hash'])[:16]}..., "
            f"the signed anchor says {str(record.get('head_hash'))[:16]}..."
        )


def check_anchor_log(journal: Journal, log: AnchorLog, trusted: Ed25519PublicKey | None) -> int:
    """Every anchor: signature, chain of anchors, head hash, sealed pump samples. Returns how many."""
    records = log.records()
    check_anchors(journal, records, trusted, complete=True)
    return len(records)


def check_anchors(
    journal: Journal, records: list[dict[str, Any]], trusted: Ed25519PublicKey | None, *, complete: bool
) -> None:
    """Signatures and head hashes of `records`, in order, and the pump samples each seals. `complete`:
    the records are a whole anchor log (each must follow the one before it); a witness may have missed
    some, so there only the samples of consecutive anchors are checked."""
    compacted = compacted_until(journal)
    previous: dict[str, Any] | None = None
    for record in records:
        check_anchor(journal, record, trusted)
        expected_previous = record_digest(previous) if previous else ""
        follows = record.get("previous") == expected_previous
        if complete and not follows:
            raise SealError(
                f"the anchor of {record.get('at')} does not follow the one before it (log edited)"
            )
        if follows:
            _check_samples(journal, record, previous, compacted)
        previous = record


def _check_samples(
    journal: Journal, record: dict[str, Any], previous: dict[str, Any] | None, compacted: dict[str, int]
) -> None:
    """The readings of the anchor's window still hash as sealed. A stream thinned by compaction since
    the anchor (app.store.telemetry.compact keeps the changes, drops heartbeats) cannot be checked
    reading by reading any more and is skipped; any other difference is a changed or deleted reading."""
    after_ms = int(previous["samples_until_ms"]) if previous else 0
    now_digests = sample_seal(journal, after_ms, int(record.get("samples_until_ms", 0)))
    sealed: dict[str, str] = dict(record.get("samples", {}))
    was_compacted: dict[str, int] = dict(record.get("compacted_until_ms", {}))
    for key in sorted(set(sealed) | set(now_digests)):
        if compacted.get(key, 0) > int(was_compacted.get(key, 0)):
            continue
        if sealed.get(key) != now_digests.get(key):
            chair, _, session = key.partition("|")
            raise SealError(
                f"pump samples recorded before the anchor of {record.get('at')} were changed or deleted "
                f"({chair}, session {session or '-'})"
            )
