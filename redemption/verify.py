"""`shanzhi verify`, for vouchers and health-check bookings: each one's status against its hold (a pending journal
transfer) and the transactions of its history. A hold posted, voided or expired by hand, or a use reversed by
hand, leaves the voucher saying something the journal does not, and this names it.

Loans write nothing to the journal (a loan is the bank's; the ledger keeps the application and its outcome), so
there is nothing of theirs to check against it."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.journal.models import TxKind
from ledger.journal.verify import Links, Mismatch
from redemption.models import Voucher, VoucherEvent, VoucherStatus

# the resolution a voucher's (last) hold has, by the voucher's status (None: it has none yet)
RESOLVED_AS = {
    VoucherStatus.ACTIVE: None,
    VoucherStatus.USED: TxKind.POST_PENDING,
    VoucherStatus.EXPIRED: TxKind.EXPIRE_PENDING,
    VoucherStatus.CANCELLED: TxKind.VOID_PENDING,
    VoucherStatus.NO_SHOW: TxKind.VOID_PENDING,
}


def check(session: Session, links: Links) -> list[Mismatch]:
    found = []
    vouchers = session.execute(
        select(col(Voucher.id), col(Voucher.status), col(Voucher.hold_id), col(Voucher.slot_id)).order_by(
            col(Voucher.id)
        )
    ).all()
    kinds = {voucher_id: "voucher" if slot_id is None else "booking" for voucher_id, _, _, slot_id in vouchers}
    for voucher_id, status, hold, _ in vouchers:
        resolution = links.resolution(hold)
        now_as = resolution[0] if resolution else None
        if now_as != RESOLVED_AS.get(VoucherStatus(status)):
            done = f"was resolved by hand ({now_as}, transaction {resolution[1]})" if resolution else "is unresolved"
            found.append(Mismatch(kinds[voucher_id], voucher_id, f"{status}, but its hold {hold} {done}"))
    events = session.execute(
        select(col(VoucherEvent.voucher_id), col(VoucherEvent.event), col(VoucherEvent.transaction_id)).order_by(
            col(VoucherEvent.id)
        )
    )
    for voucher_id, event, transaction_id in events:
        undone = links.reversal(transaction_id)
        if undone is not None:
            found.append(
                Mismatch(
                    kinds[voucher_id],
                    voucher_id,
                    f"its {event} transaction {transaction_id} was reversed (transaction {undone})",
                )
            )
    return found
