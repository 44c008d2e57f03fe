"""The one place where errors become HTTP: RFC 9457 problem+json with a stable `code` and a plain message.

Domain errors are mapped by family; a malformed request names the field (a body that is not JSON at all, where
it breaks); anything unexpected is a 500
that says nothing about the inside (the log has the details, under the request id).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from psycopg.errors import NumericValueOutOfRange
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import deps
from api.observability import count_error, request_id
from ledger.core.db import WriterBusy
from ledger.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Throttled,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedType,
)

log = logging.getLogger("shanzhi.errors")

PROBLEM = "application/problem+json"
STATUS_BY_FAMILY: list[tuple[type[DomainError], int]] = [
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Invalid, 422),
    (TooLarge, 413),
    (UnsupportedType, 415),
    (Throttled, 429),
    (Unavailable, 503),
]
HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


RESERVED = frozenset({"type", "title", "status", "code", "detail", "request_id"})


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, /, **extra: Any
) -> JSONResponse:
    count_error(code)
    clashing = RESERVED & set(extra)
    if clashing:  # a detail never overwrites the problem's own members, nor is it lost: it is renamed `extra_<name>`
        log.warning("problem detail uses reserved names", extra={"fields": {"code": code, "names": sorted(clashing)}})
        extra = {(f"extra_{k}" if k in RESERVED else k): v for k, v in extra.items()}
    body = {
        "type": f"https://shanzhi.example/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
        "request_id": request_id(),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def status_of(error: DomainError) -> int:
    for family, status in STATUS_BY_FAMILY:
        if isinstance(error, family):
            return status
    return 400


def of_error(error: DomainError) -> JSONResponse:
    """The problem a domain error becomes (for a route that answers with it instead of raising)."""
    status = status_of(error)
    headers = {}
    if isinstance(error, Throttled | Unavailable):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    extra = dict(error.detail)  # a Throttled's retry_after stays in the body too: when the limit lifts
    return problem(status, error.code, error.message, headers, **extra)


PageError = Callable[[Request, DomainError, int], Response | None]
StatusPage = Callable[[Request, int], Awaitable[Response | None]]


def error_page(request: Request, error: DomainError, status: int) -> Response | None:
    """The page that tells a reader of the pages what went wrong, when the request came from a page (the pages
    install their renderer on the app: `app.state.error_page`); None for the API, which answers problem+json."""
    render: PageError | None = getattr(request.app.state, "error_page", None)
    return render(request, error, status) if render is not None else None


async def status_page(request: Request, status: int) -> Response | None:
    """The page for a page path that is not found or fails (the pages install it: `app.state.status_page`), so a
    person in a browser reads a page in their language with a way back; None for the API's paths."""
    render: StatusPage | None = getattr(request.app.state, "status_page", None)
    return await render(request, status) if render is not None else None


async def _domain(request: Request, error: Exception) -> Response:
    assert isinstance(error, DomainError)
    return error_page(request, error, status_of(error)) or of_error(error)


def not_json(error: RequestValidationError) -> JSONResponse | None:
    """A body that does not parse as JSON: FastAPI reports it as one error whose location is the offset where
    parsing stopped; say so, with the line and column json itself computes from the body and that offset."""
    found = next((e for e in error.errors() if e.get("type") == "json_invalid"), None)
    if found is None:
        return None
    loc, body = found.get("loc", ()), error.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not (len(loc) == 2 and isinstance(loc[1], int) and isinstance(body, str)):
        return problem(400, "invalid_json", "The body is not valid JSON.")
    where = json.JSONDecodeError(str((found.get("ctx") or {}).get("error", "invalid JSON")), body, loc[1])
    return problem(
        400,
        "invalid_json",
        f"The body is not valid JSON: {where.msg} at line {where.lineno}, column "
        f"{where.colno} (character {where.pos + 1}).",
        line=where.lineno,
        column=where.colno,
    )


def _route_of(request: Request) -> APIRoute | None:
    route = request.scope.get("route")  # set by the router once a route matched
    return route if isinstance(route, APIRoute) else None


