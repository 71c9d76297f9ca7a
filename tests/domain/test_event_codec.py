"""The one event codec: every entry's JSON read into its typed payload and written back byte for byte
(the hash chain of every journal verifies unchanged), for generated payloads and for a journal written
by the code before typed events."""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import types
import typing
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.events import (
    CheckedIn,
    Event,
    EventType,
    InfusionPaused,
    Payload,
    PayloadError,
    RateChanged,
    ReactionRecorded,
    Record,
    SignedOut,
    SignOff,
    Unreadable,
    decode_entry,
    encode_entry,
)
from app.domain.events.codec import _fields, read_entry
from app.domain.events.payloads import PAYLOADS
from app.domain.protocol import ReactionAction
from app.domain.reactions import ReactionGrade
from app.store.journal import Journal, canonical_json, chain_hash

FIXTURE = Path(__file__).parent / "fixtures" / "journal_before_typed_events.db"

_json_scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8)
_json = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_numbers = st.integers(0, 2000) | st.floats(0, 2000, allow_nan=False, allow_infinity=False)
_zones = st.sampled_from([UTC, ZoneInfo("Pacific/Auckland"), ZoneInfo("America/New_York")])
_times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=_zones)


def _strategy(kind: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(kind) if a is not type(None)]
        return st.none() | _strategy(inner)
    if kind is float:
        return _numbers
    if kind is int:
        return st.integers(0, 10**6)
    if kind is bool:
        return st.booleans()
    if kind is str:
        return st.text(max_size=12)
    if kind is datetime:
        return _times
    if kind is date:
        return st.dates(date(2020, 1, 1), date(2035, 1, 1))
    if isinstance(kind, type) and issubclass(kind, Enum):
        return st.sampled_from(list(kind))
    if isinstance(kind, type) and issubclass(kind, Record):
        return _record(kind)
    if origin is tuple:
        return st.lists(_strategy(typing.get_args(kind)[0]), max_size=3).map(tuple)
    if origin in (Mapping, dict):
        value = typing.get_args(kind)[1]
        return st.dictionaries(st.text(max_size=6), _json if value is Any else _strategy(value), max_size=3)
    raise AssertionError(f"no strategy for {kind!r}")


def _record(cls: type[Record]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({f.name: _strategy(f.kind) for f in _fields(cls)}).map(lambda kw: cls(**kw))


_payloads = st.one_of([_record(cls) for cls in PAYLOADS.values()])
_signoffs = st.none() | _record(SignOff)


def _text(payload: Payload, signoff: SignOff | None = None) -> str:
    return canonical_json(encode_entry(payload, signoff))


@given(_payloads, _signoffs)
def test_every_payload_reads_back_as_written(payload: Payload, signoff: SignOff | None) -> None:
    if signoff is not None and isinstance(payload, SignedOut) and payload.by is not None:
        with pytest.raises(PayloadError, match="cannot be co-signed"):
            _text(payload, signoff)
        return
    text = _text(payload, signoff)
    decoded, envelope = decode_entry(payload.event_type, json.loads(text))
    assert decoded == payload
    assert envelope == signoff
    assert _text(decoded, envelope) == text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_payloads, _signoffs), min_size=1, max_size=3), _times)
def test_the_journal_hands_back_at_append_what_a_replay_reads(
    entries: list[tuple[Payload, SignOff | None]], at: datetime
) -> None:
    entries = [
        (p, None if isinstance(p, SignedOut) and p.by is not None else s) for p, s in entries
    ]  # such a sign-out cannot be co-signed (above)
    with tempfile.TemporaryDirectory() as folder, Journal(Path(folder) / "j.sqlite") as journal:
        events = [Event(p.event_type, at, "RN Ada", p, signoff=s) for p, s in entries]
        handed_back = journal.append("s-1", events, expected_last_seq=0)
        replayed = journal.events("s-1")
    assert handed_back == replayed
    # field for field, times included (their zone too: a time in a record is in UTC however it was given)
    assert [(repr(e.payload), e.payload.extra, e.signoff, e.seq) for e in handed_back] == [
        (repr(e.payload), e.payload.extra, e.signoff, e.seq) for e in replayed
    ]


@given(_payloads, st.dictionaries(st.text(min_size=1, max_size=6).map(lambda k: "x_" + k), _json, max_size=3))
def test_keys_a_newer_or_older_version_wrote_survive_the_round_trip(
    payload: Payload, unknown: dict[str, Any]
) -> None:
    data = {**encode_entry(payload), **unknown}
    decoded, _ = decode_entry(payload.event_type, json.loads(canonical_json(data)))
    assert decoded.extra == unknown
    assert canonical_json(encode_entry(decoded)) == canonical_json(data)


