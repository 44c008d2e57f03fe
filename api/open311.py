"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2), JSON format, under /open311/v2/: the county's
concern categories as services, concerns as service requests (docs/concerns.md, "Open311 GeoReport v2", maps
each field).

The standard has its own shape, so these routes live apart from /api/v1 and its problem+json: every error is the
standard's JSON array `[{"code": <HTTP status>, "description": "..."}]`, with that status (400 a field missing or
wrong, 403 a bad api_key, 404 an unknown request, service or jurisdiction), and a failure of ours is a 500 in the
same shape that says nothing of the inside. They are left out of the OpenAPI document (their contract is the
standard's); each still declares who may call it: discovery and services anyone (`public()`), requests a client
holding an api_key the county admin made (`client_key()`: deny by default; a village's complaints name its
neighbours). A client reads only the requests it sent, and never who reported them.

The endpoints parse on the event loop, then do their work in one unit of work in the request's turn at the
database (`in_turn`): a refusal rolls everything back before the error is answered.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, col
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import in_turn, public
from api.observability import count_error
from api.problems import StatusPage
from ledger.concerns import deadlines, open311, service
from ledger.concerns.models import (
    Channel,
    Concern,
    ConcernCategory,
    ConcernEvent,
    ConcernHandler,
    ConcernPlace,
    Open311Client,
)
from ledger.core.base import as_utc, row_id, utcnow
from ledger.core.db import WriterBusy, unit_of_work
from ledger.core.errors import DomainError, Forbidden, NotFound, Throttled
from ledger.tenancy import County

log = logging.getLogger("shanzhi.open311")

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-01T00:00:00Z"  # when this endpoint's behaviour last changed
DEFAULT_DAYS = 90  # GET requests.json: the range when none is given, and the longest one may ask for
OPEN = ("submitted", "accepted", "dispatched", "returned", "reopened")  # GeoReport's "open"; the rest are "closed"
CLOSED = ("resolved", "closed", "merged")
KINDS = ("complaint", "question", "suggestion", "hazard")
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")
FIELD_LONGEST = 1000  # any one field of a POST, before the domain's own limits
T = TypeVar("T")

router = APIRouter(prefix=PREFIX, tags=["open311"], include_in_schema=False)


class Refused(Exception):
    """An Open311 error answer: the HTTP status and the description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def errors(status: int, description: str, *, retry_after: int | None = None) -> JSONResponse:
    count_error(f"open311_{status}")
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse([{"code": status, "description": description}], status_code=status, headers=headers)


def _status_of(error: DomainError) -> int:
    if isinstance(error, Forbidden):
        return 403
    if isinstance(error, NotFound):
        return 404
    return 400  # an Invalid, or any other refusal of what was sent (GeoReport has no 409 or 422)


async def _answer(request: Request, work: Callable[..., T], *args: Any) -> T | JSONResponse:
    """Run `work(session, *args)` in one unit of work, in the request's turn at the database; a refusal (nothing
    written) or a failure becomes the standard's error array."""
    try:
        result: T = await in_turn(request, _in_unit, request.app.state.engine, work, *args)
        return result
    except Refused as refused:
        return errors(refused.status, refused.description)
    except Throttled as error:
        return errors(429, error.message, retry_after=error.retry_after)
    except DomainError as error:
        return errors(_status_of(error), error.message)
    except (OperationalError, WriterBusy, PoolTimeout):
        log.exception("database unavailable")
        return errors(503, "The service is busy; try again shortly.")
    except Exception:  # anything else is ours: logged, and said in the standard's shape with nothing of the inside
        log.exception("unhandled error")
        return errors(500, "Something went wrong on our side; it has been logged.")


def _in_unit(engine: Engine, work: Callable[..., T], *args: Any) -> T:
    with unit_of_work(engine) as session:
        return work(session, *args)


# --- who may call: the api_key ----------------------------------------------------------------------------------


