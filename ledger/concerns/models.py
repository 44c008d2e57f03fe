"""Village concerns: reports of a complaint, a question, a suggestion or a hazard, handled to the end with deadlines
in working time (docs/concerns.md).

A concern moves through the states of `ConcernStatus` by the one table in ledger/concerns/lifecycle.py; every move
appends a `ConcernEvent` (the timeline, never updated). The set-up a county edits: its categories (with their
deadlines and the catalogue matter a useful report earns), the places of each village, the handlers concerns are
dispatched to, and its working calendar (`CalendarDay`, and the hours on the county row).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String, UniqueConstraint, false, true
from sqlmodel import Field, SQLModel

from ledger.core.base import timestamp, utcnow


class ConcernKind(StrEnum):
    COMPLAINT = "complaint"
    QUESTION = "question"
    SUGGESTION = "suggestion"
    HAZARD = "hazard"


class ConcernStatus(StrEnum):
    SUBMITTED = "submitted"  # reported; waiting to be accepted
    ACCEPTED = "accepted"  # an official took it on; waiting to be dispatched
    DISPATCHED = "dispatched"  # with a handler; waiting to be resolved
    RETURNED = "returned"  # the handler sent it back (not theirs); waiting to be dispatched again
    RESOLVED = "resolved"  # the handler says it is done; waiting for the reporter's evaluation
    REOPENED = "reopened"  # the reporter was not satisfied (once): with the supervisor, to dispatch again
    CLOSED = "closed"  # evaluated by the reporter, or closed by the schedule after the county's days
    MERGED = "merged"  # a duplicate: its reporter follows the concern it was merged into


OPEN_STATUSES = (
    ConcernStatus.SUBMITTED,
    ConcernStatus.ACCEPTED,
    ConcernStatus.DISPATCHED,
    ConcernStatus.RETURNED,
    ConcernStatus.REOPENED,
)  # a step is still to be taken by staff: these have a deadline and can be overdue
DONE_STATUSES = (ConcernStatus.CLOSED, ConcernStatus.MERGED)


class Channel(StrEnum):
    APP = "app"  # the reporter, signed in (the village code, or their pages)
    IN_PERSON = "in_person"  # told an official, who recorded it
    PHONE = "phone"  # told an official by phone, who recorded it
    OPEN311 = "open311"  # sent by an Open311 client (its key names it)


class Judgement(StrEnum):
    REAL = "real"  # the handler found the problem real: a useful report (it may earn points)
    NOT_CONFIRMED = "not_confirmed"  # nothing found, in good faith
    FALSE = "false"  # false or malicious: earns nothing (an official may record a deduction the usual way)


class HandlerKind(StrEnum):
    OFFICIAL = "official"  # a village official
    GRID = "grid"  # a grid member (网格员)
    TOWNSHIP_OFFICE = "township_office"
    DEPARTMENT = "department"  # another department the county set up


class ClosedBy(StrEnum):
    EVALUATION = "evaluation"
    AUTO = "auto"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} in ({', '.join(repr(v.value) for v in values)})"


class ConcernCategory(SQLModel, table=True):
    """A county's category of concerns, with each step's deadline (docs/concerns.md, "Deadlines")."""

    __tablename__ = "concern_category"
    __table_args__ = (
        UniqueConstraint("county_id", "code", name="uq_concern_category_county_code"),
        CheckConstraint(
            "accept_minutes > 0 and dispatch_minutes > 0 and resolve_minutes > 0", name="deadlines_positive"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id")
    code: str = Field(max_length=32)
    name_zh: str = Field(max_length=40)
    name_en: str = Field(max_length=60)
    urgent: bool = False
    accept_minutes: int = 1  # working minutes
    dispatch_minutes: int = 5  # working minutes
    resolve_minutes: int = (
        3 * 9 * 60
    )  # working minutes (3 working days of 08:30–17:30), or elapsed minutes for an urgent one
    resolve_working: bool = True  # False: the resolve deadline runs on the clock, nights and holidays included
    matter_code: str | None = Field(default=None, max_length=40)  # what a confirmed report earns; None: nothing
    active: bool = Field(default=True, sa_column_kwargs={"server_default": true()})


class ConcernPlace(SQLModel, table=True):
    """A named place of a village (the bridge, the culture hall), for reports without a position."""

    __tablename__ = "concern_place"

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    name: str = Field(max_length=60)
    lat: float | None = None
    lon: float | None = None
    active: bool = Field(default=True, sa_column_kwargs={"server_default": true()})


class ConcernHandler(SQLModel, table=True):
    """Whom a concern is dispatched to: a village official, a grid member, a township office or a department. Its
    members (staff accounts) act for it; its supervisor is told when it is late."""

    __tablename__ = "concern_handler"
    __table_args__ = (CheckConstraint(_in("kind", HandlerKind), name="kind"),)

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    kind: str = Field(sa_type=String(16))
    name: str = Field(max_length=60)
    village_id: int | None = Field(default=None, foreign_key="village.id")
    township_id: int | None = Field(default=None, foreign_key="township.id")
    supervisor_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    active: bool = Field(default=True, sa_column_kwargs={"server_default": true()})


class ConcernHandlerMember(SQLModel, table=True):
    __tablename__ = "concern_handler_member"

    handler_id: int = Field(sa_column=Column(ForeignKey("concern_handler.id"), primary_key=True))
    user_id: int = Field(sa_column=Column(ForeignKey("app_user.id"), primary_key=True, index=True))


class Concern(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint(_in("kind", ConcernKind), name="kind"),
        CheckConstraint(_in("status", ConcernStatus), name="status"),
        CheckConstraint(_in("channel", Channel), name="channel"),
        CheckConstraint(f"judgement is null or {_in('judgement', Judgement)}", name="judgement"),
        CheckConstraint(f"closed_by is null or {_in('closed_by', ClosedBy)}", name="closed_by"),
        CheckConstraint("level between 0 and 2", name="level"),
        CheckConstraint("(status = 'merged') = (merged_into_id is not null)", name="merged_has_target"),
        Index("ix_concern_queue", "village_id", "status", "created_at"),
        Index("ix_concern_due", "status", "step_due_at"),
        Index("ix_concern_category", "category_id", "status"),
        Index("ix_concern_township", "township_id", "status"),
        Index("ix_concern_reporter", "reporter_household_id", "created_at"),
        Index("ix_concern_handler", "handler_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    township_id: int = Field(foreign_key="township.id")
    village_id: int | None = Field(default=None, foreign_key="village.id")  # None: a township's concern code
    category_id: int = Field(foreign_key="concern_category.id")
    kind: str = Field(sa_type=String(12))
    text: str = Field(max_length=1000)
    anonymous: bool = False  # the reporter is never shown to officials, handlers or clients (the system knows)
    channel: str = Field(default=Channel.APP.value, sa_type=String(12))
    reporter_user_id: int | None = Field(default=None, foreign_key="app_user.id")  # the villager who reported
    reporter_household_id: int | None = Field(default=None, foreign_key="household.id")
    reporter_person_id: int | None = Field(default=None, foreign_key="person.id")
    reporter_name: str | None = Field(default=None, max_length=100)  # told in person, by phone or by a client
    reporter_phone: str | None = Field(default=None, max_length=20)
    open311_client_id: int | None = Field(default=None, foreign_key="open311_client.id")
    media_url: str | None = Field(default=None, max_length=500)  # an Open311 client's photo: kept, never fetched
    entered_by: str = Field(max_length=64)  # the actor who typed it in: the reporter, an official, a client
    place_id: int | None = Field(default=None, foreign_key="concern_place.id")
    lat: float | None = None
    lon: float | None = None
    status: str = Field(default=ConcernStatus.SUBMITTED.value, sa_type=String(12))
    level: int = 0  # 0 the village, 1 the township supervisor, 2 the county (raised when late, and on reopening)
    handler_id: int | None = Field(default=None, foreign_key="concern_handler.id")
    merged_into_id: int | None = Field(default=None, foreign_key="concern.id")
    reopened: bool = False  # the reporter's "not satisfied" already reopened it once
    judgement: str | None = Field(default=None, sa_type=String(16))
    resolution_note: str | None = Field(default=None, max_length=1000)
    satisfied: bool | None = None
    evaluation_comment: str | None = Field(default=None, max_length=500)
    closed_by: str | None = Field(default=None, sa_type=String(12))
    step_due_at: datetime | None = timestamp(default=None)  # the deadline of the step now to be taken
    overdue_at: datetime | None = timestamp(default=None)  # when the schedule found the current step late
    created_at: datetime = timestamp(default_factory=utcnow)
    accepted_at: datetime | None = timestamp(default=None)
    dispatched_at: datetime | None = timestamp(default=None)
    resolved_at: datetime | None = timestamp(default=None)
    closed_at: datetime | None = timestamp(default=None)
    reward_claim_id: int | None = Field(default=None, foreign_key="claim.id")
    version: int = 0  # moves on at every step


class ConcernEvent(SQLModel, table=True):
    """One step of a concern's timeline (append-only): what happened, who (as an actor string and a role), when,
    and the deadline of the step it opened."""

    __tablename__ = "concern_event"
    __table_args__ = (Index("ix_concern_event_concern", "concern_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    concern_id: int = Field(foreign_key="concern.id")
    at: datetime = timestamp(default_factory=utcnow)
    action: str = Field(max_length=16)  # a lifecycle transition, or overdue / escalate / follow / reward
    from_status: str | None = Field(default=None, max_length=12)
    to_status: str | None = Field(default=None, max_length=12)
    actor: str = Field(max_length=64)
    actor_role: str = Field(max_length=16)  # a Role value, or "system", or "client" (Open311)
    handler_id: int | None = Field(default=None, foreign_key="concern_handler.id")
    level: int = 0
    note: str | None = Field(default=None, max_length=1000)
    due_at: datetime | None = timestamp(default=None)


class ConcernPhoto(SQLModel, table=True):
    __tablename__ = "concern_photo"
    __table_args__ = (CheckConstraint("purpose in ('report', 'resolution')", name="purpose"),)

    concern_id: int = Field(sa_column=Column(ForeignKey("concern.id"), primary_key=True))
    evidence_id: int = Field(sa_column=Column(ForeignKey("evidence.id"), primary_key=True, index=True))
    purpose: str = Field(sa_type=String(12))


class ConcernVoice(SQLModel, table=True):
    """A short voice note, stored under its SHA-256 beside the photos (in `voice/`)."""

    __tablename__ = "concern_voice"

    id: int | None = Field(default=None, primary_key=True)
    concern_id: int | None = Field(default=None, foreign_key="concern.id", index=True)
    county_id: int = Field(foreign_key="county.id")
    village_id: int | None = Field(default=None, foreign_key="village.id")
    sha256: str = Field(max_length=64, index=True)
    size: int
    content_type: str = Field(max_length=20)
    uploaded_by: str = Field(max_length=64)
    created_at: datetime = timestamp(default_factory=utcnow)
    purged_at: datetime | None = timestamp(default=None)


class ConcernFollower(SQLModel, table=True):
    """A household that follows a concern it did not report first (its own report was merged into it)."""

    __tablename__ = "concern_follower"

    concern_id: int = Field(sa_column=Column(ForeignKey("concern.id"), primary_key=True))
    household_id: int = Field(sa_column=Column(ForeignKey("household.id"), primary_key=True, index=True))
    since: datetime = timestamp(default_factory=utcnow)


class CalendarDay(SQLModel, table=True):
    """An exception to the county's working week: a public holiday on a weekday (working false), or a make-up
    working day on a weekend (working true)."""

    __tablename__ = "calendar_day"

    county_id: int = Field(sa_column=Column(ForeignKey("county.id"), primary_key=True))
    day: date = Field(primary_key=True)
    working: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    name: str = Field(default="", max_length=40)


class Open311Client(SQLModel, table=True):
    """A system that speaks Open311 GeoReport v2 to the county (an app, a city dashboard). Its key is shown once;
    only the key's SHA-256 is kept (the key is 32 random bytes, so a fast hash is enough)."""

    __tablename__ = "open311_client"

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    name: str = Field(max_length=100)
    key_hash: str = Field(max_length=64, unique=True)
    active: bool = True
    created_at: datetime = timestamp(default_factory=utcnow)
    created_by: str = Field(max_length=64)
