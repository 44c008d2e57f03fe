"""Offers, redemptions, vouchers, health-check slots and bookings, and settlement.

Who may do what: partners propose and withdraw their own offers and the county admin approves them; a villager
redeems for their own household; a merchant or clinic uses only its own vouchers (anyone else's look missing);
banks have no business with vouchers. Who may see what is decided in redemption/access.py, the rules in
redemption/; the presenters are in api/presentation/redemption.py; these routes parse and answer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import Session

from api import problems
from api.deps import (
    REPLAY_RESPONSES,
    Caller,
    IdempotencyKey,
    Lang,
    SessionDep,
    SettingsDep,
    allow,
    allow_caller,
    json_answer,
    run,
)
from api.paging import Cursor, Limit, link_next
from api.presentation.redemption import (
    offer_out,
    offer_terms,
    offers_out,
    seen_out,
    settlement_file,
    settlement_of,
    settlement_out,
    slot_out,
    slots_out,
    voucher_out,
)
from api.schemas.redemption import (
    ConsumeIn,
    DecisionIn,
    OfferIn,
    OfferOut,
    RedemptionIn,
    SettlementOut,
    SlotIn,
    SlotOut,
    VoucherOut,
    fen,
)
from ledger.activities import render
from ledger.core import paging
from ledger.core.base import utcnow
from ledger.core.idempotency import Outcome
from ledger.identity.models import PartnerKind, Role
from ledger.identity.principal import Principal
from redemption import access, offers, vouchers

router = APIRouter(prefix="/api/v1", tags=["redemption"])
ALL_PARTNERS = (PartnerKind.BANK, PartnerKind.MERCHANT, PartnerKind.CLINIC)
SHOPS = (PartnerKind.MERCHANT, PartnerKind.CLINIC)
PRIVATE = {"Cache-Control": "no-store"}

OfferManager = Annotated[Principal, allow(partner_kinds=ALL_PARTNERS, scope="offers:manage")]
OfferReader = Annotated[
    Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR, partner_kinds=ALL_PARTNERS)
]
Admin = Annotated[Principal, allow(Role.COUNTY_ADMIN)]
Villager = Annotated[Principal, allow(Role.VILLAGER)]
VoucherReader = Annotated[Principal, allow(Role.VILLAGER, partner_kinds=SHOPS)]
CashierCaller = Annotated[Caller, allow_caller(partner_kinds=SHOPS, scope="vouchers:consume")]
VillagerCaller = Annotated[Caller, allow_caller(Role.VILLAGER)]
Clinic = Annotated[Principal, allow(partner_kinds=(PartnerKind.CLINIC,), scope="bookings:manage")]
SlotReader = Annotated[
    Principal, allow(Role.VILLAGER, Role.COUNTY_ADMIN, Role.AUDITOR, partner_kinds=(PartnerKind.CLINIC,))
]
SettlementReader = Annotated[
    Principal, allow(Role.COUNTY_ADMIN, Role.AUDITOR, partner_kinds=SHOPS, scope="settlement:read")
]
Code = Annotated[str, "a voucher code"]


# --- offers --------------------------------------------------------------------------------------------------


@router.post("/offers", response_model=OfferOut, status_code=201)
def propose_offer(body: OfferIn, session: SessionDep, who: OfferManager) -> OfferOut:
    """A partner proposes an offer; the county admin approves it before households see it."""
    return offer_out(session, offers.propose(session, who, offer_terms(body)))


@router.get("/offers", response_model=list[OfferOut])
def list_offers(
    session: SessionDep,
    who: OfferReader,
    response: Response,
    status: Literal["proposed", "approved", "rejected", "withdrawn"] | None = None,
) -> list[OfferOut]:
    """A household: the offers open to it now, saying which it can afford and which its grade allows. A partner:
    its own offers. Officials: the county's approved offers. The county admin and auditors: all, by status."""
    response.headers.update(PRIVATE)
    return offers_out(session, who, status)


