"""A household's points: balance (settled, in notice, held, earned), a past balance, and the statement."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import KeysDep, Lang, SessionDep, SettingsDep, allow
from api.paging import link_next
from api.presentation.households import balance_out, card_out, card_svg, statement_out
from api.schemas import BalanceAsOfOut, BalanceOut, StatementOut
from api.schemas.claims import HouseholdCardIn, HouseholdCardOut
from ledger.activities import codes
from ledger.identity.models import Role
from ledger.identity.principal import Principal, managed_household, visible_household
from ledger.journal import queries

router = APIRouter(prefix="/api/v1/households", tags=["households"])
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]


@router.get("/{household_id}/balance", response_model=BalanceOut | BalanceAsOfOut)
def balance(
    household_id: int,
    session: SessionDep,
    principal: Reader,
    as_of: Annotated[datetime | None, Query(description="Posted balance as it stood at this moment.")] = None,
) -> BalanceOut | BalanceAsOfOut:
    visible_household(session, principal, household_id)
    return balance_out(session, household_id, as_of)


@router.get("/{household_id}/statement", response_model=StatementOut)
def statement(
    household_id: int,
    session: SessionDep,
    principal: Reader,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    status: queries.Status | None = None,
) -> StatementOut:
    """Newest first; follow `next_cursor` (or the `Link` header) for older entries."""
    visible_household(session, principal, household_id)
    statement = statement_out(
        session, household_id, limit=limit, cursor=cursor, since=since, until=until, reason=reason, status=status
    )
    link_next(request, response, statement.next_cursor)
    return statement


Staff = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]


@router.get("/{household_id}/card.svg", response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
def household_card(
    household_id: int, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Staff, lang: Lang = "zh_CN"
) -> Response:
    """The household's printable card, in one language (`lang`); scanning its QR code in the official console
    picks the household for a proxy claim."""
    svg = card_svg(session, keys, settings, managed_household(session, who, household_id), lang)
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})


@router.post("/lookup-card", response_model=HouseholdCardOut)
def lookup_card(
    body: HouseholdCardIn, session: SessionDep, keys: KeysDep, who: Staff, response: Response
) -> HouseholdCardOut:
    """The household behind a scanned card, with its members, for entering a proxy claim."""
    card = codes.read(keys, codes.scanned(body.token))
    if not isinstance(card, codes.HouseholdCard):
        raise codes.CodeInvalid("This is not a household card.", field="token")
    household = managed_household(session, who, card.household_id)
    response.headers["Cache-Control"] = "no-store"
    return card_out(session, household)
