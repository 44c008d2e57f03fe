"""Partners and their offers: who serves which village, what an offer costs and who may take it.

A partner proposes an offer; the county admin approves or rejects it; the partner may withdraw it. Households see
only approved offers, within their window, open to their village, from a partner serving their village. Every
check a household can fail has its own error code, so the app can say plainly why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from ledger.claims.rules import period_bounds
from ledger.core import audit
from ledger.core.base import as_utc, row_id, table_of, utcnow
from ledger.core.errors import Conflict, Forbidden, Invalid, NotFound
from ledger.identity.models import Partner, PartnerKind, PartnerVillage
from ledger.identity.principal import Principal
from ledger.journal import service as journal
from ledger.journal.models import Account, AccountKind
from ledger.tenancy import County, Household, Village
from redemption import access
from redemption.models import GRADES, LimitPeriod, Offer, OfferKind, OfferStatus, OfferVillage

OFFER = table_of(Offer)

# Which partner may make which kind of offer.
KINDS_OF: dict[str, tuple[str, ...]] = {
    PartnerKind.MERCHANT: (OfferKind.VOUCHER,),
    PartnerKind.CLINIC: (OfferKind.HEALTH_CHECK, OfferKind.VOUCHER),
    PartnerKind.BANK: (OfferKind.LOAN,),
}


class OfferNotFound(NotFound):
    code = "offer_not_found"


class OfferClosed(Conflict):
    """Not approved, withdrawn, not yet open or over."""

    code = "offer_closed"


class NotForYourVillage(Forbidden):
    code = "offer_not_for_your_village"


class GradeTooLow(Forbidden):
    code = "grade_too_low"


class HouseholdLimitReached(Conflict):
    code = "household_limit_reached"


class OutOfStock(Conflict):
    code = "out_of_stock"


class OfferDecided(Conflict):
    code = "offer_already_decided"


class VillageNotServed(Invalid):
    code = "village_not_served"


class PartnerNotFound(NotFound):
    code = "partner_not_found"


def grade_meets(grade: str | None, minimum: str | None) -> bool:
    """AAA > AA > A > B > C; NR (not rated) meets no minimum."""
    if minimum is None:
        return True
    return grade in GRADES and GRADES.index(grade) <= GRADES.index(minimum)


# --- partners ----------------------------------------------------------------------------------------------


def serves(session: Session, partner: Partner, village: Village) -> bool:
    """A partner serves the villages listed for it, or, with none listed, its whole county."""
    if partner.county_id != village.county_id:
        return False
    listed = session.scalars(
        select(col(PartnerVillage.village_id)).where(col(PartnerVillage.partner_id) == partner.id)
    ).all()
    return not listed or village.id in listed


def clearing_account(session: Session, partner: Partner, village: Village) -> int:
    """The partner's clearing account in this village (opened on first use): where points spent there go."""
    found = _clearing(session, partner.id, village.id)
    if found is not None:
        return found
    try:
        with session.begin_nested():  # two first redemptions at once: one opens it, the other finds it
            account = journal.open_account(
                session,
                kind=AccountKind.PARTNER_CLEARING,
                code=f"{village.code}:partner:{partner.code}"[:64],
                county_id=village.county_id,
                village_id=row_id(village.id),
                partner_id=partner.id,
            )
            assert account.id is not None
            return account.id
    except IntegrityError:
        again = _clearing(session, partner.id, village.id)
        assert again is not None
        return again


def _clearing(session: Session, partner_id: int | None, village_id: int | None) -> int | None:
    return session.scalar(
        select(col(Account.id)).where(
            col(Account.partner_id) == partner_id,
            col(Account.village_id) == village_id,
            col(Account.kind) == AccountKind.PARTNER_CLEARING,
        )
    )


def set_villages(session: Session, who: Principal, partner_id: int, village_ids: list[int]) -> list[int]:
    """The county admin says which villages a partner serves (none: the whole county). Offers already made keep
    their own village lists; a household outside the partner's villages no longer sees them."""
    access.require_county_admin(who, "The county admin says which villages a partner serves.")
    access.county_partner(
        who,
        session.scalars(select(Partner).where(col(Partner.id) == partner_id).with_for_update()).first(),
        partner_id,
    )
    wanted = sorted(set(village_ids))
    for village_id in wanted:
        village = session.get(Village, village_id)
        if village is None or village.county_id != who.county_id:
            raise VillageNotServed("That village is not in your county.", village_id=village_id)
    before = villages_of(session, partner_id)
    session.execute(delete(PartnerVillage).where(col(PartnerVillage.partner_id) == partner_id))
    for village_id in wanted:
        session.add(PartnerVillage(partner_id=partner_id, village_id=village_id))
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="partner.villages",
        target_type="partner",
        target_id=partner_id,
        before={"village_ids": before},
        after={"village_ids": wanted},
    )
    return wanted


