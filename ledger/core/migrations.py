"""Run Alembic from code: start-up, the CLI and the tests all go through here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from alembic import command

ROOT = Path(__file__).resolve().parents[2]  # the checkout: ledger/core/ → ledger/ → .
ALEMBIC_DIR = ROOT / "alembic"


def config() -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    _run(engine, lambda cfg: command.upgrade(cfg, revision))


def downgrade(engine: Engine, revision: str = "base") -> None:
    _run(engine, lambda cfg: command.downgrade(cfg, revision))


def _run(engine: Engine, step: Callable[[Config], None]) -> None:
    """One migration run in one transaction. On SQLite, a migration that changes a constraint rebuilds the table
    (copy, drop, rename); dropping a table other rows point at fails while foreign keys are enforced, so they are
    off for the run (SQLite only lets that change outside a transaction) and every reference is checked before
    the transaction commits: a migration that broke one is rolled back."""
    cfg = config()
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _pragma(conn, "PRAGMA foreign_keys = OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                step(cfg)
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration left rows pointing at nothing: {broken[:5]}")
        finally:
            if sqlite:
                _pragma(conn, "PRAGMA foreign_keys = ON")


def _pragma(conn: Connection, statement: str) -> None:
    """A PRAGMA outside any transaction, on the driver's connection (SQLAlchemy would begin one first)."""
    conn.connection.driver_connection.execute(statement)  # type: ignore[union-attr]  # sqlite3's connection


def head_revision() -> str | None:
    return ScriptDirectory.from_config(config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def at_head(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
