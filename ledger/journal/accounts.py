"""Finding the accounts that belong to a village or a household."""

from __future__ import annotations

from sqlmodel import Session, select

from ledger.journal.errors import AccountNotFound
from ledger.journal.models import Account, AccountKind


def of_household(session: Session, household_id: int, kind: AccountKind = AccountKind.HOUSEHOLD) -> Account:
    """A household's settled points account, or (kind=NOTICE) its account of points in notice."""
    account = session.exec(
        select(Account).where(Account.household_id == household_id, Account.kind == kind)
    ).first()
    if account is None:
        raise AccountNotFound(f"This household has no {kind.value} account.", household_id=household_id)
    return account


def of_village(session: Session, village_id: int, kind: AccountKind) -> Account:
    account = session.exec(
        select(Account).where(Account.village_id == village_id, Account.kind == kind, Account.partner_id.is_(None))  # type: ignore[union-attr]
    ).first()
    if account is None:
        raise AccountNotFound(f"This village has no {kind.value} account.", village_id=village_id)
    return account
