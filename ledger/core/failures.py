"""What the scheduled work could not do. One bad record must never stop the schedule: each item of a step runs in
a savepoint of its own (`item`), and each step in a unit of work of its own (ledger/jobs.py). A failing item is
rolled back alone and skipped; it is logged (step, record kind and id), counted in /metrics (`FAILURES`, by step)
and recorded in `job_failure`, one row per (step, record) with when it was first and last seen and how often, so
that auditors and county admins see it (GET /api/v1/jobs/failures, `shanzhi failures`). The next run tries the
item again; when it goes through, its row is marked resolved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from prometheus_client import Counter
from sqlalchemy import Index, UniqueConstraint, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col

from ledger.core import paging
from ledger.core.base import as_utc, timestamp, utcnow
from ledger.core.errors import DomainError

log = logging.getLogger("shanzhi.jobs")

STEP = "step"  # the record kind of a step that failed as a whole (its record id is empty)
FAILED_ITEMS = "job_failed_items"  # session.info: how many items of this unit of work failed
OPEN = "job_open_failures"  # session.info: per step, the (kind, id) of its failures not yet resolved

# Not in any registry here: api/observability.py adds it to the one /metrics shows.
FAILURES = Counter(
    "shanzhi_job_failures", "Scheduled items (or whole steps) that failed, by step", ["step"], registry=None
)


class JobFailure(SQLModel, table=True):
    __tablename__ = "job_failure"
    __table_args__ = (
        UniqueConstraint("step", "record_kind", "record_id", name="uq_job_failure_record"),
        Index("ix_job_failure_county_last_seen", "county_id", "last_seen"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_id: int | None = Field(default=None, foreign_key="county.id")  # None: a whole step, every county
    step: str = Field(max_length=40)
    record_kind: str = Field(max_length=20)  # claim, transaction, household, voucher, booking, notification, …
    record_id: str = Field(max_length=64)  # a number, or a webhook delivery's id; empty for a whole step
    error_code: str = Field(max_length=60)  # the domain error's stable code, else the exception's class
    error: str = Field(max_length=500)
    first_seen: datetime = timestamp(default_factory=utcnow)
    last_seen: datetime = timestamp(default_factory=utcnow)
    times: int = 1
    resolved_at: datetime | None = timestamp(default=None)  # the item went through at a later run


def code_of(error: BaseException) -> str:
    """A domain error's stable code (ledger/core/errors.py), else the exception's class."""
    return (error.code if isinstance(error, DomainError) else type(error).__name__)[:60]


def text_of(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".replace("\x00", "")[:500]


@contextmanager
def item(session: Session, *, step: str, kind: str, record_id: object, county_id: int | None) -> Iterator[None]:
    """Run the block in a savepoint. If it raises, undo what it did (only that), record the failure, and carry
    on after the block: the exception does not propagate. The caller's loop goes on to the next item."""
    written = session.info.get("postings_written", 0)
    savepoint = session.begin_nested()
    try:
        yield
        savepoint.commit()
    except Exception as error:  # noqa: BLE001  (any failure of one item: skip it, tell, go on)
        if savepoint.is_active:
            savepoint.rollback()
        session.info["postings_written"] = written  # what the rolled-back item wrote was not written
        failed(session, step=step, kind=kind, record_id=record_id, county_id=county_id, error=error)
    else:
        succeeded(session, step=step, kind=kind, record_id=record_id)


