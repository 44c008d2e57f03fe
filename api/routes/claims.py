"""Claims: a villager claims with a scanned code; an official enters a proxy claim or awards points (a claim
too); officials review; anyone of the village may object to a claim on the notice board."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlmodel import Session

from api.deps import (
    REPLAY_RESPONSES,
    Caller,
    IdempotencyKey,
    KeysDep,
    SessionDep,
    allow,
    allow_caller,
    created_or_replayed,
    run,
    written_answer,
)
from api.paging import link_next
from api.presentation.claims import ClaimView, claim_out, claim_view, claims_out, dispute_out
from api.schemas.claims import (
    AwardIn,
    BulkApproveIn,
    BulkApproveOut,
    ClaimCheckOut,
    ClaimIn,
    ClaimOut,
    ClaimReviewOut,
    DisputeOut,
    ObjectionIn,
    ProxyClaimIn,
    RejectIn,
)
from ledger.activities import codes
from ledger.claims import access, disputes, review
from ledger.claims import service as claims
from ledger.claims.models import ClaimStatus
from ledger.identity.models import Role
from ledger.identity.principal import Principal

router = APIRouter(prefix="/api/v1/claims", tags=["claims"])
Villager = Annotated[Principal, allow(Role.VILLAGER)]
VillagerCaller = Annotated[Caller, allow_caller(Role.VILLAGER)]
Official = Annotated[Principal, allow(Role.OFFICIAL)]
Reviewer = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]
ReviewerCaller = Annotated[Caller, allow_caller(Role.OFFICIAL, Role.COUNTY_ADMIN)]
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
DeviceId = Annotated[
    str | None,
    Header(alias="X-Device-Id", max_length=128, description="A stable id of the phone, for fraud signals only."),
]


@router.post("", response_model=ClaimOut, status_code=201, responses=REPLAY_RESPONSES, response_class=JSONResponse)
async def claim(
    body: ClaimIn,
    idempotency_key: IdempotencyKey,
    request: Request,
    keys: KeysDep,
    caller: VillagerCaller,
    device: DeviceId = None,
) -> Response:
    """Claim points for your household with the code you scanned. Awaits review, or is approved at once when the
    matter allows it and the code was shown live by an official."""
    details = claims.Details(
        evidence_ids=tuple(body.evidence_ids),
        lat=body.lat,
        lon=body.lon,
        note=body.note,
        device=device,
        scan_ticket=body.scan_ticket,
    )
    view = await run(request, caller, _claim, keys, body.token, details, idempotency_key)
    return written_answer(view.model(), view.fields["replayed"])


def _claim(
    session: Session, who: Principal, keys: codes.Keys, token: str, details: claims.Details, idempotency_key: str
) -> ClaimView:
    result = claims.submit_by_code(session, who, keys, token=token, details=details, idempotency_key=idempotency_key)
    return claim_view(
        session,
        result.value,
        who,
        replayed=result.replayed,
        evidence=None if result.replayed else list(details.evidence_ids),
    )


@router.post("/proxy", response_model=ClaimReviewOut, status_code=201, responses=REPLAY_RESPONSES)
def proxy_claim(
    body: ProxyClaimIn,
    idempotency_key: IdempotencyKey,
    session: SessionDep,
    keys: KeysDep,
    who: Official,
    response: Response,
) -> ClaimOut:
    """Enter a claim for a household without a smartphone: name it, or give the token of its card's QR code.
    Another official approves it."""
    household_id = codes.household_named(keys, body.household_id, body.household_card)
    details = claims.Details(evidence_ids=tuple(body.evidence_ids), note=body.note)
    result = claims.submit_proxy(
        session,
        who,
        activity_id=body.activity_id,
        household_id=household_id,
        person_id=body.person_id,
        details=details,
        idempotency_key=idempotency_key,
    )
    created_or_replayed(response, result.replayed)
    return claim_out(session, result.value, who, replayed=result.replayed)


@router.post("/awards", response_model=ClaimReviewOut, status_code=201, responses=REPLAY_RESPONSES)
def award(
    body: AwardIn, idempotency_key: IdempotencyKey, session: SessionDep, who: Reviewer, response: Response
) -> ClaimOut:
    """Award a household of your village the points of a catalogue matter, saying why (with the photos the
    matter asks for). It is a claim entered by you: the matter's caps count it, it goes on the notice board and
    settles like any claim. Worth more than the county's `award_second_official_points`, it waits for another
    official's approval. Never for your own household (403 `conflict_of_interest`)."""
    details = claims.Details(evidence_ids=tuple(body.evidence_ids), note=body.note)
    result = claims.submit_award(
        session,
        who,
        household_id=body.household_id,
        matter_code=body.matter_code,
        reason=body.reason,
        person_id=body.person_id,
        details=details,
        idempotency_key=idempotency_key,
    )
    created_or_replayed(response, result.replayed)
    return claim_out(session, result.value, who, replayed=result.replayed)


