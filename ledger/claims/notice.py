"""The public notice (公示): approved claims and recorded deductions shown on the village's notice board; after the
notice period, with no objection open, a claim's points settle into the household's account.

"Settled" is the word the rating uses: only settled points count towards it (docs/claims.md).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, literal, or_, select, union_all
from sqlmodel import Session, col

from ledger.catalogue.models import Matter
from ledger.claims import lifecycle, rules
from ledger.claims.models import Claim, ClaimStatus, Deduction, DeductionStatus, Dispute, DisputeStatus
from ledger.core import failures, paging
from ledger.core.base import as_utc, utcnow
from ledger.core.errors import Invalid
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
    newest first. The whole board: `board_page` reads it a page at a time."""
    return _board(session, village_id, now=now or utcnow(), after=None, limit=None)


def board_page(
    session: Session,
    village_id: int,
    *,
    cursor: str | None = None,
    limit: int = paging.PAGE,
    now: datetime | None = None,
) -> paging.Page[Entry]:
    """`board` a page at a time after `cursor`, reading only the entries shown."""
    key = paging.decode(cursor, int, str, int)
    limit = paging.bounded(limit)
    after = None
    if key is not None:
        moment, kind, entry_id = int(key[0]), str(key[1]), int(key[2])
        if kind not in ("claim", "deduction"):
            raise Invalid("This cursor is not one this list gave.", field="cursor")
        after = (paging.moment(moment), kind, entry_id)
    rows = _board(session, village_id, now=now or utcnow(), after=after, limit=limit + 1)
    return paging.cut(rows, limit, _key)


def claim_entry(session: Session, village_id: int, claim_id: int, *, now: datetime | None = None) -> Entry | None:
    """The board's entry of one claim, as the board shows it; None when it is not on the board."""
    found = _board(session, village_id, now=now or utcnow(), after=None, limit=None, claim_id=claim_id)
    return found[0] if found else None


def deductions_on_board(
    session: Session, deduction_ids: Collection[int], *, now: datetime | None = None
) -> dict[int, datetime]:
    """Of these deductions, those on their village's notice board now (unnamed), with the end of their notice."""
    if not deduction_ids:
        return {}
    now = now or utcnow()
    found: dict[int, datetime] = {}
    rows = session.execute(
        select(col(Deduction.id), col(Deduction.recorded_at), col(County.notice_days))
        .join(County, col(County.id) == col(Deduction.county_id))
        .where(
            col(Deduction.id).in_(list(deduction_ids)),
            col(Deduction.status) == DeductionStatus.IN_FORCE,
            col(County.notice_deductions) != NoticeDeductions.HIDDEN,
        )
    ).all()
    for deduction_id, recorded_at, days in rows:
        until = as_utc(recorded_at) + timedelta(days=days)
        if as_utc(recorded_at) >= now - timedelta(days=days):
            found[deduction_id] = until
    return found


def _key(entry: Entry) -> paging.Key:
    return (paging.micros(entry.decided_at), entry.kind, entry.id)


