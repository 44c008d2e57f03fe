"""The county admin's partners through the API: add a partner, give it a machine client (its secret shown once)
and a staff sign-in (its first password shown once, changed at first sign-in), disable a client; every refusal
with its code, nothing half-written, and every change in the change log (never a secret or a password)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import col

from ledger.core import audit
from ledger.core.db import unit_of_work
from ledger.identity.models import Partner, PartnerClient, User
from tests.api.conftest import World, bearer, password_token, villager_token


def _admin(client: TestClient, who: str = "admin") -> dict[str, str]:
    return bearer(password_token(client, who))


def _changes(engine: Engine, world: World, action: str) -> list[dict[str, Any]]:
    with unit_of_work(engine) as session:
        return [audit.as_dict(r) for r in audit.changes(session, world.village_a.county_id, action=action)]


def _new_partner(client: TestClient, kind: str = "clinic", code: str = "health-1") -> dict[str, Any]:
    made = client.post(
        "/api/v1/partners", json={"kind": kind, "code": code, "name": "镇卫生室"}, headers=_admin(client)
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_the_admin_adds_a_partner_that_serves_the_whole_county_and_lists_it(
    client: TestClient, engine: Engine, world: World
) -> None:
    made = _new_partner(client)
    assert made["kind"] == "clinic" and made["village_ids"] == [] and made["clients"] == [] and made["staff"] == []
    listed = client.get("/api/v1/county/partners", headers=_admin(client))
    assert listed.status_code == 200
    assert made["id"] in {p["id"] for p in listed.json()}
    assert {p["code"] for p in listed.json()} >= {"bank", "mart", "health-1"}
    other = client.get("/api/v1/county/partners", headers=_admin(client, "admin-c")).json()
    assert "health-1" not in {p["code"] for p in other}  # another county's admin does not see it
    logged = _changes(engine, world, "partner.create")
    assert [(c["target_id"], c["after"]) for c in logged] == [
        (str(made["id"]), {"kind": "clinic", "code": "health-1", "name": "镇卫生室"})
    ]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"kind": "shop", "code": "x-1", "name": "x"}, 422, "invalid_request"),
        ({"kind": "bank", "code": "Has Spaces", "name": "x"}, 422, "invalid_partner"),
        ({"kind": "bank", "code": "newbank", "name": "   "}, 422, "invalid_request"),
        ({"kind": "bank", "code": "mart", "name": "Another mart"}, 409, "partner_exists"),
    ],
)
def test_a_wrong_partner_is_refused_and_nothing_is_written(
    client: TestClient, engine: Engine, world: World, body: dict[str, str], status: int, code: str
) -> None:
    with unit_of_work(engine) as session:
        before = session.scalar(select(func.count()).select_from(Partner))
    answer = client.post("/api/v1/partners", json=body, headers=_admin(client))
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Partner)) == before
    assert _changes(engine, world, "partner.") == []


def test_only_a_county_admin_manages_partners(client: TestClient, world: World) -> None:
    partner = _new_partner(client)
    tokens = {
        "official": password_token(client, "official-a"),
        "auditor": password_token(client, "auditor"),
        "villager": villager_token(client, world.villager_phone),
    }
    for who, token in tokens.items():
        for method, path, body in (
            ("GET", "/api/v1/county/partners", None),
            ("POST", "/api/v1/partners", {"kind": "bank", "code": "b9", "name": "b"}),
            ("POST", f"/api/v1/partners/{partner['id']}/clients", {}),
            ("POST", f"/api/v1/partners/{partner['id']}/staff", {"username": "nurse-9"}),
            ("POST", f"/api/v1/partners/{partner['id']}/clients/bank/disable", None),
        ):
            answer = client.request(method, path, json=body, headers=bearer(token))
            assert (answer.status_code, answer.json()["code"]) == (403, "forbidden"), (who, path)
    assert client.post(f"/api/v1/partners/{partner['id']}/clients", json={}).status_code == 401


def test_a_client_gets_its_secret_once_and_signs_in_with_the_scopes_of_its_kind(
    client: TestClient, engine: Engine, world: World
) -> None:
    partner = _new_partner(client)
    made = client.post(
        f"/api/v1/partners/{partner['id']}/clients", json={"client_id": "health-1-till"}, headers=_admin(client)
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["client_id"] == "health-1-till" and body["active"] is True
    assert body["scopes"] == ["bookings:manage", "offers:manage", "settlement:read", "vouchers:consume"]
    secret = body["client_secret"]
    token = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": "health-1-till", "client_secret": secret},
    )
    assert token.status_code == 200, token.text
    assert client.get("/api/v1/partners/me", headers=bearer(token.json()["access_token"])).json()["code"] == "health-1"
    listed = next(
        p for p in client.get("/api/v1/county/partners", headers=_admin(client)).json() if p["id"] == partner["id"]
    )
    assert [c["client_id"] for c in listed["clients"]] == ["health-1-till"]
    assert secret not in str(listed)
    with unit_of_work(engine) as session:
        row = session.scalars(select(PartnerClient).where(col(PartnerClient.client_id) == "health-1-till")).one()
        assert secret not in row.secret_hash
    logged = _changes(engine, world, "partner_client.create")
    assert len(logged) == 1 and logged[0]["after"]["secret"] == "made" and secret not in str(logged)
    generated = client.post(f"/api/v1/partners/{partner['id']}/clients", json={}, headers=_admin(client)).json()
    assert generated["client_id"].startswith("health-1-") and generated["client_secret"] != secret


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"scopes": ["credit:read"]}, 422, "scope_not_allowed"),  # a clinic reads no ratings
        ({"client_id": "Bad Id!"}, 422, "invalid_partner"),
        ({"client_id": "bank"}, 409, "client_exists"),
        ({"extra": 1}, 422, "invalid_request"),
    ],
)
def test_a_wrong_client_is_refused_and_nothing_is_written(
    client: TestClient, engine: Engine, world: World, body: dict[str, Any], status: int, code: str
) -> None:
    partner = _new_partner(client)
    answer = client.post(f"/api/v1/partners/{partner['id']}/clients", json=body, headers=_admin(client))
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert "client_secret" not in answer.text
    with unit_of_work(engine) as session:
        assert session.scalars(select(PartnerClient).where(col(PartnerClient.partner_id) == partner["id"])).all() == []
    assert _changes(engine, world, "partner_client") == []


def test_another_countys_partner_looks_missing(client: TestClient, world: World) -> None:
    partner = _new_partner(client)
    other = _admin(client, "admin-c")
    for path, body in (
        (f"/api/v1/partners/{partner['id']}/clients", {}),
        (f"/api/v1/partners/{partner['id']}/staff", {"username": "nurse-9"}),
        (f"/api/v1/partners/{partner['id']}/clients/bank/disable", None),
        ("/api/v1/partners/999999/clients", {}),
    ):
        answer = client.post(path, json=body, headers=other)
        assert (answer.status_code, answer.json()["code"]) == (404, "partner_not_found"), path


def test_a_disabled_client_is_refused_at_once(client: TestClient, engine: Engine, world: World) -> None:
    partner = _new_partner(client, "merchant", "shop-7")
    made = client.post(f"/api/v1/partners/{partner['id']}/clients", json={}, headers=_admin(client)).json()
    token = client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": made["client_id"],
            "client_secret": made["client_secret"],
        },
    ).json()["access_token"]
    assert client.get("/api/v1/partners/me", headers=bearer(token)).status_code == 200
    done = client.post(f"/api/v1/partners/{partner['id']}/clients/{made['client_id']}/disable", headers=_admin(client))
    assert done.status_code == 200 and done.json()["active"] is False
    assert client.get("/api/v1/partners/me", headers=bearer(token)).status_code == 401
    again = client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": made["client_id"],
            "client_secret": made["client_secret"],
        },
    )
    assert again.status_code == 401
    logged = _changes(engine, world, "partner_client.disable")
    assert [(c["before"], c["after"]) for c in logged] == [({"active": True}, {"active": False})]
    missing = client.post(f"/api/v1/partners/{partner['id']}/clients/bank/disable", headers=_admin(client))
    assert (missing.status_code, missing.json()["code"]) == (404, "client_not_found")  # another partner's client


def test_a_partner_staff_sign_in_has_a_first_password_shown_once(
    client: TestClient, engine: Engine, world: World
) -> None:
    partner = _new_partner(client)
    made = client.post(
        f"/api/v1/partners/{partner['id']}/staff",
        json={"username": "nurse-li", "display_name": "李护士"},
        headers=_admin(client),
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["username"] == "nurse-li" and body["must_change_password"] is True and len(body["password"]) >= 12
    token = password_token(client, "nurse-li", body["password"])  # the password works, to be changed first:
    with unit_of_work(engine) as session:
        user = session.scalars(select(User).where(col(User.username) == "nurse-li")).one()
        assert user.partner_id == partner["id"] and user.must_change_password and user.role == "partner_staff"
    first = client.get("/api/v1/partners/me", headers=bearer(token))
    assert (first.status_code, first.json()["code"]) == (403, "password_change_required")
    own = {"current_password": body["password"], "new_password": "the nurse's own 2026"}
    assert client.post("/api/v1/auth/password", json=own, headers=bearer(token)).status_code == 204
    assert client.get("/api/v1/partners/me", headers=bearer(token)).json()["id"] == partner["id"]
    logged = _changes(engine, world, "partner_staff.create")
    assert len(logged) == 1 and logged[0]["after"]["password"] == "made" and body["password"] not in str(logged)
    taken = client.post(f"/api/v1/partners/{partner['id']}/staff", json={"username": "admin"}, headers=_admin(client))
    assert (taken.status_code, taken.json()["code"]) == (409, "partner_username_taken")
    bad = client.post(f"/api/v1/partners/{partner['id']}/staff", json={"username": "a b c"}, headers=_admin(client))
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_partner")
    assert len(_changes(engine, world, "partner_staff.create")) == 1
