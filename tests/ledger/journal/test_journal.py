"""The journal service against a real, migrated database (SQLite, or PostgreSQL in CI)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.idempotency import IdempotencyConflict
from ledger.journal import queries
from ledger.journal import service as journal
from ledger.journal.errors import (
    AlreadyReversed,
    CrossVillageTransaction,
    InsufficientPoints,
    NotReversible,
    PendingAlreadyResolved,
    PendingExpired,
)
from ledger.journal.models import JournalTransaction, Posting
from tests import factories


@pytest.fixture
def village(engine: Engine) -> factories.VillageFixture:
    with unit_of_work(engine) as session:
        return factories.create_village(session)


@pytest.fixture
def household(engine: Engine, village: factories.VillageFixture) -> int:
    with unit_of_work(engine) as session:
        return factories.create_household(session, village.village_id)[1]


def balance(engine: Engine, account_id: int) -> tuple[int, int, int, int]:
    with unit_of_work(engine) as session:
        b = queries.balance(session, account_id)
        return b.posted, b.pending_debit, b.pending_credit, b.earned


def test_transfer_posts_both_legs_and_chains(engine: Engine, village: factories.VillageFixture, household: int) -> None:
    with unit_of_work(engine) as session:
        first = journal.transfer(
            session, debit=village.issuance, credit=household, amount=5, reason="garbage_sorting", actor="user:1"
        )
        second = journal.transfer(
            session, debit=village.issuance, credit=household, amount=3, reason="volunteering", actor="user:1"
        )
    assert (first.chain_seq, second.chain_seq) == (1, 2)
    assert balance(engine, household) == (8, 0, 0, 8)
    assert balance(engine, village.issuance) == (-8, 0, 0, 0)
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.sum(Posting.amount))) == 0
        row = session.get(JournalTransaction, second.id)
        assert row is not None and row.prev_hash == first.hash


def test_same_key_same_body_replays_and_different_body_conflicts(
    engine: Engine, village: factories.VillageFixture, household: int
) -> None:
    kwargs: dict[str, Any] = dict(
        debit=village.issuance, credit=household, amount=5, reason="elder_care", actor="user:1"
    )
    with unit_of_work(engine) as session:
        original = journal.transfer(session, idempotency_key="k-1", **kwargs)
    with unit_of_work(engine) as session:
        replay = journal.transfer(session, idempotency_key="k-1", **kwargs)
    assert replay.replayed and not original.replayed
    assert replay.id == original.id and replay.hash == original.hash
    assert balance(engine, household)[0] == 5
    with pytest.raises(IdempotencyConflict), unit_of_work(engine) as session:
        journal.transfer(session, idempotency_key="k-1", **{**kwargs, "amount": 6})
    # the key belongs to its caller: another actor may use the same string
    with unit_of_work(engine) as session:
        other = journal.transfer(session, idempotency_key="k-1", **{**kwargs, "actor": "user:2"})
    assert other.id != original.id and balance(engine, household)[0] == 10


def test_a_failed_write_leaves_no_trace_and_frees_its_key(
    engine: Engine, village: factories.VillageFixture, household: int
) -> None:
    spend: dict[str, Any] = dict(
        debit=household, credit=village.penalty, amount=5, reason="littering", actor="user:1", idempotency_key="spend-1"
    )
    with pytest.raises(InsufficientPoints), unit_of_work(engine) as session:
        journal.transfer(session, **spend)
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(JournalTransaction)) == 0
        journal.transfer(session, debit=village.issuance, credit=household, amount=5, reason="x", actor="user:1")
    with unit_of_work(engine) as session:
        assert journal.transfer(session, **spend).replayed is False
    assert balance(engine, household) == (0, 0, 0, 5)


def test_pending_reserves_then_resolves_exactly_once(
    engine: Engine, village: factories.VillageFixture, household: int
) -> None:
    with unit_of_work(engine) as session:
        journal.transfer(session, debit=village.issuance, credit=household, amount=10, reason="x", actor="u")
        hold = journal.transfer(
            session, debit=household, credit=village.penalty, amount=7, reason="hold", actor="u", pending=True
        )
    assert balance(engine, household) == (10, 7, 0, 10)
    with pytest.raises(InsufficientPoints), unit_of_work(engine) as session:
        journal.transfer(session, debit=household, credit=village.penalty, amount=4, reason="x", actor="u")
    with unit_of_work(engine) as session:
        journal.post_pending(session, pending_id=hold.id, actor="u")
    assert balance(engine, household) == (3, 0, 0, 10)
    for resolve in (journal.post_pending, journal.void_pending):
        with pytest.raises(PendingAlreadyResolved) as err, unit_of_work(engine) as session:
            resolve(session, pending_id=hold.id, actor="u")
        assert err.value.detail["resolution"] == "post_pending"
    assert balance(engine, household) == (3, 0, 0, 10)


def test_void_releases_and_expiry_returns_points(
    engine: Engine, village: factories.VillageFixture, household: int
) -> None:
    with unit_of_work(engine) as session:
        journal.transfer(session, debit=village.issuance, credit=household, amount=10, reason="x", actor="u")
        voided = journal.transfer(
            session, debit=household, credit=village.penalty, amount=4, reason="h", actor="u", pending=True
        )
        lapsing = journal.transfer(
            session,
            debit=household,
            credit=village.penalty,
            amount=5,
            reason="h",
            actor="u",
            pending=True,
            timeout=timedelta(minutes=5),
        )
        journal.void_pending(session, pending_id=voided.id, actor="u")
    assert balance(engine, household) == (10, 5, 0, 10)
    later = utcnow() + timedelta(minutes=6)
    with pytest.raises(PendingExpired), unit_of_work(engine) as session:
        journal._resolve(session, journal.TxKind.POST_PENDING, lapsing.id, "u", None, None, now=later)
    with unit_of_work(engine) as session:
        assert journal.expire_due(session, now=utcnow()) == []
        expired = journal.expire_due(session, now=later)
    assert [e.pending_id for e in expired] == [lapsing.id]
    assert balance(engine, household) == (10, 0, 0, 10)


def test_reversal_mirrors_once_and_never_overdraws(
    engine: Engine, village: factories.VillageFixture, household: int
) -> None:
    with unit_of_work(engine) as session:
        earn = journal.transfer(session, debit=village.issuance, credit=household, amount=6, reason="x", actor="u")
    with unit_of_work(engine) as session:
        reversal = journal.reverse(session, transaction_id=earn.id, actor="u", reason="entered twice")
    assert reversal.reverses_id == earn.id
    assert sorted(leg.amount for leg in reversal.postings) == [-6, 6]
    assert balance(engine, household) == (0, 0, 0, 0)
    with pytest.raises(AlreadyReversed), unit_of_work(engine) as session:
        journal.reverse(session, transaction_id=earn.id, actor="u", reason="again")
    with pytest.raises(NotReversible), unit_of_work(engine) as session:
        journal.reverse(session, transaction_id=reversal.id, actor="u", reason="undo the undo")
    with unit_of_work(engine) as session:
        spent_earn = journal.transfer(
            session, debit=village.issuance, credit=household, amount=4, reason="x", actor="u"
        )
        journal.transfer(session, debit=household, credit=village.penalty, amount=3, reason="y", actor="u")
    with pytest.raises(InsufficientPoints), unit_of_work(engine) as session:
        journal.reverse(session, transaction_id=spent_earn.id, actor="u", reason="too late")


def test_transactions_stay_in_one_village(engine: Engine, village: factories.VillageFixture, household: int) -> None:
    with unit_of_work(engine) as session:
        other = factories.create_village(session, county_id=village.county_id)
    with pytest.raises(CrossVillageTransaction), unit_of_work(engine) as session:
        journal.transfer(session, debit=other.issuance, credit=household, amount=1, reason="x", actor="u")
