"""Who may see or change a journal transaction: a villager, those that touch their household's account; staff,
those of their villages (writing: not auditors). Anything else looks missing.

It lives here, with the principal, not in ledger/journal/: the journal is below places and people and knows
nothing of either."""

from __future__ import annotations

from sqlmodel import Session

from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.journal import accounts
from ledger.journal import service as journal
from ledger.journal.errors import TransactionNotFound
from ledger.journal.store import TxRecord


def may_see(session: Session, who: Principal, record: TxRecord) -> bool:
    if who.role == Role.VILLAGER:
        own = accounts.of_household(session, who.household_id or 0).id
        return own in {leg.account_id for leg in record.postings}
    return who.sees_village(record.village_id, record.county_id)


def visible_transaction(session: Session, who: Principal, transaction_id: int) -> TxRecord:
    missing = TransactionNotFound("No such transaction, or it is not yours to see.", transaction_id=transaction_id)
    try:
        record = journal.get_transaction(session, transaction_id)
    except TransactionNotFound:
        raise missing from None
    if not may_see(session, who, record):
        raise missing
    return record


def managed_transaction(session: Session, who: Principal, transaction_id: int) -> TxRecord:
    """A transaction `who` may see and whose village they may write in."""
    record = visible_transaction(session, who, transaction_id)
    if not who.manages_village(record.village_id, record.county_id):
        raise TransactionNotFound("No such transaction, or it is not yours to change.", transaction_id=transaction_id)
    return record
