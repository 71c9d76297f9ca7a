"""Strict structural validation of our HL7 with hl7apy (used by the tests and `verify`, not on the
export's fast path).

IHE PCD TF-2 defines `ORU^R40^ORU_R40` (ACM) with the segment structure of ORU_R01; hl7apy's v2.6
tables have no ORU_R40, so an R40 message is checked against the ORU_R01 structure.
"""

from __future__ import annotations

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_message


def parse_validated(er7: str) -> Message:
    """Parse with hl7apy at the strict level and validate against the v2.6 structure."""
    body = er7.rstrip("\r")
    if "|ORU^R40^ORU_R40|" in body.split("\r", 1)[0]:
        body = body.replace("|ORU^R40^ORU_R40|", "|ORU^R40^ORU_R01|", 1)
    message = parse_message(body, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    message.validate()
    return message
