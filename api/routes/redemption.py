"""Offers, redemptions, vouchers, health-check slots and bookings, and settlement.

Who may do what: partners propose and withdraw their own offers and the county admin approves them; a villager
redeems for their own household; a merchant or clinic uses only its own vouchers (anyone else's look missing);
banks have no business with vouchers. The rules are in redemption/; these routes parse and answer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlmodel import Session

from api import problems
from api.deps import REPLAY_RESPONSES, IdempotencyKey, SessionDep, SettingsDep, allow, created_or_replayed
from api.schemas.redemption import (
    ConsumeIn,
    DecisionIn,
    OfferIn,
    OfferOut,
    RedemptionIn,
    SettlementOut,
    SlotIn,
    SlotOut,
    VoucherEventOut,
    VoucherOut,
    fen,
    yuan,
)
from ledger import reports
from ledger.activities import render
from ledger.base import utcnow
from ledger.errors import Forbidden, Invalid, NotFound
from ledger.identity.models import Partner, PartnerKind, Role
from ledger.identity.principal import PARTNER, Principal
from ledger.journal import accounts
from ledger.journal import queries as balances
from ledger.tenancy import County, Household
from redemption import offers, settlement, vouchers
from redemption.models import HealthSlot, Offer, Voucher
from scoring import ratings

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
Cashier = Annotated[Principal, allow(partner_kinds=SHOPS, scope="vouchers:consume")]
Clinic = Annotated[Principal, allow(partner_kinds=(PartnerKind.CLINIC,), scope="bookings:manage")]
SlotReader = Annotated[
    Principal, allow(Role.VILLAGER, Role.COUNTY_ADMIN, Role.AUDITOR, partner_kinds=(PartnerKind.CLINIC,))
]
SettlementReader = Annotated[
    Principal, allow(Role.COUNTY_ADMIN, Role.AUDITOR, partner_kinds=SHOPS, scope="settlement:read")
]
Code = Annotated[str, "a voucher code"]


# --- offers --------------------------------------------------------------------------------------------------


def offer_out(session: Session, offer: Offer, **extra: bool | None) -> OfferOut:
    partner = session.get(Partner, offer.partner_id)
    return OfferOut(
        id=offer.id,
        partner_id=offer.partner_id,
        partner_name=partner.name if partner else "",  # type: ignore[arg-type]
        kind=offer.kind,
        title=offer.title,
        description=offer.description,
        value_yuan=yuan(offer.value_fen),
        cost_points=offer.cost_points,
        stock=offer.stock,
        issued=offer.issued,
        per_household_limit=offer.per_household_limit,
        limit_period=offer.limit_period,
        valid_from=offer.valid_from,
        valid_until=offer.valid_until,
        voucher_days=offer.voucher_days,
        min_grade=offer.min_grade,
        no_show_penalty_points=offer.no_show_penalty_points,
        cancel_hours=offer.cancel_hours,
        loan_terms=offer.loan_terms,
        village_ids=offers.village_ids(session, offer.id),  # type: ignore[arg-type]
        status=offer.status,
        decision_note=offer.decision_note,
        **extra,
    )


@router.post("/offers", response_model=OfferOut, status_code=201)
def propose_offer(body: OfferIn, session: SessionDep, who: OfferManager) -> OfferOut:
    """A partner proposes an offer; the county admin approves it before households see it."""
    terms = offers.OfferTerms(
        kind=body.kind,
        title=body.title,
        description=body.description,
        value_fen=fen(body.value_yuan),
        cost_points=body.cost_points,
        stock=body.stock,
        per_household_limit=body.per_household_limit,
        limit_period=body.limit_period,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        voucher_days=body.voucher_days,
        min_grade=body.min_grade,
        no_show_penalty_points=body.no_show_penalty_points,
        cancel_hours=body.cancel_hours,
        loan_terms=body.loan_terms,
        village_ids=tuple(body.village_ids),
    )
    return offer_out(session, offers.propose(session, who, terms))


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
    if who.role == Role.VILLAGER:
        household = session.get(Household, who.household_id)
        assert household is not None
        available = balances.balance(session, accounts.of_household(session, household.id).id).available  # type: ignore[arg-type]
        found = offers.open_to(session, household)
        grade = ratings.current(session, household.id).grade if any(o.min_grade for o in found) else None  # type: ignore[arg-type]
        return [
            offer_out(
                session,
                o,
                affordable=o.cost_points is None or o.cost_points <= available,
                eligible=offers.grade_meets(grade, o.min_grade),
            )
            for o in found
        ]
    if who.role == PARTNER:
        return [
            offer_out(session, o)
            for o in offers.of_partner(session, who.partner_id)
            if not status  # type: ignore[arg-type]
            or o.status == status
        ]
    if who.role == Role.OFFICIAL:
        status = "approved"
    return [offer_out(session, o) for o in offers.of_county(session, who.county_id, status)]


def _visible_offer(session: Session, who: Principal, offer_id: int) -> Offer:
    offer = session.get(Offer, offer_id)
    if offer is None or offer.county_id != who.county_id:
        raise offers.OfferNotFound("No such offer.", offer_id=offer_id)
    if who.role == PARTNER and offer.partner_id != who.partner_id:
        raise offers.OfferNotFound("No such offer.", offer_id=offer_id)
    if who.role in (Role.VILLAGER, Role.OFFICIAL) and offer.status != "approved":
        raise offers.OfferNotFound("No such offer.", offer_id=offer_id)
    return offer


@router.get("/offers/{offer_id}", response_model=OfferOut)
def get_offer(offer_id: int, session: SessionDep, who: OfferReader) -> OfferOut:
    return offer_out(session, _visible_offer(session, who, offer_id))


@router.post("/offers/{offer_id}/decision", response_model=OfferOut)
def decide_offer(offer_id: int, body: DecisionIn, session: SessionDep, who: Admin) -> OfferOut:
    return offer_out(session, offers.decide(session, who, offer_id, approve=body.approve, note=body.note))


@router.post("/offers/{offer_id}/withdraw", response_model=OfferOut)
def withdraw_offer(offer_id: int, session: SessionDep, who: OfferManager) -> OfferOut:
    return offer_out(session, offers.withdraw(session, who, offer_id))


# --- health-check slots --------------------------------------------------------------------------------------


def slot_out(slot: HealthSlot) -> SlotOut:
    return SlotOut(
        id=slot.id,
        offer_id=slot.offer_id,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,  # type: ignore[arg-type]
        place=slot.place,
        capacity=slot.capacity,
        booked=slot.booked,
    )


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
    offer = _visible_offer(session, who, offer_id)
    if who.role == Role.VILLAGER:
        household = session.get(Household, who.household_id)
        if household is None or offer not in offers.open_to(session, household):
            raise offers.OfferNotFound("No such offer.", offer_id=offer_id)
    return [slot_out(s) for s in vouchers.slots(session, offer_id, upcoming_from=utcnow())]


# --- vouchers ------------------------------------------------------------------------------------------------


def voucher_out(session: Session, voucher: Voucher, who: Principal, *, detail: bool = False) -> VoucherOut:
    offer = session.get(Offer, voucher.offer_id)
    partner = session.get(Partner, voucher.partner_id)
    own = who.role == Role.VILLAGER
    slot = session.get(HealthSlot, voucher.slot_id) if voucher.slot_id else None
    return VoucherOut(
        code=voucher.code,
        kind=voucher.kind,
        offer_id=voucher.offer_id,
        offer_title=offer.title if offer else "",
        partner_name=partner.name if partner else "",
        household_id=voucher.household_id,
        quantity=voucher.quantity,
        points=voucher.points,
        value_yuan=yuan(voucher.value_fen),  # type: ignore[arg-type]
        remaining_points=voucher.remaining_points,
        remaining_yuan=yuan(voucher.remaining_fen),  # type: ignore[arg-type]
        status=voucher.status,
        expires_at=voucher.expires_at,
        created_at=voucher.created_at,
        closed_at=voucher.closed_at,
        slot=slot_out(slot) if slot else None,
        pin=voucher.pin if own else None,
        qr_text=vouchers.qr_text(voucher) if own else None,
        qr_svg_url=f"/api/v1/vouchers/{voucher.code}/qr.svg" if own else None,
        history=[
            VoucherEventOut(
                event=e.event,
                at=e.at,
                points=e.points,
                value_yuan=yuan(e.value_fen),  # type: ignore[arg-type]
                transaction_id=e.transaction_id,
                actor=e.actor,
            )
            for e in vouchers.history(session, voucher.id)
        ]
        if detail
        else None,
    )  # type: ignore[arg-type]


@router.post("/redemptions", response_model=VoucherOut, status_code=201, responses=REPLAY_RESPONSES)
def redeem(
    body: RedemptionIn, idempotency_key: IdempotencyKey, session: SessionDep, who: Villager, response: Response
) -> VoucherOut:
    """Redeem the household's points for a voucher (or book a health check with `slot_id`). The points are held
    until the voucher is used, and come back if it expires or is cancelled."""
    redeemed = vouchers.redeem(
        session,
        who,
        offer_id=body.offer_id,
        quantity=body.quantity,
        slot_id=body.slot_id,
        idempotency_key=idempotency_key,
    )
    created_or_replayed(response, redeemed.replayed)
    response.headers.update(PRIVATE)
    return voucher_out(session, redeemed.value, who, detail=True)


@router.get("/vouchers", response_model=list[VoucherOut])
def list_vouchers(
    session: SessionDep,
    who: VoucherReader,
    response: Response,
    status: Literal["active", "used", "expired", "cancelled", "no_show"] | None = None,
) -> list[VoucherOut]:
    """A household's vouchers and bookings; or a merchant's or clinic's own."""
    response.headers.update(PRIVATE)
    found = (
        vouchers.of_household(session, who.household_id, status)
        if who.role == Role.VILLAGER  # type: ignore[arg-type]
        else vouchers.of_partner(session, who.partner_id, status=status)
    )  # type: ignore[arg-type]
    return [voucher_out(session, v, who) for v in found]


