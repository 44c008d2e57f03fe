"""What every page shares: the browser session, CSRF, language and elder mode, rendering, and calling the API.

One set of rules. A page never repeats a rule of the API: it declares who may open it (`page_allow`, checked by
`api.deps.permits` as for a token) and calls what the API's routes call: the domain's access module (whose
household, which village), its services and the presenters of `api/presentation`. A page never calls a route
function.

Sessions. Signing in makes a random 256-bit key, sent as the `sz_session` cookie (Secure, HttpOnly,
SameSite=Lax, Path=/, Max-Age the session's lifetime); only its SHA-256 is stored
(ledger.identity.models.WebSession), with an end time that lifetime away.
Signing out ends the row. The principal is re-read from the database on every request, as for tokens.

CSRF. Every form carries `csrf`, an HMAC of the session key (or, before signing in, of the `sz_pre` cookie's
random value) under the server secret. The pages' router checks it on every POST before the route runs, so a
form cannot forget it; SameSite=Lax is the second fence.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from sqlmodel import Session, col, select

from api import i18n
from api.deps import SessionDep, admit, in_turn
from ledger.core.base import as_utc, utcnow
from ledger.core.db import unit_of_work
from ledger.core.errors import DomainError, Forbidden, Throttled, Unauthenticated
from ledger.core.settings import Settings
from ledger.identity import principal as principals
from ledger.identity.models import Role, User, WebSession
from ledger.identity.principal import PasswordChangeRequired, Principal
from ledger.tenancy import County

OWN_PASSWORD_PAGE = "/account/password"  # where someone whose password another set chooses their own
SESSION_COOKIE = "sz_session"
PRE_COOKIE = "sz_pre"  # before signing in: what the sign-in form's CSRF token is bound to
LANG_COOKIE = "sz_lang"  # the language chosen before signing in
DEVICE_COOKIE = "sz_device"  # a random id of this browser, kept for long: fraud signals, scan tickets
SCAN_COOKIE = "sz_scan"  # the scan ticket of the live code this browser opened last
DEFAULT_TIMEZONE = "Asia/Shanghai"  # before signing in, when no county is known yet
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Pages may only load what the app serves itself; no inline script; never framed; the QR token in /c/… never
# leaves in a Referer.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; "
    "style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


class SignInNeeded(Unauthenticated):
    code = "sign_in_needed"


class CsrfFailed(Forbidden):
    code = "csrf_failed"


# --- templates ---------------------------------------------------------------------------------------------


@cache
def environment(locale: str) -> Environment:
    """One Jinja environment per language, with that language's catalogue installed."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(("html", "svg")),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]  # added by jinja2's i18n extension
    env.globals["LOCALES"] = i18n.LOCALES
    env.globals["LANGUAGE_NAMES"] = i18n.LANGUAGE_NAMES
    env.globals["LANGUAGE_HTML"] = i18n.HTML_LANG
    env.filters["yuan"] = i18n.yuan  # from fen
    env.filters["money"] = i18n.money  # from "50.00" yuan
    env.filters["brackets"] = lambda parts: (  # 庭院整洁（+3，需照片） / Clean courtyard (+3, photo needed)
        "（" + "，".join(map(str, parts)) + "）" if locale == "zh_CN" else " (" + ", ".join(map(str, parts)) + ")"
    )
    env.filters["colon"] = lambda label: f"{label}：" if locale == "zh_CN" else f"{label}: "  # 原因：… / Reason: …
    env.filters["when"] = _when
    env.filters["day"] = _day
    env.filters["month"] = lambda value: i18n.month(value, locale)
    env.filters["quarter"] = lambda value: i18n.quarter(value, locale)
    env.filters["period"] = lambda key: i18n.period(key, locale)  # "2026-Q4" as 2026年第四季度
    return env


def _zone(context: Context) -> str:
    page = context.get("page")
    return page.timezone if page is not None else DEFAULT_TIMEZONE


def _locale(context: Context) -> str:
    page = context.get("page")
    return page.locale if page is not None else i18n.DEFAULT


@pass_context
def _when(context: Context, moment: datetime | None) -> str:
    """11月30日 20:56 in the reader's county time (the year only when it is not this one)."""
    return "" if moment is None else i18n.when(moment, _locale(context), timezone=_zone(context))


@pass_context
def _day(context: Context, moment: datetime | date | None) -> str:
    """11月30日 (the year only when it is not this one); a moment is read in the county's time."""
    return "" if moment is None else i18n.day(moment, _locale(context), timezone=_zone(context))


# --- the page context ---------------------------------------------------------------------------------------


