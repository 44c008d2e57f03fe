"""A household's points: balance (settled, in notice, held, earned), a past balance, and the statement."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlmodel import Session, select

from api.deps import KeysDep, SessionDep, SettingsDep, allow
from api.schemas import BalanceAsOfOut, BalanceOut, EntryOut, StatementOut
from api.schemas.claims import HouseholdCardIn, HouseholdCardOut
from ledger.activities import codes, render
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.journal import accounts, queries
from ledger.journal.models import AccountKind
from ledger.tenancy import Household, HouseholdNotFound, Person, Village

router = APIRouter(prefix="/api/v1/households", tags=["households"])
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]


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
    notice = queries.balance(session, accounts.of_household(session, household_id, AccountKind.NOTICE).id)  # type: ignore[arg-type]
    return BalanceOut(
        household_id=household_id,
        posted=b.posted,
        in_notice=notice.posted,
        pending_in=b.pending_credit + notice.pending_credit,
        held=b.pending_debit,
        available=b.available,
        earned=b.earned + notice.earned,
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


Staff = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]


def _managed_household(session: Session, who: Principal, household_id: int) -> Household:
    household = session.get(Household, household_id)
    if household is None or not who.manages_village(household.village_id, household.county_id):
        raise HouseholdNotFound("No such household in your villages.", household_id=household_id)
    return household


@router.get("/{household_id}/card.svg", response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
def household_card(
    household_id: int, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Staff
) -> Response:
    """The household's printable card; scanning its QR code in the official console picks the household for a
    proxy claim."""
    household = _managed_household(session, who, household_id)
    village = session.get(Village, household.village_id)
    assert village is not None
    token = codes.sign_household(keys, household_id=household_id)
    url = f"{settings.base_url.rstrip('/')}/h/{token}"
    svg = render.household_card_svg(
        url=url,
        household=household.name,
        house_number=household.house_number,
        village=village.name,
        code=household.code,
    )
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@router.post("/lookup-card", response_model=HouseholdCardOut)
def lookup_card(
    body: HouseholdCardIn, session: SessionDep, keys: KeysDep, who: Staff, response: Response
) -> HouseholdCardOut:
    """The household behind a scanned card, with its members, for entering a proxy claim."""
    card = codes.read(keys, codes.scanned(body.token))
    if not isinstance(card, codes.HouseholdCard):
        raise codes.CodeInvalid("This is not a household card.", field="token")
    household = _managed_household(session, who, card.household_id)
    members = session.scalars(select(Person).where(Person.household_id == household.id).order_by(Person.id)).all()
    response.headers["Cache-Control"] = "no-store"
    return HouseholdCardOut(
        household_id=household.id,
        code=household.code,
        name=household.name,  # type: ignore[arg-type]
        house_number=household.house_number,
        members=[{"person_id": m.id, "name": m.name, "head": m.is_head} for m in members],
    )
