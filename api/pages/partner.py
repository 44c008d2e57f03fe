"""The partners' pages: a merchant's or clinic's till (redeem screen, bookings, settlement) and a bank's inbox.

Every rule is the API's: the pages call the same services (redemption/), the same access rules
(redemption/access.py) and the same presenters (api/presentation/) as the routes, so a merchant sees only its own
vouchers (anyone else's look missing) and a bank only its own applications; the loan's steps come from
redemption/loans.py. The till shows a refusal on the same screen, big, since the cashier is looking at it with the
household standing at the counter; other refusals become the shared error page.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response
from pydantic import ValidationError

from api.pages.web import BankPage, ClinicPage, MerchantPage, Page, reason
from api.presentation.loans import application_out
from api.presentation.redemption import seen_out, settlement_file, settlement_of, settlement_out, voucher_out
from api.schemas.loans import LoanDecisionIn, LoanStatusIn, Status
from api.schemas.redemption import ConsumeIn, fen
from ledger.core.base import utcnow
from ledger.core.errors import DomainError, Invalid, ReasonRequired
from ledger.identity.principal import Principal
from redemption import access, loans, vouchers
from redemption.vouchers import QR_PREFIX

router = APIRouter()

MONTH = re.compile(r"^\d{4}-\d{2}$")
STATUSES: tuple[str, ...] = get_args(Status)


def _who(page: Page) -> Principal:
    assert page.principal is not None  # every page here is for a signed-in partner
    return page.principal


# --- the till: redeem a voucher ----------------------------------------------------------------------------


def _status_of(error: DomainError) -> int:
    from api.problems import status_of  # late: api.problems imports the pages' package

    return status_of(error)


def _refusal(page: Page, error: DomainError) -> dict[str, Any]:
    """A refusal as the till shows it: the stable code, the plain reason, and when and where for a used one."""
    detail = error.detail
    used_at = detail.get("used_at")
    return {
        "code": error.code,
        "reason": reason(page, error),
        "used_at": datetime.fromisoformat(used_at) if isinstance(used_at, str) else None,
        "used_where": detail.get("used_where"),
        "attempts_left": detail.get("attempts_left"),
    }


def _split(text: str) -> tuple[str, str | None]:
    """What was typed or scanned into the code field: a plain code, or the voucher's QR text SZV1:code:key."""
    text = text.strip()
    if text.startswith(QR_PREFIX + ":"):
        return text.split(":")[1], text
    return text, None


def _till(page: Page, status_code: int = 200, **context: Any) -> Response:
    lookup = page.request.query_params.get("lookup", "").strip()[:200]
    if lookup and "looked_up" not in context:
        try:
            who = _who(page)
            found = access.find_voucher(page.session, who, _split(lookup)[0])
            context["looked_up"] = voucher_out(page.session, found, who, detail=True)
        except DomainError as error:
            context["lookup_refusal"] = _refusal(page, error)
    return page.render("partner/till.html", status_code=status_code, lookup=lookup, **context)


@router.get("/till")
def till(page: MerchantPage) -> Response:
    """The redeem screen: type the voucher's code (or scan its QR code into the same field) and the PIN."""
    return _till(page)


