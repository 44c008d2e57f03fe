"""Reporting a concern and every step after it, for routes, pages and Open311 alike (docs/concerns.md).

Each step locks the concern's row, asks ledger/concerns/access.py whether the caller may act, checks its input and
moves the concern through ledger/concerns/lifecycle.py (`move`), in the caller's unit of work. Two officials
pressing "accept" at once: the second finds the concern accepted (409 `concern_wrong_step`), and one event is
written. Staff never act on a concern their own household reported (`Principal.refuse_own`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session, col

from ledger.claims import access as claims_access
from ledger.claims.models import EvidenceFile
from ledger.claims.rules import distance_m
from ledger.claims.service import EvidenceNotYours
from ledger.concerns import access, lifecycle, rewards
from ledger.concerns.errors import (
    CategoryNotFound,
    ConcernNotFound,
    ConcernPhotoRequired,
    ConcernTextRequired,
    ConcernTooManyPhotos,
    HandlerInactive,
    HandlerNotFound,
    MergeIntoSelf,
    MergeTargetClosed,
    NotTheHandler,
    NotTheReporter,
    PlaceNotFound,
)
from ledger.concerns.lifecycle import Transition
from ledger.concerns.models import (
    OPEN_STATUSES,
    Channel,
    Concern,
    ConcernCategory,
    ConcernFollower,
    ConcernHandler,
    ConcernKind,
    ConcernPhoto,
    ConcernPlace,
    ConcernStatus,
    ConcernVoice,
    Judgement,
    Open311Client,
)
from ledger.core import idempotency
from ledger.core.base import row_id, utcnow
from ledger.core.errors import Forbidden, Invalid
from ledger.core.idempotency import Outcome
from ledger.identity.models import Role
from ledger.identity.principal import Principal, managed_household, managed_village
from ledger.tenancy import County, Household, Township, TownshipNotFound, Village, VillageNotFound, refuse_closed

MAX_TEXT = 1000
MAX_PHOTOS = 3
DUPLICATE_DAYS = 30  # a report joins an open concern reported at most this many days before
OPEN_FOR_DUPLICATES = tuple(s.value for s in OPEN_STATUSES)
CLIENT_ROLE = "client"  # the actor role of an Open311 client


@dataclass(frozen=True)
class Report:
    category_code: str
    kind: str
    text: str
    anonymous: bool = False
    village_id: int | None = None
    township_id: int | None = None
    place_id: int | None = None
    lat: float | None = None
    lon: float | None = None
    evidence_ids: tuple[int, ...] = ()
    voice_id: int | None = None
    reporter_household_id: int | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    channel: str = Channel.APP.value


_CONCERN = idempotency.row(Concern, "concern")


# --- reporting ----------------------------------------------------------------------------------------------


def report(
    session: Session, who: Principal, report: Report, *, idempotency_key: str | None, now: datetime | None = None
) -> Outcome[Concern]:
    """A concern reported by a villager (channel app: the reporter is their user, household and person; the
    village is the scanned code's, in their county, else their household's), or recorded by staff for someone who
    told them in person or by phone (a household of their villages, or a name and phone with no household). A
    report near an open one of the same category and place is written merged into it (`merged_into_id`), and its
    household follows that concern."""
    now = now or utcnow()
    request = {"op": "concern", **{k: getattr(report, k) for k in Report.__dataclass_fields__}}
    request["evidence_ids"] = sorted(report.evidence_ids)

    def write() -> Concern:
        return _report(session, who, report, now)

    return idempotency.run(
        session, actor=who.actor, key=idempotency_key, request=request, stored=_CONCERN, operation=write
    )


def _report(session: Session, who: Principal, report: Report, now: datetime) -> Concern:
    if who.role == Role.VILLAGER:
        if who.household_id is None or who.home_village_id is None:
            raise Forbidden("Only a member of a household reports a concern.")
        household = session.get(Household, who.household_id)
        assert household is not None
        refuse_closed(household)
        village_id, township_id = _where_villager(session, who, report)
        concern = Concern(
            county_id=who.county_id,
            township_id=township_id,
            village_id=village_id,
            category_id=0,
            kind="",
            text="",
            channel=Channel.APP.value,
            reporter_user_id=who.user_id,
            reporter_household_id=who.household_id,
            reporter_person_id=who.person_id,
            entered_by=who.actor,
        )
        role = Role.VILLAGER.value
    elif who.role in (Role.OFFICIAL, Role.COUNTY_ADMIN):
        if report.channel not in (Channel.IN_PERSON, Channel.PHONE):
            raise Invalid(
                "Staff record a report told in person or by phone (channel in_person or phone).", field="channel"
            )
        concern = _told_staff(session, who, report)
        role = who.role
    else:
        raise Forbidden("Only villagers report concerns, and officials record those told to them.")
    _fill(session, concern, report)
    photos = _report_photos(session, who, report.evidence_ids)
    return _write(session, concern, photos, report.voice_id, actor=who.actor, role=role, uploaded_by=who.actor, now=now)


def report_by_client(
    session: Session, client: Open311Client, report: Report, *, now: datetime | None = None
) -> Concern:
    """A concern sent by an Open311 client (channel open311): placed by its village (or township) — the route finds
    it from the request's location or its place — with the reporter's name and phone if given (no household)."""
    now = now or utcnow()
    if not client.active:
        raise Forbidden("This Open311 client is disabled.")
    village_id, township_id = _where_in_county(session, client.county_id, report.village_id, report.township_id)
    concern = Concern(
        county_id=client.county_id,
        township_id=township_id,
        village_id=village_id,
        category_id=0,
        kind="",
        text="",
        channel=Channel.OPEN311.value,
        reporter_name=_optional(report.reporter_name, field="reporter_name", most=100),
        reporter_phone=_optional(report.reporter_phone, field="reporter_phone", most=20),
        open311_client_id=client.id,
        entered_by=f"open311:{client.id}",
    )
    _fill(session, concern, report)
    if report.evidence_ids:
        raise ConcernTooManyPhotos("An Open311 request carries no photos here.", field="media")
    return _write(session, concern, [], None, actor=concern.entered_by, role=CLIENT_ROLE, uploaded_by=None, now=now)


def _where_villager(session: Session, who: Principal, report: Report) -> tuple[int | None, int]:
    if report.village_id is None and report.township_id is None:
        village = session.get(Village, who.home_village_id)
        assert village is not None
        return row_id(village.id), village.township_id
    return _where_in_county(session, who.county_id, report.village_id, report.township_id)


def _where_in_county(
    session: Session, county_id: int, village_id: int | None, township_id: int | None
) -> tuple[int | None, int]:
    """(village, township) of a code in this county: a village's, or a township's own (no village)."""
    if village_id is not None:
        village = session.get(Village, village_id)
        if village is None or village.county_id != county_id:
            raise VillageNotFound("No such village in this county.", village_id=village_id)
        return row_id(village.id), village.township_id
    if township_id is not None:
        township = session.get(Township, township_id)
        if township is None or township.county_id != county_id:
            raise TownshipNotFound("No such township in this county.", township_id=township_id)
        return None, row_id(township.id)
    raise Invalid("Say which village (or township) the concern is in.", field="village_id")


def _told_staff(session: Session, who: Principal, report: Report) -> Concern:
    """A report staff record for someone who told them: for a household of their villages, or a named person."""
    if report.reporter_household_id is not None:
        household = managed_household(session, who, report.reporter_household_id)
        refuse_closed(household)
        village_id: int | None = report.village_id or household.village_id
        if report.village_id is None and report.township_id is not None:
            village_id = None
        name = phone = None
    else:
        if report.reporter_name is None and report.reporter_phone is None:
            raise Invalid(
                "Name the household that told you (reporter_household_id), or the person (reporter_name or phone).",
                field="reporter_household_id",
            )
        village_id = report.village_id
        name = _optional(report.reporter_name, field="reporter_name", most=100)
        phone = _optional(report.reporter_phone, field="reporter_phone", most=20)
    if village_id is not None:
        village = managed_village(session, who, village_id)
        township_id = village.township_id
    else:
        if report.township_id is None:
            raise Invalid("Say which village (or township) the concern is in.", field="village_id")
        township = session.get(Township, report.township_id)
        if (
            township is None
            or township.county_id != who.county_id
            or not (who.role == Role.COUNTY_ADMIN or report.township_id in who.township_ids)
        ):
            raise TownshipNotFound("No such township among yours.", township_id=report.township_id)
        township_id = row_id(township.id)
    return Concern(
        county_id=who.county_id,
        township_id=township_id,
        village_id=village_id,
        category_id=0,
        kind="",
        text="",
        channel=report.channel,
        reporter_household_id=report.reporter_household_id,
        reporter_name=name,
        reporter_phone=phone,
        entered_by=who.actor,
    )


def _optional(value: Any, *, field: str, most: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value.strip()) > most:
        raise Invalid(f"{field}: at most {most} characters.", field=field)
    return value.strip() or None


def _text(value: Any, *, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_TEXT:
        raise ConcernTextRequired(f"Say what it is about: 1 to {MAX_TEXT} characters.", field=field)
    return value.strip()


def _fill(session: Session, concern: Concern, report: Report) -> None:
    """The report's own fields, checked: kind, category of the county (active), text, place, position."""
    if report.kind not in {k.value for k in ConcernKind}:
        raise Invalid("A concern is a complaint, a question, a suggestion or a hazard.", field="kind")
    if not isinstance(report.anonymous, bool):
        raise Invalid("anonymous is true or false.", field="anonymous")
    category = session.scalars(
        select(ConcernCategory).where(
            col(ConcernCategory.county_id) == concern.county_id,
            col(ConcernCategory.code) == report.category_code,
            col(ConcernCategory.active),
        )
    ).first()
    if category is None:
        raise CategoryNotFound("No such category in this county.", field="category_code")
    concern.category_id = row_id(category.id)
    concern.kind = report.kind
    concern.text = _text(report.text, field="text")
    concern.anonymous = report.anonymous
    if report.place_id is not None:
        place = session.get(ConcernPlace, report.place_id)
        if place is None or not place.active or concern.village_id is None or place.village_id != concern.village_id:
            raise PlaceNotFound("No such place on this village's list.", field="place_id")
        concern.place_id = place.id
    if (report.lat is None) != (report.lon is None):
        raise Invalid("Give both latitude and longitude, or neither.", field="lat")
    if report.lat is not None and report.lon is not None:
        if not (
            isinstance(report.lat, int | float)
            and isinstance(report.lon, int | float)
            and -90 <= report.lat <= 90
            and -180 <= report.lon <= 180
        ):
            raise Invalid("Latitude is between -90 and 90, longitude between -180 and 180.", field="lat")
        concern.lat, concern.lon = float(report.lat), float(report.lon)


