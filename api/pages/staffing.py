"""The county admin's pages for staff accounts: `/county/staff` lists officials with their villages, township
supervisors, auditors and county admins, and adds one; an account's page changes what it does and where,
disables and enables it, resets its password and links it to the person it is in the roster (so the
conflict-of-interest rule knows their household).

Every change goes through ledger/identity/staff.py (and `identity.link_staff`), which checks the county, the
admin's own account, the last admin, and writes the change log.

Passwords. argon2 is slow on purpose and must not run inside a unit of work (on SQLite that holds the one
writer), so the two forms that make a password (a new account, a reset) are served by `hashing_router`, as the
staff sign-in form is: the CSRF token is checked first, then who is asking (a short unit of work of its own),
then the password is hashed, and only then a unit of work makes the change and renders the page. A password made
up here is shown on that page once and never again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import admit, in_turn, permits
from api.pages import county_setup as setup
from api.pages.county_setup import ADMIN, AdminPage, Text
from api.pages.web import CsrfFailed, Page, csrf_matches, get_page, refusal_page, sign_in_url
from api.problems import status_of
from ledger.core.base import row_id
from ledger.core.db import unit_of_work
from ledger.core.errors import DomainError, Invalid, Unauthenticated
from ledger.identity import service as identity
from ledger.identity import staff
from ledger.identity.principal import managed_household_by_code
from ledger.identity.service import PersonNotFound
from ledger.people import households as people
from ledger.people import places
from ledger.tenancy import Person

router = APIRouter()
hashing_router = APIRouter()  # without the pages' CSRF dependency and its unit of work: see above


# --- staff -----------------------------------------------------------------------------------------------------


def _staff_page(page: Page, status_code: int = 200, **context: Any) -> Response:
    who = setup.who(page)
    return page.render(
        "people/staff.html",
        status_code=status_code,
        listed=staff.members(page.session, who.county_id),
        villages=setup.villages(page),
        townships=places.townships(page.session, who),
        kinds=setup.KINDS,
        **{**setup.notice(page), **context},
    )


@router.get("/county/staff")
def staff_page(page: AdminPage) -> Response:
    """The county's staff accounts and the form to add one."""
    return _staff_page(page)


def _member_page(page: Page, user_id: int, status_code: int = 200, **context: Any) -> Response:
    who = setup.who(page)
    found = staff.member(page.session, who.county_id, user_id)
    person = page.session.get(Person, found.person_id) if found.person_id is not None else None
    return page.render(
        "people/staff_member.html",
        status_code=status_code,
        member=found,
        person=person,
        villages=setup.villages(page),
        townships=places.townships(page.session, who),
        kinds=setup.KINDS,
        own=who.user_id == user_id,
        **{**setup.notice(page), **context},
    )


@router.get("/county/staff/{user_id}")
def staff_member_page(page: AdminPage, user_id: int) -> Response:
    """One staff account: what it does and where, its sign-in, and the person it is in the roster."""
    return _member_page(page, user_id)


def _staff_change(page: Page, user_id: int, change: Callable[[], object], done: str) -> Response:
    try:
        with setup.attempt(page):
            change()
    except DomainError as error:
        if not setup.refused(error):
            raise
        return _member_page(page, user_id, **setup.refused_as(page, error))
    return page.redirect(f"/county/staff/{user_id}", done=done)


def _places_of(
    kind: str, village_ids: list[str] | None, township_id: str
) -> tuple[staff.StaffKind, list[int], int | None]:
    try:
        chosen = staff.StaffKind(kind)
    except ValueError as error:
        raise Invalid("No such kind of staff.", field="kind") from error
    villages = [v for v in (setup.number(value, "village_ids") for value in village_ids or []) if v is not None]
    township = setup.number(township_id, "township_id")
    if chosen == staff.StaffKind.OFFICIAL:
        township = None
    elif chosen == staff.StaffKind.SUPERVISOR:
        villages = []
    else:
        villages, township = [], None
    return chosen, villages, township


