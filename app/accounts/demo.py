"""The demo's own accounts (a demo never signs in with a real person's account)."""

from __future__ import annotations

from app.accounts.roles import Role
from app.accounts.store import AccountStore

# ID, name, role, PIN, badge. Printed when the demo starts: these are not secrets.
DEMO_ACCOUNTS: tuple[tuple[str, str, Role, str, str], ...] = (
    ("RN-AB", "Alice Brown (demo)", Role.NURSE, "111111", "DEMO-BADGE-1"),
    ("CN-EF", "Eve Fox (demo)", Role.CHARGE, "222222", "DEMO-BADGE-2"),
    ("ADM-1", "Ann Admin (demo)", Role.ADMIN, "333333", "DEMO-BADGE-3"),
)
DEMO_NURSE = DEMO_ACCOUNTS[0][0]


def ensure_demo_accounts(store: AccountStore) -> list[str]:
    """Add the demo accounts to a database that has no accounts yet (or only the demo's). Returns
    the lines to print; a database with real accounts is left alone."""
    demo_ids = {a[0] for a in DEMO_ACCOUNTS}
    existing = {a.id for a in store.accounts()}
    if existing - demo_ids:
        return ["this database has real accounts: the demo adds none (sign in with yours)"]
    lines = ["demo accounts (ID / role / PIN / badge):"]
    for account_id, name, role, pin, badge in DEMO_ACCOUNTS:
        if account_id not in existing:
            store.add(account_id, name, role, pin, badge, by="demo")
        lines.append(f"  {account_id:<6} {role.label:<14} PIN {pin}  badge {badge}")
    return lines