def _report_photos(session: Session, who: Principal, ids: Sequence[int]) -> list[EvidenceFile]:
    if len(ids) > MAX_PHOTOS:
        raise ConcernTooManyPhotos(f"A report carries at most {MAX_PHOTOS} photos.", field="evidence_ids")
    return _own_photos(session, who, ids)


def _own_photos(session: Session, who: Principal, ids: Sequence[int]) -> list[EvidenceFile]:
    if len(set(ids)) != len(ids):
        raise Invalid("The same photo is named twice.", field="evidence_ids")
    photos = list(session.scalars(select(EvidenceFile).where(col(EvidenceFile.id).in_(ids))).all()) if ids else []
    by_id = {p.id: p for p in photos}
    for evidence_id in ids:
        photo = by_id.get(evidence_id)
        if photo is None or not claims_access.may_attach(who, photo):
            raise EvidenceNotYours("A photo named here was not sent by you.", evidence_id=evidence_id)
    return [by_id[i] for i in ids]


def _write(
    session: Session,
    concern: Concern,
    photos: list[EvidenceFile],
    voice_id: int | None,
    *,
    actor: str,
    role: str,
    uploaded_by: str | None,
    now: datetime,
) -> Concern:
    voice = None
    if voice_id is not None:
        voice = session.get(ConcernVoice, voice_id)
        if (
            voice is None
            or voice.concern_id is not None
            or voice.purged_at is not None
            or voice.uploaded_by != uploaded_by
        ):
            raise Invalid("No such voice note of yours to attach.", field="voice_id")
    original = _duplicate_of(session, concern, now)
    lifecycle.move(session, concern, Transition.SUBMIT, actor=actor, actor_role=role, now=now)
    concern_id = row_id(concern.id)
    for photo in photos:
        session.add(ConcernPhoto(concern_id=concern_id, evidence_id=row_id(photo.id), purpose="report"))
    if voice is not None:
        voice.concern_id = concern_id
    session.flush()
    if original is not None:
        _merge(session, concern, original, actor=lifecycle.SYSTEM, role=lifecycle.SYSTEM, now=now)
    return concern


