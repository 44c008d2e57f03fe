"""The service as an operator meets it: start-up refusals, health, metrics, logs, errors, and that every route
declares who may call it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url
from sqlmodel import col

from api import pages
from api.app import ROUTERS, create_app
from api.deps import access_rule_of
from api.observability import JsonFormatter
from ledger.core import migrations
from ledger.core.db import make_engine, unit_of_work
from ledger.core.settings import DEMO_PASSWORD, InsecureSettings
from ledger.identity.models import Role, User
from ledger.identity.service import set_password
from tests.api.conftest import World, bearer, make_settings, password_token, villager_token
from tests.conftest import ON_POSTGRES
from tests.factories import id_of

PUBLIC = {
    "/healthz",
    "/readyz",
    "/api/v1/auth/token",
    "/api/v1/auth/otp/request",
    "/api/v1/auth/otp/verify",
    "/api/v1/ledger/head/key",
    "/api/v1/codes/{token}",
}
# pages anyone may open: signing in, and the language switch; and one's own password, whose form checks the CSRF
# token and who is signed in itself before argon2, as the password sign-in does (its page is for staff only)
PUBLIC_PAGES = {
    "/",
    "/c/{token}",
    "/signin",
    "/signin/phone",
    "/signin/code",
    "/signin/password",
    "/prefs/language",
    "/account/password",
}


def _rules(route: APIRoute) -> list[Any]:
    found, stack = [], [route.dependant]
    while stack:
        dependant = stack.pop()
        if dependant.call is not None and access_rule_of(dependant.call) is not None:
            found.append(access_rule_of(dependant.call))
        stack.extend(dependant.dependencies)
    return found


def test_every_route_declares_who_may_call_it(tmp_path: Path, database_url: str) -> None:
    app = create_app(make_settings(tmp_path, database_url))
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert {r.path for r in routes} == set(app.openapi()["paths"])  # nothing served escapes this check
    undeclared = [f"{sorted(r.methods or ())} {r.path}" for r in routes if not _rules(r)]
    assert undeclared == []
    public = {r.path for r in routes if "public" in _rules(r)}
    assert public == PUBLIC
    page_routes = [r for router in pages.ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert len(page_routes) > 10
    assert [f"{sorted(r.methods or ())} {r.path}" for r in page_routes if len(_rules(r)) != 1] == []
    assert {r.path for r in page_routes if "public" in _rules(r)} == PUBLIC_PAGES


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("", "missing"),
        ("short-secret", "shorter than 32 bytes"),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----", "key material"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0aGlzaXNhbG9uZ2tleQ user@host", "key material"),
        ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7", "key material"),
    ],
)
def test_outside_dev_a_weak_secret_refuses_to_start(tmp_path: Path, database_url: str, secret: str, why: str) -> None:
    with pytest.raises(InsecureSettings, match=why):
        create_app(make_settings(tmp_path, database_url, env="prod", jwt_secret=secret))


def test_outside_dev_a_default_password_refuses_to_start(
    tmp_path: Path, database_url: str, engine: Engine, world: World
) -> None:
    with pytest.raises(InsecureSettings, match="default password"):
        create_app(make_settings(tmp_path, database_url, env="prod", admin_password="changeme"))
    with unit_of_work(engine) as session:
        user = User(
            role=Role.COUNTY_ADMIN, county_id=world.village_a.county_id, username="demo-admin", display_name="x"
        )
        set_password(user, DEMO_PASSWORD, is_default=True)
        session.add(user)
    app = create_app(make_settings(tmp_path, database_url, env="prod"), engine=engine)
    with pytest.raises(InsecureSettings, match="demo-admin"), TestClient(app):
        pass


def test_dev_mode_starts_without_a_secret(tmp_path: Path, database_url: str, engine: Engine) -> None:
    with TestClient(create_app(make_settings(tmp_path, database_url, jwt_secret=""), engine=engine)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_needs_the_database_at_the_newest_migration(tmp_path: Path, client: TestClient) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with TestClient(create_app(make_settings(tmp_path, str(empty.url)), engine=empty)) as fresh:
        response = fresh.get("/readyz")
    assert response.status_code == 503 and response.json()["code"] == "migrations_pending"


def test_readyz_is_not_ready_one_migration_behind_head(tmp_path: Path) -> None:
    behind = make_engine(f"sqlite:///{tmp_path / 'behind.db'}")
    migrations.upgrade(behind)
    migrations.downgrade(behind, "-1")
    with TestClient(create_app(make_settings(tmp_path, str(behind.url)), engine=behind)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["code"] == "migrations_pending"
    assert response.json()["head"] == migrations.head_revision() != response.json()["current"]


def test_readyz_is_not_ready_when_the_database_does_not_answer(tmp_path: Path) -> None:
    gone = make_engine("postgresql+psycopg://shanzhi@127.0.0.1:1/shanzhi")  # nothing listens on port 1
    with TestClient(create_app(make_settings(tmp_path, str(gone.url)), engine=gone)) as client:
        response = client.get("/readyz")
        assert client.get("/healthz").status_code == 200  # the process is up, only not ready
    assert response.status_code == 503 and response.json()["code"] == "database_unreachable"


def test_metrics_count_requests_postings_and_errors(client: TestClient, world: World) -> None:
    token = password_token(client, "official-a")
    client.post(
        "/api/v1/claims/awards",
        json={"household_id": world.household_a1, "matter_code": "volunteering", "reason": "Helped."},
        headers={**bearer(token), "Idempotency-Key": "m1"},
    )
    client.get("/api/v1/households/1/balance")
    text = client.get("/metrics").text
    assert 'route="/api/v1/claims/awards"' in text
    assert "shanzhi_http_request_duration_seconds_bucket" in text
    postings = [line for line in text.splitlines() if line.startswith("shanzhi_postings_total")]
    assert postings and float(postings[0].split()[-1]) >= 2
    assert 'shanzhi_errors_total{code="unauthenticated"}' in text


def test_logs_are_json_lines_with_the_request_id(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="shanzhi.access"):
        response = client.get("/healthz", headers={"X-Request-ID": "req-123"})
    assert response.headers["X-Request-ID"] == "req-123"
    record = next(r for r in caplog.records if r.name == "shanzhi.access")
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-123" and line["route"] == "/healthz" and line["status"] == 200


def test_an_unexpected_error_is_a_plain_500_without_internals(
    tmp_path: Path, database_url: str, engine: Engine
) -> None:
    app = create_app(make_settings(tmp_path, database_url), engine=engine)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/boom")  # a page path answers a page instead (tests/pages/test_words.py)
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert "secret internals" not in response.text and "Traceback" not in response.text


def test_unknown_paths_and_methods_are_problems(client: TestClient) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    wrong = client.delete("/healthz")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed"


def test_an_id_too_large_for_the_database_is_a_problem_not_a_500(client: TestClient, world: World) -> None:
    """SQLite cannot even bind it (422 invalid_request); PostgreSQL compares it and finds nothing (404)."""
    official = password_token(client, "official-a")
    for path in (
        "/api/v1/claims/99999999999999999999999",
        "/api/v1/evidence/99999999999999999999999",
        "/api/v1/ledger/transactions/99999999999999999999999",
    ):
        answer = client.get(path, headers={"Authorization": f"Bearer {official}"})
        assert answer.status_code in (404, 422), (path, answer.status_code, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["code"] in (
            "invalid_request",
            "claim_not_found",
            "evidence_not_found",
            "transaction_not_found",
            "not_found",
        )


def test_text_with_a_nul_character_is_stored_or_refused_plainly(client: TestClient, world: World) -> None:
    """PostgreSQL cannot store NUL in text: 422 invalid_request there, and nothing written; SQLite stores it."""
    villager = villager_token(client, world.villager_phone)
    asked = client.post("/api/v1/credit/me/review-requests", json={"reason": "a\u0000b"}, headers=bearer(villager))
    assert (asked.status_code, asked.json().get("code")) == ((422, "invalid_request") if ON_POSTGRES else (201, None))
    kept = client.get("/api/v1/credit/me/review-requests", headers=bearer(villager)).json()
    assert len(kept) == (0 if ON_POSTGRES else 1)


@pytest.mark.skipif(not ON_POSTGRES, reason="a server restart needs a database server (PostgreSQL)")
def test_after_the_server_drops_its_connections_one_request_fails_cleanly_and_the_next_works(
    tmp_path: Path, database_url: str, world: World
) -> None:
    url = make_url(database_url).update_query_dict({"application_name": "shanzhi-restart-test"})
    engine = make_engine(url.render_as_string(hide_password=False))
    with TestClient(create_app(make_settings(tmp_path, database_url), engine=engine)) as client:
        token = password_token(client, "admin")
        path = f"/api/v1/households/{world.household_a1}/balance"
        assert client.get(path, headers=bearer(token)).status_code == 200
        admin = make_engine(database_url)
        with admin.begin() as conn:  # what a restart does to every open connection
            killed = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = 'shanzhi-restart-test'"
                )
            ).scalar()
        admin.dispose()
        assert (killed or 0) >= 1
        first = client.get(path, headers=bearer(token))
        assert first.status_code == 503 and first.json()["code"] == "database_unavailable"
        assert first.headers["Retry-After"]
        assert client.get(path, headers=bearer(token)).status_code == 200
    engine.dispose()


def test_more_requests_than_database_connections_wait_for_one_without_holding_a_thread(
    tmp_path: Path, database_url: str, world: World
) -> None:
    """Requests beyond the pool's connections must wait on the event loop: waiting for a connection in a worker
    thread, forty of them would starve the requests holding the connections of a thread to finish on."""
    from concurrent.futures import ThreadPoolExecutor

    small = make_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=5)
    try:
        with TestClient(create_app(make_settings(tmp_path, database_url), engine=small)) as client:
            token = password_token(client, "admin")
            with ThreadPoolExecutor(max_workers=60) as pool:
                statuses = list(
                    pool.map(lambda _: client.get("/api/v1/offers", headers=bearer(token)).status_code, range(60))
                )
    finally:
        small.dispose()
    assert statuses == [200] * 60


# --- safe by default (issue 13 §3) ----------------------------------------------------------------------------

OLD_DEV_CONSTANT = "dev-only-secret-not-for-production-0123456789"  # the signing key main once shipped in source
GOOD_SECRETS = {  # real random 32-byte keys, as an operator would make them
    "hex": "6b11cc7c046b3407080c657e895aa591f7b77351791f7217ce0f42ba8720891c",
    "base64": "RPfCI0hs/nIeNv6k1yoybEp/VYKUgoFhcRMpj2KkCQs=",
    "urlsafe": "X1-BUbzEOTStA3cNY73ifBaY7jIhPgvOwsJ1pO_H-Uo",
}


def test_a_server_built_with_no_settings_refuses_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing set at all (no SHANZHI_ variables, no .env): production, and so no start without a secret."""
    from ledger.core.settings import get_settings

    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("SHANZHI_")]:
        monkeypatch.delenv(name)
    get_settings.cache_clear()
    try:
        assert get_settings().env == "prod"
        with pytest.raises(InsecureSettings, match="SHANZHI_JWT_SECRET is missing"):
            create_app()
    finally:
        get_settings.cache_clear()


