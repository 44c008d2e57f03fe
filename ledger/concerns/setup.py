"""A county's set-up for concerns: its categories (with their deadlines and the matter a useful report earns), the
places of each village, and the handlers concerns are dispatched to with their members. The county admin edits
all of it (an official may add and retire places of their own villages); every change is in the change log
(ledger/core/audit.py). The calendar and the categories' deadlines: ledger/concerns/deadlines.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session, col

from ledger.catalogue import service as catalogue
from ledger.concerns import deadlines
from ledger.concerns.models import ConcernCategory, ConcernHandler, ConcernHandlerMember, ConcernPlace, HandlerKind
from ledger.core import audit
from ledger.core.base import row_id
from ledger.core.errors import Conflict, Forbidden, Invalid, NotFound
from ledger.identity.models import Role, User
from ledger.identity.principal import Principal, managed_village
from ledger.tenancy import Township, Village

URGENT_RESOLVE_MINUTES = 24 * 60  # an urgent matter: done within 24 hours on the clock
RESOLVE_WORKING_MINUTES = 3 * 9 * 60  # others: within 3 working days of the default hours (08:30–17:30)


class CategoryExists(Conflict):
    code = "category_exists"


class HandlerNotFoundHere(NotFound):
    code = "handler_not_found"


class PlaceNotFoundHere(NotFound):
    code = "place_not_found"


class CategoryMatterInvalid(Invalid):
    code = "category_matter_invalid"


@dataclass(frozen=True)
class DefaultCategory:
    code: str
    name_zh: str
    name_en: str
    urgent: bool
    matter_code: str | None


DEFAULT_CATEGORIES = (
    DefaultCategory("road_hazard", "道路隐患", "Road hazard", True, "report_hazard"),
    DefaultCategory("water_power", "水电故障", "Water or power failure", True, "report_hazard"),
    DefaultCategory("environment", "环境卫生", "Environment and sanitation", False, "report_problem"),
    DefaultCategory("public_facility", "公共设施损坏", "Damaged public facility", False, "report_problem"),
    DefaultCategory("neighbour_dispute", "邻里纠纷", "Neighbour dispute", False, None),
    DefaultCategory("public_service", "办事咨询", "Question about public services", False, None),
    DefaultCategory("other", "其他", "Other", False, None),
)
CATEGORY_FIELDS = (
    "name_zh",
    "name_en",
    "urgent",
    "accept_minutes",
    "dispatch_minutes",
    "resolve_minutes",
    "resolve_working",
    "matter_code",
    "active",
)


def default_categories(session: Session, county_id: int) -> int:
    """The default categories for a county (the Binjiang deadlines: accepted within 1 working minute, dispatched
    within 5, urgent matters done within 24 hours on the clock, others within 3 working days); those it already
    has (by code) are left as they are. Returns how many were added."""
    have = set(session.scalars(select(col(ConcernCategory.code)).where(col(ConcernCategory.county_id) == county_id)))
    added = 0
    for default in DEFAULT_CATEGORIES:
        if default.code in have:
            continue
        session.add(
            ConcernCategory(
                county_id=county_id,
                code=default.code,
                name_zh=default.name_zh,
                name_en=default.name_en,
                urgent=default.urgent,
                accept_minutes=1,
                dispatch_minutes=5,
                resolve_minutes=URGENT_RESOLVE_MINUTES if default.urgent else RESOLVE_WORKING_MINUTES,
                resolve_working=not default.urgent,
                matter_code=default.matter_code,
            )
        )
        added += 1
    session.flush()
    return added


def _admin(who: Principal) -> None:
    if who.role != Role.COUNTY_ADMIN:
        raise Forbidden("Only the county admin sets up concerns' categories and handlers.")


def _name(value: Any, *, field: str, most: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > most:
        raise Invalid(f"Give a {field} of 1 to {most} characters.", field=field)
    return value.strip()


def _position(lat: float | None, lon: float | None) -> None:
    if (lat is None) != (lon is None):
        raise Invalid("Give both latitude and longitude, or neither.", field="lat")
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Invalid("Latitude is between -90 and 90, longitude between -180 and 180.", field="lat")


# --- categories -------------------------------------------------------------------------------------------


def category(session: Session, county_id: int, category_id: int) -> ConcernCategory:
    found = session.get(ConcernCategory, category_id)
    if found is None or found.county_id != county_id:
        raise deadlines.CategoryNotFound("No such category in this county.", category_id=category_id)
    return found


def categories(session: Session, county_id: int, *, active_only: bool = False) -> list[ConcernCategory]:
    query = select(ConcernCategory).where(col(ConcernCategory.county_id) == county_id)
    if active_only:
        query = query.where(col(ConcernCategory.active))
    return list(session.scalars(query.order_by(col(ConcernCategory.id))).all())


def _check_category(values: dict[str, Any]) -> dict[str, Any]:
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if name not in CATEGORY_FIELDS:
            raise Invalid(f"A category has no field {name}.", field=name)
        if name in ("name_zh", "name_en"):
            value = _name(value, field=name, most=40 if name == "name_zh" else 60)
        elif name in ("urgent", "resolve_working", "active"):
            if not isinstance(value, bool):
                raise Invalid(f"{name} is true or false.", field=name)
        elif name in deadlines.MINUTE_BOUNDS:
            value = deadlines.check_minutes(name, value)
        elif name == "matter_code" and value is not None:
            value = _name(value, field=name, most=40)
        checked[name] = value
    return checked


def _check_matter(session: Session, county_id: int, code: str | None) -> None:
    """The matter a category earns is one of the county's catalogue that gives points (a village may not have a
    version of its own: the county's is what every village's reporters earn)."""
    if code is None:
        return
    try:
        matter = catalogue.current(session, county_id=county_id, village_id=None, code=code)
    except catalogue.MatterNotFound:
        raise CategoryMatterInvalid(
            "The county's catalogue has no such matter.", field="matter_code", matter_code=code
        ) from None
    if matter.points <= 0:
        raise CategoryMatterInvalid(
            "This matter takes points; a useful report earns a matter that gives them.",
            field="matter_code",
            matter_code=code,
        )


def add_category(
    session: Session, who: Principal, *, code: str, name_zh: str, name_en: str, **fields: Any
) -> ConcernCategory:
    """A new category of the county admin's county; `fields`: any of CATEGORY_FIELDS (defaults: a non-urgent
    category with the default deadlines)."""
    _admin(who)
    code = _name(code, field="code", most=32)
    values = _check_category({"name_zh": name_zh, "name_en": name_en, **fields})
    exists = session.scalar(
        select(col(ConcernCategory.id)).where(
            col(ConcernCategory.county_id) == who.county_id, col(ConcernCategory.code) == code
        )
    )
    if exists is not None:
        raise CategoryExists("The county already has a category with this code.", field="code")
    _check_matter(session, who.county_id, values.get("matter_code"))
    row = ConcernCategory(county_id=who.county_id, code=code, **values)
    if "resolve_working" not in fields and row.urgent:
        row.resolve_working = False
        row.resolve_minutes = values.get("resolve_minutes", URGENT_RESOLVE_MINUTES)
    session.add(row)
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="concern_category.add",
        target_type="concern_category",
        target_id=code,
        after=audit.fields(row, CATEGORY_FIELDS),
    )
    return row


def set_category(session: Session, who: Principal, category_id: int, **changes: Any) -> ConcernCategory:
    _admin(who)
    row = category(session, who.county_id, category_id)
    values = _check_category(changes)
    if "matter_code" in values:
        _check_matter(session, who.county_id, values["matter_code"])
    before = audit.fields(row, tuple(values))
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="concern_category.change",
        target_type="concern_category",
        target_id=row.code,
        before=before,
        after=audit.fields(row, tuple(values)),
    )
    return row


# --- places -----------------------------------------------------------------------------------------------


def place(session: Session, place_id: int) -> ConcernPlace:
    found = session.get(ConcernPlace, place_id)
    if found is None:
        raise PlaceNotFoundHere("No such place.", place_id=place_id)
    return found


def places(session: Session, village_id: int, *, active_only: bool = True) -> list[ConcernPlace]:
    query = select(ConcernPlace).where(col(ConcernPlace.village_id) == village_id)
    if active_only:
        query = query.where(col(ConcernPlace.active))
    return list(session.scalars(query.order_by(col(ConcernPlace.name), col(ConcernPlace.id))).all())


def add_place(
    session: Session, who: Principal, *, village_id: int, name: str, lat: float | None = None, lon: float | None = None
) -> ConcernPlace:
    """A place on the village's list: the county admin, or an official of the village."""
    if who.role not in (Role.OFFICIAL, Role.COUNTY_ADMIN):
        raise Forbidden("Only officials and the county admin keep the village's places.")
    village = managed_village(session, who, village_id)
    _position(lat, lon)
    row = ConcernPlace(village_id=row_id(village.id), name=_name(name, field="name", most=60), lat=lat, lon=lon)
    session.add(row)
    session.flush()
    audit.record(
        session,
        county_id=village.county_id,
        actor=who.actor,
        action="concern_place.add",
        target_type="concern_place",
        target_id=row.id,
        after={"village_id": village_id, "name": row.name, "lat": lat, "lon": lon},
    )
    return row


