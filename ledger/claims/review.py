"""Officials decide claims: approve, reject with a reason, approve many at once; and claims nobody decides in
time expire. Each decision resolves the claim's pending transfer exactly once: the claim row is locked first, so
two officials pressing the button together are decided one after the other, and the second is told it was
already decided."""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import Histogram
from sqlalchemy import case, func, literal, select
from sqlmodel import Session, col

from ledger.claims import access, lifecycle
from ledger.claims.lifecycle import ClaimAlreadyDecided as ClaimAlreadyDecided  # its home before the lifecycle
from ledger.claims.lifecycle import ClaimExpired as ClaimExpired
from ledger.claims.lifecycle import JournalDisagrees as JournalDisagrees
from ledger.claims.models import Claim, ClaimStatus
from ledger.claims.service import (
    ClaimNotFound,
    SecondOfficialNeeded,
    check_not_own,
    needs_second_official,
)
from ledger.core import failures, idempotency, metrics
from ledger.core.base import UtcDateTime, as_utc, utcnow
from ledger.core.errors import DomainError, Invalid, ReasonRequired
from ledger.core.idempotency import Outcome
from ledger.identity.principal import Principal
from ledger.journal.models import JournalTransaction
from ledger.tenancy import County, touch_record

MAX_BULK = 200

HOUR = 3600
# Not in any registry here: api/observability.py adds it to the one /metrics shows.
REVIEW_SECONDS = Histogram(
    "shanzhi_claim_review_seconds",
    "Time from a claim's submission to an official's decision (approved or rejected), observed at the decision",
    registry=None,
    buckets=(300, 900, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR, 72 * HOUR, 168 * HOUR),
)


def approve(
    session: Session, who: Principal, *, claim_id: int, idempotency_key: str | None, now: datetime | None = None
) -> Outcome[Claim]:
    return _decide_once(
        session, who, claim_id=claim_id, approve=True, reason=None, idempotency_key=idempotency_key, now=now
    )


def reject(
    session: Session,
    who: Principal,
    *,
    claim_id: int,
    reason: str,
    idempotency_key: str | None,
    now: datetime | None = None,
) -> Outcome[Claim]:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise ReasonRequired(
            "Say why the claim is rejected (up to 500 characters): the household is told.", field="reason"
        )
    return _decide_once(
        session, who, claim_id=claim_id, approve=False, reason=reason.strip(), idempotency_key=idempotency_key, now=now
    )


def bulk_approve(
    session: Session, who: Principal, *, claim_ids: list[int], idempotency_key: str | None, now: datetime | None = None
) -> Outcome[dict[str, str]]:
    """Approve many claims; each one that cannot be approved is left as it is and reported by its error code.
    The value: {claim id: "approved" or a code}."""
    if not claim_ids or len(claim_ids) > MAX_BULK or len(set(claim_ids)) != len(claim_ids):
        raise Invalid(f"claim_ids is 1 to {MAX_BULK} different claims.", field="claim_ids")

    def approve_each() -> dict[str, str]:
        outcomes: dict[str, str] = {}
        for claim_id in claim_ids:
            try:
                with session.begin_nested():  # a refusal undoes only its own claim
                    _decide(session, who, claim_id=claim_id, approve=True, reason=None, now=now)
                outcomes[str(claim_id)] = "approved"
            except DomainError as error:
                outcomes[str(claim_id)] = error.code
        return outcomes

    return idempotency.run(
        session,
        actor=who.actor,
        key=idempotency_key,
        request={"op": "bulk_approve", "claims": sorted(claim_ids)},
        stored=_BULK_OUTCOMES,
        operation=approve_each,
    )


_BULK_OUTCOMES: idempotency.Stored[dict[str, str]] = idempotency.Stored(
    save=lambda outcomes: {"outcomes": outcomes},
    load=lambda _session, earlier: dict((earlier.result or {}).get("outcomes", {})),
)


def _decide_once(
    session: Session,
    who: Principal,
    *,
    claim_id: int,
    approve: bool,
    reason: str | None,
    idempotency_key: str | None,
    now: datetime | None,
) -> Outcome[Claim]:
    return idempotency.run(
        session,
        actor=who.actor,
        key=idempotency_key,
        request={"op": "approve" if approve else "reject", "claim": claim_id, "reason": reason},
        stored=idempotency.row(Claim, "claim"),
        operation=lambda: _decide(session, who, claim_id=claim_id, approve=approve, reason=reason, now=now),
    )


