"""Offers, slots, vouchers and settlement as the API shows them (api/schemas/redemption.py).

A household sees its voucher's PIN and QR code; the merchant or clinic never does (it is given them at the
counter). A household's list of offers says which it can afford and which its grade allows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel import Session

from api.presentation.files import FileWords
from api.schemas.redemption import OfferIn, OfferOut, SettlementOut, SlotOut, VoucherEventOut, VoucherOut, fen, yuan
from ledger import figures
from ledger.identity.models import Partner, Role
from ledger.identity.principal import Principal
from ledger.journal import accounts
from ledger.journal import queries as balances
from ledger.tenancy import County
from redemption import access, offers, settlement, vouchers
from redemption.models import HealthSlot, Offer, Voucher
from scoring import ratings

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def offer_out(
    session: Session, offer: Offer, *, affordable: bool | None = None, eligible: bool | None = None
) -> OfferOut:
    assert offer.id is not None
    partner = session.get(Partner, offer.partner_id)
    return OfferOut(
        id=offer.id,
        partner_id=offer.partner_id,
        partner_name=partner.name if partner else "",
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
        village_ids=offers.village_ids(session, offer.id),
        status=offer.status,
        decision_note=offer.decision_note,
        affordable=affordable,
        eligible=eligible,
    )


def offer_terms(body: OfferIn) -> offers.OfferTerms:
    """What a partner proposes (the API's body, or the page's form read into it), for `offers.propose`."""
    return offers.OfferTerms(
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


def offers_out(session: Session, who: Principal, status: str | None = None) -> list[OfferOut]:
    """The offers the caller may see (`redemption.access.visible_offers`); a household's say which it can afford
    now and which its grade allows."""
    found = access.visible_offers(session, who, status)
    if who.role != Role.VILLAGER:
        return [offer_out(session, o) for o in found]
    household = access.household_of(session, who)
    assert household.id is not None
    own = accounts.of_household(session, household.id)
    assert own.id is not None
    available = balances.balance(session, own.id).available
    grade = ratings.current(session, household.id).grade if any(o.min_grade for o in found) else None
    return [
        offer_out(
            session,
            o,
            affordable=o.cost_points is None or o.cost_points <= available,
            eligible=offers.grade_meets(grade, o.min_grade),
        )
        for o in found
    ]


def slot_out(slot: HealthSlot | vouchers.SlotSeen) -> SlotOut:
    assert slot.id is not None
    return SlotOut(
        id=slot.id,
        offer_id=slot.offer_id,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        place=slot.place,
        capacity=slot.capacity,
        booked=slot.booked,
    )


def slots_out(session: Session, who: Principal, offer_id: int, now: datetime) -> list[SlotOut]:
    """The slots still to come of an offer the caller may read the slots of."""
    access.offer_with_slots(session, who, offer_id)
    return [slot_out(s) for s in vouchers.slots(session, offer_id, upcoming_from=now)]


def voucher_out(session: Session, voucher: Voucher, who: Principal, *, detail: bool = False) -> VoucherOut:
    """The household (`who` a villager) also sees the PIN and the QR code; `detail` adds the history."""
    offer = session.get(Offer, voucher.offer_id)
    partner = session.get(Partner, voucher.partner_id)
    own = who.role == Role.VILLAGER
    slot = session.get(HealthSlot, voucher.slot_id) if voucher.slot_id else None
    history = None
    if detail:
        assert voucher.id is not None
        history = [
            VoucherEventOut(
                event=e.event,
                at=e.at,
                points=e.points,
                value_yuan=yuan(e.value_fen) or "0.00",
                transaction_id=e.transaction_id,
                actor=e.actor,
            )
            for e in vouchers.history(session, voucher.id)
        ]
    return VoucherOut(
        code=voucher.code,
        kind=voucher.kind,
        offer_id=voucher.offer_id,
        offer_title=offer.title if offer else "",
        partner_name=partner.name if partner else "",
        household_id=voucher.household_id,
        quantity=voucher.quantity,
        points=voucher.points,
        value_yuan=yuan(voucher.value_fen) or "0.00",
        remaining_points=voucher.remaining_points,
        remaining_yuan=yuan(voucher.remaining_fen) or "0.00",
        status=voucher.status,
        expires_at=voucher.expires_at,
        created_at=voucher.created_at,
        closed_at=voucher.closed_at,
        slot=slot_out(slot) if slot else None,
        no_show_penalty_points=offer.no_show_penalty_points if slot and offer else 0,
        pin=voucher.pin if own else None,
        qr_text=vouchers.qr_text(voucher) if own else None,
        qr_svg_url=f"/api/v1/vouchers/{voucher.code}/qr.svg" if own else None,
        history=history,
    )


def seen_out(voucher: vouchers.Seen, *, household: bool) -> VoucherOut:
    """A voucher as an operation left it (`redemption.vouchers.Seen`, read before the commit), with its history:
    built with no database read, after the commit. The `household` also sees the PIN and the QR code (its
    partner does not)."""
    own = household
    return VoucherOut(
        code=voucher.code,
        kind=voucher.kind,
        offer_id=voucher.offer_id,
        offer_title=voucher.offer_title,
        partner_name=voucher.partner_name,
        household_id=voucher.household_id,
        quantity=voucher.quantity,
        points=voucher.points,
        value_yuan=yuan(voucher.value_fen) or "0.00",
        remaining_points=voucher.remaining_points,
        remaining_yuan=yuan(voucher.remaining_fen) or "0.00",
        status=voucher.status,
        expires_at=voucher.expires_at,
        created_at=voucher.created_at,
        closed_at=voucher.closed_at,
        slot=slot_out(voucher.slot) if voucher.slot else None,
        no_show_penalty_points=voucher.no_show_penalty_points if voucher.slot else 0,
        pin=voucher.pin if own else None,
        qr_text=vouchers.qr_text(voucher) if own else None,
        qr_svg_url=f"/api/v1/vouchers/{voucher.code}/qr.svg" if own else None,
        history=[
            VoucherEventOut(
                event=e.event,
                at=e.at,
                points=e.points,
                value_yuan=yuan(e.value_fen) or "0.00",
                transaction_id=e.transaction_id,
                actor=e.actor,
            )
            for e in voucher.history
        ],
    )


# --- settlement ----------------------------------------------------------------------------------------------


def settlement_of(session: Session, who: Principal, month: str, partner_id: int | None) -> settlement.Settlement:
    """A partner's uses in a month (county time), reconciled with its clearing accounts: of the partner the
    caller may read (`redemption.access.settlement_partner`)."""
    partner = access.settlement_partner(session, who, partner_id)
    assert partner.id is not None
    county = session.get(County, partner.county_id)
    assert county is not None
    start, end = figures.month_bounds(month, county.timezone)
    return settlement.settle(session, partner.id, start, end)


def settlement_out(result: settlement.Settlement) -> SettlementOut:
    return SettlementOut.model_validate({**result.summary(), "lines": result.lines.to_dict(orient="records")})


@dataclass(frozen=True)
class File:
    """A file to download: what it holds, its media type and its name."""

    content: bytes
    media_type: str
    filename: str


def settlement_file(
    session: Session, result: settlement.Settlement, month: str, kind: Literal["csv", "xlsx"], locale: str
) -> File:
    """The settlement as a CSV or XLSX file in the reader's language (headers, kinds, times in the county's
    time), named after the partner and the month."""
    partner = session.get(Partner, result.partner_id)
    assert partner is not None
    county = session.get(County, partner.county_id)
    assert county is not None
    words = FileWords(locale, county.timezone)
    name = f"settlement-{partner.code}-{month}"
    if kind == "csv":
        return File(settlement.to_csv(result, words), "text/csv; charset=utf-8", f"{name}.csv")
    return File(settlement.to_xlsx(result, words), XLSX, f"{name}.xlsx")
