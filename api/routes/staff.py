"""Staff accounts of a county: officials with their villages, township supervisors, auditors and county admins.
The county admin lists, creates, changes, disables and enables them, resets their passwords, and says which
villager (person) each is, so that the conflict-of-interest rule knows their household (ledger/identity/staff.py).

A password is hashed with no unit of work open (argon2 is slow): the routes that make one are checked by
`allow_unheld` and write in a unit of work of their own."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep, allow, allow_unheld, caller_again, in_turn
from api.schemas import Strict
from ledger.core.base import row_id
from ledger.core.db import unit_of_work
from ledger.identity import service as identity
from ledger.identity import staff
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.identity.staff import StaffKind
from ledger.tenancy import Person

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])
Admin = Annotated[Principal, allow(Role.COUNTY_ADMIN)]
AdminHashing = Annotated[Principal, allow_unheld(Role.COUNTY_ADMIN)]
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class StaffOut(BaseModel):
    user_id: int
    username: str | None
    display_name: str
    role: str = Field(description="official, county_admin or auditor (a township supervisor is an official)")
    kind: StaffKind = Field(description="official (villages), supervisor (a township), auditor or admin")
    active: bool
    must_change_password: bool = Field(description="The holder has yet to replace a password someone else set.")
    village_ids: list[int]
    village_codes: list[str]
    township_id: int | None
    township_code: str | None
    person_id: int | None = Field(description="The person in the roster the account's holder is.")
    household_id: int | None = Field(description="Their household, which they may not act for.")
    household_code: str | None


class StaffListOut(BaseModel):
    items: list[StaffOut]


class StaffWithPasswordOut(StaffOut):
    password: str | None = Field(
        description="The password made up for the account, shown this once and never again (null: you gave "
        "one). Its holder must replace it at first sign-in."
    )


class StaffIn(Strict):
    username: Username
    display_name: DisplayName | None = None
    kind: StaffKind
    village_ids: list[Annotated[int, Field(gt=0)]] = Field(default_factory=list, max_length=200)
    township_id: int | None = Field(default=None, gt=0)
    password: str | None = Field(
        default=None, max_length=256, description="At least 12 characters; leave out to have one made up."
    )


class StaffPatchIn(Strict):
    display_name: DisplayName | None = None
    kind: StaffKind | None = Field(default=None, description="A new kind names its own places (or none).")
    village_ids: list[Annotated[int, Field(gt=0)]] | None = Field(default=None, max_length=200)
    township_id: int | None = Field(default=None, gt=0)


def _out(found: staff.StaffMember) -> StaffOut:
    return StaffOut(
        user_id=found.user_id,
        username=found.username,
        display_name=found.display_name,
        role=found.role,
        kind=found.kind,
        active=found.active,
        must_change_password=found.must_change_password,
        village_ids=list(found.village_ids),
        village_codes=list(found.village_codes),
        township_id=found.township_id,
        township_code=found.township_code,
        person_id=found.person_id,
        household_id=found.household_id,
        household_code=found.household_code,
    )


def _with_password(found: staff.StaffMember, password: str | None) -> StaffWithPasswordOut:
    return StaffWithPasswordOut(**_out(found).model_dump(), password=password)


@router.get("", response_model=StaffListOut)
def list_staff(session: SessionDep, who: Admin) -> StaffListOut:
    """Your county's officials, township supervisors, auditors and county admins, active or not, with their
    villages or township and the household each lives in (partner staff and villagers are not listed)."""
    return StaffListOut(items=[_out(found) for found in staff.members(session, who.county_id)])


@router.post("", response_model=StaffWithPasswordOut, status_code=status.HTTP_201_CREATED)
async def create_staff(body: StaffIn, request: Request, who: AdminHashing) -> StaffWithPasswordOut:
    """Create a staff account of your county. An official names their villages (`village_ids`), a township
    supervisor their township (`township_id`); auditors and county admins neither. The password is yours to give
    (at least 12 characters) or made up and shown in this answer once; either way its holder must set their own
    at first sign-in. Refused: a taken username (409 `username_taken`), a weak password (422 `weak_password`),
    places that do not fit the kind (422 `staff_places_invalid`), a village or township not of your county (404
    `village_not_found`, `township_not_found`)."""
    if body.password is not None:
        staff.refuse_weak(body.password)  # before any hashing
    password = await run_in_threadpool(staff.new_password, body.password)

    def write() -> StaffWithPasswordOut:
        with unit_of_work(request.app.state.engine) as session:
            by = caller_again(request, session)
            user = staff.create(
                session,
                by=by,
                username=body.username,
                display_name=body.display_name or body.username,
                kind=body.kind,
                password=password,
                village_ids=body.village_ids,
                township_id=body.township_id,
            )
            return _with_password(staff.member(session, by.county_id, row_id(user.id)), password.shown)

    return cast(StaffWithPasswordOut, await in_turn(request, write))


@router.get("/{user_id}", response_model=StaffOut)
def get_staff(user_id: int, session: SessionDep, who: Admin) -> StaffOut:
    """One staff account of your county (404 `staff_not_found` for any other)."""
    return _out(staff.member(session, who.county_id, user_id))


@router.patch("/{user_id}", response_model=StaffOut)
def change_staff(user_id: int, body: StaffPatchIn, session: SessionDep, who: Admin) -> StaffOut:
    """Change a staff account's display name, its kind, or an official's villages or a supervisor's township
    (the places named replace the old ones; a new kind names its own). Refused: your own kind or places (403
    `own_account`), making the county's last active admin something else (409 `last_admin`), places that do not
    fit the kind (422 `staff_places_invalid`), a village or township not of your county (404)."""
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    staff.change(
        session,
        by=who,
        user_id=user_id,
        display_name=changes.get("display_name"),
        kind=changes.get("kind"),
        village_ids=changes.get("village_ids"),
        township_id=changes.get("township_id"),
    )
    return _out(staff.member(session, who.county_id, user_id))


@router.post("/{user_id}/disable", response_model=StaffOut)
def disable_staff(user_id: int, session: SessionDep, who: Admin) -> StaffOut:
    """The account signs in no more: its browser sessions and access tokens end at once. Refused: your own account
    (403 `own_account`), the county's last active admin (409 `last_admin`)."""
    staff.disable(session, by=who, user_id=user_id)
    return _out(staff.member(session, who.county_id, user_id))


