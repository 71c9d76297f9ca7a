"""Roles and the one table of protected actions: which role is needed for what."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Role(IntEnum):
    """Ordered: a role may do everything the roles below it may."""

    NURSE = 1
    CHARGE = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return {Role.NURSE: "nurse", Role.CHARGE: "charge nurse", Role.ADMIN: "administrator"}[self]

    @property
    def is_nurse(self) -> bool:
        """A nurse's role (a nurse or a charge nurse): who may co-sign at the bedside. An administrator
        runs the station and is not one by that role."""
        return self in (Role.NURSE, Role.CHARGE)

    @property
    def key(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = "|".join(r.key for r in cls)
            raise ValueError(f"unknown role {text!r}: use one of {names}") from None


class Action(StrEnum):
    CHAIR_ENTRY = "chair_entry"
    OVERRIDE_GUARD = "override_guard"
    CORRECT_OTHERS_ENTRY = "correct_others_entry"
    DISCONTINUE = "discontinue"
    ACKNOWLEDGE_ESCALATION = "acknowledge_escalation"
    HAND_OVER = "hand_over"
    EXPORT = "export"
    EDIT_CONFIGURATION = "edit_configuration"
    EDIT_PUMPS = "edit_pumps"
    EDIT_ACCOUNTS = "edit_accounts"

    @property
    def label(self) -> str:
        return _LABELS[self]


# The one policy table: protected action -> the least role that may do it alone. Anything above a
# nurse can also be done by a nurse with a sign-off from someone who holds the role (two-person rule).
POLICY: dict[Action, Role] = {
    Action.CHAIR_ENTRY: Role.NURSE,
    Action.OVERRIDE_GUARD: Role.CHARGE,
    Action.CORRECT_OTHERS_ENTRY: Role.CHARGE,
    Action.DISCONTINUE: Role.CHARGE,
    Action.ACKNOWLEDGE_ESCALATION: Role.CHARGE,
    Action.HAND_OVER: Role.CHARGE,
    Action.EXPORT: Role.CHARGE,
    Action.EDIT_CONFIGURATION: Role.ADMIN,
    Action.EDIT_PUMPS: Role.ADMIN,
    Action.EDIT_ACCOUNTS: Role.ADMIN,
}

_LABELS = {
    Action.CHAIR_ENTRY: "make a chair entry",
    Action.OVERRIDE_GUARD: "override a guard",
    Action.CORRECT_OTHERS_ENTRY: "correct another nurse's entry",
    Action.DISCONTINUE: "discontinue a protocol",
    Action.ACKNOWLEDGE_ESCALATION: "acknowledge an escalated alarm",
    Action.HAND_OVER: "hand over",
    Action.EXPORT: "export the shift log",
    Action.EDIT_CONFIGURATION: "edit the station configuration",
    Action.EDIT_PUMPS: "edit the pumps",
    Action.EDIT_ACCOUNTS: "edit the accounts",
}


def minimum_role(action: Action) -> Role:
    return POLICY[action]


def allows(role: Role, action: Action) -> bool:
    return role >= POLICY[action]
