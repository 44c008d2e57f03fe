"""The schema is made by Alembic alone: the migrations build exactly what the models describe, and they go
down to nothing and up again cleanly, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlmodel import Session, SQLModel, select

import ledger.tables  # noqa: F401  (every table on the metadata)
import redemption.tables  # noqa: F401
import scoring.tables  # noqa: F401
from ledger import tenancy
from ledger.core import migrations
from ledger.core.db import make_engine
from tests.conftest import ON_POSTGRES, drop_postgres_schema, fresh_postgres_schema
from tests.factories import not_none

pytestmark = pytest.mark.db


@pytest.fixture
def blank_url(tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, not even Alembic's version table."""
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    schema = f"shanzhi_blank_{os.getpid()}"
    yield fresh_postgres_schema(schema)
    drop_postgres_schema(schema)


def test_autogenerate_finds_nothing_to_do(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_upgrade_downgrade_to_base_and_upgrade_again(blank_url: str) -> None:
    engine = make_engine(blank_url)
    migrations.upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert migrations.at_head(engine)

    migrations.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert migrations.current_revision(engine) is None

    migrations.upgrade(engine)
    assert set(inspect(engine).get_table_names()) == tables
    assert migrations.at_head(engine)
    engine.dispose()


def test_every_constraint_is_named_by_the_convention(database_url: str) -> None:
    """Unnamed constraints get database-chosen names that differ between SQLite and PostgreSQL and break
    later migrations; the naming convention must name every one."""
    engine = make_engine(database_url)
    inspector = inspect(engine)
    unnamed = []
    for table in SQLModel.metadata.tables:
        for fk in inspector.get_foreign_keys(table):
            if not fk.get("name"):
                unnamed.append(f"{table}: foreign key {fk['constrained_columns']}")
        for uq in inspector.get_unique_constraints(table):
            if not uq.get("name"):
                unnamed.append(f"{table}: unique {uq['column_names']}")
    engine.dispose()
    assert unnamed == []


def test_a_migration_that_rebuilds_a_table_keeps_the_rows_that_point_at_it(blank_url: str) -> None:
    """A county with villages and households, as a real database has: stepping the last migration down and up
    again (on SQLite it rebuilds the county table, which every place points at) keeps every row and reference."""
    engine = make_engine(blank_url)
    migrations.upgrade(engine)
    with Session(engine) as session:
        county = tenancy.create_county(session, code="mig", name="迁移县")
        township = tenancy.create_township(session, county=county, code="mig-t", name="迁移镇")
        village = tenancy.create_village(session, township=township, code="mig-v", name="迁移村")
        tenancy.create_household(session, village=village, code="mig-h1", name="王家", head_name="王建国")
        session.commit()
    previous = not_none(ScriptDirectory.from_config(migrations.config()).get_revision("head")).down_revision
    assert isinstance(previous, str)

    migrations.downgrade(engine, previous)
    migrations.upgrade(engine)

    assert migrations.at_head(engine)
    with Session(engine) as session:
        assert session.exec(select(tenancy.Household.code)).all() == ["mig-h1"]
        assert session.exec(select(tenancy.County.name)).all() == ["迁移县"]
    if not ON_POSTGRES:
        with engine.connect() as conn:  # references are enforced again afterwards, and none is broken
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    engine.dispose()
