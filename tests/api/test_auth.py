"""Signing in: passwords, partner client credentials, villager one-time codes, and throttling."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from tests.api.conftest import PARTNERS, PASSWORD, World, app_of, bearer, client_token, make_settings, password_token


def test_password_grant_gives_a_short_bearer_token(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": "admin", "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and 0 < body["expires_in"] <= 900


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient, world: World) -> None:
    wrong = client.post("/api/v1/auth/token", data={"grant_type": "password", "username": "admin", "password": "x"})
    unknown = client.post("/api/v1/auth/token", data={"grant_type": "password", "username": "nobody", "password": "x"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_grant"
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_villagers_cannot_use_the_password_grant(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/auth/token", data={"grant_type": "password", "username": "", "password": ""})
    assert response.status_code == 422


def test_repeated_failures_slow_that_address_for_that_account(client: TestClient, world: World) -> None:
    for _ in range(8):
        client.post("/api/v1/auth/token", data={"grant_type": "password", "username": "admin", "password": "bad"})
    slowed = client.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": "admin", "password": PASSWORD}
    )
    assert slowed.status_code == 429
    assert slowed.json()["code"] == "sign_in_slowed"
    assert 0 < int(slowed.headers["Retry-After"]) <= 900
    # another account from the same address is still fine (failures are counted per account and address)
    assert (
        client.post(
            "/api/v1/auth/token", data={"grant_type": "password", "username": "auditor", "password": PASSWORD}
        ).status_code
        == 200
    )


def test_client_credentials_in_form_or_basic_with_scopes(client: TestClient, world: World) -> None:
    form = client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "bank",
            "client_secret": "bank-secret",
            "scope": "credit:read",
        },
    )
    assert form.status_code == 200 and form.json()["scope"] == "credit:read"
    basic = client.post("/api/v1/auth/token", data={"grant_type": "client_credentials"}, auth=("bank", "bank-secret"))
    assert basic.status_code == 200 and basic.json()["scope"].split() == PARTNERS[0][2].split()
    bad = client.post("/api/v1/auth/token", data={"grant_type": "client_credentials"}, auth=("bank", "nope"))
    assert bad.status_code == 401 and bad.json()["code"] == "invalid_client"
    greedy = client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "mart",
            "client_secret": "mart-secret",
            "scope": "credit:read",
        },
    )
    assert greedy.status_code == 422 and "credit:read" in greedy.json()["detail"]


def test_unknown_grant_type_is_named(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/auth/token", data={"grant_type": "implicit"})
    assert response.status_code == 422 and response.json()["code"] == "unsupported_grant_type"


def test_villager_signs_in_with_a_one_time_code_once(client: TestClient, world: World) -> None:
    sent = client.post("/api/v1/auth/otp/request", json={"phone": world.villager_phone})
    assert sent.status_code == 202
    code = sent.json()["dev_code"]
    assert len(code) == 6
    ok = client.post("/api/v1/auth/otp/verify", json={"phone": world.villager_phone, "code": code})
    assert ok.status_code == 200
    token = ok.json()["access_token"]
    assert client.get(f"/api/v1/households/{world.household_a1}/balance", headers=bearer(token)).status_code == 200
    again = client.post("/api/v1/auth/otp/verify", json={"phone": world.villager_phone, "code": code})
    assert again.status_code == 401 and again.json()["code"] == "invalid_code"


def test_a_wrong_code_fails_and_attempts_are_limited(client: TestClient, world: World) -> None:
    code = client.post("/api/v1/auth/otp/request", json={"phone": world.villager_phone}).json()["dev_code"]
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        response = client.post("/api/v1/auth/otp/verify", json={"phone": world.villager_phone, "code": wrong})
        assert response.status_code in (401, 429)
    after = client.post("/api/v1/auth/otp/verify", json={"phone": world.villager_phone, "code": code})
    assert after.status_code in (401, 429)  # the right code no longer helps: attempts are spent


def test_unknown_phone_gets_the_same_answer_without_a_code(client: TestClient, world: World) -> None:
    sent: list[str] = []
    app_of(client).state.otp_sender = lambda phone, code: sent.append(phone)
    response = client.post("/api/v1/auth/otp/request", json={"phone": "13712345678"})
    assert response.status_code == 202
    assert response.json()["status"] == "sent" and len(response.json()["dev_code"]) == 6  # made up, as alike
    assert sent == []  # nothing was sent


def test_dev_code_is_never_returned_outside_dev_mode(
    tmp_path: Path, database_url: str, engine: Engine, world: World
) -> None:
    sent: list[tuple[str, str]] = []
    settings = make_settings(tmp_path, database_url, env="prod")
    with TestClient(create_app(settings, engine=engine, otp_sender=lambda p, c: sent.append((p, c)))) as client:
        response = client.post("/api/v1/auth/otp/request", json={"phone": world.villager_phone})
    assert response.status_code == 202 and response.json()["dev_code"] is None
    assert [phone for phone, _ in sent] == [world.villager_phone]  # delivered through the sender instead


def test_otp_requests_are_rate_limited_per_phone(client: TestClient, world: World) -> None:
    codes = [
        client.post("/api/v1/auth/otp/request", json={"phone": world.villager_phone}).status_code for _ in range(6)
    ]
    assert codes[:5] == [202] * 5 and codes[5] == 429


def test_partner_token_works_where_the_partner_is_allowed(client: TestClient, world: World) -> None:
    token = client_token(client, "bank")
    assert client.get("/api/v1/ledger/head", headers=bearer(token)).status_code == 200
    staff = password_token(client, "official-a")
    assert client.get("/api/v1/ledger/head", headers=bearer(staff)).status_code == 403