def _decide(
    session: Session,
    who: Principal,
    *,
    claim_id: int,
    approve: bool,
    reason: str | None,
    now: datetime | None,
) -> Claim:
    now = now or utcnow()
    claim = session.scalars(select(Claim).where(col(Claim.id) == claim_id).with_for_update()).first()
    check_may_decide(who, claim, claim_id)
    assert claim is not None
    transition = lifecycle.Transition.APPROVE if approve else lifecycle.Transition.REJECT
    lifecycle.check(claim, transition)
    county = session.get(County, claim.county_id)
    assert county is not None
    if claim.entered_by == who.actor and needs_second_official(claim, county):
        raise SecondOfficialNeeded("You entered this claim for the household; another official must decide it.")
    touch_record(session, claim.household_id)  # a decision changes the share of claims rejected
    lifecycle.move(session, claim, transition, by=who.actor, now=now, reason=reason)
    session.flush()
    waited = max((now - as_utc(claim.submitted_at)).total_seconds(), 0.0)
    metrics.on_commit(session, lambda: REVIEW_SECONDS.observe(waited))
    return claim


def check_may_decide(who: Principal, claim: Claim | None, claim_id: int) -> None:
    """An official of the claim's village (or its township supervisor, or the county admin) who is not of the
    claim's household. Anyone else is told there is no such claim."""
    if claim is None or not access.may_decide(who, claim):
        raise ClaimNotFound("No such claim among those you review.", claim_id=claim_id)
    check_not_own(who, claim.household_id)


STEP_EXPIRE = "expire_claims"  # the name of the scheduled step (ledger/jobs.py)


def expire_overdue(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """Claims whose review time ran out: their pending transfer expires and the household is told. Each claim in a
    savepoint of its own: one that fails is skipped and recorded (ledger/core/failures.py)."""
    now = now or utcnow()
    # A claim's pending transfer times out when its review time does (set when it was submitted).
    due = session.execute(
        select(col(Claim.id), col(Claim.county_id))
        .join(JournalTransaction, col(JournalTransaction.id) == col(Claim.pending_tx_id))
        .where(col(Claim.status) == ClaimStatus.PENDING, col(JournalTransaction.timeout_at) <= now)
        .order_by(col(Claim.village_id), col(Claim.id))
        .limit(limit)
    ).all()
    expired = 0
    for claim_id, county_id in due:
        with failures.item(session, step=STEP_EXPIRE, kind="claim", record_id=claim_id, county_id=county_id):
            expired += _expire(session, claim_id, now)
    session.flush()
    return expired


def _expire(session: Session, claim_id: int, now: datetime) -> int:
    locked = session.scalars(select(Claim).where(col(Claim.id) == claim_id).with_for_update()).one()
    if not lifecycle.allows(locked, lifecycle.Transition.EXPIRE):
        return 0
    lifecycle.move(session, locked, lifecycle.Transition.EXPIRE, by="system:expiry", now=now)
    session.flush()
    return 1


def is_overdue(claim: Claim, county: County, now: datetime) -> bool:
    return (
        claim.status == ClaimStatus.PENDING
        and as_utc(claim.submitted_at) + timedelta(hours=county.overdue_hours) <= now
    )


def age_hours(claim: Claim, now: datetime) -> float:
    return round((now - as_utc(claim.submitted_at)).total_seconds() / 3600, 1)


def overdue_by_county(session: Session, *, now: datetime | None = None) -> dict[int, int]:
    """How many pending claims each county has past its overdue hours (`is_overdue`): undecided too long, whether
    or not they were sent up yet. One query over the pending claims (ix_claim_notice leads with the status)."""
    now = now or utcnow()
    hours = {int(i): int(h) for i, h in session.execute(select(col(County.id), col(County.overdue_hours)))}
    if not hours:
        return {}
    cutoff = case(
        *[
            (col(Claim.county_id) == county_id, literal(now - timedelta(hours=h), UtcDateTime()))
            for county_id, h in hours.items()
        ],
        else_=None,
    )
    rows = session.execute(
        select(col(Claim.county_id), func.count())
        .where(col(Claim.status) == ClaimStatus.PENDING, col(Claim.submitted_at) <= cutoff)
        .group_by(col(Claim.county_id))
    )
    return dict.fromkeys(hours, 0) | {county_id: int(count) for county_id, count in rows}