@router.get("/offers/{offer_id}", response_model=OfferOut)
def get_offer(offer_id: int, session: SessionDep, who: OfferReader) -> OfferOut:
    return offer_out(session, access.visible_offer(session, who, offer_id))


@router.post("/offers/{offer_id}/decision", response_model=OfferOut)
def decide_offer(offer_id: int, body: DecisionIn, session: SessionDep, who: Admin) -> OfferOut:
    return offer_out(session, offers.decide(session, who, offer_id, approve=body.approve, note=body.note))


@router.post("/offers/{offer_id}/withdraw", response_model=OfferOut)
def withdraw_offer(offer_id: int, session: SessionDep, who: OfferManager) -> OfferOut:
    return offer_out(session, offers.withdraw(session, who, offer_id))


# --- health-check slots --------------------------------------------------------------------------------------


@router.post("/offers/{offer_id}/slots", response_model=SlotOut, status_code=201)
def add_slot(offer_id: int, body: SlotIn, session: SessionDep, who: Clinic) -> SlotOut:
    """A clinic publishes a slot of a health-check offer of its own."""
    return slot_out(
        vouchers.add_slot(
            session,
            who,
            offer_id=offer_id,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            place=body.place,
            capacity=body.capacity,
        )
    )


@router.get("/offers/{offer_id}/slots", response_model=list[SlotOut])
def list_slots(offer_id: int, session: SessionDep, who: SlotReader) -> list[SlotOut]:
    """The slots still to come (a household sees those of offers open to it)."""
    return slots_out(session, who, offer_id, utcnow())


# --- vouchers ------------------------------------------------------------------------------------------------


@router.post(
    "/redemptions", response_model=VoucherOut, status_code=201, responses=REPLAY_RESPONSES, response_class=JSONResponse
)
async def redeem(
    body: RedemptionIn, idempotency_key: IdempotencyKey, request: Request, caller: VillagerCaller
) -> Response:
    """Redeem the household's points for a voucher (or book a health check with `slot_id`). The points are held
    until the voucher is used, and come back if it expires or is cancelled."""
    redeemed = await run(request, caller, _redeem, body, idempotency_key)
    answer = seen_out(redeemed.value, household=True)
    if redeemed.replayed:
        return json_answer(answer, headers={**PRIVATE, "Idempotency-Replayed": "true"})
    return json_answer(answer, status_code=201, headers=PRIVATE)


def _redeem(session: Session, who: Principal, body: RedemptionIn, idempotency_key: str) -> Outcome[vouchers.Seen]:
    return vouchers.redeem(
        session,
        who,
        offer_id=body.offer_id,
        quantity=body.quantity,
        slot_id=body.slot_id,
        idempotency_key=idempotency_key,
    )


@router.get("/vouchers", response_model=list[VoucherOut])
def list_vouchers(
    session: SessionDep,
    who: VoucherReader,
    request: Request,
    response: Response,
    status: Literal["active", "used", "expired", "cancelled", "no_show"] | None = None,
    cursor: Cursor = None,
    limit: Limit = paging.PAGE,
) -> list[VoucherOut]:
    """A household's vouchers and bookings; or a merchant's or clinic's own. Newest first, a page at a time: the
    `Link` header names the next page (README, "Lists")."""
    response.headers.update(PRIVATE)
    page = access.voucher_page(session, who, status, cursor=cursor, limit=limit)
    link_next(request, response, page.next_cursor)
    return [voucher_out(session, v, who) for v in page.rows]


@router.get("/vouchers/{code}", response_model=VoucherOut)
def get_voucher(code: Code, session: SessionDep, who: VoucherReader, response: Response) -> VoucherOut:
    """One voucher with its history (each step a journal transaction)."""
    response.headers.update(PRIVATE)
    return voucher_out(session, access.find_voucher(session, who, code), who, detail=True)