def test_a_token_signed_with_the_old_dev_constant_is_refused(
    tmp_path: Path, database_url: str, engine: Engine, world: World
) -> None:
    """Even in dev mode without a secret, nobody can sign a county admin's token with a key from the source."""
    import time

    from jose import jwt

    with unit_of_work(engine) as session:
        admin_id = session.scalars(select(col(User.id)).where(col(User.username) == "admin")).one()
    now = int(time.time())
    forged = jwt.encode(
        {
            "sub": f"user:{admin_id}",
            "role": "county_admin",
            "scope": "",
            "iat": now,
            "exp": now + 300,
            "aud": "shanzhi-api",
            "iss": "shanzhi",
        },
        OLD_DEV_CONSTANT,
        algorithm="HS256",
        headers={"kid": "k1"},
    )
    with TestClient(create_app(make_settings(tmp_path, database_url, jwt_secret=""), engine=engine)) as client:
        assert client.get("/api/v1/ledger/head", headers=bearer(forged)).status_code == 401
        assert client.get("/api/v1/ledger/head", headers=bearer(password_token(client, "admin"))).status_code == 200


def test_dev_mode_without_a_secret_keeps_one_random_secret_of_its_own(tmp_path: Path, database_url: str) -> None:
    first = make_settings(tmp_path, database_url, jwt_secret="").effective_jwt_secret()
    again = make_settings(tmp_path, database_url, jwt_secret="").effective_jwt_secret()
    elsewhere = make_settings(tmp_path / "other", database_url, jwt_secret="").effective_jwt_secret()
    assert first == again != elsewhere and first != OLD_DEV_CONSTANT and len(first) >= 40