@router.get("/vouchers/{code}", response_model=VoucherOut)
def get_voucher(code: Code, session: SessionDep, who: VoucherReader, response: Response) -> VoucherOut:
    """One voucher with its history (each step a journal transaction)."""
    response.headers.update(PRIVATE)
    return voucher_out(session, vouchers.find(session, who, code), who, detail=True)


@router.get("/vouchers/{code}/qr.svg", responses={200: {"content": {"image/svg+xml": {}}}})
def voucher_qr(code: Code, session: SessionDep, who: Villager) -> Response:
    """The QR code the cashier scans (it stands for the PIN: show it only to the cashier)."""
    voucher = vouchers.find(session, who, code)
    return Response(render.qr_svg(vouchers.qr_text(voucher)), media_type="image/svg+xml", headers=PRIVATE)


@router.post(
    "/vouchers/{code}/consume",
    response_model=VoucherOut,
    responses={409: {"description": "Already used (when and where), expired or closed"}},
)
def consume(code: Code, body: ConsumeIn, session: SessionDep, who: Cashier) -> VoucherOut | Response:
    """Use a voucher of yours: with the household's PIN or the scanned QR text; `amount` (yuan) to use part of a
    value voucher. A wrong PIN is counted; after five, only the QR code works."""
    try:
        voucher = vouchers.consume(session, who, code=code, pin=body.pin, qr=body.qr, amount_fen=fen(body.amount))
    except vouchers.WrongPin as wrong:
        # nothing was written before the check; the failure is counted and kept (answered, not raised)
        if body.pin is not None:
            vouchers.record_pin_failure(session, code)
        return problems.of_error(wrong)
    return voucher_out(session, voucher, who, detail=True)