def served_villages(session: Session, partner: Partner) -> list[Village]:
    """The villages a partner serves, by name: those listed for it, or, with none listed, its county's."""
    listed = villages_of(session, row_id(partner.id))
    query = select(Village).where(col(Village.county_id) == partner.county_id)
    if listed:
        query = query.where(col(Village.id).in_(listed))
    return list(session.scalars(query.order_by(col(Village.name), col(Village.id))))


def villages_of(session: Session, partner_id: int) -> list[int]:
    return list(
        session.scalars(
            select(col(PartnerVillage.village_id))
            .where(col(PartnerVillage.partner_id) == partner_id)
            .order_by(col(PartnerVillage.village_id))
        )
    )


def partner_of(session: Session, who: Principal) -> Partner:
    partner = session.get(Partner, access.require_partner(who))
    assert partner is not None
    return partner


# --- offers: the partner's and the admin's side --------------------------------------------------------------


@dataclass(frozen=True)
class OfferTerms:
    """What a partner proposes. Prices are in fen and points; loan terms are checked by `check_loan_terms`."""

    kind: str
    title: str
    valid_from: datetime
    valid_until: datetime
    description: str | None = None
    value_fen: int | None = None
    cost_points: int | None = None
    stock: int | None = None
    per_household_limit: int = 1
    limit_period: str = LimitPeriod.MONTH.value
    voucher_days: int = 30
    min_grade: str | None = None
    no_show_penalty_points: int = 0
    cancel_hours: int = 24
    loan_terms: dict[str, Any] | None = None
    village_ids: tuple[int, ...] = ()


def propose(session: Session, who: Principal, terms: OfferTerms) -> Offer:
    partner = partner_of(session, who)
    if terms.kind not in KINDS_OF.get(partner.kind, ()):
        raise Invalid(f"A {partner.kind} may offer: {', '.join(KINDS_OF.get(partner.kind, ()))}.", field="kind")
    if as_utc(terms.valid_until) <= as_utc(terms.valid_from):
        raise Invalid("valid_until is after valid_from.", field="valid_until")
    if terms.kind == OfferKind.LOAN:
        check_loan_terms(terms.loan_terms)
    else:
        if not terms.value_fen or not terms.cost_points:
            raise Invalid("A voucher or health check has a value and a cost in points.", field="cost_points")
        if terms.loan_terms is not None:
            raise Invalid("Only a loan product has loan terms.", field="loan_terms")
    for village_id in terms.village_ids:
        village = session.get(Village, village_id)
        if village is None or not serves(session, partner, village):
            raise VillageNotServed("That village is not one you serve.", village_id=village_id)
    offer = Offer(
        county_id=partner.county_id,
        partner_id=row_id(partner.id),
        kind=terms.kind,
        title=terms.title,
        description=terms.description,
        value_fen=terms.value_fen,
        cost_points=terms.cost_points,
        stock=terms.stock,
        per_household_limit=terms.per_household_limit,
        limit_period=terms.limit_period,
        valid_from=terms.valid_from,
        valid_until=terms.valid_until,
        voucher_days=terms.voucher_days,
        min_grade=terms.min_grade,
        no_show_penalty_points=terms.no_show_penalty_points,
        cancel_hours=terms.cancel_hours,
        loan_terms=terms.loan_terms,
        proposed_by=who.actor,
    )
    session.add(offer)
    session.flush()
    for village_id in sorted(set(terms.village_ids)):
        session.add(OfferVillage(offer_id=row_id(offer.id), village_id=village_id))
    session.flush()
    return offer


