"""The scheduled purge, with the bank access log: `ledger/retention.py` purges the ledger's records; this module
adds the log of banks' looks at ratings (`credit_lookup`), kept `lookup_days` (five years by default,
docs/privacy.md) and then deleted in batches.

The log is append-only by database trigger; the purge deletes only under a purge permit whose cut-off is the end
of the retention period (`ledger/core/purge.py`), so even this code cannot delete a row that is still kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlmodel import Session, col

from ledger import retention
from ledger.core import purge
from ledger.core.settings import get_settings
from scoring.models import CreditLookup

STEP = retention.STEP


def purge_due(session: Session, now: datetime, policy: retention.Retention) -> retention.Purged:
    purged = retention.purge_due(session, now, policy)
    cutoff = now - timedelta(days=policy.lookup_days)
    with purge.permitted(session, CreditLookup.__tablename__, cutoff):
        while True:
            ids = list(
                session.scalars(
                    select(col(CreditLookup.id)).where(col(CreditLookup.looked_at) < cutoff).limit(retention.BATCH)
                )
            )
            if ids:
                session.execute(delete(CreditLookup).where(col(CreditLookup.id).in_(ids)))
            purged.lookups += len(ids)
            if len(ids) < retention.BATCH:
                break
    return purged


def step(session: Session, now: datetime) -> int:
    """The scheduled step: the periods and the photos' folder from the service's settings."""
    return purge_due(session, now, retention.Retention.from_settings(get_settings())).total
