"""Who may see and do what on the redemption side: offers, slots, vouchers and bookings, loan applications,
partners and their settlement. Routes and pages ask here; the services ask here for their own checks.

Two rules run through it. Someone else's record looks missing: a voucher of another merchant, another household's
application or an offer not approved yet answer with the same not-found error as one that does not exist, so codes
and ids cannot be probed. And a role that has no business with a record at all is refused (forbidden).

The services (offers, vouchers, loans) import this module and this module imports them; each side uses the other
only inside functions, never at import time, so either may be imported first.
"""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import Session, col, select

from ledger.core import paging
from ledger.core.errors import Forbidden, Invalid, NotFound
from ledger.identity.models import Partner, PartnerKind, Role
from ledger.identity.principal import PARTNER, Principal
from ledger.tenancy import Household
from redemption import loans, offers, vouchers
from redemption.models import LoanApplication, Offer, OfferStatus, Voucher

SHOPS = (PartnerKind.MERCHANT, PartnerKind.CLINIC)
V = TypeVar("V", Voucher, "vouchers.Seen")  # a voucher row, or a voucher as an operation's answer shows it


def is_partner(who: Principal, *kinds: str) -> bool:
    """A partner's staff or client, of one of these kinds."""
    return who.role == PARTNER and who.partner_id is not None and who.partner_kind in kinds


def household_of(session: Session, who: Principal) -> Household:
    """The household a villager acts for."""
    household = session.get(Household, who.household_id) if who.role == Role.VILLAGER else None
    if household is None:
        raise Forbidden("Only a member of a household does this.")
    return household


# --- offers and slots ----------------------------------------------------------------------------------------


def visible_offers(session: Session, who: Principal, status: str | None = None) -> list[Offer]:
    """A household: the offers open to it now. A partner: its own (by `status`). Officials: the county's approved
    offers. The county admin and auditors: all of the county's (by `status`)."""
    if who.role == Role.VILLAGER:
        return offers.open_to(session, household_of(session, who))
    if who.role == PARTNER:
        if who.partner_id is None:
            raise Forbidden("Your role may not read offers.")
        return [o for o in offers.of_partner(session, who.partner_id) if not status or o.status == status]
    if who.role == Role.OFFICIAL:
        return offers.of_county(session, who.county_id, OfferStatus.APPROVED)
    if who.role in (Role.COUNTY_ADMIN, Role.AUDITOR):
        return offers.of_county(session, who.county_id, status)
    raise Forbidden("Your role may not read offers.")


def visible_offer(session: Session, who: Principal, offer_id: int) -> Offer:
    """One offer of the county: a partner sees only its own, households and officials only approved ones."""
    offer = session.get(Offer, offer_id)
    if offer is None or offer.county_id != who.county_id:
        raise offers.OfferNotFound("No such offer.", offer_id=offer_id)
    if who.role == PARTNER and offer.partner_id != who.partner_id:
        raise offers.OfferNotFound("No such offer.", offer_id=offer_id)
    if who.role in (Role.VILLAGER, Role.OFFICIAL) and offer.status != OfferStatus.APPROVED:
        raise offers.OfferNotFound("No such offer.", offer_id=offer_id)
    return offer


def offer_with_slots(session: Session, who: Principal, offer_id: int) -> Offer:
    """An offer whose slots the caller may read: a household only those of offers open to it now."""
    offer = visible_offer(session, who, offer_id)
    if who.role == Role.VILLAGER:
        household = session.get(Household, who.household_id)
        if household is None or offer not in offers.open_to(session, household):
            raise offers.OfferNotFound("No such offer.", offer_id=offer_id)
    return offer


def require_county_admin(who: Principal, message: str) -> None:
    """The county admin approves offers and says which villages a partner serves."""
    if who.role != Role.COUNTY_ADMIN:
        raise Forbidden(message)


def require_partner(who: Principal) -> int:
    """A partner's staff or client (proposing offers); the partner's id."""
    if who.role != PARTNER or who.partner_id is None:
        raise Forbidden("Only a partner does this.")
    return who.partner_id


def county_offer(who: Principal, offer: Offer | None, offer_id: int) -> Offer:
    """An offer the county admin may decide: one of their county."""
    if offer is None or offer.county_id != who.county_id:
        raise offers.OfferNotFound("No such offer in your county.", offer_id=offer_id)
    return offer


def partners_offer(who: Principal, offer: Offer | None, offer_id: int) -> Offer:
    """An offer a partner may manage (withdraw, add slots to): one of its own."""
    if offer is None or who.partner_id is None or offer.partner_id != who.partner_id:
        raise offers.OfferNotFound("No such offer of yours.", offer_id=offer_id)
    return offer