def set_place_active(session: Session, who: Principal, place_id: int, *, active: bool) -> ConcernPlace:
    if who.role not in (Role.OFFICIAL, Role.COUNTY_ADMIN):
        raise Forbidden("Only officials and the county admin keep the village's places.")
    row = session.get(ConcernPlace, place_id)
    if row is None or not who.manages_village(row.village_id, _county_of_village(session, row.village_id)):
        raise PlaceNotFoundHere("No such place in your villages.", place_id=place_id)
    before = {"active": row.active}
    row.active = active
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="concern_place.change",
        target_type="concern_place",
        target_id=row.id,
        before=before,
        after={"active": active},
    )
    return row


def _county_of_village(session: Session, village_id: int) -> int:
    village = session.get(Village, village_id)
    assert village is not None
    return village.county_id


# --- handlers ---------------------------------------------------------------------------------------------


def handler(session: Session, county_id: int, handler_id: int) -> ConcernHandler:
    found = session.get(ConcernHandler, handler_id)
    if found is None or found.county_id != county_id:
        raise HandlerNotFoundHere("No such handler in this county.", handler_id=handler_id)
    return found


def handlers(session: Session, county_id: int, *, active_only: bool = False) -> list[ConcernHandler]:
    query = select(ConcernHandler).where(col(ConcernHandler.county_id) == county_id)
    if active_only:
        query = query.where(col(ConcernHandler.active))
    return list(session.scalars(query.order_by(col(ConcernHandler.id))).all())


