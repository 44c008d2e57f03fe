"""Finding the accounts that belong to a village or a household."""

from __future__ import annotations

from sqlalchemy import and_, bindparam, or_
from sqlmodel import Session, col, select

from ledger.journal.errors import AccountNotFound
from ledger.journal.models import Account, AccountKind


def of_household(session: Session, household_id: int, kind: AccountKind = AccountKind.HOUSEHOLD) -> Account:
    """A household's settled points account, or (kind=NOTICE) its account of points in notice."""
    account = session.exec(select(Account).where(Account.household_id == household_id, Account.kind == kind)).first()
    if account is None:
        raise AccountNotFound(f"This household has no {kind.value} account.", household_id=household_id)
    return account


def of_village(session: Session, village_id: int, kind: AccountKind) -> Account:
    account = session.exec(
        select(Account).where(
            col(Account.village_id) == village_id, col(Account.kind) == kind, col(Account.partner_id).is_(None)
        )
    ).first()
    if account is None:
        raise AccountNotFound(f"This village has no {kind.value} account.", village_id=village_id)
    return account


_ISSUANCE_AND_NOTICE = select(Account.id, Account.kind).where(
    or_(
        and_(
            col(Account.village_id) == bindparam("village_id"),
            col(Account.kind) == AccountKind.ISSUANCE,
            col(Account.partner_id).is_(None),
        ),
        and_(col(Account.household_id) == bindparam("household_id"), col(Account.kind) == AccountKind.NOTICE),
    )
)


def issuance_and_notice(session: Session, *, village_id: int, household_id: int) -> tuple[int, int]:
    """The village's issuance account and the household's notice account: where a claim's points come from and
    where they wait while in notice (one query; every claim asks)."""
    if session.new:  # accounts this unit of work made and has not written yet
        session.flush()
    found = {
        kind: account_id
        for account_id, kind in session.connection().execute(
            _ISSUANCE_AND_NOTICE, {"village_id": village_id, "household_id": household_id}
        )
    }
    if AccountKind.ISSUANCE not in found or AccountKind.NOTICE not in found:
        raise AccountNotFound(
            "The village or the household lacks an account.", village_id=village_id, household_id=household_id
        )
    return found[AccountKind.ISSUANCE], found[AccountKind.NOTICE]