def _duplicate_of(session: Session, concern: Concern, now: datetime) -> Concern | None:
    """The open concern this report repeats: same village (or township concern) and category, reported in the last
    30 days, at the same place of the list or within the county's radius."""
    if concern.place_id is None and concern.lat is None:
        return None
    # Reports of one category wait on each other here, so two at once of the same place make one concern
    session.scalars(
        select(col(ConcernCategory.id)).where(col(ConcernCategory.id) == concern.category_id).with_for_update()
    ).all()
    query = select(Concern).where(
        col(Concern.county_id) == concern.county_id,
        col(Concern.category_id) == concern.category_id,
        col(Concern.status).in_(OPEN_FOR_DUPLICATES),
        col(Concern.created_at) >= now - timedelta(days=DUPLICATE_DAYS),
    )
    if concern.village_id is None:
        query = query.where(col(Concern.village_id).is_(None), col(Concern.township_id) == concern.township_id)
    else:
        query = query.where(col(Concern.village_id) == concern.village_id)
    if concern.place_id is not None and concern.lat is None:
        query = query.where(col(Concern.place_id) == concern.place_id)
    else:
        query = query.where(or_(col(Concern.place_id) == concern.place_id, col(Concern.lat).is_not(None)))
    county = session.get(County, concern.county_id)
    assert county is not None
    for candidate in session.scalars(query.order_by(col(Concern.id)).limit(200)).all():
        if concern.place_id is not None and candidate.place_id == concern.place_id:
            return candidate
        if (
            concern.lat is not None
            and concern.lon is not None
            and candidate.lat is not None
            and candidate.lon is not None
            and distance_m(concern.lat, concern.lon, candidate.lat, candidate.lon) <= county.concern_near_metres
        ):
            return candidate
    return None