def members(session: Session, handler_id: int) -> list[int]:
    return sorted(
        int(u)
        for u in session.scalars(
            select(col(ConcernHandlerMember.user_id)).where(col(ConcernHandlerMember.handler_id) == handler_id)
        ).all()
    )


def _staff_user(session: Session, county_id: int, user_id: int, *, field: str) -> User:
    user = session.get(User, user_id)
    if (
        user is None
        or user.county_id != county_id
        or not user.active
        or user.role not in (Role.OFFICIAL, Role.COUNTY_ADMIN)
    ):
        raise Invalid("Name an active official or county admin of this county.", field=field, user_id=user_id)
    return user


def add_handler(
    session: Session,
    who: Principal,
    *,
    kind: str,
    name: str,
    village_id: int | None = None,
    township_id: int | None = None,
    supervisor_user_id: int | None = None,
) -> ConcernHandler:
    """A handler of the county admin's county: an official or a grid member of a village, a township office, a
    department; `supervisor_user_id` is told when a concern with it runs late."""
    _admin(who)
    if kind not in {k.value for k in HandlerKind}:
        raise Invalid("A handler is an official, a grid member, a township office or a department.", field="kind")
    if village_id is not None:
        village = session.get(Village, village_id)
        if village is None or village.county_id != who.county_id:
            raise Invalid("No such village in this county.", field="village_id")
    if township_id is not None:
        township = session.get(Township, township_id)
        if township is None or township.county_id != who.county_id:
            raise Invalid("No such township in this county.", field="township_id")
    if supervisor_user_id is not None:
        _staff_user(session, who.county_id, supervisor_user_id, field="supervisor_user_id")
    row = ConcernHandler(
        county_id=who.county_id,
        kind=kind,
        name=_name(name, field="name", most=60),
        village_id=village_id,
        township_id=township_id,
        supervisor_user_id=supervisor_user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="concern_handler.add",
        target_type="concern_handler",
        target_id=row.id,
        after=audit.fields(row, ("kind", "name", "village_id", "township_id", "supervisor_user_id")),
    )
    return row


def set_members(session: Session, who: Principal, handler_id: int, user_ids: Iterable[int]) -> list[int]:
    """The staff accounts who act for the handler, replacing those before."""
    _admin(who)
    row = handler(session, who.county_id, handler_id)
    wanted = sorted(set(user_ids))
    for user_id in wanted:
        _staff_user(session, who.county_id, user_id, field="user_ids")
    before = members(session, handler_id)
    session.execute(delete(ConcernHandlerMember).where(col(ConcernHandlerMember.handler_id) == handler_id))
    for user_id in wanted:
        session.add(ConcernHandlerMember(handler_id=handler_id, user_id=user_id))
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="concern_handler.members",
        target_type="concern_handler",
        target_id=row.id,
        before={"handler_members": before},
        after={"handler_members": wanted},
    )
    return wanted


def set_handler_active(session: Session, who: Principal, handler_id: int, *, active: bool) -> ConcernHandler:
    _admin(who)
    row = handler(session, who.county_id, handler_id)
    before = {"active": row.active}
    row.active = active
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="concern_handler.change",
        target_type="concern_handler",
        target_id=row.id,
        before=before,
        after={"active": active},
    )
    return row
