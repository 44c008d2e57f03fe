"""Proof that the journal was not quietly changed: walk every village's hash chain and recompute every balance
from the postings. Any edited, deleted or reordered row shows up, named by the first transaction it breaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, SupportsInt, cast

import pandas as pd
from sqlalchemy import ColumnElement, Row, and_, case, exists, func, select
from sqlmodel import Session

from ledger.core.base import table_of
from ledger.core.progress import Report as Progress
from ledger.core.progress import silent
from ledger.journal import chain, months
from ledger.journal.models import (
    POSTED_KINDS,
    RESOLUTIONS,
    Account,
    AccountBalance,
    AccountKind,
    ChainHead,
    JournalTransaction,
    Posting,
    TxKind,
)

TX = table_of(JournalTransaction)
POSTING = table_of(Posting)
ACCOUNT = table_of(Account)
BALANCE = table_of(AccountBalance)
HEAD = table_of(ChainHead)


@dataclass(frozen=True, slots=True)
class Problem:
    what: str
    transaction_id: int | None = None
    village_id: int | None = None
    chain_seq: int | None = None
    account_id: int | None = None

    def __str__(self) -> str:
        where = []
        if self.transaction_id is not None:
            where.append(f"transaction {self.transaction_id} (village {self.village_id}, seq {self.chain_seq})")
        elif self.village_id is not None:
            where.append(f"village {self.village_id}")
        if self.account_id is not None:
            where.append(f"account {self.account_id}")
        return f"{', '.join(where)}: {self.what}"


@dataclass
class Report:
    transactions: int = 0
    villages: int = 0
    accounts: int = 0
    months: int = 0  # rows of the households' monthly summary
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> Problem | None:
        """The earliest broken transaction, or else the first other problem."""
        with_tx = [p for p in self.problems if p.transaction_id is not None]
        if with_tx:
            return min(with_tx, key=lambda p: p.transaction_id or 0)
        return self.problems[0] if self.problems else None


TRANSACTIONS = "transactions checked"  # what `verify` reports progress of, then…
BALANCES = "account balances checked"  # …this
EVERY = 5000  # transactions between two progress reports


def verify(session: Session, *, progress: Progress = silent) -> Report:
    """`progress` hears of the transactions checked (of as many as the chain heads say there are), then of the
    balances."""
    report = Report()
    _walk_chains(session, report, progress)
    progress(BALANCES, 0, None)
    _check_balances(session, report)
    _check_months(session, report)
    progress(BALANCES, report.accounts, report.accounts)
    return report


def _walk_chains(session: Session, report: Report, progress: Progress) -> None:
    conn = session.connection()
    heads = {row.village_id: row for row in conn.execute(select(HEAD))}
    expected = sum(head.seq for head in heads.values())  # one per link of every chain: no count(*) of the table
    progress(TRANSACTIONS, 0, expected)
    rows = conn.execution_options(yield_per=2000).execute(
        select(TX, POSTING.c.account_id.label("p_account"), POSTING.c.amount.label("p_amount"))
        .outerjoin(POSTING, POSTING.c.transaction_id == TX.c.id)
        .order_by(TX.c.village_id, TX.c.chain_seq, TX.c.id, POSTING.c.id)
    )
    seen_villages: set[int] = set()
    for village_id, village_rows in groupby(rows, key=lambda r: r.village_id):
        seen_villages.add(village_id)
        report.villages += 1
        expected_seq, prev_hash, broken = 1, chain.GENESIS, False
        for _tx_id, tx_rows in groupby(village_rows, key=lambda r: r.id):
            legs = list(tx_rows)
            tx = legs[0]
            postings = [(r.p_account, r.p_amount) for r in legs if r.p_account is not None]
            report.transactions += 1
            if report.transactions % EVERY == 0:
                progress(TRANSACTIONS, report.transactions, max(expected, report.transactions))
            found = _check_link(tx, postings, expected_seq, prev_hash)
            if found and not broken:  # after the first break every later link disagrees too; name the first
                report.problems.append(found)
                broken = True
            expected_seq, prev_hash = tx.chain_seq + 1, tx.hash
        head = heads.get(village_id)
        if head is None or (head.seq, head.hash) != (expected_seq - 1, prev_hash):
            report.problems.append(
                Problem(
                    "the chain head does not match the last transaction (rows deleted at the end?)",
                    village_id=village_id,
                )
            )
    progress(TRANSACTIONS, report.transactions, max(expected, report.transactions))
    for village_id, head in heads.items():
        if village_id not in seen_villages and head.seq != 0:
            report.problems.append(
                Problem(
                    f"the chain head is at seq {head.seq} but the village has no transactions", village_id=village_id
                )
            )


def _check_link(tx: Row[Any], postings: list[tuple[int, int]], expected_seq: int, prev_hash: str) -> Problem | None:
    where = {"transaction_id": tx.id, "village_id": tx.village_id, "chain_seq": tx.chain_seq}
    if tx.chain_seq != expected_seq:
        return Problem(f"expected seq {expected_seq}: a transaction was deleted or reordered", **where)
    if tx.prev_hash != prev_hash:
        return Problem("its previous hash does not match the chain: rows were deleted or reordered", **where)
    if len(postings) < 2 or sum(amount for _, amount in postings) != 0:
        return Problem("its postings do not balance (a posting was edited or deleted)", **where)
    if chain.link(prev_hash, tx._mapping, postings) != tx.hash:
        return Problem("its hash does not match its content: the transaction or a posting was edited", **where)
    return None


def recomputed_balances(session: Session) -> pd.DataFrame:
    """Every account's balances recomputed from postings alone (aggregated in SQL)."""
    issuance_tx = exists().where(
        POSTING.c.transaction_id == TX.c.id,
        POSTING.c.account_id == ACCOUNT.c.id,
        ACCOUNT.c.kind == AccountKind.ISSUANCE,
    )
    p = POSTING.alias("p")
    a = ACCOUNT.alias("a")
    posted = TX.c.kind.in_(POSTED_KINDS)
    resolving = TX.c.kind.in_(RESOLUTIONS)
    pending = TX.c.kind == TxKind.PENDING
    zero = 0

    def total(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, p.c.amount), else_=zero)), zero)

    query = (
        select(
            p.c.account_id,
            total(posted).label("posted"),
            (-total(and_(pending, p.c.amount < 0)) + total(and_(resolving, p.c.amount < 0))).label("pending_debit"),
            (total(and_(pending, p.c.amount > 0)) - total(and_(resolving, p.c.amount > 0))).label("pending_credit"),
            total(and_(posted, a.c.kind != AccountKind.ISSUANCE, issuance_tx.correlate(TX))).label("earned"),
        )
        .join(TX, TX.c.id == p.c.transaction_id)
        .join(a, a.c.id == p.c.account_id)
        .group_by(p.c.account_id)
    )
    return pd.DataFrame(
        [tuple(r) for r in session.connection().execute(query)], columns=list(query.selected_columns.keys())
    )


