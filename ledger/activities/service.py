"""Creating activities and giving out their codes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from ledger.activities import codes
from ledger.activities.models import Activity, Period
from ledger.catalogue import service as catalogue
from ledger.catalogue.models import Evidence
from ledger.core import paging
from ledger.core.base import as_utc, row_id, utcnow
from ledger.core.errors import Conflict, Invalid, NotFound
from ledger.tenancy import Village

MAX_WINDOW = timedelta(days=366)


class ActivityNotFound(NotFound):
    code = "activity_not_found"


class InvalidActivity(Invalid):
    code = "invalid_activity"


class NotRotating(Conflict):
    code = "not_rotating"


def create(
    session: Session,
    *,
    village: Village,
    matter_code: str,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    actor: str,
    place: str = "",
    lat: float | None = None,
    lon: float | None = None,
    radius_m: int | None = None,
    capacity: int | None = None,
    period: str = Period.ONCE.value,
    rotating: bool = False,
) -> Activity:
    """An event or a standing code, awarding the matter's version in force now."""
    assert village.id is not None
    matter = catalogue.current(session, county_id=village.county_id, village_id=village.id, code=matter_code)
    if matter.points < 0:
        raise InvalidActivity(
            "A deduction is recorded by an official, not claimed at an activity.", field="matter_code"
        )
    if not catalogue.in_force(matter, utcnow()):
        raise catalogue.MatterInactive("This matter is not in force.", matter_code=matter_code)
    if matter.evidence == Evidence.WITNESS and not rotating:
        raise InvalidActivity(
            "This matter needs an official as witness: make the activity's code rotating and show it live.",
            field="rotating",
        )
    starts_at, ends_at = as_utc(starts_at), as_utc(ends_at)
    if ends_at <= starts_at or ends_at - starts_at > MAX_WINDOW:
        raise InvalidActivity("The activity ends after it starts, within a year.", field="ends_at")
    if period not in {p.value for p in Period}:
        raise InvalidActivity("period is once, day, week or month.", field="period")
    if (lat is None) != (lon is None) or (radius_m is not None and lat is None):
        raise InvalidActivity("A geofence needs lat, lon and radius_m together.", field="lat")
    if lat is not None and (not -90 <= lat <= 90 or not -180 <= (lon or 0) <= 180):
        raise InvalidActivity("lat is -90 to 90 and lon -180 to 180.", field="lat")
    if radius_m is not None and not 10 <= radius_m <= 50_000:
        raise InvalidActivity("radius_m is 10 to 50000 metres.", field="radius_m")
    if capacity is not None and not 1 <= capacity <= 100_000:
        raise InvalidActivity("capacity is 1 to 100000 households.", field="capacity")
    assert matter.id is not None  # a stored row
    if not title.strip():
        raise InvalidActivity("title is required.", field="title")
    activity = Activity(
        county_id=village.county_id,
        village_id=village.id,
        matter_id=matter.id,
        title=title.strip(),
        place=place.strip(),
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        period=period,
        rotating=rotating,
        created_by=actor,
    )
    session.add(activity)
    session.flush()
    return activity


def get(session: Session, activity_id: int) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise ActivityNotFound("No such activity.", activity_id=activity_id)
    return activity


def village_page(
    session: Session,
    village_id: int,
    *,
    include_ended: bool = False,
    cursor: str | None = None,
    limit: int = paging.PAGE,
) -> paging.Page[Activity]:
    """`of_village` a page at a time, by start (then id), after `cursor`."""
    limit = paging.bounded(limit)
    query = select(Activity).where(col(Activity.village_id) == village_id, col(Activity.active).is_(True))
    if not include_ended:
        query = query.where(Activity.ends_at > utcnow())
    key = paging.decode(cursor, int, int)
    if key is not None:
        starts, after_id = paging.moment(int(key[0])), int(key[1])
        begun = col(Activity.starts_at)
        query = query.where((begun > starts) | ((begun == starts) & (col(Activity.id) > after_id)))
    rows = list(session.exec(query.order_by(col(Activity.starts_at), col(Activity.id)).limit(limit + 1)).all())
    return paging.cut(rows, limit, lambda a: (paging.micros(as_utc(a.starts_at)), row_id(a.id)))


def of_village(session: Session, village_id: int, *, include_ended: bool = False) -> list[Activity]:
    query = select(Activity).where(col(Activity.village_id) == village_id, col(Activity.active).is_(True))
    if not include_ended:
        query = query.where(Activity.ends_at > utcnow())
    return list(session.exec(query.order_by(col(Activity.starts_at))).all())


def printed_code(keys: codes.Keys, activity: Activity) -> str:
    """The code a poster carries. A rotating activity has none: its code lives on the official's screen."""
    if activity.rotating:
        raise NotRotating("This activity's code rotates; show it live instead of printing it.", activity_id=activity.id)
    assert activity.id is not None
    return codes.sign_activity(keys, activity_id=activity.id, starts_at=activity.starts_at, ends_at=activity.ends_at)


def live_code(keys: codes.Keys, activity: Activity, *, now: datetime | None = None) -> dict[str, Any]:
    """The rotating code for this 30-second step, and how long it has left."""
    if not activity.rotating:
        raise NotRotating("This activity has a printed code, not a rotating one.", activity_id=activity.id)
    assert activity.id is not None
    now = now or utcnow()
    step = codes.step_of(now)
    left = codes.STEP_SECONDS - (now.timestamp() % codes.STEP_SECONDS)
    return {
        "token": codes.sign_rotating(keys, activity_id=activity.id, step=step),
        "step": step,
        "expires_in": round(left, 1),
    }


def deactivate(session: Session, activity: Activity) -> None:
    activity.active = False
    session.flush()


def scanned_activity(session: Session, keys: codes.Keys, token: str) -> Activity:
    """The activity a scanned code names, while it takes claims; otherwise `code_invalid` (as for a forged one)."""
    code = codes.read(keys, token)
    activity = session.get(Activity, code.activity_id) if isinstance(code, codes.ActivityCode) else None
    if activity is None or not activity.active:
        raise codes.CodeInvalid("This code is not one of ours, or it was withdrawn.", field="token")
    return activity
