"""Staff accounts: which villager (person) an official, county admin or auditor is, so that the
conflict-of-interest rule knows their household. The county admin sets it, within their county."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import SessionDep, allow
from api.schemas import Strict
from ledger.identity import service as identity
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.tenancy import Person

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])
Admin = Annotated[Principal, allow(Role.COUNTY_ADMIN)]


class StaffPersonIn(Strict):
    person_id: int | None = Field(gt=0, description="The person the account belongs to; null: nobody of the county.")


class StaffPersonOut(BaseModel):
    user_id: int
    username: str | None
    role: str
    person_id: int | None
    household_id: int | None = Field(description="The household the account's holder may not act for.")


@router.put("/{user_id}/person", response_model=StaffPersonOut)
def link_person(user_id: int, body: StaffPersonIn, session: SessionDep, who: Admin) -> StaffPersonOut:
    """Link a staff account of your county to the person it belongs to (or unlink it). Refused: an unknown
    account (404 `staff_not_found`) or person (404 `person_not_found`), a person of another county (409
    `person_of_another_county`), a person with another account (409 `person_already_linked`), a villager's or
    partner's account (409 `not_a_staff_account`), your own account or that of someone of your household (403
    `conflict_of_interest`)."""
    user = identity.link_staff(session, user_id=user_id, person_id=body.person_id, by=who)
    person = session.get(Person, user.person_id) if user.person_id is not None else None
    return StaffPersonOut(
        user_id=user_id,
        username=user.username,
        role=user.role,
        person_id=user.person_id,
        household_id=person.household_id if person else None,
    )
