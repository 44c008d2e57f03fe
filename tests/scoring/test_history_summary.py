"""Rescoring reads the monthly summary the journal keeps (`household_month`) instead of every posting: on a small
generated county (awards over three years, some pending then posted or voided, reversals, spending, deductions)
the features and ratings come out exactly as the computation straight from the postings makes them."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from ledger.catalogue import service as catalogue
from ledger.claims import deductions
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.journal import service as journal
from ledger.journal.models import AccountKind, TxKind
from ledger.tenancy import Household
from scoring import history, ratings
from scoring.features import CLAIM_COLUMNS, DEDUCTION_COLUMNS, FEATURES, OBJECTION_COLUMNS, features
from tests import factories

pytestmark = pytest.mark.db


def from_postings(session: Session, county_id: int, households: list[int]) -> pd.DataFrame:
    """The features as they were computed before the summary: the awards summed from every posting joined to its
    transaction and account (the reversals, deductions, claims and objections as `history` reads them)."""
    conn = session.connection()
    now = utcnow()
    q = history._queries(conn, county_id, now)
    month = history._month(conn, history.TX.c.effective_at)
    awards = (
        select(
            history.ACCOUNT.c.household_id,
            month.label("month"),
            history.TX.c.reason,
            func.sum(history.POSTING.c.amount).label("points"),
        )
        .select_from(
            history.POSTING.join(history.TX, history.TX.c.id == history.POSTING.c.transaction_id).join(
                history.ACCOUNT, history.ACCOUNT.c.id == history.POSTING.c.account_id
            )
        )
        .where(
            history.ACCOUNT.c.kind == AccountKind.HOUSEHOLD,
            history.ACCOUNT.c.county_id == county_id,
            history.TX.c.kind.in_([TxKind.TRANSFER, TxKind.POST_PENDING]),
            history.POSTING.c.amount > 0,
            month >= q.first_month,
            month <= q.label,
        )
        .group_by(history.ACCOUNT.c.household_id, month, history.TX.c.reason)
    )
    raw = pd.concat([history._frame(conn, awards, history.RAW), history._frame(conn, q.reversals, history.RAW)])
    card = ratings.active_card(session, county_id)
    return features(
        households,
        history._entries(raw, dict(conn.execute(q.categories).all())),
        history._frame(conn, q.deductions, DEDUCTION_COLUMNS),
        history._frame(conn, q.claims, CLAIM_COLUMNS),
        history._frame(conn, q.objections, OBJECTION_COLUMNS),
        as_of_month=q.label,
        category_month_cap=card.category_month_cap,
    )


def county(engine: Engine, seed: int = 5) -> tuple[int, list[int]]:
    rng = random.Random(seed)
    now = utcnow()
    with unit_of_work(engine) as session:
        first = factories.create_village(session)
        second = factories.create_village(session, county_id=first.county_id)
        catalogue.load_default(session, county_id=first.county_id)
        codes = [m.code for m in catalogue.effective(session, county_id=first.county_id, village_id=None)]
        homes = [
            (village, *factories.create_household(session, village.village_id))
            for village in (first, second)
            for _ in range(6)
        ]
        for _ in range(240):
            village, _, account = rng.choice(homes)
            pay: dict[str, Any] = {
                "debit": village.issuance,
                "credit": account,
                "amount": rng.choice((1, 2, 5, 10, 30)),
                "reason": rng.choice(codes),
                "actor": "u",
                "effective_at": now - timedelta(days=rng.randrange(1100), hours=rng.randrange(24)),
            }
            roll = rng.random()
            if roll < 0.1:
                held = journal.transfer(session, pending=True, **pay)
                resolve = journal.post_pending if rng.random() < 0.6 else journal.void_pending
                resolve(session, pending_id=held.id, actor="u")
                continue
            award = journal.transfer(session, **pay)
            if roll < 0.2:
                journal.reverse(session, transaction_id=award.id, actor="u", reason="mistake")
            elif roll < 0.3:
                journal.take_available(
                    session, debit=account, credit=village.penalty, amount=3, reason="spent", actor="u"
                )
        official = factories.principal_of(
            session, factories.create_official(session, first.county_id, [first.village_id, second.village_id])
        )
        for _, household, _ in homes[::4]:
            deductions.record(
                session,
                official,
                household_id=household,
                matter_code="breaking_village_rules",
                reason="Blocked the lane.",
                evidence_ids=(),
                idempotency_key=None,
            )
        households = sorted(h for _, h, _ in homes)
        return first.county_id, households


def test_rescoring_from_the_summary_matches_the_postings(engine: Engine) -> None:
    county_id, households = county(engine)
    with unit_of_work(engine) as session:
        expected = from_postings(session, county_id, households)
        done = ratings.rescore_county(session, county_id, chunk=5)
    assert done.households == len(households)
    assert expected["points_12m_capped"].sum() > 0 and expected["deductions_24m"].sum() > 0
    with unit_of_work(engine) as session:
        card = ratings.active_card(session, county_id)
        for household in households:
            batch = ratings.latest(session, household)
            assert batch is not None
            want = ratings._clean(expected.loc[household].to_dict())
            assert batch.features == want, household
            spot = ratings.compute(session, factories.not_none(session.get(Household, household)), card, now=utcnow())
            assert spot.features == want and spot.score == batch.score, household
    assert list(expected.columns) == FEATURES
