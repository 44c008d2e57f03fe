"""Concurrent writers against a real database: threads on SQLite, separate processes on PostgreSQL.

Every worker first connects, then all start together at a barrier, so the writes really contend for the same
village, key or pending transfer.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import Engine, func, select

from ledger.core.db import make_engine, unit_of_work
from ledger.journal import queries
from ledger.journal import service as journal
from ledger.journal.models import JournalTransaction
from ledger.journal.verify import verify
from tests import factories
from tests.concurrently import run_together

pytestmark = pytest.mark.slow


@pytest.fixture
def village(database_url: str) -> tuple[str, factories.VillageFixture, int]:
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        village = factories.create_village(session)
        _, account = factories.create_household(session, village.village_id)
    engine.dispose()  # nothing of ours is open when workers fork
    return database_url, village, account


def balance(url: str, account: int) -> tuple[int, int, int]:
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        b = queries.balance(session, account)
        report = verify(session)
        transactions = session.scalar(select(func.count()).select_from(JournalTransaction))
    engine.dispose()
    assert report.ok, [str(p) for p in report.problems]
    return b.posted, b.available, transactions or 0


def test_fifty_posts_with_one_idempotency_key_credit_once(village: tuple[str, factories.VillageFixture, int]) -> None:
    url, v, household = village

    def award(engine: Engine, _: int) -> str:
        with unit_of_work(engine) as session:
            tx = journal.transfer(
                session,
                debit=v.issuance,
                credit=household,
                amount=5,
                reason="volunteering",
                actor="user:7",
                idempotency_key="scan-42",
            )
        return f"{tx.id}:{'replay' if tx.replayed else 'new'}"

    results = run_together(url, award, list(range(50)))
    assert Counter(r.split(":")[1] for r in results) == {"new": 1, "replay": 49}
    assert len({r.split(":")[0] for r in results}) == 1  # everyone was told of the same transaction
    assert balance(url, household) == (5, 5, 1)


def test_fifty_debits_beyond_the_balance_never_overdraw(village: tuple[str, factories.VillageFixture, int]) -> None:
    url, v, household = village
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        journal.transfer(session, debit=v.issuance, credit=household, amount=100, reason="x", actor="user:1")
    engine.dispose()

    def spend(engine: Engine, n: int) -> str:
        with unit_of_work(engine) as session:
            journal.transfer(
                session,
                debit=household,
                credit=v.penalty,
                amount=3,
                reason="littering",
                actor="user:1",
                idempotency_key=f"spend-{n}",
            )
        return "ok"

    results = run_together(url, spend, list(range(50)))  # 150 points asked of 100
    assert Counter(results) == {"ok": 33, "insufficient_points": 17}
    assert balance(url, household) == (1, 1, 34)


@pytest.mark.parametrize("actions", [["post", "void"], ["post"] * 5 + ["void"] * 5])
def test_concurrent_resolutions_of_one_pending_transfer_take_effect_once(
    village: tuple[str, factories.VillageFixture, int], actions: list[str]
) -> None:
    url, v, household = village
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        journal.transfer(session, debit=v.issuance, credit=household, amount=20, reason="x", actor="user:1")
        hold = journal.transfer(
            session, debit=household, credit=v.penalty, amount=15, reason="voucher", actor="user:1", pending=True
        )
    engine.dispose()

    def resolve(engine: Engine, action: str) -> str:
        with unit_of_work(engine) as session:
            (journal.post_pending if action == "post" else journal.void_pending)(
                session, pending_id=hold.id, actor="user:2"
            )
        return action

    results = run_together(url, resolve, actions)
    won = [r for r in results if r in ("post", "void")]
    assert len(won) == 1
    assert Counter(results)["pending_already_resolved"] == len(actions) - 1
    posted, available, transactions = balance(url, household)
    assert (posted, available) == ((5, 5) if won == ["post"] else (20, 20))
    assert transactions == 3