@router.post("/till")
def consume(
    page: MerchantPage,
    code: Annotated[str, Form(max_length=200)] = "",
    pin: Annotated[str, Form(max_length=20)] = "",
    amount: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Use the voucher; the result (used, or the plain refusal) is shown on the same screen, not redirected to,
    so the cashier reads it at once. A resend refuses as already used: nothing is used twice."""
    voucher_code, qr = _split(code)
    typed = {"code": code.strip() if qr is None else "", "amount": amount.strip()}
    try:
        if not voucher_code:
            raise Invalid("Enter the voucher's code.", field="code")
        try:
            used = Decimal(amount.strip()) if amount.strip() else None
        except InvalidOperation as exc:
            raise Invalid("The amount is written like 12.50.", field="amount") from exc
        try:
            body = ConsumeIn(pin=None if qr is not None else (pin.strip() or None), qr=qr, amount=used)
        except ValidationError as exc:
            field = str(exc.errors()[0]["loc"][0]) if exc.errors() else "pin"
            raise Invalid(f"Check {field}.", field=field) from exc
        who = _who(page)
        try:
            voucher = vouchers.consume(
                page.session, who, code=voucher_code, pin=body.pin, qr=body.qr, amount_fen=fen(body.amount)
            )
        except vouchers.WrongPin:
            # nothing was written before the check; the failure is counted and kept (shown, not raised)
            if body.pin is not None:
                vouchers.record_pin_failure(page.session, voucher_code)
            raise
        answer = seen_out(voucher, household=False)
    except DomainError as error:
        return _till(page, _status_of(error), typed=typed, refusal=_refusal(page, error))
    last = next((e for e in reversed(answer.history or []) if e.event == "consumed"), None)
    return _till(
        page,
        used=answer,
        used_points=last.points if last else answer.points,
        used_yuan=last.value_yuan if last else answer.value_yuan,
    )


# --- the clinic's bookings ---------------------------------------------------------------------------------


@router.get("/till/bookings")
def bookings(
    page: ClinicPage, show: Literal["active", "used", "no_show", "expired", "cancelled"] = "active"
) -> Response:
    """The clinic's bookings (the coming ones first), each to be marked attended or missed."""
    who = _who(page)
    found = [voucher_out(page.session, v, who) for v in access.visible_bookings(page.session, who, status=show)]
    found.sort(key=lambda v: v.slot.starts_at if v.slot else v.created_at)
    return page.render("partner/bookings.html", bookings=found, show=show)


@router.post("/till/bookings/{code}/attended")
def booking_attended(page: ClinicPage, code: str) -> Response:
    vouchers.attended(page.session, _who(page), code=code)
    return page.redirect("/till/bookings", done="recorded")


@router.post("/till/bookings/{code}/missed")
def booking_missed(page: ClinicPage, code: str) -> Response:
    vouchers.no_show(page.session, _who(page), code=code)
    return page.redirect("/till/bookings", done="recorded")


# --- settlement --------------------------------------------------------------------------------------------


def _this_month(page: Page) -> str:
    return utcnow().astimezone(ZoneInfo(page.timezone)).strftime("%Y-%m")


@router.get("/till/settlement")
def settlement(
    page: MerchantPage, month: Annotated[str, Query(max_length=7)] = "", format: Literal["html", "csv", "xlsx"] = "html"
) -> Response:  # noqa: A002
    """The month's uses of this shop's vouchers, reconciled with the ledger; CSV and XLSX to download."""
    month = month if MONTH.match(month) else _this_month(page)
    result = settlement_of(page.session, _who(page), month, None)
    if format != "html":
        file = settlement_file(page.session, result, month, format, page.locale)
        disposition = {"Content-Disposition": f'attachment; filename="{file.filename}"'}
        return page.respond(Response(file.content, media_type=file.media_type, headers=disposition))
    report = settlement_out(result)
    lines = [{**line, "at": datetime.fromisoformat(line["used_at"])} for line in report.lines]
    return page.render("partner/settlement.html", month=month, report=report, lines=lines)


# --- the bank's inbox --------------------------------------------------------------------------------------


@router.get("/bank")
def bank_inbox(page: BankPage, status: str = "") -> Response:
    """The bank's loan applications, newest first, each with the grade it was made with."""
    who = _who(page)
    chosen = status if status in STATUSES else None
    found = [application_out(page.session, a, who) for a in access.visible_applications(page.session, who, chosen)]
    return page.render("partner/bank.html", applications=found, status=chosen or "", statuses=STATUSES)


@router.get("/bank/applications/{application_id}")
def bank_application(page: BankPage, application_id: int) -> Response:
    """One application: the rating snapshot sent with it (only what the consent allows), the decision, the
    loan's reported status."""
    who = _who(page)
    found = application_out(page.session, access.find_application(page.session, who, application_id), who)
    return page.render(
        "partner/application.html",
        application=found,
        decidable=loans.decidable(found.status),
        events=loans.next_events(found.status),
    )


@router.post("/bank/applications/{application_id}/decision")
def bank_decide(
    page: BankPage,
    application_id: int,
    decision: Annotated[Literal["approve", "reject"], Form()],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if decision == "reject" and not note.strip():
        raise ReasonRequired("Say why the application is rejected.", field="note")
    body = LoanDecisionIn(approve=decision == "approve", note=note.strip() or None)
    loans.decide(page.session, _who(page), application_id, approve=body.approve, note=body.note)
    return page.redirect(f"/bank/applications/{application_id}", done="decided")


@router.post("/bank/applications/{application_id}/status")
def bank_report(
    page: BankPage,
    application_id: int,
    event: Annotated[str, Form(max_length=20)],
    amount_yuan: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    try:
        body = LoanStatusIn(event=event, amount_yuan=int(amount_yuan) if amount_yuan.strip() else None)
    except (ValueError, ValidationError) as exc:
        raise Invalid("Check the event and the amount (whole yuan).", field="event") from exc
    loans.report_status(
        page.session,
        _who(page),
        application_id,
        event=body.event,
        occurred_at=body.occurred_at,
        amount_yuan=body.amount_yuan,
    )
    return page.redirect(f"/bank/applications/{application_id}", done="reported")
