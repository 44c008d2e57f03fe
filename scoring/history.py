"""What the features are computed from, aggregated in SQL: a household's settled points per month and matter
category, its deductions per month, its claim decisions and the objections upheld against it.

Settled points are postings into the household (settled) account by awards and settlements, net of reversals of
those (a reversal counts in the month and matter of what it reverses). Deductions come from the deduction table,
so the unpaid part counts too. Nothing here is read from outside the household's county.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session

from ledger.catalogue.models import Matter
from ledger.claims.models import Claim, ClaimStatus, Deduction, DeductionStatus, Dispute, DisputeKind, DisputeStatus
from ledger.journal.models import Account, AccountKind, JournalTransaction, Posting, TxKind
from scoring.features import CLAIM_COLUMNS, DEDUCTION_COLUMNS, ENTRY_COLUMNS, NEGATIVE_HISTORY_MONTHS, OBJECTION_COLUMNS

TX = JournalTransaction.__table__
ORIGINAL = TX.alias("original")
POSTING = Posting.__table__
ACCOUNT = Account.__table__
DECIDED = (ClaimStatus.APPROVED, ClaimStatus.SETTLED, ClaimStatus.REJECTED, ClaimStatus.REVOKED)


@dataclass(frozen=True)
class History:
    households: list[int]
    entries: pd.DataFrame  # household_id, month, category, points
    deductions: pd.DataFrame  # household_id, month, points
    claims: pd.DataFrame  # household_id, decided, rejected
    objections: pd.DataFrame  # household_id, upheld
    as_of_month: str


def month_label(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def month_start(label: str, back: int = 0) -> datetime:
    """The first instant (UTC) of the month `back` months before `label`."""
    index = int(label[:4]) * 12 + int(label[5:7]) - 1 - back
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def _month(session: Session, column: Any) -> Any:
    if session.connection().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def load(session: Session, *, county_id: int, as_of: datetime, household_ids: list[int] | None = None) -> History:
    """The history of one county's households (or of the listed ones) up to `as_of`."""
    label = month_label(as_of)
    since_negative, since_24 = month_start(label, NEGATIVE_HISTORY_MONTHS - 1), month_start(label, 23)
    since_positive = since_negative
    when = func.coalesce(ORIGINAL.c.effective_at, TX.c.effective_at)
    reason = func.coalesce(ORIGINAL.c.reason, TX.c.reason)
    month = _month(session, when)
    entries_query = (
        select(ACCOUNT.c.household_id, month.label("month"), reason.label("reason"),
               func.sum(POSTING.c.amount).label("points"))
        .select_from(POSTING.join(TX, TX.c.id == POSTING.c.transaction_id)
                     .join(ACCOUNT, ACCOUNT.c.id == POSTING.c.account_id)
                     .outerjoin(ORIGINAL, ORIGINAL.c.id == TX.c.reverses_id))
        .where(ACCOUNT.c.kind == AccountKind.HOUSEHOLD, ACCOUNT.c.county_id == county_id,
               or_(and_(TX.c.kind.in_([TxKind.TRANSFER, TxKind.POST_PENDING]), POSTING.c.amount > 0),
                   and_(TX.c.kind == TxKind.REVERSAL, POSTING.c.amount < 0)),
               when >= since_positive, TX.c.effective_at <= as_of)
        .group_by(ACCOUNT.c.household_id, month, reason)
    )
    deductions_query = (
        select(Deduction.household_id, _month(session, Deduction.recorded_at).label("month"),
               Deduction.points)
        .where(Deduction.county_id == county_id, Deduction.status == DeductionStatus.IN_FORCE,
               Deduction.recorded_at >= since_negative, Deduction.recorded_at <= as_of)
    )
    claims_query = (
        select(Claim.household_id, func.count().label("decided"),
               func.sum(case((Claim.status == ClaimStatus.REJECTED, 1), else_=0)).label("rejected"))
        .where(Claim.county_id == county_id, Claim.status.in_(DECIDED),  # type: ignore[attr-defined]
               Claim.decided_at >= since_24, Claim.decided_at <= as_of)  # type: ignore[operator]
        .group_by(Claim.household_id)
    )
    objections_query = (
        select(Dispute.household_id, func.count().label("upheld"))
        .where(Dispute.county_id == county_id, Dispute.kind == DisputeKind.OBJECTION,
               Dispute.status == DisputeStatus.UPHELD, Dispute.resolved_at >= since_24,  # type: ignore[operator]
               Dispute.resolved_at <= as_of)  # type: ignore[operator]
        .group_by(Dispute.household_id)
    )
    if household_ids is not None:
        entries_query = entries_query.where(ACCOUNT.c.household_id.in_(household_ids))
        deductions_query = deductions_query.where(Deduction.household_id.in_(household_ids))  # type: ignore[attr-defined]
        claims_query = claims_query.where(Claim.household_id.in_(household_ids))  # type: ignore[attr-defined]
        objections_query = objections_query.where(Dispute.household_id.in_(household_ids))  # type: ignore[attr-defined]
    conn = session.connection()
    raw = pd.DataFrame(conn.execute(entries_query).all(), columns=["household_id", "month", "reason", "points"])
    categories = dict(conn.execute(
        select(Matter.code, Matter.category).where(Matter.county_id == county_id).order_by(Matter.version)).all())
    entries = (raw.assign(category=raw["reason"].map(categories).fillna(raw["reason"]))
               .groupby(["household_id", "month", "category"], as_index=False)["points"].sum())[ENTRY_COLUMNS]
    return History(
        households=list(household_ids) if household_ids is not None else [],
        entries=entries,
        deductions=pd.DataFrame(conn.execute(deductions_query).all(), columns=DEDUCTION_COLUMNS),
        claims=pd.DataFrame(conn.execute(claims_query).all(), columns=CLAIM_COLUMNS),
        objections=pd.DataFrame(conn.execute(objections_query).all(), columns=OBJECTION_COLUMNS),
        as_of_month=label,
    )
