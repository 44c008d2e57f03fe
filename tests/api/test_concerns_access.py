"""The access matrix of the concern routes: every route × every role, with the status each gets, and a refusal
changes nothing (the concern's state, version and timeline stay as they were). And the privacy of an anonymous
reporter on every route: no staff, handler or other villager's answer names their household, person, phone or
account — not the concern, not the list, not the timeline."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import col

from ledger.concerns import service
from ledger.core.db import unit_of_work
from ledger.tenancy import Household, Person
from tests.api import concerning
from tests.api.concerning import OGG, Concerns, photo
from tests.api.conftest import World, bearer, password_token, villager_token

ROLES = [
    "reporter",  # a villager of the reporting household (A1)
    "neighbour",  # a villager of another household of the same village (A2)
    "official",  # an official of the village (A)
    "official_b",  # an official of another village of the township (B)
    "supervisor",  # the township's supervisor
    "member",  # a member of the handler the concern is dispatched to (grid-1)
    "non_member",  # a member of another handler (grid-2)
    "admin",  # the county admin
    "auditor",
    "partner",  # a partner's staff (bank)
    "admin_c",  # the admin of another county
    "anonymous",
]
# the state a route needs, and each role's status (the role that may is expected 200)
MATRIX: dict[str, tuple[str, dict[str, int]]] = {
    "get": (
        "dispatched",
        dict(
            reporter=200,
            neighbour=404,
            official=200,
            official_b=404,
            supervisor=200,
            member=200,
            non_member=404,
            admin=200,
            auditor=200,
            partner=403,
            admin_c=404,
            anonymous=401,
        ),
    ),
    "photo": (
        "dispatched",
        dict(
            reporter=200,
            neighbour=404,
            official=200,
            official_b=404,
            supervisor=200,
            member=200,
            non_member=404,
            admin=200,
            auditor=200,
            partner=403,
            admin_c=404,
            anonymous=401,
        ),
    ),
    "voice": (
        "dispatched",
        dict(
            reporter=200,
            neighbour=404,
            official=200,
            official_b=404,
            supervisor=200,
            member=200,
            non_member=404,
            admin=200,
            auditor=200,
            partner=403,
            admin_c=404,
            anonymous=401,
        ),
    ),
    "accept": (
        "submitted",
        dict(
            reporter=403,
            neighbour=403,
            official=200,
            official_b=404,
            supervisor=200,
            member=404,
            non_member=404,
            admin=200,
            auditor=403,
            partner=403,
            admin_c=404,
            anonymous=401,
        ),
    ),
    "dispatch": (
        "accepted",
        dict(
            reporter=403,
            neighbour=403,
            official=200,
            official_b=404,
            supervisor=200,
            member=404,
            non_member=404,
            admin=200,
            auditor=403,
            partner=403,
            admin_c=404,
            anonymous=401,
        ),
    ),
    "return": (
        "dispatched",
        dict(
            reporter=403,
            neighbour=403,
            official=403,
            official_b=404,
            supervisor=403,
            member=200,
            non_member=404,
            admin=403,
            auditor=403,
            partner=403,
            admin_c=404,
            anonymous=401,
        ),
    ),
    "resolve": (
        "dispatched",
        dict(
            reporter=403,
            neighbour=403,
            official=403,
            official_b=404,
            supervisor=403,
            member=200,
            non_member=404,
            admin=403,
            auditor=403,
            partner=403,
            admin_c=404,
            anonymous=401,
        ),
    ),
    "evaluate": (
        "resolved",
        dict(
            reporter=200,
            neighbour=404,
            official=403,
            official_b=404,
            supervisor=403,
            member=403,
            non_member=404,
            admin=403,
            auditor=403,
            partner=403,
            admin_c=403,
            anonymous=401,
        ),
    ),
    "merge": (
        "submitted",
        dict(
            reporter=403,
            neighbour=403,
            official=200,
            official_b=404,
            supervisor=200,
            member=404,
            non_member=404,
            admin=200,
            auditor=403,
            partner=403,
            admin_c=404,
            anonymous=401,
        ),
    ),
}
# what a refusal with 403 is called, beside the plain `forbidden` of a role with no business there
NAMED = {"return": "not_the_handler", "resolve": "not_the_handler", "evaluate": "not_the_reporter"}


@pytest.fixture
def concerns(engine: Engine, world: World) -> Concerns:
    return concerning.set_up(engine, world)


@pytest.fixture
def tokens(client: TestClient, world: World, concerns: Concerns) -> dict[str, dict[str, str]]:
    users = dict(
        official="official-a", official_b="official-b", supervisor="supervisor", member="grid-1",
        non_member="grid-2", admin="admin", auditor="auditor", partner="bank-staff", admin_c="admin-c",
    )  # fmt: skip
    found = {role: bearer(password_token(client, name)) for role, name in users.items()}
    found["reporter"] = bearer(villager_token(client, world.villager_phone))
    found["neighbour"] = bearer(villager_token(client, "13900000002"))
    found["anonymous"] = {}
    return found


def with_files(client: TestClient, engine: Engine, world: World, concerns: Concerns, reporter: dict[str, str]) -> int:
    """An anonymous hazard reported through the API with a photo and a voice note, accepted and dispatched."""
    sent = client.post(
        "/api/v1/concerns",
        data={"category": "road_hazard", "kind": "hazard", "text": "A hole", "anonymous": "true"},
        files=[("photo", ("a.png", photo(), "image/png")), ("voice", ("v.ogg", OGG, "audio/ogg"))],
        headers=reporter | {"Idempotency-Key": uuid.uuid4().hex},
    )
    assert sent.status_code == 201, sent.text
    concern_id = int(sent.json()["id"])
    with unit_of_work(engine) as session:
        official = concerning.principal(session, "official-a")
        service.accept(session, official, concern_id)
        service.dispatch(session, official, concern_id, handler_id=concerns.handler_id)
    return concern_id


def call(
    client: TestClient, route: str, concern_id: int, headers: dict[str, str], engine: Engine, world: World,
    concerns: Concerns, reporter: dict[str, str],
) -> Any:  # fmt: skip
    base = f"/api/v1/concerns/{concern_id}"
    if route == "get":
        return client.get(base, headers=headers)
    if route == "photo":
        url = client.get(base, headers=reporter).json()["photos"][0]["url"]
        return client.get(url, headers=headers)
    if route == "voice":
        return client.get(f"{base}/voice", headers=headers)
    if route == "accept":
        return client.post(f"{base}/accept", headers=headers)
    if route == "dispatch":
        return client.post(f"{base}/dispatch", json={"handler_id": concerns.handler_id}, headers=headers)
    if route == "return":
        return client.post(f"{base}/return", json={"reason": "Not ours"}, headers=headers)
    if route == "resolve":
        return client.post(
            f"{base}/resolve",
            data={"note": "Done", "judgement": "not_confirmed"},
            files=[("photo", ("r.png", photo((0, 0, 200)), "image/png"))],
            headers=headers,
        )
    if route == "evaluate":
        return client.post(f"{base}/evaluate", json={"satisfied": True}, headers=headers)
    assert route == "merge"
    target = concerning.concern_in(engine, world, concerns, "accepted")
    return client.post(f"{base}/merge", json={"into_id": target}, headers=headers)


@pytest.mark.parametrize("route", list(MATRIX))
def test_every_route_for_every_role(
    route: str,
    client: TestClient,
    engine: Engine,
    world: World,
    concerns: Concerns,
    tokens: dict[str, dict[str, str]],
) -> None:
    state, expected = MATRIX[route]
    assert sorted(expected) == sorted(ROLES)
    wrong: list[str] = []
    for role in ROLES:
        if route in ("get", "photo", "voice"):
            concern_id = with_files(client, engine, world, concerns, tokens["reporter"])
        else:
            concern_id = concerning.concern_in(engine, world, concerns, state)
        before = concerning.snapshot(engine, concern_id)
        answer = call(client, route, concern_id, tokens[role], engine, world, concerns, tokens["reporter"])
        if answer.status_code != expected[role]:
            wrong.append(f"{route} as {role}: {answer.status_code} (expected {expected[role]}) {answer.text[:160]}")
            continue
        if answer.status_code == 200:
            if route not in ("get", "photo", "voice"):
                assert concerning.snapshot(engine, concern_id) != before
            continue
        assert concerning.snapshot(engine, concern_id) == before, f"{route} as {role} changed the concern"
        code = answer.json()["code"]
        if answer.status_code == 403:
            assert code in ("forbidden", NAMED.get(route)), f"{route} as {role}: {code}"
        elif answer.status_code == 404:
            assert code == "concern_not_found", f"{route} as {role}: {code}"
    assert not wrong, "\n".join(wrong)


def test_the_list_shows_each_role_what_it_may_see(
    client: TestClient, engine: Engine, world: World, concerns: Concerns, tokens: dict[str, dict[str, str]]
) -> None:
    concern_id = concerning.concern_in(engine, world, concerns, "dispatched")
    listed = dict(
        reporter=True, neighbour=False, official=True, official_b=False, supervisor=True, member=True,
        non_member=False, admin=True, auditor=True, admin_c=False,
    )  # fmt: skip
    for role, sees in listed.items():
        answer = client.get("/api/v1/concerns", headers=tokens[role])
        assert answer.status_code == 200, f"{role}: {answer.text}"
        assert (concern_id in [c["id"] for c in answer.json()]) is sees, role
    assert client.get("/api/v1/concerns", headers=tokens["partner"]).status_code == 403
    assert client.get("/api/v1/concerns", headers=tokens["anonymous"]).status_code == 401


def _identity(engine: Engine, world: World, concerns: Concerns) -> list[str]:
    """What would name the reporter of household A1: its name and code, its head's name and phone, their account."""
    with unit_of_work(engine) as session:
        household = session.get(Household, world.household_a1)
        assert household is not None
        names = list(session.scalars(select(col(Person.name)).where(col(Person.household_id) == world.household_a1)))
        found = [household.name, household.code, world.villager_phone, f"user:{concerns.reporter_user}", *names]
        return [json.dumps(value, ensure_ascii=False) for value in found]  # as a whole value of the answer


