"""The public notice (公示): approved claims and recorded deductions shown on the village's notice board; after the
notice period, with no objection open, a claim's points settle into the household's account.

"Settled" is the word the rating uses: only settled points count towards it (docs/claims.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func, select
from sqlmodel import Session, col

from ledger.catalogue.models import Matter
from ledger.claims import lifecycle, rules
from ledger.claims.models import Claim, ClaimStatus, Deduction, DeductionStatus, Dispute, DisputeStatus
from ledger.core import failures
from ledger.core.base import as_utc, utcnow
from ledger.tenancy import County, Household, NoticeDeductions, NoticePrivacy, Person, Village, touch_record

STEP = "settle_notice"  # the name of the scheduled step (ledger/jobs.py)


def settle_due(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """Settle every approved claim whose notice period is over and that has no open objection. Each claim in a
    savepoint of its own: one that fails (its approval was reversed by hand) is skipped and recorded
    (ledger/core/failures.py), and the others settle."""
    now = now or utcnow()
    open_objection = exists().where(col(Dispute.claim_id) == col(Claim.id), col(Dispute.status) == DisputeStatus.OPEN)
    due = session.execute(
        select(col(Claim.id), col(Claim.county_id))
        .where(col(Claim.status) == ClaimStatus.APPROVED, col(Claim.notice_until) <= now, ~open_objection)
        .order_by(col(Claim.village_id), col(Claim.id))
        .limit(limit)
    ).all()
    settled = 0
    for claim_id, county_id in due:
        with failures.item(session, step=STEP, kind="claim", record_id=claim_id, county_id=county_id):
            claim = session.scalars(select(Claim).where(col(Claim.id) == claim_id).with_for_update()).one()
            if not lifecycle.allows(claim, lifecycle.Transition.SETTLE) or session.scalar(
                select(exists().where(col(Dispute.claim_id) == claim.id, col(Dispute.status) == DisputeStatus.OPEN))
            ):
                continue
            settle(session, claim, now=now)
            settled += 1
    return settled


def backlog(session: Session, *, now: datetime | None = None) -> tuple[int, datetime | None]:
    """The claims `settle_due` would settle now (approved, notice over, no open objection): how many, and the end
    of the oldest one's notice period. Not zero for long only when the schedule is behind or not running."""
    now = now or utcnow()
    open_objection = exists().where(col(Dispute.claim_id) == col(Claim.id), col(Dispute.status) == DisputeStatus.OPEN)
    count, oldest = session.execute(
        select(func.count(), func.min(col(Claim.notice_until))).where(
            col(Claim.status) == ClaimStatus.APPROVED, col(Claim.notice_until) <= now, ~open_objection
        )
    ).one()
    return int(count), as_utc(oldest) if oldest is not None else None


def settle(session: Session, claim: Claim, *, now: datetime | None = None) -> None:
    """Move the claim's points from notice into the household's account (ledger/claims/lifecycle.py: settle). The
    claim is settled as of `now` (the schedule's moment), but never after the journal's clock: a schedule run
    ahead of time settles as of the clock."""
    touch_record(session, claim.household_id)  # settled points: the rating is stale
    lifecycle.move(session, claim, lifecycle.Transition.SETTLE, by="system:notice", now=now or utcnow())
    session.flush()


UNNAMED = rules.notice_name(NoticePrivacy.ANONYMOUS, head_name="", house_number=None)  # 一户村民


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of the notice board, as the village sees it."""

    kind: str  # "claim" or "deduction"
    id: int
    household_id: int
    name: str  # a claim: as the village's privacy policy allows; a deduction: never the household (一户村民)
    named: bool  # False where the board does not name the household
    matter_code: str
    matter_zh: str
    matter_en: str
    points: int  # negative for a deduction
    decided_at: datetime
    notice_until: datetime
    disputed: bool  # an objection or appeal is open


def board(session: Session, village_id: int, *, now: datetime | None = None) -> list[Entry]:
    """Claims in notice, named as the village's privacy policy allows, and deductions recorded within the notice
    period, never named: shown as 一户村民, or not at all where the county says so (County.notice_deductions);
    newest first."""
    now = now or utcnow()
    village = session.get(Village, village_id)
    county = session.get(County, village.county_id) if village else None
    if village is None or county is None:
        return []
    names = household_names(session, village)
    named = village.notice_privacy != NoticePrivacy.ANONYMOUS
    open_disputes = select(col(Dispute.claim_id), col(Dispute.deduction_id)).where(
        col(Dispute.village_id) == village_id, col(Dispute.status) == DisputeStatus.OPEN
    )
    disputed_claims: set[int | None] = set()
    disputed_deductions: set[int | None] = set()
    for claim_id, deduction_id in session.execute(open_disputes).all():
        (disputed_claims if claim_id else disputed_deductions).add(claim_id or deduction_id)
    entries: list[Entry] = []
    claims = session.execute(
        select(Claim, Matter)
        .join(Matter, col(Matter.id) == col(Claim.matter_id))
        .where(col(Claim.village_id) == village_id, col(Claim.status) == ClaimStatus.APPROVED)
    ).all()
    for claim, matter in claims:
        entries.append(
            Entry(
                "claim",
                claim.id,
                claim.household_id,
                names.get(claim.household_id, "?"),
                named and names.get(claim.household_id) != UNNAMED,  # an erased head's household is not named
                matter.code,
                matter.name_zh,
                matter.name_en,
                claim.points,
                as_utc(claim.decided_at),
                as_utc(claim.notice_until),
                claim.id in disputed_claims,
            )
        )
    if county.notice_deductions != NoticeDeductions.HIDDEN:
        entries += _deductions(session, county, village_id, disputed_deductions, now)
    return sorted(entries, key=lambda e: e.decided_at, reverse=True)


def _deductions(
    session: Session, county: County, village_id: int, disputed: set[int | None], now: datetime
) -> list[Entry]:
    """The village's deductions in force recorded within the notice period, none of them naming its household."""
    found: list[Entry] = []
    unnamed = UNNAMED
    since = now - timedelta(days=county.notice_days)
    deductions = session.execute(
        select(Deduction, Matter)
        .join(Matter, col(Matter.id) == col(Deduction.matter_id))
        .where(
            col(Deduction.village_id) == village_id,
            col(Deduction.status) == DeductionStatus.IN_FORCE,
            col(Deduction.recorded_at) >= since,
        )
    ).all()
    for deduction, matter in deductions:
        recorded = as_utc(deduction.recorded_at)
        found.append(
            Entry(
                "deduction",
                deduction.id,
                deduction.household_id,
                unnamed,
                False,
                matter.code,
                matter.name_zh,
                matter.name_en,
                -deduction.points,
                recorded,
                recorded + timedelta(days=county.notice_days),
                deduction.id in disputed,
            )
        )
    return found


def household_names(session: Session, village: Village) -> dict[int, str]:
    """Each household of the village, named as the village's privacy policy allows; a household whose head was
    erased (ledger/people/erasure.py) as 一户村民, whatever the policy: its pseudonym names nobody."""
    rows = session.execute(
        select(col(Household.id), col(Household.house_number), col(Person.name), col(Person.erased_at))
        .join(Person, (col(Person.household_id) == col(Household.id)) & col(Person.is_head))
        .where(col(Household.village_id) == village.id)
    ).all()
    return {
        hid: rules.notice_name(
            NoticePrivacy.ANONYMOUS if erased else village.notice_privacy, head_name=name, house_number=number
        )
        for hid, number, name, erased in rows
    }
