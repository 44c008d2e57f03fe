"""Who sees and acts on concerns: the one place routes, pages, Open311 and the concern services ask.

- A villager sees the concerns their household reported or follows (its own report was merged into one).
- An official sees the concerns of their villages; a township supervisor those of the township, its township
  concerns (no village) included; the county admin and auditors (read only) the county's.
- A member of a handler sees every concern dispatched to that handler, now or before (its timeline says so), and
  returns or resolves one while it is with the handler.
- Accepting, dispatching and merging: an official of the concern's village, the township supervisor, the county
  admin. Evaluating: a villager of the reporter household; for a report told in person or by phone, also an
  official of the village who is not a member of the handler that resolved it, recording what the reporter said.
- An anonymous reporter is never shown to anyone but the reporter household (`shows_reporter`); the timeline
  names staff actors to staff only (`shown_actor`).
Someone else's concern looks missing (404 `concern_not_found`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session, col

from ledger.concerns.errors import ConcernNotFound
from ledger.concerns.models import (
    OPEN_STATUSES,
    Channel,
    Concern,
    ConcernEvent,
    ConcernFollower,
    ConcernHandlerMember,
    ConcernStatus,
)
from ledger.core import paging
from ledger.core.base import utcnow
from ledger.identity.models import Role
from ledger.identity.principal import Principal

STAFF = (Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)
ACTING = (Role.OFFICIAL, Role.COUNTY_ADMIN)
IN_PERSON = (Channel.IN_PERSON.value, Channel.PHONE.value)
REPORTER_ONLY_ACTIONS = ("reward",)  # timeline steps only the reporter household (and the village's staff) see


def is_staff(who: Principal) -> bool:
    return who.role in STAFF


def _handlers_of(who: Principal) -> Any:
    """The handlers `who` acts for (a subquery)."""
    return select(col(ConcernHandlerMember.handler_id)).where(col(ConcernHandlerMember.user_id) == who.user_id)


def _handled_by(who: Principal) -> Any:
    """The concerns ever dispatched to a handler `who` acts for (a subquery of ids)."""
    return select(col(ConcernEvent.concern_id)).where(col(ConcernEvent.handler_id).in_(_handlers_of(who)))


def _followed_by(household_id: int | None) -> Any:
    return select(col(ConcernFollower.concern_id)).where(col(ConcernFollower.household_id) == household_id)


def oversees(who: Principal, concern: Concern) -> bool:
    """Staff whose villages (or township, or county) the concern is in: they see it whatever its handler."""
    if who.county_id != concern.county_id:
        return False
    if who.role in (Role.COUNTY_ADMIN, Role.AUDITOR):
        return True
    if who.role != Role.OFFICIAL:
        return False
    if concern.township_id in who.township_ids:
        return True
    return concern.village_id is not None and concern.village_id in who.village_ids


def is_reporter(session: Session, who: Principal, concern: Concern) -> bool:
    """A villager of the household that reported it."""
    return (
        who.role == Role.VILLAGER and who.household_id is not None and concern.reporter_household_id == who.household_id
    )


def follows(session: Session, who: Principal, concern: Concern) -> bool:
    if who.role != Role.VILLAGER or who.household_id is None or concern.id is None:
        return False
    return session.get(ConcernFollower, (concern.id, who.household_id)) is not None


def handled_ever(session: Session, who: Principal, concern: Concern) -> bool:
    if who.user_id is None or who.role not in ACTING or who.county_id != concern.county_id:
        return False
    found = session.scalar(
        select(col(ConcernEvent.id))
        .where(col(ConcernEvent.concern_id) == concern.id, col(ConcernEvent.handler_id).in_(_handlers_of(who)))
        .limit(1)
    )
    return found is not None


def may_see(session: Session, who: Principal, concern: Concern) -> bool:
    if who.role == Role.VILLAGER:
        return is_reporter(session, who, concern) or follows(session, who, concern)
    return oversees(who, concern) or handled_ever(session, who, concern)


def visible_concern(session: Session, who: Principal, concern_id: int, *, lock: bool = False) -> Concern:
    """The concern, if `who` may see it (locked for a move with `lock`); otherwise `concern_not_found`."""
    query = select(Concern).where(col(Concern.id) == concern_id)
    if lock:
        query = query.with_for_update()
    concern = session.scalars(query).first()
    if concern is None or not may_see(session, who, concern):
        raise ConcernNotFound("No such concern, or it is not yours to see.", concern_id=concern_id)
    return concern


def concern_page(
    session: Session,
    who: Principal,
    *,
    status: str | None = None,
    overdue: bool = False,
    village_id: int | None = None,
    handler_id: int | None = None,
    cursor: str | None = None,
    limit: int = paging.PAGE,
    now: datetime | None = None,
) -> paging.Page[Concern]:
    """The concerns `who` sees, newest first, a page at a time. `overdue`: open ones past their step's deadline
    (staff only); `handler_id`: those with that handler now."""
    query = select(Concern).where(col(Concern.county_id) == who.county_id)
    if who.role == Role.VILLAGER:
        if who.household_id is None:
            return paging.Page([], None)
        query = query.where(
            or_(
                col(Concern.reporter_household_id) == who.household_id,
                col(Concern.id).in_(_followed_by(who.household_id)),
            )
        )
    elif who.role == Role.OFFICIAL:
        query = query.where(
            or_(
                col(Concern.village_id).in_(sorted(who.village_ids)),
                col(Concern.township_id).in_(sorted(who.township_ids)),
                col(Concern.id).in_(_handled_by(who)),
            )
        )
    elif who.role == Role.COUNTY_ADMIN or who.role == Role.AUDITOR:
        pass
    else:
        return paging.Page([], None)
    if status is not None:
        query = query.where(col(Concern.status) == status)
    if village_id is not None:
        query = query.where(col(Concern.village_id) == village_id)
    if handler_id is not None:
        query = query.where(col(Concern.handler_id) == handler_id)
    if overdue:
        if not is_staff(who):
            return paging.Page([], None)
        query = query.where(
            col(Concern.status).in_([s.value for s in OPEN_STATUSES]),
            col(Concern.step_due_at) < (now or utcnow()),
        )
    return paging.by_id(session, query, col(Concern.id), cursor=cursor, limit=limit)


# --- acting ---------------------------------------------------------------------------------------------------


def may_accept(who: Principal, concern: Concern) -> bool:
    """Accept, dispatch, merge: an official of its village, the township supervisor, the county admin (conflict of
    interest aside: `Principal.refuse_own`)."""
    return who.role in ACTING and oversees(who, concern)


def may_dispatch(who: Principal, concern: Concern) -> bool:
    """Dispatch: as accepting; a concern its reporter reopened has gone up to the supervisor, so the township
    supervisor or the county admin dispatches it again, not the village's officials."""
    if not may_accept(who, concern):
        return False
    if concern.status == ConcernStatus.REOPENED and who.role == Role.OFFICIAL:
        return concern.township_id in who.township_ids
    return True


