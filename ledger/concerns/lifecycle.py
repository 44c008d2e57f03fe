"""A concern's life: its states and every transition between them, in one table (`TRANSITIONS`), and the one
function that moves a concern (`move`). docs/concerns.md's state table is this table in words.

    transition   from                                 to         deadline it opens          reporter is told
    submit       new                                  submitted  accept                     —
    accept       submitted                            accepted   dispatch                   concern_accepted
    dispatch     accepted, returned, reopened         dispatched resolve                    concern_dispatched
    return       dispatched                           returned   dispatch                   concern_returned
    resolve      dispatched                           resolved   close (calendar days)      concern_resolved
    evaluate     resolved                             closed     —                          concern_closed
    reopen       resolved                             reopened   dispatch (level ≥ 1)       concern_reopened
    auto_close   resolved                             closed     —                          concern_closed
    merge        new, submitted, accepted, returned,  merged     —                          concern_merged
                 dispatched

"new" is a concern row not written yet (a report being made; a duplicate found at once is merged from there).
`move` checks the state (refusing with `concern_wrong_step`, 409, naming `concern_status`), sets the status, the
step's timestamps, the level and the handler, the deadline of the step it opens (`step_due_at`, through
ledger/concerns/deadlines.py) and clears the overdue flag, bumps `version`, appends the timeline event and queues
the notification to the reporter household and every follower (the concern id and status, never who reported).
A dispatch also tells each member of the handler (`concern_assigned`). The services (ledger/concerns/service.py)
check who may act and lock the row first; nothing else sets `concern.status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.concerns import deadlines
from ledger.concerns.models import (
    ClosedBy,
    Concern,
    ConcernCategory,
    ConcernEvent,
    ConcernFollower,
    ConcernHandlerMember,
    ConcernStatus,
)
from ledger.core import outbox
from ledger.core.errors import Conflict

NEW: Final = "new"  # a concern not written yet
SYSTEM: Final = "system"  # actor and role of what the schedule (or the duplicate check) does
ASSIGNED: Final = "concern_assigned"  # told to each member of the handler a concern is dispatched to
TOP_LEVEL: Final = 2


class ConcernWrongStep(Conflict):
    code = "concern_wrong_step"


class Transition(StrEnum):
    SUBMIT = "submit"
    ACCEPT = "accept"
    DISPATCH = "dispatch"
    RETURN = "return"
    RESOLVE = "resolve"
    EVALUATE = "evaluate"
    REOPEN = "reopen"
    AUTO_CLOSE = "auto_close"
    MERGE = "merge"


Deadline = deadlines.Step


@dataclass(frozen=True, slots=True)
class Step:
    """One row of the table."""

    sources: frozenset[str]  # the states it leaves from (ConcernStatus values, or NEW)
    target: ConcernStatus
    opens: Deadline | None  # the step whose deadline starts (None: nothing more is waited for)
    notification: str | None  # the outbox kind queued for the reporter household and the followers


S = ConcernStatus
TRANSITIONS: Mapping[Transition, Step] = MappingProxyType(
    {
        Transition.SUBMIT: Step(frozenset({NEW}), S.SUBMITTED, "accept", None),
        Transition.ACCEPT: Step(frozenset({S.SUBMITTED}), S.ACCEPTED, "dispatch", "concern_accepted"),
        Transition.DISPATCH: Step(
            frozenset({S.ACCEPTED, S.RETURNED, S.REOPENED}), S.DISPATCHED, "resolve", "concern_dispatched"
        ),
        Transition.RETURN: Step(frozenset({S.DISPATCHED}), S.RETURNED, "dispatch", "concern_returned"),
        Transition.RESOLVE: Step(frozenset({S.DISPATCHED}), S.RESOLVED, "close", "concern_resolved"),
        Transition.EVALUATE: Step(frozenset({S.RESOLVED}), S.CLOSED, None, "concern_closed"),
        Transition.REOPEN: Step(frozenset({S.RESOLVED}), S.REOPENED, "dispatch", "concern_reopened"),
        Transition.AUTO_CLOSE: Step(frozenset({S.RESOLVED}), S.CLOSED, None, "concern_closed"),
        Transition.MERGE: Step(
            frozenset({NEW, S.SUBMITTED, S.ACCEPTED, S.RETURNED, S.DISPATCHED}), S.MERGED, None, "concern_merged"
        ),
    }
)


def state_of(concern: Concern) -> str:
    return NEW if concern.id is None else concern.status


def allows(concern: Concern, transition: Transition) -> bool:
    return state_of(concern) in TRANSITIONS[transition].sources


def check(concern: Concern, transition: Transition) -> None:
    """Refuse a transition the concern's state does not allow: 409 `concern_wrong_step`, naming the state."""
    if not allows(concern, transition):
        raise ConcernWrongStep(
            f"This concern is {concern.status}: it cannot be moved by {transition.value} now.",
            concern_id=concern.id,
            concern_status=concern.status,
        )


