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


DEMO_MARK = "(demo)"
EXTRA_NURSE_PIN = "444444"


def ensure_demo_accounts(store: AccountStore, nurse: str | None = None) -> list[str]:
    """Add the demo accounts (and `nurse`, the demo's --nurse, when it is not one of them) to a database
    that has no accounts yet, or only demo ones. Returns the lines to print; a database with real
    accounts is left alone."""
    existing = store.accounts()
    if any(not a.name.endswith(DEMO_MARK) for a in existing):
        return ["this database has real accounts: the demo adds none (sign in with yours)"]
    known = {a.id.casefold() for a in existing}
    wanted = list(DEMO_ACCOUNTS)
    if nurse and nurse.strip().casefold() not in {a[0].casefold() for a in wanted}:
        wanted.append(
            (nurse.strip(), f"Demo nurse {nurse.strip()} {DEMO_MARK}", Role.NURSE, EXTRA_NURSE_PIN, "")
        )
    lines = ["demo accounts (ID / role / PIN / badge):"]
    for account_id, name, role, pin, badge in wanted:
        if account_id.casefold() not in known:
            store.add(account_id, name, role, pin, badge or None, by="demo")
        lines.append(f"  {account_id:<6} {role.label:<14} PIN {pin}  badge {badge or '-'}")
    return lines
