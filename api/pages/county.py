"""The county admin's pages: a home listing the county's settings, the policy (and each village's notice-board
privacy), the catalogue, partners (their villages, machine clients and staff sign-ins) and their offers waiting for
approval, scorecard versions (the calibration report, activating one), and the change log, which auditors read
too.

As every page, these declare who may open them (`page_allow`) and call the domain: each change goes through the
same function as the API's route (ledger/catalogue/county.py, ledger/catalogue/service.py, redemption/partners.py,
redemption/offers.py, scoring/ratings.py), which writes its row in the change log. A refusal is shown on the page
it came from, in words, and nothing is changed.

A client's secret and a sign-in's first password are made and hashed before the request's unit of work begins:
those two forms are on `secret_router`, whose `_fresh_*` dependencies run first (they check the form's CSRF token,
which only a signed-in browser holds, then hash), and only then `page_allow` opens the unit of work. The plain
text is shown once, on the page answering the form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlmodel import col
from starlette.concurrency import run_in_threadpool

from api import i18n
from api.i18n import N_
from api.pages.web import CsrfFailed, Page, csrf_matches, page_allow, refusal_text
from api.pages.web import reason as refusal_reason
from api.presentation.partner_admin import partner_out
from api.presentation.redemption import offer_out
from api.problems import status_of
from ledger.catalogue import county as county_settings
from ledger.catalogue import service as catalogue
from ledger.core import audit, exports
from ledger.core.base import as_utc, row_id, utcnow
from ledger.core.errors import DomainError, Invalid, NotFound, Unauthenticated
from ledger.identity.models import Role, User
from ledger.identity.principal import Principal, visible_villages
from ledger.people import places
from ledger.tenancy import County, NoticePrivacy
from redemption import access as partner_access
from redemption import offers, partners
from redemption.models import OfferStatus
from scoring import calibration, ratings
from scoring.models import Scorecard

router = APIRouter()
secret_router = APIRouter()  # forms that make a secret: no router-wide CSRF check (each checks its own, first)
AdminPage = Annotated[Page, page_allow(Role.COUNTY_ADMIN)]
LogPage = Annotated[Page, page_allow(Role.COUNTY_ADMIN, Role.AUDITOR)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHANGES_SHOWN = 200  # the newest changes on the page; the files hold every change matching the filters


# --- the admin's home: every section of the county's set-up ------------------------------------------------------


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    about: str
    path: str


SECTIONS = (
    Section(
        "places",
        N_("Townships and villages"),
        N_("The county's townships and villages, each village's notice board and centre."),
        "/county/places",
    ),
    Section(
        "households",
        N_("Households"),
        N_("Households and their members, moves, heads and closing."),
        "/county/households",
    ),
    Section("staff", N_("Staff"), N_("Officials, township supervisors, auditors and county admins."), "/county/staff"),
    Section(
        "roster", N_("Import the roster"), N_("Set up or update households from the county's roster."), "/county/roster"
    ),
    Section(
        "policy",
        N_("Policy"),
        N_("Notice, review and appeal periods, when a claim is overdue, points expiry."),
        "/county/policy",
    ),
    Section(
        "catalogue", N_("Catalogue"), N_("The matters that earn or cost points, and their limits."), "/county/catalogue"
    ),
    Section(
        "partners",
        N_("Partners"),
        N_("Banks, merchants and clinics: the villages they serve and their sign-ins."),
        "/county/partners",
    ),
    Section(
        "offers",
        N_("Offers to approve"),
        N_("What partners offer for points, before households see it."),
        "/county/offers",
    ),
    Section(
        "scorecards",
        N_("Scorecards"),
        N_("The versions of the credit scorecard: check one, and rate with it."),
        "/county/scorecards",
    ),
    Section(
        "concerns",
        N_("Village concerns"),
        N_("Categories and their deadlines, handlers, places, the working calendar, outside systems (Open311)."),
        "/county/concerns/categories",
    ),
    Section(
        "changes",
        N_("Change log"),
        N_("Every change to the county's set-up: who, when, before and after."),
        "/county/changes",
    ),
)


def _who(page: Page) -> Principal:
    assert page.principal is not None
    return page.principal


def _county(page: Page) -> County:
    county = page.session.get(County, _who(page).county_id)
    assert county is not None
    return county


@router.get("/county")
def county_home(page: AdminPage) -> Response:
    """The county admin's start: each part of the county's set-up, with what waits for them."""
    waiting = len(offers.of_county(page.session, _who(page).county_id, OfferStatus.PROPOSED))
    return page.render("county/home.html", sections=SECTIONS, county=_county(page), waiting=waiting)


def _refused(page: Page, error: DomainError) -> tuple[str, int]:
    """A refusal as the page says it, and its status; being signed out is not a refusal but a sign-in."""
    if isinstance(error, Unauthenticated):
        raise error
    return refusal_reason(page, error), status_of(error)


# --- the policy and the villages' notice boards ----------------------------------------------------------------

POLICY_TEXTS = {
    "notice_days": (N_("Notice period"), N_("days an approved claim stays on the notice board before it settles")),
    "review_days": (N_("Review period"), N_("days a claim may wait for a decision before it expires")),
    "appeal_days": (N_("Appeal period"), N_("days a household has to appeal a rejection or a deduction")),
    "overdue_hours": (N_("Overdue after"), N_("hours before a claim waiting for review is overdue")),
    "village_max_rewards": (N_("Village rewards"), N_("matters that earn points a village may add of its own")),
    "village_max_deductions": (N_("Village deductions"), N_("matters that cost points a village may add of its own")),
    "village_max_points": (N_("Village points limit"), N_("points at most, either way, of a village's own matter")),
    "points_expiry_months": (N_("Points expire after"), N_("months after they settle; 0: never")),
    "award_second_official_points": (
        N_("Second official above"),
        N_("points: an award worth more waits for a second official; 0: every award does"),
    ),
}
CHOICE_TEXTS = {
    "unnamed": N_("Shown, without the household's name"),
    "hidden": N_("Not shown on the board"),
    "full_name": N_("Full name of the head"),
    "surname_house": N_("Surname and house number"),
    "anonymous": N_("A household (no name)"),
}


def _policy(page: Page, status_code: int = 200, **context: Any) -> Response:
    county = _county(page)
    villages = visible_villages(page.session, _who(page))
    return page.render(
        "county/policy.html",
        status_code=status_code,
        county=county,
        texts=POLICY_TEXTS,
        bounds=county_settings.BOUNDS,
        deductions=county_settings.CHOICES["notice_deductions"],
        privacy=tuple(choice.value for choice in NoticePrivacy),
        choices=CHOICE_TEXTS,
        villages=villages,
        zone=i18n.zone_name(county.timezone, page.locale),
        **context,
    )


@router.get("/county/policy")
def policy_page(page: AdminPage) -> Response:
    return _policy(page)


def _whole(value: str, field: str) -> int:
    text = value.strip()
    if not text.lstrip("-").isdigit() or len(text) > 9:
        raise county_settings.InvalidPolicy("Give a whole number.", field=field)
    return int(text)


Number = Annotated[str, Form(max_length=12)]


@router.post("/county/policy")
def save_policy(
    page: AdminPage,
    notice_days: Number = "",
    review_days: Number = "",
    appeal_days: Number = "",
    overdue_hours: Number = "",
    village_max_rewards: Number = "",
    village_max_deductions: Number = "",
    village_max_points: Number = "",
    points_expiry_months: Number = "",
    award_second_official_points: Number = "",
    notice_deductions: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Every setting of the form at once: one wrong value changes nothing, and the page says which."""
    sent = {
        "notice_days": notice_days,
        "review_days": review_days,
        "appeal_days": appeal_days,
        "overdue_hours": overdue_hours,
        "village_max_rewards": village_max_rewards,
        "village_max_deductions": village_max_deductions,
        "village_max_points": village_max_points,
        "points_expiry_months": points_expiry_months,
        "award_second_official_points": award_second_official_points,
    }
    try:
        changes: dict[str, Any] = {name: _whole(value, name) for name, value in sent.items()}
        changes["notice_deductions"] = notice_deductions
        county_settings.set_policy(page.session, _who(page), changes)
    except DomainError as error:
        text, status = _refused(page, error)
        return _policy(page, status, refusal=text, wrong=error.detail.get("field"), sent=sent)
    return page.redirect("/county/policy", done="saved")