def client_key() -> Any:
    """The access rule of the requests routes: a client of the county, by its api_key (checked against the
    database in the route's unit of work; `open311.client_of_key`). The key may come as the standard sends it (a
    query parameter, or a field of a POST's form or JSON body), or as the password of HTTP Basic authentication
    (what a client library's netrc support sends, when the library adds no api_key to a GET)."""

    async def rule(request: Request) -> str | None:  # a POST's body is read by its endpoint, which adds its key
        return request.query_params.get("api_key") or _basic_password(request.headers.get("authorization", ""))

    vars(rule)["access_rule"] = "open311_key"  # read by api.deps.access_rule_of, as `allow` and `public` are
    return Depends(rule)


def _basic_password(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        _, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password or None


async def _body(request: Request) -> dict[str, Any]:
    """A POST's fields, form-encoded (what GeoReport v2 clients send) or JSON; read once (kept on the request).
    A body that is neither: 400."""
    kept: dict[str, Any] | None = getattr(request.state, "open311_body", None)
    if kept is not None:
        return kept
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields: dict[str, Any]
    try:
        if kind == "application/json":
            parsed = json.loads(await request.body() or b"{}")
            if not isinstance(parsed, dict):
                raise Refused(400, "The JSON body must be an object of the request's fields.")
            fields = parsed
        else:  # application/x-www-form-urlencoded, multipart/form-data, or none (the fields in the query)
            form = await request.form()
            fields = {name: value for name, value in form.items() if isinstance(value, str)}
    except (ValueError, UnicodeDecodeError, AssertionError) as broken:
        raise Refused(400, "The body cannot be read: send the fields form-encoded or as a JSON object.") from broken
    except StarletteHTTPException as refused:  # api/limits.py: a streamed body past its limit
        raise Refused(refused.status_code, str(refused.detail)) from refused
    request.state.open311_body = fields
    return fields


ClientKey = Annotated[str | None, client_key()]  # the key sent (checked in the unit of work), or None


# --- reading what was sent --------------------------------------------------------------------------------------


def _text(fields: Mapping[str, Any], name: str, longest: int = FIELD_LONGEST) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Refused(400, f"{name} must be text.")
    text = str(value).strip()
    if "\x00" in text:
        raise Refused(400, f"{name} must not hold a NUL character.")
    if len(text) > longest:
        raise Refused(400, f"{name} is longer than {longest} characters.")
    return text or None


def _number(fields: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Refused(400, f"{name} must be a number.") from None
    if isinstance(value, bool) or not math.isfinite(number) or not low <= number <= high:
        raise Refused(400, f"{name} must be a number from {low:g} to {high:g}.")
    return number


def _whole(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 12:
        raise Refused(400, f"{name} must be a whole number.")
    return int(value)


def _attributes(fields: Mapping[str, Any]) -> dict[str, str]:
    """The service definition's attributes as sent: `attribute[code]=value` (form), or an `attribute` object
    (JSON)."""
    found: dict[str, str] = {}
    nested = fields.get("attribute")
    if isinstance(nested, dict):
        found.update({str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in nested.items()})
    for name, value in fields.items():
        if name.startswith("attribute[") and name.endswith("]"):
            found[name[len("attribute[") : -1]] = str(value).lower() if isinstance(value, bool) else str(value)
    return found


def _moment(value: str | None, name: str) -> datetime | None:
    """A w3c date-time (2010-01-01T00:00:00Z, or with an offset); one without a zone is taken as UTC."""
    if value is None or value == "":
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Refused(400, f"{name} must be a date and time like 2026-01-01T00:00:00Z.") from None
    return as_utc(moment)


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _county(session: Session, jurisdiction_id: str | None) -> County:
    county = open311.county_of_jurisdiction(session, jurisdiction_id)
    if county is not None:
        return county
    if jurisdiction_id:
        raise Refused(404, f"No jurisdiction {jurisdiction_id!r} here.")
    raise Refused(400, "Send jurisdiction_id (the county's code): this service serves several counties.")


def _client_county(session: Session, key: str | None, jurisdiction_id: str | None) -> Open311Client:
    client = open311.client_of_key(session, key)
    if jurisdiction_id:
        county = open311.county_of_jurisdiction(session, jurisdiction_id)
        if county is None or county.id != client.county_id:
            raise Refused(403, "This api_key is not one of this jurisdiction's.")
    return client


# --- what is answered -------------------------------------------------------------------------------------------


def _iso(moment: datetime | None, zone: Any) -> str | None:
    return None if moment is None else as_utc(moment).astimezone(zone).isoformat(timespec="seconds")


def _english(request: Request) -> bool:
    return request.headers.get("accept-language", "").strip().lower().startswith("en")


def _name(category: ConcernCategory, english: bool) -> str:
    return category.name_en if english else category.name_zh


def _default_kind(category: ConcernCategory) -> str:
    return "hazard" if category.urgent else "complaint"


def _duration(minutes: int, working: bool, day: int) -> str:
    """A deadline in words; `day`: the working minutes of one of the county's working days."""
    if working and minutes % day == 0:
        return f"{minutes // day} working day(s)"
    if minutes % 60 == 0:
        return f"{minutes // 60} {'working ' if working else ''}hour(s)"
    return f"{minutes} {'working ' if working else ''}minute(s)"


def service_out(category: ConcernCategory, english: bool, day: int) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": _name(category, english),
        "description": (
            f"{category.name_en} ({category.name_zh}): accepted within "
            f"{_duration(category.accept_minutes, True, day)}, dispatched within "
            f"{_duration(category.dispatch_minutes, True, day)}, resolved within "
            f"{_duration(category.resolve_minutes, category.resolve_working, day)}."
        ),
        "metadata": True,  # the attributes anonymous and kind (services/{code}.json)
        "type": "realtime",
        "keywords": ", ".join(dict.fromkeys((category.code, category.name_zh, category.name_en))),
        "group": _default_kind(category),
    }


def definition_out(category: ConcernCategory) -> dict[str, Any]:
    yes_no = [{"key": "true", "name": "yes"}, {"key": "false", "name": "no"}]
    return {
        "service_code": category.code,
        "attributes": [
            {
                "variable": True,
                "code": "anonymous",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "true: officials, handlers and clients never see who reported it",
                "order": 1,
                "description": "Keep the reporter anonymous",
                "values": yes_no,
            },
            {
                "variable": True,
                "code": "kind",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": f"default: {_default_kind(category)}",
                "order": 2,
                "description": "What kind of report this is",
                "values": [{"key": kind, "name": kind} for kind in KINDS],
            },
        ],
    }


def _status_notes(concern: Concern, handler: ConcernHandler | None) -> str:
    state = concern.status
    if state == "dispatched":
        return f"dispatched to {handler.name}" if handler is not None else "dispatched"
    if state == "returned":
        return "returned by the handler: to be dispatched again"
    if state == "reopened":
        return "reopened: the reporter was not satisfied; with the supervisor to dispatch again"
    if state == "merged":
        return f"merged into #{concern.merged_into_id}: a report of the same problem"
    if state == "closed":
        return "closed without the reporter's evaluation" if concern.closed_by == "auto" else "closed"
    return state  # submitted, accepted, resolved


def requests_out(session: Session, concerns: list[Concern], zone: Any, english: bool) -> list[dict[str, Any]]:
    """Each concern as a GeoReport v2 service request. No field names, reaches or describes the reporter."""
    if not concerns:
        return []
    ids = [row_id(c.id) for c in concerns]
    categories = {
        c.id: c
        for c in session.scalars(
            select(ConcernCategory).where(col(ConcernCategory.id).in_({c.category_id for c in concerns}))
        )
    }
    handler_ids = {c.handler_id for c in concerns if c.handler_id is not None}
    handlers = (
        {h.id: h for h in session.scalars(select(ConcernHandler).where(col(ConcernHandler.id).in_(handler_ids)))}
        if handler_ids
        else {}
    )
    place_ids = {c.place_id for c in concerns if c.place_id is not None}
    places = (
        {p.id: p for p in session.scalars(select(ConcernPlace).where(col(ConcernPlace.id).in_(place_ids)))}
        if place_ids
        else {}
    )
    updated = dict(
        session.execute(
            select(col(ConcernEvent.concern_id), func.max(col(ConcernEvent.at)))
            .where(col(ConcernEvent.concern_id).in_(ids))
            .group_by(col(ConcernEvent.concern_id))
        ).all()
    )
    answers = []
    for concern in concerns:
        category = categories[concern.category_id]
        handler = handlers.get(concern.handler_id) if concern.handler_id is not None else None
        place = places.get(concern.place_id) if concern.place_id is not None else None
        answers.append(
            {
                "service_request_id": str(concern.id),
                "status": "open" if concern.status in OPEN else "closed",
                "status_notes": _status_notes(concern, handler),
                "service_name": _name(category, english),
                "service_code": category.code,
                "description": concern.text,
                "agency_responsible": handler.name if handler is not None else "",
                "service_notice": "",
                "requested_datetime": _iso(concern.created_at, zone),
                "updated_datetime": _iso(updated.get(concern.id) or concern.created_at, zone),
                "expected_datetime": _iso(concern.step_due_at, zone),
                "address": place.name if place is not None else "",
                "address_id": str(place.id) if place is not None else "",
                "zipcode": "",
                "lat": concern.lat if concern.lat is not None else (place.lat if place is not None else None),
                "long": concern.lon if concern.lon is not None else (place.lon if place is not None else None),
                "media_url": concern.media_url or "",
            }
        )
    return answers


# --- the routes -------------------------------------------------------------------------------------------------


@router.get("/discovery.json", dependencies=[public()])
async def discovery(request: Request) -> JSONResponse:
    """Where the endpoint is and what it speaks (GeoReport v2's service discovery)."""
    base = request.app.state.settings.base_url.rstrip("/")
    return JSONResponse(
        {
            "changeset": CHANGESET,
            "contact": "The county admin of your county gives your system an api_key (Shanzhi: "
            "POST /api/v1/open311-clients).",
            "key_service": f"{base}/api/v1/open311-clients",
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": f"{base}{PREFIX}",
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": ["application/json"],
                }
            ],
        }
    )


