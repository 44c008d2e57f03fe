"""Claims, disputes, deductions and the village's notice board and leaderboard, as the API (and the pages) show
them. What a caller sees of a claim depends on who they are (staff see its review side); whether they may see it
at all, `ledger.claims.access` decides first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session

from api.schemas.claims import (
    ClaimOut,
    ClaimReviewOut,
    DeductionOut,
    DisputeOut,
    LeaderboardOut,
    LeaderOut,
    NoticeBoardOut,
    NoticeEntryOut,
)
from ledger import figures
from ledger.catalogue.models import Matter
from ledger.claims import access, disputes, notice, review
from ledger.claims.models import Claim, Deduction, Dispute
from ledger.core import paging
from ledger.core.base import utcnow
from ledger.identity.principal import Principal
from ledger.tenancy import County, Village


def evidence_links(session: Session, *, claim_id: int | None = None, deduction_id: int | None = None) -> list[str]:
    """Where a claim's or a deduction's photos are served."""
    ids = access.evidence_ids(session, claim_id=claim_id, deduction_id=deduction_id)
    return [f"/api/v1/evidence/{i}" for i in ids]


def claim_out(
    session: Session, claim: Claim, who: Principal, *, replayed: bool = False, evidence: list[int] | None = None
) -> ClaimOut:
    """The claim as this caller may see it. `evidence`: the photo ids, when the caller knows them already."""
    return claim_view(session, claim, who, replayed=replayed, evidence=evidence).model()


@dataclass(frozen=True, slots=True)
class ClaimView:
    """What a caller may see of a claim, as plain values read in the unit of work; `model()` builds the answer
    (after the commit, on a route that runs its work with api.deps.run)."""

    schema: type[ClaimOut]
    fields: dict[str, Any]

    def model(self) -> ClaimOut:
        return self.schema(**self.fields)


def claim_view(
    session: Session, claim: Claim, who: Principal, *, replayed: bool = False, evidence: list[int] | None = None
) -> ClaimView:
    """`claim_out`'s values, without building the answer."""
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
    if not access.is_staff(who):
        return ClaimView(ClaimOut, fields)
    now = utcnow()
    return ClaimView(
        ClaimReviewOut,
        fields
        | {
            "entered_by": claim.entered_by,
            "decided_by": claim.decided_by,
            "age_hours": review.age_hours(claim, now),
            "overdue": review.is_overdue(claim, county, now),
            "escalated_at": claim.escalated_at,
            "flags": claim.flags,
            "note": claim.note,
        },
    )


def dispute_out(dispute: Dispute, who: Principal, *, replayed: bool = False) -> DisputeOut:
    """A villager who objected to another household's claim is not told which household it is."""
    shown = dispute.model_dump()
    if not access.sees_disputed_household(who, dispute):
        shown["household_id"] = None
    return DisputeOut.model_validate({**shown, "replayed": replayed})


def deduction_out(session: Session, deduction: Deduction, *, replayed: bool = False) -> DeductionOut:
    matter = session.get(Matter, deduction.matter_id)
    assert matter is not None
    county = session.get(County, deduction.county_id)
    assert county is not None
    return DeductionOut(
        **deduction.model_dump(include=set(DeductionOut.model_fields)),
        matter_code=matter.code,
        appeal_until=disputes.appeal_deadline(county, deduction),
        evidence=evidence_links(session, deduction_id=deduction.id),
        replayed=replayed,
    )


def notice_board_out(
    session: Session, village: Village, *, cursor: str | None = None, limit: int = paging.PAGE
) -> NoticeBoardOut:
    """Approved claims in their notice period, named as the village's privacy allows, and recent deductions,
    never named (or not shown, as the county says); newest first, a page at a time."""
    assert village.id is not None
    page = notice.board_page(session, village.id, cursor=cursor, limit=limit)
    return NoticeBoardOut(
        village_id=village.id,
        village=village.name,
        entries=[
            NoticeEntryOut(
                kind=e.kind,
                id=e.id,
                name=e.name,
                named=e.named,
                matter_code=e.matter_code,
                matter_zh=e.matter_zh,
                matter_en=e.matter_en,
                points=e.points,
                decided_at=e.decided_at,
                notice_until=e.notice_until,
                disputed=e.disputed,
            )
            for e in page.rows
        ],
        next_cursor=page.next_cursor,
    )


def leaderboard_out(
    session: Session,
    village: Village,
    who: Principal,
    *,
    period: Literal["month", "quarter", "year"] = "month",
    at: datetime | None = None,
    cursor: str | None = None,
    limit: int = paging.PAGE,
) -> LeaderboardOut:
    """Households ranked by settled points less deductions in the month, quarter or year around `at` (now), a page
    at a time; `me` is the caller's own household wherever it ranks."""
    assert village.id is not None
    label, leaders, next_cursor, own = figures.village_leaderboard_page(
        session,
        village,
        period=period,
        at=at or utcnow(),
        cursor=cursor,
        limit=limit,
        household_id=who.household_id,
    )
    return LeaderboardOut(
        village_id=village.id,
        period=period,
        label=label,
        leaders=[
            LeaderOut(rank=r.rank, name=r.name, points=r.points, mine=r.household_id == who.household_id)
            for r in leaders
        ],
        next_cursor=next_cursor,
        me=LeaderOut(rank=own.rank, name=own.name, points=own.points, mine=True) if own is not None else None,
    )