@router.post("/county/villages/{village_id}/privacy")
def save_privacy(page: AdminPage, village_id: int, notice_privacy: Annotated[str, Form(max_length=16)]) -> Response:
    try:
        places.edit_village(page.session, _who(page), village_id, {"notice_privacy": notice_privacy})
    except DomainError as error:
        text, status = _refused(page, error)
        return _policy(page, status, refusal=text)
    return page.redirect("/county/policy", done="saved")


# --- the catalogue ------------------------------------------------------------------------------------------------

CATEGORY_TEXTS = {
    "environment": N_("Clean environment"),
    "public_welfare": N_("Public good"),
    "filial_piety": N_("Care for elders"),
    "harmony": N_("Good neighbours"),
    "customs": N_("Good customs"),
    "education": N_("Learning"),
    "land_use": N_("Land use"),
    "participation": N_("Village affairs"),
    "safety": N_("Safety"),
}
EVIDENCE_TEXTS = {"none": N_("No proof needed"), "photo": N_("A photo"), "witness": N_("A witness")}
REVIEW_TEXTS = {"official": N_("An official reviews it"), "auto": N_("Approved automatically")}
CAPS = ("cap_day", "cap_week", "cap_month", "cap_year")


def _county_scope(page: Page) -> catalogue.Scope:
    return catalogue.Scope(county_id=_who(page).county_id, village_id=None)