def _check_balances(session: Session, report: Report) -> None:
    columns = ["posted", "pending_debit", "pending_credit", "earned"]
    stored = pd.DataFrame(
        [
            tuple(r)
            for r in session.connection().execute(select(BALANCE.c.account_id, *[BALANCE.c[c] for c in columns]))
        ],
        columns=["account_id", *columns],
    )
    fresh = recomputed_balances(session)
    report.accounts = len(stored)
    merged = stored.merge(fresh, on="account_id", how="outer", suffixes=("", "_recomputed")).fillna(0)
    for column in columns:
        merged[column] = merged[column].astype("int64")
        merged[f"{column}_recomputed"] = merged[f"{column}_recomputed"].astype("int64")
    for row in merged.itertuples(index=False):
        for column in columns:
            kept, recomputed = getattr(row, column), getattr(row, f"{column}_recomputed")
            if kept != recomputed:
                report.problems.append(
                    Problem(
                        f"{column} is {kept} but its postings add up to {recomputed}",
                        account_id=int(cast(SupportsInt, row.account_id)),
                    )
                )


def _check_months(session: Session, report: Report) -> None:
    """The households' monthly summary against the postings it sums: a row edited, added or deleted by hand
    (or a write that forgot it) is named by the household's account, month and reason."""
    conn = session.connection()
    key, figures = list(months.KEY), ["points", "postings"]
    stored = pd.DataFrame([tuple(r) for r in conn.execute(select(months.SUMMARY))], columns=[*key, *figures])
    fresh = pd.DataFrame([tuple(r) for r in conn.execute(months.recomputed(conn))], columns=[*key, *figures])
    report.months = len(stored)
    merged = stored.merge(fresh, on=key, how="outer", suffixes=("", "_recomputed")).fillna(0)
    wrong = merged[
        (merged["points"] != merged["points_recomputed"]) | (merged["postings"] != merged["postings_recomputed"])
    ]
    if wrong.empty:
        return
    households = [int(h) for h in wrong["household_id"].unique()]
    account_of = dict(
        conn.execute(
            select(ACCOUNT.c.household_id, ACCOUNT.c.id).where(
                ACCOUNT.c.kind == AccountKind.HOUSEHOLD, ACCOUNT.c.household_id.in_(households)
            )
        ).all()
    )
    for row in wrong.to_dict(orient="records"):
        report.problems.append(
            Problem(
                f"the monthly summary for {row['month']}, {row['reason']} says {int(row['points'])} points in "
                f"{int(row['postings'])} postings but its postings add up to {int(row['points_recomputed'])} in "
                f"{int(row['postings_recomputed'])}",
                account_id=account_of.get(int(row["household_id"])),
            )
        )


# --- what the records above the journal check against it ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A domain record (a claim, a voucher…) whose status disagrees with its journal transactions: one of them
    was posted, voided or reversed by hand, outside the record's own operations."""

    record_kind: str
    record_id: int
    what: str

    def __str__(self) -> str:
        return f"{self.record_kind} {self.record_id}: {self.what}"


@dataclass(frozen=True, slots=True)
class Links:
    """How each transaction was followed up: a pending one's resolution (kind, id), a posted one's reversal."""

    resolutions: dict[int, tuple[str, int]]
    reversals: dict[int, int]

    def resolution(self, pending_id: int | None) -> tuple[str, int] | None:
        return None if pending_id is None else self.resolutions.get(pending_id)

    def reversal(self, transaction_id: int | None) -> int | None:
        return None if transaction_id is None else self.reversals.get(transaction_id)


def links(session: Session) -> Links:
    conn = session.connection()
    resolved = conn.execute(select(TX.c.pending_id, TX.c.kind, TX.c.id).where(TX.c.pending_id.is_not(None)))
    reversed_ = conn.execute(select(TX.c.reverses_id, TX.c.id).where(TX.c.reverses_id.is_not(None)))
    return Links(
        resolutions={int(p): (str(k), int(i)) for p, k, i in resolved}, reversals={int(r): int(i) for r, i in reversed_}
    )
