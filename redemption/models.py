"""Redemption tables: offers, vouchers (a health-check booking is a voucher tied to a slot), their events, loan
applications and their timeline, and partner webhook deliveries.

Money is kept in fen (1/100 yuan) as whole numbers; points are whole numbers. Every change of a voucher is a
journal transaction and an append-only `voucher_event` naming it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from ledger.core.base import timestamp, utcnow


class OfferKind(StrEnum):
    VOUCHER = "voucher"  # goods at a merchant, to a face value
    HEALTH_CHECK = "health_check"  # a check-up at a clinic, booked into a slot
    LOAN = "loan"  # a good-conduct loan product of a bank


class OfferStatus(StrEnum):
    PROPOSED = "proposed"  # the partner made it; the county admin has not decided
    APPROVED = "approved"  # households see it (within its window)
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # the partner took it back; vouchers already issued stay good


class LimitPeriod(StrEnum):
    MONTH = "month"
    YEAR = "year"
    EVER = "ever"


GRADES = ("AAA", "AA", "A", "B", "C")  # best first; NR (not rated) meets no minimum


class Offer(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint("kind in ('voucher', 'health_check', 'loan')", name="kind"),
        CheckConstraint("status in ('proposed', 'approved', 'rejected', 'withdrawn')", name="status"),
        CheckConstraint("limit_period in ('month', 'year', 'ever')", name="limit_period"),
        CheckConstraint("kind = 'loan' or (cost_points > 0 and value_fen > 0)", name="priced_unless_loan"),
        CheckConstraint("kind <> 'loan' or loan_terms is not null", name="loan_has_terms"),
        CheckConstraint("stock is null or issued <= stock", name="within_stock"),
        CheckConstraint("issued >= 0", name="issued_not_negative"),
        CheckConstraint("valid_until > valid_from", name="window"),
        CheckConstraint("min_grade is null or min_grade in ('AAA', 'AA', 'A', 'B', 'C')", name="min_grade"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    kind: str = Field(sa_type=String(16))
    title: str = Field(max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    value_fen: int | None = None  # face value of one voucher or check-up
    cost_points: int | None = None  # points for one
    stock: int | None = None  # how many may be out (issued and not given back); None: no limit
    issued: int = 0  # counted only for an offer with a stock limit
    per_household_limit: int = 1  # per limit_period, counted in county time
    limit_period: str = Field(default=LimitPeriod.MONTH.value, sa_type=String(8))
    valid_from: datetime = timestamp()
    valid_until: datetime = timestamp()
    voucher_days: int = 30  # a voucher is good this many days after it is issued (capped by valid_until)
    min_grade: str | None = Field(default=None, sa_type=String(3))
    no_show_penalty_points: int = 0  # health checks: taken (as far as the balance allows) for a missed booking
    cancel_hours: int = 24  # health checks: a booking may be cancelled until this long before its slot
    loan_terms: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    status: str = Field(default=OfferStatus.PROPOSED.value, sa_type=String(10))
    proposed_by: str = Field(max_length=64)
    proposed_at: datetime = timestamp(default_factory=utcnow)
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = timestamp(default=None)
    decision_note: str | None = Field(default=None, max_length=500)


class OfferVillage(SQLModel, table=True):
    """A village an offer is open to. An offer with none is open to every village its partner serves."""

    __tablename__ = "offer_village"

    offer_id: int = Field(sa_column=Column(ForeignKey("offer.id"), primary_key=True))
    village_id: int = Field(sa_column=Column(ForeignKey("village.id"), primary_key=True))


class HealthSlot(SQLModel, table=True):
    __tablename__ = "health_slot"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity"),
        CheckConstraint("booked >= 0 and booked <= capacity", name="within_capacity"),
        CheckConstraint("ends_at > starts_at", name="window"),
    )

    id: int | None = Field(default=None, primary_key=True)
    offer_id: int = Field(foreign_key="offer.id", index=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    county_id: int = Field(foreign_key="county.id")
    starts_at: datetime = timestamp()
    ends_at: datetime = timestamp()
    place: str = Field(max_length=200)
    capacity: int
    booked: int = 0
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp(default_factory=utcnow)


class VoucherStatus(StrEnum):
    ACTIVE = "active"  # points held; may be used (a value voucher partly used stays active for the rest)
    USED = "used"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"  # a booked health check the household missed


class Voucher(SQLModel, table=True):
    """What a household holds after redeeming: a voucher, or a booked health check (slot_id set). Its points are
    held by a pending journal transfer (hold_id) from the household's account to the partner's clearing account
    of the household's village, until used (posted), or expired, cancelled or missed (voided)."""

    __table_args__ = (
        CheckConstraint("status in ('active', 'used', 'expired', 'cancelled', 'no_show')", name="status"),
        CheckConstraint("kind in ('voucher', 'health_check')", name="kind"),
        CheckConstraint("remaining_fen >= 0 and remaining_points >= 0", name="remaining_not_negative"),
        CheckConstraint("status <> 'active' or hold_id is not null", name="active_is_held"),
        CheckConstraint("(kind = 'health_check') = (slot_id is not null)", name="booking_has_slot"),
        Index("ix_voucher_due", "status", "expires_at"),
        Index("ix_voucher_household_offer", "household_id", "offer_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=20, unique=True)
    pin: str = Field(max_length=6)  # shown to the household, told to the cashier
    qr_key: str = Field(max_length=32)  # in the QR code beside the code: scanning it stands for the PIN
    county_id: int = Field(foreign_key="county.id")
    village_id: int = Field(foreign_key="village.id")
    household_id: int = Field(foreign_key="household.id")
    offer_id: int = Field(foreign_key="offer.id")
    partner_id: int = Field(foreign_key="partner.id", index=True)
    kind: str = Field(sa_type=String(16))
    slot_id: int | None = Field(default=None, foreign_key="health_slot.id", index=True)
    quantity: int = 1
    points: int  # held at issue
    value_fen: int  # face value at issue
    remaining_points: int
    remaining_fen: int
    status: str = Field(default=VoucherStatus.ACTIVE.value, sa_type=String(10))
    hold_id: int | None = Field(default=None, foreign_key="journal_transaction.id")  # the pending hold in force
    expires_at: datetime = timestamp()
    created_at: datetime = timestamp(default_factory=utcnow)
    created_by: str = Field(max_length=64)
    closed_at: datetime | None = timestamp(default=None)  # used up, expired, cancelled or missed
    closed_by: str | None = Field(default=None, max_length=64)
    pin_failures: int = 0


class VoucherEventKind(StrEnum):
    ISSUED = "issued"  # the hold
    CONSUMED = "consumed"  # used in full or in part (the points posted to the partner)
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    NO_SHOW = "no_show"
    PENALTY = "penalty"  # points taken for a missed booking


class VoucherEvent(SQLModel, table=True):
    """A voucher's history, one row per journal transaction. Append-only; settlement adds up `consumed` rows."""

    __tablename__ = "voucher_event"
    __table_args__ = (
        CheckConstraint("event in ('issued', 'consumed', 'cancelled', 'expired', 'no_show', 'penalty')", name="event"),
        Index("ix_voucher_event_partner_at", "partner_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    voucher_id: int = Field(foreign_key="voucher.id", index=True)
    county_id: int = Field(foreign_key="county.id")
    village_id: int = Field(foreign_key="village.id")
    partner_id: int = Field(foreign_key="partner.id")
    event: str = Field(sa_type=String(10))
    transaction_id: int = Field(foreign_key="journal_transaction.id")
    points: int  # moved by this event (held, posted, released or taken)
    value_fen: int  # the value it stands for (consumed: the value used)
    actor: str = Field(max_length=64)
    at: datetime = timestamp(default_factory=utcnow)


class ApplicationStatus(StrEnum):
    PRE_APPROVED = "pre_approved"  # decided at once by the product's rules
    UNDER_REVIEW = "under_review"  # waiting for the bank's staff
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # by the household, before disbursement
    DISBURSED = "disbursed"
    REPAID = "repaid"
    OVERDUE = "overdue"  # 30 or 90 days past due
    DEFAULTED = "defaulted"


class LoanApplication(SQLModel, table=True):
    """A household's application for a bank's loan product, with the rating it was decided on."""

    __tablename__ = "loan_application"
    __table_args__ = (
        CheckConstraint(
            "status in ('pre_approved', 'under_review', 'approved', 'rejected', 'withdrawn', "
            "'disbursed', 'repaid', 'overdue', 'defaulted')",
            name="status",
        ),
        CheckConstraint("amount_yuan > 0", name="amount"),
        UniqueConstraint("partner_id", "loan_ref", name="uq_loan_application_partner_ref"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id")
    village_id: int = Field(foreign_key="village.id")
    household_id: int = Field(foreign_key="household.id", index=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    offer_id: int = Field(foreign_key="offer.id")
    loan_ref: str = Field(max_length=64)  # the key of this loan in loan outcomes
    amount_yuan: int
    term_months: int
    purpose: str = Field(max_length=200)
    consent_id: str = Field(foreign_key="consent.id", max_length=32)
    rating_id: int = Field(foreign_key="rating.id")
    grade: str = Field(sa_type=String(3))  # the snapshot the bank sees
    score: int | None = None
    max_amount_yuan: int | None = None  # what the product offers this grade
    rate_discount_bp: int | None = None
    status: str = Field(sa_type=String(12))
    decided_automatically: bool = False
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = timestamp(default=None)
    decision_note: str | None = Field(default=None, max_length=500)
    created_by: str = Field(max_length=64)
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


class LoanApplicationEvent(SQLModel, table=True):
    """An application's timeline, the household's "where is my loan" view. Append-only."""

    __tablename__ = "loan_application_event"

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="loan_application.id", index=True)
    status: str = Field(max_length=12)
    note: str | None = Field(default=None, max_length=500)
    actor: str = Field(max_length=64)
    at: datetime = timestamp(default_factory=utcnow)


class WebhookDelivery(SQLModel, table=True):
    """A partner event waiting to be delivered (or delivered). Written in the same transaction as the change it
    tells of; the id is the delivery id the receiver de-duplicates on."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_due", "delivered_at", "next_attempt_at"),)

    id: str = Field(primary_key=True, max_length=32)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    county_id: int = Field(foreign_key="county.id")
    event: str = Field(max_length=40)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = timestamp(default_factory=utcnow)
    attempts: int = 0
    next_attempt_at: datetime = timestamp(default_factory=utcnow)
    delivered_at: datetime | None = timestamp(default=None)
    last_status: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    # The partner asked for it to be sent again by hand: due at once, and one more attempt even after the last
    # scheduled one (cleared when that attempt is made)
    retry_requested_at: datetime | None = timestamp(default=None)
