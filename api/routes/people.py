"""The county's structure and people (docs/people.md): townships, villages, households and their members. The
county admin changes them, one at a time, within their county and never for their own household; officials and
auditors read the households of the villages they see; a villager reads their own household."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from api.deps import SessionDep, SettingsDep, allow
from api.paging import link_next
from api.presentation.people import household_detail_out, household_summary_out, township_out, village_out
from api.schemas.people import (
    ClosedOut,
    CloseIn,
    ErasedOut,
    HeadIn,
    HouseholdChangeIn,
    HouseholdDetailOut,
    HouseholdIn,
    HouseholdPageOut,
    MemberChangeIn,
    MemberIn,
    MoveIn,
    TownshipChangeIn,
    TownshipIn,
    TownshipOut,
    VillageIn,
    VillageOut,
)
from ledger.identity.models import Role
from ledger.identity.principal import Principal, visible_villages
from ledger.people import erasure, households, places
from scoring import closing

router = APIRouter(tags=["people"])
Admin = Annotated[Principal, allow(Role.COUNTY_ADMIN)]
Overseer = Annotated[Principal, allow(Role.COUNTY_ADMIN, Role.AUDITOR)]
Staff = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
PRIVATE = {"Cache-Control": "no-store"}  # members' names and phones are kept by no cache


# --- places ---------------------------------------------------------------------------------------------------


@router.get("/api/v1/townships", response_model=list[TownshipOut])
def list_townships(session: SessionDep, who: Overseer) -> list[TownshipOut]:
    """The county's townships."""
    return [township_out(t) for t in places.townships(session, who)]


@router.post("/api/v1/townships", response_model=TownshipOut, status_code=status.HTTP_201_CREATED)
def create_township(body: TownshipIn, session: SessionDep, who: Admin) -> TownshipOut:
    """A township of your county. Refused: a name your county has already (409 `township_name_taken`), a code in
    use (409 `place_code_taken`)."""
    return township_out(places.create_township(session, who, name=body.name, code=body.code))


@router.patch("/api/v1/townships/{township_id}", response_model=TownshipOut)
def rename_township(township_id: int, body: TownshipChangeIn, session: SessionDep, who: Admin) -> TownshipOut:
    """Rename a township of your county (404 `township_not_found` for any other)."""
    return township_out(places.rename_township(session, who, township_id, name=body.name))


@router.get("/api/v1/villages", response_model=list[VillageOut])
def list_villages(session: SessionDep, who: Staff) -> list[VillageOut]:
    """The villages you see as staff: an official's own, the whole county for the county admin and auditors."""
    return [village_out(v) for v in visible_villages(session, who)]


@router.post("/api/v1/villages", response_model=VillageOut, status_code=status.HTTP_201_CREATED)
def create_village(body: VillageIn, session: SessionDep, who: Admin) -> VillageOut:
    """A village of a township of your county, with its accounts. Refused: a name the township has already (409
    `village_name_taken`), a centre with only one of latitude and longitude (422 `centre_invalid`)."""
    village = places.create_village(
        session,
        who,
        township_id=body.township_id,
        name=body.name,
        code=body.code,
        notice_privacy=body.notice_privacy,
        centre_lat=body.centre_lat,
        centre_lon=body.centre_lon,
    )
    return village_out(village)


# --- households -----------------------------------------------------------------------------------------------


@router.get("/api/v1/households", response_model=HouseholdPageOut)
def list_households(
    session: SessionDep,
    who: Staff,
    request: Request,
    response: Response,
    village_id: Annotated[int | None, Query(gt=0, description="One village; all you see when left out.")] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description="户号 or house number starting with it, or a household or member name containing it.",
        ),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=households.MOST)] = households.PAGE,
) -> HouseholdPageOut:
    """Households of the villages you see as staff, by id, a page at a time (`next_cursor`, and the `Link`
    header; README, "Lists"); no phones here."""
    response.headers.update(PRIVATE)
    page = households.listing(session, who, village_id=village_id, q=q, cursor=cursor, limit=limit)
    link_next(request, response, page.next_cursor)
    return HouseholdPageOut(
        households=[household_summary_out(h, page.heads.get(h.id or 0)) for h in page.households],
        next_cursor=page.next_cursor,
    )


@router.post("/api/v1/households", response_model=HouseholdDetailOut, status_code=status.HTTP_201_CREATED)
def create_household(body: HouseholdIn, session: SessionDep, who: Admin) -> HouseholdDetailOut:
    """A household with its head (户主), who signs in with their phone when one is given. Refused: a 户号 in use
    (409 `household_code_taken`), a phone that is no mainland mobile (422 `phone_malformed`) or another member's
    (409 `phone_taken`)."""
    household = households.create_household(
        session,
        who,
        village_id=body.village_id,
        code=body.code,
        head=households.Member(name=body.head_name, phone=body.head_phone),
        house_number=body.house_number,
        address=body.address,
        name=body.name,
    )
    return household_detail_out(session, household, households.members(session, household.id or 0))


