"""Townships and villages of a county: create, rename, move a village to another township, its notice-board
privacy and its optional centre. A village comes with its accounts (`tenancy.create_village`). Names are unique
where the roster names them: a township within its county, a village within its township."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from ledger import tenancy
from ledger.core import audit
from ledger.core.errors import Conflict, Forbidden, Invalid
from ledger.identity.models import Role
from ledger.identity.principal import Principal, managed_village
from ledger.people import access
from ledger.tenancy import County, NoticePrivacy, Township, Village

TOWNSHIP_FIELDS = ("code", "name")
VILLAGE_FIELDS = ("code", "name", "township_id", "notice_privacy", "centre_lat", "centre_lon")
PRIVACY = frozenset(p.value for p in NoticePrivacy)


class TownshipNameTaken(Conflict):
    code = "township_name_taken"


class VillageNameTaken(Conflict):
    code = "village_name_taken"


class PlaceCodeTaken(Conflict):
    code = "place_code_taken"


class CentreInvalid(Invalid):
    code = "centre_invalid"


def name_of(value: object, field: str = "name", most: int = 100) -> str:
    """A name as kept: trimmed, 1 to `most` characters."""
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > most:
        raise Invalid(f"Give a {field} of 1 to {most} characters.", field=field)
    return value.strip()


# --- townships ------------------------------------------------------------------------------------------------


def townships(session: Session, who: Principal) -> list[Township]:
    query = select(Township).where(col(Township.county_id) == who.county_id).order_by(col(Township.id))
    return list(session.scalars(query).all())


def create_township(session: Session, who: Principal, *, name: str, code: str | None = None) -> Township:
    access.require_admin(who)
    county = _county(session, who)
    name = name_of(name)
    _township_name_free(session, who.county_id, name)
    code = _code(session, Township, code, prefix=f"{county.code[:20]}-T")
    township = tenancy.create_township(session, county=county, code=code, name=name)
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="township.create",
        target_type="township",
        target_id=township.id,
        after=audit.fields(township, TOWNSHIP_FIELDS),
    )
    return township


def rename_township(session: Session, who: Principal, township_id: int, *, name: str) -> Township:
    township = access.township(session, who, township_id, lock=True)
    name = name_of(name)
    before = audit.fields(township, TOWNSHIP_FIELDS)
    if name != township.name:
        _township_name_free(session, who.county_id, name)
        township.name = name
        session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="township.rename",
        target_type="township",
        target_id=township_id,
        before=before,
        after=audit.fields(township, TOWNSHIP_FIELDS),
    )
    return township


# --- villages -------------------------------------------------------------------------------------------------


def create_village(
    session: Session,
    who: Principal,
    *,
    township_id: int,
    name: str,
    code: str | None = None,
    notice_privacy: str | None = None,
    centre_lat: float | None = None,
    centre_lon: float | None = None,
) -> Village:
    township = access.township(session, who, township_id)
    county = _county(session, who)
    name = name_of(name)
    _village_name_free(session, township_id, name)
    village = tenancy.create_village(
        session, township=township, code=_code(session, Village, code, prefix=f"{county.code[:20]}-V"), name=name
    )
    village.notice_privacy = _privacy(notice_privacy or village.notice_privacy)
    village.centre_lat, village.centre_lon = _centre(centre_lat, centre_lon)
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="village.create",
        target_type="village",
        target_id=village.id,
        after=audit.fields(village, VILLAGE_FIELDS),
    )
    return village


def edit_village(session: Session, who: Principal, village_id: int, changes: Mapping[str, Any]) -> Village:
    """Change what `changes` names: `notice_privacy` (the village's officials and the county admin), `name`,
    `township_id`, `centre_lat` and `centre_lon` (both, or both None to remove the centre; the county admin only)."""
    unknown = set(changes) - {"notice_privacy", "name", "township_id", "centre_lat", "centre_lon"}
    if unknown:
        raise Invalid(f"A village has no {', '.join(sorted(unknown))} to change.", field=sorted(unknown)[0])
    structural = set(changes) - {"notice_privacy"}
    if structural:
        village = access.village(session, who, village_id, lock=True)
    else:  # the privacy only: the officials of the village decide it as well
        village = managed_village(session, who, village_id)
        if who.role not in (Role.OFFICIAL, Role.COUNTY_ADMIN):
            raise Forbidden("Only the village's officials and the county admin set the notice board's privacy.")
    before = audit.fields(village, VILLAGE_FIELDS)
    if "notice_privacy" in changes:
        village.notice_privacy = _privacy(changes["notice_privacy"])
    township_id = changes.get("township_id", village.township_id)
    name = name_of(changes["name"]) if "name" in changes else village.name
    if township_id != village.township_id:
        access.township(session, who, township_id)
    if (township_id, name) != (village.township_id, village.name):
        _village_name_free(session, township_id, name)
        village.township_id, village.name = township_id, name
    if "centre_lat" in changes or "centre_lon" in changes:
        village.centre_lat, village.centre_lon = _centre(
            changes.get("centre_lat", village.centre_lat), changes.get("centre_lon", village.centre_lon)
        )
    session.flush()
    audit.record(
        session,
        county_id=village.county_id,
        actor=who.actor,
        action="village.change",
        target_type="village",
        target_id=village_id,
        before=before,
        after=audit.fields(village, VILLAGE_FIELDS),
    )
    return village


# --- rules ----------------------------------------------------------------------------------------------------


def _county(session: Session, who: Principal) -> County:
    county = session.get(County, who.county_id)
    assert county is not None, "a principal's county exists"
    return county


def _township_name_free(session: Session, county_id: int, name: str) -> None:
    taken = session.scalars(
        select(col(Township.id)).where(col(Township.county_id) == county_id, col(Township.name) == name)
    ).first()
    if taken is not None:
        raise TownshipNameTaken("Your county has a township of this name already.", township_id=taken, field="name")


def _village_name_free(session: Session, township_id: int, name: str) -> None:
    taken = session.scalars(
        select(col(Village.id)).where(col(Village.township_id) == township_id, col(Village.name) == name)
    ).first()
    if taken is not None:
        raise VillageNameTaken("This township has a village of this name already.", village_id=taken, field="name")


def _code(session: Session, table: type[Township] | type[Village], code: str | None, *, prefix: str) -> str:
    """The place's code: the one given (unique across the service), or the next free `<county>-T<n>`/`-V<n>`."""
    if code is not None:
        code = name_of(code, "code", 32)
        if session.scalars(select(col(table.id)).where(col(table.code) == code)).first() is not None:
            raise PlaceCodeTaken("This code is in use already; give another or leave it out.", field="code")
        return code
    n = (session.scalar(select(func.count()).select_from(table).where(col(table.code).startswith(prefix))) or 0) + 1
    while session.scalars(select(col(table.id)).where(col(table.code) == f"{prefix}{n}")).first() is not None:
        n += 1
    return f"{prefix}{n}"


class InvalidNoticePrivacy(Invalid):
    code = "invalid_notice_privacy"


def _privacy(value: object) -> str:
    if value not in PRIVACY:
        raise InvalidNoticePrivacy("notice_privacy is full_name, surname_house or anonymous.", field="notice_privacy")
    return str(value)


def _centre(lat: float | None, lon: float | None) -> tuple[float | None, float | None]:
    """Both (WGS-84 degrees, in range) or neither."""
    if lat is None and lon is None:
        return None, None
    if lat is None or lon is None:
        raise CentreInvalid("Give both the latitude and the longitude of the centre, or neither.", field="centre")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise CentreInvalid(
            "A latitude lies between -90 and 90 degrees, a longitude between -180 and 180.", field="centre"
        )
    return float(lat), float(lon)
