"""`chairside verify`: how far the journal can be trusted, and what could not be checked.

The journal's own hash chain proves little alone: whoever can write the folder can rewrite every hash,
reset the head and delete or trim the anchors file beside it. So the answer is "intact" (exit 0) only
when the journal agrees with a witness outside the station (`--witness`, app.witness): every anchor the
witness holds for this station, signed with the station's key, must still match the journal's entry at
its position, so a rewrite, a truncation or lost WAL frames are found. Without a witness, verify checks
what it can (chain, anchors file, signatures with a key) and says exactly what it could not: exit 1,
never 0. SQLite damage is exit 2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.domain.events import EventType
from app.export.seals import (
    ANCHOR_STREAM,
    AnchorLog,
    SealError,
    anchor_entry_positions,
    anchor_log_path,
    check_anchors,
    fingerprint,
    parse_public,
    public_text,
    trusted_key,
)
from app.store.journal import Journal

WitnessAnchors = dict[str, list[dict[str, Any]]]
"""What a witness holds: per station (its topic level), its signed anchors in the order received."""


@dataclass
class JournalReport:
    entries: int = 0
    head: str = ""
    problems: list[str] = field(default_factory=list)  # the journal is NOT intact
    unchecked: list[str] = field(default_factory=list)  # what could not be checked
    confirmed: list[str] = field(default_factory=list)  # what held
    damage: list[str] = field(default_factory=list)  # SQLite integrity_check

    @property
    def exit_code(self) -> int:
        if self.damage:
            return 2
        return 1 if self.problems or self.unchecked else 0


def journal_station(journal: Journal) -> str:
    """The station the journal's newest anchor entry names ('' when none does)."""
    row = journal.conn.execute(
        "SELECT payload FROM events WHERE session_id = ? AND type = ? ORDER BY position DESC LIMIT 1",
        (ANCHOR_STREAM, str(EventType.JOURNAL_ANCHORED)),
    ).fetchone()
    if row is None:
        return ""
    try:
        return str(json.loads(row[0]).get("station", ""))
    except (ValueError, AttributeError):
        return ""


def check_journal(
    journal: Journal,
    public_key: str | None = None,
    witness: WitnessAnchors | None = None,
    witness_name: str = "",
    station: str | None = None,
) -> JournalReport:
    report = JournalReport()
    chain = journal.verify()
    report.entries, report.head = chain.events_checked, chain.head_hash
    if chain.first_problem is not None:
        report.problems.append(f"first bad entry is {chain.first_problem}")
    report.damage = journal.integrity_problems()
    try:
        trusted = trusted_key(public_key)
    except SealError as exc:
        report.problems.append(str(exc))
        return report
    if witness is not None:
        trusted = _check_witness(journal, report, witness, witness_name, station, trusted)
    else:
        report.unchecked.append(
            "no witness given (--witness PATH|URL): a journal rewritten or truncated together with its "
            "anchors file cannot be told from an intact one"
        )
    _check_anchor_log(journal, report, trusted)
    return report


def _check_anchor_log(journal: Journal, report: JournalReport, trusted: Ed25519PublicKey | None) -> None:
    log = AnchorLog(anchor_log_path(journal.path))
    try:
        records = log.records()
        check_anchors(journal, records, trusted, complete=True)
    except SealError as exc:
        report.problems.append(str(exc))
        return
    recorded = anchor_entry_positions(journal)
    logged = {int(r["position"]) for r in records}
    missing = [p for p in recorded if p not in logged]
    if missing:
        report.problems.append(
            f"the journal recorded {len(recorded)} anchors but the anchors file {log.path.name} holds "
            f"{len(recorded) - len(missing)} of them (the anchors of entries {_few(missing)} were removed)"
        )
    elif not records:
        report.unchecked.append(
            f"no anchors file beside the journal ({log.path.name}): nothing signed to check"
        )
    elif trusted is None:
        report.unchecked.append(
            f"the signatures of the {len(records)} anchors (no station key here: pass --public-key with the "
            "line `chairside keys public` prints on the station)"
        )
    else:
        report.confirmed.append(f"{len(records)} anchors in {log.path.name} hold")


def _check_witness(
    journal: Journal,
    report: JournalReport,
    witness: WitnessAnchors,
    witness_name: str,
    station: str | None,
    trusted: Ed25519PublicKey | None,
) -> Ed25519PublicKey | None:
    """Checks the journal against the witness; returns the key the station's anchors are checked with
    (the given one, else the first key the witness saw for the station)."""
    name = station or journal_station(journal)
    if not name and len(witness) == 1:
        name = next(iter(witness))
    held = witness.get(name, [])
    if not held:
        stations = ", ".join(sorted(witness)) or "none"
        report.unchecked.append(
            f"the witness {witness_name} holds no anchor of station {name or '?'} (it holds: {stations}; "
            "pass --station)"
        )
        return trusted
    if trusted is None:
        trusted = parse_public(str(held[0]["signature"]["public_key"]))
        report.confirmed.append(
            f"signatures checked with the key the witness first saw for {name} "
            f"({fingerprint(public_text(trusted))})"
        )
    station_key = public_text(trusted)
    signed = [r for r in held if r["signature"].get("public_key") == station_key]
    others = len(held) - len(signed)
    if others:
        report.confirmed.append(f"the witness also holds {others} anchors of {name} signed with another key")
    if not signed:
        report.unchecked.append(
            f"the witness {witness_name} holds no anchor of {name} signed with key {fingerprint(station_key)}"
        )
        return trusted
    position, _head = journal.head()
    good = 0
    for record in signed:
        try:
            check_anchors(journal, [record], trusted, complete=False)
        except SealError as exc:
            report.problems.append(_lost(record, position, good, str(exc)))
            return trusted
        good = max(good, int(record["position"]))
    try:
        check_anchors(journal, signed, trusted, complete=False)  # the samples of consecutive anchors
    except SealError as exc:
        report.problems.append(str(exc))
        return trusted
    newest = signed[-1]
    after = position - int(newest["position"])
    later = f"; the {after} entries recorded after it are not witnessed yet" if after > 0 else ""
    report.confirmed.append(
        f"agrees with the witness {witness_name}: {len(signed)} anchors of {name}, the newest of entry "
        f"{newest['position']} at {newest['at']}{later}"
    )
    return trusted


def _lost(record: dict[str, Any], head: int, good: int, problem: str) -> str:
    anchored = int(record["position"])
    if anchored > head:
        return (
            f"the journal ends at entry {head} but the witness holds the station's signed anchor of entry "
            f"{anchored} ({record.get('at')}): entries were lost (truncated, or WAL frames lost); the last "
            f"good position is {f'entry {min(good, head)}' if good else f'before entry {anchored}'}"
        )
    last_good = f"entry {good}" if good else f"before entry {anchored} (no witnessed anchor still holds)"
    return f"{problem} (witnessed); the last good position is {last_good}"


def _few(positions: list[int]) -> str:
    shown = ", ".join(str(p) for p in positions[:5])
    return shown + (" ..." if len(positions) > 5 else "")
