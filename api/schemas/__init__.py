"""What the API accepts and returns. A response model is an allow-list: only the fields named here leave."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from ledger.core.base import as_utc

Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[a-z0-9_.:-]+$")
]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9]{6,19}$")]


# Every moment in and out is UTC with its zone: SQLite hands stored timestamps back without one, PostgreSQL with
# one, and the API answers the same either way (a moment sent without a zone is taken as UTC).
Moment = Annotated[datetime, AfterValidator(as_utc)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    scope: str | None = None


class OtpRequestIn(Strict):
    phone: Phone


class OtpRequestOut(BaseModel):
    status: Literal["sent"] = "sent"
    expires_in: int
    dev_code: str | None = Field(
        default=None,
        description="Only in dev mode, for trying the demo. An unknown "
        "phone gets a made-up code of the same shape, which signs nobody in.",
    )


class OtpVerifyIn(Strict):
    phone: Phone
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]


class BalanceOut(BaseModel):
    household_id: int
    posted: int = Field(description="Settled points: the household's own, spendable unless held.")
    in_notice: int = Field(
        description="Approved points on the village notice board; they settle when the notice "
        "period ends without an upheld objection. Not spendable."
    )
    pending_in: int = Field(description="Claimed points awaiting an official's decision. Not spendable.")
    held: int = Field(description="Settled points reserved by pending spends.")
    available: int = Field(description="What may be spent now: posted less held.")
    earned: int = Field(
        description="Lifetime points approved for the household (settled or in notice), net of "
        "reversals; spending does not lower it."
    )


class BalanceAsOfOut(BaseModel):
    household_id: int
    as_of: Moment
    posted: int


class EntryOut(BaseModel):
    transaction_id: int
    amount: int
    kind: str
    reason: str
    status: Literal["posted", "pending", "voided", "expired"]
    effective_at: Moment
    created_at: Moment
    resolved_at: Moment | None
    reverses_id: int | None


class StatementOut(BaseModel):
    household_id: int
    entries: list[EntryOut]
    next_cursor: str | None


class PostingOut(BaseModel):
    account_id: int
    amount: int


class TransactionOut(BaseModel):
    id: int
    village_id: int
    chain_seq: int
    kind: str
    reason: str
    actor: str
    created_at: Moment
    effective_at: Moment
    timeout_at: Moment | None
    pending_id: int | None
    reverses_id: int | None
    meta: dict[str, Any] | None
    hash: str
    postings: list[PostingOut]
    replayed: bool = False


class ResolveIn(Strict):
    reason: Reason | None = None


class ReverseIn(Strict):
    reason: Reason


class SignedHeadOut(BaseModel):
    jws: str = Field(description="The head below, signed ES256; check it with GET /api/v1/ledger/head/key.")
    head: dict[str, Any]


class VerifyPinnedIn(Strict):
    jws: str


class VerifyPinnedOut(BaseModel):
    intact: bool
    problems: list[str]
