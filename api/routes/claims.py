"""Claims: a villager claims with a scanned code; an official enters a proxy claim or awards points (a claim
too); officials review; anyone of the village may object to a claim on the notice board."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from sqlalchemy import select
from sqlmodel import Session

from api.deps import REPLAY_RESPONSES, IdempotencyKey, KeysDep, SessionDep, allow, created_or_replayed
from api.routes.evidence import evidence_links
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
from ledger.base import utcnow
from ledger.catalogue.models import Matter
from ledger.claims import disputes, review
from ledger.claims import service as claims
from ledger.claims.models import Claim, ClaimStatus, Dispute
from ledger.errors import Invalid
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.tenancy import County

router = APIRouter(prefix="/api/v1/claims", tags=["claims"])
Villager = Annotated[Principal, allow(Role.VILLAGER)]
Official = Annotated[Principal, allow(Role.OFFICIAL)]
Reviewer = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
DeviceId = Annotated[
    str | None,
    Header(alias="X-Device-Id", max_length=128, description="A stable id of the phone, for fraud signals only."),
]
STAFF = (Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)


def claim_out(
    session: Session, claim: Claim, who: Principal, *, replayed: bool = False, evidence: list[int] | None = None
) -> ClaimOut:
    """The claim as this caller may see it. `evidence`: the photo ids, when the caller knows them already."""
    matter = session.get(Matter, claim.matter_id)
    assert matter is not None
    links = (
        evidence_links(session, claim_id=claim.id)
        if evidence is None
        else [f"/api/v1/evidence/{i}" for i in sorted(evidence)]
    )
    fields = claim.model_dump(include=set(ClaimOut.model_fields)) | {
        "matter_code": matter.code,
        "matter_zh": matter.name_zh,
        "matter_en": matter.name_en,
        "evidence": links,
        "replayed": replayed,
    }
    county = session.get(County, claim.county_id)
    assert county is not None
    fields["appeal_until"] = disputes.appeal_deadline(county, claim)
    if who.role not in STAFF:
        return ClaimOut(**fields)
    now = utcnow()
    return ClaimReviewOut(
        **fields,
        entered_by=claim.entered_by,
        decided_by=claim.decided_by,
        age_hours=review.age_hours(claim, now),
        overdue=review.is_overdue(claim, county, now),
        flags=claim.flags,
        note=claim.note,
    )


def _visible(session: Session, who: Principal, claim_id: int) -> Claim:
    claim = session.get(Claim, claim_id)
    if claim is None or not (
        claim.household_id == who.household_id
        if who.role == Role.VILLAGER
        else who.sees_village(claim.village_id, claim.county_id)
    ):
        raise claims.ClaimNotFound("No such claim, or it is not yours to see.", claim_id=claim_id)
    return claim


@router.post("", response_model=ClaimOut, status_code=201, responses=REPLAY_RESPONSES)
def claim(
    body: ClaimIn,
    idempotency_key: IdempotencyKey,
    session: SessionDep,
    keys: KeysDep,
    who: Villager,
    response: Response,
    device: DeviceId = None,
) -> ClaimOut:
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
    result = claims.submit_by_code(
        session, who, keys, token=body.token, details=details, idempotency_key=idempotency_key
    )
    created_or_replayed(response, result.replayed)
    return claim_out(
        session,
        result.value,
        who,
        replayed=result.replayed,
        evidence=None if result.replayed else list(body.evidence_ids),
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
    household_id = household_named(keys, body.household_id, body.household_card)
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


def household_named(keys: codes.Keys, household_id: int | None, household_card: str | None) -> int:
    """The household an official names: by its number, or by the scan of its card's QR code (or both, alike)."""
    if household_card is not None:
        card = codes.read(keys, codes.scanned(household_card))
        if not isinstance(card, codes.HouseholdCard):
            raise codes.CodeInvalid("This is not a household card.", field="household_card")
        if household_id is not None and household_id != card.household_id:
            raise Invalid("household_id and household_card name different households.", field="household_id")
        household_id = card.household_id
    if household_id is None:
        raise Invalid("Name the household (household_id) or scan its card (household_card).", field="household_id")
    return household_id


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
    status: ClaimStatus | None = None,
    village_id: Annotated[int | None, Query(gt=0)] = None,
    overdue: bool = False,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[int | None, Query(gt=0, description="The last id of the page before.")] = None,
) -> list[ClaimOut]:
    """A villager: their household's claims, newest first. Officials: their villages' claims; pending ones
    oldest first (the review queue), with age, overdue mark and fraud flags; `overdue=true` lists the claims
    past the county's review time (for the township supervisor)."""
    query = select(Claim)
    if who.role == Role.VILLAGER:
        query = query.where(Claim.household_id == who.household_id)
    else:
        villages = sorted(who.village_ids) if who.role == Role.OFFICIAL else None
        if village_id is not None:
            villages = [village_id] if villages is None or village_id in villages else []
        query = query.where(Claim.county_id == who.county_id)
        if villages is not None:
            query = query.where(Claim.village_id.in_(villages))  # type: ignore[attr-defined]
    if overdue:
        status = ClaimStatus.PENDING
    if status is not None:
        query = query.where(Claim.status == status)
    oldest_first = status == ClaimStatus.PENDING
    if cursor is not None:
        query = query.where(Claim.id > cursor if oldest_first else Claim.id < cursor)  # type: ignore[operator]
    query = query.order_by(Claim.id if oldest_first else Claim.id.desc())  # type: ignore[union-attr]
    if overdue:  # the county's overdue hours decide; filter after loading a page's worth
        found = [claim_out(session, c, who) for c in session.scalars(query.limit(limit * 5)).all()]
        return [c for c in found if getattr(c, "overdue", False)][:limit]
    return [claim_out(session, c, who) for c in session.scalars(query.limit(limit)).all()]


