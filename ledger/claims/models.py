"""Claims, deductions, their evidence, and disputes about them (objections and appeals).

A claim's points travel through the household's two accounts (see docs/claims.md): pending in the notice account
while awaiting review, posted there when approved (on the notice board), moved to the household account when the
notice period ends without an open objection (settled). Each step is a journal transaction the claim names.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from ledger.core.base import timestamp, utcnow


class ClaimStatus(StrEnum):
    PENDING = "pending"  # awaiting review; the points are pending in the notice account
    APPROVED = "approved"  # on the notice board; the points are posted in the notice account
    SETTLED = "settled"  # the notice period passed without an open objection; the points are the household's
    REJECTED = "rejected"  # an official said no (with a reason); the pending points were voided
    EXPIRED = "expired"  # nobody decided in time; the pending points expired
    REVOKED = "revoked"  # an objection was upheld during notice; the approval was reversed


OPEN_STATUSES = (ClaimStatus.PENDING, ClaimStatus.APPROVED, ClaimStatus.SETTLED)  # claims that count towards caps


class EvidenceFile(SQLModel, table=True):
    """A photo, stored content-addressed on disk under its SHA-256."""

    __tablename__ = "evidence"

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(max_length=64, index=True)
    phash: str | None = Field(default=None, max_length=16)  # perceptual hash (hex), to find a re-saved photo
    size: int
    content_type: str = Field(max_length=20)
    county_id: int = Field(foreign_key="county.id")
    village_id: int = Field(foreign_key="village.id", index=True)
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)  # None: an official's
    uploaded_by: str = Field(max_length=64)
    created_at: datetime = timestamp(default_factory=utcnow)
    # The photo itself was deleted (its retention period ended, or its uploader was erased); the row stays, so
    # the records that named it still say a photo was there
    purged_at: datetime | None = timestamp(default=None)


class Claim(SQLModel, table=True):
    __table_args__ = (
        # one claim per household per activity per period ("once", "2026-11-24", "2026-W48", "2026-11")
        UniqueConstraint("activity_id", "household_id", "period_key", name="uq_claim_activity_household_period"),
        CheckConstraint(
            "status in ('pending', 'approved', 'settled', 'rejected', 'expired', 'revoked')", name="status"
        ),
        CheckConstraint("points > 0", name="points_positive"),
        CheckConstraint("status <> 'rejected' or reject_reason is not null", name="rejection_has_reason"),
        # an official's award names no activity and says why; every other claim is for an activity
        CheckConstraint("(activity_id is null) = (award_reason is not null)", name="award_or_activity"),
        Index("ix_claim_queue", "village_id", "status", "submitted_at"),
        Index("ix_claim_household", "household_id", "submitted_at"),
        Index("ix_claim_notice", "status", "notice_until"),
        Index("ix_claim_escalated", "village_id", "escalated_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id")
    village_id: int = Field(foreign_key="village.id")
    household_id: int = Field(foreign_key="household.id")
    person_id: int | None = Field(default=None, foreign_key="person.id")  # the member it was claimed for
    activity_id: int | None = Field(default=None, foreign_key="activity.id")  # None: an official's award
    matter_id: int = Field(foreign_key="matter.id")  # the rule version it was claimed under
    points: int
    period_key: str = Field(max_length=16)
    status: str = Field(default=ClaimStatus.PENDING.value, sa_type=String(10))
    proxy: bool = False  # entered by an official for the household (a proxy claim, or an award)
    award_reason: str | None = Field(default=None, max_length=500)  # an award: why the official awards it
    entered_by: str = Field(max_length=64)  # the actor: the villager, or the official for a proxy claim
    submitted_at: datetime = timestamp(default_factory=utcnow)
    decided_at: datetime | None = timestamp(default=None)
    decided_by: str | None = Field(default=None, max_length=64)
    reject_reason: str | None = Field(default=None, max_length=500)
    notice_until: datetime | None = timestamp(default=None)
    settled_at: datetime | None = timestamp(default=None)
    # not decided within the county's overdue hours: sent to the township supervisor's queue (ledger/claims/review.py)
    escalated_at: datetime | None = timestamp(default=None)
    pending_tx_id: int | None = Field(default=None, foreign_key="journal_transaction.id")
    approval_tx_id: int | None = Field(default=None, foreign_key="journal_transaction.id")
    settlement_tx_id: int | None = Field(default=None, foreign_key="journal_transaction.id")
    reversal_tx_id: int | None = Field(default=None, foreign_key="journal_transaction.id")
    lat: float | None = None
    lon: float | None = None
    note: str | None = Field(default=None, max_length=500)
    device: str | None = Field(default=None, max_length=64)  # a hash of the client's device id, for fraud signals
    code_step: int | None = None  # the 30-second step of the rotating code scanned (the scan, not the claim, time)
    flags: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class ScanTicketUse(SQLModel, table=True):
    """A scan ticket that was used: its id is the primary key, so a ticket makes one claim however many are
    sent with it at once (docs/claims.md, "Scan tickets")."""

    __tablename__ = "scan_ticket_use"

    ticket_id: str = Field(primary_key=True, max_length=32)  # the ticket's random nonce, in hex
    activity_id: int = Field(foreign_key="activity.id")
    household_id: int = Field(foreign_key="household.id")
    used_at: datetime = timestamp(default_factory=utcnow)


class ClaimEvidence(SQLModel, table=True):
    __tablename__ = "claim_evidence"

    claim_id: int = Field(sa_column=Column(ForeignKey("claim.id"), primary_key=True))
    evidence_id: int = Field(sa_column=Column(ForeignKey("evidence.id"), primary_key=True, index=True))


class DeductionStatus(StrEnum):
    IN_FORCE = "in_force"
    REVOKED = "revoked"  # an appeal was upheld; the points taken were given back


class Deduction(SQLModel, table=True):
    """Points taken for misconduct. `posted` came off the spendable balance; `unpaid` is what the balance could not
    cover: it is not collected later, but it stays on the household's record for the rating (docs/claims.md)."""

    __table_args__ = (
        CheckConstraint("points > 0 and posted >= 0 and unpaid >= 0 and posted + unpaid = points", name="points_split"),
        CheckConstraint("status in ('in_force', 'revoked')", name="status"),
        CheckConstraint("(posted = 0) = (transaction_id is null)", name="posted_has_transaction"),
        Index("ix_deduction_household", "household_id", "recorded_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id")
    village_id: int = Field(foreign_key="village.id", index=True)
    household_id: int = Field(foreign_key="household.id")
    matter_id: int = Field(foreign_key="matter.id")
    points: int  # as the rule says, a positive number
    posted: int
    unpaid: int
    reason: str = Field(max_length=500)
    status: str = Field(default=DeductionStatus.IN_FORCE.value, sa_type=String(10))
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = timestamp(default_factory=utcnow)
    transaction_id: int | None = Field(default=None, foreign_key="journal_transaction.id")
    reversal_tx_id: int | None = Field(default=None, foreign_key="journal_transaction.id")
    revoked_at: datetime | None = timestamp(default=None)


class DeductionEvidence(SQLModel, table=True):
    __tablename__ = "deduction_evidence"

    deduction_id: int = Field(sa_column=Column(ForeignKey("deduction.id"), primary_key=True))
    evidence_id: int = Field(sa_column=Column(ForeignKey("evidence.id"), primary_key=True, index=True))


class DisputeKind(StrEnum):
    OBJECTION = "objection"  # any villager of the village, against an entry on the notice board
    APPEAL = "appeal"  # the household, against a rejection or a deduction


class DisputeStatus(StrEnum):
    OPEN = "open"
    UPHELD = "upheld"
    DISMISSED = "dismissed"


class Dispute(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint("kind in ('objection', 'appeal')", name="kind"),
        CheckConstraint("status in ('open', 'upheld', 'dismissed')", name="status"),
        CheckConstraint("(claim_id is null) <> (deduction_id is null)", name="one_target"),
        CheckConstraint("kind = 'appeal' or claim_id is not null", name="objection_on_claim"),
        # a household objects to an entry once, and appeals an entry once
        Index(
            "uq_dispute_objection",
            "claim_id",
            "raised_by_household_id",
            unique=True,
            sqlite_where=text("kind = 'objection'"),
            postgresql_where=text("kind = 'objection'"),
        ),
        Index(
            "uq_dispute_claim_appeal",
            "claim_id",
            unique=True,
            sqlite_where=text("kind = 'appeal' AND claim_id IS NOT NULL"),
            postgresql_where=text("kind = 'appeal' AND claim_id IS NOT NULL"),
        ),
        Index(
            "uq_dispute_deduction_appeal",
            "deduction_id",
            unique=True,
            sqlite_where=text("kind = 'appeal' AND deduction_id IS NOT NULL"),
            postgresql_where=text("kind = 'appeal' AND deduction_id IS NOT NULL"),
        ),
        Index("ix_dispute_queue", "village_id", "status", "opened_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_type=String(10))
    county_id: int = Field(foreign_key="county.id")
    village_id: int = Field(foreign_key="village.id")
    household_id: int = Field(foreign_key="household.id")  # whose entry it is about
    claim_id: int | None = Field(default=None, foreign_key="claim.id")
    deduction_id: int | None = Field(default=None, foreign_key="deduction.id")
    raised_by: str = Field(max_length=64)
    raised_by_household_id: int = Field(foreign_key="household.id")
    reason: str = Field(max_length=500)
    status: str = Field(default=DisputeStatus.OPEN.value, sa_type=String(10))
    opened_at: datetime = timestamp(default_factory=utcnow)
    resolved_at: datetime | None = timestamp(default=None)
    resolved_by: str | None = Field(default=None, max_length=64)
    resolution_note: str | None = Field(default=None, max_length=500)