def _catalogue(page: Page, status_code: int = 200, **context: Any) -> Response:
    matters = catalogue.effective(page.session, county_id=_who(page).county_id, village_id=None)
    return page.render(
        "county/catalogue.html",
        status_code=status_code,
        matters=matters,
        categories=CATEGORY_TEXTS,
        evidence=EVIDENCE_TEXTS,
        reviews=REVIEW_TEXTS,
        **context,
    )


@router.get("/county/catalogue")
def catalogue_page(page: AdminPage) -> Response:
    """The county's matters as they are now: points, proof, review, limits, validity and version."""
    return _catalogue(page)


def _day_of(value: str, page: Page, field: str) -> datetime | None:
    """A day from a date field (empty: none), as the county's midnight."""
    if not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError as error:
        raise catalogue.InvalidMatter("Give a date.", field=field) from error
    return as_utc(datetime.combine(day, time(), tzinfo=ZoneInfo(page.timezone)))


def _cap(value: str, field: str) -> int | None:
    text = value.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 6:
        raise catalogue.InvalidMatter("A limit is a whole number.", field=field)
    return int(text)


@dataclass(frozen=True)
class MatterForm:
    """A matter as its form sends it: text, to be typed and checked."""

    name_zh: str
    name_en: str
    category: str
    points: str
    evidence: str
    review: str
    cap_day: str
    cap_week: str
    cap_month: str
    cap_year: str
    valid_from: str
    valid_to: str
    active: str

    def fields(self, page: Page) -> dict[str, Any]:
        """Typed (the catalogue's service checks them)."""
        points = self.points.strip()
        if not points.lstrip("-").isdigit() or len(points) > 6:
            raise catalogue.InvalidMatter("points is a whole number.", field="points")
        return {
            "name_zh": self.name_zh.strip(),
            "name_en": self.name_en.strip(),
            "category": self.category.strip(),
            "points": int(points),
            "evidence": self.evidence,
            "review": self.review,
            **{cap: _cap(getattr(self, cap), cap) for cap in CAPS},
            "valid_from": _day_of(self.valid_from, page, "valid_from"),
            "valid_to": _day_of(self.valid_to, page, "valid_to"),
            "active": self.active == "yes",
        }


def matter_form(
    name_zh: Annotated[str, Form(max_length=100)] = "",
    name_en: Annotated[str, Form(max_length=100)] = "",
    category: Annotated[str, Form(max_length=48)] = "",
    points: Annotated[str, Form(max_length=8)] = "",
    evidence: Annotated[str, Form(max_length=16)] = "",
    review: Annotated[str, Form(max_length=16)] = "",
    cap_day: Annotated[str, Form(max_length=8)] = "",
    cap_week: Annotated[str, Form(max_length=8)] = "",
    cap_month: Annotated[str, Form(max_length=8)] = "",
    cap_year: Annotated[str, Form(max_length=8)] = "",
    valid_from: Annotated[str, Form(max_length=10)] = "",
    valid_to: Annotated[str, Form(max_length=10)] = "",
    active: Annotated[str, Form(max_length=4)] = "",
) -> MatterForm:
    return MatterForm(
        name_zh,
        name_en,
        category,
        points,
        evidence,
        review,
        cap_day,
        cap_week,
        cap_month,
        cap_year,
        valid_from,
        valid_to,
        active,
    )


SentMatter = Annotated[MatterForm, Depends(matter_form)]


@router.post("/county/catalogue")
def add_matter(page: AdminPage, sent: SentMatter, code: Annotated[str, Form(max_length=48)] = "") -> Response:
    """A new matter of the county's catalogue (version 1)."""
    try:
        with page.session.begin_nested():
            catalogue.create(
                page.session,
                _county_scope(page),
                code=code.strip(),
                actor=_who(page).actor,
                within_village_limits=False,
                **sent.fields(page),
            )
    except DomainError as error:
        text, status = _refused(page, error)
        return _catalogue(page, status, refusal=text, sent={**vars(sent), "code": code})
    return page.redirect("/county/catalogue", done="created")


def _matter_page(page: Page, code: str, status_code: int = 200, **context: Any) -> Response:
    scope = _county_scope(page)
    history = catalogue.versions(page.session, county_id=scope.county_id, village_id=None, code=code)
    return page.render(
        "county/matter.html",
        status_code=status_code,
        matter=history[-1],
        history=list(reversed(history)),
        categories=CATEGORY_TEXTS,
        evidence=EVIDENCE_TEXTS,
        reviews=REVIEW_TEXTS,
        local_day=lambda moment: "" if moment is None else i18n.local(moment, page.timezone).date().isoformat(),
        **context,
    )


