"""Forged, stale or foreign tokens are refused with 401; keys rotate; roles are re-read every request."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from jose import jwt
from sqlalchemy import Engine
from sqlmodel import select

from api.app import create_app
from ledger.core.db import unit_of_work
from ledger.identity.models import Role, User
from tests.api.conftest import SECRET, World, bearer, make_settings, password_token


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": "user:4",
        "role": "county_admin",
        "scope": "",
        "iat": now,
        "exp": now + 300,
        "aud": "shanzhi-api",
        "iss": "shanzhi",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def forge(payload: dict[str, object], *, key: str = SECRET, alg: str = "HS256", kid: str = "k1") -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def admin_sub(engine: Engine) -> str:
    with unit_of_work(engine) as session:
        user = session.exec(select(User).where(User.username == "admin")).one()
        return f"user:{user.id}"


def status(client: TestClient, token: str) -> int:
    return int(client.get("/api/v1/ledger/head", headers=bearer(token)).status_code)


def test_a_well_formed_token_is_accepted(client: TestClient, world: World, engine: Engine) -> None:
    assert status(client, forge(claims(sub=admin_sub(engine)))) == 200


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_refused_even_with_the_right_secret(
    client: TestClient, world: World, engine: Engine, alg: str
) -> None:
    assert status(client, forge(claims(sub=admin_sub(engine)), alg=alg)) == 401


def test_alg_none_is_refused(client: TestClient, world: World, engine: Engine) -> None:
    token = f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'})}.{b64(claims(sub=admin_sub(engine)))}."
    assert status(client, token) == 401


def test_an_edited_payload_is_refused(client: TestClient, world: World, engine: Engine) -> None:
    header, _, signature = forge(claims(sub=admin_sub(engine), role="auditor")).split(".")
    edited = b64(claims(sub=admin_sub(engine), role="county_admin"))
    assert status(client, f"{header}.{edited}.{signature}") == 401


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "aud", "iss"])
def test_a_required_claim_missing_is_refused(client: TestClient, world: World, engine: Engine, missing: str) -> None:
    payload = claims(sub=admin_sub(engine))
    del payload[missing]
    assert status(client, forge(payload)) == 401


@pytest.mark.parametrize(
    "change",
    [
        {"exp": int(time.time()) - 10, "iat": int(time.time()) - 310},
        {"aud": "someone-else"},
        {"iss": "evil"},
        {"exp": int(time.time()) + 3600},
    ],
    ids=["expired", "wrong-aud", "wrong-iss", "lives-too-long"],
)
def test_expired_or_foreign_tokens_are_refused(
    client: TestClient, world: World, engine: Engine, change: dict[str, object]
) -> None:
    assert status(client, forge(claims(sub=admin_sub(engine), **change))) == 401


def test_unknown_kid_is_refused(client: TestClient, world: World, engine: Engine) -> None:
    assert status(client, forge(claims(sub=admin_sub(engine)), kid="k9")) == 401


def test_keys_rotate_previous_accepted_retired_refused(
    tmp_path: Path, database_url: str, engine: Engine, world: World
) -> None:
    old = forge(claims(sub=admin_sub(engine)), key=SECRET, kid="k1")
    new_secret = "rotated-secret-abcdefghijklmnopqrstuvwxyz"
    rotating = make_settings(
        tmp_path, database_url, jwt_secret=new_secret, jwt_kid="k2", jwt_previous_keys={"k1": SECRET}
    )
    with TestClient(create_app(rotating, engine=engine)) as client:
        assert status(client, old) == 200
        assert status(client, password_token(client, "admin")) == 200
    retired = make_settings(tmp_path, database_url, jwt_secret=new_secret, jwt_kid="k2")
    with TestClient(create_app(retired, engine=engine)) as client:
        assert status(client, old) == 401


def test_a_changed_role_or_disabled_account_takes_effect_at_once(
    client: TestClient, world: World, engine: Engine
) -> None:
    token = password_token(client, "admin")
    assert status(client, token) == 200
    with unit_of_work(engine) as session:
        session.exec(select(User).where(User.username == "admin")).one().role = Role.OFFICIAL
    assert status(client, token) == 401
    with unit_of_work(engine) as session:
        user = session.exec(select(User).where(User.username == "admin")).one()
        user.role, user.active = Role.COUNTY_ADMIN, False
    assert status(client, token) == 401


def test_garbage_and_missing_tokens(client: TestClient, world: World) -> None:
    assert status(client, "not-a-token") == 401
    response = client.get("/api/v1/ledger/head")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
