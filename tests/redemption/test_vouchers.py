"""Vouchers (redemption/vouchers.py), called directly: the points held when redeemed, posted to the partner once
when used (in full or in parts), given back when cancelled or expired — as the household sees them on its
balance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from ledger.core.base import as_utc, utcnow
from ledger.core.db import unit_of_work
from ledger.identity.principal import Principal
from ledger.journal.errors import InsufficientPoints
from ledger.journal.verify import verify
from redemption import vouchers
from redemption.models import Voucher, VoucherStatus
from tests.redemption.market import Market, approved_offer, available, balance, build_market, give_points, voucher_terms

pytestmark = pytest.mark.db


@pytest.fixture
def market(engine: Engine) -> Market:
    return build_market(engine)


@pytest.fixture
def offer_id(engine: Engine, market: Market) -> int:
    """The mart's 50-yuan voucher for 100 points; household A1 has 300 points."""
    give_points(engine, market.household_a1, 300)
    return approved_offer(engine, market, market.mart, voucher_terms())


# The redemption services are called through these helpers only (their return types may change).


@dataclass(frozen=True)
class Seen:
    """A voucher as its household sees it."""

    code: str
    pin: str
    qr: str
    status: str
    points: int
    remaining_points: int
    remaining_fen: int
    expires_at: datetime
    history: tuple[tuple[str, int, int], ...]  # (event, points, value in fen)


def _seen(voucher: Voucher | vouchers.Seen, session: Session) -> Seen:
    assert voucher.id is not None
    return Seen(
        code=voucher.code,
        pin=voucher.pin,
        qr=vouchers.qr_text(voucher),
        status=voucher.status,
        points=voucher.points,
        remaining_points=voucher.remaining_points,
        remaining_fen=voucher.remaining_fen,
        expires_at=as_utc(voucher.expires_at),
        history=tuple((e.event, e.points, e.value_fen) for e in vouchers.history(session, voucher.id)),
    )


def redeem(engine: Engine, who: Principal, offer_id: int, **fields: Any) -> Seen:
    with unit_of_work(engine) as session:
        voucher = vouchers.redeem(session, who, offer_id=offer_id, **fields).value
        return _seen(voucher, session)


def redeem_with_key(engine: Engine, who: Principal, offer_id: int, key: str) -> tuple[Seen, bool]:
    """(the voucher, whether this was a replay of the key)."""
    with unit_of_work(engine) as session:
        outcome = vouchers.redeem(session, who, offer_id=offer_id, idempotency_key=key)
        return _seen(outcome.value, session), outcome.replayed


def consume(engine: Engine, who: Principal, code: str, **proof: Any) -> Seen:
    with unit_of_work(engine) as session:
        return _seen(vouchers.consume(session, who, code=code, **proof), session)


def cancel(engine: Engine, who: Principal, code: str) -> Seen:
    with unit_of_work(engine) as session:
        return _seen(vouchers.cancel(session, who, code=code), session)


def expire_due(engine: Engine, now: datetime) -> int:
    with unit_of_work(engine) as session:
        return vouchers.expire_due(session, now)


def look(engine: Engine, who: Principal, code: str) -> Seen:
    with unit_of_work(engine) as session:
        return _seen(vouchers.find(session, who, code), session)


def ledger_is_sound(engine: Engine) -> bool:
    with unit_of_work(engine) as session:
        return verify(session).ok


# --- hold and use --------------------------------------------------------------------------------------------


def test_redeeming_holds_the_points_and_the_merchant_uses_the_voucher_once(
    engine: Engine, market: Market, offer_id: int
) -> None:
    voucher = redeem(engine, market.villager_a1, offer_id)
    assert voucher.status == VoucherStatus.ACTIVE and voucher.points == 100 and voucher.remaining_fen == 5000
    held = balance(engine, market.household_a1)
    assert (held.posted, held.pending_debit, held.available) == (300, 100, 200)  # held, not spent yet

    used = consume(engine, market.mart, voucher.code, pin=voucher.pin)
    assert used.status == VoucherStatus.USED and used.remaining_fen == 0 and used.remaining_points == 0
    assert used.history == (("issued", 100, 5000), ("consumed", 100, 5000))
    spent = balance(engine, market.household_a1)
    assert (spent.posted, spent.pending_debit, spent.available) == (200, 0, 200)

    with pytest.raises(vouchers.AlreadyUsed) as again:
        consume(engine, market.mart, voucher.code, pin=voucher.pin)
    assert again.value.detail["voucher_code"] == voucher.code
    assert available(engine, market.household_a1) == 200
    assert ledger_is_sound(engine)


