"""Claims, disputes, deductions and the village's notice board and leaderboard, as the API (and the pages) show
them. What a caller sees of a claim depends on who they are (staff see its review side); whether they may see it
at all, `ledger.claims.access` decides first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import select
from sqlmodel import Session, SQLModel, col

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
from ledger.core.base import row_id, utcnow
from ledger.identity.principal import Principal
from ledger.tenancy import County, Village

Row = TypeVar("Row", bound=SQLModel)


def evidence_links(session: Session, *, claim_id: int | None = None, deduction_id: int | None = None) -> list[str]:
    """Where a claim's or a deduction's photos are served."""
    ids = access.evidence_ids(session, claim_id=claim_id, deduction_id=deduction_id)
    return _links(ids)


def _links(ids: Iterable[int]) -> list[str]:
    return [f"/api/v1/evidence/{i}" for i in sorted(ids)]


def _rows(session: Session, model: type[Row], ids: Iterable[int]) -> dict[int, Row]:
    """Rows of one table by id, in one query (the presenters' matters and counties: a page shows many claims of
    few matters)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    found = session.scalars(select(model).where(col(model.id).in_(wanted))).all()  # type: ignore[attr-defined]
    return {row.id: row for row in found}  # type: ignore[attr-defined]


def claim_out(
    session: Session, claim: Claim, who: Principal, *, replayed: bool = False, evidence: list[int] | None = None
) -> ClaimOut:
    """The claim as this caller may see it. `evidence`: the photo ids, when the caller knows them already."""
    return claim_view(session, claim, who, replayed=replayed, evidence=evidence).model()


def claims_out(session: Session, claims: Sequence[Claim], who: Principal) -> list[ClaimOut]:
    """Many claims as this caller may see them (`claim_out` for each), read in three queries however many: their
    matters, their counties and their photos."""
    matters = _rows(session, Matter, (c.matter_id for c in claims))
    counties = _rows(session, County, (c.county_id for c in claims))
    evidence = access.evidence_of(session, claim_ids=[row_id(c.id) for c in claims])
    now = utcnow()
    return [
        _claim_view(c, who, matters[c.matter_id], counties[c.county_id], evidence.get(row_id(c.id), []), now).model()
        for c in claims
    ]


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
    county = session.get(County, claim.county_id)
    assert matter is not None
    assert county is not None
    if evidence is None:
        evidence = access.evidence_ids(session, claim_id=claim.id)
    return _claim_view(claim, who, matter, county, evidence, utcnow(), replayed=replayed)


def _claim_view(
    claim: Claim,
    who: Principal,
    matter: Matter,
    county: County,
    evidence: Iterable[int],
    now: datetime,
    *,
    replayed: bool = False,
) -> ClaimView:
    fields = claim.model_dump(include=set(ClaimOut.model_fields)) | {
        "matter_code": matter.code,
        "matter_zh": matter.name_zh,
        "matter_en": matter.name_en,
        "evidence": _links(evidence),
        "replayed": replayed,
    }
    fields["appeal_until"] = disputes.appeal_deadline(county, claim)
    if not access.is_staff(who):
        return ClaimView(ClaimOut, fields)
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
    county = session.get(County, deduction.county_id)
    assert matter is not None
    assert county is not None
    evidence = access.evidence_ids(session, deduction_id=deduction.id)
    return _deduction_out(deduction, matter, county, evidence, replayed=replayed)


def deductions_out(session: Session, deductions: Sequence[Deduction]) -> list[DeductionOut]:
    """Many deductions (`deduction_out` for each), read in three queries however many."""
    matters = _rows(session, Matter, (d.matter_id for d in deductions))
    counties = _rows(session, County, (d.county_id for d in deductions))
    evidence = access.evidence_of(session, deduction_ids=[row_id(d.id) for d in deductions])
    return [
        _deduction_out(d, matters[d.matter_id], counties[d.county_id], evidence.get(row_id(d.id), []))
        for d in deductions
    ]


def _deduction_out(
    deduction: Deduction, matter: Matter, county: County, evidence: Iterable[int], *, replayed: bool = False
) -> DeductionOut:
    return DeductionOut(
        **deduction.model_dump(include=set(DeductionOut.model_fields)),
        matter_code=matter.code,
        appeal_until=disputes.appeal_deadline(county, deduction),
        evidence=_links(evidence),
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
