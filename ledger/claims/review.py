"""Officials decide claims: approve, reject with a reason, approve many at once; and claims nobody decides in
time expire. Each decision resolves the claim's pending transfer exactly once: the claim row is locked first, so
two officials pressing the button together are decided one after the other, and the second is told it was
already decided."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from ledger import failures, idempotency, outbox
from ledger.base import as_utc, utcnow
from ledger.claims import access
from ledger.claims.models import Claim, ClaimStatus
from ledger.claims.service import (
    ClaimNotFound,
    ReasonRequired,
    SecondOfficialNeeded,
    approve_in_notice,
    check_not_own,
    needs_second_official,
)
from ledger.errors import Conflict, DomainError, Invalid
from ledger.identity.principal import Principal
from ledger.journal import service as journal
from ledger.journal.errors import PendingAlreadyResolved, PendingExpired
from ledger.journal.models import JournalTransaction
from ledger.tenancy import County, touch_record

MAX_BULK = 200


class ClaimAlreadyDecided(Conflict):
    code = "claim_already_decided"


class ClaimExpired(Conflict):
    code = "claim_expired"


@dataclass(frozen=True, slots=True)
class Decided:
    claim: Claim
    replayed: bool = False


def approve(
    session: Session, who: Principal, *, claim_id: int, idempotency_key: str | None, now: datetime | None = None
) -> Decided:
    return _decide(session, who, claim_id=claim_id, approve=True, reason=None, idempotency_key=idempotency_key, now=now)


def reject(
    session: Session,
    who: Principal,
    *,
    claim_id: int,
    reason: str,
    idempotency_key: str | None,
    now: datetime | None = None,
) -> Decided:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise ReasonRequired(
            "Say why the claim is rejected (up to 500 characters): the household is told.", field="reason"
        )
    return _decide(
        session, who, claim_id=claim_id, approve=False, reason=reason.strip(), idempotency_key=idempotency_key, now=now
    )


def bulk_approve(
    session: Session, who: Principal, *, claim_ids: list[int], idempotency_key: str | None, now: datetime | None = None
) -> tuple[dict[str, str], bool]:
    """Approve many claims; each one that cannot be approved is left as it is and reported by its error code.
    Returns ({claim id: "approved" or a code}, replayed)."""
    if not claim_ids or len(claim_ids) > MAX_BULK or len(set(claim_ids)) != len(claim_ids):
        raise Invalid(f"claim_ids is 1 to {MAX_BULK} different claims.", field="claim_ids")
    key, earlier = idempotency.begin(
        session, actor=who.actor, key=idempotency_key, request={"op": "bulk_approve", "claims": sorted(claim_ids)}
    )
    if earlier is not None:
        return dict((earlier.result or {}).get("outcomes", {})), True
    outcomes: dict[str, str] = {}
    for claim_id in claim_ids:
        try:
            with session.begin_nested():  # a refusal undoes only its own claim
                _decide(session, who, claim_id=claim_id, approve=True, reason=None, idempotency_key=None, now=now)
            outcomes[str(claim_id)] = "approved"
        except DomainError as error:
            outcomes[str(claim_id)] = error.code
    idempotency.record_result(session, key, {"outcomes": outcomes})
    return outcomes, False


def _decide(
    session: Session,
    who: Principal,
    *,
    claim_id: int,
    approve: bool,
    reason: str | None,
    idempotency_key: str | None,
    now: datetime | None,
) -> Decided:
    now = now or utcnow()
    op = "approve" if approve else "reject"
    key, earlier = idempotency.begin(
        session, actor=who.actor, key=idempotency_key, request={"op": op, "claim": claim_id, "reason": reason}
    )
    if earlier is not None:
        return Decided(idempotency.replayed(session, earlier, Claim, "claim"), replayed=True)
    claim = session.scalars(select(Claim).where(Claim.id == claim_id).with_for_update()).first()
    check_may_decide(who, claim, claim_id)
    assert claim is not None
    if claim.status != ClaimStatus.PENDING or claim.pending_tx_id is None:
        raise ClaimAlreadyDecided(
            f"This claim was already decided: {claim.status}.",
            claim_id=claim_id,
            claim_status=claim.status,
            decided_by=claim.decided_by,
            decided_at=as_utc(claim.decided_at).isoformat() if claim.decided_at else None,
        )
    county = session.get(County, claim.county_id)
    assert county is not None
    if claim.entered_by == who.actor and needs_second_official(claim, county):
        raise SecondOfficialNeeded("You entered this claim for the household; another official must decide it.")
    touch_record(session, claim.household_id)  # a decision changes the share of claims rejected
    try:
        if approve:
            tx = journal.post_pending(session, pending_id=claim.pending_tx_id, actor=who.actor)
        else:
            tx = journal.void_pending(session, pending_id=claim.pending_tx_id, actor=who.actor, reason="rejected")
    except (PendingExpired, PendingAlreadyResolved) as error:
        raise ClaimExpired(
            "This claim waited too long and has expired; the household may claim again if the activity allows.",
            claim_id=claim_id,
        ) from error
    if approve:
        approve_in_notice(session, claim, county, tx_id=tx.id, by=who.actor, now=now)
    else:
        claim.status = ClaimStatus.REJECTED.value
        claim.decided_at = now
        claim.decided_by = who.actor
        claim.reject_reason = reason
        outbox.tell(
            session,
            county_id=claim.county_id,
            household_id=claim.household_id,
            kind="claim_rejected",
            claim_id=claim.id,
            points=claim.points,
            reason=reason,
        )
    session.flush()
    idempotency.record_result(session, key, {"claim": claim.id})
    return Decided(claim)


def check_may_decide(who: Principal, claim: Claim | None, claim_id: int) -> None:
    """An official of the claim's village (or its township supervisor, or the county admin) who is not of the
    claim's household. Anyone else is told there is no such claim."""
    if claim is None or not access.may_decide(who, claim):
        raise ClaimNotFound("No such claim among those you review.", claim_id=claim_id)
    check_not_own(who, claim.household_id)