@router.get("/services.json", dependencies=[public()])
async def services(request: Request) -> JSONResponse:
    """The county's categories of concerns, as services."""
    jurisdiction = request.query_params.get("jurisdiction_id")
    english = _english(request)

    def work(session: Session) -> list[dict[str, Any]]:
        county = _county(session, jurisdiction)
        day = deadlines.day_minutes(session, row_id(county.id))
        return [service_out(c, english, day) for c in open311.categories_of(session, row_id(county.id))]

    answer = await _answer(request, work)
    return answer if isinstance(answer, JSONResponse) else JSONResponse(answer)


@router.get("/services/{service_code}.json", dependencies=[public()])
async def service_definition(request: Request, service_code: str) -> JSONResponse:
    """A service's attributes: `anonymous` and `kind`."""
    jurisdiction = request.query_params.get("jurisdiction_id")

    def work(session: Session) -> dict[str, Any]:
        county = _county(session, jurisdiction)
        return definition_out(open311.category_of(session, row_id(county.id), service_code))

    answer = await _answer(request, work)
    return answer if isinstance(answer, JSONResponse) else JSONResponse(answer)


@router.get("/requests.json")
async def list_requests(request: Request, key: ClientKey) -> JSONResponse:
    """The requests this client sent, newest first, filtered as GeoReport v2 says (service_request_id overrides
    the rest; at most 1000; 90 days at most, the latest 90 by default)."""
    query = request.query_params
    english = _english(request)
    try:
        ids = tuple(_whole(i, "service_request_id") or 0 for i in _list(query.get("service_request_id")))
        if len(ids) > open311.MOST_REQUESTS:
            raise Refused(400, f"Ask for at most {open311.MOST_REQUESTS} service_request_id at once.")
        codes = _list(query.get("service_code"))
        wanted_status = _list((query.get("status") or "").lower())
        if any(s not in ("open", "closed") for s in wanted_status):
            raise Refused(400, "status is open, closed, or both (comma-separated).")
        start, end = _moment(query.get("start_date"), "start_date"), _moment(query.get("end_date"), "end_date")
    except Refused as refused:
        return errors(refused.status, refused.description)
    if not ids:
        if start is None and end is None:
            end = utcnow()
        if start is None:
            start = (end or utcnow()) - timedelta(days=DEFAULT_DAYS)
        if end is None:
            end = start + timedelta(days=DEFAULT_DAYS)
        if end < start:
            return errors(400, "end_date is before start_date.")
        if end - start > timedelta(days=DEFAULT_DAYS):
            return errors(400, f"start_date to end_date may span {DEFAULT_DAYS} days at most.")
    statuses: tuple[str, ...] | None = None
    if wanted_status and set(wanted_status) != {"open", "closed"}:
        statuses = OPEN if wanted_status[0] == "open" else CLOSED

    def work(session: Session) -> list[dict[str, Any]]:
        client = _client_county(session, key, query.get("jurisdiction_id"))
        category_ids: tuple[int, ...] | None = None
        if codes and not ids:
            found = [c for c in open311.categories_of(session, client.county_id) if c.code in codes]
            category_ids = tuple(row_id(c.id) for c in found)
        wanted = open311.RequestFilter(ids, category_ids, start, end, statuses)
        return requests_out(session, open311.visible_requests(session, client, wanted), _zone(session, client), english)

    answer = await _answer(request, work)
    return answer if isinstance(answer, JSONResponse) else JSONResponse(answer)


