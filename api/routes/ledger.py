"""The journal over HTTP: one transaction, and the signed chain head that auditors and banks pin.

Nobody writes to the journal here. Points are awarded by claims (an official's award is a claim too, see
`POST /api/v1/claims/awards`), and a transaction changes only through its record's own operation, so post, void
and reverse by hand are refused (ledger/journal/owners.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from sqlmodel import Session

from api import tokens
from api.deps import IdempotencyKey, SessionDep, SettingsDep, allow, public
from api.presentation.ledger import transaction_out
from api.schemas import (
    ResolveIn,
    ReverseIn,
    SignedHeadOut,
    TransactionOut,
    VerifyPinnedIn,
    VerifyPinnedOut,
)
from ledger import tenancy
from ledger.core.errors import DomainError
from ledger.identity import transactions as access
from ledger.identity.models import PartnerKind, Role
from ledger.identity.principal import Principal
from ledger.journal import head, owners

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])

Writer = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
HeadReader = Annotated[
    Principal, allow(Role.COUNTY_ADMIN, Role.AUDITOR, partner_kinds=(PartnerKind.BANK,), scope="ledger:head")
]


@router.get("/transactions/{transaction_id}", response_model=TransactionOut)
def get_transaction(transaction_id: int, session: SessionDep, principal: Reader) -> TransactionOut:
    return transaction_out(access.visible_transaction(session, principal, transaction_id))


def _by_hand(session: Session, principal: Principal, transaction_id: int, action: str) -> DomainError:
    """Every transaction belongs to a record and changes only through that record's own operation (approve or
    reject a claim, resolve a dispute, use or cancel a voucher…): refused, naming the record
    (ledger/journal/owners.py). Someone who may not change the transaction at all is told there is none."""
    record = access.managed_transaction(session, principal, transaction_id)
    return owners.refuse_generic_change(session, record, action)


REFUSED: dict[int | str, dict[str, Any]] = {
    409: {"description": "Always: the transaction belongs to a record (`transaction_belongs_to_record`)"}
}


@router.post("/transactions/{transaction_id}/post", response_model=TransactionOut, responses=REFUSED)
def post(
    transaction_id: int, body: ResolveIn, idempotency_key: IdempotencyKey, session: SessionDep, principal: Writer
) -> TransactionOut:
    """Refused: a pending transfer is posted by its record's operation (a claim's approval, a voucher's use)."""
    raise _by_hand(session, principal, transaction_id, "post")


@router.post("/transactions/{transaction_id}/void", response_model=TransactionOut, responses=REFUSED)
def void(
    transaction_id: int, body: ResolveIn, idempotency_key: IdempotencyKey, session: SessionDep, principal: Writer
) -> TransactionOut:
    """Refused: a pending transfer is voided by its record's operation (a claim's rejection, a voucher's
    cancellation)."""
    raise _by_hand(session, principal, transaction_id, "void")


@router.post("/transactions/{transaction_id}/reverse", response_model=TransactionOut, responses=REFUSED)
def reverse(
    transaction_id: int, body: ReverseIn, idempotency_key: IdempotencyKey, session: SessionDep, principal: Writer
) -> TransactionOut:
    """Refused: a posted transaction is reversed by its record's operation (an upheld objection or appeal)."""
    raise _by_hand(session, principal, transaction_id, "reversal")


@router.get("/head", response_model=SignedHeadOut)
def signed_head(session: SessionDep, settings: SettingsDep, principal: HeadReader) -> SignedHeadOut:
    """The county's chain head (every village head and their root), signed ES256. Pin it; check it later."""
    payload = tenancy.county_chain_head(session, principal.county_id)
    return SignedHeadOut(jws=tokens.sign_head(settings, payload), head=payload)


@router.get("/head/key", dependencies=[public()])
def head_key(settings: SettingsDep) -> dict[str, object]:
    """The public key (JWK) that checks signed chain heads."""
    return {"keys": [tokens.head_public_jwk(settings)]}


@router.post("/head/check", response_model=VerifyPinnedOut)
def check_pinned(
    body: VerifyPinnedIn, session: SessionDep, settings: SettingsDep, principal: HeadReader
) -> VerifyPinnedOut:
    """Is a head pinned earlier still part of today's chain? Proves history was only appended to."""
    payload = tokens.read_signed_head(tokens.head_public_jwk(settings), body.jws)
    if payload.get("county_id") != principal.county_id:
        return VerifyPinnedOut(intact=False, problems=["this head belongs to another county"])
    problems = head.still_in_chain(session, payload)
    return VerifyPinnedOut(intact=not problems, problems=problems)
