"""Engines and sessions. SQLite runs in WAL mode and opens every transaction with BEGIN IMMEDIATE, so writers
queue instead of failing mid-transaction; PostgreSQL relies on row locks (see journal).

SQLite takes one writer at a time. Threads of one process that all knock on its lock are put off by its busy
handler, which sleeps and retries (up to 100 ms a time): under load the unlucky ones wait seconds. So within a
process every unit of work on a SQLite file first takes that file's lock in Python, where waiters are woken the
moment it is free; the busy timeout is left for other processes (more API workers, the CLI). It is a plain
lock, not a re-entrant one: FastAPI may finish a request's unit of work on another thread than the one that
began it, and a unit of work never opens another inside itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def make_engine(url: str, **kwargs: Any) -> Engine:
    if not is_sqlite(url):
        # No pre-ping: it costs a round trip on every checkout, a tenth of a journal write. A connection the
        # server dropped (a restart) fails its request with 503 database_unavailable, SQLAlchemy then discards
        # the whole pool, and the client retries with the same Idempotency-Key.
        kwargs.setdefault("pool_recycle", 1800)
        return create_engine(url, **kwargs)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's begin event below issue BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


_file_locks: dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def one_writer(engine: Engine) -> AbstractContextManager[Any]:
    """The in-process lock of a SQLite file (nothing to hold for PostgreSQL or an in-memory database)."""
    database = engine.url.database if is_sqlite(engine) else None
    if not database or database == ":memory:":
        return nullcontext()
    path = str(Path(database).resolve())
    with _file_locks_guard:
        return _file_locks.setdefault(path, threading.Lock())


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One database transaction: commits when the block ends, rolls back if it raises."""
    with one_writer(engine), Session(engine) as session, session.begin():
        yield session
