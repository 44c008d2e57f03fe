"""What the features are computed from, aggregated in SQL: a household's settled points per month and matter
category, its deductions per month, its claim decisions and the objections upheld against it.

Settled points are postings into the household (settled) account by awards and settlements, net of reversals of
those (a reversal counts in the month and matter of what it reverses). The awards are read from the monthly
summary the journal keeps per household, month and reason (`household_month`, ledger/journal/months.py), not
from the postings; the reversals, few, from the journal. Deductions come from the deduction table, so the
unpaid part counts too. Nothing here is read from outside the household's county.

Two ways in, one set of queries: `load` reads a few households (a rating computed on the spot), `stream` reads
a whole county in one pass over its summary in household order and hands it out household range by household
range.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Connection, case, func, literal_column, select
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col

from ledger.catalogue.models import Matter
from ledger.claims.models import Claim, ClaimStatus, Deduction, DeductionStatus, Dispute, DisputeKind, DisputeStatus
from ledger.core.base import table_of
from ledger.journal.models import Account, AccountKind, HouseholdMonth, JournalTransaction, Posting, TxKind
from scoring.features import (
    CLAIM_COLUMNS,
    DEDUCTION_COLUMNS,
    ENTRY_COLUMNS,
    NEGATIVE_HISTORY_MONTHS,
    OBJECTION_COLUMNS,
    month_index,
)

TX = table_of(JournalTransaction)
ORIGINAL = TX.alias("original")
POSTING = table_of(Posting)
ACCOUNT = table_of(Account)
SUMMARY = table_of(HouseholdMonth)
DECIDED = (ClaimStatus.APPROVED, ClaimStatus.SETTLED, ClaimStatus.REJECTED, ClaimStatus.REVOKED)
RAW = ["household_id", "month", "reason", "points"]
BATCH_SORT_MB = 256  # PostgreSQL's memory for the batch pass's sort (the default is 4 MB)


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


def _month(conn: Connection, column: ColumnElement[datetime] | Mapped[datetime]) -> ColumnElement[str]:
    """'YYYY-MM' of a stored moment. SQLite keeps moments as UTC text ('2026-11-25 08:00:00…'), so the month is
    its first seven characters, much cheaper than strftime."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM")
    return func.substr(column, literal_column("1"), literal_column("7"))


@dataclass(frozen=True)
class _Queries:
    label: str
    first_month: str
    since: datetime  # the first moment of the first month
    until: datetime  # the first moment after the last month
    awards: Any  # the large one
    reversals: Any
    deductions: Any
    claims: Any
    objections: Any
    categories: Any


def _queries(conn: Connection, county_id: int, as_of: datetime) -> _Queries:
    label = month_label(as_of)
    first_month = month_label(month_start(label, NEGATIVE_HISTORY_MONTHS - 1))
    since_negative, since_24 = month_start(label, NEGATIVE_HISTORY_MONTHS - 1), month_start(label, 23)
    awards = select(SUMMARY.c.household_id, SUMMARY.c.month, SUMMARY.c.reason, SUMMARY.c.points).where(
        SUMMARY.c.county_id == county_id, SUMMARY.c.month >= first_month, SUMMARY.c.month <= label
    )
    original_month = _month(conn, ORIGINAL.c.effective_at)
    reversals = (  # few: found from the transactions, by kind
        select(
            ACCOUNT.c.household_id,
            original_month.label("month"),
            ORIGINAL.c.reason,
            func.sum(POSTING.c.amount).label("points"),
        )
        .select_from(
            TX.join(POSTING, TX.c.id == POSTING.c.transaction_id)
            .join(ACCOUNT, ACCOUNT.c.id == POSTING.c.account_id)
            .join(ORIGINAL, ORIGINAL.c.id == TX.c.reverses_id)
        )
        .where(
            ACCOUNT.c.kind == AccountKind.HOUSEHOLD,
            ACCOUNT.c.county_id == county_id,
            TX.c.kind == TxKind.REVERSAL,
            POSTING.c.amount < 0,
            original_month >= first_month,
            _month(conn, TX.c.effective_at) <= label,
        )
        .group_by(ACCOUNT.c.household_id, original_month, ORIGINAL.c.reason)
    )
    deductions = select(
        col(Deduction.household_id), _month(conn, col(Deduction.recorded_at)).label("month"), col(Deduction.points)
    ).where(
        col(Deduction.county_id) == county_id,
        col(Deduction.status) == DeductionStatus.IN_FORCE,
        col(Deduction.recorded_at) >= since_negative,
        col(Deduction.recorded_at) <= as_of,
    )
    claims = (
        select(
            col(Claim.household_id),
            func.count().label("decided"),
            func.sum(case((col(Claim.status) == ClaimStatus.REJECTED, 1), else_=0)).label("rejected"),
        )
        .where(
            col(Claim.county_id) == county_id,
            col(Claim.status).in_(DECIDED),
            col(Claim.decided_at) >= since_24,
            col(Claim.decided_at) <= as_of,
        )
        .group_by(col(Claim.household_id))
    )
    objections = (
        select(col(Dispute.household_id), func.count().label("upheld"))
        .where(
            col(Dispute.county_id) == county_id,
            col(Dispute.kind) == DisputeKind.OBJECTION,
            col(Dispute.status) == DisputeStatus.UPHELD,
            col(Dispute.resolved_at) >= since_24,
            col(Dispute.resolved_at) <= as_of,
        )
        .group_by(col(Dispute.household_id))
    )
    categories = (
        select(col(Matter.code), col(Matter.category))
        .where(col(Matter.county_id) == county_id)
        .order_by(col(Matter.version))
    )
    return _Queries(
        label,
        first_month,
        since_negative,
        month_start(label, -1),
        awards,
        reversals,
        deductions,
        claims,
        objections,
        categories,
    )