def _board(
    session: Session,
    village_id: int,
    *,
    now: datetime,
    after: tuple[datetime, str, int] | None,
    limit: int | None,
    claim_id: int | None = None,
) -> list[Entry]:
    """The board's entries newest first (then claims before deductions, then the later id first), after the
    entry `after`, at most `limit` of them; only those are read, named and checked for open disputes."""
    village = session.get(Village, village_id)
    county = session.get(County, village.county_id) if village else None
    if village is None or county is None:
        return []
    parts: list[Any] = [
        select(
            literal("claim").label("kind"),
            col(Claim.id).label("id"),
            col(Claim.household_id).label("household_id"),
            col(Claim.matter_id).label("matter_id"),
            col(Claim.points).label("points"),
            col(Claim.decided_at).label("moment"),
            col(Claim.notice_until).label("until"),
        ).where(
            col(Claim.village_id) == village_id,
            col(Claim.status) == ClaimStatus.APPROVED,
            *([col(Claim.id) == claim_id] if claim_id is not None else []),
        )
    ]
    if county.notice_deductions != NoticeDeductions.HIDDEN and claim_id is None:
        parts.append(
            select(
                literal("deduction").label("kind"),
                col(Deduction.id).label("id"),
                col(Deduction.household_id).label("household_id"),
                col(Deduction.matter_id).label("matter_id"),
                (-col(Deduction.points)).label("points"),
                col(Deduction.recorded_at).label("moment"),
                col(Deduction.recorded_at).label("until"),
            ).where(
                col(Deduction.village_id) == village_id,
                col(Deduction.status) == DeductionStatus.IN_FORCE,
                col(Deduction.recorded_at) >= now - timedelta(days=county.notice_days),
            )
        )
    both = union_all(*parts).subquery()
    query = select(both)
    if after is not None:
        moment, kind, entry_id = after
        query = query.where(
            or_(
                both.c.moment < moment,
                (both.c.moment == moment) & (both.c.kind > kind),
                (both.c.moment == moment) & (both.c.kind == kind) & (both.c.id < entry_id),
            )
        )
    query = query.order_by(both.c.moment.desc(), both.c.kind, both.c.id.desc())
    rows = session.execute(query.limit(limit) if limit is not None else query).all()
    if not rows:
        return []
    claim_ids = [r.id for r in rows if r.kind == "claim"]
    deduction_ids = [r.id for r in rows if r.kind == "deduction"]
    disputed: set[tuple[str, int]] = set()
    for disputed_claim, disputed_deduction in session.execute(
        select(col(Dispute.claim_id), col(Dispute.deduction_id)).where(
            col(Dispute.village_id) == village_id,
            col(Dispute.status) == DisputeStatus.OPEN,
            col(Dispute.claim_id).in_(claim_ids) | col(Dispute.deduction_id).in_(deduction_ids),
        )
    ).all():
        disputed.add(("claim", disputed_claim) if disputed_claim else ("deduction", disputed_deduction))
    matters = {m.id: m for m in session.scalars(select(Matter).where(col(Matter.id).in_({r.matter_id for r in rows})))}
    names = household_names(session, village, {r.household_id for r in rows if r.kind == "claim"})
    named = village.notice_privacy != NoticePrivacy.ANONYMOUS
    entries = []
    for r in rows:
        matter = matters[r.matter_id]
        moment = as_utc(r.moment)
        claimed = r.kind == "claim"
        entries.append(
            Entry(
                r.kind,
                r.id,
                r.household_id,
                names.get(r.household_id, "?") if claimed else UNNAMED,
                named and claimed and names.get(r.household_id) != UNNAMED,  # an erased head's household: unnamed
                matter.code,
                matter.name_zh,
                matter.name_en,
                r.points,
                moment,
                as_utc(r.until) if claimed else moment + timedelta(days=county.notice_days),
                (r.kind, r.id) in disputed,
            )
        )
    return entries


def household_names(session: Session, village: Village, ids: Collection[int] | None = None) -> dict[int, str]:
    """Each household of the village (or those of `ids` only), named as the village's privacy policy allows; a
    household whose head was erased (ledger/people/erasure.py) as 一户村民, whatever the policy: its pseudonym
    names nobody."""
    query = (
        select(col(Household.id), col(Household.house_number), col(Person.name), col(Person.erased_at))
        .join(Person, (col(Person.household_id) == col(Household.id)) & col(Person.is_head))
        .where(col(Household.village_id) == village.id)
    )
    if ids is not None:
        query = query.where(col(Household.id).in_(list(ids)))
    rows = session.execute(query).all()
    return {
        hid: rules.notice_name(
            NoticePrivacy.ANONYMOUS if erased else village.notice_privacy, head_name=name, house_number=number
        )
        for hid, number, name, erased in rows
    }