def _merge(session: Session, concern: Concern, into: Concern, *, actor: str, role: str, now: datetime) -> None:
    """`concern` joins `into`: merged, its reporter household (and its followers) follow `into`."""
    lifecycle.move(session, concern, Transition.MERGE, actor=actor, actor_role=role, now=now, into_id=into.id)
    households = set(lifecycle.followers(session, concern))
    if concern.reporter_household_id is not None:
        households.add(concern.reporter_household_id)
    if into.reporter_household_id is not None:
        households.discard(into.reporter_household_id)
    for household_id in sorted(households):
        if session.get(ConcernFollower, (row_id(into.id), household_id)) is None:
            session.add(ConcernFollower(concern_id=row_id(into.id), household_id=household_id, since=now))
    session.flush()


# --- the steps after ----------------------------------------------------------------------------------------


def get(session: Session, concern_id: int) -> Concern:
    concern = session.get(Concern, concern_id)
    if concern is None:
        raise ConcernNotFound("No such concern.", concern_id=concern_id)
    return concern


def _locked(session: Session, who: Principal, concern_id: int) -> Concern:
    return access.visible_concern(session, who, concern_id, lock=True)


def _not_own(who: Principal, concern: Concern) -> None:
    who.refuse_own(concern.reporter_household_id, what="Your own household reported this concern")


