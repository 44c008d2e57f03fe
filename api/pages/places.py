"""The county admin's pages for the county's places and people: `/county/places` (townships and villages: add,
rename; a village's notice-board privacy and its centre) and `/county/households` (search by 户号 or a member's
name, a page at a time; a household's page with its members: add, edit, move to another household by 户号, change
the head; closing it after a page that says what closing does).

Every change goes through ledger/people, which checks the county, conflict of interest and the rules, and writes
the change log; a page parses the form and shows the outcome. A refusal is shown on the page it came from, in
words, with its status, and writes nothing (api/pages/county_setup.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import Response
from sqlalchemy import select
from sqlmodel import col

from api.pages import county_setup as setup
from api.pages.county_setup import AdminPage, Text
from api.pages.web import Page
from api.presentation.household_data import gather
from ledger.core import audit
from ledger.core.base import row_id
from ledger.core.errors import DomainError, Invalid
from ledger.identity.models import Role, User
from ledger.identity.principal import managed_household_by_code
from ledger.identity.service import PersonNotFound
from ledger.people import access as people_access
from ledger.people import erasure, places
from ledger.people import households as people
from ledger.tenancy import Household, Person, Village, VillageNotFound
from scoring import closing

router = APIRouter()


def _degrees(value: str, field: str) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value.strip())
    except ValueError as error:
        raise Invalid("Not a number.", field=field) from error


# --- places: townships and villages ----------------------------------------------------------------------------


def _places_page(page: Page, status_code: int = 200, **context: Any) -> Response:
    who = setup.who(page)
    townships = places.townships(page.session, who)
    villages = setup.villages(page)
    by_township: dict[int, list[Village]] = {}
    for village in villages:
        by_township.setdefault(village.township_id, []).append(village)
    return page.render(
        "people/places.html",
        status_code=status_code,
        townships=townships,
        by_township=by_township,
        privacy=setup.PRIVACY,
        **{**setup.notice(page), **context},
    )


@router.get("/county/places")
def places_page(page: AdminPage) -> Response:
    """The county's townships, each with its villages; forms to add and rename them."""
    return _places_page(page)


@router.post("/county/townships")
def add_township(page: AdminPage, name: Text) -> Response:
    try:
        with setup.attempt(page):
            places.create_township(page.session, setup.who(page), name=name)
    except DomainError as error:
        if not setup.refused(error):
            raise
        return _places_page(page, **setup.refused_as(page, error), form="township", name=name)
    return page.redirect("/county/places", done="township_added")


@router.post("/county/townships/{township_id}")
def rename_township(page: AdminPage, township_id: int, name: Text) -> Response:
    try:
        with setup.attempt(page):
            places.rename_township(page.session, setup.who(page), township_id, name=name)
    except DomainError as error:
        if not setup.refused(error):
            raise
        return _places_page(page, **setup.refused_as(page, error), refused_township=township_id)
    return page.redirect("/county/places", done="township_renamed")


