"""The chain hash is SHA-256 of the entry's canonical JSON array, whichever way the array is written."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.store.journal import canonical_json, chain_hash, row_hash

FIXTURES = Path(__file__).parents[1]  # tests/: store/fixtures, domain/fixtures

_texts = st.text(st.characters(exclude_categories=("Cs",)))  # what SQLite can hold (no lone surrogates)
_numbers = st.integers(min_value=0, max_value=2**63 - 1)


@given(st.tuples(_texts, _numbers, _texts, _numbers, _texts, _texts, _texts, _texts, _texts))
def test_the_chain_hash_is_the_hash_of_the_canonical_array(
    fields: tuple[str, int, str, int, str, str, str, str, str],
) -> None:
    material = canonical_json(list(fields))
    assert chain_hash(*fields) == hashlib.sha256(material.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(
    "path",
    [
        *sorted((FIXTURES / "store" / "fixtures").glob("journal-*.db")),
        FIXTURES / "domain" / "fixtures" / "journal_before_typed_events.db",
    ],
)
def test_every_entry_an_earlier_version_wrote_keeps_its_hash(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    conn.row_factory = sqlite3.Row
    rows = conn.execute("SELECT * FROM events ORDER BY position").fetchall()
    conn.close()
    assert rows
    assert [row_hash(row) for row in rows] == [row["hash"] for row in rows]
