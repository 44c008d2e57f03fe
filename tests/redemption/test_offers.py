"""Offers (redemption/offers.py), called directly: the county admin's approval, and who may take an offer — the
village, the grade, the household's limit per period and the stock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.errors import Forbidden, Invalid
from ledger.identity.principal import Principal
from ledger.tenancy import Household
from redemption import offers, vouchers
from redemption.models import LimitPeriod, Offer, OfferStatus
from tests.redemption.market import Market, approved_offer, available, build_market, give_points, voucher_terms

pytestmark = pytest.mark.db


@pytest.fixture
def market(engine: Engine) -> Market:
    return build_market(engine)


# The redemption services are called through these helpers only (their return types may change).


@dataclass(frozen=True)
class Issued:
    code: str
    pin: str


def redeem(engine: Engine, who: Principal, offer_id: int, **fields: Any) -> Issued:
    """A member of the household redeems the offer."""
    with unit_of_work(engine) as session:
        voucher = vouchers.redeem(session, who, offer_id=offer_id, **fields).value
        return Issued(voucher.code, voucher.pin)


def cancel(engine: Engine, who: Principal, code: str) -> None:
    with unit_of_work(engine) as session:
        vouchers.cancel(session, who, code=code)


def open_to(engine: Engine, household_id: int) -> list[int]:
    """The ids of the offers the household sees."""
    with unit_of_work(engine) as session:
        household = session.get(Household, household_id)
        assert household is not None
        return [offer.id for offer in offers.open_to(session, household) if offer.id is not None]


def status_of(engine: Engine, offer_id: int) -> str:
    with unit_of_work(engine) as session:
        offer = session.get(Offer, offer_id)
        assert offer is not None
        return offer.status


# --- approval ------------------------------------------------------------------------------------------------


def test_an_offer_is_open_to_households_only_once_the_county_admin_approves_it(engine: Engine, market: Market) -> None:
    give_points(engine, market.household_a1, 300)
    with unit_of_work(engine) as session:
        offer = offers.propose(session, market.mart, voucher_terms())
        offer_id = offer.id
        assert offer_id is not None and offer.status == OfferStatus.PROPOSED
    assert offer_id not in open_to(engine, market.household_a1)
    with pytest.raises(offers.OfferNotFound):  # a proposed offer is not there for a household
        redeem(engine, market.villager_a1, offer_id)
    with pytest.raises(Forbidden), unit_of_work(engine) as session:  # the partner does not approve its own
        offers.decide(session, market.mart, offer_id, approve=True, note=None)

    with unit_of_work(engine) as session:
        decided = offers.decide(session, market.admin, offer_id, approve=True, note="ok")
        assert decided.status == OfferStatus.APPROVED and decided.decided_by == market.admin.actor
    assert open_to(engine, market.household_a1) == [offer_id]
    redeem(engine, market.villager_a1, offer_id)
    assert available(engine, market.household_a1) == 200

    with pytest.raises(offers.OfferDecided), unit_of_work(engine) as session:  # decided once
        offers.decide(session, market.admin, offer_id, approve=False, note=None)
    assert status_of(engine, offer_id) == OfferStatus.APPROVED


def test_a_rejected_offer_is_never_open_and_a_withdrawn_one_closes(engine: Engine, market: Market) -> None:
    give_points(engine, market.household_a1, 300)
    with unit_of_work(engine) as session:
        rejected = offers.propose(session, market.mart, voucher_terms()).id
        assert rejected is not None
        offers.decide(session, market.admin, rejected, approve=False, note="too dear")
    withdrawn = approved_offer(engine, market, market.mart, voucher_terms())
    issued = redeem(engine, market.villager_a1, withdrawn)
    with unit_of_work(engine) as session:
        assert offers.withdraw(session, market.mart, withdrawn).status == OfferStatus.WITHDRAWN

    assert open_to(engine, market.household_a1) == []
    with pytest.raises(offers.OfferNotFound):
        redeem(engine, market.villager_a1, rejected)
    with pytest.raises(offers.OfferClosed):
        redeem(engine, market.villager_a1, withdrawn)
    with unit_of_work(engine) as session:  # a voucher already issued stays good
        used = vouchers.consume(session, market.mart, code=issued.code, pin=issued.pin)
        assert used.status == "used"
    with pytest.raises(offers.OfferNotFound), unit_of_work(engine) as session:  # another partner's offer
        offers.withdraw(session, market.clinic, withdrawn)


def test_a_partner_offers_only_what_its_kind_may_and_an_offer_has_a_window(engine: Engine, market: Market) -> None:
    now = utcnow()
    with pytest.raises(Invalid) as loan, unit_of_work(engine) as session:
        offers.propose(session, market.mart, voucher_terms(kind="loan", loan_terms={"grades": {}}))
    assert loan.value.detail["field"] == "kind"
    with pytest.raises(Invalid) as window, unit_of_work(engine) as session:
        offers.propose(session, market.mart, voucher_terms(valid_from=now, valid_until=now - timedelta(hours=1)))
    assert window.value.detail["field"] == "valid_until"
    with pytest.raises(Forbidden), unit_of_work(engine) as session:  # a villager is no partner
        offers.propose(session, market.villager_a1, voucher_terms())

    later = approved_offer(engine, market, market.mart, voucher_terms(valid_from=now + timedelta(days=2)))
    give_points(engine, market.household_a1, 300)
    assert later not in open_to(engine, market.household_a1)
    with pytest.raises(offers.OfferClosed):
        redeem(engine, market.villager_a1, later)
    assert available(engine, market.household_a1) == 300


# --- who may take it -----------------------------------------------------------------------------------------


def test_an_offer_for_some_villages_is_refused_to_the_others(engine: Engine, market: Market) -> None:
    for household in (market.household_a1, market.household_b1):
        give_points(engine, household, 300)
    only_b = approved_offer(engine, market, market.mart, voucher_terms(village_ids=(market.village_b.village_id,)))

    assert open_to(engine, market.household_a1) == []
    assert open_to(engine, market.household_b1) == [only_b]
    with pytest.raises(offers.NotForYourVillage):
        redeem(engine, market.villager_a1, only_b)
    redeem(engine, market.villager_b1, only_b)
    assert available(engine, market.household_a1) == 300
    assert available(engine, market.household_b1) == 200


def test_a_partner_serving_some_villages_offers_only_to_them(engine: Engine, market: Market) -> None:
    give_points(engine, market.household_a1, 300)
    everywhere = approved_offer(engine, market, market.mart, voucher_terms())
    with unit_of_work(engine) as session:
        served = offers.set_villages(session, market.admin, market.mart_id, [market.village_b.village_id])
        assert served == [market.village_b.village_id]
    assert open_to(engine, market.household_a1) == []
    assert open_to(engine, market.household_b1) == [everywhere]
    with pytest.raises(offers.NotForYourVillage):
        redeem(engine, market.villager_a1, everywhere)
    with pytest.raises(offers.VillageNotServed), unit_of_work(engine) as session:  # nor may it list village A
        offers.propose(session, market.mart, voucher_terms(village_ids=(market.village_a.village_id,)))


def test_an_offer_with_a_minimum_grade_is_refused_to_a_household_not_rated_that_well(
    engine: Engine, market: Market
) -> None:
    give_points(engine, market.household_a1, 300)  # a fortnight of points: not rated yet (NR)
    graded = approved_offer(engine, market, market.mart, voucher_terms(min_grade="B"))
    with pytest.raises(offers.GradeTooLow) as refused:
        redeem(engine, market.villager_a1, graded)
    assert refused.value.detail["min_grade"] == "B" and refused.value.detail["grade"] == "NR"
    assert available(engine, market.household_a1) == 300


@pytest.mark.parametrize(
    ("grade", "minimum", "meets"),
    [("AAA", "AA", True), ("AA", "AA", True), ("A", "AA", False), ("C", "B", False), ("NR", "C", False)]
    + [("NR", None, True), (None, None, True), (None, "C", False)],
)
def test_grades_are_ordered_best_first(grade: str | None, minimum: str | None, meets: bool) -> None:
    assert offers.grade_meets(grade, minimum) is meets


def test_a_household_takes_an_offer_at_most_its_limit_in_a_period_and_a_cancelled_one_does_not_count(
    engine: Engine, market: Market
) -> None:
    give_points(engine, market.household_a1, 1000)
    give_points(engine, market.household_a2, 1000)
    twice = approved_offer(engine, market, market.mart, voucher_terms(per_household_limit=2))
    redeem(engine, market.villager_a1, twice)
    second = redeem(engine, market.villager_a1, twice)
    with pytest.raises(offers.HouseholdLimitReached) as refused:
        redeem(engine, market.villager_a1, twice)
    assert refused.value.detail["limit"] == 2 and refused.value.detail["taken"] == 2
    assert refused.value.detail["period"] == LimitPeriod.MONTH
    redeem(engine, market.villager_a2, twice)  # the limit is each household's own

    cancel(engine, market.villager_a1, second.code)
    redeem(engine, market.villager_a1, twice)
    assert available(engine, market.household_a1) == 800

    with pytest.raises(offers.HouseholdLimitReached):  # two at once count as two
        redeem(engine, market.villager_a2, twice, quantity=2)
    ever = approved_offer(engine, market, market.mart, voucher_terms(limit_period=LimitPeriod.EVER.value))
    redeem(engine, market.villager_a2, ever, now=utcnow() - timedelta(hours=1))
    with pytest.raises(offers.HouseholdLimitReached):
        redeem(engine, market.villager_a2, ever, now=utcnow() + timedelta(days=40))


def test_the_stock_runs_out_and_a_cancelled_voucher_gives_it_back(engine: Engine, market: Market) -> None:
    for household in (market.household_a1, market.household_a2):
        give_points(engine, household, 300)
    one = approved_offer(engine, market, market.mart, voucher_terms(stock=1))
    taken = redeem(engine, market.villager_a1, one)
    with pytest.raises(offers.OutOfStock):
        redeem(engine, market.villager_a2, one)
    assert available(engine, market.household_a2) == 300

    cancel(engine, market.villager_a1, taken.code)
    redeem(engine, market.villager_a2, one)
    assert available(engine, market.household_a1) == 300
    assert available(engine, market.household_a2) == 200