@router.get("/api/v1/households/{household_id}", response_model=HouseholdDetailOut)
def household_detail(household_id: int, session: SessionDep, who: Reader, response: Response) -> HouseholdDetailOut:
    """A household and its members with their phones: for its own members, the officials of its village, the
    county admin and auditors. Anyone else's household looks missing."""
    response.headers.update(PRIVATE)
    household, members = households.detail(session, who, household_id)
    return household_detail_out(session, household, members)


@router.patch("/api/v1/households/{household_id}", response_model=HouseholdDetailOut)
def edit_household(household_id: int, body: HouseholdChangeIn, session: SessionDep, who: Admin) -> HouseholdDetailOut:
    """Change the house number or address (null removes it). Not your own household (403
    `conflict_of_interest`), not a closed one (409 `household_closed`)."""
    household = households.edit_household(session, who, household_id, body.model_dump(exclude_unset=True))
    return household_detail_out(session, household, households.members(session, household_id))


@router.post(
    "/api/v1/households/{household_id}/members", response_model=HouseholdDetailOut, status_code=status.HTTP_201_CREATED
)
def add_member(household_id: int, body: MemberIn, session: SessionDep, who: Admin) -> HouseholdDetailOut:
    """A new member; with a phone, they sign in as a villager of the household."""
    person = households.add_member(
        session, who, household_id, households.Member(name=body.name, phone=body.phone, relation=body.relation)
    )
    household, members = households.detail(session, who, person.household_id)
    return household_detail_out(session, household, members)


@router.patch("/api/v1/members/{person_id}", response_model=HouseholdDetailOut)
def edit_member(person_id: int, body: MemberChangeIn, session: SessionDep, who: Admin) -> HouseholdDetailOut:
    """Change a member's name, relation or phone. A changed phone ends the member's sign-ins at once (the new phone
    signs the same account in); `phone: null` ends them and the sign-in with them."""
    person = households.edit_member(session, who, person_id, body.model_dump(exclude_unset=True))
    household, members = households.detail(session, who, person.household_id)
    return household_detail_out(session, household, members)


@router.post("/api/v1/members/{person_id}/move", response_model=HouseholdDetailOut)
def move_member(person_id: int, body: MoveIn, session: SessionDep, who: Admin) -> HouseholdDetailOut:
    """Move a member to another household of your county; answers the household they joined. The head of a
    household moves only after the head has changed (409 `head_cannot_move`); nobody moves into a closed household
    (409 `household_closed`). Their sign-ins end: they sign in again, for their new household."""
    person = households.move_member(session, who, person_id, household_id=body.household_id, relation=body.relation)
    household, members = households.detail(session, who, person.household_id)
    return household_detail_out(session, household, members)


@router.post("/api/v1/members/{person_id}/erase", response_model=ErasedOut)
def erase_member(person_id: int, session: SessionDep, settings: SettingsDep, who: Admin) -> ErasedOut:
    """Erase a person's data (docs/privacy.md): their name becomes a pseudonym, their phone, the photos they sent,
    their sessions and one-time codes are deleted, and their sign-in ends at once. Their household's records and
    the journal stay whole. Refused: 404 `person_not_found` (none in your county), 403 `conflict_of_interest`
    (your own household), 409 `person_already_erased`, 409 `person_is_staff` (disable their staff account first)."""
    erased = erasure.erase(session, who, person_id, upload_dir=settings.upload_dir)
    person = erased.person
    assert person.erased_at is not None
    return ErasedOut(
        person_id=person_id,
        household_id=person.household_id,
        name=person.name,
        erased_at=person.erased_at,
        photos_deleted=erased.photos_deleted,
        sign_in_ended=erased.sign_in_ended,
    )


@router.post("/api/v1/households/{household_id}/head", response_model=HouseholdDetailOut)
def change_head(household_id: int, body: HeadIn, session: SessionDep, who: Admin) -> HouseholdDetailOut:
    """Make a member the head (户主); the former head stays, with `former_head_relation`."""
    households.change_head(
        session, who, household_id, person_id=body.person_id, former_head_relation=body.former_head_relation
    )
    household, members = households.detail(session, who, household_id)
    return household_detail_out(session, household, members)


@router.post("/api/v1/households/{household_id}/close", response_model=ClosedOut)
def close_household(household_id: int, body: CloseIn, session: SessionDep, who: Admin) -> ClosedOut:
    """Close a household for good (docs/people.md): its undecided claims expire, points in notice still settle,
    settled points stay as history, its members sign in no more, banks learn nothing more of it, and nothing new
    is taken for it. Closing it again: 409 `household_closed`."""
    closed = closing.close_household(session, who, household_id, why=body.why)
    detail = household_detail_out(session, closed.household, households.members(session, household_id))
    return ClosedOut(**detail.model_dump(), expired_claims=closed.expired_claims)
