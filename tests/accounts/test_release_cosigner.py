"""A prescriber's release is co-signed by an account: what the station's accounts say about it, read
from the real store at the moment it is asked (a real SQLite file)."""

from __future__ import annotations

import pytest

from app.accounts.authority import release_cosigner
from app.accounts.roles import Role
from app.accounts.store import AccountStore
from app.domain.commands import ReleaseCosigner
from app.domain.decide import release_cosigner_refusal
from tests.accounts.support import PIN


@pytest.fixture
def people(accounts: AccountStore) -> AccountStore:
    accounts.add("ADM-1", "Ann Admin", Role.ADMIN, PIN, by="cli")
    accounts.add("RN-AB", "Ann Bell", Role.NURSE, PIN, by="ADM-1")
    accounts.add("RN-CD", "Carla Diaz", Role.NURSE, PIN, by="ADM-1")
    accounts.add("CN-EF", "Eve Fox", Role.CHARGE, PIN, by="ADM-1")
    return accounts


def test_nurses_and_charge_nurses_are_nurses_an_administrator_is_not() -> None:
    assert [r for r in Role if r.is_nurse] == [Role.NURSE, Role.CHARGE]


def test_the_co_signer_is_read_from_the_accounts(people: AccountStore) -> None:
    assert release_cosigner(people, "RN-CD") == ReleaseCosigner("RN-CD", "Carla Diaz", "nurse", True, True)
    assert release_cosigner(people, "CN-EF") == ReleaseCosigner(
        "CN-EF", "Eve Fox", "charge nurse", True, True
    )
    assert release_cosigner(people, "ADM-1") == ReleaseCosigner(
        "ADM-1", "Ann Admin", "administrator", False, True
    )
    assert release_cosigner(people, " RN-ZZ ") == ReleaseCosigner("RN-ZZ", "", "", False, False)


def test_an_account_disabled_after_signing_in_no_longer_co_signs(people: AccountStore) -> None:
    assert release_cosigner_refusal(release_cosigner(people, "RN-CD"), "RN-AB") is None
    people.disable("RN-CD", by="ADM-1")
    refusal = release_cosigner_refusal(release_cosigner(people, "RN-CD"), "RN-AB")
    assert refusal is not None and refusal.message == "the account RN-CD is disabled: a second nurse co-signs"
