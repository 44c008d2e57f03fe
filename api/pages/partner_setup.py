"""A partner's own set-up, for its staff of every kind: its offers (proposed to the county, withdrawn), a clinic's
health-check slots, and where its events go (the webhook: its URL, rotating its secret, failed deliveries sent
again by hand).

Every rule is the API's: the pages read the form into the API's own bodies (api/schemas) and call the same
services (redemption/offers.py, vouchers.py, webhooks.py) and presenters, so a partner sees and changes only its
own offers and deliveries; anyone else's look missing. A form filled wrongly comes back with what was typed and
the reason; other refusals become the shared error page.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError

from api.i18n import N_
from api.pages.web import Page, page_allow, reason
from api.presentation.partners import delivery_out
from api.presentation.redemption import offer_out, offer_terms, slot_out
from api.schemas.redemption import OfferIn, SlotIn
from ledger.core.base import row_id, utcnow
from ledger.core.errors import DomainError, Invalid
from ledger.identity.models import Partner
from ledger.identity.principal import Principal
from redemption import offers, vouchers, webhooks
from redemption.models import GRADES, OfferKind, OfferStatus

router = APIRouter()
M = TypeVar("M", bound=BaseModel)

# The API's rule for offers and the webhook: a partner of any kind holding offers:manage (every kind's staff do)
PartnerPage = Annotated[Page, page_allow(partner_kinds=("bank", "merchant", "clinic"), scope="offers:manage")]
LOAN_TERMS = ("max_amount_yuan", "rate_discount_bp", "term_months")

# What to put right on these forms, by the field refused (marked for tests/pages/test_i18n.py).
FIELDS: dict[str, str] = {
    "kind": N_("Pick what kind of offer this is."),
    "title": N_("Give the offer a name of at most 100 characters."),
    "description": N_("The description may be at most 1000 characters."),
    "value_yuan": N_("Write what one is worth in yuan, like 50 or 12.50."),
    "cost_points": N_("Write what one is worth in yuan and how many points it costs, a whole number above 0."),
    "stock": N_("Write how many there are as a whole number, or leave it empty for no limit."),
    "per_household_limit": N_("Write how many one household may take, a whole number from 1 to 1000."),
    "voucher_days": N_("Write for how many days a voucher is good, from 1 to 366."),
    "valid_from": N_("Give the date and time the offer opens."),
    "valid_until": N_("Give the date and time the offer closes, after it opens."),
    "min_grade": N_("Pick a grade, or none."),
    "no_show_penalty_points": N_("Write the points taken for a missed booking, from 0 to 1000."),
    "cancel_hours": N_("Write until how many hours before its time a booking may be cancelled, up to 336."),
    "loan_terms": N_(
        "Fill in the amount, the rate discount and the term for each grade you lend to (at least one), in whole "
        "numbers; for an answer at once give both a grade and an amount."
    ),
    "village_ids": N_("Pick villages from the list, or none for every village you serve."),
    "starts_at": N_("Give the day and the time the slot starts."),
    "ends_at": N_("Give the time the slot ends, after it starts."),
    "place": N_("Say where the check-up is, in at most 200 characters."),
    "capacity": N_("Write how many households the slot takes, from 1 to 1000."),
}


def _who(page: Page) -> Principal:
    assert page.principal is not None  # every page here is for a signed-in partner
    return page.principal


def _partner(page: Page) -> Partner:
    return offers.partner_of(page.session, _who(page))


def _local(page: Page) -> ZoneInfo:
    return ZoneInfo(page.timezone)


def _status_of(error: DomainError) -> int:
    from api.problems import status_of  # late: api.problems imports the pages' package

    return status_of(error)


def _number(value: str, field: str, *, whole: bool = True) -> str | None:
    """A typed number as the API's body takes it (None when left empty); refused by its field when unreadable."""
    value = value.strip().replace("，", "").replace(",", "")
    if not value:
        return None
    if not (value.isdigit() if whole else value.replace(".", "", 1).isdigit()):
        raise Invalid("Write a number.", field=field)
    return value


