"""The monthly summary the journal keeps per household (`household_month`): every kind of write keeps it equal to
what its postings add up to, `verify` catches a row changed by hand, two writers on one row both count, and the
migration fills it from an existing journal the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from ledger.core import migrations
from ledger.core.base import utcnow
from ledger.core.db import make_engine, unit_of_work
from ledger.journal import months
from ledger.journal import service as journal
from ledger.journal.verify import verify
from tests import factories
from tests.concurrently import run_together

Row = tuple[int, str, str, int, int]  # household, month, reason, points, postings


def summary(engine: Engine) -> list[Row]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                months.SUMMARY.c.household_id,
                months.SUMMARY.c.month,
                months.SUMMARY.c.reason,
                months.SUMMARY.c.points,
                months.SUMMARY.c.postings,
            ).order_by(months.SUMMARY.c.household_id, months.SUMMARY.c.month, months.SUMMARY.c.reason)
        ).all()
    return [(int(h), str(m), str(r), int(p), int(n)) for h, m, r, p, n in rows]


def history(engine: Engine) -> tuple[int, int, int, str, str]:
    """Two households of one village, written to by every kind of journal write; returns (household, other
    household, the first's account, this month, last month)."""
    now = utcnow()
    earlier = now.replace(day=1) - timedelta(days=1)  # a day of last month
    this, last = months.label(now), months.label(earlier)
    with unit_of_work(engine) as session:
        v = factories.create_village(session)
        household, account = factories.create_household(session, v.village_id)
        other, other_account = factories.create_household(session, v.village_id)
        pay: dict[str, Any] = {"debit": v.issuance, "actor": "u"}
        journal.transfer(session, credit=account, amount=5, reason="volunteering", **pay)
        journal.transfer(session, credit=account, amount=3, reason="volunteering", **pay)
        journal.transfer(session, credit=account, amount=7, reason="volunteering", effective_at=earlier, **pay)
        journal.transfer(session, credit=other_account, amount=2, reason="sanitation", **pay)
        held = journal.transfer(session, credit=account, amount=4, reason="sanitation", pending=True, **pay)
        journal.post_pending(session, pending_id=held.id, actor="u")  # counts once posted
        voided = journal.transfer(session, credit=account, amount=9, reason="sanitation", pending=True, **pay)
        journal.void_pending(session, pending_id=voided.id, actor="u")  # never counts
        wrong = journal.transfer(session, credit=other_account, amount=6, reason="sanitation", **pay)
        journal.reverse(session, transaction_id=wrong.id, actor="u", reason="mistake")  # the reversal is not added
        journal.transfer(session, debit=account, credit=v.penalty, amount=1, reason="penalty", actor="u")
        journal.take_available(session, debit=account, credit=v.penalty, amount=2, reason="deduction", actor="u")
    return household, other, account, this, last


def test_every_kind_of_write_keeps_the_summary(engine: Engine) -> None:
    household, other, _, this, last = history(engine)
    assert summary(engine) == sorted(
        [
            (household, last, "volunteering", 7, 1),
            (household, this, "volunteering", 8, 2),
            (household, this, "sanitation", 4, 1),
            (other, this, "sanitation", 8, 2),  # the reversed 6 stays: readers net reversals out themselves
        ]
    )
    with unit_of_work(engine) as session:
        report = verify(session)
    assert report.ok, [str(p) for p in report.problems]
    assert report.months == 4


@pytest.mark.parametrize(
    "tampering",
    [
        "UPDATE household_month SET points = points + 1 WHERE reason = 'volunteering' AND postings = 2",
        "DELETE FROM household_month WHERE reason = 'volunteering' AND postings = 1",
        "UPDATE household_month SET postings = 5 WHERE reason = 'sanitation' AND points = 4",
    ],
)
def test_verify_names_a_tampered_summary_row(engine: Engine, tampering: str) -> None:
    _, _, account, _, _ = history(engine)
    with engine.begin() as conn:
        conn.execute(text(tampering))
    with unit_of_work(engine) as session:
        report = verify(session)
    assert not report.ok
    assert len(report.problems) == 1
    problem = report.problems[0]
    assert problem.account_id == account and "monthly summary" in problem.what


def test_a_row_added_by_hand_is_found(engine: Engine) -> None:
    household, _, account, this, _ = history(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO household_month (county_id, household_id, month, reason, points, postings)"
                " SELECT county_id, id, :month, 'invented', 50, 1 FROM household WHERE id = :h"
            ),
            {"month": this, "h": household},
        )
    with unit_of_work(engine) as session:
        report = verify(session)
    assert [p.account_id for p in report.problems] == [account]
    assert "says 50 points in 1 postings but its postings add up to 0 in 0" in report.problems[0].what


@pytest.mark.slow
def test_writers_at_once_on_one_household_month_and_reason_each_count(database_url: str) -> None:
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        v = factories.create_village(session)
        household, account = factories.create_household(session, v.village_id)
    engine.dispose()  # nothing of ours is open when workers fork

    def award(engine: Engine, amount: int) -> str:
        with unit_of_work(engine) as session:
            journal.transfer(session, debit=v.issuance, credit=account, amount=amount, reason="volunteering", actor="u")
        return "ok"

    amounts = list(range(1, 9))
    assert run_together(database_url, award, amounts) == ["ok"] * len(amounts)
    engine = make_engine(database_url)
    assert summary(engine) == [(household, months.label(utcnow()), "volunteering", sum(amounts), len(amounts))]
    with unit_of_work(engine) as session:
        assert verify(session).ok
    engine.dispose()


def test_the_migration_fills_the_summary_from_the_journal(database_url: str) -> None:
    engine = make_engine(database_url)
    history(engine)
    kept = summary(engine)
    migrations.downgrade(engine, "7a1d3e5f9b42")  # before the summary existed
    migrations.upgrade(engine)
    assert summary(engine) == kept
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM household_month"))
        assert months.backfill(conn) == len(kept)
    assert summary(engine) == kept
    engine.dispose()


def test_a_month_is_counted_in_utc() -> None:
    assert months.label(datetime(2026, 11, 30, 23, 30, tzinfo=UTC)) == "2026-11"
    assert months.label(datetime(2026, 12, 1, 7, 30, tzinfo=UTC).astimezone()) == "2026-12"