def test_an_anonymous_reporter_is_never_named_to_anyone_else(
    client: TestClient, engine: Engine, world: World, concerns: Concerns, tokens: dict[str, dict[str, str]]
) -> None:
    secrets = _identity(engine, world, concerns)
    concern_id = with_files(client, engine, world, concerns, tokens["reporter"])
    grid = tokens["member"]
    resolved = client.post(
        f"/api/v1/concerns/{concern_id}/resolve",
        data={"note": "Filled", "judgement": "real"},
        files=[("photo", ("r.png", photo((0, 90, 0)), "image/png"))],
        headers=grid,
    )
    assert resolved.status_code == 200, resolved.text
    answers: dict[str, Any] = {"resolve (handler)": resolved.json()}
    for role in ("official", "supervisor", "member", "admin", "auditor"):
        answers[f"get ({role})"] = client.get(f"/api/v1/concerns/{concern_id}", headers=tokens[role]).json()
        answers[f"list ({role})"] = client.get("/api/v1/concerns", headers=tokens[role]).json()
    for where, answer in answers.items():
        text = json.dumps(answer, ensure_ascii=False)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{where} names the reporter: {leaked}"
        for concern in answer if isinstance(answer, list) else [answer]:
            assert concern["reporter"] is None, where
            assert concern["reward"] is None, where
            for step in concern["timeline"] or []:
                assert step["actor"] is None or step["actor"] != f"user:{concerns.reporter_user}", where
    own = client.get(f"/api/v1/concerns/{concern_id}", headers=tokens["reporter"]).json()
    assert own["reporter"]["household_id"] == world.household_a1  # the reporter alone sees themself


def test_a_reporter_who_is_not_anonymous_is_shown_to_staff_only(
    client: TestClient, engine: Engine, world: World, concerns: Concerns, tokens: dict[str, dict[str, str]]
) -> None:
    concern_id = concerning.concern_in(engine, world, concerns, "dispatched")
    staff = client.get(f"/api/v1/concerns/{concern_id}", headers=tokens["official"]).json()
    assert staff["reporter"]["household_id"] == world.household_a1
    assert staff["timeline"][0]["actor"] is None  # a villager's account is never shown, only their role
    assert staff["timeline"][0]["by"] == "villager"
