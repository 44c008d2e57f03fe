"""The monthly summary the journal keeps per household (`HouseholdMonth`): what one transaction adds to it, and
the same figures recomputed from the postings (for `verify`, and to fill the table from an existing journal).

A row counts the positive postings into a household's (settled) account by transfers and posted pending
transfers, per household, calendar month (UTC) of the transaction's `effective_at`, and reason. Reversals are
left out: they are few, and a reversal counts in the month of what it reverses, which readers look up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, literal_column, select

from ledger.core.base import table_of
from ledger.journal.models import Account, AccountKind, HouseholdMonth, JournalTransaction, Posting, TxKind
from ledger.journal.rules import Leg

SUMMARY = table_of(HouseholdMonth)
TX = table_of(JournalTransaction)
POSTING = table_of(Posting)
ACCOUNT = table_of(Account)
COUNTED_KINDS = (TxKind.TRANSFER, TxKind.POST_PENDING)
KEY = ("county_id", "household_id", "month", "reason")


def label(moment: datetime) -> str:
    """'YYYY-MM' of a moment, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def added(
    legs: Sequence[Leg], *, kind: str, kinds: Mapping[int, str], households: Mapping[int, int | None]
) -> list[tuple[int, int, int]]:
    """What a transaction of `kind` with these legs adds to the summary: (household id, points, postings), one per
    household. `kinds` and `households`: each account's kind and owner."""
    if kind not in COUNTED_KINDS:
        return []
    found: dict[int, list[int]] = {}
    for leg in legs:
        household = households.get(leg.account_id)
        if leg.amount > 0 and household is not None and kinds[leg.account_id] == AccountKind.HOUSEHOLD:
            sums = found.setdefault(household, [0, 0])
            sums[0] += leg.amount
            sums[1] += 1
    return [(household, points, n) for household, (points, n) in found.items()]


def month_of(conn: Connection, moment: ColumnElement[datetime]) -> ColumnElement[str]:
    """'YYYY-MM' of a stored moment, in SQL. SQLite keeps moments as UTC text, so it is the first seven
    characters."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", moment), "YYYY-MM")
    return func.substr(moment, literal_column("1"), literal_column("7"))


def recomputed(conn: Connection) -> Select[Any]:
    """The summary's rows recomputed from the postings: county_id, household_id, month, reason, points, postings."""
    month = month_of(conn, TX.c.effective_at)
    return (
        select(
            ACCOUNT.c.county_id,
            ACCOUNT.c.household_id,
            month.label("month"),
            TX.c.reason,
            func.sum(POSTING.c.amount).label("points"),
            func.count().label("postings"),
        )
        .select_from(
            POSTING.join(TX, TX.c.id == POSTING.c.transaction_id).join(ACCOUNT, ACCOUNT.c.id == POSTING.c.account_id)
        )
        .where(
            ACCOUNT.c.kind == AccountKind.HOUSEHOLD,
            TX.c.kind.in_(COUNTED_KINDS),
            POSTING.c.amount > 0,
        )
        .group_by(ACCOUNT.c.county_id, ACCOUNT.c.household_id, month, TX.c.reason)
    )


def backfill(conn: Connection) -> int:
    """Fill an empty summary from the journal as it stands (the migration that made the table does the same);
    returns the rows written."""
    conn.execute(SUMMARY.insert().from_select([*KEY, "points", "postings"], recomputed(conn)))
    return int(conn.execute(select(func.count()).select_from(SUMMARY)).scalar_one())
