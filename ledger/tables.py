"""Imports every table of the ledger package so that SQLModel.metadata is complete (Alembic reads it)."""

from ledger.identity.models import OfficialScope, OtpChallenge, Partner, PartnerClient, SignInThrottle, User
from ledger.journal.models import (
    Account,
    AccountBalance,
    ChainHead,
    IdempotencyRecord,
    JournalTransaction,
    Posting,
)
from ledger.tenancy import County, Household, Person, Township, Village

__all__ = [
    "Account",
    "AccountBalance",
    "ChainHead",
    "County",
    "Household",
    "IdempotencyRecord",
    "JournalTransaction",
    "OfficialScope",
    "OtpChallenge",
    "Partner",
    "PartnerClient",
    "Person",
    "Posting",
    "SignInThrottle",
    "Township",
    "User",
    "Village",
]
