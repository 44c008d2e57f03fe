"""The OpenAPI document, telling what the service really answers (integrators generate their clients from it).

FastAPI documents a route's success and a 422 `HTTPValidationError` it never sends. Every error leaves through
api/problems.py as `application/problem+json`, so the document is completed here, in one place, from what the app
already knows about each route:

- its access rule (`allow(...)` / `scraper_or(...)` in api/deps.py, not `public()`) → 401 `unauthenticated` (with
  `WWW-Authenticate`) and 403 `forbidden` (and `password_change_required`, but where one's own password is set);
- path parameters, and query parameters naming a record (`…_id`) → 404;
- any parameter or body → 422 `invalid_request` (the problem with its `errors`);
- a JSON body → 400 `invalid_json`, a form → 400 `bad_request`; any body → 413 `body_too_large` (api/limits.py);
- an `Idempotency-Key` header → 409 `idempotency_key_reused`, and the `Idempotency-Replayed` header on the 200 a
  replay answers; every write → 409 `conflict` (the database refused it as conflicting);
- every route → 503 `database_unavailable` (with `Retry-After`).

What cannot be derived (a business conflict, a throttled route, a domain refusal with a status of its own) is
declared in `DECLARED` below, by method and path, with its stable codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, params
from fastapi._compat import ModelField
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import BaseRoute

from api.deps import access_rules
from api.limits import CODE as BODY_TOO_LARGE
from api.problems import STATUS_BY_FAMILY
from ledger.core.errors import DomainError

PROBLEM = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
INVALID_REF = {"$ref": "#/components/schemas/InvalidRequestProblem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details. `code` is stable: branch on it, not on `detail` (a "
    "plain message that may change). Some problems carry more members, named in the response's description.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "description": "https://shanzhi.example/problems/{code}"},
        "title": {"type": "string", "description": "The code, in words"},
        "status": {"type": "integer", "description": "The HTTP status"},
        "code": {"type": "string", "description": "Stable machine-readable code"},
        "detail": {"type": "string", "description": "A plain message for people"},
        "request_id": {"type": "string", "description": "The request's id in the service's logs"},
    },
    "required": ["type", "title", "status", "code", "detail", "request_id"],
    "additionalProperties": True,
}
INVALID_SCHEMA: dict[str, Any] = {
    "title": "InvalidRequestProblem",
    "description": "A problem; `invalid_request` (the request does not match this document) names each field in "
    "`errors`.",
    "allOf": [
        PROBLEM_REF,
        {
            "type": "object",
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
                        "required": ["field", "problem"],
                    },
                }
            },
        },
    ],
}
NEXT_PAGE_HEADER = {
    "description": 'While more rows follow: `<path?…&cursor=…>; rel="next"`, the next page with this request\'s '
    'filters; absent on the last page (README, "Lists")',
    "schema": {"type": "string"},
}
REPLAYED_HEADER = {
    "description": "`true` when this answer replays an earlier request with the same Idempotency-Key (nothing "
    "was written again)",
    "schema": {"type": "string", "enum": ["true"]},
}
RETRY_AFTER = {"description": "Seconds to wait before trying again", "schema": {"type": "string"}}
WWW_AUTHENTICATE = {"description": "`Bearer`", "schema": {"type": "string"}}

TITLES = {
    400: "The body cannot be read",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    503: "Service unavailable",
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": WWW_AUTHENTICATE},
    413: {"Connection": {"description": "`close`", "schema": {"type": "string"}}},
    429: {"Retry-After": RETRY_AFTER},
    503: {"Retry-After": RETRY_AFTER},
}

Codes = dict[int, list[str]]

# What the document cannot derive: per (method, path), the statuses and stable codes a route may also answer.
DECLARED: dict[tuple[str, str], Codes] = {
    ("POST", "/api/v1/auth/token"): {
        401: ["invalid_grant", "invalid_client", "unauthenticated"],
        429: ["sign_in_slowed", "account_locked"],
    },
    ("POST", "/api/v1/auth/otp/request"): {
        429: [
            "code_requests_phone_limited",
            "code_requests_address_limited",
            "sms_phone_capped",
            "sms_county_capped",
            "too_many_requests",
        ],
        503: ["sms_unavailable"],
    },
    ("POST", "/api/v1/auth/otp/verify"): {401: ["invalid_code"], 429: ["sign_in_slowed", "account_locked"]},
    ("GET", "/api/v1/credit/households/{household_id}"): {429: ["too_many_requests"]},
    ("POST", "/api/v1/credit/lookups"): {429: ["too_many_requests"]},
    ("POST", "/api/v1/evidence"): {413: ["evidence_too_large", "evidence_too_many_pixels"], 415: ["evidence_type"]},
    ("POST", "/api/v1/ledger/head/check"): {422: ["head_signature_invalid"]},
    ("POST", "/api/v1/concerns"): {
        403: ["conflict_of_interest"],
        404: ["village_not_found", "township_not_found", "household_not_found"],
        413: ["evidence_too_large", "evidence_too_many_pixels", "concern_voice_too_large"],
        415: ["evidence_type", "concern_voice_type"],
        422: ["concern_text_required", "concern_too_many_photos", "category_not_found", "place_not_found"],
    },
    ("POST", "/api/v1/concerns/{concern_id}/accept"): {403: ["conflict_of_interest"], 409: ["concern_wrong_step"]},
    ("POST", "/api/v1/concerns/{concern_id}/dispatch"): {
        403: ["conflict_of_interest"],
        409: ["concern_wrong_step", "handler_inactive"],
        422: ["handler_not_found"],
    },
    ("POST", "/api/v1/concerns/{concern_id}/return"): {
        403: ["not_the_handler", "conflict_of_interest"],
        409: ["concern_wrong_step"],
    },
    ("POST", "/api/v1/concerns/{concern_id}/resolve"): {
        403: ["not_the_handler", "conflict_of_interest"],
        409: ["concern_wrong_step"],
        413: ["evidence_too_large", "evidence_too_many_pixels"],
        415: ["evidence_type"],
        422: ["concern_photo_required", "concern_too_many_photos"],
    },
    ("POST", "/api/v1/concerns/{concern_id}/evaluate"): {403: ["not_the_reporter"], 409: ["concern_wrong_step"]},
    ("POST", "/api/v1/concerns/{concern_id}/merge"): {
        403: ["conflict_of_interest"],
        409: ["concern_wrong_step", "merge_into_self", "merge_target_closed"],
    },
    ("POST", "/api/v1/roster/imports"): {
        403: ["conflict_of_interest"],
        422: ["roster_has_problems", "file_unreadable"],
    },
    ("POST", "/api/v1/ledger/transactions/{transaction_id}/post"): {409: ["transaction_belongs_to_record"]},
    ("POST", "/api/v1/ledger/transactions/{transaction_id}/void"): {409: ["transaction_belongs_to_record"]},
    ("POST", "/api/v1/ledger/transactions/{transaction_id}/reverse"): {409: ["transaction_belongs_to_record"]},
    ("POST", "/api/v1/auth/password"): {
        403: ["current_password_wrong"],
        409: ["password_changed_meanwhile"],
        422: ["weak_password", "same_password"],
        429: ["sign_in_slowed", "account_locked"],
    },
    ("POST", "/api/v1/staff"): {
        404: ["village_not_found", "township_not_found"],
        409: ["username_taken"],
        422: ["weak_password", "staff_places_invalid"],
    },
    ("PATCH", "/api/v1/staff/{user_id}"): {
        403: ["own_account", "conflict_of_interest"],
        404: ["staff_not_found", "village_not_found", "township_not_found"],
        409: ["last_admin", "not_a_staff_account"],
        422: ["staff_places_invalid"],
    },
    ("POST", "/api/v1/staff/{user_id}/disable"): {
        403: ["own_account", "conflict_of_interest"],
        404: ["staff_not_found"],
        409: ["last_admin", "not_a_staff_account"],
    },
    ("POST", "/api/v1/staff/{user_id}/enable"): {
        403: ["conflict_of_interest"],
        404: ["staff_not_found"],
        409: ["not_a_staff_account"],
    },
    ("POST", "/api/v1/staff/{user_id}/reset-password"): {
        403: ["own_account", "conflict_of_interest"],
        404: ["staff_not_found"],
        409: ["not_a_staff_account"],
    },
}


def status_of_family(error: type[DomainError]) -> int:

    return next((status for family, status in STATUS_BY_FAMILY if issubclass(error, family)), 400)


def _walk(dependant: Dependant) -> Iterable[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def _names(fields: list[ModelField]) -> Iterable[str]:
    """The names of parameters and of the fields of body models, one level deep."""
    for field in fields:
        yield field.name
        annotation = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from annotation.model_fields


def derived(route: APIRoute) -> Codes:
    """The error statuses a route may answer, with their codes, from its dependencies and parameters."""
    dependants = list(_walk(route.dependant))
    codes: Codes = {503: ["database_unavailable"]}

    def add(status: int, *names: str) -> None:
        codes.setdefault(status, [])
        codes[status].extend(name for name in names if name not in codes[status])

    rules = access_rules(route.dependant)
    if rules and "public" not in rules:
        add(401, "unauthenticated")
        add(403, "forbidden")
        if not any(isinstance(rule, dict) and rule.get("before_password_change") for rule in rules):
            add(403, "password_change_required")  # a password someone else set is replaced first (api/deps.py)
    paths = [p for d in dependants for p in d.path_params]
    queries = [p for d in dependants for p in d.query_params]
    headers = [p for d in dependants for p in d.header_params]
    bodies = [p for d in dependants for p in d.body_params]
    if paths or any(name.endswith("_id") for name in _names(queries + bodies)):
        add(404, "not_found")
    if paths or queries or headers or bodies:
        add(422, "invalid_request")
    if bodies:
        add(413, BODY_TOO_LARGE)
        if any(isinstance(p.field_info, params.Form) for p in bodies):  # File is a Form
            add(400, "bad_request")
        else:
            add(400, "invalid_json")
    if (route.openapi_extra or {}).get("requestBody"):  # a route reading its own body (JSON, or a form with files)
        add(422, "invalid_request")
        add(413, BODY_TOO_LARGE)
        add(400, "invalid_json", "bad_request")
    if any(h.alias == "Idempotency-Key" for h in headers):
        add(409, "idempotency_key_reused")
    if (route.methods or set()) - {"GET", "HEAD", "OPTIONS"}:
        add(409, "conflict")
    return codes


def _problem_response(status: int, codes: list[str], declared: dict[str, Any] | None) -> dict[str, Any]:
    listed = ", ".join(f"`{code}`" for code in codes)
    description = (declared or {}).get("description") or TITLES.get(status, "Error")
    if description == "Validation Error":  # FastAPI's, for the HTTPValidationError it never sends
        description = TITLES[422]
    if listed and listed not in description:
        description = f"{description}. Codes include {listed} (every code by status: `x-problem-codes` of Problem)"
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM: {"schema": INVALID_REF if status == 422 else PROBLEM_REF}},
    }
    if status in HEADERS:
        answer["headers"] = HEADERS[status]
    return answer


def _replayable(operation: dict[str, Any]) -> None:
    """A route taking an Idempotency-Key answers a replay 200 with `Idempotency-Replayed: true`."""
    responses: dict[str, Any] = operation["responses"]
    if "200" not in responses or "content" not in responses["200"]:
        first = next((responses[s] for s in ("201", "202") if s in responses), None)
        described = (responses.get("200") or {}).get("description")
        responses["200"] = {
            **(first or {}),
            "description": described or "A replay of an earlier request with the same Idempotency-Key",
        }
    responses["200"]["headers"] = {**responses["200"].get("headers", {}), "Idempotency-Replayed": REPLAYED_HEADER}


def complete(document: dict[str, Any], routes: Iterable[APIRoute]) -> dict[str, Any]:
    """Add to FastAPI's document every error each route may answer, as sent; returns the document."""
    for route in routes:
        if not route.include_in_schema:
            continue
        item = document["paths"].get(route.path_format, {})
        for method in route.methods or ():
            operation = item.get(method.lower())
            if operation is None:
                continue
            codes = derived(route)
            for status, names in DECLARED.get((method, route.path_format), {}).items():
                codes[status] = [*codes.get(status, []), *(n for n in names if n not in codes.get(status, []))]
            responses = operation.setdefault("responses", {})
            for status, names in sorted(codes.items()):
                responses[str(status)] = _problem_response(status, names, responses.get(str(status)))
            parameters = operation.get("parameters", [])
            if any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in parameters):
                _replayable(operation)
            if any(p.get("in") == "query" and p.get("name") == "cursor" for p in parameters) and "200" in responses:
                responses["200"]["headers"] = {**responses["200"].get("headers", {}), "Link": NEXT_PAGE_HEADER}
            operation["responses"] = dict(sorted(responses.items()))
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = {**PROBLEM_SCHEMA, "x-problem-codes": codes_by_status()}
    schemas["InvalidRequestProblem"] = INVALID_SCHEMA
    return document


def codes_by_status() -> dict[str, list[str]]:
    """Every stable code a domain error carries, by the status api/problems.py answers it with."""
    found: dict[str, set[str]] = {}
    stack: list[type[DomainError]] = DomainError.__subclasses__()
    while stack:
        error = stack.pop()
        stack.extend(error.__subclasses__())
        found.setdefault(str(status_of_family(error)), set()).add(error.code)
    return {status: sorted(codes) for status, codes in sorted(found.items())}


def install(app: FastAPI, routes: Iterable[BaseRoute]) -> None:
    """Serve the completed document as `app.openapi()` (and /openapi.json where docs are on). `routes`: the API
    routes as their routers hold them (the app holds them wrapped in its included routers)."""
    api_routes = [route for route in routes if isinstance(route, APIRoute)]
    generate = app.openapi  # FastAPI's own, which caches its document in app.openapi_schema

    completed: list[int] = []  # the id of the document last completed (FastAPI makes a new one if routes change)

    def openapi() -> dict[str, Any]:
        document = generate()
        if id(document) not in completed:
            complete(document, api_routes)
            completed[:] = [id(document)]
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to replace the document