@router.get("/vouchers/{code}/qr.svg", responses={200: {"content": {"image/svg+xml": {}}}})
def voucher_qr(code: Code, session: SessionDep, who: Villager) -> Response:
    """The QR code the cashier scans (it stands for the PIN: show it only to the cashier)."""
    voucher = access.find_voucher(session, who, code)
    return Response(render.qr_svg(vouchers.qr_text(voucher)), media_type="image/svg+xml", headers=PRIVATE)


@router.post(
    "/vouchers/{code}/consume",
    response_model=VoucherOut,
    responses={409: {"description": "Already used (when and where), expired or closed"}},
    response_class=JSONResponse,
)
async def consume(code: Code, body: ConsumeIn, request: Request, caller: CashierCaller) -> Response:
    """Use a voucher of yours: with the household's PIN or the scanned QR text; `amount` (yuan) to use part of a
    value voucher. A wrong PIN is counted; after five, only the QR code works."""
    used = await run(request, caller, _consume, code, body)
    if isinstance(used, vouchers.WrongPin):
        return problems.of_error(used)
    return json_answer(seen_out(used, household=False))


def _consume(session: Session, who: Principal, code: str, body: ConsumeIn) -> vouchers.Seen | vouchers.WrongPin:
    try:
        return vouchers.consume(session, who, code=code, pin=body.pin, qr=body.qr, amount_fen=fen(body.amount))
    except vouchers.WrongPin as wrong:
        # nothing was written before the check; the failure is counted and kept (answered, not raised)
        if body.pin is not None:
            vouchers.record_pin_failure(session, code)
        return wrong


@router.post("/vouchers/{code}/cancel", response_model=VoucherOut)
def cancel_voucher(code: Code, session: SessionDep, who: Villager) -> VoucherOut:
    """Give back an unused voucher (or the rest of one), or cancel a booking before its cut-off."""
    return voucher_out(session, vouchers.cancel(session, who, code=code), who, detail=True)


# --- bookings (the clinic's side) ----------------------------------------------------------------------------


@router.get("/bookings", response_model=list[VoucherOut])
def list_bookings(
    session: SessionDep,
    who: Clinic,
    request: Request,
    response: Response,
    slot_id: int | None = None,
    status: Literal["active", "used", "expired", "cancelled", "no_show"] | None = None,
    cursor: Cursor = None,
    limit: Limit = paging.PAGE,
) -> list[VoucherOut]:
    """The clinic's bookings, newest first, a page at a time: the `Link` header names the next page."""
    response.headers.update(PRIVATE)
    page = access.voucher_page(session, who, status, bookings=True, slot_id=slot_id, cursor=cursor, limit=limit)
    link_next(request, response, page.next_cursor)
    return [voucher_out(session, v, who) for v in page.rows]


@router.post("/bookings/{code}/attended", response_model=VoucherOut)
def booking_attended(code: Code, session: SessionDep, who: Clinic) -> VoucherOut:
    return seen_out(vouchers.attended(session, who, code=code), household=False)


@router.post("/bookings/{code}/no-show", response_model=VoucherOut)
def booking_missed(code: Code, session: SessionDep, who: Clinic) -> VoucherOut:
    return voucher_out(session, vouchers.no_show(session, who, code=code), who, detail=True)


# --- settlement ----------------------------------------------------------------------------------------------


@router.get(
    "/settlement",
    response_model=SettlementOut,
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        }
    },
)
def settlement_report(
    session: SessionDep,
    settings: SettingsDep,
    who: SettlementReader,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")],
    partner_id: int | None = None,
    format: Literal["json", "csv", "xlsx"] = "json",
    lang: Lang = "zh_CN",
) -> Response | SettlementOut:  # noqa: A002
    """A partner's uses in a month (county time), with totals reconciled against its clearing accounts in the
    ledger. Partners see their own; the county admin and auditors name a partner of the county. The CSV and XLSX
    files have their headers and words in `lang`; the JSON keeps its keys."""
    result = settlement_of(session, who, month, partner_id)
    if format == "json":
        return settlement_out(result)
    file = settlement_file(session, result, month, format, lang)
    return Response(
        file.content,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"', **PRIVATE},
    )