@router.get("/check", response_model=ClaimCheckOut)
def check_claim(
    token: Annotated[str, Query(min_length=8, max_length=300)],
    session: SessionDep,
    keys: KeysDep,
    who: Villager,
    device: DeviceId = None,
    scan_ticket: Annotated[str | None, Query(min_length=8, max_length=96)] = None,
) -> ClaimCheckOut:
    """Would a claim with this scanned code be taken now? 200 when it would (the photo, where the matter needs
    one, aside); otherwise the very refusal the claim would get, e.g. 409 `already_claimed` with its claim_id.
    Changes nothing: ask before taking the photo."""
    claims.check(session, who, keys, token=token, device=device, scan_ticket=scan_ticket)
    return ClaimCheckOut(may_claim=True)


@router.get("", response_model=list[ClaimReviewOut] | list[ClaimOut])
def list_claims(
    session: SessionDep,
    who: Reader,
    request: Request,
    response: Response,
    status: ClaimStatus | None = None,
    village_id: Annotated[int | None, Query(gt=0)] = None,
    overdue: bool = False,
    escalated: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[int | None, Query(gt=0, description="The last id of the page before.")] = None,
) -> list[ClaimOut]:
    """A villager: their household's claims, newest first. Officials: their villages' claims; pending ones
    oldest first (the review queue), those sent up to the township supervisor (`escalated_at`: not decided
    within the county's overdue hours) before the others, with age, overdue mark and fraud flags;
    `overdue=true` lists the claims past the county's review time, `escalated=true` those sent up (for the
    township supervisor). A page at a time: the `Link` header names the next page (README, "Lists")."""
    found = access.visible_claims(
        session,
        who,
        status=status,
        village_id=village_id,
        overdue=overdue,
        escalated=escalated,
        limit=limit + 1,  # one more only says that more follow
        cursor=cursor,
    )
    if len(found) > limit:
        found = found[:limit]
        link_next(request, response, str(found[-1].id))
    return claims_out(session, found, who)


@router.get("/{claim_id}", response_model=ClaimReviewOut | ClaimOut)
def get_claim(claim_id: int, session: SessionDep, who: Reader) -> ClaimOut:
    return claim_out(session, access.visible_claim(session, who, claim_id), who)


@router.post(
    "/{claim_id}/approve",
    response_model=ClaimReviewOut,
    status_code=201,
    responses=REPLAY_RESPONSES,
    response_class=JSONResponse,
)
async def approve(claim_id: int, idempotency_key: IdempotencyKey, request: Request, caller: ReviewerCaller) -> Response:
    """Approve: the points go on the village notice board, and settle when the notice period is over."""
    view = await run(request, caller, _approve, claim_id, idempotency_key)
    return written_answer(view.model(), view.fields["replayed"])


def _approve(session: Session, who: Principal, claim_id: int, idempotency_key: str) -> ClaimView:
    decided = review.approve(session, who, claim_id=claim_id, idempotency_key=idempotency_key)
    return claim_view(session, decided.value, who, replayed=decided.replayed)


@router.post(
    "/{claim_id}/reject",
    response_model=ClaimReviewOut,
    status_code=201,
    responses=REPLAY_RESPONSES,
    response_class=JSONResponse,
)
async def reject(
    claim_id: int, body: RejectIn, idempotency_key: IdempotencyKey, request: Request, caller: ReviewerCaller
) -> Response:
    """Reject, saying why: the household is told and may appeal."""
    view = await run(request, caller, _reject, claim_id, body.reason, idempotency_key)
    return written_answer(view.model(), view.fields["replayed"])


def _reject(session: Session, who: Principal, claim_id: int, reason: str, idempotency_key: str) -> ClaimView:
    decided = review.reject(session, who, claim_id=claim_id, reason=reason, idempotency_key=idempotency_key)
    return claim_view(session, decided.value, who, replayed=decided.replayed)


@router.post("/bulk-approve", response_model=BulkApproveOut, status_code=201, responses=REPLAY_RESPONSES)
def bulk_approve(
    body: BulkApproveIn, idempotency_key: IdempotencyKey, session: SessionDep, who: Reviewer, response: Response
) -> BulkApproveOut:
    bulk = review.bulk_approve(session, who, claim_ids=body.claim_ids, idempotency_key=idempotency_key)
    created_or_replayed(response, bulk.replayed)
    return BulkApproveOut(outcomes=bulk.value, replayed=bulk.replayed)


@router.post("/{claim_id}/objections", response_model=DisputeOut, status_code=201, responses=REPLAY_RESPONSES)
def object_to(
    claim_id: int,
    body: ObjectionIn,
    idempotency_key: IdempotencyKey,
    session: SessionDep,
    who: Villager,
    response: Response,
) -> DisputeOut:
    """Object to a claim on your village's notice board while it is in notice; it will not settle until an
    official has looked at the objection."""
    opened = disputes.object_to(session, who, claim_id=claim_id, reason=body.reason, idempotency_key=idempotency_key)
    created_or_replayed(response, opened.replayed)
    return dispute_out(opened.value, who, replayed=opened.replayed)
