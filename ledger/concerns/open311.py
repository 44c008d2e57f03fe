"""Open311 clients: the systems a county lets speak Open311 GeoReport v2 to it (api/open311.py serves the
standard), each with a key of its own.

A key is 32 random bytes, shown once to the county admin who made it; only its SHA-256 is kept (a key that random
needs no slow hash: nothing is guessed from its hash). A request names its client by the key alone; a key of a
disabled client, or one nobody made, is no key. What a client may read: the requests it sent itself
(`visible_requests`), never anyone else's, and never who reported them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.claims.rules import distance_m
from ledger.concerns.models import Concern, ConcernCategory, ConcernPlace, Open311Client
from ledger.core import audit, ratelimit
from ledger.core.base import row_id
from ledger.core.errors import Forbidden, Invalid, NotFound, Throttled
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.tenancy import County, Village

KEY_BYTES = 32
NAME_LONGEST = 100
CLIENT_PREFIX = "open311:"  # the actor string of what a client enters: "open311:<client id>"
NEAREST_METRES = 5000  # a position further than this from every village centre is in no village
MOST_REQUESTS = 1000  # the most one GET requests.json answers (GeoReport v2)
REPORTS_PER_HOUR = 120  # the most reports one client makes in an hour: a leaked or buggy key cannot flood a village
WORD = re.compile(r"\S")


class Open311ClientNotFound(NotFound):
    code = "open311_client_not_found"


class InvalidOpen311Client(Invalid):
    code = "invalid_open311_client"


class Open311KeyInvalid(Forbidden):
    """The key is missing, made by nobody, or of a disabled client (GeoReport v2 answers 403)."""

    code = "open311_key_invalid"


class LocationOutside(Invalid):
    """A report whose place is in no village of the county (GeoReport v2 answers 400)."""

    code = "concern_location_outside"


@dataclass(frozen=True)
class FreshKey:
    plain: str  # shown once
    hashed: str  # kept


def new_key() -> FreshKey:
    plain = secrets.token_urlsafe(KEY_BYTES)
    return FreshKey(plain, key_hash(plain))


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _require_admin(who: Principal) -> None:
    if who.role != Role.COUNTY_ADMIN:
        raise Forbidden("The county admin manages Open311 clients.")


def create_client(session: Session, who: Principal, *, name: str, key: FreshKey) -> Open311Client:
    """A client of the admin's county, holding `key` (made by `new_key`; only its hash is kept)."""
    _require_admin(who)
    name = name.strip()
    if not WORD.search(name) or len(name) > NAME_LONGEST:
        raise InvalidOpen311Client(f"Name the client in 1 to {NAME_LONGEST} characters.", field="name")
    client = Open311Client(county_id=who.county_id, name=name, key_hash=key.hashed, created_by=who.actor)
    session.add(client)
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="open311_client.create",
        target_type="open311_client",
        target_id=client.id,
        after={"name": name, "key": "made"},
    )
    return client


def clients_of(session: Session, who: Principal) -> list[Open311Client]:
    """The clients of the admin's county, oldest first."""
    _require_admin(who)
    return list(
        session.scalars(
            select(Open311Client).where(col(Open311Client.county_id) == who.county_id).order_by(col(Open311Client.id))
        )
    )


def disable_client(session: Session, who: Principal, client_id: int) -> Open311Client:
    """Its key is refused from the next request on; disabling a disabled client changes nothing. Another
    county's client looks missing."""
    _require_admin(who)
    client = session.scalars(
        select(Open311Client)
        .where(col(Open311Client.id) == client_id, col(Open311Client.county_id) == who.county_id)
        .with_for_update()
    ).first()
    if client is None:
        raise Open311ClientNotFound("No such Open311 client in your county.", client_id=client_id)
    before = audit.fields(client, ("active",))
    client.active = False
    session.flush()
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action="open311_client.disable",
        target_type="open311_client",
        target_id=client.id,
        before=before,
        after=audit.fields(client, ("active",)),
    )
    return client


def client_of_key(session: Session, key: str | None) -> Open311Client:
    """The active client holding `key`; otherwise 403 `open311_key_invalid`, whatever the reason (a probe learns
    nothing about which keys were ever made)."""
    if key:
        client = session.scalars(
            select(Open311Client).where(col(Open311Client.key_hash) == key_hash(key), col(Open311Client.active))
        ).first()
        if client is not None:
            return client
    raise Open311KeyInvalid("Send the api_key the county gave your system; this one is not valid.")


class Open311ReportsLimited(Throttled):
    code = "open311_reports_limited"


def count_report(session: Session, client: Open311Client, *, now: datetime | None = None) -> None:
    """Count one report of the client; past REPORTS_PER_HOUR in an hour it is refused (with the seconds to wait)
    and nothing is written. A report refused for anything else is not counted (its transaction rolls back)."""
    ratelimit.hit(
        session,
        f"open311-reports:{row_id(client.id)}",
        limit=REPORTS_PER_HOUR,
        seconds=3600,
        what="reports from this client",
        now=now,
        refusal=Open311ReportsLimited,
    )


