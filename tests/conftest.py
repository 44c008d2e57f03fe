"""Test databases. SQLite by default; SHANZHI_TEST_DATABASE_URL=postgresql+psycopg://… runs the same
database tests on PostgreSQL. Every database test starts from a freshly migrated, empty schema."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from ledger.core import migrations
from ledger.core.db import make_engine

pytest_plugins = ["tests.demo_server"]  # the served demo county: `seeded`, `demo_db`, `served`

TEST_DATABASE_URL = os.environ.get("SHANZHI_TEST_DATABASE_URL", "")
ON_POSTGRES = TEST_DATABASE_URL.startswith("postgresql")


def pytest_report_header(config: pytest.Config) -> list[str]:
    from tests.browser.conftest import CHROMIUM, why_not

    lines = [
        f"database tests: PostgreSQL at {make_url(TEST_DATABASE_URL).render_as_string()}"
        if ON_POSTGRES
        else "database tests: SQLite only (set SHANZHI_TEST_DATABASE_URL to run them on PostgreSQL as well)"
    ]
    lines.append(why_not() or f"browser tests: Playwright with {CHROMIUM}")
    return lines


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"engine", "database_url", "fresh_database"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


def postgres_schema_url(schema: str) -> str:
    """The test URL with every connection's search_path set to a schema of our own."""
    url = make_url(TEST_DATABASE_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def drop_postgres_schema(schema: str, *, create_again: bool = False) -> None:
    admin = make_engine(TEST_DATABASE_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        if create_again:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()


def fresh_postgres_schema(schema: str) -> str:
    """An empty schema of this name, and the test URL that works in it."""
    drop_postgres_schema(schema, create_again=True)
    return postgres_schema_url(schema)


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per run: a SQLite file to copy, or a PostgreSQL schema to truncate between tests."""
    if ON_POSTGRES:
        url = fresh_postgres_schema(f"shanzhi_test_{os.getpid()}")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('template') / 'template.db'}"
    engine = make_engine(url)
    migrations.upgrade(engine)
    engine.dispose()
    yield url
    if ON_POSTGRES:
        drop_postgres_schema(f"shanzhi_test_{os.getpid()}")


def empty_postgres_schema(url: str) -> None:
    """Empty every table of the schema (not alembic_version) and restart its sequences."""
    engine = make_engine(url)
    with engine.begin() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables"
                    " WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
        if tables:
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def fresh_database(_template: str, tmp_path: Path) -> Callable[[], str]:
    """Call it for the URL of an empty, migrated database: a copy of the template SQLite file, or the
    PostgreSQL test schema emptied. Each call starts over (property tests call it once per example)."""
    copies = itertools.count(1)

    def fresh() -> str:
        if ON_POSTGRES:
            empty_postgres_schema(_template)
            return _template
        target = tmp_path / f"test-{next(copies)}.db"
        shutil.copyfile(make_url(_template).database or "", target)
        return f"sqlite:///{target}"

    return fresh


@pytest.fixture
def database_url(fresh_database: Callable[[], str]) -> str:
    """A URL of an empty, migrated database for this test alone."""
    return fresh_database()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _quick_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2, with the cheapest parameters: the suite hashes hundreds of passwords."""
    from argon2 import PasswordHasher

    from ledger.identity import passwords

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    passwords._decoy.cache_clear()


@pytest.fixture(autouse=True)
def _no_real_sms(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test texts a real phone: the Tencent SDK and the SMS gateway only ever reach this machine (a fake
    provider, tests/fake_sms.py)."""
    from urllib.parse import urlsplit

    from ledger.core.settings import Settings
    from ledger.sms import senders

    here = ("127.0.0.1", "localhost")
    tencent, gateway = senders.TencentSender.__init__, senders.HttpGatewaySender.__init__

    def tencent_here(self: senders.TencentSender, settings: Settings) -> None:
        assert settings.sms_tencent_endpoint.split(":")[0] in here, "a test pointed the Tencent SDK off this machine"
        tencent(self, settings)

    def gateway_here(self: senders.HttpGatewaySender, *, url: str, **more: object) -> None:
        assert urlsplit(url).hostname in here, "a test pointed the SMS gateway off this machine"
        gateway(self, url=url, **more)  # type: ignore[arg-type]

    monkeypatch.setattr(senders.TencentSender, "__init__", tencent_here)
    monkeypatch.setattr(senders.HttpGatewaySender, "__init__", gateway_here)
