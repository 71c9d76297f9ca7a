"""Who may do what, checked where the action happens (the station core calls this; no Qt here).

`protected_actions` names what a chair command asks for; `authorize` lets it through for someone whose
role allows it, or for a nurse with a co-signer who holds the role (two-person sign-off), and refuses
everyone else with a sentence that says who may do it. A co-signed entry carries both identities.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.accounts.roles import Action, Role, minimum_role
from app.accounts.store import Account, AccountStore
from app.domain.chair import ChairState
from app.domain.commands import Command, Correct, Discontinue, HandOver, ReleaseCosigner
from app.domain.decide import CommandRefused, GuardFailure
from app.domain.events import SignOff


class NotPermitted(CommandRefused):
    """The person signed in may not do this alone; `needed` is the role that may (or may co-sign)."""

    def __init__(self, actions: list[Action], needed: Role, who: Account | None) -> None:
        what = " and ".join(a.label for a in actions)
        if who is None:
            text = "Nobody is signed in: sign in first"
        else:
            text = (
                f"{who.id} ({who.role.label}) may not {what} alone: a {needed.label} must do it, "
                f"or sign for it here"
            )
        super().__init__([GuardFailure("needs_role", text)], overridable=False)
        self.actions = actions
        self.needed = needed
        self.who = who


def protected_actions(command: Command, state: ChairState | None, actor: str) -> list[Action]:
    """Every protected action in this command (a chair entry, plus whatever it goes beyond)."""
    actions = [Action.CHAIR_ENTRY]
    if getattr(command, "override", None) is not None:
        actions.append(Action.OVERRIDE_GUARD)
    if isinstance(command, Discontinue):
        actions.append(Action.DISCONTINUE)
    if isinstance(command, HandOver):
        actions.append(Action.HAND_OVER)
    if isinstance(command, Correct) and state is not None:
        target = state.event(command.target_seq)
        if target is not None and target.actor.casefold() != actor.casefold():
            actions.append(Action.CORRECT_OTHERS_ENTRY)
    return actions


def authorize(
    who: Account | None, actions: Iterable[Action], cosigner: Account | None = None
) -> SignOff | None:
    """Nothing extra when `who` may do all of `actions`; the sign-off record for the entry when a
    co-signer makes up for it; NotPermitted otherwise."""
    wanted = list(actions)
    if who is None:
        raise NotPermitted(wanted, max((minimum_role(a) for a in wanted), default=Role.NURSE), None)
    beyond = [a for a in wanted if who.role < minimum_role(a)]
    if not beyond:
        return None
    needed = max(minimum_role(a) for a in beyond)
    if cosigner is None or cosigner.role < needed or cosigner.disabled or cosigner.id == who.id:
        raise NotPermitted(beyond, needed, who)
    return SignOff(by=who.id, cosigned_by=cosigner.id, cosigned_for=tuple(str(a) for a in beyond))


def release_cosigner(accounts: AccountStore, account_id: str) -> ReleaseCosigner:
    """The account `account_id` as the co-signer of a prescriber's release, as the station's accounts
    hold it now (disabled since signing in? it says so); `decide` judges it (release_cosigner_refusal)."""
    account = accounts.get(account_id)
    if account is None:
        return ReleaseCosigner(account=account_id.strip(), name="", role="", nurse=False, active=False)
    return ReleaseCosigner(
        account=account.id,
        name=account.name,
        role=account.role.label,
        nurse=account.role.is_nurse,
        active=not account.disabled,
    )