@router.post("/{user_id}/enable", response_model=StaffOut)
def enable_staff(user_id: int, session: SessionDep, who: Admin) -> StaffOut:
    """The account may sign in again (with the password it had; reset it if that is lost)."""
    staff.enable(session, by=who, user_id=user_id)
    return _out(staff.member(session, who.county_id, user_id))


@router.post("/{user_id}/reset-password", response_model=StaffWithPasswordOut)
async def reset_staff_password(user_id: int, request: Request, who: AdminHashing) -> StaffWithPasswordOut:
    """A new password, made up and shown in this answer once; every sign-in of the old one ends now and its holder
    must set their own at first sign-in. Refused: your own account (403 `own_account`; change it yourself with
    POST /api/v1/auth/password)."""
    password = await run_in_threadpool(staff.new_password, None)

    def write() -> StaffWithPasswordOut:
        with unit_of_work(request.app.state.engine) as session:
            by = caller_again(request, session)
            staff.reset_password(session, by=by, user_id=user_id, password=password)
            return _with_password(staff.member(session, by.county_id, user_id), password.shown)

    return cast(StaffWithPasswordOut, await in_turn(request, write))


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
    """Link a staff account of your county to the person it belongs to (or unlink it); the person may also have a
    villager sign-in of their own. Refused: an unknown account (404 `staff_not_found`) or person (404
    `person_not_found`), a person of another county (409 `person_of_another_county`), a person with another staff
    account (409 `person_already_linked`), a villager's or partner's account (409 `not_a_staff_account`), your own
    account or that of someone of your household (403 `conflict_of_interest`)."""
    user = identity.link_staff(session, user_id=user_id, person_id=body.person_id, by=who)
    person = session.get(Person, user.person_id) if user.person_id is not None else None
    return StaffPersonOut(
        user_id=user_id,
        username=user.username,
        role=user.role,
        person_id=user.person_id,
        household_id=person.household_id if person else None,
    )