@router.post("/vouchers/{code}/cancel", response_model=VoucherOut)
def cancel_voucher(code: Code, session: SessionDep, who: Villager) -> VoucherOut:
    """Give back an unused voucher (or the rest of one), or cancel a booking before its cut-off."""
    return voucher_out(session, vouchers.cancel(session, who, code=code), who, detail=True)


# --- bookings (the clinic's side) ----------------------------------------------------------------------------


@router.get("/bookings", response_model=list[VoucherOut])
def list_bookings(
    session: SessionDep,
    who: Clinic,
    response: Response,
    slot_id: int | None = None,
    status: Literal["active", "used", "expired", "cancelled", "no_show"] | None = None,
) -> list[VoucherOut]:
    response.headers.update(PRIVATE)
    found = vouchers.of_partner(session, who.partner_id, status=status, slot_id=slot_id)  # type: ignore[arg-type]
    return [voucher_out(session, v, who) for v in found if v.slot_id is not None]


@router.post("/bookings/{code}/attended", response_model=VoucherOut)
def booking_attended(code: Code, session: SessionDep, who: Clinic) -> VoucherOut:
    return voucher_out(session, vouchers.attended(session, who, code=code), who, detail=True)


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
) -> Response | SettlementOut:  # noqa: A002
    """A partner's uses in a month (county time), with totals reconciled against its clearing accounts in the
    ledger. Partners see their own; the county admin and auditors name a partner of the county."""
    if who.role == PARTNER:
        if partner_id is not None and partner_id != who.partner_id:
            raise Forbidden("You may read only your own settlement.")
        partner_id = who.partner_id
    elif partner_id is None:
        raise Invalid("Name the partner.", field="partner_id")
    partner = session.get(Partner, partner_id)
    if partner is None or partner.county_id != who.county_id:
        raise NotFound("No such partner in your county.", partner_id=partner_id)
    county = session.get(County, partner.county_id)
    assert county is not None
    start, end = reports.month_bounds(month, county.timezone)
    result = settlement.settle(session, partner.id, start, end)  # type: ignore[arg-type]
    name = f"settlement-{partner.code}-{month}"
    if format == "csv":
        return Response(
            settlement.to_csv(result),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"', **PRIVATE},
        )
    if format == "xlsx":
        return Response(
            settlement.to_xlsx(result),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"', **PRIVATE},
        )
    summary = result.summary()
    return SettlementOut.model_validate({**summary, "lines": result.lines.to_dict(orient="records")})