@router.get("/county/catalogue/{code}")
def matter_page(page: AdminPage, code: str) -> Response:
    """One matter: edit it (a new version; claims already made keep theirs) and every version before."""
    return _matter_page(page, code)


@router.post("/county/catalogue/{code}")
def edit_matter(page: AdminPage, code: str, sent: SentMatter) -> Response:
    """A new version with what the form changed; a form that changes nothing makes no version."""
    scope = _county_scope(page)
    latest = catalogue.versions(page.session, county_id=scope.county_id, village_id=None, code=code)[-1]
    try:
        with page.session.begin_nested():
            fields = sent.fields(page)
            changes = {name: value for name, value in fields.items() if not _same(getattr(latest, name), value)}
            if changes:
                catalogue.edit(
                    page.session, scope, code=code, actor=_who(page).actor, within_village_limits=False, **changes
                )
    except DomainError as error:
        text, status = _refused(page, error)
        return _matter_page(page, code, status, refusal=text, sent=vars(sent))
    return page.redirect(f"/county/catalogue/{code}", done="saved" if changes else "unchanged")


def _same(stored: Any, sent: Any) -> bool:
    if isinstance(stored, datetime) and isinstance(sent, datetime):
        return as_utc(stored) == as_utc(sent)
    return bool(stored == sent)


# --- partners -----------------------------------------------------------------------------------------------------

KIND_TEXTS = {"bank": N_("Bank"), "merchant": N_("Merchant"), "clinic": N_("Clinic")}
SCOPE_TEXTS = {
    "offers:manage": N_("Propose and withdraw offers"),
    "vouchers:consume": N_("Use vouchers at the till"),
    "bookings:manage": N_("Manage health-check bookings"),
    "settlement:read": N_("Read its settlement"),
    "loans:read": N_("Read loan applications"),
    "loans:decide": N_("Decide loan applications"),
    "loans:report": N_("Report loan outcomes"),
    "credit:read": N_("Look up ratings with a household's consent"),
    "ledger:head": N_("Read the signed record of the points"),
}


def _partner_list(page: Page, status_code: int = 200, **context: Any) -> Response:
    found = partner_access.county_partners(page.session, _who(page))
    villages = {v.id: v.name for v in visible_villages(page.session, _who(page))}
    return page.render(
        "county/partners.html",
        status_code=status_code,
        partners=[partner_out(page.session, p) for p in found],
        kinds=KIND_TEXTS,
        villages=villages,
        **context,
    )


@router.get("/county/partners")
def partner_list(page: AdminPage) -> Response:
    return _partner_list(page)


