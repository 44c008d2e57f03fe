"""Settlement (redemption/settlement.py), called directly: a partner's statement of uses in a period, and its
reconciliation with what the ledger posted to the partner's clearing accounts (one per village)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.identity.models import Partner
from ledger.identity.principal import Principal
from ledger.journal import accounts
from ledger.journal import service as journal
from ledger.tenancy import Village
from redemption import offers, settlement, vouchers
from tests.redemption.market import Market, approved_offer, build_market, give_points, voucher_terms

pytestmark = pytest.mark.db


@pytest.fixture
def market(engine: Engine) -> Market:
    market = build_market(engine)
    for household in (market.household_a1, market.household_a2, market.household_b1):
        give_points(engine, household, 500)
    return market


# The voucher services are called through these helpers only (their return types may change).


def redeem(engine: Engine, who: Principal, offer_id: int, **fields: Any) -> tuple[str, str]:
    """(the voucher's code, its PIN)."""
    with unit_of_work(engine) as session:
        voucher = vouchers.redeem(session, who, offer_id=offer_id, **fields).value
        return voucher.code, voucher.pin


def use(engine: Engine, who: Principal, offer_id: int, partner: Principal, amount_fen: int | None = None) -> str:
    """A household redeems the offer and the partner uses the voucher (all of it, or `amount_fen`)."""
    code, pin = redeem(engine, who, offer_id)
    with unit_of_work(engine) as session:
        vouchers.consume(session, partner, code=code, pin=pin, amount_fen=amount_fen)
    return code


def settle(engine: Engine, partner_id: int, start: datetime, end: datetime) -> settlement.Settlement:
    with unit_of_work(engine) as session:
        return settlement.settle(session, partner_id, start, end)


def test_a_partner_s_statement_matches_its_clearing_accounts_across_villages(engine: Engine, market: Market) -> None:
    start = utcnow() - timedelta(seconds=1)
    mart = approved_offer(engine, market, market.mart, voucher_terms(per_household_limit=5))
    in_a = use(engine, market.villager_a1, mart, market.mart)
    in_b = use(engine, market.villager_b1, mart, market.mart, amount_fen=3000)  # 60 points paid, 40 still held
    cancelled, _ = redeem(engine, market.villager_a2, mart)
    with unit_of_work(engine) as session:
        vouchers.cancel(session, market.villager_a2, code=cancelled)
    redeem(engine, market.villager_a2, mart)  # held, not used
    clinic = approved_offer(engine, market, market.clinic, voucher_terms())
    use(engine, market.villager_a1, clinic, market.clinic)  # another partner's
    end = utcnow() + timedelta(seconds=1)

    statement = settle(engine, market.mart_id, start, end)
    assert list(statement.lines["voucher"]) == [in_a, in_b]
    assert list(statement.lines["value_yuan"]) == ["50.00", "30.00"]
    assert list(statement.lines["points"]) == [100, 60]
    assert set(statement.lines["village"]) == set(_village_names(engine, market))  # both clearing accounts
    assert (statement.value_fen, statement.points, statement.ledger_points) == (8000, 160, 160)
    assert statement.reconciled
    assert statement.summary()["value_yuan"] == "80.00" and statement.summary()["uses"] == 2

    other = settle(engine, market.clinic_id, start, end)
    assert (len(other.lines), other.points, other.ledger_points, other.reconciled) == (1, 100, 100, True)

    with unit_of_work(engine) as session:  # the rest of the part-used voucher is used later: it adds up again
        voucher = vouchers.find(session, market.villager_b1, in_b)
        vouchers.consume(session, market.mart, code=in_b, pin=voucher.pin)
    after = settle(engine, market.mart_id, start, utcnow() + timedelta(seconds=1))
    assert (after.points, after.ledger_points, after.value_fen, after.reconciled) == (200, 200, 10000, True)


def test_a_period_holds_only_the_uses_made_in_it(engine: Engine, market: Market) -> None:
    start = utcnow() - timedelta(seconds=1)
    mart = approved_offer(engine, market, market.mart, voucher_terms(per_household_limit=5))
    first = use(engine, market.villager_a1, mart, market.mart)
    between = utcnow()
    second = use(engine, market.villager_a1, mart, market.mart, amount_fen=1000)
    end = utcnow() + timedelta(seconds=1)

    before = settle(engine, market.mart_id, start, between)
    after = settle(engine, market.mart_id, between, end)
    assert list(before.lines["voucher"]) == [first] and (before.points, before.ledger_points) == (100, 100)
    assert list(after.lines["voucher"]) == [second] and (after.points, after.ledger_points) == (20, 20)
    assert before.reconciled and after.reconciled
    earlier = settle(engine, market.mart_id, start - timedelta(days=30), start)
    assert (len(earlier.lines), earlier.points, earlier.ledger_points, earlier.reconciled) == (0, 0, 0, True)


def test_points_posted_to_a_clearing_account_outside_a_voucher_break_the_reconciliation(
    engine: Engine, market: Market
) -> None:
    start = utcnow() - timedelta(seconds=1)
    mart = approved_offer(engine, market, market.mart, voucher_terms())
    use(engine, market.villager_a1, mart, market.mart)
    with unit_of_work(engine) as session:  # no voucher, no event: only the ledger knows
        partner = session.get(Partner, market.mart_id)
        village = session.get(Village, market.village_a.village_id)
        assert partner is not None and village is not None
        own = accounts.of_household(session, market.household_a1).id
        assert own is not None
        journal.transfer(
            session,
            debit=own,
            credit=offers.clearing_account(session, partner, village),
            amount=30,
            reason="test_side_payment",
            actor="test",
        )
    statement = settle(engine, market.mart_id, start, utcnow() + timedelta(seconds=1))
    assert (statement.points, statement.ledger_points) == (100, 130)
    assert not statement.reconciled and statement.summary()["reconciled"] is False
    total, ledger = settlement.to_csv(statement).decode("utf-8-sig").strip().splitlines()[-2:]
    assert total.startswith("total,1,") and ledger.startswith("ledger_differs,") and ",130," in ledger


def _village_names(engine: Engine, market: Market) -> list[str]:
    with unit_of_work(engine) as session:
        villages = [session.get(Village, v.village_id) for v in (market.village_a, market.village_b)]
        return [village.name for village in villages if village is not None]
