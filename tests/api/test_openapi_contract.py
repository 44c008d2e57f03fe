"""The OpenAPI document tells the truth: Schemathesis generates requests from it for every operation, sends them
in-process as four kinds of caller (anonymous, a villager, an official, a bank client) on a seeded county (and,
as the official, requests made invalid on purpose), and
checks each answer against the document: a documented status, the documented content type, a body matching the
documented schema, and never a server error. Bounded for CI (few examples per operation, derandomized); the
ledger still verifies afterwards. Also: every route that is not public documents 401 and 403."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from api.app import ROUTERS
from api.deps import access_rules
from ledger.core.db import unit_of_work
from ledger.journal import verify
from tests.api.conftest import World, app_of, bearer, client_token, password_token, villager_token

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 3  # per operation and caller: about 90 operations × 4 callers, within CI's time on two busy cores
CALLERS: dict[str, Callable[[TestClient, World], dict[str, str]]] = {
    "anonymous": lambda client, world: {},
    "villager": lambda client, world: bearer(villager_token(client, world.villager_phone)),
    "official": lambda client, world: bearer(password_token(client, "official-a")),
    "bank": lambda client, world: bearer(client_token(client, "bank")),
}


def _text(part: Any) -> str:
    value = part[1] if isinstance(part, tuple) else part
    return value if isinstance(value, str) else json.dumps(value)


def run_operation(
    client: TestClient,
    operation: Any,
    headers: dict[str, str],
    mode: GenerationMode = GenerationMode.POSITIVE,
    examples: int = EXAMPLES,
) -> list[str]:
    """Send generated requests for one operation; the failures found, one line each."""
    failures: list[str] = []

    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case: schemathesis.Case[Any]) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        kwargs.pop("timeout", None)
        kwargs.pop("verify", None)
        kwargs.pop("allow_redirects", None)
        if not kwargs.get("cookies"):
            kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), bytes | str):  # raw bytes go as content to httpx
            kwargs["content"] = kwargs.pop("data")
        if isinstance(kwargs.get("files"), list):  # a form's field is text on the wire, whatever was generated
            kwargs["files"] = [
                (name, part if isinstance(part, tuple) and isinstance(part[1], bytes | str) else (None, _text(part)))
                for name, part in kwargs["files"]
            ]
        response = client.request(**{**kwargs, "follow_redirects": False})
        response.request.read()  # a multipart body the route refused unread (401 before the form) is still there
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as failure:
            first = str(failure).strip().splitlines()
            failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {' | '.join(first[:6])}")

    try:
        send()
    except Unsatisfiable:  # nothing to make invalid: an operation without parameters or body, in negative mode
        assert mode == GenerationMode.NEGATIVE
    return failures


@pytest.mark.parametrize(
    ("caller", "mode"),
    [*((caller, GenerationMode.POSITIVE) for caller in CALLERS), ("official", GenerationMode.NEGATIVE)],
    ids=[*CALLERS, "official-invalid-requests"],
)
def test_every_answer_matches_the_openapi_document(
    client: TestClient, engine: Engine, world: World, caller: str, mode: GenerationMode
) -> None:
    official = bearer(password_token(client, "official-a"))
    award = client.post(
        "/api/v1/claims/awards",
        json={"household_id": world.household_a1, "matter_code": "volunteering", "reason": "Helped."},
        headers={**official, "Idempotency-Key": "seed-1"},
    )
    assert award.status_code == 201, award.text
    headers = CALLERS[caller](client, world)
    schema = schemathesis.openapi.from_dict(app_of(client).openapi())
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]  # an Err fails here
    assert len(operations) > 50
    for operation in operations:
        failures += run_operation(client, operation, headers, mode, EXAMPLES if mode == GenerationMode.POSITIVE else 2)
    assert failures == []
    with unit_of_work(engine) as session:
        report = verify.verify(session)
    assert report.ok, [str(p) for p in report.problems]


def test_every_route_that_is_not_public_documents_401_and_403(client: TestClient) -> None:
    document = app_of(client).openapi()
    missing = []
    for route in (r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)):
        if "public" in access_rules(route.dependant):
            continue
        for method in route.methods or ():
            responses = document["paths"][route.path]["get" if method == "HEAD" else method.lower()]["responses"]
            if not {"401", "403"} <= set(responses):
                missing.append(f"{method} {route.path}")
            elif "application/problem+json" not in responses["401"]["content"]:
                missing.append(f"{method} {route.path} (401 not problem+json)")
    assert missing == []


def test_errors_are_documented_as_sent(client: TestClient) -> None:
    document = app_of(client).openapi()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "Problem" in schemas
    assert "matter_not_found" in schemas["Problem"]["x-problem-codes"]["404"]  # every stable code, by status
    check = document["paths"]["/api/v1/ledger/head/check"]["post"]["responses"]
    assert "head_signature_invalid" in check["422"]["description"]
    assert list(check["422"]["content"]) == ["application/problem+json"]
    for action in ("post", "void", "reverse"):
        answers = document["paths"][f"/api/v1/ledger/transactions/{{transaction_id}}/{action}"]["post"]["responses"]
        assert "Idempotency-Replayed" in answers["200"]["headers"]
        assert "idempotency_key_reused" in answers["409"]["description"]
        assert "transaction_belongs_to_record" in answers["409"]["description"]
    claims = document["paths"]["/api/v1/claims"]["post"]["responses"]
    assert "Idempotency-Replayed" in claims["200"]["headers"] and "201" in claims
    assert "invalid_json" in claims["400"]["description"]
