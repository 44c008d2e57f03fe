"""What a production service shows to anyone who asks: not its API docs, not its metrics (a scraper with the
metrics token, or the county admin and auditors, read those)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from api.app import create_app
from api.observability import JsonFormatter
from api.tokens import issue_access_token
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.identity.models import Role, User
from tests.api.conftest import World, bearer, make_settings, password_token

DOCS = ("/docs", "/redoc", "/openapi.json")


def _production(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    return make_settings(tmp_path, database_url, env="prod", jwt_secret=secrets.token_urlsafe(48), **overrides)


@pytest.fixture
def production(tmp_path: Path, database_url: str, engine: Engine, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(_production(tmp_path, database_url), engine=engine)) as client:
        yield client


def test_a_production_service_serves_no_api_docs_unless_told_to(
    tmp_path: Path, database_url: str, engine: Engine, production: TestClient
) -> None:
    for path in DOCS:
        assert production.get(path).status_code == 404, path
    told = create_app(_production(tmp_path, database_url, api_docs=True), engine=engine)
    with TestClient(told) as client:
        assert [client.get(path).status_code for path in DOCS] == [200, 200, 200]
    with TestClient(create_app(make_settings(tmp_path, database_url), engine=engine)) as dev:
        assert [dev.get(path).status_code for path in DOCS] == [200, 200, 200]  # dev mode: on unless turned off
    with TestClient(create_app(make_settings(tmp_path, database_url, api_docs=False), engine=engine)) as off:
        assert [off.get(path).status_code for path in DOCS] == [404, 404, 404]


def test_production_metrics_are_for_the_county_admin_and_auditors_only(production: TestClient, engine: Engine) -> None:
    anonymous = production.get("/metrics")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
    assert "shanzhi_http_requests" not in anonymous.text
    official = production.get("/metrics", headers=bearer(password_token(production, "official-a")))
    assert official.status_code == 403 and official.json()["code"] == "forbidden"
    with unit_of_work(engine) as session:
        villager_id = session.scalars(select(User.id).where(User.role == Role.VILLAGER)).first()
    settings = cast(FastAPI, production.app).state.settings
    villager, _ = issue_access_token(settings, sub=f"user:{villager_id}", role="villager")
    assert production.get("/metrics", headers=bearer(villager)).status_code == 403
    for who in ("admin", "auditor"):
        seen = production.get("/metrics", headers=bearer(password_token(production, who)))
        assert seen.status_code == 200 and "shanzhi_http_requests" in seen.text, who


def test_a_scraper_reads_production_metrics_with_the_metrics_token(
    tmp_path: Path, database_url: str, engine: Engine, world: World
) -> None:
    token = secrets.token_urlsafe(32)
    app = create_app(_production(tmp_path, database_url, metrics_token=token), engine=engine)
    with TestClient(app) as client:
        scraped = client.get("/metrics", headers=bearer(token))
        assert scraped.status_code == 200 and "shanzhi_http_requests" in scraped.text
        wrong = token[:-1] + ("x" if token[-1] != "x" else "y")  # never the real token
        assert client.get("/metrics", headers=bearer(wrong)).status_code == 401
        assert client.get("/metrics", headers=bearer(password_token(client, "auditor"))).status_code == 200


SECRETS = {
    "/c/{token}": "QQJrMQAAAAEAN35HADeJw2C5GuHKQK7vEVrxTw",
    "/api/v1/vouchers/{code}": "R2BRN8NE55VSKF36",
    "/api/v1/consents/{consent_id}/revoke": "cns_8f2b6c1d9e0a4f7b",
}


def test_access_log_lines_name_the_route_template_never_the_codes_in_the_path(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="shanzhi.access"):
        client.get(f"/c/{SECRETS['/c/{token}']}?lang=en", follow_redirects=False)
        client.get(f"/api/v1/vouchers/{SECRETS['/api/v1/vouchers/{code}']}")
        client.post(f"/api/v1/consents/{SECRETS['/api/v1/consents/{consent_id}/revoke']}/revoke")
        client.get("/no/such/page/" + "S3CR3T")
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "shanzhi.access"]
    assert [line["route"] for line in lines] == [*SECRETS, "unmatched"]
    logged = json.dumps(lines)
    assert [s for s in [*SECRETS.values(), "S3CR3T", "lang=en"] if s in logged] == []