@router.post("/county/staff/{user_id}")
def save_staff_member(
    page: AdminPage,
    user_id: int,
    display_name: Text,
    kind: Annotated[str, Form(max_length=16)],
    village_ids: Annotated[list[str] | None, Form()] = None,
    township_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    def change() -> None:
        chosen, villages, township = _places_of(kind, village_ids, township_id)
        before = staff.member(page.session, setup.who(page).county_id, user_id)
        same_places = (
            chosen == before.kind and sorted(villages) == sorted(before.village_ids) and township == before.township_id
        )
        if same_places:
            staff.change(page.session, by=setup.who(page), user_id=user_id, display_name=display_name)
            return
        staff.change(
            page.session,
            by=setup.who(page),
            user_id=user_id,
            display_name=display_name,
            kind=chosen,
            village_ids=villages if chosen == staff.StaffKind.OFFICIAL else None,
            township_id=township,
        )

    return _staff_change(page, user_id, change, "staff_saved")


@router.post("/county/staff/{user_id}/disable")
def disable_staff_member(page: AdminPage, user_id: int) -> Response:
    return _staff_change(
        page, user_id, lambda: staff.disable(page.session, by=setup.who(page), user_id=user_id), "staff_disabled"
    )


@router.post("/county/staff/{user_id}/enable")
def enable_staff_member(page: AdminPage, user_id: int) -> Response:
    return _staff_change(
        page, user_id, lambda: staff.enable(page.session, by=setup.who(page), user_id=user_id), "staff_enabled"
    )


@router.post("/county/staff/{user_id}/person")
def link_staff_member(
    page: AdminPage,
    user_id: int,
    household_code: Annotated[str, Form(max_length=64)] = "",
    member_name: Text = "",
    unlink: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    def link() -> None:
        if unlink == "yes":
            identity.link_staff(page.session, user_id=user_id, person_id=None, by=setup.who(page))
            return
        if not household_code.strip() or not member_name.strip():
            raise Invalid("Give the household number and the member's name.", field="person")
        household = managed_household_by_code(page.session, setup.who(page), household_code)
        named = [p for p in people.members(page.session, row_id(household.id)) if p.name == member_name.strip()]
        if len(named) != 1:
            raise PersonNotFound("No one of this name in this household.", household_code=household_code.strip())
        identity.link_staff(page.session, user_id=user_id, person_id=row_id(named[0].id), by=setup.who(page))

    return _staff_change(page, user_id, link, "staff_unlinked" if unlink == "yes" else "staff_linked")


# --- staff: the forms that make a password (argon2 outside any unit of work) ------------------------------------


def _declared_admin() -> None:
    """Declares who may send these forms (read by tests/api/test_app.py like `page_allow`); the check itself is
    `_admin_page`, inside the unit of work that follows the hashing."""


vars(_declared_admin)["access_rule"] = ADMIN


def _admin_page(request: Request, session: Any) -> Page | Response:
    """The page of whoever sent the form, if a county admin; else where to go (sign in) or a refusal."""
    page = get_page(request, session)
    if page.principal is None:
        return page.respond(RedirectResponse(sign_in_url("/county/staff"), status_code=303))
    admit(ADMIN, page.principal)
    return page


def _is_admin(request: Request) -> bool:
    with unit_of_work(request.app.state.engine) as session:
        found = get_page(request, session)
        if found.principal is None:
            return False
        try:
            admit(ADMIN, found.principal)
        except DomainError:
            return False
        return True


async def _with_a_password(
    request: Request, csrf: str, given: str | None, then: Callable[[Page, staff.NewPassword], Response]
) -> Response:
    """CSRF first; then, for a county admin only, the password (checked or made up) hashed with no unit of work
    open; then `then` in a unit of work of its own."""
    if not csrf_matches(request, csrf):
        raise CsrfFailed("This form has expired or did not come from Shanzhi; open the page again and resend.")
    password: staff.NewPassword | DomainError | None = None
    if await in_turn(request, _is_admin, request):
        try:
            password = await run_in_threadpool(staff.new_password, given)
        except DomainError as error:  # a weak password given
            password = error

    def answer() -> Response:
        with unit_of_work(request.app.state.engine) as session:
            page = _admin_page(request, session)
            if not isinstance(page, Page):
                return page
            if password is None:  # became an admin in between: they send the form again
                raise CsrfFailed("Open the page again and resend.")
            if isinstance(password, DomainError):
                raise password
            return then(page, password)

    result: Response = await in_turn(request, answer)
    return result


@hashing_router.post("/county/staff", dependencies=[Depends(_declared_admin)])
async def add_staff_member(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    display_name: Text = "",
    kind: Annotated[str, Form(max_length=16)] = "",
    village_ids: Annotated[list[str] | None, Form()] = None,
    township_id: Annotated[str, Form(max_length=12)] = "",
    password: Annotated[str, Form(max_length=256)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """A new staff account; the password made up for it (or the one given) is shown once, on the page that
    follows."""
    sent: dict[str, Any] = {"username": username, "display_name": display_name, "kind": kind}
    sent |= {"village_ids": village_ids or [], "township_id": township_id}

    def create(page: Page, made: staff.NewPassword) -> Response:
        try:
            with setup.attempt(page):
                chosen, villages, township = _places_of(kind, village_ids, township_id)
                user = staff.create(
                    page.session,
                    by=setup.who(page),
                    username=username,
                    display_name=display_name,
                    kind=chosen,
                    password=made,
                    village_ids=villages,
                    township_id=township,
                )
        except DomainError as error:
            if not setup.refused(error):
                raise
            return _staff_page(page, **setup.refused_as(page, error), sent=sent)
        return page.render(
            "people/staff_password.html",
            member=staff.member(page.session, setup.who(page).county_id, row_id(user.id)),
            password=made.shown,
            created=True,
        )

    return await _guarded(request, csrf, setup.blank(password), create)


@hashing_router.post("/county/staff/{user_id}/reset-password", dependencies=[Depends(_declared_admin)])
async def reset_staff_password(
    request: Request, user_id: int, csrf: Annotated[str, Form(max_length=128)] = ""
) -> Response:
    """A new password made up for the account and shown once; its holder sets their own at next sign-in, and
    every sign-in it had ends now."""

    def reset(page: Page, made: staff.NewPassword) -> Response:
        try:
            with setup.attempt(page):
                staff.reset_password(page.session, by=setup.who(page), user_id=user_id, password=made)
        except DomainError as error:
            if not setup.refused(error):
                raise
            return _member_page(page, user_id, **setup.refused_as(page, error))
        return page.render(
            "people/staff_password.html",
            member=staff.member(page.session, setup.who(page).county_id, user_id),
            password=made.shown,
            created=False,
        )

    return await _guarded(request, csrf, None, reset)


async def _guarded(
    request: Request, csrf: str, given: str | None, then: Callable[[Page, staff.NewPassword], Response]
) -> Response:
    """`_with_a_password`, with a refusal raised in it shown as the pages show refusals."""
    try:
        return await _with_a_password(request, csrf, given, then)
    except DomainError as error:
        answer: Response = await in_turn(request, _refusal_answer, request, error)
        return answer


def _refusal_answer(request: Request, error: DomainError) -> Response:
    with unit_of_work(request.app.state.engine) as session:
        page = get_page(request, session)
        if isinstance(error, Unauthenticated) or page.principal is None:
            return page.respond(RedirectResponse(sign_in_url("/county/staff"), status_code=303))
        if page.principal is not None and permits(ADMIN, page.principal) and error.code == "weak_password":
            return _staff_page(page, **setup.refused_as(page, error))
        return refusal_page(page, error.code, setup.refusal(page, error), status_of(error))
