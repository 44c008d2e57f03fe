"""Alembic environment: the only way Shanzhi's schema is made."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlmodel import SQLModel

import ledger.tables  # noqa: F401  (registers every table on SQLModel.metadata)
import redemption.tables  # noqa: F401
import scoring.tables  # noqa: F401
from alembic import context
from ledger.core.db import make_engine
from ledger.core.settings import get_settings

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # handed in by ledger.core.migrations (tests, start-up, CLI)
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run them against a database.")
run_migrations_online()