def actor_of(client: Open311Client) -> str:
    return f"{CLIENT_PREFIX}{row_id(client.id)}"


@dataclass(frozen=True)
class RequestFilter:
    """GeoReport v2's filters of GET requests.json. `ids` overrides every other filter (as the standard says)."""

    ids: tuple[int, ...] = ()
    category_ids: tuple[int, ...] | None = None  # None: every service
    start: datetime | None = None
    end: datetime | None = None
    statuses: tuple[str, ...] | None = None  # concern statuses; None: any


def visible_requests(session: Session, client: Open311Client, wanted: RequestFilter) -> list[Concern]:
    """The requests this client sent, newest first, at most 1000. Another client's request, or one made on any
    other channel, looks missing."""
    query = select(Concern).where(col(Concern.open311_client_id) == client.id)
    if wanted.ids:
        query = query.where(col(Concern.id).in_(wanted.ids))
    else:
        if wanted.category_ids is not None:
            query = query.where(col(Concern.category_id).in_(wanted.category_ids))
        if wanted.start is not None:
            query = query.where(col(Concern.created_at) >= wanted.start)
        if wanted.end is not None:
            query = query.where(col(Concern.created_at) <= wanted.end)
        if wanted.statuses is not None:
            query = query.where(col(Concern.status).in_(wanted.statuses))
    query = query.order_by(col(Concern.created_at).desc(), col(Concern.id).desc()).limit(MOST_REQUESTS)
    return list(session.scalars(query))


class ServiceNotFound(NotFound):
    """A service_code that is no active category of the county (GeoReport v2 answers 404)."""

    code = "open311_service_not_found"


def categories_of(session: Session, county_id: int) -> list[ConcernCategory]:
    """The county's active categories: GeoReport v2's services."""
    return list(
        session.scalars(
            select(ConcernCategory)
            .where(col(ConcernCategory.county_id) == county_id, col(ConcernCategory.active))
            .order_by(col(ConcernCategory.id))
        )
    )


def category_of(session: Session, county_id: int, code: str) -> ConcernCategory:
    found = session.scalars(
        select(ConcernCategory).where(
            col(ConcernCategory.county_id) == county_id,
            col(ConcernCategory.code) == code,
            col(ConcernCategory.active),
        )
    ).first()
    if found is None:
        raise ServiceNotFound(f"No service {code!r} in this jurisdiction.", service_code=code)
    return found


def county_of_jurisdiction(session: Session, jurisdiction_id: str | None) -> County | None:
    """The county a jurisdiction_id (the county's code) names; with none given, the one county installed. None:
    no such county, or several installed and none named."""
    if jurisdiction_id:
        return session.scalars(select(County).where(col(County.code) == jurisdiction_id)).first()
    counties = list(session.scalars(select(County).limit(2)))
    return counties[0] if len(counties) == 1 else None


@dataclass(frozen=True)
class Located:
    village: Village
    place: ConcernPlace | None


def locate(
    session: Session,
    county_id: int,
    *,
    place_id: int | None = None,
    lat: float | None = None,
    lon: float | None = None,
    address: str | None = None,
) -> Located:
    """The village a report is about: the village of the place `place_id` (GeoReport's address_id) of the
    county's village lists; else the village of the county whose centre is nearest to (lat, lon), within 5 km;
    else the one active place of the county named exactly `address` (an address_string cannot be looked up on
    a map here). Anything else: 400 `concern_location_outside`."""
    if place_id is not None:
        row = session.execute(
            select(ConcernPlace, Village)
            .join(Village, col(Village.id) == col(ConcernPlace.village_id))
            .where(col(ConcernPlace.id) == place_id, col(ConcernPlace.active), col(Village.county_id) == county_id)
        ).first()
        if row is None:
            raise LocationOutside("address_id names no place of this county's villages.", field="address_id")
        return Located(row[1], row[0])
    if lat is not None and lon is not None:
        villages = session.scalars(
            select(Village).where(
                col(Village.county_id) == county_id,
                col(Village.centre_lat).is_not(None),
                col(Village.centre_lon).is_not(None),
            )
        ).all()
        distances = [
            (distance_m(lat, lon, float(v.centre_lat or 0), float(v.centre_lon or 0)), row_id(v.id), v)
            for v in villages
        ]
        if distances:
            metres, _, village = min(distances, key=lambda found: found[:2])
            if metres <= NEAREST_METRES:
                return Located(village, None)
        raise LocationOutside("lat/long is in no village of this county.", field="lat")
    if address:
        rows = session.execute(
            select(ConcernPlace, Village)
            .join(Village, col(Village.id) == col(ConcernPlace.village_id))
            .where(
                col(ConcernPlace.name) == address.strip(), col(ConcernPlace.active), col(Village.county_id) == county_id
            )
            .limit(2)
        ).all()
        if len(rows) == 1:
            return Located(rows[0][1], rows[0][0])
        raise LocationOutside(
            "address_string names no single place of this county's village lists: send lat/long or address_id.",
            field="address_string",
        )
    raise LocationOutside("Say where: lat and long, address_id, or address_string.", field="lat")
