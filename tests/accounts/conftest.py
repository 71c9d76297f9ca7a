from __future__ import annotations

import pytest

from app.accounts.settings import AccountSettings
from app.accounts.store import AccountStore
from app.store.journal import Journal
from tests.accounts.support import FAST


@pytest.fixture
def settings() -> AccountSettings:
    return FAST


@pytest.fixture
def accounts(journal: Journal, settings: AccountSettings) -> AccountStore:
    return AccountStore(journal, settings)
