"""Journal transactions as the API shows them."""

from __future__ import annotations

from api.schemas import PostingOut, TransactionOut
from ledger.journal.store import TxRecord


def transaction_out(record: TxRecord) -> TransactionOut:
    return TransactionOut(
        **{f: getattr(record, f) for f in TransactionOut.model_fields if f not in ("postings",)},
        postings=[PostingOut(account_id=leg.account_id, amount=leg.amount) for leg in record.postings],
    )