def accept(session: Session, who: Principal, concern_id: int, *, now: datetime | None = None) -> Concern:
    now = now or utcnow()
    concern = _locked(session, who, concern_id)
    if not access.may_accept(who, concern):
        raise Forbidden("Only the officials of its village, the township supervisor or the county admin accept it.")
    _not_own(who, concern)
    lifecycle.move(session, concern, Transition.ACCEPT, actor=who.actor, actor_role=who.role, now=now)
    return concern


def dispatch(
    session: Session,
    who: Principal,
    concern_id: int,
    *,
    handler_id: int,
    note: str | None = None,
    now: datetime | None = None,
) -> Concern:
    now = now or utcnow()
    concern = _locked(session, who, concern_id)
    if not access.may_dispatch(who, concern):
        raise Forbidden("Only the officials of its village, the township supervisor or the county admin dispatch it.")
    _not_own(who, concern)
    lifecycle.check(concern, Transition.DISPATCH)
    handler = session.get(ConcernHandler, handler_id) if isinstance(handler_id, int) else None
    if handler is None or handler.county_id != concern.county_id:
        raise HandlerNotFound("No such handler in this county.", field="handler_id", handler_id=handler_id)
    if not handler.active:
        raise HandlerInactive("This handler no longer takes concerns.", handler_id=handler_id)
    lifecycle.move(
        session,
        concern,
        Transition.DISPATCH,
        actor=who.actor,
        actor_role=who.role,
        now=now,
        handler_id=row_id(handler.id),
        note=_optional(note, field="note", most=MAX_TEXT),
    )
    return concern


def return_(session: Session, who: Principal, concern_id: int, *, reason: str, now: datetime | None = None) -> Concern:
    """The handler sends it back (not theirs): it waits to be dispatched again."""
    now = now or utcnow()
    concern = _locked(session, who, concern_id)
    if not access.may_handle(session, who, concern):
        lifecycle.check(concern, Transition.RETURN)
        raise NotTheHandler("Only a member of the handler it is with returns it.")
    _not_own(who, concern)
    reason = _text(reason, field="reason")
    handler_id = concern.handler_id
    lifecycle.move(
        session,
        concern,
        Transition.RETURN,
        actor=who.actor,
        actor_role=who.role,
        now=now,
        note=reason,
        handler_id=handler_id,
    )
    return concern