def test_the_same_idempotency_key_redeems_once(engine: Engine, market: Market, offer_id: int) -> None:
    first, replayed = redeem_with_key(engine, market.villager_a1, offer_id, "key-1")
    assert not replayed
    again, replayed = redeem_with_key(engine, market.villager_a1, offer_id, "key-1")
    assert replayed and again.code == first.code
    assert available(engine, market.household_a1) == 200


def test_only_the_voucher_s_partner_uses_it_and_only_with_the_pin_or_the_qr_code(
    engine: Engine, market: Market, offer_id: int
) -> None:
    voucher = redeem(engine, market.villager_a1, offer_id)
    with pytest.raises(vouchers.VoucherNotFound):  # another partner: no such voucher
        consume(engine, market.clinic, voucher.code, pin=voucher.pin)
    with pytest.raises(vouchers.ProofRequired):
        consume(engine, market.mart, voucher.code)
    wrong = "000000" if voucher.pin != "000000" else "111111"
    with pytest.raises(vouchers.WrongPin):
        consume(engine, market.mart, voucher.code, pin=wrong)
    with pytest.raises(vouchers.WrongPin):
        consume(engine, market.mart, voucher.code, qr=f"{vouchers.QR_PREFIX}:{voucher.code}:not-the-key")
    assert available(engine, market.household_a1) == 200

    for _ in range(vouchers.MAX_PIN_FAILURES):  # the route counts each wrong PIN in a unit of work of its own
        with unit_of_work(engine) as session:
            vouchers.record_pin_failure(session, voucher.code)
    with pytest.raises(vouchers.PinLocked):
        consume(engine, market.mart, voucher.code, pin=voucher.pin)
    # typed by hand: lower case, spaces and dashes are all right
    typed = "-".join(voucher.code[i : i + 4] for i in range(0, 16, 4)).lower()
    assert consume(engine, market.mart, typed, qr=voucher.qr).status == VoucherStatus.USED
    assert balance(engine, market.household_a1).posted == 200


# --- part use ------------------------------------------------------------------------------------------------


def test_part_of_the_value_is_paid_and_the_rest_stays_held_until_used(
    engine: Engine, market: Market, offer_id: int
) -> None:
    voucher = redeem(engine, market.villager_a1, offer_id)
    with pytest.raises(vouchers.AmountTooLarge):
        consume(engine, market.mart, voucher.code, pin=voucher.pin, amount_fen=5001)

    part = consume(engine, market.mart, voucher.code, pin=voucher.pin, amount_fen=3000)
    assert part.status == VoucherStatus.ACTIVE and part.remaining_fen == 2000 and part.remaining_points == 40
    after_part = balance(engine, market.household_a1)
    assert (after_part.posted, after_part.pending_debit, after_part.available) == (240, 40, 200)

    rest = consume(engine, market.mart, voucher.code, pin=voucher.pin)
    assert rest.status == VoucherStatus.USED
    assert rest.history == (("issued", 100, 5000), ("consumed", 60, 3000), ("consumed", 40, 2000))
    after_rest = balance(engine, market.household_a1)
    assert (after_rest.posted, after_rest.pending_debit, after_rest.available) == (200, 0, 200)
    assert ledger_is_sound(engine)


def test_the_rest_of_a_part_used_voucher_goes_back_when_it_expires(
    engine: Engine, market: Market, offer_id: int
) -> None:
    voucher = redeem(engine, market.villager_a1, offer_id)
    consume(engine, market.mart, voucher.code, pin=voucher.pin, amount_fen=1000)  # 20 points paid, 80 held
    assert available(engine, market.household_a1) == 200

    assert expire_due(engine, voucher.expires_at + timedelta(seconds=1)) == 1
    expired = look(engine, market.villager_a1, voucher.code)
    assert expired.status == VoucherStatus.EXPIRED
    assert expired.history[-1] == ("expired", 80, 4000)
    after = balance(engine, market.household_a1)
    assert (after.posted, after.pending_debit, after.available) == (280, 0, 280)


