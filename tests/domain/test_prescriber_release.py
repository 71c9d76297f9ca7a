"""After anaphylaxis, discharge before the extended observation only on a prescriber's documented
release, co-signed by a second nurse who signed in at the station: the rule in `decide`, driven through
the real Floor and journal."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.commands import (
    Discharge,
    PrescriberRelease,
    RecordReaction,
    RecordVitals,
    ReleaseCosigner,
    ResolveSymptoms,
)
from app.domain.decide import PRESCRIBER_MAX_CHARS, CommandRefused
from app.domain.phase import Phase
from tests.conftest import BASELINE_VITALS, ChairScript

SECOND_NURSE = ReleaseCosigner(account="RN-CD", name="Carla Diaz", role="nurse", nurse=True, active=True)


def ready_for_an_early_discharge(s: ChairScript) -> None:
    """Grade 4 at 50 min, resolved, vitals after: only the anaphylaxis observation holds the patient."""
    s.to_infusing("ocrevus-600-subsequent")
    s.clock.advance(minutes=50)
    s.run(RecordReaction(grade=4, signs=("stridor", "hypotension")))
    s.clock.advance(minutes=15)
    s.run(ResolveSymptoms())
    s.run(RecordVitals(dict(BASELINE_VITALS)))
    s.clock.advance(minutes=90)


def refusal(s: ChairScript, release: PrescriberRelease) -> tuple[str, str]:
    with pytest.raises(CommandRefused) as caught:
        s.run(Discharge(release=release))
    assert not caught.value.overridable
    ((failure),) = caught.value.failures
    assert "\n" not in failure.message  # one clear line
    return failure.code, failure.message


@pytest.mark.parametrize(
    ("cosigner", "says"),
    [
        (None, "the second nurse signs in (badge or ID, and PIN) to co-sign"),
        (
            ReleaseCosigner(account="rn-ab", name="Ann Bell", role="nurse", nurse=True, active=True),
            "rn-ab is the nurse recording the discharge: a second nurse co-signs",
        ),
        (
            ReleaseCosigner(account="RN-ZZ", name="", role="", nurse=False, active=False),
            "there is no account RN-ZZ at this station: a second nurse co-signs",
        ),
        (
            ReleaseCosigner(account="RN-CD", name="Carla Diaz", role="nurse", nurse=True, active=False),
            "the account RN-CD is disabled: a second nurse co-signs",
        ),
        (
            ReleaseCosigner(
                account="ADM-1", name="Ann Admin", role="administrator", nurse=False, active=True
            ),
            "ADM-1 (administrator) is not a nurse: a second nurse co-signs",
        ),
    ],
    ids=["nobody", "the same nurse", "unknown account", "disabled account", "not a nurse"],
)
def test_the_release_is_co_signed_by_a_second_nurse_account(
    chair_script: ChairScript, cosigner: ReleaseCosigner | None, says: str
) -> None:
    s = chair_script
    ready_for_an_early_discharge(s)
    code, message = refusal(s, PrescriberRelease("Dr Osei", cosigner, "reviewed, well"))
    assert code == "release_not_co_signed"
    assert says in message
    assert s.state.phase is Phase.OBSERVATION  # nothing recorded


def test_the_co_signers_account_is_recorded_with_the_release(chair_script: ChairScript) -> None:
    s = chair_script
    ready_for_an_early_discharge(s)
    state = s.run(Discharge(release=PrescriberRelease(" Dr Osei ", SECOND_NURSE, "reviewed, well")))
    assert state.phase is Phase.DISCHARGED
    assert state.events[-1].data["prescriber_release"] == {
        "prescriber": "Dr Osei",
        "cosigned_by": "RN-CD",
        "cosigner_name": "Carla Diaz",
        "note": "reviewed, well",
    }


@pytest.mark.parametrize(
    ("prescriber", "says"),
    [
        ("  ", "name the prescriber"),
        (
            "Dr " + "O" * PRESCRIBER_MAX_CHARS,
            f"the prescriber's name is at most {PRESCRIBER_MAX_CHARS} characters",
        ),
    ],
    ids=["empty", "too long"],
)
def test_the_prescriber_is_named_within_bounds(chair_script: ChairScript, prescriber: str, says: str) -> None:
    s = chair_script
    ready_for_an_early_discharge(s)
    code, message = refusal(s, PrescriberRelease(prescriber, SECOND_NURSE, "reviewed, well"))
    assert code == "release_incomplete" and says in message
    assert s.state.phase is Phase.OBSERVATION


def test_a_charge_nurse_may_co_sign(chair_script: Any) -> None:
    s = chair_script
    ready_for_an_early_discharge(s)
    charge = ReleaseCosigner(account="CN-EF", name="Eve Fox", role="charge nurse", nurse=True, active=True)
    state = s.run(Discharge(release=PrescriberRelease("Dr Osei", charge, "reviewed")))
    assert state.events[-1].data["prescriber_release"]["cosigned_by"] == "CN-EF"


def test_a_release_given_once_the_observation_is_over_is_judged_all_the_same(
    chair_script: ChairScript,
) -> None:
    """What the entry would record as a co-signed release is never recorded unchecked."""
    s = chair_script
    ready_for_an_early_discharge(s)
    until = s.state.anaphylaxis_observation_until
    assert until is not None
    s.clock.set(until)
    nobody = PrescriberRelease("Dr Osei", None, "reviewed")
    assert refusal(s, nobody)[0] == "release_not_co_signed"
    state = s.run(Discharge())
    assert state.phase is Phase.DISCHARGED and "prescriber_release" not in state.events[-1].data
