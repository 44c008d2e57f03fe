"""Imports every table of the ledger package so that SQLModel.metadata is complete (Alembic reads it)."""

from ledger.activities.models import Activity
from ledger.catalogue.models import Matter
from ledger.claims.models import (
    Claim,
    ClaimEvidence,
    Deduction,
    DeductionEvidence,
    Dispute,
    EvidenceFile,
    ScanTicketUse,
)
from ledger.concerns.models import (
    CalendarDay,
    Concern,
    ConcernCategory,
    ConcernEvent,
    ConcernFollower,
    ConcernHandler,
    ConcernHandlerMember,
    ConcernPhoto,
    ConcernPlace,
    ConcernVoice,
    Open311Client,
)
from ledger.core.audit import AdminChange
from ledger.core.failures import JobFailure
from ledger.core.idempotency import IdempotencyRecord
from ledger.core.outbox import Notification
from ledger.core.purge import PurgePermit
from ledger.core.ratelimit import RateWindow
from ledger.identity.models import (
    OfficialScope,
    OtpChallenge,
    Partner,
    PartnerClient,
    PartnerVillage,
    SignInThrottle,
    User,
)
from ledger.journal.models import (
    Account,
    AccountBalance,
    ChainHead,
    HouseholdMonth,
    JournalTransaction,
    Posting,
)
from ledger.tenancy import County, Household, Person, Township, Village

__all__ = [
    "Account",
    "AccountBalance",
    "Activity",
    "AdminChange",
    "CalendarDay",
    "ChainHead",
    "Claim",
    "ClaimEvidence",
    "Concern",
    "ConcernCategory",
    "ConcernEvent",
    "ConcernFollower",
    "ConcernHandler",
    "ConcernHandlerMember",
    "ConcernPhoto",
    "ConcernPlace",
    "ConcernVoice",
    "County",
    "Deduction",
    "DeductionEvidence",
    "Dispute",
    "EvidenceFile",
    "Household",
    "HouseholdMonth",
    "IdempotencyRecord",
    "JobFailure",
    "JournalTransaction",
    "Matter",
    "Notification",
    "OfficialScope",
    "Open311Client",
    "OtpChallenge",
    "Partner",
    "PartnerClient",
    "PartnerVillage",
    "Person",
    "Posting",
    "PurgePermit",
    "RateWindow",
    "ScanTicketUse",
    "SignInThrottle",
    "Township",
    "User",
    "Village",
]