@pytest.mark.parametrize(
    "secret",
    [
        "a" * 40,
        "test-secret-0123456789-abcdefghijklmnop",
        OLD_DEV_CONSTANT,
        "0123456789abcdef" * 4,
        "qwertyuiopasdfghjklzxcvbnm1234567890",
        "correct horse battery staple correct horse",
        "shanzhi-county-production-key-2026-11-30",
        "6b11cc7c046b3407" * 4,
    ],
    ids=[
        "repeated",
        "test-pattern",
        "old-dev-constant",
        "repeated-hex",
        "keyboard",
        "words",
        "words-and-date",
        "repeated-random",
    ],
)
def test_outside_dev_a_guessable_secret_refuses_to_start_however_long(
    tmp_path: Path, database_url: str, secret: str
) -> None:
    with pytest.raises(InsecureSettings, match="SHANZHI_JWT_SECRET is too easy to guess"):
        create_app(make_settings(tmp_path, database_url, env="prod", jwt_secret=secret))
    with pytest.raises(InsecureSettings, match="SHANZHI_JWT_PREVIOUS_KEYS key 'k0' is too easy to guess"):
        create_app(make_settings(tmp_path, database_url, env="prod", jwt_previous_keys={"k0": secret}))


def test_outside_dev_a_guessable_metrics_token_refuses_to_start(tmp_path: Path, database_url: str) -> None:
    """The scraper's token opens /metrics in production: it is held to the signing key's standard."""
    good = next(iter(GOOD_SECRETS.values()))
    with pytest.raises(InsecureSettings, match="SHANZHI_METRICS_TOKEN is too easy to guess"):
        create_app(make_settings(tmp_path, database_url, env="prod", jwt_secret=good, metrics_token="prometheus" * 4))
    with pytest.raises(InsecureSettings, match="SHANZHI_METRICS_TOKEN is shorter than 32 bytes"):
        create_app(make_settings(tmp_path, database_url, env="prod", jwt_secret=good, metrics_token="scrape"))
    create_app(make_settings(tmp_path, database_url, env="prod", jwt_secret=good, metrics_token=good[::-1]))


