"""A claim's life: its states and every transition between them, in one table (`TRANSITIONS`), and the one function
that moves a claim (`move`). docs/claims.md's state table is this table in words.

Each transition names the states it leaves from, the state it reaches, what it does in the journal and the
notification it queues; `move` checks the state, does the journal operation, changes the claim row and queues the
notification, in the caller's unit of work. A transition that is not allowed from the claim's state is refused with
the transition's own error (`claim_already_decided`, `not_in_notice`, `not_appealable`), before anything is
written. The services (submitting, review, notice, disputes) check everything else (who may act, locks, windows,
second official) and then call `move`; none of them sets `claim.status` or resolves a claim's transfer itself.

    transition      from              to         journal                                         notification
    submit          new               pending    pending transfer issuance → notice (review_days)  —
    submit_approved new               approved   transfer issuance → notice                      claim_approved
    approve         pending           approved   post the pending transfer                       claim_approved
    reject          pending           rejected   void the pending transfer                       claim_rejected
    expire          pending           expired    expire the pending transfer                     claim_expired
    settle          approved          settled    transfer notice → household                     claim_settled
    revoke          approved          revoked    reverse the approval (objection upheld)         claim_revoked
    reinstate       rejected          approved   transfer issuance → notice (appeal upheld)      claim_approved

"new" is a claim row just written, with no journal transaction yet (its column says `pending`).
An objection does not move the claim (it stays `approved`, and does not settle while the objection is open);
a dismissed objection or appeal moves nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from sqlmodel import Session

from ledger.catalogue.models import Matter
from ledger.claims.models import Claim, ClaimStatus
from ledger.core import outbox
from ledger.core.base import as_utc, row_id
from ledger.core.errors import Conflict, DomainError
from ledger.journal import accounts
from ledger.journal import service as journal
from ledger.journal.errors import PendingAlreadyResolved, PendingExpired
from ledger.journal.models import AccountKind
from ledger.journal.store import TxRecord
from ledger.tenancy import County

NEW: Final = "new"  # a claim row with no journal transaction yet


class ClaimAlreadyDecided(Conflict):
    code = "claim_already_decided"


class ClaimExpired(Conflict):
    code = "claim_expired"


class NotInNotice(Conflict):
    code = "not_in_notice"


class NotAppealable(Conflict):
    code = "not_appealable"


class JournalDisagrees(Conflict):
    """A claim's own state and its journal transactions disagree (a transaction was resolved by hand): the
    scheduled work leaves the claim as it is, and records it for the auditors (`shanzhi verify` names it)."""

    code = "claim_journal_mismatch"


class Transition(StrEnum):
    SUBMIT = "submit"
    SUBMIT_APPROVED = "submit_approved"  # an automatic approval, or an award the entering official's word approves
    APPROVE = "approve"
    REJECT = "reject"
    EXPIRE = "expire"
    SETTLE = "settle"
    REVOKE = "revoke"  # an objection upheld during notice
    REINSTATE = "reinstate"  # an appeal against a rejection upheld


class JournalOp(StrEnum):
    PENDING_TRANSFER = "pending transfer issuance → notice"
    TRANSFER_INTO_NOTICE = "transfer issuance → notice"
    POST_PENDING = "post the pending transfer"
    VOID_PENDING = "void the pending transfer"
    EXPIRE_PENDING = "expire the pending transfer"
    SETTLE_TRANSFER = "transfer notice → household"
    REVERSE_APPROVAL = "reverse the approval"


def _already_decided(claim: Claim) -> DomainError:
    return ClaimAlreadyDecided(
        f"This claim was already decided: {claim.status}.",
        claim_id=claim.id,
        claim_status=claim.status,
        decided_by=claim.decided_by,
        decided_at=as_utc(claim.decided_at).isoformat() if claim.decided_at else None,
    )


def _not_in_notice(claim: Claim) -> DomainError:
    return NotInNotice("This claim is no longer in notice.", claim_status=claim.status)


def _not_appealable(claim: Claim) -> DomainError:
    return NotAppealable("Only a rejected claim can be appealed.", claim_status=claim.status)


def _already_written(claim: Claim) -> DomainError:
    return ClaimAlreadyDecided("This claim was already submitted.", claim_id=claim.id, claim_status=claim.status)


@dataclass(frozen=True, slots=True)
class Step:
    """One row of the table."""

    sources: frozenset[str]  # the states it leaves from (ClaimStatus values, or NEW)
    target: ClaimStatus
    journal: JournalOp
    notification: str | None  # the outbox kind queued for the household
    refusal: Callable[[Claim], DomainError]  # raised when the claim is in none of `sources`


TRANSITIONS: Mapping[Transition, Step] = MappingProxyType(
    {
        Transition.SUBMIT: Step(
            frozenset({NEW}), ClaimStatus.PENDING, JournalOp.PENDING_TRANSFER, None, _already_written
        ),
        Transition.SUBMIT_APPROVED: Step(
            frozenset({NEW}), ClaimStatus.APPROVED, JournalOp.TRANSFER_INTO_NOTICE, "claim_approved", _already_written
        ),
        Transition.APPROVE: Step(
            frozenset({ClaimStatus.PENDING}),
            ClaimStatus.APPROVED,
            JournalOp.POST_PENDING,
            "claim_approved",
            _already_decided,
        ),
        Transition.REJECT: Step(
            frozenset({ClaimStatus.PENDING}),
            ClaimStatus.REJECTED,
            JournalOp.VOID_PENDING,
            "claim_rejected",
            _already_decided,
        ),
        Transition.EXPIRE: Step(
            frozenset({ClaimStatus.PENDING}),
            ClaimStatus.EXPIRED,
            JournalOp.EXPIRE_PENDING,
            "claim_expired",
            _already_decided,
        ),
        Transition.SETTLE: Step(
            frozenset({ClaimStatus.APPROVED}),
            ClaimStatus.SETTLED,
            JournalOp.SETTLE_TRANSFER,
            "claim_settled",
            _not_in_notice,
        ),
        Transition.REVOKE: Step(
            frozenset({ClaimStatus.APPROVED}),
            ClaimStatus.REVOKED,
            JournalOp.REVERSE_APPROVAL,
            "claim_revoked",
            _not_in_notice,
        ),
        Transition.REINSTATE: Step(
            frozenset({ClaimStatus.REJECTED}),
            ClaimStatus.APPROVED,
            JournalOp.TRANSFER_INTO_NOTICE,
            "claim_approved",
            _not_appealable,
        ),
    }
)


def state_of(claim: Claim) -> str:
    """The claim's state as the table reads it: its status, or NEW for a row with no journal transaction yet.
    A `pending` claim whose pending transfer is gone is in no state the table leaves from."""
    if claim.status == ClaimStatus.PENDING:
        if claim.pending_tx_id is not None:
            return ClaimStatus.PENDING.value
        return NEW if claim.approval_tx_id is None else "pending_without_transfer"
    if claim.status == ClaimStatus.APPROVED and claim.approval_tx_id is None:
        return "approved_without_transfer"
    return claim.status


def allows(claim: Claim, transition: Transition) -> bool:
    return state_of(claim) in TRANSITIONS[transition].sources


def check(claim: Claim, transition: Transition) -> None:
    """Refuse, with the transition's own error, a transition the claim's state does not allow."""
    if not allows(claim, transition):
        raise TRANSITIONS[transition].refusal(claim)


def move(
    session: Session,
    claim: Claim,
    transition: Transition,
    *,
    by: str,
    now: datetime,
    reason: str | None = None,
    meta: dict[str, Any] | None = None,
) -> TxRecord | None:
    """Move the claim along `transition`: check its state, do the journal operation, change the row, queue the
    notification. `by` is who decides (or the system step); `reason` a rejection's reason; `meta` more metadata for
    a new transfer (the appeal that reinstates a claim). Returns the journal transaction written (None when the
    expiry found the journal had expired the transfer itself). The claim row must be locked by the caller."""
    check(claim, transition)
    step = TRANSITIONS[transition]
    tx = _EFFECTS[transition](session, claim, by=by, now=now, reason=reason, meta=meta or {})
    claim.status = step.target.value
    if step.notification is not None:
        outbox.tell(
            session,
            county_id=claim.county_id,
            household_id=claim.household_id,
            kind=step.notification,
            claim_id=claim.id,
            points=claim.points,
            **_notification_detail(claim, transition, reason),
        )
    return tx


def _notification_detail(claim: Claim, transition: Transition, reason: str | None) -> dict[str, Any]:
    if TRANSITIONS[transition].target == ClaimStatus.APPROVED:
        assert claim.notice_until is not None
        return {"notice_until": claim.notice_until.isoformat()}
    if transition == Transition.REJECT:
        return {"reason": reason}
    return {}


# --- what each transition does in the journal and on the row ----------------------------------------------------

_Effect = Callable[..., TxRecord | None]


def _county(session: Session, claim: Claim) -> County:
    county = session.get(County, claim.county_id)
    assert county is not None
    return county


def _matter_code(session: Session, claim: Claim) -> str:
    matter = session.get(Matter, claim.matter_id)
    assert matter is not None
    return matter.code


def _into_notice(session: Session, claim: Claim, *, meta: dict[str, Any], actor: str, now: datetime) -> TxRecord:
    issuance, notice = accounts.issuance_and_notice(
        session, village_id=claim.village_id, household_id=claim.household_id
    )
    return journal.transfer(
        session,
        debit=issuance,
        credit=notice,
        amount=claim.points,
        reason=_matter_code(session, claim),
        actor=actor,
        effective_at=now,
        meta={"claim": claim.id, **meta},
    )


def _approved(session: Session, claim: Claim, tx: TxRecord, *, by: str, now: datetime) -> None:
    """The claim is approved: its points are posted in the notice account and it goes on the notice board."""
    claim.decided_at = now
    claim.decided_by = by
    claim.approval_tx_id = tx.id
    claim.notice_until = now + timedelta(days=_county(session, claim).notice_days)


def _submit(session: Session, claim: Claim, *, by: str, now: datetime, **_: Any) -> TxRecord:
    issuance, notice = accounts.issuance_and_notice(
        session, village_id=claim.village_id, household_id=claim.household_id
    )
    tx = journal.transfer(
        session,
        debit=issuance,
        credit=notice,
        amount=claim.points,
        reason=_matter_code(session, claim),
        actor=claim.entered_by,
        effective_at=now,  # its review time counts from then
        meta={"claim": claim.id},
        pending=True,
        timeout=timedelta(days=_county(session, claim).review_days),
    )
    claim.pending_tx_id = tx.id
    return tx


def _submit_approved(session: Session, claim: Claim, *, by: str, now: datetime, **_: Any) -> TxRecord:
    tx = _into_notice(session, claim, meta={}, actor=claim.entered_by, now=now)
    _approved(session, claim, tx, by=by, now=now)
    return tx


def _resolve_pending(session: Session, claim: Claim, *, by: str, approve: bool, now: datetime) -> TxRecord:
    assert claim.pending_tx_id is not None
    try:
        if approve:
            return journal.post_pending(session, pending_id=claim.pending_tx_id, actor=by, now=now)
        return journal.void_pending(session, pending_id=claim.pending_tx_id, actor=by, reason="rejected", now=now)
    except (PendingExpired, PendingAlreadyResolved) as error:
        raise ClaimExpired(
            "This claim waited too long and has expired; the household may claim again if the activity allows.",
            claim_id=claim.id,
        ) from error


def _approve(session: Session, claim: Claim, *, by: str, now: datetime, **_: Any) -> TxRecord:
    tx = _resolve_pending(session, claim, by=by, approve=True, now=now)
    _approved(session, claim, tx, by=by, now=now)
    return tx


def _reject(session: Session, claim: Claim, *, by: str, now: datetime, reason: str | None, **_: Any) -> TxRecord:
    tx = _resolve_pending(session, claim, by=by, approve=False, now=now)
    claim.decided_at = now
    claim.decided_by = by
    claim.reject_reason = reason
    return tx


def _expire(session: Session, claim: Claim, *, by: str, now: datetime, reason: str | None, **_: Any) -> TxRecord | None:
    """The pending transfer expires; the claim is expired at the journal's moment, not the schedule's `now`.
    `reason`: why, when it is not the review time running out (the journal entry carries it)."""
    assert claim.pending_tx_id is not None
    try:
        expired = journal.expire_pending(session, pending_id=claim.pending_tx_id, now=now, actor=by, reason=reason)
    except PendingAlreadyResolved as error:
        if error.detail.get("resolution") != journal.TxKind.EXPIRE_PENDING:
            raise JournalDisagrees(
                f"Claim {claim.id} is pending but its transfer was resolved by hand "
                f"({error.detail.get('resolution')}).",
                claim_id=claim.id,
                transaction_id=claim.pending_tx_id,
            ) from error
        claim.decided_at = datetime.fromisoformat(str(error.detail["resolved_at"]))  # the journal's own expiry
        claim.decided_by = by
        return None
    claim.decided_at = expired.effective_at
    claim.decided_by = by
    return expired


def _settle(session: Session, claim: Claim, *, by: str, now: datetime, **_: Any) -> TxRecord:
    """Notice → household; the claim is settled at the moment that journal entry takes effect: `now`, but never
    after the journal's clock (a schedule run ahead of time settles as of the clock)."""
    tx = journal.transfer(
        session,
        debit=row_id(accounts.of_household(session, claim.household_id, AccountKind.NOTICE).id),
        credit=row_id(accounts.of_household(session, claim.household_id).id),
        amount=claim.points,
        reason=_matter_code(session, claim),
        actor=by,
        effective_at=now,
        meta={"claim": claim.id, "settles": claim.approval_tx_id},
    )
    claim.settled_at = tx.effective_at
    claim.settlement_tx_id = tx.id
    return tx


def _revoke(session: Session, claim: Claim, *, by: str, now: datetime, **_: Any) -> TxRecord:
    assert claim.approval_tx_id is not None
    reversal = journal.reverse(
        session, transaction_id=claim.approval_tx_id, actor=by, reason="objection_upheld", now=now
    )
    claim.reversal_tx_id = reversal.id
    return reversal


def _reinstate(session: Session, claim: Claim, *, by: str, now: datetime, meta: dict[str, Any], **_: Any) -> TxRecord:
    """A rejected claim approved after all: a new transfer into notice; the notice period starts now."""
    tx = _into_notice(session, claim, meta=meta, actor=by, now=now)
    _approved(session, claim, tx, by=by, now=now)
    return tx


_EFFECTS: Mapping[Transition, _Effect] = MappingProxyType(
    {
        Transition.SUBMIT: _submit,
        Transition.SUBMIT_APPROVED: _submit_approved,
        Transition.APPROVE: _approve,
        Transition.REJECT: _reject,
        Transition.EXPIRE: _expire,
        Transition.SETTLE: _settle,
        Transition.REVOKE: _revoke,
        Transition.REINSTATE: _reinstate,
    }
)
