"""What the redemption routes accept and return. Money goes in and out as yuan with two decimals (a string on
the way out); the partner, the household and the prices come from who is asking and from the offer, never from
the body (unknown fields are refused)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Moment, Strict

Yuan = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]
Grade = Literal["AAA", "AA", "A", "B", "C"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def yuan(fen: int | None) -> str | None:
    return None if fen is None else f"{fen / 100:.2f}"


def fen(amount: Decimal | None) -> int | None:
    return None if amount is None else int(amount * 100)


class OfferIn(Strict):
    kind: Literal["voucher", "health_check", "loan"]
    title: Text
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    value_yuan: Yuan | None = None
    cost_points: int | None = Field(default=None, gt=0, le=1_000_000)
    stock: int | None = Field(default=None, ge=0, le=10_000_000)
    per_household_limit: int = Field(default=1, ge=1, le=1000)
    limit_period: Literal["month", "year", "ever"] = "month"
    valid_from: Moment
    valid_until: Moment
    voucher_days: int = Field(default=30, ge=1, le=366)
    min_grade: Grade | None = None
    no_show_penalty_points: int = Field(default=0, ge=0, le=1000)
    cancel_hours: int = Field(default=24, ge=0, le=24 * 14)
    loan_terms: dict[str, Any] | None = None
    village_ids: Annotated[list[int], Field(max_length=500)] = []


class OfferOut(BaseModel):
    id: int
    partner_id: int
    partner_name: str
    kind: str
    title: str
    description: str | None
    value_yuan: str | None
    cost_points: int | None
    stock: int | None
    issued: int
    per_household_limit: int
    limit_period: str
    valid_from: Moment
    valid_until: Moment
    voucher_days: int
    min_grade: str | None
    no_show_penalty_points: int
    cancel_hours: int
    loan_terms: dict[str, Any] | None
    village_ids: list[int]
    status: str
    decision_note: str | None = None
    affordable: bool | None = Field(default=None, description="For a household: it has the points now")
    eligible: bool | None = Field(default=None, description="For a household: its grade meets the minimum")


class DecisionIn(Strict):
    approve: bool
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class SlotIn(Strict):
    starts_at: Moment
    ends_at: Moment
    place: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    capacity: int = Field(gt=0, le=1000)


class SlotOut(BaseModel):
    id: int
    offer_id: int
    starts_at: Moment
    ends_at: Moment
    place: str
    capacity: int
    booked: int


class RedemptionIn(Strict):
    offer_id: int = Field(gt=0)
    quantity: int = Field(default=1, ge=1, le=10)
    slot_id: int | None = Field(default=None, gt=0)


class VoucherEventOut(BaseModel):
    event: str
    at: Moment
    points: int
    value_yuan: str
    transaction_id: int
    actor: str


class VoucherOut(BaseModel):
    """A voucher as its household sees it (with the PIN and QR text) or as its partner does (without)."""

    code: str
    kind: str
    offer_id: int
    offer_title: str
    partner_name: str
    household_id: int | None = None
    quantity: int
    points: int
    value_yuan: str
    remaining_points: int
    remaining_yuan: str
    status: str
    expires_at: Moment
    created_at: Moment
    closed_at: Moment | None
    slot: SlotOut | None = None
    no_show_penalty_points: int = Field(
        default=0, description="A booking: the points taken from the household if it does not come (0: none)."
    )
    pin: str | None = None
    qr_text: str | None = None
    qr_svg_url: str | None = None
    history: list[VoucherEventOut] | None = None


class ConsumeIn(Strict):
    pin: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")] | None = None
    qr: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    amount: Yuan | None = Field(default=None, description="Yuan used, for part of a value voucher")


class SettlementOut(BaseModel):
    partner_id: int
    from_: Moment = Field(alias="from")
    to: Moment
    uses: int
    value_yuan: str
    points: int
    ledger_points: int
    reconciled: bool
    lines: list[dict[str, Any]]

    model_config = {"populate_by_name": True}
