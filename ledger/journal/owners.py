"""Which record a journal transaction belongs to, and the rule that a transaction changes only through its record.

Every transaction is written by a record's own operation: a claim, its review, settlement or revocation; a
deduction and its appeal; a voucher's hold, use, cancellation or expiry; a points expiry; a loan… That operation
also keeps the record's status in step with the journal. So a transaction is never posted, voided or reversed
"by hand" (the generic `/api/v1/ledger/transactions/{id}/post|void|reverse`): deny by default, with no list of
kinds to forget. Manual awards are claims entered by an official (ledger/claims/service.py: submit_award), so
nothing is left that the generic routes may change; they answer 409 `transaction_belongs_to_record`.

To name the record in that answer, `owner_of` asks every table with a foreign key to journal_transaction (read
from the schema, so a new record kind is found without being listed here), then the transaction's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, select
from sqlmodel import Session, SQLModel

from ledger.journal.errors import TransactionBelongsToRecord
from ledger.journal.store import TxRecord

JOURNAL_TABLES = frozenset({"journal_transaction", "posting", "idempotency_record", "account_balance", "chain_head"})
META_RECORDS = ("claim", "deduction", "voucher", "loan", "offer")  # metadata keys that name a record
REASON_RECORDS = {"points_expired": "points_expiry"}


@dataclass(frozen=True, slots=True)
class Owner:
    kind: str | None  # None: the record could not be named (it still is not changed by hand)
    id: int | str | None


def owner_of(session: Session, record: TxRecord) -> Owner:
    """The record a transaction (or the pending transfer it resolves, or the one it reverses) belongs to."""
    ids = [i for i in (record.id, record.pending_id, record.reverses_id) if i is not None]
    for table, column in _references():
        parent = _parent(table)
        row = session.connection().execute(select(parent[1]).where(column.in_(ids)).limit(1)).first()
        if row is not None:
            return Owner(parent[0], row[0])
    meta = record.meta or {}
    for key in META_RECORDS:
        if key in meta:
            return Owner(key, meta[key])
    return Owner(REASON_RECORDS.get(record.reason), None)


def refuse_generic_change(session: Session, record: TxRecord, action: str) -> TransactionBelongsToRecord:
    """The refusal of a post, void or reversal by hand, naming the record whose operation changes it."""
    owner = owner_of(session, record)
    named = f"{owner.kind.replace('_', ' ')} {owner.id}" if owner.kind and owner.id is not None else "a record"
    return TransactionBelongsToRecord(
        f"This transaction belongs to {named}; it changes only through that record's own operation, not by a "
        f"{action} by hand.",
        transaction_id=record.id,
        record=owner.kind,
        record_id=owner.id,
    )


def _references() -> list[tuple[Table, Column[Any]]]:
    found = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name in JOURNAL_TABLES:
            continue
        for column in table.columns:
            if any(fk.column.table.name == "journal_transaction" for fk in column.foreign_keys):
                found.append((table, column))
    return found


def _parent(table: Table) -> tuple[str, Column[Any]]:
    """An event row of a record (voucher_event → voucher) names the record; any other row names itself."""
    if table.name.endswith("_event"):
        kind = table.name.removesuffix("_event")
        if f"{kind}_id" in table.columns:
            return kind, table.columns[f"{kind}_id"]
    return table.name, table.columns["id"]