def require_clinic(who: Principal, message: str) -> None:
    if who.role != PARTNER or who.partner_kind != PartnerKind.CLINIC:
        raise Forbidden(message)


# --- vouchers and bookings -----------------------------------------------------------------------------------


def sees_voucher(who: Principal, voucher: Voucher) -> bool:
    """Its household, and the merchant or clinic it is to be used at; nobody else."""
    if who.role == Role.VILLAGER:
        return voucher.household_id == who.household_id
    return is_partner(who, *SHOPS) and voucher.partner_id == who.partner_id


def find_voucher(session: Session, who: Principal, code: str) -> Voucher:
    """A voucher as its household or its partner (merchant or clinic) sees it; to anyone else it does not exist."""
    voucher = (
        session.exec(select(Voucher).where(col(Voucher.code) == vouchers.normal_code(code))).first()
        if isinstance(code, str) and len(code) <= 40
        else None
    )
    if voucher is not None and sees_voucher(who, voucher):
        return voucher
    raise vouchers.VoucherNotFound("No such voucher.", voucher_code=code)


def visible_vouchers(session: Session, who: Principal, status: str | None = None) -> list[Voucher]:
    """A household's vouchers and bookings, or a merchant's or clinic's own."""
    if who.role == Role.VILLAGER and who.household_id is not None:
        return vouchers.of_household(session, who.household_id, status)
    if is_partner(who, *SHOPS):
        assert who.partner_id is not None
        return vouchers.of_partner(session, who.partner_id, status=status)
    raise Forbidden("Your role may not read vouchers.")


def voucher_page(
    session: Session,
    who: Principal,
    status: str | None = None,
    *,
    bookings: bool = False,
    slot_id: int | None = None,
    cursor: str | None = None,
    limit: int = paging.PAGE,
) -> paging.Page[Voucher]:
    """`visible_vouchers` (or, with `bookings`, `visible_bookings`) a page at a time, newest first, after
    `cursor`."""
    query = select(Voucher)
    if bookings:
        require_clinic(who, "A clinic manages its bookings.")
        assert who.partner_id is not None
        query = query.where(col(Voucher.partner_id) == who.partner_id, col(Voucher.slot_id).is_not(None))
        if slot_id is not None:
            query = query.where(col(Voucher.slot_id) == slot_id)
    elif who.role == Role.VILLAGER and who.household_id is not None:
        query = query.where(col(Voucher.household_id) == who.household_id)
    elif is_partner(who, *SHOPS):
        query = query.where(col(Voucher.partner_id) == who.partner_id)
    else:
        raise Forbidden("Your role may not read vouchers.")
    if status:
        query = query.where(col(Voucher.status) == status)
    return paging.by_id(session, query, col(Voucher.id), cursor=cursor, limit=limit)


def visible_bookings(
    session: Session, who: Principal, *, status: str | None = None, slot_id: int | None = None
) -> list[Voucher]:
    """A clinic's bookings (vouchers with a slot), newest first."""
    require_clinic(who, "A clinic manages its bookings.")
    assert who.partner_id is not None
    return [v for v in vouchers.of_partner(session, who.partner_id, status=status, slot_id=slot_id) if v.slot_id]


def require_cashier(who: Principal) -> None:
    """Who may use vouchers at all: a merchant or a clinic."""
    if who.role != PARTNER or who.partner_kind not in SHOPS:
        raise Forbidden("A merchant or clinic uses vouchers.")


def usable_voucher(who: Principal, voucher: V | None, code: str) -> V:
    """A voucher this merchant or clinic may use: one of its own (anyone else's looks missing)."""
    require_cashier(who)
    if voucher is None or voucher.partner_id != who.partner_id:
        raise vouchers.VoucherNotFound("No such voucher of yours.", voucher_code=code)
    return voucher


def own_booking(who: Principal, voucher: V | None, code: str) -> V:
    """A booking this clinic may mark attended or missed: one of its own."""
    require_clinic(who, "A clinic manages its bookings.")
    if voucher is None or voucher.partner_id != who.partner_id or voucher.slot_id is None:
        raise vouchers.VoucherNotFound("No such booking of yours.", voucher_code=code)
    return voucher


def cancellable_voucher(who: Principal, voucher: Voucher | None, code: str) -> Voucher:
    """A voucher the caller may give back: one of their own household's."""
    if voucher is None or who.role != Role.VILLAGER or voucher.household_id != who.household_id:
        raise vouchers.VoucherNotFound("No such voucher of your household.", voucher_code=code)
    return voucher


# --- loan applications ---------------------------------------------------------------------------------------


