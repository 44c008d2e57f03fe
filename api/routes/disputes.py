"""Deductions, appeals, and the officials' handling of objections and appeals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import REPLAY_RESPONSES, IdempotencyKey, SessionDep, allow, created_or_replayed
from api.paging import Cursor, Limit, link_next
from api.presentation.claims import deduction_out, deductions_out, dispute_out
from api.schemas.claims import AppealIn, DeductionIn, DeductionOut, DisputeOut, ResolveDisputeIn
from ledger.claims import access, deductions, disputes
from ledger.claims.models import DisputeKind, DisputeStatus
from ledger.core import paging
from ledger.identity.models import Role
from ledger.identity.principal import Principal

router = APIRouter(prefix="/api/v1", tags=["deductions and disputes"])
Villager = Annotated[Principal, allow(Role.VILLAGER)]
Staff = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]


@router.post("/deductions", response_model=DeductionOut, status_code=201, responses=REPLAY_RESPONSES)
def record_deduction(
    body: DeductionIn, idempotency_key: IdempotencyKey, session: SessionDep, who: Staff, response: Response
) -> DeductionOut:
    """Record a deduction against a household. It takes what the spendable balance allows; the rest is recorded
    as unpaid, counted by the rating, never collected."""
    recorded = deductions.record(
        session,
        who,
        household_id=body.household_id,
        matter_code=body.matter_code,
        reason=body.reason,
        evidence_ids=tuple(body.evidence_ids),
        idempotency_key=idempotency_key,
    )
    created_or_replayed(response, recorded.replayed)
    return deduction_out(session, recorded.value, replayed=recorded.replayed)


@router.get("/deductions", response_model=list[DeductionOut])
def list_deductions(
    session: SessionDep,
    who: Reader,
    request: Request,
    response: Response,
    village_id: Annotated[int | None, Query(gt=0)] = None,
    cursor: Cursor = None,
    limit: Limit = paging.PAGE,
) -> list[DeductionOut]:
    """A villager: deductions against their household. Staff: their villages'. Newest first, a page at a time:
    the `Link` header names the next page (README, "Lists")."""
    page = access.deduction_page(session, who, village_id=village_id, cursor=cursor, limit=limit)
    link_next(request, response, page.next_cursor)
    return deductions_out(session, page.rows)


@router.post("/appeals", response_model=DisputeOut, status_code=201, responses=REPLAY_RESPONSES)
def appeal(
    body: AppealIn, idempotency_key: IdempotencyKey, session: SessionDep, who: Villager, response: Response
) -> DisputeOut:
    """Appeal against a rejection of your household's claim or a deduction against it (within the county's
    appeal days)."""
    opened = disputes.appeal(
        session,
        who,
        claim_id=body.claim_id,
        deduction_id=body.deduction_id,
        reason=body.reason,
        idempotency_key=idempotency_key,
    )
    created_or_replayed(response, opened.replayed)
    return dispute_out(opened.value, who, replayed=opened.replayed)


@router.get("/disputes", response_model=list[DisputeOut])
def list_disputes(
    session: SessionDep,
    who: Reader,
    request: Request,
    response: Response,
    status: DisputeStatus | None = None,
    kind: DisputeKind | None = None,
    village_id: Annotated[int | None, Query(gt=0)] = None,
    cursor: Cursor = None,
    limit: Limit = paging.PAGE,
) -> list[DisputeOut]:
    """Objections and appeals: a villager sees those about or raised by their household; staff their villages',
    oldest first, a page at a time: the `Link` header names the next page (README, "Lists")."""
    page = access.dispute_page(
        session, who, status=status, kind=kind, village_id=village_id, cursor=cursor, limit=limit
    )
    link_next(request, response, page.next_cursor)
    return [dispute_out(d, who) for d in page.rows]


@router.post("/disputes/{dispute_id}/resolve", response_model=DisputeOut, status_code=201, responses=REPLAY_RESPONSES)
def resolve(
    dispute_id: int,
    body: ResolveDisputeIn,
    idempotency_key: IdempotencyKey,
    session: SessionDep,
    who: Staff,
    response: Response,
) -> DisputeOut:
    """Uphold (a claim in notice is reversed; a rejected claim is approved after all; a deduction is revoked) or
    dismiss."""
    resolved = disputes.resolve(
        session,
        who,
        dispute_id=dispute_id,
        upheld=body.outcome == "upheld",
        note=body.note,
        idempotency_key=idempotency_key,
    )
    created_or_replayed(response, resolved.replayed)
    return dispute_out(resolved.value, who, replayed=resolved.replayed)
