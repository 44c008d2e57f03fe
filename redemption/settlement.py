"""Settlement: what a partner is owed for a period, and the proof that it matches the ledger.

The statement lists every use of the partner's vouchers and health checks in the period (`consumed` voucher
events), with the value in yuan and the points. The ledger side is the sum of what was posted to the partner's
clearing accounts (one per village) in the same period. The two are computed independently and must be equal;
the export says whether they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session, col

from ledger.core import exports
from ledger.core.base import as_utc
from ledger.journal.models import POSTED_KINDS, Account, AccountKind, JournalTransaction, Posting
from ledger.tenancy import Village
from redemption.models import Offer, Voucher, VoucherEvent, VoucherEventKind

COLUMNS = ["used_at", "voucher", "kind", "offer", "village", "value_yuan", "points", "transaction_id", "used_by"]


@dataclass(frozen=True)
class Settlement:
    partner_id: int
    start: datetime
    end: datetime
    lines: pd.DataFrame  # COLUMNS, one row per use
    value_fen: int
    points: int
    ledger_points: int  # posted to the partner's clearing accounts in the period

    @property
    def reconciled(self) -> bool:
        return self.points == self.ledger_points

    def summary(self) -> dict[str, object]:
        return {
            "partner_id": self.partner_id,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "uses": len(self.lines),
            "value_yuan": f"{self.value_fen / 100:.2f}",
            "points": self.points,
            "ledger_points": self.ledger_points,
            "reconciled": self.reconciled,
        }


def settle(session: Session, partner_id: int, start: datetime, end: datetime) -> Settlement:
    rows = session.execute(
        select(
            col(VoucherEvent.at),
            col(Voucher.code),
            col(Voucher.kind),
            col(Offer.title),
            col(Village.name),
            col(VoucherEvent.value_fen),
            col(VoucherEvent.points),
            col(VoucherEvent.transaction_id),
            col(VoucherEvent.actor),
        )
        .join(Voucher, col(Voucher.id) == col(VoucherEvent.voucher_id))
        .join(Offer, col(Offer.id) == col(Voucher.offer_id))
        .join(Village, col(Village.id) == col(VoucherEvent.village_id))
        .where(
            col(VoucherEvent.partner_id) == partner_id,
            col(VoucherEvent.event) == VoucherEventKind.CONSUMED,
            col(VoucherEvent.at) >= start,
            col(VoucherEvent.at) < end,
        )
        .order_by(col(VoucherEvent.at), col(VoucherEvent.id))
    ).all()
    lines = pd.DataFrame([tuple(r) for r in rows], columns=COLUMNS)
    lines["used_at"] = [as_utc(moment).isoformat() for moment in lines["used_at"]]
    value_fen = int(lines["value_yuan"].sum()) if len(lines) else 0
    points = int(lines["points"].sum()) if len(lines) else 0
    lines["value_yuan"] = [f"{fen / 100:.2f}" for fen in lines["value_yuan"]]
    ledger_points = session.scalar(
        select(func.coalesce(func.sum(Posting.amount), 0))
        .join(Account, col(Account.id) == col(Posting.account_id))
        .join(JournalTransaction, col(JournalTransaction.id) == col(Posting.transaction_id))
        .where(
            col(Account.partner_id) == partner_id,
            col(Account.kind) == AccountKind.PARTNER_CLEARING,
            col(JournalTransaction.kind).in_(POSTED_KINDS),
            col(JournalTransaction.created_at) >= start,
            col(JournalTransaction.created_at) < end,
        )
    )
    return Settlement(partner_id, start, end, lines, value_fen, points, int(ledger_points or 0))


def to_csv(settlement: Settlement, words: exports.Words = exports.KEYS) -> bytes:
    """The lines, then two last rows: the totals, and the points the ledger holds with whether they match (UTF-8
    with BOM: Excel reads it). `words` names the columns and the last rows in the reader's language."""
    ledger = "ledger_matches" if settlement.reconciled else "ledger_differs"
    ends = pd.DataFrame(
        [
            {
                "used_at": words.name("total"),
                "voucher": len(settlement.lines),
                "value_yuan": f"{settlement.value_fen / 100:.2f}",
                "points": settlement.points,
            },
            {"used_at": words.name(ledger), "points": settlement.ledger_points},
        ],
        columns=COLUMNS,
        dtype=object,
    ).fillna("")  # empty cells, so that the counts and ids beside them stay whole numbers (not 1.0)
    lines = exports.worded(settlement.lines, words, "uses").astype(object)
    return exports.csv_bytes(pd.concat([lines, exports.named(ends, words, "uses")], ignore_index=True))


def to_xlsx(settlement: Settlement, words: exports.Words = exports.KEYS) -> bytes:
    """Two sheets: the uses, and the summary with the reconciliation."""
    summary = pd.DataFrame([settlement.summary()])
    return exports.xlsx_bytes(
        {
            words.name("uses"): exports.worded(settlement.lines, words, "uses"),
            words.name("summary"): exports.worded(summary, words, "settlement_summary"),
        }
    )