may_merge = may_accept


def may_handle(session: Session, who: Principal, concern: Concern) -> bool:
    """Return or resolve: a member of the handler the concern is with now."""
    if concern.handler_id is None or who.user_id is None or who.role not in ACTING:
        return False
    return session.get(ConcernHandlerMember, (concern.handler_id, who.user_id)) is not None


def may_evaluate(session: Session, who: Principal, concern: Concern) -> bool:
    """Evaluate (or reopen): the reporter household; for a report told in person or by phone, an official of its
    village (not of the handler that resolved it) recording what the reporter said."""
    if is_reporter(session, who, concern):
        return True
    if concern.channel not in IN_PERSON or not may_accept(who, concern):
        return False
    return not may_handle(session, who, concern)


# --- what is shown ------------------------------------------------------------------------------------------


def shows_reporter(session: Session, who: Principal, concern: Concern) -> bool:
    """Whether `who` is shown who reported it (household, name, phone): the reporter household always; staff who
    see it when it is not anonymous; nobody else (not other villagers following it, never anyone when it is
    anonymous)."""
    if is_reporter(session, who, concern):
        return True
    if concern.anonymous or who.role == Role.VILLAGER:
        return False
    return is_staff(who) and may_see(session, who, concern)


def visible_events(session: Session, who: Principal, concern: Concern) -> list[ConcernEvent]:
    """The timeline `who` is shown, oldest first (the caller has checked that `who` sees the concern). A reward
    step is the reporter household's business (and its village's staff's)."""
    events = list(
        session.scalars(
            select(ConcernEvent).where(col(ConcernEvent.concern_id) == concern.id).order_by(col(ConcernEvent.id))
        ).all()
    )
    if is_reporter(session, who, concern) or oversees(who, concern):
        return events
    return [e for e in events if e.action not in REPORTER_ONLY_ACTIONS]


def shown_actor(who: Principal, event: ConcernEvent) -> str | None:
    """The actor string of a timeline step, as `who` may see it: staff see staff actors (and the system's);
    villagers see roles only (None here), and nobody sees a villager's or a client's actor string."""
    if not is_staff(who):
        return None
    if event.actor_role in (Role.OFFICIAL, Role.COUNTY_ADMIN, "system"):
        return event.actor
    return None


def is_open(concern: Concern) -> bool:
    return concern.status in {s.value for s in OPEN_STATUSES} or concern.status == ConcernStatus.RESOLVED
