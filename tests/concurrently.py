"""Running work at the same moment: threads on SQLite (one engine), separate processes on PostgreSQL (an engine
each). Every worker connects first and then waits at a barrier, so the work really contends."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine

from ledger.core.db import make_engine
from ledger.core.errors import DomainError
from tests.conftest import ON_POSTGRES

Work = Callable[[Engine, Any], str]


def outcome(engine: Engine, work: Work, arg: Any) -> str:
    try:
        return work(engine, arg)
    except DomainError as error:
        return error.code


def _in_process(url: str, work: Work, arg: Any, barrier: Any, results: Any) -> None:
    engine = make_engine(url)
    engine.connect().close()  # connect before the start line
    barrier.wait()
    results.put(outcome(engine, work, arg))
    engine.dispose()


def run_together(url: str, work: Work, args: list[Any]) -> list[str]:
    """Run work(engine, arg) for every arg at once: threads sharing one engine on SQLite, one process per
    arg with its own engine on PostgreSQL. Returns each outcome: the work's result or the error's code."""
    if ON_POSTGRES:
        ctx = multiprocessing.get_context("fork")
        barrier, results = ctx.Barrier(len(args)), ctx.Queue()
        workers = [ctx.Process(target=_in_process, args=(url, work, arg, barrier, results)) for arg in args]
        for worker in workers:
            worker.start()
        found = [results.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        assert all(w.exitcode == 0 for w in workers)
        return found
    engine = make_engine(url, pool_size=len(args), max_overflow=0)
    together = threading.Barrier(len(args))

    def in_thread(arg: Any) -> str:
        with engine.connect():
            pass
        together.wait()
        return outcome(engine, work, arg)

    with ThreadPoolExecutor(max_workers=len(args)) as pool:
        found = list(pool.map(in_thread, args))
    engine.dispose()
    return found
