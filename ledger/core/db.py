"""Engines and sessions. SQLite runs in WAL mode with synchronous=FULL (an acknowledged write is on disk) and opens
every transaction with BEGIN IMMEDIATE, so writers queue instead of failing mid-transaction; PostgreSQL relies on
row locks (see journal).

SQLite takes one writer at a time. Threads of one process that all knock on its lock are put off by its busy
handler, which sleeps and retries (up to 100 ms a time): under load the unlucky ones wait seconds. So within a
process every unit of work on a SQLite file first takes that file's lock in Python, where waiters are woken the
moment it is free; the busy timeout is left for other processes (more API workers, the CLI). It is a plain
lock, not a re-entrant one: FastAPI may finish a request's unit of work on another thread than the one that
began it, and a unit of work never opens another inside itself.

Waiting for that lock holds a thread. The API therefore queues its requests for a SQLite file before they take a
thread (api/deps.py: get_session); should threads still pile up on the lock, a waiter gives up after the busy
timeout with `WriterBusy` (503) instead of waiting for ever on a holder that needs a thread to finish.
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


class WriterBusy(Exception):
    """No turn at a SQLite file's writer lock within the busy timeout (the service is overloaded)."""


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
        # FULL: a commit is synced to disk before it is acknowledged, so a posted point survives an OS crash or a
        # power cut (NORMAL in WAL mode may lose the last commits then). docs/benchmarks.md records the cost.
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


_file_locks: dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def writes_one_at_a_time(engine: Engine) -> bool:
    """A SQLite file: one writer at a time, and every unit of work here writes (BEGIN IMMEDIATE)."""
    database = engine.url.database if is_sqlite(engine) else None
    return bool(database) and database != ":memory:"


def connections_at_once(engine: Engine) -> int | None:
    """How many units of work of this process can hold a connection at once: one for a SQLite file (one writer),
    the pool's size and overflow for a server database; None when there is no such limit."""
    if is_sqlite(engine):
        return 1 if writes_one_at_a_time(engine) else None
    size = getattr(engine.pool, "size", None)
    return size() + max(getattr(engine.pool, "_max_overflow", 0), 0) if callable(size) else None


def one_writer(engine: Engine) -> AbstractContextManager[Any]:
    """The in-process lock of a SQLite file (nothing to hold for PostgreSQL or an in-memory database)."""
    if not writes_one_at_a_time(engine):
        return nullcontext()
    path = str(Path(engine.url.database or "").resolve())
    with _file_locks_guard:
        lock = _file_locks.setdefault(path, threading.Lock())
    return _held(lock)


@contextmanager
def _held(lock: threading.Lock) -> Iterator[None]:
    if not lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
        raise WriterBusy("The database is busy; try again shortly.")
    try:
        yield
    finally:
        lock.release()


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One database transaction: commits when the block ends, rolls back if it raises."""
    with one_writer(engine), Session(engine) as session, session.begin():
        yield session