def test_a_small_voucher_used_in_parts_pays_the_partner_its_points_exactly_once(engine: Engine, market: Market) -> None:
    give_points(engine, market.household_a1, 10)
    small = approved_offer(engine, market, market.mart, voucher_terms(value_fen=1000, cost_points=2))
    voucher = redeem(engine, market.villager_a1, small)
    for amount in (300, 300, 400):
        consume(engine, market.mart, voucher.code, pin=voucher.pin, amount_fen=amount)
    used = look(engine, market.villager_a1, voucher.code)
    assert used.status == VoucherStatus.USED
    assert sum(points for event, points, _ in used.history if event == "consumed") == 2
    assert balance(engine, market.household_a1).posted == 8
    assert ledger_is_sound(engine)


# --- cancel and expire ---------------------------------------------------------------------------------------


def test_the_household_cancels_an_unused_voucher_and_gets_its_points_back(
    engine: Engine, market: Market, offer_id: int
) -> None:
    voucher = redeem(engine, market.villager_a1, offer_id)
    with pytest.raises(vouchers.VoucherNotFound):  # only its own household cancels it
        cancel(engine, market.villager_a2, voucher.code)
    assert available(engine, market.household_a1) == 200

    cancelled = cancel(engine, market.villager_a1, voucher.code)
    assert cancelled.status == VoucherStatus.CANCELLED
    assert cancelled.history[-1] == ("cancelled", 100, 5000)
    after = balance(engine, market.household_a1)
    assert (after.posted, after.pending_debit, after.available) == (300, 0, 300)

    with pytest.raises(vouchers.VoucherClosed):
        consume(engine, market.mart, voucher.code, pin=voucher.pin)
    with pytest.raises(vouchers.VoucherClosed):
        cancel(engine, market.villager_a1, voucher.code)
    assert available(engine, market.household_a1) == 300
    assert ledger_is_sound(engine)


def test_a_voucher_past_its_time_is_refused_and_the_scheduled_step_gives_its_points_back(
    engine: Engine, market: Market
) -> None:
    give_points(engine, market.household_a1, 300)
    week = approved_offer(engine, market, market.mart, voucher_terms(voucher_days=7))
    now = utcnow()
    voucher = redeem(engine, market.villager_a1, week, now=now)
    assert voucher.expires_at == now + timedelta(days=7)
    late = now + timedelta(days=8)

    assert expire_due(engine, now + timedelta(days=6)) == 0  # not yet
    with unit_of_work(engine) as session, pytest.raises(vouchers.VoucherExpired):
        vouchers.consume(session, market.mart, code=voucher.code, pin=voucher.pin, now=late)
    assert available(engine, market.household_a1) == 200  # held until the scheduled step runs

    assert expire_due(engine, late) == 1
    assert expire_due(engine, late) == 0  # once
    expired = look(engine, market.villager_a1, voucher.code)
    assert expired.status == VoucherStatus.EXPIRED and expired.history[-1] == ("expired", 100, 5000)
    after = balance(engine, market.household_a1)
    assert (after.posted, after.pending_debit, after.available) == (300, 0, 300)
    with pytest.raises(vouchers.VoucherExpired):
        consume(engine, market.mart, voucher.code, pin=voucher.pin)
    assert ledger_is_sound(engine)


def test_a_voucher_is_good_no_longer_than_its_offer(engine: Engine, market: Market) -> None:
    give_points(engine, market.household_a1, 300)
    now = utcnow()
    ends = now + timedelta(days=3)
    short = approved_offer(engine, market, market.mart, voucher_terms(now=now, valid_until=ends, voucher_days=30))
    assert redeem(engine, market.villager_a1, short, now=now).expires_at == ends


def test_a_household_cannot_hold_more_points_than_it_has(engine: Engine, market: Market) -> None:
    give_points(engine, market.household_a1, 250)
    many = approved_offer(engine, market, market.mart, voucher_terms(per_household_limit=5))
    redeem(engine, market.villager_a1, many, quantity=2)
    assert available(engine, market.household_a1) == 50
    with pytest.raises(InsufficientPoints):
        redeem(engine, market.villager_a1, many)
    assert available(engine, market.household_a1) == 50
