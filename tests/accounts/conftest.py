"""Accounts on a real station database. PIN hashing uses real scrypt at a lower cost than the shipped
policy (resources/accounts.toml), so that a test signs in in milliseconds; one test checks the shipped cost."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.accounts.settings import AccountSettings, ScryptCost
from app.accounts.store import AccountStore
from app.store.journal import Journal

FAST = replace(AccountSettings.load(), pin_cost=ScryptCost(2**10, 8, 1))


@pytest.fixture
def settings() -> AccountSettings:
    return FAST


@pytest.fixture
def accounts(journal: Journal, settings: AccountSettings) -> AccountStore:
    return AccountStore(journal, settings)
