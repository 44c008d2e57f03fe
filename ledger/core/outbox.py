"""Notifications through an outbox: written in the same database transaction as the change they tell of, then
delivered by the scheduled job through a sink (an SMS gateway; in dev, the log), retried with backoff until
delivered. Delivery is at least once: a crash between sending and recording sends again."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, ColumnElement, Index, bindparam, case, func, insert, select
from sqlmodel import Field, Session, SQLModel, col

from ledger.core import failures
from ledger.core.base import as_utc, table_of, timestamp, utcnow

log = logging.getLogger("shanzhi.notify")

MAX_ATTEMPTS = 12
STEP = "deliver"  # the name of the scheduled step (ledger/jobs.py)


class Notification(SQLModel, table=True):
    __table_args__ = (Index("ix_notification_due", "delivered_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id")
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)
    kind: str = Field(max_length=40)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = timestamp(default_factory=utcnow)
    attempts: int = 0
    next_attempt_at: datetime = timestamp(default_factory=utcnow)
    delivered_at: datetime | None = timestamp(default=None)
    last_error: str | None = Field(default=None, max_length=500)


# Raises to say "not delivered, try again later"; Undeliverable to say "never", NotYet to say "not before then". A
# sink that needs the database (whom to send to, counting caps) reads it through the notification's own session
# (`Session.object_session(notification)`): the one delivering it, in its savepoint.
Sink = Callable[[Notification], None]


class Undeliverable(Exception):
    """The channel says this notification can never be delivered (an invalid phone, a text the provider refuses):
    it is not tried again; its last_error says why."""


class NotYet(Exception):
    """The channel may not send it now (a daily cap is reached): try again at `until`, not counted as a failed
    attempt, so a capped notification is delayed, never lost."""

    def __init__(self, until: datetime, why: str) -> None:
        super().__init__(why)
        self.until = until


NOTIFICATION = table_of(Notification)
# Queued on every approval, so built once; a Core insert, written at once (no ORM object to build and flush).
_QUEUE = insert(NOTIFICATION).values(
    county_id=bindparam("county_id"),
    household_id=bindparam("household_id"),
    kind=bindparam("kind"),
    payload=bindparam("payload"),
    created_at=bindparam("now"),
    attempts=0,
    next_attempt_at=bindparam("now"),
)


def tell(session: Session, *, county_id: int, household_id: int | None, kind: str, **payload: Any) -> None:
    """Queue a notification in the caller's unit of work: it exists exactly when the change it tells of does."""
    if session.new:  # the household or county it names may be one this unit of work has not written yet
        session.flush()
    session.connection().execute(
        _QUEUE,
        {"county_id": county_id, "household_id": household_id, "kind": kind, "payload": payload, "now": utcnow()},
    )


def notification_row(*, county_id: int, household_id: int | None, kind: str, **payload: Any) -> dict[str, Any]:
    """The row `tell` queues, for a caller that writes it with its own statement (in the same unit of work)."""
    now = utcnow()
    return {
        "county_id": county_id,
        "household_id": household_id,
        "kind": kind,
        "payload": payload,
        "created_at": now,
        "next_attempt_at": now,
    }


def log_sink(notification: Notification) -> None:
    """The development sink: the notification goes to the log."""
    log.info(
        "notification",
        extra={
            "fields": {
                "household_id": notification.household_id,
                "kind": notification.kind,
                "payload": notification.payload,
            }
        },
    )


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min … capped at 6 h."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


def deliver_due(session: Session, sink: Sink, *, now: datetime | None = None, limit: int = 200) -> tuple[int, int]:
    """Send what is due; returns (delivered, failed); one put off (NotYet) is neither. Rows are locked (SKIP
    LOCKED on PostgreSQL), so two deliverers never send the same notification at once."""
    now = now or utcnow()
    due = session.scalars(
        select(Notification)
        .where(
            col(Notification.delivered_at).is_(None),
            col(Notification.next_attempt_at) <= now,
            col(Notification.attempts) < MAX_ATTEMPTS,
        )
        .order_by(col(Notification.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    delivered = failed = 0
    for notification in due:
        # A failure of the channel is a retry; anything else about one notification (it cannot be recorded) is
        # skipped and recorded in a savepoint of its own (ledger/core/failures.py), and the others go out.
        with failures.item(
            session, step=STEP, kind="notification", record_id=notification.id, county_id=notification.county_id
        ):
            sent = _deliver_one(notification, sink, now)
            if sent:
                delivered += 1
            elif sent is not None:
                failed += 1
            session.flush()
    return delivered, failed


def _deliver_one(notification: Notification, sink: Sink, now: datetime) -> bool | None:
    """True: delivered; False: failed (tried again later, or never); None: put off (not a failure)."""
    notification.attempts += 1
    try:
        sink(notification)
    except NotYet as later:
        notification.attempts -= 1
        notification.last_error = f"NotYet: {later}"[:500]
        notification.next_attempt_at = later.until
        return None
    except Undeliverable as error:
        notification.attempts = MAX_ATTEMPTS  # tried no more; kept, with why, for staff to see
        notification.last_error = f"Undeliverable: {error}".replace("\x00", "")[:500]
        log.warning("notification undeliverable", extra={"fields": {"id": notification.id, "error": str(error)}})
        return False
    except Exception as error:  # noqa: BLE001  (any failure of the channel means: try again later)
        notification.last_error = f"{type(error).__name__}: {error}".replace("\x00", "")[:500]
        notification.next_attempt_at = now + backoff(notification.attempts)
        log.warning(
            "notification not delivered", extra={"fields": {"id": notification.id, "error": notification.last_error}}
        )
        return False
    notification.delivered_at = now
    return True


@dataclass(frozen=True)
class Backlog:
    """What waits to go out: due now, waiting for a retry after a failure, given up after the last attempt; and
    since when the oldest due one has been due (None when nothing is)."""

    due: int = 0
    retrying: int = 0
    given_up: int = 0
    oldest_due: datetime | None = None


def backlog_of(
    session: Session, table: Any, *, trying: ColumnElement[bool], now: datetime, where: Sequence[Any] = ()
) -> Backlog:
    """One query over the undelivered rows of an outbox-like table (`delivered_at`, `next_attempt_at`; the index
    that leads with `delivered_at` finds them): `trying` tells a row still tried from one given up."""
    due = trying & (table.next_attempt_at <= now)
    one = 1
    row = session.execute(
        select(
            func.coalesce(func.sum(case((due, one), else_=0)), 0),
            func.coalesce(func.sum(case((trying & (table.next_attempt_at > now), one), else_=0)), 0),
            func.coalesce(func.sum(case((~trying, one), else_=0)), 0),
            func.min(case((due, table.next_attempt_at), else_=None)),
        ).where(table.delivered_at.is_(None), *where)
    ).one()
    return Backlog(int(row[0]), int(row[1]), int(row[2]), as_utc(row[3]) if row[3] is not None else None)


def backlog(session: Session, *, now: datetime | None = None) -> Backlog:
    """The notifications (SMS and the other channels) not delivered yet."""
    table = table_of(Notification)
    return backlog_of(session, table.c, trying=table.c.attempts < MAX_ATTEMPTS, now=now or utcnow())