@router.post("/county/partners")
def add_partner(
    page: AdminPage,
    kind: Annotated[str, Form(max_length=16)] = "",
    partner_code: Annotated[str, Form(max_length=32)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    try:
        with page.session.begin_nested():
            made = partners.create_partner(page.session, _who(page), kind=kind, code=partner_code.strip(), name=name)
    except DomainError as error:
        text, status = _refused(page, error)
        return _partner_list(
            page, status, refusal=text, sent={"kind": kind, "partner_code": partner_code, "name": name}
        )
    return page.redirect(f"/county/partners/{made.id}", done="created")


def _partner_page(page: Page, partner_id: int, status_code: int = 200, **context: Any) -> Response:
    partner = partners.county_partner(page.session, _who(page), partner_id)
    shown = partner_out(page.session, partner)
    return page.render(
        "county/partner.html",
        status_code=status_code,
        partner=shown,
        kinds=KIND_TEXTS,
        scopes=SCOPE_TEXTS,
        allowed=sorted(partners.CLIENT_SCOPES[partner.kind]),
        villages=visible_villages(page.session, _who(page)),
        **context,
    )


@router.get("/county/partners/{partner_id}")
def partner_page(page: AdminPage, partner_id: int) -> Response:
    """One partner: the villages it serves, its machine clients and its staff's sign-ins."""
    return _partner_page(page, partner_id)


@router.post("/county/partners/{partner_id}/villages")
def save_partner_villages(
    page: AdminPage, partner_id: int, village_ids: Annotated[list[int] | None, Form()] = None
) -> Response:
    try:
        with page.session.begin_nested():
            offers.set_villages(page.session, _who(page), partner_id, village_ids or [])
    except DomainError as error:
        text, status = _refused(page, error)
        return _partner_page(page, partner_id, status, refusal=text)
    return page.redirect(f"/county/partners/{partner_id}", done="saved")


@router.post("/county/partners/{partner_id}/clients/{client_id}/disable")
def disable_client(page: AdminPage, partner_id: int, client_id: str) -> Response:
    partners.disable_client(page.session, _who(page), partner_id, client_id)
    return page.redirect(f"/county/partners/{partner_id}", done="saved")


async def _fresh(request: Request, make: Callable[[], partners.Fresh]) -> partners.Fresh | None:
    """A secret made and hashed before any unit of work, for a form whose CSRF token is this signed-in browser's
    (only a page served to a signed-in session carries one); None for any other form, which hashes nothing and is
    refused once the page is read."""
    form = await request.form(max_part_size=64 * 1024)
    if not request.cookies.get("sz_session") or not csrf_matches(request, form.get("csrf")):
        return None
    return await run_in_threadpool(make)


async def _fresh_secret(request: Request) -> partners.Fresh | None:
    return await _fresh(request, partners.new_secret)


async def _fresh_password(request: Request) -> partners.Fresh | None:
    return await _fresh(request, partners.new_password)


FreshSecret = Annotated[partners.Fresh | None, Depends(_fresh_secret)]
FreshPassword = Annotated[partners.Fresh | None, Depends(_fresh_password)]


def _forged() -> CsrfFailed:
    return CsrfFailed("This form has expired or did not come from Shanzhi; open the page again and resend.")


@secret_router.post("/county/partners/{partner_id}/clients")
def add_client(
    fresh: FreshSecret,
    page: AdminPage,
    partner_id: int,
    client_id: Annotated[str, Form(max_length=64)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """A machine client of the partner; its secret is shown on the answering page, once."""
    if fresh is None:
        raise _forged()
    try:
        with page.session.begin_nested():
            made = partners.create_client(
                page.session, _who(page), partner_id, secret=fresh, client_id=client_id.strip() or None, scopes=scopes
            )
    except DomainError as error:
        text, status = _refused(page, error)
        return _partner_page(page, partner_id, status, refusal=text)
    return _partner_page(page, partner_id, shown_secret={"client_id": made.client_id, "secret": fresh.plain})


@secret_router.post("/county/partners/{partner_id}/staff")
def add_partner_staff(
    fresh: FreshPassword,
    page: AdminPage,
    partner_id: int,
    username: Annotated[str, Form(max_length=64)] = "",
    display_name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """A sign-in for someone at the partner; its first password is shown on the answering page, once."""
    if fresh is None:
        raise _forged()
    try:
        with page.session.begin_nested():
            made = partners.create_staff(
                page.session,
                _who(page),
                partner_id,
                username=username.strip(),
                display_name=display_name,
                password=fresh,
            )
    except DomainError as error:
        text, status = _refused(page, error)
        return _partner_page(page, partner_id, status, refusal=text, sent={"username": username})
    return _partner_page(page, partner_id, shown_password={"username": made.username, "password": fresh.plain})


# --- offers waiting for approval ------------------------------------------------------------------------------


def _offers(page: Page, status_code: int = 200, **context: Any) -> Response:
    county_id = _who(page).county_id
    every = offers.of_county(page.session, county_id)
    waiting = [offer_out(page.session, o) for o in every if o.status == OfferStatus.PROPOSED]
    decided = [offer_out(page.session, o) for o in every if o.status != OfferStatus.PROPOSED][:30]
    villages = {v.id: v.name for v in visible_villages(page.session, _who(page))}
    return page.render(
        "county/offers.html",
        status_code=status_code,
        waiting=waiting,
        decided=decided,
        villages=villages,
        **context,
    )


@router.get("/county/offers")
def offer_list(page: AdminPage) -> Response:
    """Offers partners proposed, waiting for the admin's decision (households see one once it is approved), and
    the latest decided."""
    return _offers(page)


@router.post("/county/offers/{offer_id}/decision")
def decide_offer(
    page: AdminPage,
    offer_id: int,
    decision: Annotated[str, Form(max_length=8)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if decision not in ("approve", "reject"):
        return _offers(page, 400, refusal=page._("Choose to approve or not to approve the offer."))
    if decision == "reject" and not note.strip():
        return _offers(page, 400, refusal=page._("Say why the offer is not approved: the partner reads it."))
    try:
        offers.decide(page.session, _who(page), offer_id, approve=decision == "approve", note=note.strip() or None)
    except DomainError as error:
        text, status = _refused(page, error)
        return _offers(page, status, refusal=text)
    return page.redirect("/county/offers", done="decided")


# --- scorecards ---------------------------------------------------------------------------------------------------

METRIC_TEXTS = {
    "loans": N_("Finished loans"),
    "bad": N_("Of which bad"),
    "AUC": N_("AUC (how well it ranks)"),
    "Gini": N_("Gini"),
    "KS": N_("KS"),
}
PSI_TEXTS = {"stable": N_("stable"), "watch": N_("watch"), "shifted": N_("shifted")}


def _scorecards(page: Page, status_code: int = 200, **context: Any) -> Response:
    active = ratings.active_card(page.session, _who(page).county_id).id
    versions = page.session.scalars(select(Scorecard).order_by(col(Scorecard.created_at).desc())).all()
    return page.render("county/scorecards.html", status_code=status_code, versions=versions, active=active, **context)


@router.get("/county/scorecards")
def scorecard_list(page: AdminPage) -> Response:
    """Every scorecard version, the one the county rates with marked; each with its check against the county's
    loans."""
    return _scorecards(page)


@router.get("/county/scorecards/{scorecard_id}")
def scorecard_page(page: AdminPage, scorecard_id: str) -> Response:
    """How this version separates the county's finished loans against the one in force, how the county's scores
    would shift, and the button to rate with it."""
    county_id = _who(page).county_id
    row = page.session.get(Scorecard, scorecard_id)
    if row is None:
        raise NotFound("No such scorecard version.", scorecard_id=scorecard_id)
    active = ratings.active_card(page.session, county_id)
    candidate = ratings.card_by_id(page.session, scorecard_id)
    checked, why_not = None, None
    try:
        checked = calibration.check_version(page.session, county_id, candidate, active)
    except calibration.NotEnoughOutcomes as error:
        why_not = refusal_text(page, error.code)
    return page.render(
        "county/scorecard.html",
        version=row,
        active=active.id,
        checked=checked,
        why_not=why_not,
        metrics=METRIC_TEXTS,
        psi_texts=PSI_TEXTS,
    )


@router.post("/county/scorecards/{scorecard_id}/activate")
def activate_scorecard(page: AdminPage, scorecard_id: str, note: Annotated[str, Form(max_length=500)] = "") -> Response:
    ratings.activate(page.session, _who(page), scorecard_id, note=note.strip() or None)
    return page.redirect("/county/scorecards", done="activated")


# --- the change log -------------------------------------------------------------------------------------------------

ACTION_TEXTS = {
    "county.start": N_("County started"),
    "policy.change": N_("Policy changed"),
    "village.change": N_("Village changed"),
    "village.create": N_("Village added"),
    "township.create": N_("Township added"),
    "township.change": N_("Township changed"),
    "household.create": N_("Household added"),
    "household.change": N_("Household changed"),
    "household.close": N_("Household closed"),
    "township.rename": N_("Township renamed"),
    "member.add": N_("Member added"),
    "member.change": N_("Member changed"),
    "member.move": N_("Member moved"),
    "household.head": N_("Head of household changed"),
    "household.close.consents": N_("Consents ended with the household"),
    "partner.webhook_url": N_("Partner's event address changed"),
    "partner.webhook_secret": N_("Partner's signing key changed"),
    "roster.import": N_("Roster imported"),
    "staff.create": N_("Staff account added"),
    "staff.change": N_("Staff account changed"),
    "staff.disable": N_("Staff account disabled"),
    "staff.enable": N_("Staff account enabled"),
    "staff.reset_password": N_("Password reset"),
    "staff.link": N_("Staff account linked to a person"),
    "matter.create": N_("Matter added"),
    "matter.edit": N_("Matter changed (new version)"),
    "partner.create": N_("Partner added"),
    "partner.villages": N_("Partner's villages changed"),
    "partner_client.create": N_("Partner system connection added"),
    "partner_client.disable": N_("Partner system connection disabled"),
    "partner_staff.create": N_("Partner sign-in added"),
    "offer.approve": N_("Offer approved"),
    "offer.reject": N_("Offer not approved"),
    "scorecard.activate": N_("Scorecard put in force"),
    "concern_category.add": N_("Concern category added"),  # village concerns' set-up (docs/concerns.md)
    "concern_category.change": N_("Concern category changed"),
    "concern_category.deadlines": N_("Concern category's deadlines changed"),
    "concern_place.add": N_("Village place added"),
    "concern_place.change": N_("Village place changed"),
    "concern_handler.add": N_("Concern handler added"),
    "concern_handler.change": N_("Concern handler changed"),
    "concern_handler.members": N_("Concern handler's members changed"),
    "calendar.hours": N_("Working hours changed"),
    "calendar.day": N_("Calendar day marked"),
    "calendar.day_removed": N_("Calendar day unmarked"),
    "open311_client.create": N_("Open311 connection added"),
    "open311_client.disable": N_("Open311 connection disabled"),
}
FIELD_TEXTS = {
    **{name: texts[0] for name, texts in POLICY_TEXTS.items()},
    "notice_deductions": N_("Deductions on the notice board"),
    "notice_privacy": N_("How the notice board names households"),
    "timezone": N_("Time zone"),
    "name": N_("Name"),
    "default_matters": N_("Matters of the default catalogue"),
    "version": N_("Version"),
    "name_zh": N_("Name in Chinese"),
    "name_en": N_("Name in English"),
    "category": N_("Category"),
    "points": N_("Points"),
    "evidence": N_("Proof"),
    "review": N_("Review"),
    "cap_day": N_("Limit per day"),
    "cap_week": N_("Limit per week"),
    "cap_month": N_("Limit per month"),
    "cap_year": N_("Limit per year"),
    "valid_from": N_("Valid from"),
    "valid_to": N_("Valid until"),
    "active": N_("In use"),
    "kind": N_("Kind"),
    "code": N_("Code"),
    "village_ids": N_("Villages"),
    "partner_id": N_("Partner"),
    "scopes": N_("Permissions"),
    "secret": N_("Secret"),
    "password": N_("Password"),
    "username": N_("Sign-in name"),
    "display_name": N_("Shown name"),
    "role": N_("Role"),
    "status": N_("Status"),
    "note": N_("Note"),
    "household_id": N_("Household"),
    "village_id": N_("Village"),
    "township_id": N_("Township"),
    "house_number": N_("House number"),
    "address": N_("Address"),
    "closed_at": N_("Closed"),
    "phone": N_("Phone"),
    "relation": N_("Relation to the head"),
    "is_head": N_("Head of household"),
    "head": N_("Head of household"),
    "head_person_id": N_("Head of household"),
    "former_head_relation": N_("Former head's relation"),
    "centre_lat": N_("Centre (latitude)"),
    "centre_lon": N_("Centre (longitude)"),
    "lat": N_("Latitude"),
    "lon": N_("Longitude"),
    "supervisor_user_id": N_("Supervisor (account number)"),
    "file": N_("File"),
    "rows": N_("Rows"),
    "households": N_("Households"),
    "members": N_("Members"),
    "handler_members": N_("Staff who act for the handler (account numbers)"),
    "new_places": N_("New places"),
    "sha256": N_("File fingerprint"),
    "added": N_("added"),
    "changed": N_("changed"),
    "unchanged": N_("unchanged"),
    "moved": N_("moved"),
    "missing": N_("missing from the file"),
    "consents": N_("Consents"),
    "expired_claims": N_("Claims expired"),
    "why": N_("Why"),
    "webhook_url": N_("Event address"),
}
VALUE_TEXTS = {
    **CHOICE_TEXTS,
    **EVIDENCE_TEXTS,
    **REVIEW_TEXTS,
    **KIND_TEXTS,
    **CATEGORY_TEXTS,
    "made": N_("made (not shown)"),
    "approved": N_("approved"),
    "rejected": N_("not approved"),
    "proposed": N_("waiting"),
}
ROLE_TEXTS = {
    "official": N_("village official"),
    "county_admin": N_("county admin"),
    "auditor": N_("auditor"),
    "partner_staff": N_("partner staff"),
}


def _value(page: Page, name: str, value: Any, villages: dict[int, str]) -> str:
    """A value of the change log as its reader reads it: words for the programme's own codes, days in county
    time, names for villages; what the county typed as it is."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return page._("Yes") if value else page._("No")
    joiner = "、" if page.locale == "zh_CN" else ", "
    if isinstance(value, dict):  # a part of the record (the head of a new household, an import's counts)
        return joiner.join(
            f"{page._(FIELD_TEXTS[k]) if k in FIELD_TEXTS else k} {_value(page, k, v, villages)}"
            for k, v in value.items()
        )
    if name == "village_ids" and isinstance(value, list):
        return joiner.join(villages.get(v, str(v)) for v in value) if value else page._("The whole county")
    if name == "scopes" and isinstance(value, str):
        return joiner.join(page._(SCOPE_TEXTS.get(s, s)) for s in value.split())
    if name == "role" and isinstance(value, str) and value in ROLE_TEXTS:
        return page._(ROLE_TEXTS[value])
    if name == "timezone" and isinstance(value, str):
        return i18n.zone_name(value, page.locale)
    if isinstance(value, list):
        return joiner.join(str(v) for v in value)
    if isinstance(value, str) and name in ("valid_from", "valid_to", "at"):
        try:
            return i18n.day(datetime.fromisoformat(value), page.locale, timezone=page.timezone)
        except ValueError:
            return value
    if isinstance(value, str) and value in VALUE_TEXTS:
        return page._(VALUE_TEXTS[value])
    return str(value)


def _target(row: audit.AdminChange, villages: dict[int, str], partner_names: dict[int, str]) -> str:
    """What a change was made to, by its name where the county gave it one."""
    ident = row.target_id or ""
    if row.target_type == "village" and ident.isdigit():
        return villages.get(int(ident), ident)
    if row.target_type == "partner" and ident.isdigit():
        return partner_names.get(int(ident), ident)
    if row.target_type in ("policy", "county"):
        return ""
    return ident


def _actor(page: Page, actor: str, users: dict[int, str]) -> str:
    kind, _, ident = actor.partition(":")
    if kind == "user" and ident.isdigit():
        return users.get(int(ident), actor)
    if kind == "cli":
        return page._("Command line")
    if kind == "system":
        return page._("The system")
    return actor


@dataclass(frozen=True)
class Filters:
    since: datetime | None
    until: datetime | None
    action: str | None
    since_text: str
    until_text: str

    def query(self) -> str:
        parts = {"since": self.since_text, "until": self.until_text, "action": self.action or ""}
        return "&".join(f"{k}={v}" for k, v in parts.items() if v)


def _filters(page: Page, since: str | None, until: str | None, action: str | None) -> Filters:
    zone = ZoneInfo(page.timezone)

    def day(value: str | None, field: str) -> datetime | None:
        if not value or not value.strip():
            return None
        try:
            return datetime.combine(date.fromisoformat(value.strip()), time(), tzinfo=zone)
        except ValueError as error:
            raise Invalid("Give a date.", field=field) from error

    start, end = day(since, "since"), day(until, "until")
    chosen = action if action in ACTION_TEXTS or (action and action.rstrip(".") in _groups()) else None
    return Filters(  # the database keeps UTC
        since=as_utc(start) if start is not None else None,
        until=as_utc(end + timedelta(days=1)) if end is not None else None,  # the last day counts whole
        action=chosen,
        since_text=start.date().isoformat() if start else "",
        until_text=end.date().isoformat() if end else "",
    )


def _groups() -> list[str]:
    return sorted({code.partition(".")[0] for code in ACTION_TEXTS})


@router.get("/county/changes")
def change_log(
    page: LogPage, since: str | None = None, until: str | None = None, action: str | None = None
) -> Response:
    """Every change to the county's set-up, newest first: when, who, what, and each changed field before and
    after; filtered by days and by the kind of change, and as a file."""
    chosen = _filters(page, since, until, action)
    county_id = _who(page).county_id
    total = audit.count(page.session, county_id, since=chosen.since, until=chosen.until, action=chosen.action)
    shown = audit.changes(
        page.session,
        county_id,
        since=chosen.since,
        until=chosen.until,
        action=chosen.action,
        limit=CHANGES_SHOWN,
        newest_first=True,
    )
    users = _user_names(page, shown)
    villages = {row_id(v.id): v.name for v in visible_villages(page.session, _who(page))}
    partner_names = {row_id(p.id): p.name for p in partner_access.county_partners(page.session, _who(page))}
    listed = []
    for row in shown:
        before = json.loads(row.before) if row.before else {}
        after = json.loads(row.after) if row.after else {}
        names = list(dict.fromkeys([*before, *after]))
        listed.append(
            {
                "row": row,
                "what": page._(ACTION_TEXTS[row.action]) if row.action in ACTION_TEXTS else page._("Other change"),
                "who": _actor(page, row.actor, users),
                "target": _target(row, villages, partner_names),
                "fields": [
                    {
                        "name": page._(FIELD_TEXTS[n]) if n in FIELD_TEXTS else n,
                        "before": _value(page, n, before.get(n), villages) if row.before else None,
                        "after": _value(page, n, after.get(n), villages) if row.after else None,
                    }
                    for n in names
                ],
            }
        )
    return page.render(
        "county/changes.html",
        listed=listed,
        total=total,
        limit=CHANGES_SHOWN,
        filters=chosen,
        actions=ACTION_TEXTS,
        query=("?" + chosen.query()) if chosen.query() else "",
    )


def _user_names(page: Page, rows: list[audit.AdminChange]) -> dict[int, str]:
    ids = {
        int(ident)
        for row in rows
        for kind, _, ident in [row.actor.partition(":")]
        if kind == "user" and ident.isdigit()
    }
    if not ids:
        return {}
    found = page.session.execute(
        select(col(User.id), col(User.display_name)).where(
            col(User.id).in_(sorted(ids)), col(User.county_id) == _who(page).county_id
        )
    ).all()
    return {int(i): str(name) for i, name in found}


def _changes_file(page: Page, fmt: str, since: str | None, until: str | None, action: str | None) -> Response:
    chosen = _filters(page, since, until, action)
    rows = audit.changes(
        page.session, _who(page).county_id, since=chosen.since, until=chosen.until, action=chosen.action
    )
    table = audit.table(rows)
    name = f"shanzhi-changes-{utcnow():%Y%m%d}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":
        return page.respond(Response(exports.csv_bytes(table), media_type="text/csv; charset=utf-8", headers=headers))
    return page.respond(Response(exports.xlsx_bytes({"changes": table}), media_type=XLSX, headers=headers))


@router.get("/county/changes.csv")
def change_log_csv(
    page: LogPage, since: str | None = None, until: str | None = None, action: str | None = None
) -> Response:
    """The change log as the API's CSV (GET /api/v1/audit?format=csv), with the page's filters."""
    return _changes_file(page, "csv", since, until, action)


@router.get("/county/changes.xlsx")
def change_log_xlsx(
    page: LogPage, since: str | None = None, until: str | None = None, action: str | None = None
) -> Response:
    return _changes_file(page, "xlsx", since, until, action)