@dataclass
class Page:
    """Everything a page handler needs: the request, the unit of work, who is signed in and how they read."""

    request: Request
    session: Session
    settings: Settings
    principal: Principal | None
    name: str | None  # the signed-in person's display name
    locale: str
    elder: bool
    csrf: str
    cookies: dict[str, str] = field(default_factory=dict)  # cookies to set on the response
    cookie_seconds: dict[str, int] = field(default_factory=dict)  # their Max-Age, where it is not the default

    # texts from page code (flash notices, error reasons) are translated here
    def _(self, message: str, **values: Any) -> str:
        text = i18n.translations(self.locale).gettext(message)
        return text % values if values else text

    def render(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        from api.pages.messages import NOTICES

        done = self.request.query_params.get("done")
        if done in NOTICES and "notice" not in context:
            context["notice"] = self._(NOTICES[done])
        env = environment(self.locale)
        html = env.get_template(template).render(
            page=self, principal=self.principal, role=_role_of(self.principal), **context
        )
        response = HTMLResponse(html, status_code=status_code)
        self.respond(response)
        return response

    def redirect(self, url: str, **notice: Any) -> Response:
        """After a successful form (post/redirect/get). `notice` names a message the next page shows."""
        if notice:
            url += ("&" if "?" in url else "?") + urlencode(notice)
        return self.respond(RedirectResponse(url, status_code=303))

    def respond(self, response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        for name, value in self.cookies.items():
            set_cookie(response, self.settings, name, value, self.cookie_seconds.get(name))
        return response

    @property
    def device(self) -> str:
        """This browser's device id: its `sz_device` cookie, or the one this response sets."""
        return self.cookies.get(DEVICE_COOKIE) or self.request.cookies.get(DEVICE_COOKIE, "")

    @cached_property
    def timezone(self) -> str:
        """The county's time zone: every time a page shows is in it, as the programme counts days and months."""
        county = self.session.get(County, self.principal.county_id) if self.principal is not None else None
        return county.timezone if county is not None else DEFAULT_TIMEZONE

    @property
    def only(self) -> str | None:
        """In elder mode, the one section of a page shown on its own screen (`?only=` its id)."""
        wanted = self.request.query_params.get("only", "")
        return wanted if 0 < len(wanted) <= 30 and wanted.replace("-", "").isalpha() else None

    @property
    def html_lang(self) -> str:
        return i18n.HTML_LANG[self.locale]

    @property
    def path(self) -> str:
        query = self.request.url.query
        return self.request.url.path + (f"?{query}" if query else "")


def _role_of(principal: Principal | None) -> str | None:
    if principal is None:
        return None
    if principal.role == principals.PARTNER:
        return str(principal.partner_kind)
    return principal.role


def set_cookie(response: Response, settings: Settings, name: str, value: str, max_age: int | None = None) -> None:
    if value == "":
        response.delete_cookie(name, path="/", secure=settings.cookie_secure, httponly=True, samesite="lax")
        return
    response.set_cookie(
        name,
        value,
        max_age=max_age if max_age is not None else 400 * 24 * 3600,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def csrf_for(settings: Settings, bound_to: str) -> str:
    return hmac.new(("csrf:" + settings.effective_jwt_secret()).encode(), bound_to.encode(), hashlib.sha256).hexdigest()


def _signed_in(session: Session, key: str | None) -> tuple[Principal, User] | None:
    if not key:
        return None
    row = session.get(WebSession, hash_key(key))
    if row is None or row.ended_at is not None or as_utc(row.expires_at) <= utcnow():
        return None
    try:
        principal = principals.load(
            session, subject=f"user:{row.user_id}", role=row.role, scopes=(), issued_at=as_utc(row.created_at)
        )
    except Unauthenticated:
        return None
    user = session.get(User, row.user_id)
    return (principal, user) if user is not None else None


def get_page(request: Request, session: SessionDep) -> Page:
    settings: Settings = request.app.state.settings
    key = request.cookies.get(SESSION_COOKIE)
    found = _signed_in(session, key)
    cookies: dict[str, str] = {}
    principal: Principal | None
    user: User | None
    if found is not None:
        principal, user = found
        bound_to = key
        locale = i18n.pick(user.locale or request.cookies.get(LANG_COOKIE))
        elder = user.elder_mode
    else:
        principal = user = None
        bound_to = request.cookies.get(PRE_COOKIE)
        if not bound_to:
            bound_to = cookies[PRE_COOKIE] = secrets.token_urlsafe(24)
        if key:
            cookies[SESSION_COOKIE] = ""  # a stale session cookie goes
        locale = i18n.pick(request.cookies.get(LANG_COOKIE))
        elder = False
    assert bound_to is not None
    if not _device_id_ok(request.cookies.get(DEVICE_COOKIE)):
        cookies[DEVICE_COOKIE] = secrets.token_urlsafe(24)
    page = Page(
        request=request,
        session=session,
        settings=settings,
        principal=principal,
        name=user.display_name if user is not None else None,
        locale=locale,
        elder=elder,
        csrf=csrf_for(settings, bound_to),
        cookies=cookies,
    )
    request.state.page = page  # the error handlers render errors as pages with it
    return page


def _device_id_ok(value: str | None) -> bool:
    """A device cookie as this app makes them; anything else is replaced."""
    return value is not None and 16 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum()


def page_allow(*roles: str, partner_kinds: tuple[str, ...] = (), before_password_change: bool = False) -> Any:
    """Who may open a page: checked by `api.deps.admit`, as `allow` for a token. Anyone not signed in is sent to
    sign in first; anyone who must set a password of their own, to do that (`error_page`)."""
    access: dict[str, Any] = {"roles": roles, "partner_kinds": partner_kinds, "scope": None}
    if before_password_change:
        access["before_password_change"] = True

    def rule(page: Annotated[Page, Depends(get_page)]) -> Page:
        if page.principal is None:
            raise SignInNeeded("Sign in first.")
        admit(access, page.principal)
        return page

    vars(rule)["access_rule"] = access  # read by api.deps.access_rule_of, as for the API's rules
    return Depends(rule)


def page_public() -> Any:
    def rule(page: Annotated[Page, Depends(get_page)]) -> Page:
        return page

    vars(rule)["access_rule"] = "public"
    return Depends(rule)


Anyone = Annotated[Page, page_public()]
SignedIn = Annotated[Page, page_allow(*Role, partner_kinds=("bank", "merchant", "clinic"))]
VillagerPage = Annotated[Page, page_allow(Role.VILLAGER)]
OfficialPage = Annotated[Page, page_allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]
StaffPage = Annotated[Page, page_allow(Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
MerchantPage = Annotated[Page, page_allow(partner_kinds=("merchant", "clinic"))]
ClinicPage = Annotated[Page, page_allow(partner_kinds=("clinic",))]
BankPage = Annotated[Page, page_allow(partner_kinds=("bank",))]


# --- CSRF, checked on every POST of the pages' router ------------------------------------------------------


async def check_csrf(request: Request, page: Annotated[Page, Depends(get_page)]) -> None:
    """Runs for every route of the pages' router (after `get_page`, so a refusal is shown as a page)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    form = await request.form(max_part_size=64 * 1024)
    if not csrf_matches(request, form.get("csrf")):
        raise CsrfFailed("This form has expired or did not come from Shanzhi; open the page again and resend.")


def csrf_matches(request: Request, sent: object) -> bool:
    """Is `sent` the CSRF token of this browser's session (or, before signing in, of its `sz_pre` cookie)?"""
    bound_to = request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRE_COOKIE)
    settings: Settings = request.app.state.settings
    return isinstance(sent, str) and bool(bound_to) and hmac.compare_digest(sent, csrf_for(settings, bound_to or ""))


# --- signing in and out -------------------------------------------------------------------------------------


def start_session(page: Page, subject: str, role: str) -> None:
    """Sign this browser in as `subject`: a new key (never the one from before signing in)."""
    user_id = int(subject.partition(":")[2])
    lifetime = (
        timedelta(days=page.settings.villager_session_days)
        if role == Role.VILLAGER
        else timedelta(hours=page.settings.staff_session_hours)
    )
    key = secrets.token_urlsafe(32)
    page.session.add(WebSession(key_hash=hash_key(key), user_id=user_id, role=role, expires_at=utcnow() + lifetime))
    user = page.session.get(User, user_id)
    if user is not None and user.locale is None and page.locale != i18n.DEFAULT:
        user.locale = page.locale  # the language picked before signing in sticks
    page.cookies[SESSION_COOKIE] = key
    page.cookie_seconds[SESSION_COOKIE] = int(lifetime.total_seconds())  # the browser forgets it when the server does
    page.cookies[PRE_COOKIE] = ""


def end_session(page: Page) -> None:
    key = page.request.cookies.get(SESSION_COOKIE)
    if key:
        row = page.session.get(WebSession, hash_key(key))
        if row is not None and row.ended_at is None:
            row.ended_at = utcnow()
    page.cookies[SESSION_COOKIE] = ""


def end_sessions_of(session: Session, user_id: int) -> int:
    """End every browser session of a user (a lost phone)."""
    rows = session.exec(
        select(WebSession).where(col(WebSession.user_id) == user_id, col(WebSession.ended_at).is_(None))
    ).all()
    for row in rows:
        row.ended_at = utcnow()
    return len(rows)


def home_of(principal: Principal) -> str:
    """Where a person lands after signing in."""
    role = _role_of(principal)
    return {
        Role.VILLAGER: "/me",
        Role.OFFICIAL: "/office",
        Role.COUNTY_ADMIN: "/office",
        Role.AUDITOR: "/office",
        "merchant": "/till",
        "clinic": "/till",
        "bank": "/bank",
    }.get(role or "", "/")


def safe_next(target: str | None) -> str | None:
    """Only a path on this site is followed after signing in (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def sign_in_url(next_path: str) -> str:
    return "/signin?next=" + quote(next_path, safe="")


# --- errors on pages ----------------------------------------------------------------------------------------


def error_page(request: Request, error: DomainError, status_code: int) -> Response | None:
    """A DomainError raised while serving a page, as a page: sign in, or the plain reason. None: not a page."""
    page: Page | None = getattr(request.state, "page", None)
    if page is None:
        return None
    if isinstance(error, Unauthenticated):
        return page.respond(RedirectResponse(sign_in_url(page.path), status_code=303))
    if isinstance(error, PasswordChangeRequired):
        return page.respond(RedirectResponse(OWN_PASSWORD_PAGE, status_code=303))

    return refusal_page(page, error.code, reason(page, error), status_code)


def refusal_page(page: Page, code: str, text: str, status_code: int, heading: str | None = None) -> HTMLResponse:
    """The error page: what happened and what to do next, and a way back. No error code is shown (the reason
    says it in words); it stays in the page's markup for whoever supports the reader."""
    home = home_of(page.principal) if page.principal is not None else "/"
    return page.render("error.html", status_code=status_code, code=code, reason=text, heading=heading, home=home)


MACHINE_PATHS = ("/api/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc")


def is_page_path(path: str) -> bool:
    """Is this path read by people in a browser (every path but the API's and the machines' own)?"""
    return not (path == "/api" or path.startswith(MACHINE_PATHS))


STATUS_CODES = {
    404: "page_not_found",
    405: "page_not_found",
    409: "conflict",
    413: "body_too_large",
    500: "internal_error",
    503: "busy",
}


async def status_page(request: Request, status_code: int) -> Response | None:
    """A page path that is not found (404, 405) or fails (500), as a page in the visitor's language with a way
    back, not the API's problem; None for any other path. The page a route had begun is used when there is one;
    else the visitor is read from their cookies in a unit of work of its own, in turn (and if even that fails, as
    a visitor who is not signed in)."""
    if not is_page_path(request.url.path):
        return None
    code = STATUS_CODES.get(status_code, "internal_error")
    page: Page | None = getattr(request.state, "page", None)
    try:
        if page is not None:
            return _status_page(page, code, status_code)
        if status_code == 503:
            raise LookupError("the database is busy: the visitor is not read from it")
        answer: Response = await in_turn(request, _visitor_status_page, request, code, status_code)
        return answer
    except Exception:  # noqa: BLE001 - the page for a failure must not fail in turn
        visitor = Page(
            request=request,
            session=None,  # type: ignore[arg-type]  # never read: a visitor has no county
            settings=request.app.state.settings,
            principal=None,
            name=None,
            locale=i18n.pick(request.cookies.get(LANG_COOKIE)),
            elder=False,
            csrf="",
        )
        return _status_page(visitor, code, status_code)


def _visitor_status_page(request: Request, code: str, status_code: int) -> Response:
    with unit_of_work(request.app.state.engine) as session:
        return _status_page(get_page(request, session), code, status_code)


def _status_page(page: Page, code: str, status_code: int) -> Response:
    heading = page._("Page not found") if code == "page_not_found" else None
    return refusal_page(page, code, refusal_text(page, code), status_code, heading)


def reason(page: Page, error: DomainError) -> str:
    """The plain reason for a refusal, in the reader's language, by the error's stable code: what happened and
    what to do next (a villager reads words of their own where staff would read others)."""
    from api.pages.messages import FIELDS

    field = error.detail.get("field")
    if error.code == "invalid" and isinstance(field, str) and field in FIELDS:  # say which field, and how
        return page._(FIELDS[field])
    return refusal_text(page, error.code, retry_after=error.retry_after if isinstance(error, Throttled) else None)


def refusal_text(page: Page, code: str, *, retry_after: int | None = None) -> str:
    from api.pages.messages import ERRORS, FOR_VILLAGERS

    villager = page.principal is not None and page.principal.role == Role.VILLAGER
    text = (villager and FOR_VILLAGERS.get(code)) or ERRORS.get(code) or ERRORS["domain_error"]
    if retry_after is not None and "%(wait)s" in text:  # a limit says when it lifts
        return page._(text, wait=wait_text(page, retry_after))
    return page._(text)


def wait_text(page: Page, seconds: int) -> str:
    """A wait in the reader's language: seconds under two minutes, else whole minutes (rounded up)."""
    if seconds < 120:
        return page._("%(count)s seconds", count=seconds)
    return page._("%(count)s minutes", count=-(-seconds // 60))
