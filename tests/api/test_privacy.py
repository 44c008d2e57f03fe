"""What villagers may not learn: the printed codes of their village's activities, and under the anonymous notice
board, which household an entry is about."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from ledger import jobs
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.tenancy import Household, Person
from tests.api.claiming import claim, code_of, decide, key, new_activity
from tests.api.conftest import World, bearer, password_token, villager_token


def test_villagers_see_their_villages_activities_without_any_code_officials_with_them(
    client: TestClient, world: World
) -> None:
    official = password_token(client, "official-a")
    standing = new_activity(
        client, official, world.village_a.village_id, period="day", lat=30.1, lon=120.2, radius_m=200
    )
    rotating = new_activity(client, official, world.village_a.village_id, rotating=True)
    printed = code_of(standing)
    villager = villager_token(client, world.villager_phone)
    seen = client.get("/api/v1/activities", headers=bearer(villager))
    assert seen.status_code == 200
    assert {a["id"] for a in seen.json()} == {standing["id"], rotating["id"]}
    for activity in seen.json():
        assert set(activity) == {
            "id",
            "village_id",
            "matter",
            "title",
            "place",
            "starts_at",
            "ends_at",
            "capacity",
            "period",
            "rotating",
            "active",
        }
    assert printed not in seen.text and "/c/" not in seen.text
    assert client.get(f"/api/v1/activities/{standing['id']}", headers=bearer(villager)).status_code == 403
    assert client.get(f"/api/v1/activities/{standing['id']}/qr.svg", headers=bearer(villager)).status_code == 403
    auditor = client.get(
        "/api/v1/activities",
        params={"village_id": world.village_a.village_id},
        headers=bearer(password_token(client, "auditor")),
    )
    assert auditor.status_code == 200 and printed not in auditor.text and "claim_url" not in auditor.text

    as_official = client.get(
        "/api/v1/activities", headers=bearer(official), params={"village_id": world.village_a.village_id}
    ).json()
    by_id = {a["id"]: a for a in as_official}
    assert by_id[standing["id"]]["claim_url"].endswith(f"/c/{printed}") and by_id[rotating["id"]]["claim_url"] is None
    assert by_id[standing["id"]]["radius_m"] == 200
    one = client.get(f"/api/v1/activities/{standing['id']}", headers=bearer(official)).json()
    assert one["claim_url"] == standing["claim_url"]


def test_an_official_sees_codes_only_in_the_villages_they_run_not_where_they_live(
    client: TestClient, world: World
) -> None:
    """official-home runs village A and lives in household A2; official-b runs village B only."""
    official_b = password_token(client, "official-b")
    activity = new_activity(client, official_b, world.village_b.village_id, period="day")
    assert client.get(
        "/api/v1/activities", headers=bearer(official_b), params={"village_id": world.village_b.village_id}
    ).json()[0]["claim_url"]
    resident = villager_token(client, "13900000003")  # lives in village B
    listed = client.get("/api/v1/activities", headers=bearer(resident))
    assert listed.status_code == 200 and [a["id"] for a in listed.json()] == [activity["id"]]
    assert "claim_url" not in listed.text and code_of(activity) not in listed.text


def _walk(value: Any) -> Iterator[tuple[str | None, Any]]:
    if isinstance(value, dict):
        for name, inner in value.items():
            yield name, inner
            yield from _walk(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _walk(inner)


def _names_of(engine: Engine, household_id: int) -> list[str]:
    with unit_of_work(engine) as session:
        household = session.get(Household, household_id)
        assert household is not None
        people = session.exec(select(Person.name).where(Person.household_id == household_id)).all()
        return [household.code, household.name, *people, *([household.house_number] if household.house_number else [])]


def _reveals(body: Any, household_id: int, names: list[str]) -> list[str]:
    found = [f"{name}={inner}" for name, inner in _walk(body) if name == "household_id" and inner == household_id]
    text = str(body)
    return found + [name for name in names if name and name in text]


def test_under_the_anonymous_notice_board_nothing_an_objector_sees_names_the_household(
    client: TestClient, world: World, engine: Engine
) -> None:
    official = password_token(client, "official-a")
    village = world.village_a.village_id
    assert (
        client.patch(
            f"/api/v1/villages/{village}", json={"notice_privacy": "anonymous"}, headers=bearer(official)
        ).status_code
        == 200
    )
    claimant = villager_token(client, world.villager_phone)  # household A1
    made = claim(client, claimant, code_of(new_activity(client, official, village))).json()
    assert decide(client, official, made["id"]).status_code == 201
    neighbour = villager_token(client, "13900000002")  # household A2
    names = _names_of(engine, world.household_a1)
    seen: list[tuple[str, Any]] = []

    def look(what: str, response: Any) -> Any:
        assert response.status_code in (200, 201), (what, response.text)
        seen.append((what, response.json()))
        return response.json()

    objection = look(
        "objection",
        client.post(
            f"/api/v1/claims/{made['id']}/objections",
            json={"reason": "Not there."},
            headers={**bearer(neighbour), "Idempotency-Key": "objection-1"},
        ),
    )
    assert objection["status"] == "open" and objection["claim_id"] == made["id"]
    look(
        "objection again (replay)",
        client.post(
            f"/api/v1/claims/{made['id']}/objections",
            json={"reason": "Not there."},
            headers={**bearer(neighbour), "Idempotency-Key": "objection-1"},
        ),
    )
    look("notice board", client.get(f"/api/v1/villages/{village}/notice-board", headers=bearer(neighbour)))
    look("disputes", client.get("/api/v1/disputes", headers=bearer(neighbour)))
    answer = client.post(
        f"/api/v1/disputes/{objection['id']}/resolve",
        json={"outcome": "dismissed"},
        headers={**bearer(official), **key()},
    )
    assert answer.status_code == 201 and answer.json()["household_id"] == world.household_a1  # officials know
    jobs.tick(engine, now=utcnow() + timedelta(days=8))
    answered = look("the answer", client.get("/api/v1/disputes", headers=bearer(neighbour)))
    assert [d["status"] for d in answered] == ["dismissed"]
    look("notifications", client.get("/api/v1/notifications", headers=bearer(neighbour)))
    look("leaderboard", client.get(f"/api/v1/villages/{village}/leaderboard", headers=bearer(neighbour)))
    look("my claims", client.get("/api/v1/claims", headers=bearer(neighbour)))
    assert client.get(f"/api/v1/claims/{made['id']}", headers=bearer(neighbour)).status_code == 404
    assert {what: _reveals(body, world.household_a1, names) for what, body in seen} == {what: [] for what, _ in seen}

    # the household itself still sees its own entry, and whom it is about
    own = client.get("/api/v1/disputes", headers=bearer(claimant)).json()
    assert [d["household_id"] for d in own] == [world.household_a1]
