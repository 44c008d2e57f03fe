"""Deleting rows the database otherwise keeps append-only, only where the retention rules say so.

Some logs are append-only by trigger (the bank access log, `credit_lookup`): nothing may delete a row of them,
except the scheduled purge once a row is past its retention period. The trigger lets a delete through only when
the deleting transaction holds a `purge_permit` for that table whose `before` is later than the row's time; the
permit is written and removed inside that one transaction, so no other connection ever sees it, and a row newer
than the permit's cut-off still cannot be deleted (alembic/versions/2026-12-01_people_data_rights.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Field, Session, SQLModel, col

from ledger.core.base import timestamp


class PurgePermit(SQLModel, table=True):
    __tablename__ = "purge_permit"

    id: int | None = Field(default=None, primary_key=True)
    table_name: str = Field(max_length=40)
    before: datetime = timestamp()  # rows of the table older than this may be deleted while the permit exists


@contextmanager
def permitted(session: Session, table_name: str, before: datetime) -> Iterator[None]:
    """Within the block, the triggers let this transaction delete rows of `table_name` older than `before`."""
    permit = PurgePermit(table_name=table_name, before=before)
    session.add(permit)
    session.flush()
    yield  # a failure inside rolls the transaction back, and the permit with it
    session.execute(delete(PurgePermit).where(col(PurgePermit.id) == permit.id))
    session.expunge(permit)