@pytest.mark.parametrize("form", sorted(GOOD_SECRETS))
def test_outside_dev_a_random_32_byte_secret_starts(
    tmp_path: Path, database_url: str, engine: Engine, form: str
) -> None:
    settings = make_settings(
        tmp_path, database_url, env="prod", jwt_secret=GOOD_SECRETS[form], jwt_previous_keys={"k0": GOOD_SECRETS["hex"]}
    )
    with TestClient(create_app(settings, engine=engine)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}


def test_outside_dev_a_partner_client_with_the_demo_secret_refuses_to_start(
    tmp_path: Path, database_url: str, engine: Engine, world: World
) -> None:
    from api.demo import CLIENTS
    from ledger.identity.models import Partner, PartnerClient
    from ledger.identity.passwords import hash_secret

    demo = CLIENTS[1]
    with unit_of_work(engine) as session:
        partner = session.scalars(select(Partner).where(col(Partner.code) == "mart")).one()
        session.add(
            PartnerClient(
                partner_id=id_of(partner),
                client_id=demo.client_id,
                secret_hash=hash_secret(demo.secret),
                scopes=demo.scopes,
            )
        )
    app = create_app(make_settings(tmp_path, database_url, env="prod"), engine=engine)
    with (
        pytest.raises(InsecureSettings, match=f"partner clients still have the demo's secret: {demo.client_id}"),
        TestClient(app),
    ):
        pass
    with unit_of_work(engine) as session:  # retired: it can no longer sign in, so it is no risk
        session.scalars(
            select(PartnerClient).where(col(PartnerClient.client_id) == demo.client_id)
        ).one().active = False
    with TestClient(create_app(make_settings(tmp_path, database_url, env="prod"), engine=engine)) as client:
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(("env", "says"), [("dev", "DEV MODE: not for real data"), ("prod", "production")])
def test_the_first_line_the_app_logs_says_its_mode(
    tmp_path: Path, database_url: str, engine: Engine, env: str, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO),
        TestClient(create_app(make_settings(tmp_path, database_url, env=env), engine=engine)) as client,
    ):
        client.get("/healthz")
    assert caplog.records and says in caplog.records[0].getMessage()
    assert all(says not in r.getMessage() for r in caplog.records[1:])