def move(
    session: Session,
    concern: Concern,
    transition: Transition,
    *,
    actor: str,
    actor_role: str,
    now: datetime,
    note: str | None = None,
    handler_id: int | None = None,
    level: int | None = None,
    into_id: int | None = None,
) -> ConcernEvent:
    """Move the concern along `transition` (the caller has locked its row and checked who may act): returns the
    timeline event written. `handler_id`: the handler a dispatch sends it to; `level`: the level it is raised to
    (a reopening raises it to at least 1 itself); `into_id`: the concern a merge joins; `note`: the event's note
    (a return's reason, a resolution's note)."""
    check(concern, transition)
    step = TRANSITIONS[transition]
    before = None if concern.id is None else concern.status
    concern.status = step.target.value
    _effect(concern, transition, now=now, handler_id=handler_id, into_id=into_id)
    if level is not None:
        concern.level = min(max(level, concern.level), TOP_LEVEL)
    if transition == Transition.REOPEN:
        concern.level = max(concern.level, 1)
        concern.reopened = True
    concern.step_due_at = None if step.opens is None else _due(session, concern, step.opens, now)
    concern.overdue_at = None
    concern.version = (concern.version or 0) + 1
    if concern.id is None:
        session.add(concern)
    session.flush()
    assert concern.id is not None
    event = ConcernEvent(
        concern_id=concern.id,
        at=now,
        action=transition.value,
        from_status=before,
        to_status=concern.status,
        actor=actor,
        actor_role=actor_role,
        handler_id=concern.handler_id if transition != Transition.RETURN else handler_id,
        level=concern.level,
        note=note,
        due_at=concern.step_due_at,
    )
    session.add(event)
    session.flush()
    if step.notification is not None:
        tell_reporter(session, concern, step.notification)
    if transition == Transition.DISPATCH and concern.handler_id is not None:
        for user_id in handler_members(session, concern.handler_id):
            outbox.tell(
                session,
                county_id=concern.county_id,
                household_id=None,
                kind=ASSIGNED,
                user_id=user_id,
                concern_id=concern.id,
                status=concern.status,
            )
    return event


def _effect(
    concern: Concern, transition: Transition, *, now: datetime, handler_id: int | None, into_id: int | None
) -> None:
    if transition == Transition.SUBMIT:
        concern.created_at = now
    elif transition == Transition.ACCEPT:
        concern.accepted_at = now
    elif transition == Transition.DISPATCH:
        assert handler_id is not None
        concern.handler_id = handler_id
        concern.dispatched_at = now
    elif transition == Transition.RETURN:
        concern.handler_id = None  # the timeline keeps whose it was
    elif transition == Transition.RESOLVE:
        concern.resolved_at = now
    elif transition in (Transition.EVALUATE, Transition.AUTO_CLOSE):
        concern.closed_at = now
        concern.closed_by = (ClosedBy.EVALUATION if transition == Transition.EVALUATE else ClosedBy.AUTO).value
    elif transition == Transition.MERGE:
        assert into_id is not None
        concern.merged_into_id = into_id


def _due(session: Session, concern: Concern, step: Deadline, now: datetime) -> datetime | None:
    category = session.get(ConcernCategory, concern.category_id)
    assert category is not None
    return deadlines.due_after(session, concern.county_id, category, step, now)


def tell_reporter(session: Session, concern: Concern, kind: str, **detail: object) -> None:
    """Queue `kind` for the reporter household (if any) and every follower, once each: the concern's id and
    status only, never who reported it."""
    households: list[int] = []
    if concern.reporter_household_id is not None:
        households.append(concern.reporter_household_id)
    for household_id in followers(session, concern):
        if household_id not in households:
            households.append(household_id)
    for household_id in households:
        outbox.tell(
            session,
            county_id=concern.county_id,
            household_id=household_id,
            kind=kind,
            concern_id=concern.id,
            status=concern.status,
            **detail,
        )


def followers(session: Session, concern: Concern) -> list[int]:
    if concern.id is None:
        return []
    return [
        int(h)
        for h in session.scalars(
            select(col(ConcernFollower.household_id))
            .where(col(ConcernFollower.concern_id) == concern.id)
            .order_by(col(ConcernFollower.household_id))
        ).all()
    ]


def handler_members(session: Session, handler_id: int) -> list[int]:
    return [
        int(u)
        for u in session.scalars(
            select(col(ConcernHandlerMember.user_id))
            .where(col(ConcernHandlerMember.handler_id) == handler_id)
            .order_by(col(ConcernHandlerMember.user_id))
        ).all()
    ]