def _moment(page: Page, value: str, field: str) -> datetime:
    """A date and time typed in the county's time."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise Invalid("Give a date and time.", field=field) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=_local(page))


def _parsed(model: type[M], **values: Any) -> M:
    """The API's own body, from the form; a refusal names the first field that is not right."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = exc.errors()
        field = ".".join(str(part) for part in errors[0]["loc"]) if errors and errors[0].get("loc") else "form"
        raise Invalid(f"Check {field}.", field=field) from exc


def _field_text(page: Page, error: DomainError) -> str:
    """What to put right on these forms, by the field refused; else the refusal's own words."""
    field = str(error.detail.get("field") or "")
    key = field.split(".")[0]
    if error.code == "invalid" and key in FIELDS:
        return page._(FIELDS[key])
    return reason(page, error)


# --- offers ------------------------------------------------------------------------------------------------


@router.get("/partner/offers")
def offer_list(page: PartnerPage) -> Response:
    """The partner's offers, newest first, each with where it stands: waiting for the county, approved, not
    approved (with the county's note) or withdrawn."""
    partner = _partner(page)
    listed = [offer_out(page.session, o) for o in offers.of_partner(page.session, row_id(partner.id))]
    return page.render(
        "partner/offers.html",
        offers=listed,
        kinds=offers.KINDS_OF.get(partner.kind, ()),
        withdrawable=(OfferStatus.PROPOSED, OfferStatus.APPROVED),
    )


