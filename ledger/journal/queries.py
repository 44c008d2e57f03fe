"""Reading the journal: balances, statements with cursor pagination, one transaction, a balance as of a date."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import case, func, select
from sqlmodel import Session

from ledger.core.base import as_utc, table_of
from ledger.core.errors import Invalid
from ledger.journal.errors import AccountNotFound
from ledger.journal.models import Account, AccountBalance, AccountKind, JournalTransaction, Posting, TxKind
from ledger.journal.rules import Balance

POSTING = table_of(Posting)
TX = table_of(JournalTransaction)
BALANCE = table_of(AccountBalance)
ACCOUNT = table_of(Account)

Status = Literal["posted", "pending", "voided", "expired"]
STATUSES: tuple[Status, ...] = ("posted", "pending", "voided", "expired")
MAX_PAGE = 200


def balance(session: Session, account_id: int) -> Balance:
    row = session.connection().execute(select(BALANCE).where(BALANCE.c.account_id == account_id)).first()
    if row is None:
        raise AccountNotFound("No such account.", account_id=account_id)
    return Balance(row.posted, row.pending_debit, row.pending_credit, row.earned)


def household_balances(session: Session, household_ids: list[int]) -> dict[tuple[int, str], Balance]:
    """The balances of many households' accounts in one query: by (household id, account kind), for the
    households' settled-points and notice accounts (`balance` of each)."""
    if not household_ids:
        return {}
    rows = session.connection().execute(
        select(
            ACCOUNT.c.household_id,
            ACCOUNT.c.kind,
            BALANCE.c.posted,
            BALANCE.c.pending_debit,
            BALANCE.c.pending_credit,
            BALANCE.c.earned,
        )
        .join(BALANCE, BALANCE.c.account_id == ACCOUNT.c.id)
        .where(
            ACCOUNT.c.household_id.in_(sorted(set(household_ids))),
            ACCOUNT.c.kind.in_([AccountKind.HOUSEHOLD, AccountKind.NOTICE]),
        )
    )
    return {
        (int(r.household_id), str(r.kind)): Balance(r.posted, r.pending_debit, r.pending_credit, r.earned)
        for r in rows.all()
    }


def posted_as_of(session: Session, account_id: int, moment: datetime) -> int:
    """The posted balance as it stood at `moment` (by effective time), recomputed from postings."""
    total = (
        session.connection()
        .execute(
            select(func.coalesce(func.sum(POSTING.c.amount), 0))
            .join(TX, TX.c.id == POSTING.c.transaction_id)
            .where(
                POSTING.c.account_id == account_id,
                TX.c.kind.in_([TxKind.TRANSFER, TxKind.POST_PENDING, TxKind.REVERSAL]),
                TX.c.effective_at <= moment,
            )
        )
        .scalar_one()
    )
    return int(total)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a statement: a transaction as the account holder sees it, with its current status."""

    posting_id: int
    transaction_id: int
    amount: int
    kind: str
    reason: str
    status: Status
    effective_at: datetime
    created_at: datetime
    resolved_at: datetime | None
    reverses_id: int | None


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[Entry]
    next_cursor: str | None


def statement(
    session: Session,
    account_id: int,
    *,
    limit: int = 50,
    cursor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    reason: str | None = None,
    status: Status | None = None,
) -> Page:
    """Newest first. A pending transfer shows once, with the status its resolution gave it."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit is between 1 and {MAX_PAGE}.", field="limit")
    if status is not None and status not in STATUSES:
        raise Invalid(f"status is one of {', '.join(STATUSES)}.", field="status")
    if session.get(Account, account_id) is None:
        raise AccountNotFound("No such account.", account_id=account_id)
    resolution = TX.alias("resolution")
    status_expr = case(
        (TX.c.kind != TxKind.PENDING, "posted"),
        (resolution.c.id.is_(None), "pending"),
        (resolution.c.kind == TxKind.POST_PENDING, "posted"),
        (resolution.c.kind == TxKind.VOID_PENDING, "voided"),
        else_="expired",
    )
    query = (
        select(
            POSTING.c.id,
            POSTING.c.transaction_id,
            POSTING.c.amount,
            TX.c.kind,
            TX.c.reason,
            status_expr.label("status"),
            TX.c.effective_at,
            TX.c.created_at,
            resolution.c.created_at.label("resolved_at"),
            TX.c.reverses_id,
        )
        .join(TX, TX.c.id == POSTING.c.transaction_id)
        .outerjoin(resolution, resolution.c.pending_id == TX.c.id)
        .where(
            POSTING.c.account_id == account_id,
            TX.c.kind.in_([TxKind.TRANSFER, TxKind.PENDING, TxKind.REVERSAL]),
        )
        .order_by(POSTING.c.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        query = query.where(POSTING.c.id < decode_cursor(cursor))
    if since is not None:
        query = query.where(TX.c.effective_at >= since)
    if until is not None:
        query = query.where(TX.c.effective_at < until)
    if reason is not None:
        query = query.where(TX.c.reason == reason)
    if status is not None:
        query = query.where(status_expr == status)
    rows = session.connection().execute(query).all()
    entries = [
        Entry(
            posting_id=r.id,
            transaction_id=r.transaction_id,
            amount=r.amount,
            kind=r.kind,
            reason=r.reason,
            status=r.status,
            effective_at=as_utc(r.effective_at),
            created_at=as_utc(r.created_at),
            resolved_at=None if r.resolved_at is None else as_utc(r.resolved_at),
            reverses_id=r.reverses_id,
        )
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return Page(entries=entries, next_cursor=encode_cursor(entries[-1].posting_id) if more else None)


def encode_cursor(posting_id: int) -> str:
    return base64.urlsafe_b64encode(f"p:{posting_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = text.split(":", 1)
        if prefix != "p":
            raise ValueError(prefix)
        return int(value)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise Invalid("The cursor is not one this server gave out.", field="cursor") from exc