@router.get("/{claim_id}", response_model=ClaimReviewOut | ClaimOut)
def get_claim(claim_id: int, session: SessionDep, who: Reader) -> ClaimOut:
    return claim_out(session, _visible(session, who, claim_id), who)


@router.post("/{claim_id}/approve", response_model=ClaimReviewOut, status_code=201, responses=REPLAY_RESPONSES)
def approve(
    claim_id: int, idempotency_key: IdempotencyKey, session: SessionDep, who: Reviewer, response: Response
) -> ClaimOut:
    """Approve: the points go on the village notice board, and settle when the notice period is over."""
    decided = review.approve(session, who, claim_id=claim_id, idempotency_key=idempotency_key)
    created_or_replayed(response, decided.replayed)
    return claim_out(session, decided.value, who, replayed=decided.replayed)


@router.post("/{claim_id}/reject", response_model=ClaimReviewOut, status_code=201, responses=REPLAY_RESPONSES)
def reject(
    claim_id: int,
    body: RejectIn,
    idempotency_key: IdempotencyKey,
    session: SessionDep,
    who: Reviewer,
    response: Response,
) -> ClaimOut:
    """Reject, saying why: the household is told and may appeal."""
    decided = review.reject(session, who, claim_id=claim_id, reason=body.reason, idempotency_key=idempotency_key)
    created_or_replayed(response, decided.replayed)
    return claim_out(session, decided.value, who, replayed=decided.replayed)


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


def dispute_out(dispute: Dispute, who: Principal, *, replayed: bool = False) -> DisputeOut:
    """A villager who objected to another household's claim is not told which household it is: the notice board
    may name households anonymously, and an objection must not undo that."""
    shown = dispute.model_dump()
    if who.role == Role.VILLAGER and dispute.household_id != who.household_id:
        shown["household_id"] = None
    return DisputeOut.model_validate({**shown, "replayed": replayed})
