"""Officials award points with an Idempotency-Key; post, void and reverse; the signed chain head."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text

from api import tokens
from ledger.db import unit_of_work
from ledger.journal.models import JournalTransaction
from ledger.settings import Settings
from tests.api.conftest import World, bearer, client_token, password_token, villager_token
from tests.tamper import drop_append_only_guard


def award(client: TestClient, token: str, key: str, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/ledger/transfers", json=body, headers={**bearer(token), "Idempotency-Key": key})


def count_transactions(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return int(session.scalar(select(func.count()).select_from(JournalTransaction)) or 0)


def balance(client: TestClient, token: str, household: int) -> dict[str, int]:
    return client.get(f"/api/v1/households/{household}/balance", headers=bearer(token)).json()  # type: ignore[no-any-return]


def test_award_is_idempotent(client: TestClient, world: World, engine: Engine) -> None:
    token = password_token(client, "official-a")
    body = {"household_id": world.household_a1, "points": 5, "reason": "volunteering"}
    first = award(client, token, "key-1", **body)
    assert first.status_code == 201 and first.json()["replayed"] is False
    again = award(client, token, "key-1", **body)
    assert again.status_code == 200 and again.headers["Idempotency-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    changed = award(client, token, "key-1", **{**body, "points": 6})
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency_key_reused"
    assert balance(client, token, world.household_a1)["posted"] == 5
    assert count_transactions(engine) == 1


def test_a_write_without_idempotency_key_is_refused_and_names_it(client: TestClient, world: World,
                                                                  engine: Engine) -> None:
    token = password_token(client, "official-a")
    response = client.post("/api/v1/ledger/transfers", headers=bearer(token),
                           json={"household_id": world.household_a1, "points": 5, "reason": "volunteering"})
    assert response.status_code == 422 and "Idempotency-Key" in response.json()["detail"]
    assert count_transactions(engine) == 0


@pytest.mark.parametrize(("body", "field"), [
    ({"household_id": 1, "points": 0, "reason": "x"}, "points"),
    ({"household_id": 1, "points": 2.5, "reason": "x"}, "points"),
    ({"household_id": 1, "points": "many", "reason": "x"}, "points"),
    ({"household_id": 1, "points": 3, "reason": "Not A Code!"}, "reason"),
    ({"household_id": 1, "points": 3}, "reason"),
    ({"household_id": 1, "points": 3, "reason": "x", "debit_account": 5}, "debit_account"),
    ({"household_id": 1, "points": 3, "reason": "x", "timeout_seconds": -1}, "timeout_seconds"),
])
def test_bad_bodies_name_the_field_and_write_nothing(client: TestClient, world: World, engine: Engine,
                                                     body: dict[str, object], field: str) -> None:
    token = password_token(client, "official-a")
    response = award(client, token, "k", **{**body, "household_id": world.household_a1})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.json()["detail"]
    assert count_transactions(engine) == 0


def test_malformed_json_is_a_clear_4xx(client: TestClient, world: World) -> None:
    token = password_token(client, "official-a")
    response = client.post("/api/v1/ledger/transfers", content=b"{not json",
                           headers={**bearer(token), "Idempotency-Key": "k", "content-type": "application/json"})
    assert response.status_code == 422 and response.json()["code"] == "invalid_request"
    assert "Traceback" not in response.text


@pytest.mark.parametrize("who", ["auditor", "official-b", "admin-c", "villager", "bank"])
def test_only_the_villages_officials_and_county_admin_may_award(client: TestClient, world: World, engine: Engine,
                                                                who: str) -> None:
    token = {"villager": lambda: villager_token(client, world.villager_phone),
             "bank": lambda: client_token(client, "bank")}.get(who, lambda: password_token(client, who))()
    response = award(client, token, "k", household_id=world.household_a1, points=5, reason="volunteering")
    assert response.status_code in (403, 404)
    assert count_transactions(engine) == 0


def test_county_admin_and_township_supervisor_may_award(client: TestClient, world: World) -> None:
    for who in ("admin", "supervisor"):
        response = award(client, password_token(client, who), f"k-{who}", household_id=world.household_b1,
                         points=2, reason="village_meeting")
        assert response.status_code == 201, response.text


def test_pending_award_then_post_void_and_reverse(client: TestClient, world: World) -> None:
    official = password_token(client, "official-a")
    villager = villager_token(client, world.villager_phone)
    held = award(client, official, "p1", household_id=world.household_a1, points=8, reason="elder_care",
                 pending=True).json()
    assert balance(client, villager, world.household_a1)["pending_in"] == 8
    posted = client.post(f"/api/v1/ledger/transactions/{held['id']}/post", json={},
                         headers={**bearer(official), "Idempotency-Key": "post-1"})
    assert posted.status_code == 201 and posted.json()["pending_id"] == held["id"]
    twice = client.post(f"/api/v1/ledger/transactions/{held['id']}/void", json={"reason": "changed_mind"},
                        headers={**bearer(official), "Idempotency-Key": "void-1"})
    assert twice.status_code == 409 and twice.json()["code"] == "pending_already_resolved"
    assert balance(client, villager, world.household_a1)["posted"] == 8
    reversal = client.post(f"/api/v1/ledger/transactions/{held['id']}/reverse", json={"reason": "mistake"},
                           headers={**bearer(official), "Idempotency-Key": "rev-1"})
    assert reversal.status_code == 409 and reversal.json()["code"] == "not_reversible"
    undo = client.post(f"/api/v1/ledger/transactions/{posted.json()['id']}/reverse", json={"reason": "mistake"},
                       headers={**bearer(official), "Idempotency-Key": "rev-2"})
    assert undo.status_code == 201 and undo.json()["reverses_id"] == posted.json()["id"]
    again = client.post(f"/api/v1/ledger/transactions/{posted.json()['id']}/reverse", json={"reason": "mistake"},
                        headers={**bearer(official), "Idempotency-Key": "rev-3"})
    assert again.status_code == 409 and again.json()["code"] == "already_reversed"
    assert balance(client, villager, world.household_a1) == {
        "household_id": world.household_a1, "posted": 0, "in_notice": 0, "pending_in": 0, "held": 0, "available": 0,
        "earned": 0}


def test_villager_sees_own_transactions_only(client: TestClient, world: World) -> None:
    official = password_token(client, "official-a")
    mine = award(client, official, "a", household_id=world.household_a1, points=1, reason="x").json()["id"]
    theirs = award(client, official, "b", household_id=world.household_a2, points=1, reason="x").json()["id"]
    villager = bearer(villager_token(client, world.villager_phone))
    assert client.get(f"/api/v1/ledger/transactions/{mine}", headers=villager).status_code == 200
    assert client.get(f"/api/v1/ledger/transactions/{theirs}", headers=villager).status_code == 404


def test_signed_head_verifies_with_the_public_key_and_detects_rewrites(
    client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    official = password_token(client, "official-a")
    for n in range(3):
        award(client, official, f"h{n}", household_id=world.household_a1, points=n + 1, reason="x")
    bank = bearer(client_token(client, "bank"))
    signed = client.get("/api/v1/ledger/head", headers=bank).json()
    key = client.get("/api/v1/ledger/head/key").json()["keys"][0]
    assert "d" not in key  # the public part only
    payload = tokens.read_signed_head(key, signed["jws"])
    assert payload == signed["head"] and payload["transactions"] == 3
    heads = {v["village_id"]: v for v in payload["villages"]}
    assert heads[world.village_a.village_id]["seq"] == 3 and heads[world.village_b.village_id]["seq"] == 0
    award(client, official, "h-later", household_id=world.household_a1, points=9, reason="x")
    check = client.post("/api/v1/ledger/head/check", json={"jws": signed["jws"]}, headers=bank).json()
    assert check == {"intact": True, "problems": []}
    with engine.begin() as conn:
        drop_append_only_guard(conn)
        conn.execute(text("UPDATE journal_transaction SET reason = 'rewritten' WHERE chain_seq = 3"))
        conn.execute(text("UPDATE journal_transaction SET hash = :h WHERE chain_seq = 3"), {"h": "ab" * 32})
    check = client.post("/api/v1/ledger/head/check", json={"jws": signed["jws"]}, headers=bank).json()
    assert check["intact"] is False and "link 3" in check["problems"][0]
    forged = signed["jws"][:-4] + ("AAAA" if not signed["jws"].endswith("AAAA") else "BBBB")
    refused = client.post("/api/v1/ledger/head/check", json={"jws": forged}, headers=bank)
    assert refused.status_code == 401