def _offer_form(page: Page, status_code: int = 200, **context: Any) -> Response:
    partner = _partner(page)
    kinds = offers.KINDS_OF.get(partner.kind, ())
    now = utcnow().astimezone(_local(page))
    typed: dict[str, Any] = {
        "kind": kinds[0] if kinds else "",
        "valid_from": now.strftime("%Y-%m-%dT%H:%M"),
        "valid_until": (now + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M"),
        "per_household_limit": "1",
        "limit_period": "month",
        "voucher_days": "30",
        "cancel_hours": "24",
        "no_show_penalty_points": "0",
        "village_ids": [],
        **context.pop("typed", {}),
    }
    return page.render(
        "partner/offer_new.html",
        status_code=status_code,
        kinds=kinds,
        villages=offers.served_villages(page.session, partner),
        grades=GRADES,
        typed=typed,
        **context,
    )


@router.get("/partner/offers/new")
def offer_new(page: PartnerPage) -> Response:
    """The form to propose an offer: the kinds this partner may offer (a bank: loans; a shop: vouchers; a clinic:
    health checks and vouchers), to the villages it serves."""
    return _offer_form(page)


def _loan_terms(form: dict[str, str]) -> dict[str, Any]:
    """The loan's terms from the form's grade table: a grade with nothing typed is not offered."""
    grades: dict[str, Any] = {}
    for grade in GRADES:
        row = {name: _number(form.get(f"{grade}_{name}", ""), f"loan_terms.{grade}") for name in LOAN_TERMS}
        if any(v is not None for v in row.values()):
            if any(v is None for v in row.values()):
                raise Invalid("Fill in every column of a grade you lend to.", field=f"loan_terms.{grade}")
            grades[grade] = {name: int(value or 0) for name, value in row.items()}
    auto_grade, auto_amount = form.get("auto_min_grade", ""), _number(form.get("auto_max_amount_yuan", ""), "auto")
    auto = None
    if auto_grade or auto_amount:
        if auto_grade not in GRADES or auto_amount is None:
            raise Invalid("Give both the grade and the amount answered at once.", field="loan_terms.auto_approve")
        auto = {"min_grade": auto_grade, "max_amount_yuan": int(auto_amount)}
    return {"grades": grades, "auto_approve": auto}


async def _form(request: Request) -> dict[str, list[str]]:
    """The posted form as plain text fields (read once; the CSRF check has read it already)."""
    form = await request.form(max_part_size=64 * 1024)
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and len(fields) < 100:
            fields.setdefault(key[:40], []).append(value[:1000])
    return fields


FormFields = Annotated[dict[str, list[str]], Depends(_form)]


@router.post("/partner/offers")
def offer_create(page: PartnerPage, form: FormFields) -> Response:
    """Propose the offer; it waits for the county admin's approval before households see it."""
    typed: dict[str, Any] = {key: values[0] for key, values in form.items() if key not in ("csrf", "village_ids")}
    chosen = form.get("village_ids", [])[:500]
    typed["village_ids"] = chosen
    try:
        kind = typed.get("kind", "")
        loan = kind == OfferKind.LOAN
        body = _parsed(
            OfferIn,
            kind=kind,
            title=typed.get("title", "").strip(),
            description=typed.get("description", "").strip() or None,
            value_yuan=None if loan else _number(typed.get("value_yuan", ""), "value_yuan", whole=False),
            cost_points=None if loan else _number(typed.get("cost_points", ""), "cost_points"),
            stock=_number(typed.get("stock", ""), "stock"),
            per_household_limit=_number(typed.get("per_household_limit", ""), "per_household_limit") or 1,
            limit_period=typed.get("limit_period", "month"),
            valid_from=_moment(page, typed.get("valid_from", ""), "valid_from"),
            valid_until=_moment(page, typed.get("valid_until", ""), "valid_until"),
            voucher_days=_number(typed.get("voucher_days", ""), "voucher_days") or 30,
            min_grade=typed.get("min_grade") or None,
            no_show_penalty_points=_number(typed.get("no_show_penalty_points", ""), "no_show_penalty_points") or 0,
            cancel_hours=_number(typed.get("cancel_hours", ""), "cancel_hours") or 24,
            loan_terms=_loan_terms(typed) if loan else None,
            village_ids=[_number(v, "village_ids") for v in chosen],
        )
        with page.session.begin_nested():  # a refused offer leaves nothing behind
            offer = offers.propose(page.session, _who(page), offer_terms(body))
    except DomainError as error:
        return _offer_form(page, _status_of(error), typed=typed, refusal=_field_text(page, error))
    return page.redirect(f"/partner/offers/{offer.id}", done="offer_proposed")


@router.get("/partner/offers/{offer_id}")
def offer_detail(page: PartnerPage, offer_id: int) -> Response:
    """One offer of the partner's: its terms, where it stands, and for a clinic's health check its slots (the
    coming ones, how many are booked) and the form to add one."""
    who = _who(page)
    offer = offers.own_offer(page.session, who, offer_id)
    return _offer_page(page, offer_id, offer_out(page.session, offer))


def _offer_page(page: Page, offer_id: int, shown: Any, status_code: int = 200, **context: Any) -> Response:
    slots_open = shown.kind == OfferKind.HEALTH_CHECK and _who(page).partner_kind == "clinic"
    slots = (
        [slot_out(s) for s in vouchers.slots(page.session, offer_id, upcoming_from=utcnow() - timedelta(days=1))]
        if slots_open
        else []
    )
    villages = {v.id: v.name for v in offers.served_villages(page.session, _partner(page))}
    day = (utcnow() + timedelta(days=7)).astimezone(_local(page)).strftime("%Y-%m-%d")
    typed = {"day": day, "starts": "09:00", "ends": "11:00", "capacity": "10", **context.pop("typed", {})}
    return page.render(
        "partner/offer.html",
        status_code=status_code,
        offer=shown,
        slots=slots,
        slots_open=slots_open,
        village_names=[villages.get(v, str(v)) for v in shown.village_ids],
        withdrawable=shown.status in (OfferStatus.PROPOSED, OfferStatus.APPROVED),
        typed=typed,
        **context,
    )


@router.post("/partner/offers/{offer_id}/withdraw")
def offer_withdraw(page: PartnerPage, offer_id: int) -> Response:
    """Take the offer back: households no longer see it; vouchers already issued stay good."""
    offers.withdraw(page.session, _who(page), offer_id)
    return page.redirect(f"/partner/offers/{offer_id}", done="offer_withdrawn")


@router.post("/partner/offers/{offer_id}/slots")
def slot_add(
    page: PartnerPage,
    offer_id: int,
    day: Annotated[str, Form(max_length=10)] = "",
    starts: Annotated[str, Form(max_length=5)] = "",
    ends: Annotated[str, Form(max_length=5)] = "",
    place: Annotated[str, Form(max_length=200)] = "",
    capacity: Annotated[str, Form(max_length=6)] = "",
) -> Response:
    """A clinic publishes a slot of its health check: a day, a time from and to (county time), a place and how
    many households it takes."""
    who = _who(page)
    typed = {"day": day, "starts": starts, "ends": ends, "place": place, "capacity": capacity}
    try:
        body = _parsed(
            SlotIn,
            starts_at=_moment(page, f"{day.strip()}T{starts.strip()}", "starts_at"),
            ends_at=_moment(page, f"{day.strip()}T{ends.strip()}", "ends_at"),
            place=place,
            capacity=_number(capacity, "capacity"),
        )
        with page.session.begin_nested():
            vouchers.add_slot(
                page.session,
                who,
                offer_id=offer_id,
                starts_at=body.starts_at,
                ends_at=body.ends_at,
                place=body.place,
                capacity=body.capacity,
            )
    except Invalid as error:
        shown = offer_out(page.session, offers.own_offer(page.session, who, offer_id))
        return _offer_page(page, offer_id, shown, _status_of(error), typed=typed, refusal=_field_text(page, error))
    return page.redirect(f"/partner/offers/{offer_id}", done="slot_added")


# --- the webhook -------------------------------------------------------------------------------------------


def _webhook_page(page: Page, status_code: int = 200, **context: Any) -> Response:
    partner = _partner(page)
    partner_id = row_id(partner.id)
    failed = [
        {"delivery": delivery_out(d), "gave_up": webhooks.next_try(d) is None}
        for d in webhooks.failing(page.session, partner_id, limit=100)
    ]
    recent = [delivery_out(d) for d in webhooks.recent(page.session, partner_id, limit=20)]
    return page.render(
        "partner/webhook.html",
        status_code=status_code,
        partner=partner,
        has_secret=partner.webhook_secret is not None,
        replacing=_fingerprint(partner.webhook_secret),
        previous_until=webhooks.previous_valid_until(partner),
        failed=failed,
        recent=recent,
        max_attempts=webhooks.MAX_ATTEMPTS,
        **context,
    )


@router.get("/partner/webhook")
def webhook(page: PartnerPage) -> Response:
    """Where the partner's events go: the URL, the signing secret (never shown again after it is made), the
    deliveries that failed (each may be sent again) and the latest ones."""
    return _webhook_page(page)


@router.post("/partner/webhook")
def webhook_set(page: PartnerPage, url: Annotated[str, Form(max_length=600)] = "") -> Response:
    """Deliver the events to this URL from now on; the first time, the signing secret is made and shown once,
    on this answer (not on a page that could be opened again)."""
    reach = webhooks.Reach.from_settings(page.settings)
    who = _who(page)
    try:
        with page.session.begin_nested():
            _, secret = webhooks.set_url(page.session, row_id(who.partner_id), url, reach, actor=who.actor)
    except webhooks.InvalidWebhookUrl as error:
        return _webhook_page(page, _status_of(error), typed_url=url.strip()[:600], refusal=reason(page, error))
    if secret is None:
        return page.redirect("/partner/webhook", done="webhook_saved")
    return _webhook_page(page, new_secret=secret, notice=page._("Saved. Copy the signing secret below now."))


def _fingerprint(secret: str | None) -> str:
    """Which secret a page was showing when its rotate button was pressed (names it without telling it)."""
    return hashlib.sha256(f"shown:{secret}".encode()).hexdigest()[:16] if secret else ""


@router.post("/partner/webhook/secret")
def webhook_rotate(page: PartnerPage, replacing: Annotated[str, Form(max_length=16)] = "") -> Response:
    """A new signing secret, shown once on this answer; the old one still signs beside it for 24 hours. The form
    names the secret it replaces: sent again (a reload of the answer), it makes no second one, which would end
    the oldest secret's overlap at once."""
    who = _who(page)
    if replacing != _fingerprint(_partner(page).webhook_secret):
        return page.redirect("/partner/webhook", done="secret_already_new")
    _, secret = webhooks.rotate_secret(page.session, row_id(who.partner_id), actor=who.actor)
    return _webhook_page(page, new_secret=secret, rotated=True, notice=page._("A new signing secret was made."))


@router.post("/partner/webhook/deliveries/{delivery_id}/retry")
def webhook_retry(page: PartnerPage, delivery_id: str) -> Response:
    """Send a failed delivery again: it goes out within seconds, with the same id."""
    webhooks.retry(page.session, row_id(_who(page).partner_id), delivery_id)
    return page.redirect("/partner/webhook", done="delivery_queued")
