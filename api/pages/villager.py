"""The villager's pages (phone first): claim from a scanned QR code, the household, the rating, redeeming."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from api import photos
from api.pages.messages import OBJECTION_REASON, OBJECTION_REFUSALS
from api.pages.web import SCAN_COOKIE, Anyone, Page, SignInNeeded, VillagerPage, reason
from api.presentation import credit, household_data, loans, redemption
from api.presentation.activities import code_info_out
from api.presentation.claims import (
    claim_out,
    claims_out,
    deduction_out,
    deductions_out,
    dispute_out,
    leaderboard_out,
    notice_board_out,
)
from api.presentation.households import current_balance_out, notifications_out, statement_out
from api.problems import status_of
from api.schemas.claims import AppealIn, ClaimIn
from api.schemas.credit import ConsentIn, ReviewRequestIn
from api.schemas.loans import LoanApplicationIn
from api.schemas.redemption import RedemptionIn
from ledger.activities import render
from ledger.activities.codes import TICKET_SECONDS
from ledger.catalogue import access as catalogue_access
from ledger.claims import access as claim_access
from ledger.claims import disputes, notice
from ledger.claims import service as claims
from ledger.core.base import utcnow
from ledger.core.errors import DomainError, Forbidden, Invalid
from ledger.identity.models import PartnerKind, Role
from ledger.identity.principal import Principal, visible_village
from ledger.tenancy import get_household
from redemption import access as redemption_access
from redemption import loans as loan_service
from redemption import vouchers
from scoring import access as credit_access
from scoring import consent as consents
from scoring import ratings, reviews
from scoring.ratings import RatingNotFound

router = APIRouter()


@router.get("/c/{token}")
def claim_page(page: Anyone, token: str) -> Response:
    """What scanning an activity's QR code opens: the activity and one button (after signing in if needed), or,
    when a claim would be refused (claimed already, over, another village's), the plain reason instead.

    A live rotating code gives the browser a scan ticket first, before signing in: signing in by SMS code takes
    longer than the code lives, and the ticket proves when this browser scanned it."""
    keys = page.request.app.state.code_keys
    info = code_info_out(page.session, keys, token, page.device)
    if info.scan_ticket:
        page.cookies[SCAN_COOKIE] = info.scan_ticket
        page.cookie_seconds[SCAN_COOKIE] = TICKET_SECONDS
    if page.principal is None:
        raise SignInNeeded("Sign in first.")
    if page.principal.role != Role.VILLAGER:
        raise Forbidden("This page is not for your role.")
    try:  # would the claim be refused? Then say why now, before the photo is taken, and show no button
        claims.check(
            page.session, page.principal, keys, token=token, device=page.device, scan_ticket=_ticket(page, info)
        )
    except DomainError as refused:
        return page.render(
            "villager/claim.html",
            status_code=status_of(refused),
            info=info,
            token=token,
            refusal=refused,
            reason=reason(page, refused),
        )
    return page.render("villager/claim.html", info=info, token=token, key=secrets.token_urlsafe(16))


@router.post("/c/{token}")
def send_claim(
    page: VillagerPage,
    token: str,
    key: Annotated[str, Form(min_length=8, max_length=64)],
    photo: Annotated[UploadFile | None, File()] = None,
    lat: Annotated[str | None, Form(max_length=32)] = None,
    lon: Annotated[str | None, Form(max_length=32)] = None,
) -> Response:
    """Claim with the photo just taken, and where the phone says it is (when the villager let it say). The form's
    key makes a double tap or a resend claim once."""
    # a token no code can be, or an odd location, is refused before a photo is stored
    body = _model(
        ClaimIn,
        "token",
        token=token,
        lat=_coordinate(lat, "lat"),
        lon=_coordinate(lon, "lon"),
        scan_ticket=_ticket(page),
    )
    who = _who(page)
    if photo is not None and photo.filename:
        saved = photos.store(page.request, page.session, page.settings, who, photo, None)
        body = body.model_copy(update={"evidence_ids": [saved.id]})
    details = claims.Details(
        evidence_ids=tuple(body.evidence_ids),
        lat=body.lat,
        lon=body.lon,
        note=body.note,
        device=page.device,
        scan_ticket=body.scan_ticket,
    )
    keys = page.request.app.state.code_keys
    result = claims.submit_by_code(
        page.session, who, keys, token=body.token, details=details, idempotency_key=f"page:{key}"
    )
    evidence_ids = None if result.replayed else list(body.evidence_ids)
    claim = claim_out(page.session, result.value, who, replayed=result.replayed, evidence=evidence_ids)
    if body.scan_ticket:
        page.cookies[SCAN_COOKIE] = ""  # used
    return page.render("villager/claimed.html", claim=claim)


# --- helpers ------------------------------------------------------------------------------------------------


def _model(model: type[BaseModel], field: str, **values: Any) -> Any:
    """Build an API body from form values; what does not fit is a plain refusal, not a crash."""
    try:
        return model(**values)
    except ValidationError as error:
        raise Invalid("Some of what you entered is not valid.", field=field) from error


def _ticket(page: Page, info: Any = None) -> str | None:
    """The scan ticket to send: the one just given, or the one this browser kept (a well-formed one only)."""
    ticket = (info.scan_ticket if info is not None else None) or page.request.cookies.get(SCAN_COOKIE)
    return ticket if ticket and 8 <= len(ticket) <= 96 else None


def _coordinate(value: str | None, field: str) -> float | None:
    """A latitude or longitude from the form; empty when the phone did not say where it is."""
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise Invalid("The location sent is not valid.", field=field) from None


def _who(page: Page) -> Principal:
    assert page.principal is not None
    return page.principal


def _household(page: Page) -> int:
    assert page.principal is not None
    assert page.principal.household_id is not None
    return page.principal.household_id


def _balance(page: Page) -> Any:
    return current_balance_out(page.session, _household(page))


def _matter_names(page: Page) -> dict[str, str]:
    """Matter code -> its name in the reader's language (statement lines and deductions carry only the code)."""
    names = {}
    for matter in catalogue_access.readable_matters(page.session, _who(page), None):
        names[matter.code] = matter.name_zh if page.locale == "zh_CN" else matter.name_en
    return names


Key = Annotated[str, Form(min_length=8, max_length=64)]
BOARD_SHOWN = 20  # notice-board entries on my page at once (a link shows the next ones)
LEADERS_SHOWN = 10  # leaderboard rows on my page at once
Reason = Annotated[str, Form(max_length=500)]


# --- my household -------------------------------------------------------------------------------------------


@router.get("/me")
def my_household(
    page: VillagerPage,
    period: Literal["month", "quarter", "year"] = "month",
    leaders_after: Annotated[str | None, Query(max_length=200)] = None,
    notices_after: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The balance, my claims (and what was rejected and why), deductions, the statement, what I was told, the
    notice board and the leaderboard of my village: the board's newest entries and the leaderboard's first ten,
    each with a link to the next ones (`notices_after`, `leaders_after`), and my own household's rank."""
    household_id = _household(page)
    who = _who(page)
    village_id = who.home_village_id
    statement = statement_out(page.session, household_id, limit=20)
    my_claims = claims_out(page.session, claim_access.visible_claims(page.session, who, limit=50), who)
    my_deductions = deductions_out(page.session, claim_access.visible_deductions(page.session, who))
    my_disputes = [dispute_out(d, who) for d in claim_access.visible_disputes(page.session, who)]
    appealed_claims = {d.claim_id for d in my_disputes if d.kind == "appeal" and d.claim_id}
    appealed_deductions = {d.deduction_id for d in my_disputes if d.kind == "appeal" and d.deduction_id}
    told = notifications_out(page.session, household_id, limit=10)
    board = leaders = None
    if village_id is not None:
        village = visible_village(page.session, who, village_id, members=True)
        board = notice_board_out(page.session, village, cursor=notices_after, limit=BOARD_SHOWN)
        leaders = leaderboard_out(page.session, village, who, period=period, cursor=leaders_after, limit=LEADERS_SHOWN)
    return page.render(
        "villager/me.html",
        may_object=disputes.objectable_claims(page.session, who) if board else set(),
        objected=disputes.objected_claims(page.session, who) if board else set(),
        balance=_balance(page),
        statement=statement.entries,
        claims=my_claims,
        deductions=my_deductions,
        appealed_claims=appealed_claims,
        appealed_deductions=appealed_deductions,
        notifications=told,
        board=board,
        on_board=notice.deductions_on_board(page.session, [d.id for d in my_deductions]) if board else {},
        leaders_after=leaders_after,
        notices_after=notices_after,
        leaders=leaders,
        matters=_matter_names(page),
        now=utcnow(),
    )


@router.get("/me/data.xlsx")
def my_household_data_xlsx(page: VillagerPage) -> Response:
    """Everything held about my household, as a spreadsheet to keep (the same as GET /api/v1/me/data)."""
    return _my_data(page, "xlsx")


@router.get("/me/data.json")
def my_household_data_json(page: VillagerPage) -> Response:
    return _my_data(page, "json")


def _my_data(page: Page, format: str) -> Response:  # noqa: A002
    household = get_household(page.session, _household(page))
    body, media, name = household_data.gather(page.session, household).as_file(format, page.locale)
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return page.respond(Response(body, media_type=media, headers=headers))


@router.get("/me/appeal")
def appeal_form(page: VillagerPage, claim_id: int | None = None, deduction_id: int | None = None) -> Response:
    """Say why a rejection or a deduction is wrong; an official answers."""
    if (claim_id is None) == (deduction_id is None):
        raise Invalid("Name the claim or the deduction.", field="claim_id")
    subject: Any
    if claim_id is not None:
        subject = claim_out(page.session, claim_access.visible_claim(page.session, _who(page), claim_id), _who(page))
    else:
        assert deduction_id is not None
        deduction = claim_access.visible_deduction(page.session, _who(page), deduction_id)
        subject = deduction_out(page.session, deduction)
    return page.render(
        "villager/appeal.html",
        claim_id=claim_id,
        deduction_id=deduction_id,
        subject=subject,
        matters=_matter_names(page),
        key=secrets.token_urlsafe(16),
    )


@router.post("/me/appeal")
def send_appeal(
    page: VillagerPage,
    reason: Reason,
    key: Key,
    claim_id: Annotated[int | None, Form()] = None,
    deduction_id: Annotated[int | None, Form()] = None,
) -> Response:
    body = _model(AppealIn, "reason", claim_id=claim_id, deduction_id=deduction_id, reason=reason)
    disputes.appeal(
        page.session,
        _who(page),
        claim_id=body.claim_id,
        deduction_id=body.deduction_id,
        reason=body.reason,
        idempotency_key=f"page:{key}",
    )
    return page.redirect("/me", done="appealed")


# --- an objection to an entry of the notice board ---------------------------------------------------------------


def _objection(page: Page, claim_id: int, *, status_code: int = 200, **context: Any) -> Response:
    return page.render(
        "villager/objection.html", status_code=status_code, claim_id=claim_id, key=secrets.token_urlsafe(16), **context
    )


def _objection_refusal(page: Page, claim_id: int, refused: DomainError) -> Response:
    """Why this entry cannot be objected to, in words of the notice board (and nothing about its household)."""
    words = OBJECTION_REFUSALS.get(refused.code)
    return _objection(
        page,
        claim_id,
        status_code=status_of(refused),
        refusal=refused.code,
        reason=page._(words) if words else reason(page, refused),
    )


@router.get("/me/objection")
def objection_form(page: VillagerPage, claim_id: int) -> Response:
    """Ask for an entry of my village's notice board to be checked: the entry as the board shows it (its
    household named only where the village's privacy policy names it), and the reason asked for; or, where an
    objection would be refused (my own household's, another village's, no longer on the board, objected to
    already), why, in words."""
    try:
        entry = disputes.objection_entry(page.session, _who(page), claim_id=claim_id)
    except DomainError as refused:
        return _objection_refusal(page, claim_id, refused)
    return _objection(page, claim_id, entry=entry)


@router.post("/me/objection")
def send_objection(page: VillagerPage, claim_id: Annotated[int, Form()], reason: Reason, key: Key) -> Response:
    """The objection: the checks first, with nothing written (a refusal is shown in words on the form); then the
    objection itself, which checks again under its lock. The form's key makes a double tap object once."""
    who = _who(page)
    try:
        entry = disputes.objection_entry(page.session, who, claim_id=claim_id)
    except DomainError as refused:
        return _objection_refusal(page, claim_id, refused)
    if not reason.strip():
        return _objection(
            page, claim_id, status_code=400, entry=entry, refusal="reason_required", reason=page._(OBJECTION_REASON)
        )
    disputes.object_to(page.session, who, claim_id=claim_id, reason=reason, idempotency_key=f"page:objection:{key}")
    return page.redirect("/me", done="objected")


# --- my rating ----------------------------------------------------------------------------------------------


@router.get("/me/rating")
def my_rating(page: VillagerPage) -> Response:
    """The grade, the score, the reasons and how to improve; who looked; which banks may look; ask a person."""
    who, session = _who(page), page.session
    household_id = credit_access.own_household(who)
    try:
        rating = credit.my_rating_out(session, ratings.current(session, household_id))
    except RatingNotFound:
        rating = None
    return page.render(
        "villager/rating.html",
        rating=rating,
        lookups=credit.access_log_out(session, household_id),
        consents=[credit.consent_out(session, c) for c in credit_access.household_consents(session, who)],
        reviews=[
            credit.review_out(session, task, with_rating=False)
            for task in credit_access.household_review_requests(session, who)
        ],
        banks=[credit.partner_out(p) for p in redemption_access.county_partners(session, who, PartnerKind.BANK)],
    )


@router.post("/me/consents")
def give_consent(
    page: VillagerPage,
    partner_id: Annotated[int, Form(gt=0)],
    purpose: Annotated[str, Form(max_length=40)],
    scope: Annotated[str, Form(max_length=20)],
    days: Annotated[int, Form(ge=1, le=366)] = 90,
) -> Response:
    body = _model(ConsentIn, "partner_id", partner_id=partner_id, purpose=purpose, scope=scope, days=days)
    consents.grant(
        page.session,
        _who(page),
        partner_id=body.partner_id,
        purpose=body.purpose,
        scope=body.scope,
        days=body.days,
    )
    return page.redirect("/me/rating", done="consent_given")


@router.post("/me/consents/{consent_id}/revoke")
def revoke_consent(page: VillagerPage, consent_id: str) -> Response:
    consents.revoke(page.session, _who(page), consent_id=consent_id)
    return page.redirect("/me/rating", done="consent_revoked")


@router.post("/me/rating/review")
def ask_for_review(page: VillagerPage, reason: Reason) -> Response:
    body = _model(ReviewRequestIn, "reason", reason=reason)
    reviews.request(page.session, _who(page), reason=body.reason)
    return page.redirect("/me/rating", done="review_asked")


# --- redeeming ----------------------------------------------------------------------------------------------


@router.get("/me/redeem")
def redeem_page(page: VillagerPage) -> Response:
    """Offers open to my household (which I can afford), my vouchers with QR and PIN, health checks to book,
    loan products to apply for and my applications."""
    who, session, now = _who(page), page.session, utcnow()
    offers = redemption.offers_out(session, who)
    slots = {o.id: redemption.slots_out(session, who, o.id, now) for o in offers if o.kind == "health_check"}
    return page.render(
        "villager/redeem.html",
        balance=_balance(page),
        offers=offers,
        slots=slots,
        vouchers=[redemption.voucher_out(session, v, who) for v in redemption_access.visible_vouchers(session, who)],
        applications=[
            loans.application_out(session, a, who) for a in redemption_access.visible_applications(session, who)
        ],
        consent_days=consents.DEFAULT_DAYS,  # how long applying lets the bank see the rating (redemption/loans.py)
        key=secrets.token_urlsafe(16),
    )


@router.post("/me/redeem")
def redeem(
    page: VillagerPage,
    offer_id: Annotated[int, Form(gt=0)],
    key: Key,
    slot_id: Annotated[int | None, Form(gt=0)] = None,
) -> Response:
    body = _model(RedemptionIn, "offer_id", offer_id=offer_id, slot_id=slot_id)
    vouchers.redeem(
        page.session,
        _who(page),
        offer_id=body.offer_id,
        quantity=body.quantity,
        slot_id=body.slot_id,
        idempotency_key=f"page:{key}",
    )
    return page.redirect("/me/redeem", done="booked" if slot_id else "redeemed")


@router.get("/me/vouchers/{code}/qr.svg")
def voucher_qr(page: VillagerPage, code: str) -> Response:
    """The QR code of one of my vouchers (the API's route wants a bearer token; the page signs in by cookie)."""
    voucher = redemption_access.find_voucher(page.session, _who(page), code)
    return page.respond(Response(render.qr_svg(vouchers.qr_text(voucher)), media_type="image/svg+xml"))


@router.post("/me/vouchers/{code}/cancel")
def cancel_voucher(page: VillagerPage, code: str) -> Response:
    vouchers.cancel(page.session, _who(page), code=code)
    return page.redirect("/me/redeem", done="cancelled")


@router.post("/me/loans")
def apply_for_loan(
    page: VillagerPage,
    offer_id: Annotated[int, Form(gt=0)],
    amount_yuan: Annotated[int, Form(gt=0, le=10_000_000)],
    term_months: Annotated[int, Form(ge=1, le=120)],
    purpose: Annotated[str, Form(max_length=200)],
    key: Key,
) -> Response:
    body = _model(
        LoanApplicationIn,
        "amount_yuan",
        offer_id=offer_id,
        amount_yuan=amount_yuan,
        term_months=term_months,
        purpose=purpose,
    )
    loan_service.apply(
        page.session,
        _who(page),
        offer_id=body.offer_id,
        amount_yuan=body.amount_yuan,
        term_months=body.term_months,
        purpose=body.purpose,
        idempotency_key=f"page:{key}",
    )
    return page.redirect("/me/redeem", done="applied")