@router.get("/requests/{service_request_id}.json")
async def one_request(request: Request, service_request_id: str, key: ClientKey) -> JSONResponse:
    """One request this client sent, as a list of one (as the standard answers it); anyone else's: 404."""
    jurisdiction = request.query_params.get("jurisdiction_id")
    english = _english(request)

    def work(session: Session) -> list[dict[str, Any]]:
        client = _client_county(session, key, jurisdiction)
        if not service_request_id.isascii() or not service_request_id.isdigit() or len(service_request_id) > 12:
            raise Refused(404, f"No service request {service_request_id!r}.")
        found = open311.visible_requests(session, client, open311.RequestFilter(ids=(int(service_request_id),)))
        if not found:
            raise Refused(404, f"No service request {service_request_id!r}.")
        return requests_out(session, found, _zone(session, client), english)

    answer = await _answer(request, work)
    return answer if isinstance(answer, JSONResponse) else JSONResponse(answer)


@router.post("/requests.json")
async def create_request(request: Request, key: ClientKey) -> JSONResponse:
    """A concern from the client (channel open311; no household, so it earns no points): form-encoded or JSON,
    with GeoReport v2's fields. Answered 201 with the request's id; a report repeating an open one is linked to it
    at once (its service_notice says so)."""
    try:
        fields = await _body(request)
    except Refused as refused:
        return errors(refused.status, refused.description)
    sent_key = fields.get("api_key")
    key = key or (sent_key if isinstance(sent_key, str) else None)
    jurisdiction = request.query_params.get("jurisdiction_id") or _plain(fields.get("jurisdiction_id"))

    def work(session: Session) -> list[dict[str, Any]]:
        client = _client_county(session, key, jurisdiction)  # the key before any word about the fields
        code = _text(fields, "service_code", 32)
        if code is None:
            raise Refused(400, "service_code is required: one of services.json.")
        category = open311.category_of(session, client.county_id, code)
        attributes = _attributes(fields)
        anonymous = attributes.get("anonymous", "false").strip().lower()
        if anonymous not in TRUE + FALSE:
            raise Refused(400, "attribute[anonymous] is true or false.")
        kind = attributes.get("kind", "").strip().lower() or _default_kind(category)
        if kind not in KINDS:
            raise Refused(400, f"attribute[kind] is one of {', '.join(KINDS)}.")
        lat, lon = _number(fields, "lat", -90, 90), _number(fields, "long", -180, 180)
        if (lat is None) != (lon is None):
            raise Refused(400, "Send both lat and long, or neither.")
        place_id = _whole(_text(fields, "address_id", 12), "address_id")
        located = open311.locate(
            session, client.county_id, place_id=place_id, lat=lat, lon=lon, address=_text(fields, "address_string")
        )
        description = _text(fields, "description")
        if description is None:
            raise Refused(400, "description is required: say what it is about.")
        name = " ".join(part for part in (_text(fields, "first_name"), _text(fields, "last_name")) if part) or None
        media_url = _text(fields, "media_url", 500)  # kept as sent, never fetched
        if media_url is not None and not media_url.lower().startswith(("https://", "http://")):
            raise Refused(400, "media_url is an http or https address.")
        for unused in ("email", "device_id", "account_id"):
            _text(fields, unused)  # read, checked and not kept (docs/concerns.md, "Open311 GeoReport v2")
        open311.count_report(session, client)
        concern = service.report_by_client(
            session,
            client,
            service.Report(
                category_code=category.code,
                kind=kind,
                text=description,
                anonymous=anonymous in TRUE,
                village_id=row_id(located.village.id),
                place_id=located.place.id if located.place is not None else None,
                lat=lat,
                lon=lon,
                reporter_name=name,
                reporter_phone=_text(fields, "phone", 20),
                channel=Channel.OPEN311.value,
            ),
        )
        concern.media_url = media_url
        session.flush()
        notice = (
            f"A report of the same problem is open: this one is linked to #{concern.merged_into_id}."
            if concern.merged_into_id is not None
            else ""
        )
        return [{"service_request_id": str(concern.id), "service_notice": notice, "account_id": None}]

    answer = await _answer(request, work)
    return answer if isinstance(answer, JSONResponse) else JSONResponse(answer, status_code=201)


