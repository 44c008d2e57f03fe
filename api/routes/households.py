"""A household's points: balance (settled, in notice, held, earned), a past balance, and the statement."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import Session

from api.deps import SessionDep, allow
from api.schemas import BalanceAsOfOut, BalanceOut, EntryOut, StatementOut
from ledger.errors import NotFound
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.journal import accounts, queries
from ledger.tenancy import Household

router = APIRouter(prefix="/api/v1/households", tags=["households"])
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]


class HouseholdNotFound(NotFound):
    code = "household_not_found"


def visible_household(session: Session, principal: Principal, household_id: int) -> Household:
    """The household, if this caller may see it. Someone else's household looks exactly like a missing one."""
    household = session.get(Household, household_id)
    if household is None or not principal.sees_household(household):
        raise HouseholdNotFound("No such household, or it is not yours to see.", household_id=household_id)
    return household


@router.get("/{household_id}/balance", response_model=BalanceOut | BalanceAsOfOut)
def balance(
    household_id: int,
    session: SessionDep,
    principal: Reader,
    as_of: Annotated[datetime | None, Query(description="Posted balance as it stood at this moment.")] = None,
) -> BalanceOut | BalanceAsOfOut:
    visible_household(session, principal, household_id)
    account = accounts.of_household(session, household_id)
    assert account.id is not None
    if as_of is not None:
        return BalanceAsOfOut(
            household_id=household_id, as_of=as_of, posted=queries.posted_as_of(session, account.id, as_of)
        )
    b = queries.balance(session, account.id)
    return BalanceOut(
        household_id=household_id,
        posted=b.posted,
        pending_in=b.pending_credit,
        held=b.pending_debit,
        available=b.available,
        earned=b.earned,
    )


@router.get("/{household_id}/statement", response_model=StatementOut)
def statement(
    household_id: int,
    session: SessionDep,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    status: queries.Status | None = None,
) -> StatementOut:
    """Newest first; follow `next_cursor` for older entries."""
    visible_household(session, principal, household_id)
    account = accounts.of_household(session, household_id)
    assert account.id is not None
    page = queries.statement(
        session, account.id, limit=limit, cursor=cursor, since=since, until=until, reason=reason, status=status
    )
    return StatementOut(
        household_id=household_id,
        entries=[EntryOut.model_validate(e, from_attributes=True) for e in page.entries],
        next_cursor=page.next_cursor,
    )
