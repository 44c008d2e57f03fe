"""Concerns as the API (and the pages) show them: the parcel view, with its timeline. Whether the caller may see a
concern at all, and which of its steps and whether its reporter, ledger/concerns/access.py decides first; this
module only leaves out what that answer says to leave out:

- the reporter (household, name, phone) only where `access.shows_reporter` says so (never to staff, handlers or
  other villagers when the report is anonymous);
- on the timeline, everyone sees who took a step by role (`villager`, `official`, `handler`, `system`); staff
  also see the staff account that took it, and a step's note; a villager's account is never named;
- the reward (its claim and points) only to the reporter's household.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlmodel import Session, SQLModel, col

from api.schemas.concerns import (
    CategoryBrief,
    CategoryOut,
    ConcernOut,
    HandlerBrief,
    HandlerOut,
    PhotoOut,
    PlaceBrief,
    PlaceOut,
    ReporterOut,
    RewardOut,
    StepOut,
)
from ledger.claims.models import Claim
from ledger.concerns import access, voice
from ledger.concerns.lifecycle import Transition
from ledger.concerns.models import (
    OPEN_STATUSES,
    Concern,
    ConcernCategory,
    ConcernEvent,
    ConcernHandler,
    ConcernHandlerMember,
    ConcernPhoto,
    ConcernPlace,
    ConcernStatus,
    ConcernVoice,
)
from ledger.core.base import as_utc, row_id, utcnow
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.tenancy import Household

STAFF = (Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)
STAFF_ROLES = frozenset(r.value for r in STAFF)
HANDLER_STEPS = frozenset({Transition.RETURN.value, Transition.RESOLVE.value})
By = Literal["villager", "official", "handler", "system"]
# The words for `by`, for the pages (api/pages/ translates them): 村民, 村干部, 处理人, 系统.
BY_WORDS: dict[str, tuple[str, str]] = {
    "villager": ("村民", "villager"),
    "official": ("村干部", "official"),
    "handler": ("处理人", "handler"),
    "system": ("系统", "system"),
}


def photo_url(concern_id: int, evidence_id: int) -> str:
    return f"/api/v1/concerns/{concern_id}/photos/{evidence_id}"


def voice_url(concern_id: int) -> str:
    return f"/api/v1/concerns/{concern_id}/voice"


def is_staff(who: Principal) -> bool:
    return who.role in STAFF


def by_role(event: ConcernEvent) -> By:
    """Who took a step, by role: what the reporter sees of every step (and staff too, beside the account)."""
    if event.actor_role == "system":
        return "system"
    if event.actor_role not in STAFF_ROLES:  # the reporter, or the Open311 client sending their report
        return "villager"
    return "handler" if event.action in HANDLER_STEPS else "official"


def step_out(event: ConcernEvent, who: Principal) -> StepOut:
    staff = is_staff(who)
    return StepOut(
        action=event.action,
        status=event.to_status,
        at=event.at,
        by=by_role(event),
        actor=access.shown_actor(who, event),
        level=event.level,
        note=event.note if staff else None,
        due_at=event.due_at,
    )


def overdue(concern: Concern, now: datetime) -> bool:
    """The step now to be taken is late: flagged by the schedule, or past its deadline already."""
    if concern.status not in OPEN_STATUSES:
        return False
    if concern.overdue_at is not None:
        return True
    return concern.step_due_at is not None and as_utc(concern.step_due_at) < now


def actions(session: Session, who: Principal, concern: Concern) -> list[str]:
    """What the caller may do with the concern now (the buttons a page shows)."""
    status = concern.status
    found: list[str] = []
    if status == ConcernStatus.SUBMITTED and access.may_accept(who, concern):
        found.append("accept")
    if status in (ConcernStatus.ACCEPTED, ConcernStatus.RETURNED, ConcernStatus.REOPENED) and access.may_dispatch(
        who, concern
    ):
        found.append("dispatch")
    if status == ConcernStatus.DISPATCHED and access.may_handle(session, who, concern):
        found += ["return", "resolve"]
    if status in (
        ConcernStatus.SUBMITTED,
        ConcernStatus.ACCEPTED,
        ConcernStatus.RETURNED,
        ConcernStatus.DISPATCHED,
    ) and access.may_merge(who, concern):
        found.append("merge")
    if status == ConcernStatus.RESOLVED and access.may_evaluate(session, who, concern):
        found.append("evaluate")
    return found


def _rows(session: Session, model: type[SQLModel], ids: Iterable[int | None]) -> dict[int, SQLModel]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    found = session.scalars(select(model).where(col(model.id).in_(wanted))).all()  # type: ignore[attr-defined]
    return {row.id: row for row in found}  # type: ignore[attr-defined]


def _photos(session: Session, concern_ids: Sequence[int]) -> dict[int, list[PhotoOut]]:
    if not concern_ids:
        return {}
    rows = session.execute(
        select(col(ConcernPhoto.concern_id), col(ConcernPhoto.evidence_id), col(ConcernPhoto.purpose))
        .where(col(ConcernPhoto.concern_id).in_(sorted(set(concern_ids))))
        .order_by(col(ConcernPhoto.concern_id), col(ConcernPhoto.evidence_id))
    ).all()
    found: dict[int, list[PhotoOut]] = {}
    for concern_id, evidence_id, purpose in rows:
        found.setdefault(int(concern_id), []).append(PhotoOut(url=photo_url(concern_id, evidence_id), purpose=purpose))
    return found


def _voices(session: Session, concern_ids: Sequence[int]) -> set[int]:
    if not concern_ids:
        return set()
    return {
        int(c or 0)
        for c in session.scalars(
            select(col(ConcernVoice.concern_id)).where(
                col(ConcernVoice.concern_id).in_(sorted(set(concern_ids))), col(ConcernVoice.purged_at).is_(None)
            )
        )
    }


def _reporter(
    session: Session, who: Principal, concern: Concern, households: dict[int, SQLModel] | None = None
) -> ReporterOut | None:
    if not access.shows_reporter(session, who, concern):
        return None
    household = None
    if concern.reporter_household_id is not None:
        found = (households or {}).get(concern.reporter_household_id)
        household = found if found is not None else session.get(Household, concern.reporter_household_id)
    assert household is None or isinstance(household, Household)
    return ReporterOut(
        household_id=concern.reporter_household_id,
        household_name=household.name if household is not None else None,
        name=concern.reporter_name,
        phone=concern.reporter_phone,
    )


def _reward(session: Session, who: Principal, concern: Concern) -> RewardOut | None:
    if (
        concern.reward_claim_id is None
        or who.role != Role.VILLAGER
        or who.household_id is None
        or who.household_id != concern.reporter_household_id
    ):
        return None
    claim = session.get(Claim, concern.reward_claim_id)
    if claim is None:
        return None
    return RewardOut(claim_id=row_id(claim.id), points=claim.points, status=claim.status)


def _out(
    session: Session,
    who: Principal,
    concern: Concern,
    *,
    category: ConcernCategory,
    handler: ConcernHandler | None,
    place: ConcernPlace | None,
    photos: list[PhotoOut],
    has_voice: bool,
    now: datetime,
    timeline: list[StepOut] | None,
    replayed: bool,
    households: dict[int, SQLModel] | None = None,
) -> ConcernOut:
    concern_id = row_id(concern.id)
    return ConcernOut(
        id=concern_id,
        status=concern.status,
        kind=concern.kind,
        category=CategoryBrief(
            code=category.code, name_zh=category.name_zh, name_en=category.name_en, urgent=category.urgent
        ),
        text=concern.text,
        anonymous=concern.anonymous,
        channel=concern.channel,
        county_id=concern.county_id,
        township_id=concern.township_id,
        village_id=concern.village_id,
        place=None if place is None else PlaceBrief(id=row_id(place.id), name=place.name, lat=place.lat, lon=place.lon),
        lat=concern.lat,
        lon=concern.lon,
        level=concern.level,
        handler=None if handler is None else HandlerBrief(id=row_id(handler.id), name=handler.name, kind=handler.kind),
        merged_into_id=concern.merged_into_id,
        reopened=concern.reopened,
        judgement=concern.judgement,
        resolution_note=concern.resolution_note,
        satisfied=concern.satisfied,
        evaluation_comment=concern.evaluation_comment,
        closed_by=concern.closed_by,
        step_due_at=concern.step_due_at,
        overdue=overdue(concern, now),
        created_at=concern.created_at,
        accepted_at=concern.accepted_at,
        dispatched_at=concern.dispatched_at,
        resolved_at=concern.resolved_at,
        closed_at=concern.closed_at,
        photos=photos,
        voice_url=voice_url(concern_id) if has_voice else None,
        reporter=_reporter(session, who, concern, households),
        reward=_reward(session, who, concern),
        actions=actions(session, who, concern),
        version=concern.version,
        timeline=timeline,
        replayed=replayed,
    )


def concern_out(session: Session, who: Principal, concern: Concern, *, replayed: bool = False) -> ConcernOut:
    """One concern as this caller may see it, with its timeline (the parcel view)."""
    concern_id = row_id(concern.id)
    category = session.get(ConcernCategory, concern.category_id)
    assert category is not None
    handler = session.get(ConcernHandler, concern.handler_id) if concern.handler_id is not None else None
    place = session.get(ConcernPlace, concern.place_id) if concern.place_id is not None else None
    return _out(
        session,
        who,
        concern,
        category=category,
        handler=handler,
        place=place,
        photos=_photos(session, [concern_id]).get(concern_id, []),
        has_voice=voice.of_concern(session, concern_id) is not None,
        now=utcnow(),
        timeline=[step_out(e, who) for e in access.visible_events(session, who, concern)],
        replayed=replayed,
    )


def concerns_out(session: Session, who: Principal, concerns: Sequence[Concern]) -> list[ConcernOut]:
    """Many concerns as this caller may see them, without their timelines; categories, handlers, places, photos,
    voice notes and reporting households read once for the whole page."""
    ids = [row_id(c.id) for c in concerns]
    categories = _rows(session, ConcernCategory, (c.category_id for c in concerns))
    handlers = _rows(session, ConcernHandler, (c.handler_id for c in concerns))
    places = _rows(session, ConcernPlace, (c.place_id for c in concerns))
    photos = _photos(session, ids)
    voices = _voices(session, ids)
    households = _rows(session, Household, (c.reporter_household_id for c in concerns))  # held: one read each
    now = utcnow()
    found = []
    for concern in concerns:
        category = categories[concern.category_id]
        handler = handlers.get(concern.handler_id) if concern.handler_id is not None else None
        place = places.get(concern.place_id) if concern.place_id is not None else None
        assert isinstance(category, ConcernCategory)
        assert handler is None or isinstance(handler, ConcernHandler)
        assert place is None or isinstance(place, ConcernPlace)
        found.append(
            _out(
                session,
                who,
                concern,
                category=category,
                handler=handler,
                place=place,
                photos=photos.get(row_id(concern.id), []),
                has_voice=row_id(concern.id) in voices,
                now=now,
                timeline=None,
                replayed=False,
                households=households,
            )
        )
    return found


# --- set-up -----------------------------------------------------------------------------------------------------


def category_out(category: ConcernCategory) -> CategoryOut:
    return CategoryOut.model_validate(category, from_attributes=True)


def place_out(place: ConcernPlace) -> PlaceOut:
    return PlaceOut.model_validate(place, from_attributes=True)


def handler_out(session: Session, who: Principal, handler: ConcernHandler) -> HandlerOut:
    members = None
    if who.role == Role.COUNTY_ADMIN:
        members = sorted(
            int(u)
            for u in session.scalars(
                select(col(ConcernHandlerMember.user_id)).where(col(ConcernHandlerMember.handler_id) == handler.id)
            )
        )
    return HandlerOut(
        id=row_id(handler.id),
        kind=handler.kind,
        name=handler.name,
        village_id=handler.village_id,
        township_id=handler.township_id,
        supervisor_user_id=handler.supervisor_user_id,
        active=handler.active,
        member_ids=members,
    )