def resolve(
    session: Session,
    who: Principal,
    concern_id: int,
    *,
    note: str,
    judgement: str,
    evidence_ids: tuple[int, ...],
    now: datetime | None = None,
) -> Concern:
    """The handler says it is done: a note, 1 to 3 photos and a judgement (real, not confirmed, false). A real
    hazard or problem earns its reporter points (ledger/concerns/rewards.py); the resolution never fails for it."""
    now = now or utcnow()
    concern = _locked(session, who, concern_id)
    if not access.may_handle(session, who, concern):
        lifecycle.check(concern, Transition.RESOLVE)
        raise NotTheHandler("Only a member of the handler it is with resolves it.")
    _not_own(who, concern)
    lifecycle.check(concern, Transition.RESOLVE)
    text = _text(note, field="note")
    if judgement not in {j.value for j in Judgement}:
        raise Invalid("The judgement is real, not_confirmed or false.", field="judgement")
    ids = tuple(evidence_ids)
    if not ids:
        raise ConcernPhotoRequired("Show what was done: 1 to 3 photos.", field="evidence_ids")
    if len(ids) > MAX_PHOTOS:
        raise ConcernTooManyPhotos(f"A resolution carries at most {MAX_PHOTOS} photos.", field="evidence_ids")
    photos = _own_photos(session, who, ids)
    concern.resolution_note = text
    concern.judgement = judgement
    lifecycle.move(session, concern, Transition.RESOLVE, actor=who.actor, actor_role=who.role, now=now, note=text)
    for photo in photos:
        key = (row_id(concern.id), row_id(photo.id))
        if session.get(ConcernPhoto, key) is None:
            session.add(ConcernPhoto(concern_id=key[0], evidence_id=key[1], purpose="resolution"))
    session.flush()
    rewards.on_resolved(session, who, concern, evidence_ids=ids, now=now)
    return concern


def evaluate(
    session: Session,
    who: Principal,
    concern_id: int,
    *,
    satisfied: bool,
    comment: str | None,
    now: datetime | None = None,
) -> Concern:
    """The reporter's word: satisfied closes it; not satisfied reopens it once, to the supervisor (level ≥ 1); not
    satisfied the second time closes it."""
    now = now or utcnow()
    concern = _locked(session, who, concern_id)
    if not access.may_evaluate(session, who, concern):
        raise NotTheReporter("Only the household that reported it evaluates it.")
    if who.role != Role.VILLAGER:
        _not_own(who, concern)
    if not isinstance(satisfied, bool):
        raise Invalid("satisfied is true or false.", field="satisfied")
    text = _optional(comment, field="comment", most=500)
    reopen = not satisfied and not concern.reopened
    lifecycle.check(concern, Transition.REOPEN if reopen else Transition.EVALUATE)
    concern.satisfied = satisfied
    concern.evaluation_comment = text
    role = Role.VILLAGER.value if who.role == Role.VILLAGER else who.role
    if reopen:
        lifecycle.move(session, concern, Transition.REOPEN, actor=who.actor, actor_role=role, now=now, note=text)
    else:
        lifecycle.move(session, concern, Transition.EVALUATE, actor=who.actor, actor_role=role, now=now, note=text)
    return concern


def merge(session: Session, who: Principal, concern_id: int, *, into_id: int, now: datetime | None = None) -> Concern:
    """A duplicate joins an open concern of the same county: its reporter follows that one."""
    now = now or utcnow()
    if concern_id == into_id:
        raise MergeIntoSelf("A concern cannot be merged into itself.", field="into_id")
    rows = session.scalars(  # both rows locked, in id order: two merges never wait on each other
        select(Concern).where(col(Concern.id).in_((concern_id, into_id))).order_by(col(Concern.id)).with_for_update()
    ).all()
    found = {row.id: row for row in rows}
    concern = found.get(concern_id)
    if concern is None or not access.may_see(session, who, concern):
        raise ConcernNotFound("No such concern, or it is not yours to see.", concern_id=concern_id)
    into = found.get(into_id)
    if not access.may_merge(who, concern):
        raise Forbidden("Only the officials of its village, the township supervisor or the county admin merge it.")
    _not_own(who, concern)
    lifecycle.check(concern, Transition.MERGE)
    if into is None or not access.may_see(session, who, into) or into.county_id != concern.county_id:
        raise ConcernNotFound("No such concern to merge into.", concern_id=into_id, field="into_id")
    if into.status not in OPEN_FOR_DUPLICATES:
        raise MergeTargetClosed("Merge into an open concern.", concern_id=into_id, concern_status=into.status)
    _merge(session, concern, into, actor=who.actor, role=who.role, now=now)
    return concern


def is_duplicate(concern: Concern) -> bool:
    return concern.status == ConcernStatus.MERGED