def _frame(conn: Connection, query: Any, columns: list[str]) -> pd.DataFrame:
    # fetched at once, as plain tuples: pandas probing SQLAlchemy rows one by one costs more than the query
    return pd.DataFrame([tuple(row) for row in conn.execute(query).fetchall()], columns=columns)


def _awards(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The stream's rows (household, month index, reason, points) as a frame, built column by column: numbers
    straight into typed arrays, far quicker than pandas inspecting every row."""

    def numbers(k: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        return np.fromiter(map(itemgetter(k), rows), dtype=np.int64, count=len(rows))

    return pd.DataFrame(
        {"household_id": numbers(0), "month": numbers(1), "reason": [row[2] for row in rows], "points": numbers(3)}
    )


def _entries(raw: pd.DataFrame, categories: dict[str, str]) -> pd.DataFrame:
    """Reasons (matter codes) to categories, summed per household, month and category."""
    return (
        raw.assign(category=raw["reason"].map(categories).fillna(raw["reason"]))
        .groupby(["household_id", "month", "category"], as_index=False)[["points"]]
        .sum()
    )[ENTRY_COLUMNS]


def load(session: Session, *, county_id: int, as_of: datetime, household_ids: list[int]) -> History:
    """The history of a few households of one county up to `as_of`."""
    conn = session.connection()
    q = _queries(conn, county_id, as_of)
    raw = pd.concat(
        [
            _frame(conn, q.awards.where(SUMMARY.c.household_id.in_(household_ids)), RAW),
            _frame(conn, q.reversals.where(ACCOUNT.c.household_id.in_(household_ids)), RAW),
        ],
        ignore_index=True,
    )
    return History(
        households=list(household_ids),
        entries=_entries(raw, dict(conn.execute(q.categories).all())),
        deductions=_frame(conn, q.deductions.where(col(Deduction.household_id).in_(household_ids)), DEDUCTION_COLUMNS),
        claims=_frame(conn, q.claims.where(col(Claim.household_id).in_(household_ids)), CLAIM_COLUMNS),
        objections=_frame(conn, q.objections.where(col(Dispute.household_id).in_(household_ids)), OBJECTION_COLUMNS),
        as_of_month=q.label,
    )


# The county's awards in one pass, in household order: the summary's own key order (county, household, month,
# reason), so neither database sorts on SQLite, and PostgreSQL sorts only what the period keeps.
# The month comes as a number (`features.month_index`): slicing a million strings in pandas costs more than the
# query.
_STREAM_SQL = """
SELECT household_id, CAST(substr(month, 1, 4) AS integer) * 12 + CAST(substr(month, 6, 2) AS integer) - 1 AS month,
       reason, points
FROM household_month
WHERE county_id = {county} AND month >= {first_month} AND month <= {last_month}
ORDER BY household_id, month, reason
"""


def stream(
    session: Session, *, county_id: int, as_of: datetime, households: list[int], chunk: int = 50_000
) -> Iterator[History]:
    """The whole county's history, `chunk` households at a time (households in ascending id order)."""
    conn = session.connection()
    q = _queries(conn, county_id, as_of)
    categories: dict[str, str] = dict(conn.execute(q.categories).all())
    reversed_ = _frame(conn, q.reversals, RAW)
    reversed_["month"] = month_index(reversed_["month"])
    deductions = _frame(conn, q.deductions, DEDUCTION_COLUMNS)
    claims = _frame(conn, q.claims, CLAIM_COLUMNS)
    objections = _frame(conn, q.objections, OBJECTION_COLUMNS)
    params: dict[str, Any] = {"county": county_id, "first_month": q.first_month, "last_month": q.label}
    # Straight from the driver's cursor (a server-side one on PostgreSQL): hundreds of thousands of rows
    # wrapped as SQLAlchemy rows would cost as much as the query.
    driver = conn.connection.driver_connection
    assert driver is not None  # a checked-out connection always has its driver's
    if conn.dialect.name == "postgresql":
        # planned for every row rather than the cursor's first tenth, sorted in memory
        sql = _STREAM_SQL.format(county="%(county)s", first_month="%(first_month)s", last_month="%(last_month)s")
        conn.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{BATCH_SORT_MB}MB'")
        cursor = driver.cursor(name=f"rescore_{county_id}")
    else:
        sql = _STREAM_SQL.format(county=":county", first_month=":first_month", last_month=":last_month")
        cursor = driver.cursor()
    cursor.execute(sql, params)
    pending: list[tuple[Any, ...]] = []
    for start in range(0, len(households), chunk):
        part = households[start : start + chunk]
        low, high = part[0], part[-1]
        taken: list[tuple[Any, ...]] = []
        while True:  # the rows up to this range's last household (they come in household order)
            if not pending:
                pending = cursor.fetchmany(chunk * 4)
                if not pending:
                    break
            cut = bisect_right(pending, high, key=itemgetter(0))
            taken += pending[:cut]
            pending = pending[cut:]
            if pending:
                break
        raw = pd.concat([_awards(taken), reversed_[reversed_["household_id"].between(low, high)]], ignore_index=True)

        def within(frame: pd.DataFrame, low: int = low, high: int = high) -> pd.DataFrame:
            return frame[frame["household_id"].between(low, high)]

        yield History(
            households=list(part),
            entries=_entries(raw, categories),
            deductions=within(deductions),
            claims=within(claims),
            objections=within(objections),
            as_of_month=q.label,
        )
    cursor.close()
