"""The officials' pages (desk first): review queue, activities and QR posters, households, disputes, dashboard.

Every page declares who may open it (`page_allow`); what it shows and does goes through the same access modules
(`ledger/*/access.py`, `ledger.identity.principal`), services and presenters (`api/presentation`) as the API, so
the object checks (whose household, which village) are the API's. Listings the API does not have (the villages
and households a person sees) are read here, limited by `Principal.sees_village`. Auditors may open the read-only
parts; the forms are for officials and county admins (a proxy claim: officials only, as in the API).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlmodel import col

from api import i18n, photos
from api.i18n import N_
from api.pages import charts
from api.pages.messages import ERRORS
from api.pages.web import OfficialPage, Page, StaffPage, page_allow, refusal_text
from api.pages.web import reason as refusal_reason
from api.presentation import activities as activity_views
from api.presentation.catalogue import matter_out
from api.presentation.claims import claims_out, deductions_out, dispute_out
from api.presentation.credit import review_out
from api.presentation.files import FileWords
from api.presentation.households import balances_out, card_svg
from api.problems import status_of
from api.schemas.claims import (
    ActivityIn,
    ActivityOut,
    BulkApproveIn,
    DeductionIn,
    MatterOut,
    ProxyClaimIn,
    RejectIn,
    ResolveDisputeIn,
)
from api.schemas.credit import ReviewAnswerIn
from ledger import figures
from ledger.activities import access as activity_access
from ledger.activities import codes
from ledger.activities import service as activities
from ledger.catalogue import access as catalogue_access
from ledger.claims import access as claim_access
from ledger.claims import deductions, disputes, review
from ledger.claims import service as claims
from ledger.claims.models import Claim, ClaimStatus, DisputeStatus
from ledger.core.base import row_id, utcnow
from ledger.core.errors import DomainError, Invalid, Unauthenticated
from ledger.identity.models import Role
from ledger.identity.principal import (
    Principal,
    managed_household,
    managed_household_by_code,
    managed_village,
    visible_household,
    visible_villages,
)
from ledger.people import households
from ledger.tenancy import County, Household, HouseholdNotFound, Person, Township, Village
from scoring import access as credit_access
from scoring import reviews

router = APIRouter()
ProxyPage = Annotated[Page, page_allow(Role.OFFICIAL)]  # a proxy claim is entered by a village's own official
PAGE_SIZE = 50
PICKER_SIZE = 20  # households a search offers at once (a link shows the next ones)
OPEN_DISPUTES_SHOWN = 50  # open objections and appeals on the page, oldest first (a link shows the next ones)
DECIDED_DISPUTES_SHOWN = 20  # the latest decided ones shown below them
OutInt = str | None  # an optional id from a query string (empty means none)

CHART_TEXTS = {
    "participation": (N_("Participation rate by month"), N_("Households taking part (%)")),
    "points_by_matter": (N_("Points by matter, last 12 months"), N_("Points")),
    "on_time": (N_("Claims reviewed on time by month"), N_("Decided in time (%)")),
    "redemption": (N_("Redemption by partner, last 12 months"), N_("Points")),
    "concerns_by_month": (N_("Concerns received and steps on time by month"), N_("Concerns received")),
    "concerns_open": (N_("Open and overdue concerns by village, now"), N_("Village")),
}
CHART_SERIES = {  # the legend of a chart with several series (api/pages/charts.py)
    "concerns_by_month": (
        N_("Concerns received"),
        N_("Share accepted on time"),
        N_("Share dispatched on time"),
        N_("Share resolved on time"),
    ),
    "concerns_open": (N_("Open now"), N_("Overdue now")),
}
FLAG_TEXTS = {
    "shared_device": N_("Same phone as other households"),
    "burst": N_("Many claims in a short time"),
    "outside_geofence": N_("Claimed far from the activity"),
    "photo_reused": N_("Photo used before"),
    "no_location": N_("No location given"),
    "no_geofence": N_("Activity has no geofence"),
    "no_device": N_("No phone id"),
    "device_other_household": N_("Same phone as another household, same code"),
}


def _number(value: str | None, field: str) -> int | None:
    """An optional id from a query string or select (empty means none)."""
    if value is None or not value.strip():
        return None
    if not value.strip().isdigit() or int(value) <= 0:
        raise Invalid("Not a number.", field=field)
    return int(value)


def _blank(value: str | None) -> str | None:
    """An optional form field: empty means not given."""
    return value.strip() if value is not None and value.strip() else None


def _build(model: Any, field: str = "form", **values: Any) -> Any:
    try:
        return model(**values)
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors() if e.get("loc")) or field
        raise Invalid(f"Check {fields}.", field=fields) from exc


def _manages(page: Page) -> bool:
    return page.principal is not None and page.principal.role in (Role.OFFICIAL, Role.COUNTY_ADMIN)


def _keys(page: Page) -> codes.Keys:
    keys: codes.Keys = page.request.app.state.code_keys
    return keys


def _who(page: Page) -> Principal:
    """The signed-in person (every page here is behind `page_allow`)."""
    assert page.principal is not None
    return page.principal


def _activities(page: Page, village_id: int | None, *, include_ended: bool = False) -> list[Any]:
    """A village's activities as the API lists them: with their codes for those who run them."""
    who = _who(page)
    village = activity_access.listed_village(page.session, who, village_id)
    assert village.id is not None
    found = activities.of_village(page.session, village.id, include_ended=include_ended)
    if activity_access.sees_codes(who, village):
        return [activity_views.activity_out(page.session, _keys(page), page.settings, a) for a in found]
    return [activity_views.village_activity_out(page.session, a) for a in found]