def check_loan_terms(terms: dict[str, Any] | None) -> None:
    """{"grades": {grade: {"max_amount_yuan", "rate_discount_bp", "term_months"}}, "auto_approve": null or
    {"min_grade", "max_amount_yuan"}}: what each grade may borrow, and when the answer is given at once."""
    if not isinstance(terms, dict) or not isinstance(terms.get("grades"), dict) or not terms["grades"]:
        raise Invalid("A loan product names what each grade may borrow.", field="loan_terms.grades")
    for grade, row in terms["grades"].items():
        if grade not in GRADES or not isinstance(row, dict):
            raise Invalid("Grades are AAA, AA, A, B or C.", field="loan_terms.grades")
        for name, low, high in (
            ("max_amount_yuan", 1, 10_000_000),
            ("rate_discount_bp", 0, 1000),
            ("term_months", 1, 120),
        ):
            value = row.get(name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise Invalid(f"{name} is a whole number from {low} to {high}.", field=f"loan_terms.grades.{grade}")
        if set(row) - {"max_amount_yuan", "rate_discount_bp", "term_months"}:
            raise Invalid("Unknown loan term.", field=f"loan_terms.grades.{grade}")
    auto = terms.get("auto_approve")
    if auto is not None:
        if (
            not isinstance(auto, dict)
            or auto.get("min_grade") not in GRADES
            or not isinstance(auto.get("max_amount_yuan"), int)
            or auto["max_amount_yuan"] <= 0
            or set(auto) - {"min_grade", "max_amount_yuan"}
        ):
            raise Invalid("auto_approve is null or {min_grade, max_amount_yuan}.", field="loan_terms.auto_approve")
    if set(terms) - {"grades", "auto_approve"}:
        raise Invalid("loan_terms has grades and auto_approve only.", field="loan_terms")


def decide(session: Session, who: Principal, offer_id: int, *, approve: bool, note: str | None) -> Offer:
    """The county admin approves or rejects a proposed offer of the county (in the change log)."""
    access.require_county_admin(who, "The county admin approves offers.")
    offer = access.county_offer(who, _locked(session, offer_id), offer_id)
    if offer.status != OfferStatus.PROPOSED:
        raise OfferDecided(f"This offer is already {offer.status}.", offer_id=offer_id, current_status=offer.status)
    offer.status = OfferStatus.APPROVED if approve else OfferStatus.REJECTED
    offer.decided_by, offer.decided_at, offer.decision_note = who.actor, utcnow(), note
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="offer.approve" if approve else "offer.reject",
        target_type="offer",
        target_id=offer_id,
        before={"status": OfferStatus.PROPOSED.value},
        after={"status": str(offer.status), "note": note},
    )
    return offer


def withdraw(session: Session, who: Principal, offer_id: int) -> Offer:
    """The partner stops an offer. Vouchers already issued stay good until used, cancelled or expired."""
    offer = own_offer(session, who, offer_id, lock=True)
    if offer.status in (OfferStatus.PROPOSED, OfferStatus.APPROVED):
        offer.status = OfferStatus.WITHDRAWN
        session.flush()
    return offer


def own_offer(session: Session, who: Principal, offer_id: int, *, lock: bool = False) -> Offer:
    return access.partners_offer(who, _locked(session, offer_id) if lock else session.get(Offer, offer_id), offer_id)


def _locked(session: Session, offer_id: int) -> Offer | None:
    return session.scalars(select(Offer).where(col(Offer.id) == offer_id).with_for_update()).first()


def of_partner(session: Session, partner_id: int) -> list[Offer]:
    return list(
        session.scalars(select(Offer).where(col(Offer.partner_id) == partner_id).order_by(col(Offer.id).desc()))
    )


def of_county(session: Session, county_id: int, status: str | None = None) -> list[Offer]:
    query = select(Offer).where(col(Offer.county_id) == county_id)
    if status:
        query = query.where(col(Offer.status) == status)
    return list(session.scalars(query.order_by(col(Offer.id).desc())))


def village_ids(session: Session, offer_id: int) -> list[int]:
    return list(session.scalars(select(col(OfferVillage.village_id)).where(col(OfferVillage.offer_id) == offer_id)))


# --- offers: the household's side ----------------------------------------------------------------------------


def open_to(session: Session, household: Household, *, now: datetime | None = None) -> list[Offer]:
    """Approved offers within their window, open to the household's village, from partners serving it."""
    now = now or utcnow()
    village = session.get(Village, household.village_id)
    assert village is not None
    found = []
    for offer in session.scalars(
        select(Offer)
        .where(
            col(Offer.county_id) == household.county_id,
            col(Offer.status) == OfferStatus.APPROVED,
            col(Offer.valid_from) <= now,
            col(Offer.valid_until) > now,
        )
        .order_by(col(Offer.id))
    ):
        partner = session.get(Partner, offer.partner_id)
        listed = village_ids(session, row_id(offer.id))
        if partner is not None and serves(session, partner, village) and (not listed or village.id in listed):
            found.append(offer)
    return found


