"""The journal over HTTP: one transaction, officials' point awards and their post / void / reverse, and the
signed chain head that auditors and banks pin."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Response, status
from sqlmodel import Session

from api import tokens
from api.deps import IdempotencyKey, SessionDep, SettingsDep, allow, created_or_replayed, public
from api.routes.households import visible_household
from api.schemas import (
    PostingOut,
    ResolveIn,
    ReverseIn,
    SignedHeadOut,
    TransactionOut,
    TransferIn,
    VerifyPinnedIn,
    VerifyPinnedOut,
)
from ledger.identity.models import PartnerKind, Role
from ledger.identity.principal import Principal
from ledger.journal import accounts, head
from ledger.journal import service as journal
from ledger.journal.errors import TransactionNotFound
from ledger.journal.models import AccountKind
from ledger.journal.service import TxRecord
from ledger.tenancy import HouseholdNotFound

router = APIRouter(prefix="/api/v1/ledger", tags=["ledger"])

Writer = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
HeadReader = Annotated[
    Principal, allow(Role.COUNTY_ADMIN, Role.AUDITOR, partner_kinds=(PartnerKind.BANK,), scope="ledger:head")
]


def transaction_out(record: TxRecord, response: Response | None = None) -> TransactionOut:
    if response is not None:
        created_or_replayed(response, record.replayed)
    return TransactionOut(
        **{f: getattr(record, f) for f in TransactionOut.model_fields if f not in ("postings",)},
        postings=[PostingOut(account_id=leg.account_id, amount=leg.amount) for leg in record.postings],
    )


def _visible_transaction(session: Session, principal: Principal, transaction_id: int) -> TxRecord:
    missing = TransactionNotFound("No such transaction, or it is not yours to see.", transaction_id=transaction_id)
    try:
        record = journal.get_transaction(session, transaction_id)
    except TransactionNotFound:
        raise missing from None
    if principal.role == Role.VILLAGER:
        own = accounts.of_household(session, principal.household_id or 0).id
        if own not in {leg.account_id for leg in record.postings}:
            raise missing
    elif not principal.sees_village(record.village_id, record.county_id):
        raise missing
    return record


def _managed_transaction(session: Session, principal: Principal, transaction_id: int) -> TxRecord:
    record = _visible_transaction(session, principal, transaction_id)
    if not principal.manages_village(record.village_id, record.county_id):
        raise TransactionNotFound("No such transaction, or it is not yours to change.", transaction_id=transaction_id)
    return record


@router.get("/transactions/{transaction_id}", response_model=TransactionOut)
def get_transaction(transaction_id: int, session: SessionDep, principal: Reader) -> TransactionOut:
    return transaction_out(_visible_transaction(session, principal, transaction_id))


@router.post("/transfers", response_model=TransactionOut, status_code=status.HTTP_201_CREATED,
             responses={200: {"description": "A replay of an earlier request with the same Idempotency-Key"}})
def award(
    body: TransferIn, idempotency_key: IdempotencyKey, session: SessionDep, principal: Writer, response: Response
) -> TransactionOut:
    """Award points from the village's issuance account to a household; `pending` holds them in notice."""
    household = visible_household(session, principal, body.household_id)
    if not principal.manages_village(household.village_id, household.county_id):
        raise HouseholdNotFound("No such household, or it is not yours to see.", household_id=body.household_id)
    record = journal.transfer(
        session,
        debit=accounts.of_village(session, household.village_id, AccountKind.ISSUANCE).id,  # type: ignore[arg-type]
        credit=accounts.of_household(session, body.household_id).id,  # type: ignore[arg-type]
        amount=body.points,
        reason=body.reason,
        actor=principal.actor,
        pending=body.pending,
        timeout=timedelta(seconds=body.timeout_seconds) if body.timeout_seconds else None,
        meta={"memo": body.memo} if body.memo else None,
        idempotency_key=idempotency_key,
    )
    return transaction_out(record, response)


@router.post("/transactions/{transaction_id}/post", response_model=TransactionOut,
             status_code=status.HTTP_201_CREATED)
def post(transaction_id: int, body: ResolveIn, idempotency_key: IdempotencyKey, session: SessionDep,
         principal: Writer, response: Response) -> TransactionOut:
    """Settle a pending transfer."""
    _managed_transaction(session, principal, transaction_id)
    record = journal.post_pending(session, pending_id=transaction_id, actor=principal.actor, reason=body.reason,
                                  idempotency_key=idempotency_key)
    return transaction_out(record, response)


@router.post("/transactions/{transaction_id}/void", response_model=TransactionOut,
             status_code=status.HTTP_201_CREATED)
def void(transaction_id: int, body: ResolveIn, idempotency_key: IdempotencyKey, session: SessionDep,
         principal: Writer, response: Response) -> TransactionOut:
    """Cancel a pending transfer."""
    _managed_transaction(session, principal, transaction_id)
    record = journal.void_pending(session, pending_id=transaction_id, actor=principal.actor, reason=body.reason,
                                  idempotency_key=idempotency_key)
    return transaction_out(record, response)


@router.post("/transactions/{transaction_id}/reverse", response_model=TransactionOut,
             status_code=status.HTTP_201_CREATED)
def reverse(transaction_id: int, body: ReverseIn, idempotency_key: IdempotencyKey, session: SessionDep,
            principal: Writer, response: Response) -> TransactionOut:
    """Correct a posted transaction with its mirror image, linked to it. Once only."""
    _managed_transaction(session, principal, transaction_id)
    record = journal.reverse(session, transaction_id=transaction_id, actor=principal.actor, reason=body.reason,
                             idempotency_key=idempotency_key)
    return transaction_out(record, response)


@router.get("/head", response_model=SignedHeadOut)
def signed_head(session: SessionDep, settings: SettingsDep, principal: HeadReader) -> SignedHeadOut:
    """The county's chain head (every village head and their root), signed ES256. Pin it; check it later."""
    payload = head.county_head(session, principal.county_id)
    return SignedHeadOut(jws=tokens.sign_head(settings, payload), head=payload)


@router.get("/head/key", dependencies=[public()])
def head_key(settings: SettingsDep) -> dict[str, object]:
    """The public key (JWK) that checks signed chain heads."""
    return {"keys": [tokens.head_public_jwk(settings)]}


@router.post("/head/check", response_model=VerifyPinnedOut)
def check_pinned(body: VerifyPinnedIn, session: SessionDep, settings: SettingsDep,
                 principal: HeadReader) -> VerifyPinnedOut:
    """Is a head pinned earlier still part of today's chain? Proves history was only appended to."""
    payload = tokens.read_signed_head(tokens.head_public_jwk(settings), body.jws)
    if payload.get("county_id") != principal.county_id:
        return VerifyPinnedOut(intact=False, problems=["this head belongs to another county"])
    problems = head.still_in_chain(session, payload)
    return VerifyPinnedOut(intact=not problems, problems=problems)