@given(_payloads, st.data())
def test_keys_an_older_entry_lacked_stay_out_when_written_back(payload: Payload, data: st.DataObject) -> None:
    written = encode_entry(payload)
    droppable = sorted(f.name for f in _fields(type(payload)) if f.has_default and f.name in written)
    dropped = data.draw(st.sets(st.sampled_from(droppable)) if droppable else st.just(set()))
    older = {k: v for k, v in written.items() if k not in dropped}
    decoded, _ = decode_entry(payload.event_type, json.loads(canonical_json(older)))
    assert canonical_json(encode_entry(decoded)) == canonical_json(older)


def test_a_rate_journaled_as_a_whole_number_is_written_back_as_one() -> None:
    payload, _ = decode_entry(EventType.RATE_CHANGED, {"rate_ml_h": 44, "previous_rate_ml_h": 40.0})
    assert isinstance(payload, RateChanged)
    assert payload.rate_ml_h == 44.0
    assert canonical_json(encode_entry(payload)) == '{"previous_rate_ml_h":40.0,"rate_ml_h":44}'


def test_grades_and_actions_are_enums_and_times_are_aware() -> None:
    payload, _ = decode_entry(
        EventType.REACTION_RECORDED,
        {"grade": 3, "action": "stop_then_restart", "recorded_at": "2026-01-05T09:00:00+00:00"},
    )
    assert isinstance(payload, ReactionRecorded)
    assert payload.grade is ReactionGrade.SEVERE
    assert payload.action is ReactionAction.STOP_THEN_RESTART
    assert payload.recorded_at == datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_a_co_signed_entry_keeps_its_sign_off_in_the_envelope_not_the_payload() -> None:
    data = {"reason": "call", "source": "nurse", "by": "rn1", "cosigned_by": "cn1", "cosigned_for": ["x"]}
    event = Event(EventType.INFUSION_PAUSED, datetime(2026, 1, 5, tzinfo=UTC), "rn1", data)
    assert event.payload == InfusionPaused(reason="call", source="nurse")
    assert event.signoff == SignOff(by="rn1", cosigned_by="cn1", cosigned_for=("x",))
    assert event.data == data


def test_signed_out_by_the_next_person_is_not_a_sign_off() -> None:
    payload, signoff = decode_entry(EventType.SIGNED_OUT, {"account": "rn1", "by": "rn2"})
    assert signoff is None
    assert payload == SignedOut(account="rn1", by="rn2")


def test_what_does_not_fit_its_type_is_refused_in_one_line() -> None:
    with pytest.raises(PayloadError, match=r"rate_changed.rate_ml_h: expected a number, found 'fast'"):
        decode_entry(EventType.RATE_CHANGED, {"rate_ml_h": "fast"})
    with pytest.raises(PayloadError, match="reaction_recorded.grade: 7 is not a ReactionGrade"):
        decode_entry(EventType.REACTION_RECORDED, {"grade": 7})
    with pytest.raises(PayloadError, match="'chair' is missing"):
        decode_entry(EventType.CHECKED_IN, {})


def test_an_event_carries_the_payload_of_its_kind() -> None:
    with pytest.raises(TypeError):
        Event(EventType.RATE_CHANGED, datetime(2026, 1, 5, tzinfo=UTC), "rn1", InfusionPaused())
    event = Event.of(RateChanged(rate_ml_h=44.0), datetime(2026, 1, 5, tzinfo=UTC), "rn1")
    assert event.type is EventType.RATE_CHANGED
    assert event.payload_as(RateChanged).rate_ml_h == 44.0
    with pytest.raises(TypeError):
        event.payload_as(CheckedIn)


def _rows(path: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute("SELECT * FROM events ORDER BY position"))
    finally:
        conn.close()


SHIPPED_SCHEMAS = sorted((Path(__file__).parents[1] / "store" / "fixtures").glob("journal-*.db"))


@pytest.mark.parametrize("path", SHIPPED_SCHEMAS, ids=lambda p: p.stem)
def test_journals_of_every_shipped_schema_read_and_write_back_byte_for_byte(path: Path) -> None:
    """Entries written by each shipped version (tests/store/fixtures, from git history): older shapes,
    keys added later missing; every one reads and is written back as it is."""
    rows = _rows(path)
    assert rows
    unreadable = set()
    for row in rows:
        payload, signoff = read_entry(EventType(row["type"]), json.loads(row["payload"]))
        if isinstance(payload, Unreadable):
            unreadable.add(row["type"])
        assert canonical_json(encode_entry(payload, signoff)) == row["payload"], (
            row["position"],
            row["type"],
        )
    # The fixtures' hand-made check-ins carry no protocol: kept as they are, not read as a CheckedIn
    assert unreadable == {"checked_in"}


