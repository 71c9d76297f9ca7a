"""One describe(event, audience): the screen's timeline line, the CSV summary and the PDF's corrections,
notes and overrides say of every entry of a journal written before it exactly what the two (three)
describe()s it replaced said (texts_before_one_describe.json, written by that code), so exports made
before still verify."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from app.domain.describe import Audience, describe
from app.domain.events import Event, EventType
from app.export.records import describe as record_text
from app.export.shifts import LocalTime
from app.store.journal import Journal
from app.ui.timeline import describe as timeline_line

FIXTURES = Path(__file__).parent / "fixtures"


def test_every_entry_reads_as_before_for_every_audience() -> None:
    expected = json.loads((FIXTURES / "texts_before_one_describe.json").read_text(encoding="utf-8"))
    local = LocalTime.named("Europe/Zurich")
    with Journal(FIXTURES / "journal_before_typed_events.db", read_only=True) as journal:
        entries = list(journal.entries())
        assert len(entries) == len(expected)
        for entry in entries:
            want = expected[str(entry.position)]
            assert record_text(entry, local) == want["csv"], entry.position
            assert describe(entry.event, Audience.CSV, local.stamp) == want["csv"]
            assert timeline_line(entry.event, UTC) == want["screen"], entry.position
            assert describe(entry.event, Audience.PDF) == want["pdf"], entry.position


def test_the_hl7_note_of_a_reaction_and_a_note() -> None:
    with Journal(FIXTURES / "journal_before_typed_events.db", read_only=True) as journal:
        texts = {
            describe(e.event, Audience.HL7)
            for e in journal.entries()
            if e.type in ("reaction_recorded", "note_added")
        }
    assert "Note by rn1 (on entry 1): patient asked for water" in texts
    assert any(
        t.startswith("Grade 3 infusion reaction: ") and t.endswith("action: stop_then_restart") for t in texts
    )


def _discharged(release: dict[str, str]) -> Event:
    return Event(
        EventType.DISCHARGED, datetime(2026, 12, 7, 14, tzinfo=UTC), "RN-AB", {"prescriber_release": release}
    )


def test_a_release_names_its_co_signers_account_for_every_audience() -> None:
    event = _discharged(
        {
            "prescriber": "Dr Osei",
            "cosigned_by": "RN-CD",
            "cosigner_name": "Carla Diaz",
            "note": "reviewed, well",
        }
    )
    release = "Dr Osei's release (reviewed, well), co-signed by RN-CD (Carla Diaz)"
    assert describe(event, Audience.SCREEN) == f"Discharged on {release}"
    record = f"discharged on {release}"
    assert describe(event, Audience.CSV) == record
    assert describe(event, Audience.HL7) == record
    assert describe(event, Audience.PDF) == f"discharged on {release}"


def test_a_release_with_a_typed_co_signer_reads_as_it_always_did() -> None:
    """Its texts are the ones exports made before carry: they still verify."""
    event = _discharged({"prescriber": "Dr Osei", "cosigned_by": "CD", "note": "reviewed, well"})
    assert [describe(event, a) for a in (Audience.SCREEN, Audience.CSV, Audience.HL7, Audience.PDF)] == [
        "Discharged",
        "discharged",
        "discharged",
        "",
    ]
