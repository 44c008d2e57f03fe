"""Bad input on every API route, for each kind of caller: odd path ids, odd query values, bodies of the wrong
shape or with odd values. Each answer is a problem+json 4xx that names a stable code (or a success the caller
was entitled to), never a 500, and nothing is written to the journal."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api.app import ROUTERS
from ledger.core.db import unit_of_work
from ledger.journal.models import JournalTransaction
from tests.api.conftest import World, bearer, client_token, password_token, villager_token

ODD_IDS = ("0", "abc", "99999999999999999999999")
ODD_QUERY = {
    "village_id": "abc",
    "status": "zzz",
    "limit": "-1",
    "cursor": "!!",
    "since": "yesterday",
    "until": "2026-13-40",
    "month": "2026-13",
    "format": "pdf",
    "period": "decade",
    "as_of": "x",
    "consent_id": "'; drop table",
    "kind": "nope",
    "slot_id": "x",
    "overdue": "maybe",
    "at": "x",
}
ODD_BODIES: tuple[Any, ...] = (
    {},
    [],
    "text",
    {
        "amount": -1,
        "reason": "x" * 5000,
        "token": "0",
        "pin": "abc",
        "household_id": 10**30,
        "points": 10**30,
        "days": -5,
    },
)


def api_routes() -> list[tuple[str, str]]:
    return sorted(
        {
            (m, r.path)
            for router in ROUTERS
            for r in router.routes
            if isinstance(r, APIRoute)
            for m in r.methods or ()
            if r.path.startswith("/api/")
        }
    )


def journal_size(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return int(session.scalar(select(func.count()).select_from(JournalTransaction)) or 0)


@pytest.mark.parametrize("who", ["villager", "official", "admin", "bank client", "merchant client"])
def test_no_odd_request_to_the_api_is_a_server_error(
    client: TestClient, world: World, engine: Engine, who: str
) -> None:
    token = {
        "villager": lambda: villager_token(client, world.villager_phone),
        "official": lambda: password_token(client, "official-a"),
        "admin": lambda: password_token(client, "admin"),
        "bank client": lambda: client_token(client, "bank"),
        "merchant client": lambda: client_token(client, "mart"),
    }[who]()
    before = journal_size(engine)
    problems = []
    for method, path in api_routes():
        for value in ODD_IDS:
            url = re.sub(r"{[^}]+}", value, path)
            bodies = ODD_BODIES if method in ("POST", "PUT", "PATCH") else (None,)
            for n, body in enumerate(bodies):
                headers = {**bearer(token), "Idempotency-Key": f"odd-{n}-{value}"}
                answer = client.request(method, url, params=ODD_QUERY, json=body, headers=headers)
                if answer.status_code >= 500 or (
                    answer.status_code >= 400
                    and (
                        answer.headers.get("content-type") != "application/problem+json"
                        or not answer.json().get("code")
                    )
                ):
                    problems.append((method, url, str(body)[:30], answer.status_code, answer.text[:120]))
    assert problems == []
    assert journal_size(engine) == before


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"phone": "13900000001",\n "code": }', "line 2, column 10"),
        (b'{"phone": "13900000001"', "line 1, column 24"),
        (b"{'phone': '13900000001'}", "line 1, column 2"),
    ],
)
def test_malformed_json_is_named_as_such_with_its_position(client: TestClient, body: bytes, where: str) -> None:
    answer = client.post("/api/v1/auth/otp/request", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "invalid_json"
    assert "not valid JSON" in problem["detail"] and where in problem["detail"], problem["detail"]
    assert "check" not in problem["detail"]  # no field named after a character offset


@pytest.mark.parametrize(
    "body",
    [b'{"household_id": ', b"\xff\xfe not utf-8", b'{"household_id": "x"}'],
    ids=["not-json", "not-utf8", "wrong-shape"],
)
def test_an_anonymous_caller_is_told_to_sign_in_before_anything_about_its_body(
    client: TestClient, world: World, body: bytes
) -> None:
    headers = {"content-type": "application/json", "Idempotency-Key": "k1"}
    for sent in (headers, {**headers, "Authorization": "Bearer not-a-token"}):
        answer = client.post("/api/v1/claims/awards", content=body, headers=sent)
        assert answer.status_code == 401, answer.text
        assert answer.json()["code"] == "unauthenticated" and answer.headers["WWW-Authenticate"] == "Bearer"
    # signed in, the same body is named for what it is
    token = password_token(client, "official-a")
    answer = client.post("/api/v1/claims/awards", content=body, headers={**headers, **bearer(token)})
    assert answer.status_code in (400, 422) and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] in ("invalid_json", "invalid_request")


def test_a_body_that_is_not_utf8_is_invalid_json(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/auth/otp/request", content=b'{"phone": "\xff"}', headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "invalid_json" and "UTF-8" in answer.json()["detail"]
