"""People's data (PIPL): a household's members download everything held about their household, as JSON or XLSX
(api/presentation/household_data.py gathers it). A member signs in and asks for their own household; nobody
else's can be named. For a member who asks in person at the county office (an elder without a phone), the
county admin downloads it for them, and the change log says so (without any of the data)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from api.deps import Lang, SessionDep, allow
from api.presentation.household_data import XLSX, HouseholdData, gather
from ledger.core import audit
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.people import access as people_access
from ledger.tenancy import get_household
from scoring import access as credit_access

router = APIRouter(prefix="/api/v1", tags=["people's data"])
Villager = Annotated[Principal, allow(Role.VILLAGER)]
Admin = Annotated[Principal, allow(Role.COUNTY_ADMIN)]
Format = Annotated[Literal["json", "xlsx"], Query(description="json, or xlsx: one sheet per section")]
FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Everything held about the household, as a file to keep.",
        "content": {"application/json": {}, XLSX: {}},
    }
}


@router.get("/me/data", response_class=Response, responses=FILE)
def my_household_data(
    session: SessionDep,
    who: Villager,
    format: Format = "json",
    lang: Lang = "zh_CN",  # noqa: A002
) -> Response:
    """Everything held about your household: the household and its members, the balance and every entry of the
    statement, claims with their photos (links you may open), deductions, objections and appeals, ratings with
    their reasons, consents, each bank's look at the rating, review requests, vouchers, loan applications and
    every message sent to the household."""
    household = get_household(session, credit_access.own_household(who))
    return _file(gather(session, household), format, lang)


@router.get("/households/{household_id}/data", response_class=Response, responses=FILE)
def household_data(
    household_id: int,
    session: SessionDep,
    who: Admin,
    format: Format = "json",
    lang: Lang = "zh_CN",  # noqa: A002
) -> Response:
    """The same file for a household of your county, for a member who asks for it in person at the office. The
    change log records that it was handed out (not what it holds)."""
    household = people_access.household(session, who, household_id, own=False)
    audit.record(
        session,
        county_id=household.county_id,
        actor=who.actor,
        action="household.data_export",
        target_type="household",
        target_id=household.id,
        after={"format": format},
    )
    return _file(gather(session, household), format, lang)


def _file(data: HouseholdData, format: str, lang: str) -> Response:  # noqa: A002
    body, media, name = data.as_file(format, lang)
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return Response(body, media_type=media, headers=headers)