async def _sign_in_first(request: Request) -> Response | None:
    """A malformed request to a route that needs a signed-in caller, from a caller who is not: 401 before any
    word about the request (FastAPI parses the body before the route's access dependency runs)."""
    route = _route_of(request)
    refusal = await deps.unauthenticated_caller(request, route.dependant) if route is not None else None
    return of_error(refusal) if refusal is not None else None


async def _validation(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    if (refused := await _sign_in_first(request)) is not None:
        return refused
    if (answer := not_json(error)) is not None:
        return answer
    errors = [
        {
            "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "header"))
            or str((e.get("loc") or ["body"])[0]),
            "problem": e.get("msg", "invalid"),
        }
        for e in error.errors()
    ]
    fields = ", ".join(sorted({e["field"] for e in errors}))
    if (page := error_page(request, Invalid(f"Check {fields}.", fields=fields), 422)) is not None:
        count_error("invalid_request")
        return page
    return problem(422, "invalid_request", f"The request is not valid: check {fields}.", errors=errors)


BODY_NOT_PARSED = "There was an error parsing the body"  # FastAPI's 400 for a body it cannot read as text


async def _http(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400 and error.detail == BODY_NOT_PARSED:
        if (refused := await _sign_in_first(request)) is not None:
            return refused
        if "json" in request.headers.get("content-type", "json"):  # FastAPI reads a body without one as JSON
            return problem(400, "invalid_json", "The body is not valid JSON: it is not UTF-8 text.")
        return problem(400, "bad_request", "The body cannot be read as a form.")
    if error.status_code in (404, 405, 413) and (page := await status_page(request, error.status_code)) is not None:
        count_error(HTTP_CODES[error.status_code])
        return page
    # an HTTPException of the app's own (api/limits.py: BodyTooLarge) carries its stable code and details
    code = getattr(error, "code", None) or HTTP_CODES.get(error.status_code, "http_error")
    detail = error.detail if isinstance(error.detail, str) else code.replace("_", " ")
    extra: dict[str, Any] = getattr(error, "extra", {})
    return problem(error.status_code, code, detail, dict(error.headers or {}), **extra)


async def _integrity(request: Request, error: Exception) -> Response:
    log.warning("integrity error mapped to 409", exc_info=error)
    if (page := await status_page(request, 409)) is not None:
        count_error("conflict")
        return page
    return problem(409, "conflict", "The request conflicts with the current state; reload and try again.")


async def _unavailable(request: Request, error: Exception) -> Response:
    log.error("database unavailable", exc_info=error)
    if (page := await status_page(request, 503)) is not None:
        count_error("database_unavailable")
        page.headers["Retry-After"] = "5"
        return page
    return problem(
        503, "database_unavailable", "The database is busy or unreachable; try again shortly.", {"Retry-After": "5"}
    )


async def _unstorable(request: Request, error: Exception) -> Response:
    """A value the database cannot hold: a number too large (an id of thirty digits in a path or a form; SQLite
    refuses it while binding, PostgreSQL while running) or, on PostgreSQL, text with a NUL character. The
    request's fault, so 422; any other OverflowError or DataError is ours and stays a 500."""
    orig = getattr(error, "orig", None)
    if isinstance(error, OverflowError):
        unstorable = "SQLite INTEGER" in str(error)
    else:
        unstorable = isinstance(orig, NumericValueOutOfRange) or "cannot contain NUL" in str(orig)
    if not unstorable:
        return await _unexpected(request, error)
    count_error("invalid_request")
    detail = "A value in the request cannot be stored: a number out of range, or text with a NUL character."
    return error_page(request, Invalid(detail, field="request"), 422) or problem(422, "invalid_request", detail)


async def _unexpected(request: Request, error: Exception) -> Response:
    log.error("unhandled error", exc_info=error)
    if (page := await status_page(request, 500)) is not None:
        count_error("internal_error")
        return page
    return problem(500, "internal_error", "Something went wrong on our side; it has been logged.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(OverflowError, _unstorable)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(OperationalError, _unavailable)
    app.add_exception_handler(WriterBusy, _unavailable)
    app.add_exception_handler(PoolTimeout, _unavailable)
    app.add_exception_handler(Exception, _unexpected)
