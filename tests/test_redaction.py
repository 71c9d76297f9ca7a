from __future__ import annotations

import logging

import pytest

from app.redaction import MASK, Redactor, install, uninstall


@pytest.mark.parametrize(
    "text",
    [
        "patient_mrn=MRN-77 seen",
        "{'patient_mrn': 'MRN-77', 'chair': 'Chair 1'}",
        '{"patient_initials": "QZ"}',
        "MRN: MRN-77",
    ],
)
def test_values_beside_an_identifying_key_go(text: str) -> None:
    out = Redactor().redact(text)
    assert "MRN-77" not in out and "QZ" not in out and MASK in out


def test_known_identifiers_go_wherever_they_are_but_only_whole() -> None:
    redactor = Redactor()
    redactor.remember(["MRN-77", "QZ", "", "x"])
    assert redactor.redact("failed for MRN-77 (QZ) at QZX and MRN-770") == (
        f"failed for {MASK} ({MASK}) at QZX and MRN-770"
    )


def test_the_record_factory_redacts_messages_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    install()
    try:
        try:
            raise ValueError("patient_mrn=MRN-99")
        except ValueError:
            logging.getLogger("t").exception("while saving %s", {"patient_mrn": "MRN-99"})
    finally:
        uninstall()
    (record,) = caplog.records
    assert "MRN-99" not in record.getMessage() and "MRN-99" not in (record.exc_text or "")
    assert "ValueError" in (record.exc_text or "")