def failed(
    session: Session, *, step: str, kind: str, record_id: object, county_id: int | None, error: BaseException
) -> None:
    """Log, count and record one failure in the caller's unit of work (in a savepoint of its own)."""
    rid = "" if record_id is None else str(record_id)
    log.error(
        "scheduled item failed",
        exc_info=error,
        extra={"fields": {"step": step, "record_kind": kind, "record_id": rid, "error": code_of(error)}},
    )
    FAILURES.labels(step=step).inc()
    session.info[FAILED_ITEMS] = session.info.get(FAILED_ITEMS, 0) + 1
    if step in session.info.get(OPEN, {}):
        session.info[OPEN][step].add((kind, rid))
    now = utcnow()
    try:
        with session.begin_nested():
            row = session.scalars(
                select(JobFailure).where(
                    col(JobFailure.step) == step, col(JobFailure.record_kind) == kind, col(JobFailure.record_id) == rid
                )
            ).first()
            if row is None:
                session.add(
                    JobFailure(
                        county_id=county_id,
                        step=step,
                        record_kind=kind,
                        record_id=rid,
                        error_code=code_of(error),
                        error=text_of(error),
                        first_seen=now,
                        last_seen=now,
                    )
                )
            else:
                row.error_code, row.error, row.last_seen = code_of(error), text_of(error), now
                row.times += 1
                row.resolved_at = None
    except IntegrityError:  # another worker recorded the same failure at the same moment: one row is enough
        log.info("job failure recorded by another worker", extra={"fields": {"step": step, "record_id": rid}})


def succeeded(session: Session, *, step: str, kind: str, record_id: object) -> None:
    """The item went through: if it had failed at an earlier run, its row is marked resolved. The open failures
    of the step are read once per unit of work, so an item that never failed costs no statement."""
    rid = "" if record_id is None else str(record_id)
    still = _open(session, step)
    if (kind, rid) not in still:
        return
    still.discard((kind, rid))
    session.execute(
        update(JobFailure)
        .where(
            col(JobFailure.step) == step,
            col(JobFailure.record_kind) == kind,
            col(JobFailure.record_id) == rid,
            col(JobFailure.resolved_at).is_(None),
        )
        .values(resolved_at=utcnow())
    )


def _open(session: Session, step: str) -> set[tuple[str, str]]:
    known: dict[str, set[tuple[str, str]]] = session.info.setdefault(OPEN, {})
    if step not in known:
        rows = session.execute(
            select(col(JobFailure.record_kind), col(JobFailure.record_id)).where(
                col(JobFailure.step) == step, col(JobFailure.resolved_at).is_(None)
            )
        ).all()
        known[step] = {(kind, rid) for kind, rid in rows}
    return known[step]


def page(
    session: Session,
    *,
    county_id: int | None = None,
    open_only: bool = False,
    cursor: str | None = None,
    limit: int = paging.PAGE,
) -> paging.Page[JobFailure]:
    """`recent` a page at a time after `cursor`: newest last seen first, the id breaking ties. A failure seen
    again while a client walks the list moves to the front, so the walk does not meet it twice."""
    query = select(JobFailure)
    if county_id is not None:
        query = query.where((col(JobFailure.county_id) == county_id) | col(JobFailure.county_id).is_(None))
    if open_only:
        query = query.where(col(JobFailure.resolved_at).is_(None))
    limit = paging.bounded(limit)
    key = paging.decode(cursor, int, int)
    if key is not None:
        at, after_id = paging.moment(int(key[0])), int(key[1])
        seen = col(JobFailure.last_seen)
        query = query.where((seen < at) | ((seen == at) & (col(JobFailure.id) < after_id)))
    rows = session.scalars(
        query.order_by(col(JobFailure.last_seen).desc(), col(JobFailure.id).desc()).limit(limit + 1)
    ).all()
    return paging.cut(rows, limit, lambda f: (paging.micros(as_utc(f.last_seen)), int(f.id or 0)))


def recent(
    session: Session, *, county_id: int | None = None, open_only: bool = False, limit: int = 200
) -> Sequence[JobFailure]:
    """Failures newest first; with a county, its own and those of whole steps (which concern every county)."""
    query = select(JobFailure)
    if county_id is not None:
        query = query.where((col(JobFailure.county_id) == county_id) | col(JobFailure.county_id).is_(None))
    if open_only:
        query = query.where(col(JobFailure.resolved_at).is_(None))
    return session.scalars(
        query.order_by(col(JobFailure.last_seen).desc(), col(JobFailure.id).desc()).limit(limit)
    ).all()