def sees_application(who: Principal, application: LoanApplication) -> bool:
    """Its household, and the bank it was sent to; nobody else."""
    if who.role == Role.VILLAGER:
        return application.household_id == who.household_id
    return is_partner(who, PartnerKind.BANK) and application.partner_id == who.partner_id


def find_application(session: Session, who: Principal, application_id: int) -> LoanApplication:
    """An application as its household or its bank sees it; to anyone else it does not exist."""
    application = session.get(LoanApplication, application_id)
    if application is not None and sees_application(who, application):
        return application
    raise loans.ApplicationNotFound("No such loan application.", application_id=application_id)


def visible_applications(session: Session, who: Principal, status: str | None = None) -> list[LoanApplication]:
    """A household: its applications. A bank holding loans:read: its inbox, newest first."""
    if who.role == Role.VILLAGER and who.household_id is not None:
        return loans.of_household(session, who.household_id, status=status)
    require_bank(who, "loans:read", "reads loan applications")
    assert who.partner_id is not None
    return loans.of_partner(session, who.partner_id, status=status)


def application_page(
    session: Session, who: Principal, status: str | None = None, *, cursor: str | None = None, limit: int = paging.PAGE
) -> paging.Page[LoanApplication]:
    """`visible_applications` a page at a time, newest first, after `cursor`."""
    query = select(LoanApplication)
    if who.role == Role.VILLAGER and who.household_id is not None:
        query = query.where(col(LoanApplication.household_id) == who.household_id)
    else:
        require_bank(who, "loans:read", "reads loan applications")
        query = query.where(col(LoanApplication.partner_id) == who.partner_id)
    if status:
        query = query.where(col(LoanApplication.status) == status)
    return paging.by_id(session, query, col(LoanApplication.id), cursor=cursor, limit=limit)


def require_bank(who: Principal, scope: str, what: str) -> None:
    """A partner bank holding `scope` (its staff hold every bank scope; a machine client those it was given)."""
    if not is_partner(who, PartnerKind.BANK):
        raise Forbidden(f"Only a partner bank {what}.")
    if scope not in who.scopes:
        raise Forbidden(f"This needs the scope {scope}.", scope=scope)


def banks_application(who: Principal, application: LoanApplication | None, application_id: int) -> LoanApplication:
    """An application this bank may decide or report on: one sent to it."""
    if application is None or application.partner_id != who.partner_id:
        raise loans.ApplicationNotFound("No such loan application of yours.", application_id=application_id)
    return application


def households_application(who: Principal, application: LoanApplication | None, application_id: int) -> LoanApplication:
    """An application the caller may withdraw: one of their own household's."""
    if application is None or who.role != Role.VILLAGER or application.household_id != who.household_id:
        raise loans.ApplicationNotFound("No such loan application of your household.", application_id=application_id)
    return application


# --- partners ------------------------------------------------------------------------------------------------


def county_partner(who: Principal, partner: Partner | None, partner_id: int) -> Partner:
    """A partner the county admin may manage: one of their county."""
    if partner is None or partner.county_id != who.county_id:
        raise offers.PartnerNotFound("No such partner in your county.", partner_id=partner_id)
    return partner


def own_partner(session: Session, who: Principal) -> Partner:
    """The partner the caller acts for."""
    partner = session.get(Partner, who.partner_id) if who.role == PARTNER and who.partner_id is not None else None
    if partner is None:
        raise NotFound("No such partner.")
    return partner


def county_partners(session: Session, who: Principal, kind: str | None = None) -> list[Partner]:
    """The partners of the caller's county, by name (the banks a household may give consent to, with kind=bank)."""
    query = select(Partner).where(col(Partner.county_id) == who.county_id)
    if kind is not None:
        query = query.where(col(Partner.kind) == kind)
    return list(session.exec(query.order_by(col(Partner.name))))


def settlement_partner(session: Session, who: Principal, partner_id: int | None) -> Partner:
    """Whose settlement the caller may read: a partner its own; the county admin and auditors a partner of the
    county they name."""
    if who.role == PARTNER:
        if not is_partner(who, *SHOPS):
            raise Forbidden("Your role may not read settlements.")
        if partner_id is not None and partner_id != who.partner_id:
            raise Forbidden("You may read only your own settlement.")
        partner_id = who.partner_id
    elif who.role not in (Role.COUNTY_ADMIN, Role.AUDITOR):
        raise Forbidden("Your role may not read settlements.")
    elif partner_id is None:
        raise Invalid("Name the partner.", field="partner_id")
    partner = session.get(Partner, partner_id)
    if partner is None or partner.county_id != who.county_id:
        raise NotFound("No such partner in your county.", partner_id=partner_id)
    return partner
