"""Signing in and out of the pages, and each person's language and elder mode."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api import i18n, photos, signin
from api.deps import in_turn, public
from api.i18n import N_
from api.pages.web import (
    LANG_COOKIE,
    OWN_PASSWORD_PAGE,
    Anyone,
    CsrfFailed,
    Page,
    SignedIn,
    csrf_matches,
    end_session,
    get_page,
    home_of,
    page_allow,
    reason,
    safe_next,
    sign_in_url,
    start_session,
)
from api.schemas import OtpRequestIn, OtpVerifyIn
from ledger.claims import access
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.errors import DomainError, Forbidden, Invalid, Throttled
from ledger.core.settings import Settings
from ledger.identity import principal as principals
from ledger.identity import staff
from ledger.identity.models import Role, User

router = APIRouter()
signin_router = APIRouter()  # without the pages' CSRF dependency (and so without its unit of work): see below
Next = Annotated[str | None, Form(max_length=500)]
SignOut = Annotated[Page, page_allow(*Role, partner_kinds=("bank", "merchant", "clinic"), before_password_change=True)]


@router.get("/")
def front(page: Anyone) -> Response:
    if page.principal is None:
        return page.redirect("/signin")
    return page.redirect(home_of(page.principal))


@router.get("/signin")
def sign_in(page: Anyone, next: str | None = None) -> Response:  # noqa: A002 - the usual name
    if page.principal is not None:
        return page.redirect(safe_next(next) or home_of(page.principal))
    return page.render("signin.html", next=safe_next(next))


@router.post("/signin/phone")
def send_code(
    page: Anyone, request: Request, phone: Annotated[str, Form(max_length=20)], next: Next = None
) -> Response:  # noqa: A002
    try:
        number = OtpRequestIn(phone=phone.strip()).phone
        code = signin.send_code(page.session, request, page.settings, number)
    except ValidationError:
        return page.render(
            "signin.html",
            status_code=422,
            next=safe_next(next),
            phone=phone,
            error=page._("Enter an 11-digit mobile phone number, such as 13800000000."),
        )
    except Throttled as refused:
        return _refused(page, refused, next=safe_next(next), phone=phone)
    return page.render(
        "signin.html",
        step="code",
        phone=number,
        next=safe_next(next),
        dev_code=code if page.settings.dev_mode else None,
    )


@router.post("/signin/code")
def check_code(
    page: Anyone,
    request: Request,
    phone: Annotated[str, Form(max_length=20)],
    code: Annotated[str, Form(max_length=12)],
    next: Next = None,
) -> Response:  # noqa: A002
    try:
        found = signin.code_sign_in(page.session, request, page.settings, OtpVerifyIn(phone=phone, code=code.strip()))
    except ValidationError:
        found = None
    except Throttled as refused:
        return _refused(page, refused, step="code", phone=phone, next=safe_next(next))
    if found is None:  # the failure is counted: this page answers without raising, so it is committed
        return page.render(
            "signin.html",
            status_code=401,
            step="code",
            phone=phone,
            next=safe_next(next),
            error=reason(page, signin.InvalidCode("")),
        )
    return _signed_in(page, *found, next)


@signin_router.post("/signin/password", dependencies=[public()])
async def check_password(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=128)] = "",
    next: Next = None,
) -> Response:  # noqa: A002
    """Not on the pages' router: that one holds a unit of work (on SQLite, the one writer) for the whole request,
    and argon2 must run outside any. So the CSRF check comes first, then the sign-in (its own transactions around
    the hash), and only then a unit of work for the page."""
    settings: Settings = request.app.state.settings
    forged = not csrf_matches(request, csrf)
    found, refused = None, None
    if not forged:
        try:
            found = await run_in_threadpool(signin.password_sign_in, request, settings, username, password)
        except Throttled as error:
            refused = error
    answer: Response = await in_turn(request, _password_answer, request, forged, found, refused, safe_next(next))
    return answer


def _password_answer(
    request: Request, forged: bool, found: signin.StaffSignIn | None, refused: Throttled | None, next_path: str | None
) -> Response:
    with unit_of_work(request.app.state.engine) as session:
        page = get_page(request, session)
        if forged:
            error = CsrfFailed("This form has expired or did not come from Shanzhi; open the page again and resend.")
            return page.render("error.html", status_code=403, error=error, reason=reason(page, error))
        if refused is not None:
            return _refused(page, refused, next=next_path, staff_open=True)
        if found is None:
            return page.render(
                "signin.html",
                status_code=401,
                next=next_path,
                staff_open=True,
                error=reason(page, signin.InvalidGrant("")),
            )
        return _signed_in(
            page, found.subject, found.role, next_path, **({"done": "account_was_locked"} if found.locked_until else {})
        )


def _refused(page: Page, refused: Throttled, **context: Any) -> Response:
    """A limit on signing in, on the sign-in page: which one and when it lifts (as the API's 429 says)."""
    response = page.render("signin.html", status_code=429, error=reason(page, refused), **context)
    response.headers["Retry-After"] = str(refused.retry_after)
    return response


def _signed_in(page: Anyone, subject: str, role: str, next_path: str | None, **notice: str) -> Response:
    start_session(page, subject, role)
    who = principals.load(page.session, subject=subject, role=role, scopes=(), issued_at=utcnow())
    if who.must_change_password:  # a password someone else set: their own first, then the rest
        return page.redirect(OWN_PASSWORD_PAGE, **notice)
    return page.redirect(safe_next(next_path) or home_of(who), **notice)


# --- one's own password (staff and partners' staff; required after a new account or a reset) -------------------

PasswordHolderPage = Annotated[
    Page,
    page_allow(
        Role.OFFICIAL,
        Role.COUNTY_ADMIN,
        Role.AUDITOR,
        partner_kinds=("bank", "merchant", "clinic"),
        before_password_change=True,
    ),
]


@router.get(OWN_PASSWORD_PAGE)
def own_password(page: PasswordHolderPage) -> Response:
    assert page.principal is not None
    return page.render("password.html", required=page.principal.must_change_password)


@signin_router.post(OWN_PASSWORD_PAGE, dependencies=[public()])
async def set_own_password(
    request: Request,
    current_password: Annotated[str, Form(max_length=256)],
    new_password: Annotated[str, Form(max_length=256)],
    repeated: Annotated[str, Form(max_length=256)],
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Not on the pages' router, for the reason `check_password` is not: the CSRF check and who is signed in come
    first (a short unit of work), argon2 (the current password checked, the new one hashed) runs with none open,
    then the new hash is stored in a unit of work of its own."""
    settings: Settings = request.app.state.settings
    who = await in_turn(request, _password_holder, request) if csrf_matches(request, csrf) else None
    own, refused = None, None
    if isinstance(who, principals.Principal) and new_password == repeated:
        try:
            own = await run_in_threadpool(
                signin.check_own_password, request, settings, who, current_password, new_password
            )
        except DomainError as error:
            refused = error
    answer: Response = await in_turn(
        request, _own_password_answer, request, who, own, refused, new_password == repeated
    )
    return answer


def _password_holder(request: Request) -> principals.Principal | Response:
    """Who is signed in and may set their password, or the page that says why not."""
    with unit_of_work(request.app.state.engine) as session:
        page = get_page(request, session)
        if page.principal is None:
            return page.redirect(sign_in_url(OWN_PASSWORD_PAGE))
        if page.principal.user_id is None or page.principal.role == Role.VILLAGER:
            error = Forbidden("This page is not for your role.")
            return page.render("error.html", status_code=403, error=error, reason=reason(page, error))
        return page.principal


def _own_password_answer(
    request: Request,
    who: principals.Principal | Response | None,
    own: signin.OwnPassword | None,
    refused: DomainError | None,
    repeated_alike: bool,
) -> Response:
    if isinstance(who, Response):
        return who
    with unit_of_work(request.app.state.engine) as session:
        page = get_page(request, session)
        if who is None:
            forged = CsrfFailed("This form has expired or did not come from Shanzhi; open the page again and resend.")
            return page.render("error.html", status_code=403, error=forged, reason=reason(page, forged))
        required = who.must_change_password
        if not repeated_alike:
            text = page._(N_("The two new passwords are not the same. Enter the new password twice, alike."))
            return page.render("password.html", status_code=422, required=required, error=text)
        if refused is not None or own is None:
            error = refused or Forbidden("This page is not for your role.")
            status = 429 if isinstance(error, Throttled) else 403 if isinstance(error, Forbidden) else 422
            return page.render("password.html", status_code=status, required=required, error=reason(page, error))
        try:
            with session.begin_nested():
                staff.change_own_password(session, who=who, checked_hash=own.checked_hash, password=own.password)
        except DomainError as error:
            return page.render("password.html", status_code=409, required=required, error=reason(page, error))
        assert page.principal is not None
        return page.redirect(home_of(page.principal), done="password_changed")


@router.post("/signout")
def sign_out(page: SignOut) -> Response:
    end_session(page)
    return page.redirect("/signin", done="signed_out")


@router.post("/prefs/language")
def choose_language(page: Anyone, locale: Annotated[str, Form(max_length=8)], next: Next = None) -> Response:  # noqa: A002
    if locale not in i18n.LOCALES:
        raise Invalid("No such language.", field="locale")
    page.locale = locale
    page.cookies[LANG_COOKIE] = locale
    if page.principal is not None and page.principal.user_id is not None:
        user = page.session.get(User, page.principal.user_id)
        if user is not None:
            user.locale = locale
    return page.redirect(safe_next(next) or "/")


@router.post("/prefs/elder")
def toggle_elder_mode(page: SignedIn, next: Next = None) -> Response:  # noqa: A002
    user = page.session.get(User, page.principal.user_id) if page.principal and page.principal.user_id else None
    if user is not None:
        user.elder_mode = not user.elder_mode
    return page.redirect(safe_next(next) or "/")


PhotoViewer = Annotated[Page, page_allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]


@router.get("/photos/{evidence_id}")
def photo(page: PhotoViewer, evidence_id: int) -> Response:
    """An evidence photo for a page, under the API's rule of who may see it (the household, its officials); served
    as the API serves it, with its sandboxing policy rather than a page's."""
    assert page.principal is not None
    shown = access.visible_evidence(page.session, page.principal, evidence_id)
    response = page.respond(photos.served(page.settings, shown))
    response.headers.update(photos.SERVED_SAFELY)
    return response