@router.post("/county/villages")
def add_village(
    page: AdminPage,
    township_id: Annotated[str, Form(max_length=12)],
    name: Text,
    notice_privacy: Annotated[str, Form(max_length=16)] = "",
    centre_lat: Annotated[str, Form(max_length=20)] = "",
    centre_lon: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        with setup.attempt(page):
            township = setup.number(township_id, "township_id")
            if township is None:
                raise Invalid("Pick a township.", field="township_id")
            village = places.create_village(
                page.session,
                setup.who(page),
                township_id=township,
                name=name,
                notice_privacy=setup.blank(notice_privacy),
                centre_lat=_degrees(centre_lat, "centre_lat"),
                centre_lon=_degrees(centre_lon, "centre_lon"),
            )
    except DomainError as error:
        if not setup.refused(error):
            raise
        return _places_page(page, **setup.refused_as(page, error), form="village", name=name)
    return page.redirect(f"/county/villages/{village.id}", done="village_added")


def _village_page(page: Page, village_id: int, status_code: int = 200, **context: Any) -> Response:
    who = setup.who(page)
    village = next((v for v in setup.villages(page) if v.id == village_id), None)
    if village is None:
        raise VillageNotFound("No such village in your county.", village_id=village_id)
    return page.render(
        "people/village.html",
        status_code=status_code,
        village=village,
        townships=places.townships(page.session, who),
        privacy=setup.PRIVACY,
        **{**setup.notice(page), **context},
    )


@router.get("/county/villages/{village_id}")
def village_page(page: AdminPage, village_id: int) -> Response:
    """A village: its name, township, how its notice board names households, and its centre (for activities
    that check where a claim was made)."""
    return _village_page(page, village_id)


@router.post("/county/villages/{village_id}")
def save_village(
    page: AdminPage,
    village_id: int,
    name: Text,
    township_id: Annotated[str, Form(max_length=12)],
    notice_privacy: Annotated[str, Form(max_length=16)],
    centre_lat: Annotated[str, Form(max_length=20)] = "",
    centre_lon: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        with setup.attempt(page):
            places.edit_village(
                page.session,
                setup.who(page),
                village_id,
                {
                    "name": name,
                    "township_id": setup.number(township_id, "township_id"),
                    "notice_privacy": notice_privacy.strip(),
                    "centre_lat": _degrees(centre_lat, "centre_lat"),
                    "centre_lon": _degrees(centre_lon, "centre_lon"),
                },
            )
    except DomainError as error:
        if not setup.refused(error):
            raise
        return _village_page(page, village_id, **setup.refused_as(page, error))
    return page.redirect(f"/county/villages/{village_id}", done="village_saved")


# --- households and members ------------------------------------------------------------------------------------


@router.get("/county/households")
def households_page(
    page: AdminPage,
    q: str | None = None,
    village_id: str | None = None,
    cursor: str | None = None,
) -> Response:
    """Households of the county (or of one village), found by 户号 or a member's name, a page at a time."""
    query = (q or "").strip()[:100]
    village = setup.number(village_id, "village_id")
    found = people.listing(
        page.session, setup.who(page), village_id=village, q=query or None, cursor=setup.blank(cursor)
    )
    villages = setup.villages(page)
    return page.render(
        "people/households.html",
        listed=found.households,
        heads=found.heads,
        next_cursor=found.next_cursor,
        first_page=cursor is None or not cursor.strip(),
        q=query,
        village_id=village,
        villages=villages,
        village_names={v.id: v.name for v in villages},
        **setup.notice(page),
    )


def _new_household_page(page: Page, status_code: int = 200, **context: Any) -> Response:
    return page.render("people/household_new.html", status_code=status_code, villages=setup.villages(page), **context)


@router.get("/county/households/new")
def new_household_page(page: AdminPage) -> Response:
    return _new_household_page(page)


@router.post("/county/households/new")
def add_household(
    page: AdminPage,
    village_id: Annotated[str, Form(max_length=12)],
    code: Annotated[str, Form(max_length=64)],
    head_name: Text,
    head_phone: Annotated[str, Form(max_length=30)] = "",
    house_number: Annotated[str, Form(max_length=40)] = "",
    address: Text = "",
) -> Response:
    try:
        with setup.attempt(page):
            village = setup.number(village_id, "village_id")
            if village is None:
                raise Invalid("Pick a village.", field="village_id")
            household = people.create_household(
                page.session,
                setup.who(page),
                village_id=village,
                code=code,
                head=people.Member(name=head_name, phone=setup.blank(head_phone), relation=people.HEAD),
                house_number=setup.blank(house_number),
                address=setup.blank(address),
            )
    except DomainError as error:
        if not setup.refused(error):
            raise
        sent = {"village_id": village_id, "code": code, "head_name": head_name, "head_phone": head_phone}
        sent |= {"house_number": house_number, "address": address}
        return _new_household_page(page, **setup.refused_as(page, error), sent=sent)
    return page.redirect(f"/county/households/{household.id}", done="household_added")


def _household_page(page: Page, household_id: int, status_code: int = 200, **context: Any) -> Response:
    household, members = people.detail(page.session, setup.who(page), household_id)
    village = page.session.get(Village, household.village_id)
    ids = [row_id(m.id) for m in members]
    sign_ins = {
        user.person_id: user
        for user in page.session.scalars(
            select(User).where(col(User.person_id).in_(ids), col(User.role) == Role.VILLAGER)
        ).all()
    }
    staff_of = {
        user.person_id: user
        for user in page.session.scalars(
            select(User).where(col(User.person_id).in_(ids), col(User.role) != Role.VILLAGER)
        ).all()
    }
    return page.render(
        "people/household.html",
        status_code=status_code,
        household=household,
        village=village,
        members=members,
        sign_ins=sign_ins,
        staff_of=staff_of,
        **{**setup.notice(page), **context},
    )


@router.get("/county/households/{household_id}")
def household_page(page: AdminPage, household_id: int) -> Response:
    """A household and its members, with the forms to change them."""
    return _household_page(page, household_id)


def _household_change(
    page: Page, household_id: int, change: Callable[[], object], done: str, target: str | None = None, **shown: Any
) -> Response:
    """Run a change of a household (or one of its members) and go back to it; a refusal is shown there."""
    try:
        with setup.attempt(page):
            change()
    except DomainError as error:
        if not setup.refused(error):
            raise
        return _household_page(page, household_id, **setup.refused_as(page, error), **shown)
    return page.redirect(target or f"/county/households/{household_id}", done=done)


@router.post("/county/households/{household_id}")
def save_household(page: AdminPage, household_id: int, house_number: Text = "", address: Text = "") -> Response:
    changes = {"house_number": setup.blank(house_number), "address": setup.blank(address)}
    return _household_change(
        page,
        household_id,
        lambda: people.edit_household(page.session, setup.who(page), household_id, changes),
        "household_saved",
    )


@router.post("/county/households/{household_id}/members")
def add_member(
    page: AdminPage,
    household_id: int,
    name: Text,
    relation: Text = "",
    phone: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    member = people.Member(name=name, phone=setup.blank(phone), relation=setup.blank(relation))
    return _household_change(
        page,
        household_id,
        lambda: people.add_member(page.session, setup.who(page), household_id, member),
        "member_added",
        form="member",
        sent={"name": name, "relation": relation, "phone": phone},
    )


def _member(page: Page, person_id: int) -> Person:
    """A member of a household the admin sees (one of elsewhere looks missing)."""
    person = page.session.get(Person, person_id)
    household = page.session.get(Household, person.household_id) if person is not None else None
    if person is None or household is None or not setup.who(page).sees_household(household):
        raise PersonNotFound("No such person in your county.", person_id=person_id)
    return person


@router.post("/county/members/{person_id}")
def save_member(
    page: AdminPage,
    person_id: int,
    name: Text,
    relation: Text = "",
    phone: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    person = _member(page, person_id)
    changes: dict[str, Any] = {"name": name, "phone": setup.blank(phone)}
    if not person.is_head:
        changes["relation"] = setup.blank(relation)
    return _household_change(
        page,
        person.household_id,
        lambda: people.edit_member(page.session, setup.who(page), person_id, changes),
        "member_saved",
        refused_member=person_id,
    )


@router.post("/county/members/{person_id}/move")
def move_member(
    page: AdminPage,
    person_id: int,
    household_code: Annotated[str, Form(max_length=64)],
    relation: Text = "",
) -> Response:
    person = _member(page, person_id)
    moved_to: list[int] = []

    def move() -> None:
        if not household_code.strip():
            raise Invalid("Give the household number.", field="code")
        target = managed_household_by_code(page.session, setup.who(page), household_code)
        people.move_member(
            page.session, setup.who(page), person_id, household_id=row_id(target.id), relation=setup.blank(relation)
        )
        moved_to.append(row_id(target.id))

    try:
        with setup.attempt(page):
            move()
    except DomainError as error:
        if not setup.refused(error):
            raise
        return _household_page(page, person.household_id, **setup.refused_as(page, error), refused_member=person_id)
    return page.redirect(f"/county/households/{moved_to[0]}", done="member_moved")


@router.post("/county/households/{household_id}/head")
def change_head(
    page: AdminPage,
    household_id: int,
    person_id: Annotated[str, Form(max_length=12)],
    former_head_relation: Text = "",
) -> Response:
    def change() -> None:
        chosen = setup.number(person_id, "person_id")
        if chosen is None:
            raise Invalid("Pick the new head.", field="person_id")
        people.change_head(
            page.session,
            setup.who(page),
            household_id,
            person_id=chosen,
            former_head_relation=setup.blank(former_head_relation),
        )

    return _household_change(page, household_id, change, "head_changed")


@router.get("/county/households/{household_id}/close")
def close_household_page(page: AdminPage, household_id: int) -> Response:
    """What closing a household does, before it is done (it cannot be undone)."""
    household, members = people.detail(page.session, setup.who(page), household_id)
    return page.render("people/close.html", household=household, members=members)


@router.post("/county/households/{household_id}/close")
def close_household(
    page: AdminPage,
    household_id: int,
    why: Text = "",
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    if confirm != "yes":
        household, members = people.detail(page.session, setup.who(page), household_id)
        return page.render(
            "people/close.html",
            status_code=400,
            household=household,
            members=members,
            refusal=page._(setup.CONFIRM_CLOSING),
        )
    return _household_change(
        page,
        household_id,
        lambda: closing.close_household(page.session, setup.who(page), household_id, why=setup.blank(why)),
        "household_closed",
    )


@router.get("/county/members/{person_id}/erase")
def erase_person_page(page: AdminPage, person_id: int) -> Response:
    """What erasing a person's data does, before it is done (it cannot be undone)."""
    person = _member(page, person_id)
    household, _ = people.detail(page.session, setup.who(page), person.household_id)
    return page.render("people/erase.html", person=person, household=household)


@router.post("/county/members/{person_id}/erase")
def erase_person(page: AdminPage, person_id: int, confirm: Annotated[str, Form(max_length=8)] = "") -> Response:
    person = _member(page, person_id)
    if confirm != "yes":
        household, _ = people.detail(page.session, setup.who(page), person.household_id)
        return page.render(
            "people/erase.html",
            status_code=400,
            person=person,
            household=household,
            refusal=page._(setup.CONFIRM_ERASING),
        )
    return _household_change(
        page,
        person.household_id,
        lambda: erasure.erase(page.session, setup.who(page), person_id, upload_dir=page.settings.upload_dir),
        "person_erased",
        refused_member=person_id,
    )


@router.get("/county/households/{household_id}/data.xlsx")
def household_data(page: AdminPage, household_id: int) -> Response:
    """Everything held about the household, for a member who asks for it in person (the change log says so)."""
    household = people_access.household(page.session, setup.who(page), household_id, own=False)
    audit.record(
        page.session,
        county_id=household.county_id,
        actor=setup.who(page).actor,
        action="household.data_export",
        target_type="household",
        target_id=household.id,
        after={"format": "xlsx"},
    )
    body, media, name = gather(page.session, household).as_file("xlsx", page.locale)
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return page.respond(Response(body, media_type=media, headers=headers))
