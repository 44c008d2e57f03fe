"""Escalation: a claim nobody decided within the county's `overdue_hours` goes to the township supervisor.

The schedule (ledger/jobs.py, `shanzhi tick`) marks each such claim `escalated_at` and tells every township
supervisor of its village (an active official whose OfficialScope names the township) through the outbox, in the
same transaction. The mark is a conditional update (`escalated_at IS NULL` and still pending), so a claim is
escalated once however many workers run the step at the same moment, and its supervisors are told once.

Escalation changes nobody's rights: the village's officials can still decide the claim, and the supervisor (who
sees every village of the township) can too. It only puts the claim at the head of the review queue, marked as
sent up (already on the claims list API and /office), and counts in the dashboard's per-village figures
(ledger/figures.py: escalations). The mark stays after the claim is decided; a claim decided in time is never
marked. Its moment is the real clock's, like everything the schedule writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlmodel import Session, col

from ledger.claims.models import Claim, ClaimStatus
from ledger.core import failures, outbox
from ledger.core.base import row_id, utcnow
from ledger.identity.models import OfficialScope, Role, User
from ledger.tenancy import County, Village

STEP = "escalate_overdue"  # the name of the scheduled step (ledger/jobs.py)
TOLD = "claim_escalated"  # the notification's kind


def escalate_due(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """Escalate the pending claims submitted at least their county's overdue hours before `now` and not yet
    escalated; returns how many this run escalated. Each claim in a savepoint of its own: one that fails is
    skipped and recorded (ledger/core/failures.py), and the others go up."""
    now = now or utcnow()
    escalated = 0
    for county_id, hours in session.execute(select(col(County.id), col(County.overdue_hours))).all():
        due = session.scalars(
            select(col(Claim.id))
            .where(
                col(Claim.county_id) == county_id,
                col(Claim.status) == ClaimStatus.PENDING,
                col(Claim.escalated_at).is_(None),
                col(Claim.submitted_at) <= now - timedelta(hours=hours),
            )
            .order_by(col(Claim.id))
            .limit(max(limit - escalated, 0))
        ).all()
        for claim_id in due:
            with failures.item(session, step=STEP, kind="claim", record_id=claim_id, county_id=county_id):
                escalated += _escalate(session, row_id(claim_id))
    session.flush()
    return escalated


def _escalate(session: Session, claim_id: int) -> int:
    """Mark one claim and tell its township's supervisors; 0 when another worker (or a decision) got there first."""
    marked = session.execute(
        update(Claim)
        .where(
            col(Claim.id) == claim_id,
            col(Claim.status) == ClaimStatus.PENDING,
            col(Claim.escalated_at).is_(None),
        )
        .values(escalated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", marked).rowcount != 1:  # an UPDATE answers with a cursor result
        return 0
    county_id, village_id, township_id = session.execute(
        select(col(Claim.county_id), col(Claim.village_id), col(Village.township_id))
        .join(Village, col(Village.id) == col(Claim.village_id))
        .where(col(Claim.id) == claim_id)
    ).one()
    for user_id in supervisors(session, township_id):
        outbox.tell(
            session,
            county_id=county_id,
            household_id=None,
            kind=TOLD,
            user_id=user_id,
            claim_id=claim_id,
            village_id=village_id,
            township_id=township_id,
        )
    return 1


def supervisors(session: Session, township_id: int) -> list[int]:
    """The township's supervisors: active officials whose scope is the whole township."""
    return [
        row_id(user_id)
        for user_id in session.scalars(
            select(col(User.id))
            .join(OfficialScope, col(OfficialScope.user_id) == col(User.id))
            .where(
                col(OfficialScope.township_id) == township_id,
                col(User.role) == Role.OFFICIAL,
                col(User.active),
            )
            .distinct()
            .order_by(col(User.id))
        ).all()
    ]
