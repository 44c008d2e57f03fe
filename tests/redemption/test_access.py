"""Who may see and use vouchers and loan applications (redemption/access.py), asked directly, without HTTP:
another merchant's voucher and another household's voucher look missing, and the services ask the same rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.errors import Forbidden
from ledger.identity.models import Partner, PartnerKind, Role
from ledger.identity.principal import PARTNER, Principal
from ledger.journal import service as journal
from redemption import access, offers, vouchers
from redemption.models import Offer
from tests import factories


@dataclass(frozen=True)
class Shop:
    county_id: int
    mart: Principal  # the merchant whose voucher it is
    other_mart: Principal  # another merchant of the county
    villager: Principal  # a member of the household that redeemed it
    neighbour: Principal  # a member of another household of the village
    code: str  # the voucher the household redeemed at `mart`
    pin: str


def _partner(session: Session, county_id: int, kind: str, code: str) -> Principal:
    partner = Partner(county_id=county_id, kind=kind, code=code, name=code)
    session.add(partner)
    session.flush()
    return Principal(
        subject=f"client:{code}",
        role=PARTNER,
        county_id=county_id,
        partner_id=partner.id,
        partner_kind=kind,
        scopes=frozenset({"offers:manage", "vouchers:consume"}),
    )


def _offer(session: Session, mart: Principal) -> Offer:
    now = utcnow()
    terms = offers.OfferTerms(
        kind="voucher",
        title="50 yuan of groceries",
        value_fen=5000,
        cost_points=100,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
    )
    offer = offers.propose(session, mart, terms)
    assert offer.id is not None
    admin = Principal(subject="user:0", role=Role.COUNTY_ADMIN, county_id=mart.county_id)
    return offers.decide(session, admin, offer.id, approve=True, note=None)


@pytest.fixture
def shop(engine: Engine) -> Shop:
    with unit_of_work(engine) as session:
        place = factories.create_village(session)
        household, points = factories.create_household(session, place.village_id)
        other_household, _ = factories.create_household(session, place.village_id)
        journal.transfer(session, debit=place.issuance, credit=points, amount=500, reason="test_award", actor="test")
        villager = factories.principal_of(session, factories.create_villager(session, household))
        neighbour = factories.principal_of(session, factories.create_villager(session, other_household))
        mart = _partner(session, place.county_id, PartnerKind.MERCHANT, f"mart-{uuid.uuid4().hex[:8]}")
        other_mart = _partner(session, place.county_id, PartnerKind.MERCHANT, f"mart-{uuid.uuid4().hex[:8]}")
        offer = _offer(session, mart)
        assert offer.id is not None
        voucher = vouchers.redeem(session, villager, offer_id=offer.id, idempotency_key=str(uuid.uuid4())).value
        code, pin = voucher.code, voucher.pin
    return Shop(place.county_id, mart, other_mart, villager, neighbour, code, pin)


def test_a_merchant_cannot_use_another_merchants_voucher(engine: Engine, shop: Shop) -> None:
    with unit_of_work(engine) as session:
        with pytest.raises(vouchers.VoucherNotFound):
            access.find_voucher(session, shop.other_mart, shop.code)
        with pytest.raises(vouchers.VoucherNotFound):
            vouchers.consume(session, shop.other_mart, code=shop.code, pin=shop.pin)
        assert access.visible_vouchers(session, shop.other_mart) == []
        # its own merchant sees and uses it
        assert access.find_voucher(session, shop.mart, shop.code).code == shop.code
        used = vouchers.consume(session, shop.mart, code=shop.code, pin=shop.pin)
        assert used.status == "used"


def test_a_villager_sees_only_their_households_vouchers(engine: Engine, shop: Shop) -> None:
    with unit_of_work(engine) as session:
        assert [v.code for v in access.visible_vouchers(session, shop.villager)] == [shop.code]
        assert access.visible_vouchers(session, shop.neighbour) == []
        with pytest.raises(vouchers.VoucherNotFound):
            access.find_voucher(session, shop.neighbour, shop.code)
        with pytest.raises(vouchers.VoucherNotFound):
            vouchers.cancel(session, shop.neighbour, code=shop.code)
        assert access.find_voucher(session, shop.villager, shop.code).code == shop.code


def test_a_bank_has_no_business_with_vouchers(engine: Engine, shop: Shop) -> None:
    with unit_of_work(engine) as session:
        bank = _partner(session, shop.county_id, PartnerKind.BANK, f"bank-{uuid.uuid4().hex[:8]}")
        with pytest.raises(vouchers.VoucherNotFound):
            access.find_voucher(session, bank, shop.code)
        with pytest.raises(Forbidden):
            access.visible_vouchers(session, bank)
        with pytest.raises(Forbidden):
            vouchers.consume(session, bank, code=shop.code, pin=shop.pin)


def test_a_household_sees_only_approved_offers(engine: Engine, shop: Shop) -> None:
    with unit_of_work(engine) as session:
        proposed = offers.propose(
            session,
            shop.mart,
            offers.OfferTerms(
                kind="voucher",
                title="Not approved yet",
                value_fen=1000,
                cost_points=20,
                valid_from=utcnow() - timedelta(days=1),
                valid_until=utcnow() + timedelta(days=30),
            ),
        )
        assert proposed.id is not None
        with pytest.raises(offers.OfferNotFound):
            access.visible_offer(session, shop.villager, proposed.id)
        assert proposed.id not in {o.id for o in access.visible_offers(session, shop.villager)}
        assert access.visible_offer(session, shop.mart, proposed.id).id == proposed.id  # its partner sees it
        with pytest.raises(offers.OfferNotFound):
            access.visible_offer(session, shop.other_mart, proposed.id)


def test_only_the_offers_partner_withdraws_it_and_only_the_county_admin_decides(engine: Engine, shop: Shop) -> None:
    with unit_of_work(engine) as session:
        offer = _offer(session, shop.mart)
        assert offer.id is not None
        with pytest.raises(offers.OfferNotFound):
            offers.withdraw(session, shop.other_mart, offer.id)
        with pytest.raises(Forbidden):
            offers.decide(session, shop.mart, offer.id, approve=True, note=None)
        assert offers.withdraw(session, shop.mart, offer.id).status == "withdrawn"
