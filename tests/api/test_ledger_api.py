"""Officials award points (a claim) with an Idempotency-Key; no transaction changes by hand; the signed chain
head."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select, text

from api import tokens
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.journal import accounts
from ledger.journal import service as journal
from ledger.journal.models import JournalTransaction
from tests.api.conftest import World, bearer, client_token, password_token, villager_token
from tests.factories import id_of
from tests.tamper import drop_append_only_guard


def award(client: TestClient, token: str, key: str, **body: object) -> Response:
    """An official's award: a claim entered by the official (POST /api/v1/claims/awards)."""
    body = {"matter_code": "volunteering", "reason": "Helped at the school.", **body}
    response: Response = client.post(
        "/api/v1/claims/awards", json=body, headers={**bearer(token), "Idempotency-Key": key}
    )
    return response


def count_transactions(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return int(session.scalar(select(func.count()).select_from(JournalTransaction)) or 0)


def balance(client: TestClient, token: str, household: int) -> dict[str, int]:
    balance: dict[str, int] = client.get(f"/api/v1/households/{household}/balance", headers=bearer(token)).json()
    return balance


def direct_transfer(engine: Engine, world: World, household: int, points: int) -> int:
    """A transaction written by the journal service itself (as a domain operation would)."""
    with unit_of_work(engine) as session:
        own = id_of(accounts.of_household(session, household))
        return journal.transfer(
            session,
            debit=world.village_a.issuance,
            credit=own,
            amount=points,
            reason="volunteering",
            actor="test",
        ).id


def test_award_is_idempotent(client: TestClient, world: World, engine: Engine) -> None:
    token = password_token(client, "official-a")
    body = {"household_id": world.household_a1}
    first = award(client, token, "key-1", **body)
    assert first.status_code == 201 and first.json()["replayed"] is False
    again = award(client, token, "key-1", **body)
    assert again.status_code == 200 and again.headers["Idempotency-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    changed = award(client, token, "key-1", **{**body, "matter_code": "garbage_sorting"})
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency_key_reused"
    assert balance(client, token, world.household_a1)["in_notice"] == 5
    assert count_transactions(engine) == 1


def test_a_write_without_idempotency_key_is_refused_and_names_it(
    client: TestClient, world: World, engine: Engine
) -> None:
    token = password_token(client, "official-a")
    response = client.post(
        "/api/v1/claims/awards",
        headers=bearer(token),
        json={"household_id": world.household_a1, "matter_code": "volunteering", "reason": "Helped."},
    )
    assert response.status_code == 422 and "Idempotency-Key" in response.json()["detail"]
    assert count_transactions(engine) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"matter_code": ""}, "matter_code"),
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 501}, "reason"),
        ({"points": 100_000}, "points"),
        ({"debit_account": 5}, "debit_account"),
        ({"evidence_ids": ["many"]}, "evidence_ids"),
    ],
)
def test_bad_bodies_name_the_field_and_write_nothing(
    client: TestClient, world: World, engine: Engine, body: dict[str, object], field: str
) -> None:
    token = password_token(client, "official-a")
    response = award(client, token, "k", **{**body, "household_id": world.household_a1})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.json()["detail"]
    assert count_transactions(engine) == 0


def test_malformed_json_is_a_clear_4xx(client: TestClient, world: World) -> None:
    token = password_token(client, "official-a")
    response = client.post(
        "/api/v1/claims/awards",
        content=b"{not json",
        headers={**bearer(token), "Idempotency-Key": "k", "content-type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_json"
    assert "line 1, column 2" in response.json()["detail"] and "Traceback" not in response.text


@pytest.mark.parametrize("who", ["auditor", "official-b", "admin-c", "villager", "bank"])
def test_only_the_villages_officials_and_county_admin_may_award(
    client: TestClient, world: World, engine: Engine, who: str
) -> None:
    token = {
        "villager": lambda: villager_token(client, world.villager_phone),
        "bank": lambda: client_token(client, "bank"),
    }.get(who, lambda: password_token(client, who))()
    response = award(client, token, "k", household_id=world.household_a1)
    assert response.status_code in (403, 404)
    assert count_transactions(engine) == 0


def test_county_admin_and_township_supervisor_may_award(client: TestClient, world: World) -> None:
    for who, matter in (("admin", "village_meeting"), ("supervisor", "garbage_sorting")):
        response = award(
            client, password_token(client, who), f"k-{who}", household_id=world.household_b1, matter_code=matter
        )
        assert response.status_code == 201, response.text


def test_no_transaction_is_posted_voided_or_reversed_by_hand(client: TestClient, world: World, engine: Engine) -> None:
    """Not even one nobody can name a record for: deny by default."""
    official = password_token(client, "official-a")
    unnamed = direct_transfer(engine, world, world.household_a1, 8)
    for action in ("post", "void", "reverse"):
        tried = client.post(
            f"/api/v1/ledger/transactions/{unnamed}/{action}",
            json={"reason": "mistake"},
            headers={**bearer(official), "Idempotency-Key": f"by-hand-{action}"},
        )
        assert tried.status_code == 409 and tried.json()["code"] == "transaction_belongs_to_record"
        for who in ("official-b", "admin-c"):  # not theirs to change: there is no such transaction
            hidden = client.post(
                f"/api/v1/ledger/transactions/{unnamed}/{action}",
                json={"reason": "mistake"},
                headers={**bearer(password_token(client, who)), "Idempotency-Key": "x"},
            )
            assert hidden.status_code == 404 and hidden.json()["code"] == "transaction_not_found"
    villager = villager_token(client, world.villager_phone)
    refused = client.post(
        f"/api/v1/ledger/transactions/{unnamed}/reverse",
        json={"reason": "mistake"},
        headers={**bearer(villager), "Idempotency-Key": "v"},
    )
    assert refused.status_code == 403
    assert balance(client, villager, world.household_a1)["posted"] == 8
    assert count_transactions(engine) == 1


def test_villager_sees_own_transactions_only(client: TestClient, world: World, engine: Engine) -> None:
    mine = direct_transfer(engine, world, world.household_a1, 1)
    theirs = direct_transfer(engine, world, world.household_a2, 1)
    villager = bearer(villager_token(client, world.villager_phone))
    assert client.get(f"/api/v1/ledger/transactions/{mine}", headers=villager).status_code == 200
    assert client.get(f"/api/v1/ledger/transactions/{theirs}", headers=villager).status_code == 404


def test_signed_head_verifies_with_the_public_key_and_detects_rewrites(
    client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    for n in range(3):
        direct_transfer(engine, world, world.household_a1, n + 1)
    bank = bearer(client_token(client, "bank"))
    signed = client.get("/api/v1/ledger/head", headers=bank).json()
    key = client.get("/api/v1/ledger/head/key").json()["keys"][0]
    assert "d" not in key  # the public part only
    payload = tokens.read_signed_head(key, signed["jws"])
    assert payload == signed["head"] and payload["transactions"] == 3
    heads = {v["village_id"]: v for v in payload["villages"]}
    assert heads[world.village_a.village_id]["seq"] == 3 and heads[world.village_b.village_id]["seq"] == 0
    direct_transfer(engine, world, world.household_a1, 9)
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
    # a bad head is the head's fault, not the caller's: no 401 that would make a client refresh its token and retry
    assert refused.status_code == 422 and refused.json()["code"] == "head_signature_invalid"
    assert "WWW-Authenticate" not in refused.headers