def test_an_entry_that_does_not_fit_its_kind_is_kept_and_refused_in_one_line() -> None:
    data = {
        "bag": {"lot": "L0", "volume_ml": 250.0},
        "chair": "C1",
        "patient_mrn": "1",
        "patient_initials": "AB",
    }
    event = Event.from_journal(EventType.CHECKED_IN, datetime(2026, 1, 5, tzinfo=UTC), "RN", data, 1)
    assert isinstance(event.payload, Unreadable)
    assert event.data == data
    with pytest.raises(
        PayloadError, match=r"^entry 1 \(checked_in\) cannot be read: checked_in: 'protocol_id' is missing$"
    ):
        event.payload_as(CheckedIn)
    with pytest.raises(PayloadError):
        Event(EventType.CHECKED_IN, datetime(2026, 1, 5, tzinfo=UTC), "RN", data)  # a new entry must fit


def test_a_journal_written_before_typed_events_reads_and_writes_back_byte_for_byte() -> None:
    rows = _rows(FIXTURE)
    assert {EventType(r["type"]) for r in rows} >= {
        EventType.CHECKED_IN,
        EventType.REACTION_RECORDED,
        EventType.HANDED_OVER,
        EventType.CORRECTION_RECORDED,
        EventType.ALARM_RAISED,
        EventType.ACCOUNT_ADDED,
    }
    prev = rows[0]["prev_hash"]
    cosigned = 0
    for row in rows:
        payload, signoff = decode_entry(EventType(row["type"]), json.loads(row["payload"]))
        cosigned += signoff is not None
        text = canonical_json(encode_entry(payload, signoff))
        assert text == row["payload"], (row["position"], row["type"])
        digest = chain_hash(
            prev,
            row["position"],
            row["session_id"],
            row["seq"],
            row["occurred_at"],
            row["recorded_at"],
            row["actor"],
            row["type"],
            text,
        )
        assert digest == row["hash"], row["position"]
        prev = digest
    assert cosigned == 2


def test_the_old_journal_verifies_and_takes_new_entries_through_todays_code(tmp_path: Path) -> None:
    copy = tmp_path / "old.sqlite"
    shutil.copy(FIXTURE, copy)
    from app.domain.clock import ManualClock

    clock = ManualClock()
    clock.set(datetime(2026, 1, 7, 9, tzinfo=UTC))
    with Journal(copy, clock) as journal:
        before = journal.head()
        session = journal.session_ids()[0]
        events = journal.events(session)
        assert all(e.payload is not None for e in events)
        last = events[-1]
        again = journal.append(session, [replace(last, seq=0)], expected_last_seq=last.seq)
        assert again[0].payload == last.payload
        assert journal.verify().intact
        assert journal.head()[0] == before[0] + 1


def test_a_correction_with_a_value_of_the_wrong_kind_is_refused_in_one_line(chair_script: Any) -> None:
    from app.domain.commands import Correct, RecordVitals
    from app.domain.decide import CommandRefused

    s = chair_script
    s.check_in()
    state = s.run(RecordVitals({"systolic_mmhg": 120}))
    target = state.vitals[-1].seq
    with pytest.raises(CommandRefused, match=r"corrected.values: expected an object, found 'high'"):
        s.run(Correct(target, "typo", {"values": "high"}))
    assert s.state.last_seq == state.last_seq  # nothing recorded


def test_a_release_co_signed_by_a_typed_name_reads_and_writes_back_byte_for_byte(tmp_path: Path) -> None:
    """Before co-signers signed in, a prescriber's release recorded the name someone typed: such an
    entry is read (no account name: it says so) and written back as it was, and its chain verifies."""
    from app.domain.clock import ManualClock
    from app.domain.events import Discharged

    typed = {"prescriber_release": {"cosigned_by": "CD", "note": "reviewed, well", "prescriber": "Dr Osei"}}
    signed = {
        "prescriber_release": {
            "cosigned_by": "RN-CD",
            "cosigner_name": "Carla Diaz",
            "note": "reviewed, well",
            "prescriber": "Dr Osei",
        }
    }
    clock = ManualClock()
    with Journal(tmp_path / "j.sqlite", clock) as journal:
        at = clock.now()
        journal.append("s1", [Event(EventType.DISCHARGED, at, "AB", typed)], expected_last_seq=0)
        journal.append("s2", [Event(EventType.DISCHARGED, at, "AB", signed)], expected_last_seq=0)
        old, new = list(journal.entries())
        assert (old.payload_text, new.payload_text) == (canonical_json(typed), canonical_json(signed))
        for entry in (old, new):
            assert canonical_json(entry.event.data) == entry.payload_text
        old_release = old.event.payload_as(Discharged).prescriber_release
        assert old_release is not None and old_release.cosigned_by == "CD"
        assert old_release.cosigner_name is None  # a typed name, not an account
        new_release = new.event.payload_as(Discharged).prescriber_release
        assert new_release is not None and new_release.cosigner_name == "Carla Diaz"
        assert journal.verify().intact
