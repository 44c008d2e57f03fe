"""Points for a useful report (随手拍, docs/concerns.md "Points for useful reports").

When a handler resolves a concern and judges the problem real, and its category names a catalogue matter, the
reporting household is awarded that matter's points through the claims service
(`ledger.claims.service.submit_report_award`): an award entered by the resolving staff member, with the same
caps, notice board and objections, second official and journal path as any award. Its reason names the category
("随手拍：道路隐患"), never the concern or its text: the notice board names households.

Once per concern, whatever happens after: the first resolution judged real decides (a reopened concern resolved
again earns nothing more, and neither does a retried resolution). Nothing for a report judged not confirmed or
false (no automatic deduction), for a duplicate merged into another (only the first reporter earns), for a
report with no household (told by phone, sent by an Open311 client) or an anonymous one (an award on the notice
board would name the household to the officials it was hidden from). When the award cannot be made (the matter
is not in force, a cap is reached, the household is closed), the resolution stands and the timeline says why.
Staff resolving their own household's report: the award is written but waits for another official.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.claims import service as claims
from ledger.claims.models import Claim
from ledger.concerns.models import Concern, ConcernCategory, ConcernEvent, ConcernStatus, Judgement
from ledger.core.errors import DomainError
from ledger.identity.principal import Principal

ACTION = "reward"  # the timeline's step


def _event(session: Session, concern: Concern, who: Principal, note: str, now: datetime) -> None:
    assert concern.id is not None
    session.add(
        ConcernEvent(
            concern_id=concern.id,
            at=now,
            action=ACTION,
            from_status=concern.status,
            to_status=concern.status,
            actor=who.actor,
            actor_role=who.role,
            handler_id=concern.handler_id,
            level=concern.level,
            note=note,
        )
    )
    session.flush()


def already_decided(session: Session, concern: Concern) -> bool:
    """A reward step was written for this concern before (an award, or why there was none)."""
    found = session.scalar(
        select(col(ConcernEvent.id))
        .where(col(ConcernEvent.concern_id) == concern.id, col(ConcernEvent.action) == ACTION)
        .limit(1)
    )
    return found is not None or concern.reward_claim_id is not None


def on_resolved(
    session: Session, who: Principal, concern: Concern, *, evidence_ids: tuple[int, ...], now: datetime
) -> Claim | None:
    """Award the reporter of a concern just resolved as real, once; returns the award's claim (None: no award).
    Never raises for the award's own refusals: the resolution is not undone for them."""
    if concern.status != ConcernStatus.RESOLVED or concern.judgement != Judgement.REAL:
        return None
    if concern.reporter_household_id is None or concern.merged_into_id is not None:
        return None
    category = session.get(ConcernCategory, concern.category_id)
    assert category is not None
    if category.matter_code is None or already_decided(session, concern):
        return None
    if concern.anonymous:
        _event(session, concern, who, "No points: the report is anonymous.", now)
        return None
    try:
        with session.begin_nested():  # a refused award leaves nothing behind, and the resolution stands
            claim = claims.submit_report_award(
                session,
                who,
                household_id=concern.reporter_household_id,
                matter_code=category.matter_code,
                reason=f"随手拍：{category.name_zh}",
                evidence_ids=evidence_ids,
                now=now,
            )
    except DomainError as error:
        _event(session, concern, who, f"No points: {error.code}.", now)
        return None
    concern.reward_claim_id = claim.id
    _event(session, concern, who, f"Award {claim.id}: {claim.points} points, {claim.status}.", now)
    return claim