def _activity(page: Page, activity_id: int) -> ActivityOut:
    activity = activity_access.managed_activity(page.session, _who(page), activity_id)
    return activity_views.activity_out(page.session, _keys(page), page.settings, activity)


def _matters(page: Page, village_id: int | None) -> list[MatterOut]:
    """The catalogue in force in a village, as the API lists it."""
    return [matter_out(m) for m in catalogue_access.readable_matters(page.session, _who(page), village_id)]


def _store_photo(page: Page, photo: UploadFile, village_id: int) -> int:
    """A photo an official took for one of their villages; its id."""
    saved = photos.store(page.request, page.session, page.settings, _who(page), photo, village_id)
    assert saved.id is not None
    return saved.id


def _villages(page: Page) -> list[Village]:
    assert page.principal is not None
    return visible_villages(page.session, page.principal)


def _household_names(page: Page, ids: set[int]) -> dict[int, Household]:
    if not ids:
        return {}
    who = _who(page)
    rows = page.session.scalars(select(Household).where(col(Household.id).in_(sorted(ids)))).all()
    return {row_id(h.id): h for h in rows if who.sees_household(h)}


def _reason_needed(page: Page) -> str:
    code = "reason_required"
    return page._(ERRORS[code])


def _photo_id(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


# --- the review queue ------------------------------------------------------------------------------------------


def _queue(page: Page, village_id: int | None = None, status_code: int = 200, **context: Any) -> Response:
    who = _who(page)
    pending = claims_out(
        page.session,
        claim_access.visible_claims(page.session, who, status=ClaimStatus.PENDING, village_id=village_id, limit=200),
        who,
    )
    names = _household_names(page, {c.household_id for c in pending})
    villages = {v.id: v.name for v in _villages(page)}
    rows = [
        {
            "claim": c,
            "household": names.get(c.household_id),
            "village": villages.get(c.village_id, ""),
            "photos": [_photo_id(link) for link in c.evidence],
            "flags": [page._(FLAG_TEXTS.get(f.get("code", ""), f.get("code", ""))) for f in getattr(c, "flags", [])],
        }
        for c in pending
    ]
    return page.render(
        "office/queue.html",
        status_code=status_code,
        rows=rows,
        villages=_villages(page),
        village_id=village_id,
        manages=_manages(page),
        key=secrets.token_urlsafe(12),
        **context,
    )


@router.get("/office")
def review_queue(page: StaffPage, village_id: OutInt = None) -> Response:
    """Pending claims of my villages, oldest first, with photos, age, overdue mark and fraud flags."""
    return _queue(page, _number(village_id, "village_id"))


@router.post("/office/claims/{claim_id}/approve")
def approve_claim(page: OfficialPage, claim_id: int) -> Response:
    review.approve(page.session, _who(page), claim_id=claim_id, idempotency_key=f"page:approve:{claim_id}")
    return page.redirect("/office", done="approved")


@router.post("/office/claims/{claim_id}/reject")
def reject_claim(
    page: OfficialPage,
    claim_id: int,
    reason: Annotated[str, Form(max_length=500)] = "",
    key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    if not reason.strip():
        return _queue(page, status_code=400, refusal=_reason_needed(page), refused_claim=claim_id)
    body = _build(RejectIn, "reason", reason=reason)
    review.reject(
        page.session,
        _who(page),
        claim_id=claim_id,
        reason=body.reason,
        idempotency_key=f"page:reject:{claim_id}:{key or secrets.token_urlsafe(8)}",
    )
    return page.redirect("/office", done="rejected")


@router.post("/office/claims/bulk-approve")
def bulk_approve_claims(page: OfficialPage, claim_ids: Annotated[list[int] | None, Form()] = None) -> Response:
    chosen = sorted(set(claim_ids or []))
    if not chosen:
        return _queue(page, status_code=400, refusal=page._("Tick at least one claim to approve."))
    body = _build(BulkApproveIn, "claim_ids", claim_ids=chosen)
    digest = hashlib.sha256(",".join(map(str, chosen)).encode()).hexdigest()[:32]
    outcomes = review.bulk_approve(
        page.session, _who(page), claim_ids=body.claim_ids, idempotency_key=f"page:bulk:{digest}"
    ).value
    failed = {int(i): code for i, code in outcomes.items() if code != "approved"}
    if failed:
        lines = [f"{i}: {refusal_text(page, code)}" for i, code in sorted(failed.items())]
        return _queue(
            page,
            status_code=200,
            refusal=page._("Some claims were not approved:"),
            refusal_lines=lines,
            notice=page._("%(n)s approved.", n=len(chosen) - len(failed)),
        )
    return page.redirect("/office", done="bulk_approved")


# --- activities --------------------------------------------------------------------------------------------------


def _local_moment(value: str, timezone: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise Invalid("Give a date and time.", field=field) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))


@router.get("/office/activities")
def activity_list(page: StaffPage, village_id: OutInt = None, include_ended: bool = False) -> Response:
    villages = _villages(page)
    chosen = _number(village_id, "village_id")
    shown = [v for v in villages if chosen is None or v.id == chosen]
    listed = []
    for village in shown:
        for activity in _activities(page, village.id, include_ended=include_ended):
            listed.append({"activity": activity, "village": village.name})
    first = shown[0].id if shown else None
    matters = [m for m in _matters(page, first) if m.points > 0 and m.active] if first is not None else []
    now = utcnow().astimezone(ZoneInfo(page.timezone))
    return page.render(
        "office/activities.html",
        listed=listed,
        villages=villages,
        village_id=chosen,
        matters=matters,
        include_ended=include_ended,
        manages=_manages(page),
        start=now.strftime("%Y-%m-%dT%H:%M"),
        end=(now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"),
    )


@router.post("/office/activities")
def create_activity(
    page: OfficialPage,
    village_id: Annotated[int, Form(gt=0)],
    matter_code: Annotated[str, Form(max_length=48)],
    title: Annotated[str, Form(max_length=100)],
    starts_at: Annotated[str, Form(max_length=32)],
    ends_at: Annotated[str, Form(max_length=32)],
    place: Annotated[str, Form(max_length=100)] = "",
    period: Annotated[str, Form(max_length=8)] = "once",
    rotating: Annotated[str | None, Form(max_length=8)] = None,
    lat: Annotated[str | None, Form(max_length=12)] = None,
    lon: Annotated[str | None, Form(max_length=12)] = None,
    radius_m: Annotated[str | None, Form(max_length=6)] = None,
) -> Response:
    timezone = page.timezone
    body = _build(
        ActivityIn,
        village_id=village_id,
        matter_code=matter_code,
        title=title,
        place=place,
        starts_at=_local_moment(starts_at, timezone, "starts_at"),
        ends_at=_local_moment(ends_at, timezone, "ends_at"),
        period=period,
        rotating=bool(rotating),
        lat=_blank(lat),
        lon=_blank(lon),
        radius_m=_blank(radius_m),
    )
    village = managed_village(page.session, _who(page), body.village_id)
    activities.create(page.session, village=village, actor=_who(page).actor, **body.model_dump(exclude={"village_id"}))
    return page.redirect(f"/office/activities?village_id={village_id}", done="created")


@router.get("/office/activities/{activity_id}/poster.svg")
def activity_poster(page: OfficialPage, activity_id: int) -> Response:
    """The API's A4 poster (title, matter, points, when, where and the QR code), to print."""
    activity = activity_access.managed_activity(page.session, _who(page), activity_id)
    svg = activity_views.poster_svg(page.session, _keys(page), page.settings, activity, page.locale)
    return page.respond(Response(svg, media_type="image/svg+xml"))


def _live(page: Page, activity_id: int) -> dict[str, Any]:
    activity = activity_access.managed_activity(page.session, _who(page), activity_id)
    code = activity_views.live_code_out(_keys(page), page.settings, activity)
    until = utcnow() + timedelta(seconds=code.expires_in)
    timezone = ZoneInfo(page.timezone)
    return {
        **code.model_dump(),
        "valid_until_text": page._("Valid until %(time)s", time=until.astimezone(timezone).strftime("%H:%M:%S")),
    }


@router.get("/office/activities/{activity_id}/live.json")
def activity_live_code(page: OfficialPage, activity_id: int) -> Response:
    """The rotating code for now, fetched by the screen every 30 seconds."""
    return page.respond(JSONResponse(_live(page, activity_id)))


@router.get("/office/activities/{activity_id}/screen")
def activity_screen(page: OfficialPage, activity_id: int) -> Response:
    """A wall screen for a rotating code: a big QR that renews itself every 30 seconds."""
    activity = _activity(page, activity_id)
    code = _live(page, activity_id)
    image = "data:image/svg+xml;base64," + base64.b64encode(code["svg"].encode()).decode()
    return page.render("office/screen.html", activity=activity, code=code, image=image)


@router.post("/office/activities/{activity_id}/withdraw")
def withdraw_activity(page: OfficialPage, activity_id: int) -> Response:
    activities.deactivate(page.session, activity_access.managed_activity(page.session, _who(page), activity_id))
    return page.redirect("/office/activities", done="saved")


# --- households ----------------------------------------------------------------------------------------------


@router.get("/office/households")
def household_list(page: StaffPage, village_id: OutInt = None, page_number: int = 1) -> Response:
    villages = _villages(page)
    chosen = _number(village_id, "village_id")
    ids = [v.id for v in villages if chosen is None or v.id == chosen]
    names = {v.id: v.name for v in villages}
    query = select(Household).where(col(Household.village_id).in_(ids))
    total = int(page.session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    page_number = max(1, page_number)
    rows = page.session.scalars(
        query.order_by(col(Household.village_id), col(Household.code))
        .offset((page_number - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    members: dict[int, list[Person]] = {}
    if rows:
        for person in page.session.scalars(
            select(Person).where(col(Person.household_id).in_([h.id for h in rows])).order_by(col(Person.id))
        ).all():
            members.setdefault(person.household_id, []).append(person)
    balances = balances_out(page.session, [row_id(h.id) for h in rows])
    listed = [
        {
            "household": h,
            "village": names.get(h.village_id, ""),
            "members": members.get(row_id(h.id), []),
            "balance": balances[row_id(h.id)],
        }
        for h in rows
    ]
    return page.render(
        "office/households.html",
        listed=listed,
        villages=villages,
        village_id=chosen,
        page_number=page_number,
        more=total > page_number * PAGE_SIZE,
        total=total,
        manages=_manages(page),
    )


@router.get("/office/households/{household_id}/card")
def household_card_page(page: OfficialPage, household_id: int) -> Response:
    household = visible_household(page.session, _who(page), household_id)
    return page.render("office/card.html", household=household)


@router.get("/office/households/{household_id}/card.svg")
def household_card_svg(page: OfficialPage, household_id: int) -> Response:
    household = managed_household(page.session, _who(page), household_id)
    svg = card_svg(page.session, _keys(page), page.settings, household, page.locale)
    return page.respond(Response(svg, media_type="image/svg+xml"))


def _proxy_form(page: Page, status_code: int = 200, **context: Any) -> Response:
    listed = []
    for village in _villages(page):
        for activity in _activities(page, village.id):
            if activity.active:
                listed.append({"activity": activity, "village": village.name})
    return page.render(
        "office/proxy.html", status_code=status_code, listed=listed, key=secrets.token_urlsafe(12), **context
    )


@router.get("/office/proxy")
def proxy_claim_form(page: OfficialPage, household_id: OutInt = None) -> Response:
    """Enter a claim for a household without a smartphone: scan its card, or give its 户号 (the household list's
    link fills it in)."""
    number = _number(household_id, "household_id")
    code = visible_household(page.session, _who(page), number).code if number is not None else None
    return _proxy_form(page, household_code=code)


@router.post("/office/proxy")
def send_proxy_claim(
    page: ProxyPage,
    activity_id: Annotated[int, Form(gt=0)],
    key: Annotated[str, Form(min_length=8, max_length=64)],
    household_card: Annotated[str, Form(max_length=300)] = "",
    household_code: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    card = household_card.strip() or None
    code = household_code.strip() or None
    if card is None and code is None:
        return _proxy_form(
            page, status_code=400, refusal=page._("Scan the household card or give the household number.")
        )
    number = None
    if code is not None:
        try:
            number = managed_household_by_code(page.session, _who(page), code).id
        except HouseholdNotFound:
            return _proxy_form(
                page,
                status_code=404,
                household_code=code,
                refusal=page._(
                    "None of your villages has a household with the number %(code)s. Check it on the household "
                    "list or on the household's card.",
                    code=code,
                ),
            )
    photos = []
    if photo is not None and photo.filename:  # a matter that needs a photo: the official takes it
        activity = _activity(page, activity_id)
        photos.append(_store_photo(page, photo, activity.village_id))
    body = _build(
        ProxyClaimIn,
        activity_id=activity_id,
        household_id=number,
        household_card=card,
        note=note.strip() or None,
        evidence_ids=photos,
    )
    claims.submit_proxy(
        page.session,
        _who(page),
        activity_id=body.activity_id,
        household_id=codes.household_named(_keys(page), body.household_id, body.household_card),
        person_id=body.person_id,
        details=claims.Details(evidence_ids=tuple(body.evidence_ids), note=body.note),
        idempotency_key=f"page:proxy:{key}",
    )
    return page.redirect("/office/proxy", done="recorded")


# --- awards ---------------------------------------------------------------------------------------------------


def _award_matters(page: Page, villages: list[Village]) -> list[dict[str, Any]]:
    """Per village, the rewards of the catalogue in force there now (county matters under a village's own)."""
    now = utcnow()
    return [
        {
            "village": village,
            "matters": [
                m
                for m in _matters(page, village.id)
                if m.points > 0
                and m.active
                and (m.valid_from is None or m.valid_from <= now)
                and (m.valid_to is None or now < m.valid_to)
            ],
        }
        for village in villages
    ]


def _recent_awards(page: Page, villages: list[Village]) -> list[Any]:
    """The last awards given in my villages, newest first, as the review queue and the API show them."""
    assert page.principal is not None
    found = page.session.scalars(
        select(Claim)
        .where(
            col(Claim.award_reason).is_not(None),
            col(Claim.village_id).in_([v.id for v in villages]),
        )
        .order_by(col(Claim.id).desc())
        .limit(20)
    ).all()
    return claims_out(page.session, found, page.principal)


def _award_form(page: Page, household_id: int | None, status_code: int = 200, **context: Any) -> Response:
    assert page.principal is not None
    household = visible_household(page.session, page.principal, household_id) if household_id is not None else None
    villages = [v for v in _villages(page) if household is None or v.id == household.village_id]
    county = page.session.get(County, page.principal.county_id)
    listed = _recent_awards(page, _villages(page))
    names = _household_names(page, {a.household_id for a in listed})
    return page.render(
        "office/award.html",
        status_code=status_code,
        household=household,
        groups=_award_matters(page, villages),
        recent=listed,
        names=names,
        threshold=county.award_second_official_points if county is not None else 0,
        key=secrets.token_urlsafe(12),
        **context,
    )


@router.get("/office/awards")
def award_form(page: OfficialPage, household_id: OutInt = None) -> Response:
    """Award a household the points of a reward of its village's catalogue, saying why, with the photos the
    matter asks for; and the last awards of my villages with where each stands."""
    return _award_form(page, _number(household_id, "household_id"))


@router.post("/office/awards")
def send_award(
    page: OfficialPage,
    matter_code: Annotated[str, Form(max_length=64)],
    key: Annotated[str, Form(min_length=8, max_length=64)],
    reason: Annotated[str, Form(max_length=500)] = "",
    household_card: Annotated[str, Form(max_length=300)] = "",
    household_id: Annotated[str, Form(max_length=12)] = "",
    household_code: Annotated[str, Form(max_length=32)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    number = _number(household_id, "household_id")  # the household already chosen (the household list's link)
    card = household_card.strip() or None
    code = household_code.strip() or None
    if card is None and number is None and code is None:
        return _award_form(
            page, None, status_code=400, refusal=page._("Scan the household card or give the household number.")
        )
    assert page.principal is not None
    try:
        with page.session.begin_nested():  # a refusal writes nothing, the photo's record included
            if code is not None:
                number = managed_household_by_code(page.session, page.principal, code).id
            number = codes.household_named(_keys(page), number, card)
            household = visible_household(page.session, page.principal, number)
            photos = []
            if photo is not None and photo.filename:  # a matter that needs a photo: the official took it
                photos.append(_store_photo(page, photo, household.village_id))
            given = claims.submit_award(
                page.session,
                page.principal,
                household_id=number,
                matter_code=matter_code.strip(),
                reason=reason,
                person_id=None,
                details=claims.Details(evidence_ids=tuple(photos)),
                idempotency_key=f"page:award:{key}",
            )
    except DomainError as refused:
        if isinstance(refused, Unauthenticated):
            raise
        return _award_form(page, number, status_code=status_of(refused), refusal=_award_refusal(page, refused))
    done = "award_waiting" if given.value.status == ClaimStatus.PENDING else "award_in_notice"
    return page.redirect(f"/office/awards?household_id={number}", done=done)


AWARD_REFUSALS = {  # an award's refusals, worded for the official who enters it
    "conflict_of_interest": N_(
        "You cannot award your own household: another official of the village, the "
        "township supervisor or the county admin does it."
    ),
    "cap_reached": N_("This household has reached the limit of points for this matter."),
    "not_a_reward": N_("This matter takes points away: record it as a deduction instead."),
    "evidence_required": N_("This matter needs a photo. Take one and send again."),
    "matter_not_found": N_("This matter is not in the catalogue of the household's village."),
}


def _award_refusal(page: Page, error: DomainError) -> str:
    text = AWARD_REFUSALS.get(error.code)
    return page._(text) if text else refusal_reason(page, error)


# --- deductions and disputes ---------------------------------------------------------------------------------------


def _disputes(
    page: Page,
    status_code: int = 200,
    *,
    household_id: int | None = None,
    q: str = "",
    cursor: str | None = None,
    open_cursor: str | None = None,
    **context: Any,
) -> Response:
    villages = _villages(page)
    # the deduction's household: picked from a search (its number, house number, or a name), as many as the
    # villages hold, a page at a time; a plain GET form, so it works on any phone
    picked = visible_household(page.session, _who(page), household_id) if household_id is not None else None
    found = None
    if picked is None and q.strip():
        found = households.listing(page.session, _who(page), q=q, cursor=cursor, limit=PICKER_SIZE)
    deductions_matters: list[Any] = []
    matter_names: dict[str, str] = {}  # a deduction names its matter by code; the page shows the name
    for village in villages:
        for matter in _matters(page, village.id):
            if matter.code in matter_names:
                continue
            matter_names[matter.code] = matter.name_zh if page.locale == "zh_CN" else matter.name_en
            if matter.points < 0 and matter.active:
                deductions_matters.append(matter)
    who = _who(page)
    # every open objection and appeal is reachable, the oldest (most urgent) first, a page at a time; below the
    # first page, the latest decided ones
    open_disputes = claim_access.dispute_page(
        page.session, who, status=DisputeStatus.OPEN, cursor=open_cursor, limit=OPEN_DISPUTES_SHOWN
    )
    decided = (
        claim_access.dispute_page(page.session, who, decided=True, newest_first=True, limit=DECIDED_DISPUTES_SHOWN).rows
        if open_cursor is None
        else []
    )
    listed = [dispute_out(d, who) for d in (*open_disputes.rows, *decided)]
    recent = deductions_out(page.session, claim_access.visible_deductions(page.session, who, limit=50))
    involved = {d.household_id for d in listed if d.household_id is not None} | {d.household_id for d in recent}
    names = _household_names(page, involved)
    return page.render(
        "office/disputes.html",
        status_code=status_code,
        picked=picked,
        q=q.strip(),
        found=found,
        matters=deductions_matters,
        matter_names=matter_names,
        disputes=listed,
        open_next=open_disputes.next_cursor,
        deductions=recent,
        names=names,
        open_status=DisputeStatus.OPEN.value,
        manages=_manages(page),
        key=secrets.token_urlsafe(12),
        **context,
    )


@router.get("/office/disputes")
def dispute_list(
    page: StaffPage,
    household_id: OutInt = None,
    q: Annotated[str, Query(max_length=100)] = "",
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    open_cursor: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """Open objections and appeals (a page at a time) and the latest decided ones, the deduction form (its
    household found by a search, then picked), and the recent deductions."""
    return _disputes(
        page, household_id=_number(household_id, "household_id"), q=q, cursor=cursor, open_cursor=open_cursor
    )


@router.post("/office/deductions")
def record_deduction(
    page: OfficialPage,
    household_id: Annotated[int, Form(gt=0)],
    matter_code: Annotated[str, Form(max_length=48)],
    key: Annotated[str, Form(min_length=8, max_length=64)],
    reason: Annotated[str, Form(max_length=500)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    if not reason.strip():
        return _disputes(page, status_code=400, household_id=household_id, refusal=_reason_needed(page))
    household = visible_household(page.session, _who(page), household_id)
    photos = []
    if photo is not None and photo.filename:
        photos.append(_store_photo(page, photo, household.village_id))
    body = _build(DeductionIn, household_id=household_id, matter_code=matter_code, reason=reason, evidence_ids=photos)
    deductions.record(
        page.session,
        _who(page),
        household_id=body.household_id,
        matter_code=body.matter_code,
        reason=body.reason,
        evidence_ids=tuple(body.evidence_ids),
        idempotency_key=f"page:deduction:{key}",
    )
    return page.redirect("/office/disputes", done="recorded")


@router.post("/office/disputes/{dispute_id}/resolve")
def resolve_dispute(
    page: OfficialPage,
    dispute_id: int,
    outcome: Annotated[str, Form(max_length=16)],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    body = _build(ResolveDisputeIn, "outcome", outcome=outcome, note=note.strip() or None)
    disputes.resolve(
        page.session,
        _who(page),
        dispute_id=dispute_id,
        upheld=body.outcome == "upheld",
        note=body.note,
        idempotency_key=f"page:resolve:{dispute_id}:{outcome}",
    )
    return page.redirect("/office/disputes", done="decided")


# --- rating reviews ------------------------------------------------------------------------------------------------


@router.get("/office/rating-reviews")
def rating_reviews(page: OfficialPage) -> Response:
    """Households that asked a person to look at their rating: open ones first, each with the rating it was
    about (grade, score, reasons), and a box for the answer the household is sent."""
    asked = [review_out(page.session, t) for t in credit_access.review_queue(page.session, _who(page), None)]
    asked.sort(key=lambda r: (r.status != "open", r.requested_at))
    names = _household_names(page, {r.household_id for r in asked})
    villages = {v.id: v.name for v in _villages(page)}
    return page.render("office/rating_reviews.html", asked=asked, names=names, villages=villages)


@router.post("/office/rating-reviews/{request_id}/answer")
def answer_rating_review(
    page: OfficialPage, request_id: int, answer: Annotated[str, Form(max_length=1000)] = ""
) -> Response:
    body = _build(ReviewAnswerIn, "answer", answer=answer)
    reviews.answer(page.session, _who(page), request_id=request_id, text=body.answer)
    return page.redirect("/office/rating-reviews", done="answered")


# --- the dashboard -------------------------------------------------------------------------------------------------


def _scope(page: Page, village_id: str | None, township: str | None) -> figures.Scope:
    assert page.principal is not None
    return figures.scope_of(
        page.session,
        page.principal,
        village_id=_number(village_id, "village_id"),
        township_id=_number(township, "township"),
    )


def _dashboard(page: Page, scope: figures.Scope) -> charts.Dashboard:
    """The dashboard's data as of now, its tables and charts kept by the app (api/pages/charts.py)."""
    drawn: charts.Drawn = page.request.app.state.drawn
    return charts.Dashboard.of(drawn, page.session, scope)


def _chart_name(name: str) -> str:
    if name not in (*charts.CHARTS, *charts.CONCERN_CHARTS):
        raise Invalid("No such chart.", field="name")
    return name


@router.get("/office/dashboard")
def dashboard(page: StaffPage, village_id: OutInt = None, township: OutInt = None) -> Response:
    scope = _scope(page, village_id, township)
    data = _dashboard(page, scope)
    table = data.table("participation")
    query = "&".join(f"{k}={v}" for k, v in scope.query().items())
    titles = {name: page._(texts[0]) for name, texts in CHART_TEXTS.items()}
    villages = _villages(page)
    townships = page.session.scalars(
        select(Township)
        .where(col(Township.id).in_(sorted({v.township_id for v in villages})))
        .order_by(col(Township.id))
    ).all()
    by_village = data.table("villages")
    concerns = data.table("concerns")
    name_column = "category_zh" if page.locale == "zh_CN" else "category_en"
    return page.render(
        "office/dashboard.html",
        concerns=concerns.assign(category=concerns[name_column]).to_dict(orient="records"),
        concern_charts=charts.CONCERN_CHARTS,
        scope=scope,
        table=table,
        by_village=by_village.to_dict(orient="records"),
        by_village_month=i18n.month_key(figures.months_until(utcnow(), scope.timezone, 1)[0], page.locale),
        participating=int(table["participating"].iloc[-1]) if len(table) else 0,
        households=int(table["households"].iloc[-1]) if len(table) else 0,
        month=i18n.month_key(table["month"].iloc[-1], page.locale) if len(table) else "",
        charts=charts.CHARTS,
        titles=titles,
        query=("?" + query) if query else "",
        villages=villages,
        townships=townships,
        village_id=scope.village_id,
        township=scope.township_id,
        timezone=i18n.zone_name(scope.timezone, page.locale),
    )


@router.get("/office/dashboard/chart/{name}.svg")
def dashboard_chart(page: StaffPage, name: str, village_id: OutInt = None, township: OutInt = None) -> Response:
    name = _chart_name(name)
    scope = _scope(page, village_id, township)
    title, y = CHART_TEXTS[name]
    labels = charts.Labels(
        title=page._(title),
        y=page._(y),
        empty=page._("Nothing yet"),
        matter_column="matter_zh" if page.locale == "zh_CN" else "matter_en",
        series=tuple(page._(text) for text in CHART_SERIES.get(name, ())),
    )
    svg = _dashboard(page, scope).chart(name, labels)
    return page.respond(Response(svg, media_type="image/svg+xml"))


def _download(page: Page, name: str, village_id: str | None, township: str | None, fmt: str) -> Response:
    name = name if name in ("villages", "concerns") else _chart_name(name)  # every chart's table, and two more
    scope = _scope(page, village_id, township)
    table = _dashboard(page, scope).table(name)
    words = FileWords(page.locale, scope.timezone)  # headers and words in the page's language
    filename = f"shanzhi-{name}-{utcnow():%Y%m%d}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if fmt == "csv":
        content = charts.to_csv(name, table, words)
        return page.respond(Response(content, media_type="text/csv; charset=utf-8", headers=headers))
    return page.respond(Response(charts.to_xlsx(name, table, words), media_type=charts.XLSX, headers=headers))


@router.get("/office/dashboard/data/{name}.csv")
def dashboard_csv(page: StaffPage, name: str, village_id: OutInt = None, township: OutInt = None) -> Response:
    return _download(page, name, village_id, township, "csv")


@router.get("/office/dashboard/data/{name}.xlsx")
def dashboard_xlsx(page: StaffPage, name: str, village_id: OutInt = None, township: OutInt = None) -> Response:
    return _download(page, name, village_id, township, "xlsx")
