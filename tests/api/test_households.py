"""Who sees which household's balance and statement, and what they see."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.journal import accounts
from ledger.journal import service as journal
from tests.api.conftest import World, bearer, client_token, password_token, villager_token
from tests.factories import id_of


def earn(engine: Engine, world: World, household: int, points: int, **kw: Any) -> int:
    with unit_of_work(engine) as session:
        village = world.village_a if household in (world.household_a1, world.household_a2) else world.village_b
        record = journal.transfer(
            session,
            debit=village.issuance,
            credit=id_of(accounts.of_household(session, household)),
            amount=points,
            reason=str(kw.pop("reason", "garbage_sorting")),
            actor="test",
            **kw,
        )
        return record.id


def test_villager_sees_own_balance_with_every_part(client: TestClient, world: World, engine: Engine) -> None:
    earn(engine, world, world.household_a1, 10)
    earn(engine, world, world.household_a1, 4, pending=True)
    response = client.get(
        f"/api/v1/households/{world.household_a1}/balance", headers=bearer(villager_token(client, world.villager_phone))
    )
    assert response.status_code == 200
    assert response.json() == {
        "household_id": world.household_a1,
        "posted": 10,
        "in_notice": 0,
        "pending_in": 4,
        "held": 0,
        "available": 10,
        "earned": 10,
    }


@pytest.mark.parametrize("who", ["villager", "official-b", "admin-c", "bank"])
def test_others_cannot_see_a_household(client: TestClient, world: World, who: str) -> None:
    if who == "villager":
        token = villager_token(client, world.villager_phone)
        target = world.household_a2
    elif who == "bank":
        token, target = client_token(client, "bank"), world.household_a1
    else:
        token, target = password_token(client, who), world.household_a1
    for path in ("balance", "statement"):
        response = client.get(f"/api/v1/households/{target}/{path}", headers=bearer(token))
        assert response.status_code in (403, 404), response.text
        assert "posted" not in response.text and "entries" not in response.text


def test_someone_elses_household_looks_like_a_missing_one(client: TestClient, world: World) -> None:
    token = villager_token(client, world.villager_phone)
    foreign = client.get(f"/api/v1/households/{world.household_a2}/balance", headers=bearer(token))
    missing = client.get("/api/v1/households/99999/balance", headers=bearer(token))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"] == missing.json()["detail"]


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("official-a", {"a1", "a2"}),
        ("official-b", {"b1"}),
        ("supervisor", {"a1", "a2", "b1"}),
        ("admin", {"a1", "a2", "b1"}),
        ("auditor", {"a1", "a2", "b1"}),
        ("admin-c", {"c1"}),
    ],
)
def test_staff_see_exactly_their_villages(client: TestClient, world: World, who: str, sees: set[str]) -> None:
    token = password_token(client, who)
    households = {
        "a1": world.household_a1,
        "a2": world.household_a2,
        "b1": world.household_b1,
        "c1": world.household_c1,
    }
    visible = {
        name
        for name, hid in households.items()
        if client.get(f"/api/v1/households/{hid}/balance", headers=bearer(token)).status_code == 200
    }
    assert visible == sees


def test_statement_pages_newest_first_and_filters(client: TestClient, world: World, engine: Engine) -> None:
    ids = [
        earn(engine, world, world.household_a1, n, reason="volunteering" if n % 2 else "elder_care")
        for n in range(1, 8)
    ]
    pending = earn(engine, world, world.household_a1, 9, pending=True)
    token = bearer(password_token(client, "official-a"))
    url = f"/api/v1/households/{world.household_a1}/statement"
    seen, cursor = [], None
    while True:
        page = client.get(url, params={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=token).json()
        seen += [e["transaction_id"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [pending, *reversed(ids)]
    only = client.get(url, params={"reason": "volunteering"}, headers=token).json()["entries"]
    assert [e["amount"] for e in only] == [7, 5, 3, 1]
    in_notice = client.get(url, params={"status": "pending"}, headers=token).json()["entries"]
    assert [(e["transaction_id"], e["status"]) for e in in_notice] == [(pending, "pending")]


def test_statement_shows_how_a_pending_transfer_ended(client: TestClient, world: World, engine: Engine) -> None:
    held = earn(engine, world, world.household_a1, 5, pending=True)
    with unit_of_work(engine) as session:
        journal.void_pending(session, pending_id=held, actor="test")
    token = bearer(villager_token(client, world.villager_phone))
    entries = client.get(f"/api/v1/households/{world.household_a1}/statement", headers=token).json()["entries"]
    assert [(e["transaction_id"], e["status"]) for e in entries] == [(held, "voided")]
    assert entries[0]["resolved_at"] is not None


def test_balance_as_of_a_past_date(client: TestClient, world: World, engine: Engine) -> None:
    now = utcnow()
    earn(engine, world, world.household_a1, 5, effective_at=now - timedelta(days=40))
    earn(engine, world, world.household_a1, 7, effective_at=now - timedelta(days=10))
    token = bearer(villager_token(client, world.villager_phone))
    url = f"/api/v1/households/{world.household_a1}/balance"
    month_ago = (now - timedelta(days=30)).isoformat()
    assert client.get(url, params={"as_of": month_ago}, headers=token).json()["posted"] == 5
    assert client.get(url, params={"as_of": now.isoformat()}, headers=token).json()["posted"] == 12


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1000}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"status": "lost"}, "status"),
        ({"since": "yesterday"}, "since"),
    ],
)
def test_bad_statement_parameters_name_the_field(
    client: TestClient, world: World, params: dict[str, object], field: str
) -> None:
    token = bearer(villager_token(client, world.villager_phone))
    response = client.get(f"/api/v1/households/{world.household_a1}/statement", params=params, headers=token)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] in ("invalid_request", "invalid") and field in response.text
