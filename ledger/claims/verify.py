"""`shanzhi verify`, for claims and deductions: each one's status against its journal transactions. A transaction
that belongs to a claim or deduction changes only through that record's own operation; one posted, voided or
reversed by hand leaves the record saying something the journal does not, and this names it."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.claims.models import Claim, ClaimStatus, Deduction, DeductionStatus
from ledger.journal.models import TxKind
from ledger.journal.verify import Links, Mismatch

# the resolution a claim's pending transfer has, by the claim's status (None: it has none)
RESOLVED_AS = {
    ClaimStatus.PENDING: None,
    ClaimStatus.REJECTED: TxKind.VOID_PENDING,
    ClaimStatus.EXPIRED: TxKind.EXPIRE_PENDING,
}


def check(session: Session, links: Links) -> list[Mismatch]:
    return [*_claims(session, links), *_deductions(session, links)]


def _claims(session: Session, links: Links) -> list[Mismatch]:
    found = []
    rows = session.execute(
        select(
            col(Claim.id),
            col(Claim.status),
            col(Claim.pending_tx_id),
            col(Claim.approval_tx_id),
            col(Claim.settlement_tx_id),
            col(Claim.reversal_tx_id),
        ).order_by(col(Claim.id))
    )
    for claim_id, status, pending, approval, settlement, reversal in rows:
        what = _claim(links, status, pending, approval, settlement, reversal)
        if what:
            found.append(Mismatch("claim", claim_id, what))
    return found


def _claim(
    links: Links, status: str, pending: int | None, approval: int | None, settlement: int | None, reversal: int | None
) -> str | None:
    if status in RESOLVED_AS:
        resolution = links.resolution(pending)
        expected = RESOLVED_AS[ClaimStatus(status)]
        if pending is None or (resolution[0] if resolution else None) != expected:
            done = (
                f"was resolved by hand ({resolution[0]}, transaction {resolution[1]})"
                if resolution
                else "is unresolved"
            )
            return f"{status}, but its pending transaction {pending} {done}"
        return None
    if approval is None:
        return f"{status}, but it has no approval transaction"
    undone = links.reversal(approval)
    if status == ClaimStatus.REVOKED:
        return (
            None
            if undone is not None and undone == reversal
            else f"revoked, but its approval transaction {approval} was not reversed by its revocation"
        )
    if undone is not None:
        return f"{status}, but its approval transaction {approval} was reversed (transaction {undone})"
    if status == ClaimStatus.APPROVED and settlement is not None:
        return f"approved, but it has a settlement transaction {settlement}"
    if status == ClaimStatus.SETTLED:
        if settlement is None:
            return "settled, but it has no settlement transaction"
        if links.reversal(settlement) is not None:
            return (
                f"settled, but its settlement transaction {settlement} was reversed "
                f"(transaction {links.reversal(settlement)})"
            )
    return None


def _deductions(session: Session, links: Links) -> list[Mismatch]:
    found = []
    rows = session.execute(
        select(
            col(Deduction.id), col(Deduction.status), col(Deduction.transaction_id), col(Deduction.reversal_tx_id)
        ).order_by(col(Deduction.id))
    )
    for deduction_id, status, taken, reversal in rows:
        undone = links.reversal(taken)
        if status == DeductionStatus.IN_FORCE and undone is not None:
            found.append(
                Mismatch(
                    "deduction",
                    deduction_id,
                    f"in force, but its transaction {taken} was reversed (transaction {undone})",
                )
            )
        elif status == DeductionStatus.REVOKED and taken is not None and (undone is None or undone != reversal):
            found.append(
                Mismatch(
                    "deduction",
                    deduction_id,
                    f"revoked, but its transaction {taken} was not reversed by its revocation",
                )
            )
    return found
