"""What can go wrong when writing to the journal, each with a stable code."""

from __future__ import annotations

from ledger.core.errors import Conflict, Invalid, NotFound


class UnbalancedTransaction(Invalid):
    code = "unbalanced_transaction"


class InvalidAmount(Invalid):
    code = "invalid_amount"


class CrossVillageTransaction(Invalid):
    code = "cross_village_transaction"


class AccountNotFound(NotFound):
    code = "account_not_found"


class TransactionNotFound(NotFound):
    code = "transaction_not_found"


class InsufficientPoints(Conflict):
    code = "insufficient_points"


class NotPending(Conflict):
    code = "not_pending"


class PendingAlreadyResolved(Conflict):
    code = "pending_already_resolved"


class PendingExpired(Conflict):
    code = "pending_expired"


class NotReversible(Conflict):
    code = "not_reversible"


class AlreadyReversed(Conflict):
    code = "already_reversed"


class TransactionBelongsToRecord(Conflict):
    code = "transaction_belongs_to_record"  # changes only through its record's own operation (a claim's review…)


class HeadSignatureInvalid(Invalid):
    """A pinned chain head whose signature does not verify: a fault of the head sent, not of the caller (a 401
    would make a client refresh its token and send the same head again)."""

    code = "head_signature_invalid"