def _plain(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _zone(session: Session, client: Open311Client) -> Any:
    county = session.get(County, client.county_id)
    return ZoneInfo(county.timezone) if county is not None else UTC


@router.api_route("/{rest:path}", methods=["GET", "POST"], dependencies=[public()])
async def unknown(rest: str) -> JSONResponse:
    """Anything else under /open311/v2/: the standard's 404 (only the JSON format is served)."""
    if rest.endswith(".xml"):
        return errors(404, "Only the JSON format is served here: ask for .json.")
    return errors(404, f"Nothing at {PREFIX}/{rest}.")


STATUS_WORDS = {
    404: "Nothing here: see discovery.json.",
    405: "This method is not served here: GET, or POST to requests.json.",
    409: "The request conflicts with another made at the same moment; send it again.",
    413: "The body is larger than this endpoint accepts.",
    500: "Something went wrong on our side; it has been logged.",
    503: "The service is busy; try again shortly.",
}


def install(app: FastAPI) -> None:
    """Serve the routes, and answer in the standard's shape what the app answers before or around them under the
    prefix (a method not served, a body too large, a failure), where it would otherwise answer a page or a
    problem: `app.state.status_page` (api/problems.py, api/limits.py) asks here first. Call after the pages'
    install, which sets the hook this one wraps."""
    app.include_router(router)
    others: StatusPage | None = getattr(app.state, "status_page", None)

    async def status_page(request: Request, status: int) -> Response | None:
        if request.url.path == PREFIX or request.url.path.startswith(f"{PREFIX}/"):
            return errors(status, STATUS_WORDS.get(status, "The request cannot be answered."))
        return await others(request, status) if others is not None else None

    app.state.status_page = status_page