STEP_EXPIRE = "expire_claims"  # the name of the scheduled step (ledger/jobs.py)


class JournalDisagrees(Conflict):
    """A claim's own state and its journal transactions disagree (a transaction was resolved by hand): the
    scheduled work leaves the claim as it is, and records it for the auditors (`shanzhi verify` names it)."""

    code = "claim_journal_mismatch"


def expire_overdue(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """Claims whose review time ran out: their pending transfer expires and the household is told. Each claim in a
    savepoint of its own: one that fails is skipped and recorded (ledger/failures.py)."""
    now = now or utcnow()
    # A claim's pending transfer times out when its review time does (set when it was submitted).
    due = session.execute(
        select(Claim.id, Claim.county_id)
        .join(JournalTransaction, JournalTransaction.id == Claim.pending_tx_id)
        .where(Claim.status == ClaimStatus.PENDING, JournalTransaction.timeout_at <= now)  # type: ignore[operator]
        .order_by(Claim.village_id, Claim.id)
        .limit(limit)
    ).all()
    expired = 0
    for claim_id, county_id in due:
        with failures.item(session, step=STEP_EXPIRE, kind="claim", record_id=claim_id, county_id=county_id):
            expired += _expire(session, claim_id, now)
    session.flush()
    return expired


def _expire(session: Session, claim_id: int, now: datetime) -> int:
    locked = session.scalars(select(Claim).where(Claim.id == claim_id).with_for_update()).one()
    if locked.status != ClaimStatus.PENDING:
        return 0
    try:
        at = journal.expire_pending(session, pending_id=locked.pending_tx_id, now=now).created_at  # type: ignore[arg-type]
    except PendingAlreadyResolved as error:
        if error.detail.get("resolution") != journal.TxKind.EXPIRE_PENDING:
            raise JournalDisagrees(
                f"Claim {claim_id} is pending but its transfer was resolved by hand "
                f"({error.detail.get('resolution')}).",
                claim_id=claim_id,
                transaction_id=locked.pending_tx_id,
            ) from error
        at = datetime.fromisoformat(str(error.detail["resolved_at"]))  # the journal's own expiry got there first
    locked.status = ClaimStatus.EXPIRED.value
    locked.decided_at = at  # the journal's moment, not the schedule's `now`
    locked.decided_by = "system:expiry"
    outbox.tell(
        session,
        county_id=locked.county_id,
        household_id=locked.household_id,
        kind="claim_expired",
        claim_id=locked.id,
        points=locked.points,
    )
    session.flush()
    return 1


def is_overdue(claim: Claim, county: County, now: datetime) -> bool:
    return (
        claim.status == ClaimStatus.PENDING
        and as_utc(claim.submitted_at) + timedelta(hours=county.overdue_hours) <= now
    )


def age_hours(claim: Claim, now: datetime) -> float:
    return round((now - as_utc(claim.submitted_at)).total_seconds() / 3600, 1)
