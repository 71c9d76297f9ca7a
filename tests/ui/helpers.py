"""Shared builders for the UI tests."""

from __future__ import annotations

from datetime import date, timedelta

from app.domain.clock import ManualClock
from app.domain.commands import CheckIn


def check_in_command(chair: str, clock: ManualClock, protocol_id: str = "ocrevus-600-subsequent") -> CheckIn:
    return CheckIn(
        chair=chair,
        patient_mrn="MRN-0042",
        patient_initials="JD",
        protocol_id=protocol_id,
        bag_volume_ml=500.0,
        bag_lot="LOT-H1234",
        bag_expiry=date(2027, 6, 30),
        bag_prepared_at=clock.now() - timedelta(minutes=20),
        prior_infusions=2,
        prior_serious_reaction=False,
        last_dose_on=(clock.now() - timedelta(days=182)).date(),
    )