def check_open(session: Session, offer: Offer, household: Household, *, now: datetime) -> tuple[Partner, Village]:
    """Refuse, with the reason, an offer this household may not take now (grade and limits are checked apart)."""
    partner = session.get(Partner, offer.partner_id)
    village = session.get(Village, household.village_id)
    assert partner is not None
    assert village is not None
    listed = village_ids(session, row_id(offer.id))
    refuse_unless_open(
        offer,
        household.county_id,
        served=serves(session, partner, village) and (not listed or village.id in listed),
        now=now,
    )
    return partner, village


def refuse_unless_open(offer: Any, county_id: int, *, served: bool, now: datetime) -> None:
    """`check_open`'s rules on what was read: the offer (a row or an `Offer`), the household's county, and whether
    the offer and its partner serve the household's village (`served`)."""
    if offer.county_id != county_id or offer.status == OfferStatus.PROPOSED or offer.status == OfferStatus.REJECTED:
        raise OfferNotFound("No such offer.", offer_id=offer.id)
    if offer.status != OfferStatus.APPROVED or not as_utc(offer.valid_from) <= now < as_utc(offer.valid_until):
        raise OfferClosed(
            "This offer is not open now.",
            offer_id=offer.id,
            valid_from=as_utc(offer.valid_from).isoformat(),
            valid_until=as_utc(offer.valid_until).isoformat(),
            current_status=offer.status,
        )
    if not served:
        raise NotForYourVillage("This offer is not open to your village.", offer_id=offer.id)


def check_grade(offer: Any, grade: str) -> None:
    if not grade_meets(grade, offer.min_grade):
        raise GradeTooLow(
            f"This offer needs a rating of {offer.min_grade} or better; yours is {grade}.",
            offer_id=offer.id,
            min_grade=offer.min_grade,
            grade=grade,
        )


def period_of(session: Session, offer: Offer, county_id: int, now: datetime) -> tuple[datetime, datetime] | None:
    """The limit period around `now` in county time; None for a limit over all time."""
    if offer.limit_period == LimitPeriod.EVER:
        return None
    county = session.get(County, county_id)
    assert county is not None
    return period_bounds(now, county.timezone, offer.limit_period)


def check_limit(offer: Any, taken: int, quantity: int) -> None:
    if taken + quantity > offer.per_household_limit:
        raise HouseholdLimitReached(
            f"Your household may take {offer.per_household_limit} of this offer per {offer.limit_period}; "
            f"it has taken {taken}.",
            offer_id=offer.id,
            limit=offer.per_household_limit,
            taken=taken,
            period=offer.limit_period,
        )


_TAKE_STOCK = (
    update(OFFER)
    .where(
        OFFER.c.id == bindparam("offer"), (OFFER.c.stock.is_(None)) | (OFFER.c.issued + bindparam("n") <= OFFER.c.stock)
    )
    .values(issued=OFFER.c.issued + bindparam("n"))
)
_GIVE_BACK = (
    update(OFFER)
    .where(OFFER.c.id == bindparam("offer"), OFFER.c.stock.is_not(None))
    .values(issued=OFFER.c.issued - bindparam("n"))
)


def take_stock(session: Session, offer: Any, quantity: int) -> None:
    """One conditional update: two households taking the last one cannot both get it. An offer without a stock
    limit is not counted: that update would lock the offer's row and make every redemption of it wait in turn."""
    if offer.stock is None:
        return
    taken = session.execute(_TAKE_STOCK, {"offer": offer.id, "n": quantity})
    if cast("CursorResult[Any]", taken).rowcount != 1:  # an UPDATE answers with a cursor result
        raise OutOfStock("This offer is out of stock.", offer_id=offer.id)


def give_back_stock(session: Session, offer_id: int, quantity: int) -> None:
    session.execute(_GIVE_BACK, {"offer": offer_id, "n": quantity})


def count_in(
    session: Session,
    model: Any,
    *,
    household_id: int,
    offer_id: int,
    period: tuple[datetime, datetime] | None,
    quantity: Any,
    excluded: tuple[str, ...],
) -> int:
    """How many of an offer a household took in a period (vouchers by quantity, applications by count)."""
    query = select(func.coalesce(func.sum(quantity), 0)).where(
        model.household_id == household_id, model.offer_id == offer_id, model.status.not_in(excluded)
    )
    if period is not None:
        query = query.where(model.created_at >= period[0], model.created_at < period[1])
    return int(session.scalar(query) or 0)
