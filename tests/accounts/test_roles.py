"""Each role against each protected action, through the real FloorController, Floor and a real file."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from app.accounts.authority import NotPermitted
from app.accounts.roles import POLICY, Action, Role
from app.accounts.store import AccountStore
from app.chairs import FloorController
from app.domain.clock import ManualClock
from app.domain.commands import (
    Correct,
    Discontinue,
    GivePremedication,
    HandOver,
    Override,
    RecordScreening,
    RecordVitals,
    StartInfusion,
)
from app.domain.decide import CommandRefused
from app.floor import Floor
from tests.ui.helpers import check_in_command

PIN = "482913"
PEOPLE = {Role.NURSE: "RN-AB", Role.CHARGE: "CN-EF", Role.ADMIN: "ADM-1"}


@pytest.fixture
def station(floor: Floor, clock: ManualClock, accounts: AccountStore) -> FloorController:
    for role, account_id in PEOPLE.items():
        accounts.add(account_id, f"{role.label} one", role, PIN, by="cli")
    accounts.add("RN-GH", "Gina Hall", Role.NURSE, PIN, by="cli")
    return FloorController(floor, 2, clock, accounts=accounts)


def _checked_in(station: FloorController, clock: ManualClock, by: str = "RN-GH") -> None:
    station.set_nurse(by)
    chair = station.chair(1)
    chair.check_in(check_in_command(chair.name, clock))


def _attempt(station: FloorController, clock: ManualClock, action: Action) -> None:
    """The action done the way the station does it."""
    chair = station.chair(1)
    state = chair.state
    assert state is not None and state.protocol is not None
    if action is Action.CHAIR_ENTRY:
        chair.execute(RecordVitals({"heart_rate_bpm": 72}))
    elif action is Action.OVERRIDE_GUARD:
        answers = {i.id: i.acceptable_answer for i in state.protocol.screening}
        chair.execute(RecordScreening(answers, override=Override(station.nurse, "prescriber approved")))
    elif action is Action.CORRECT_OTHERS_ENTRY:
        chair.execute(Correct(1, "lot number misread", {"bag_lot": "LOT-H1235"}))  # the check-in, by RN-GH
    elif action is Action.DISCONTINUE:
        chair.execute(Discontinue("patient declined"))
    elif action is Action.HAND_OVER:
        chair.execute(HandOver("RN-AB", "break"))
    else:  # acknowledging escalations, exporting, editing configuration/pumps/accounts
        station.authorize([action])


@pytest.mark.parametrize("action", list(POLICY))
@pytest.mark.parametrize("role", list(Role))
def test_each_role_against_each_protected_action(
    qtbot: QtBot, station: FloorController, clock: ManualClock, role: Role, action: Action
) -> None:
    _checked_in(station, clock)
    station.set_nurse(PEOPLE[role])
    journal = station.floor.journal
    before = journal.head()
    if role >= POLICY[action]:
        _attempt(station, clock, action)
        if action in (
            Action.CHAIR_ENTRY,
            Action.OVERRIDE_GUARD,
            Action.CORRECT_OTHERS_ENTRY,
            Action.DISCONTINUE,
            Action.HAND_OVER,
        ):
            last = list(journal.entries())[-1]
            assert last.actor == PEOPLE[role] and "cosigned_by" not in last.payload
    else:
        with pytest.raises(NotPermitted) as refused:
            _attempt(station, clock, action)
        assert f"{PEOPLE[role]} ({role.label}) may not {action.label} alone" in str(refused.value)
        assert f"a {POLICY[action].label} must do it, or sign for it here" in str(refused.value)
        assert journal.head() == before  # nothing recorded


def test_a_nurse_corrects_her_own_entry_alone(station: FloorController, clock: ManualClock) -> None:
    _checked_in(station, clock, by="RN-AB")
    station.chair(1).execute(Correct(1, "lot number misread", {"bag_lot": "LOT-H1235"}))


def test_two_person_sign_off_records_both_identities(station: FloorController, clock: ManualClock) -> None:
    _checked_in(station, clock, by="RN-AB")
    chair = station.chair(1)
    accounts = station.accounts
    assert accounts is not None
    with pytest.raises(NotPermitted):
        chair.execute(Discontinue("patient declined"))
    charge = accounts.sign_in(
        "CN-EF", PIN, purpose="co-sign"
    )  # the charge nurse types her PIN at the station
    chair.execute(Discontinue("patient declined"), cosigner=charge)
    last = list(station.floor.journal.entries())[-1]
    assert last.type == "discontinued" and last.actor == "RN-AB"
    assert (last.payload["by"], last.payload["cosigned_by"], last.payload["cosigned_for"]) == (
        "RN-AB",
        "CN-EF",
        ["discontinue"],
    )
    assert station.floor.journal.verify().intact


@pytest.mark.parametrize("cosigner", ["RN-GH", "RN-AB"])
def test_a_co_signer_without_the_role_or_oneself_does_not_count(
    station: FloorController, clock: ManualClock, cosigner: str
) -> None:
    _checked_in(station, clock, by="RN-AB")
    accounts = station.accounts
    assert accounts is not None
    with pytest.raises(NotPermitted, match="a charge nurse must do it"):
        station.chair(1).execute(Discontinue("patient declined"), cosigner=accounts.require(cosigner))


def test_nobody_signed_in_records_nothing(station: FloorController, clock: ManualClock) -> None:
    chair = station.chair(1)
    with pytest.raises(CommandRefused, match="Nobody is signed in"):
        chair.check_in(check_in_command(chair.name, clock))
    assert station.floor.journal.session_ids() == []


def test_entries_are_signed_by_the_signed_in_account(station: FloorController, clock: ManualClock) -> None:
    accounts = station.accounts
    assert accounts is not None
    station.sign_in(accounts.sign_in("RN-AB", PIN))
    chair = station.chair(1)
    chair.check_in(check_in_command(chair.name, clock))
    assert station.nurse == "RN-AB"
    assert [e.actor for e in station.floor.journal.entries() if e.type == "checked_in"] == ["RN-AB"]
    station.sign_out()
    assert station.nurse == ""
    with pytest.raises(CommandRefused, match="Nobody is signed in"):
        chair.execute(RecordVitals({"heart_rate_bpm": 72}))


def _escalated_alarm(station: FloorController, clock: ManualClock) -> str:
    """Chair 1 infusing (no pump), its step-up missed until the reminder escalates to the charge nurse."""
    _checked_in(station, clock, by="RN-AB")
    chair = station.chair(1)
    state = chair.state
    assert state is not None and state.protocol is not None
    chair.execute(RecordVitals({"systolic_mmhg": 124, "heart_rate_bpm": 72}))  # baseline
    chair.execute(RecordScreening({i.id: i.acceptable_answer for i in state.protocol.screening}))
    for premed in state.protocol.premedications:
        chair.execute(GivePremedication(premed.drug, premed.suggested_dose, premed.suggested_route))
    clock.advance(minutes=31)
    chair.execute(StartInfusion())
    while not chair.escalated_alarms():
        clock.advance(minutes=1)
        station.tick()
    return chair.escalated_alarms()[0].id


def test_an_escalated_alarm_needs_the_charge_nurse(station: FloorController, clock: ManualClock) -> None:
    alarm_id = _escalated_alarm(station, clock)
    chair = station.chair(1)
    with pytest.raises(NotPermitted, match="may not acknowledge an escalated alarm alone"):
        chair.acknowledge(alarm_id)
    assert not chair.active_alarms[0].acknowledged
    accounts = station.accounts
    assert accounts is not None
    chair.acknowledge(alarm_id, cosigner=accounts.sign_in("CN-EF", PIN, purpose="co-sign"))
    acked = [e for e in station.floor.journal.entries() if e.type == "alarm_acknowledged"]
    assert [(e.actor, e.payload["cosigned_by"]) for e in acked] == [("RN-AB", "CN-EF")]


def test_the_charge_nurse_acknowledges_an_escalated_alarm_alone(
    station: FloorController, clock: ManualClock
) -> None:
    alarm_id = _escalated_alarm(station, clock)
    station.set_nurse("CN-EF")
    station.chair(1).acknowledge(alarm_id)
    acked = [e for e in station.floor.journal.entries() if e.type == "alarm_acknowledged"]
    assert [e.actor for e in acked] == ["CN-EF"] and "cosigned_by" not in acked[0].payload
