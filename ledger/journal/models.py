"""Journal tables. Postings and transactions are written once and never updated or deleted; the only rows
that change are the derived ones (account_balance, chain_head) and they change in the same database transaction."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from ledger.core.base import timestamp, utcnow


class AccountKind(StrEnum):
    ISSUANCE = "issuance"  # one per village: where earned points come from; the only account that may go negative
    HOUSEHOLD = "household"  # one per household: the settled, spendable points
    NOTICE = "notice"  # one per household: approved points on the notice board, not yet settled or spendable
    PARTNER_CLEARING = "partner_clearing"  # one per partner and village: points spent at the partner
    EXPIRY = "expiry"  # one per village: points that lapsed
    PENALTY = "penalty"  # one per village: points taken as penalties


class TxKind(StrEnum):
    TRANSFER = "transfer"  # single phase: posted at once
    PENDING = "pending"  # reserves; resolved exactly once by one of the next three
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"
    EXPIRE_PENDING = "expire_pending"
    REVERSAL = "reversal"  # mirror of a posted transaction, linked to it


RESOLUTIONS = (TxKind.POST_PENDING, TxKind.VOID_PENDING, TxKind.EXPIRE_PENDING)
POSTED_KINDS = (TxKind.TRANSFER, TxKind.POST_PENDING, TxKind.REVERSAL)


class Account(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint(
            "kind in ('issuance', 'household', 'notice', 'partner_clearing', 'expiry', 'penalty')", name="kind"
        ),
        CheckConstraint("kind not in ('household', 'notice') or household_id is not null", name="household_has_owner"),
        UniqueConstraint("household_id", "kind", name="uq_account_household_kind"),
        CheckConstraint("kind <> 'partner_clearing' or partner_id is not null", name="clearing_has_partner"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    kind: str = Field(sa_type=String(20))
    county_id: int = Field(foreign_key="county.id", index=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    household_id: int | None = Field(default=None, foreign_key="household.id")
    partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)
    created_at: datetime = timestamp(default_factory=utcnow)


class AccountBalance(SQLModel, table=True):
    """Derived from postings, kept in the same transaction; `shanzhi verify` recomputes and compares."""

    __tablename__ = "account_balance"

    account_id: int = Field(sa_column=Column(ForeignKey("account.id"), primary_key=True))
    posted: int = Field(default=0, sa_type=BigInteger)
    pending_debit: int = Field(default=0, sa_type=BigInteger)  # reserved by unresolved pending transfers
    pending_credit: int = Field(default=0, sa_type=BigInteger)  # on its way in, not yet spendable
    earned: int = Field(default=0, sa_type=BigInteger)  # lifetime points earned from issuance, net of reversals
    updated_at: datetime = timestamp(default_factory=utcnow)


class JournalTransaction(SQLModel, table=True):
    __tablename__ = "journal_transaction"
    __table_args__ = (
        UniqueConstraint("village_id", "chain_seq", name="uq_journal_transaction_village_seq"),
        CheckConstraint(
            "kind in ('transfer', 'pending', 'post_pending', 'void_pending', 'expire_pending', 'reversal')",
            name="kind",
        ),
        CheckConstraint(
            "(pending_id is not null) = (kind in ('post_pending', 'void_pending', 'expire_pending'))",
            name="resolution_names_pending",
        ),
        CheckConstraint("(reverses_id is not null) = (kind = 'reversal')", name="reversal_names_original"),
        Index("ix_journal_transaction_timeout", "kind", "timeout_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    village_id: int = Field(foreign_key="village.id")
    chain_seq: int = Field(sa_type=BigInteger)
    kind: str = Field(sa_type=String(16))
    # A pending transfer resolves once: the unique constraint makes a second resolution impossible.
    pending_id: int | None = Field(default=None, foreign_key="journal_transaction.id", unique=True)
    # A transaction is reversed once, for the same reason.
    reverses_id: int | None = Field(default=None, foreign_key="journal_transaction.id", unique=True)
    reason: str = Field(max_length=64, index=True)
    actor: str = Field(max_length=64)
    created_at: datetime = timestamp(default_factory=utcnow)
    effective_at: datetime = timestamp(default_factory=utcnow, index=True)
    timeout_at: datetime | None = timestamp(default=None)
    meta: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class Posting(SQLModel, table=True):
    """One leg of a transaction: positive credits the account, negative debits it."""

    __table_args__ = (
        CheckConstraint("amount <> 0", name="nonzero"),
        Index("ix_posting_account_transaction", "account_id", "transaction_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: int = Field(foreign_key="journal_transaction.id", index=True)
    account_id: int = Field(foreign_key="account.id")
    amount: int = Field(sa_type=BigInteger)
    county_id: int = Field(foreign_key="county.id")
    village_id: int = Field(foreign_key="village.id")


class ChainHead(SQLModel, table=True):
    """The newest link of a village's hash chain. Locked for update by every write in that village."""

    __tablename__ = "chain_head"

    village_id: int = Field(sa_column=Column(ForeignKey("village.id"), primary_key=True))
    county_id: int = Field(foreign_key="county.id", index=True)
    seq: int = Field(default=0, sa_type=BigInteger)
    hash: str = Field(max_length=64)
    updated_at: datetime = timestamp(default_factory=utcnow)


class HouseholdMonth(SQLModel, table=True):
    """The points a household was awarded in one calendar month (UTC) for one reason (the matter's code): the sum
    and the number of the positive postings into its household account by transfers and posted pending
    transfers, the transaction's month being that of its `effective_at`. Derived from postings and kept by the
    journal in the same transaction as the postings (`store.write`), so a county can be rescored from it without
    reading every posting; `shanzhi verify` recomputes and compares. Reversals are not in it (they are few, and
    count in the month of what they reverse)."""

    __tablename__ = "household_month"
    __table_args__ = ({"sqlite_with_rowid": False},)  # stored in key order: a county's households read in order

    county_id: int = Field(sa_column=Column(ForeignKey("county.id"), primary_key=True))
    household_id: int = Field(sa_column=Column(ForeignKey("household.id"), primary_key=True))
    month: str = Field(sa_column=Column(String(7), primary_key=True))  # 'YYYY-MM'
    reason: str = Field(sa_column=Column(String(64), primary_key=True))
    points: int = Field(default=0, sa_type=BigInteger)
    postings: int = Field(default=0)
