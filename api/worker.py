"""`shanzhi worker`: the scheduled work as a process of its own (the production scheduler).

It runs `tick` every few seconds and logs one JSON line per tick. SIGTERM or SIGINT (systemd stopping it, Ctrl-C)
lets the step running finish, leaves the rest for the next tick and exits 0. It refuses to start, with a message
and a non-zero exit, when the database does not answer or its schema is behind this version: migrating is the
operator's act (`shanzhi db upgrade`), never a side effect of starting a scheduler.

Several workers may run at once (two servers, or a restart overlapping): each step is exactly once on PostgreSQL
(ledger/jobs.py: an advisory lock per step, row locks per item).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from types import FrameType

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from ledger import jobs
from ledger.core import migrations, outbox
from ledger.core.base import utcnow
from redemption import schedule

log = logging.getLogger("shanzhi.worker")


class NotReady(Exception):
    """The worker must not start: the message says why and what to do."""


def check_ready(engine: Engine) -> None:
    """Raise NotReady when the database does not answer or its schema is not at this version's head."""
    where = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = migrations.current_revision(engine)
    except SQLAlchemyError as error:
        raise NotReady(f"the database at {where} does not answer: {type(error).__name__}: {error}") from error
    head = migrations.head_revision()
    if current != head:
        raise NotReady(
            f"the database's schema is at {current or 'nothing'}, this version needs {head}: run `shanzhi db "
            "upgrade` first (the worker never migrates)"
        )


class Worker:
    """Runs the schedule every `seconds` until `stop()`; `days_ahead` moves the clock of what is due (a test
    clock: the caller decides whether it is allowed)."""

    def __init__(
        self,
        engine: Engine,
        *,
        seconds: float,
        days_ahead: float = 0,
        sink: outbox.Sink = outbox.log_sink,
        tick: Callable[..., jobs.TickReport] = schedule.tick,
    ) -> None:
        self.engine, self.seconds, self.days_ahead, self.sink, self._tick = engine, seconds, days_ahead, sink, tick
        self._stop = threading.Event()
        self.ticks = 0

    def stop(self, *_: object) -> None:
        self._stop.set()

    def stop_on_signals(self) -> None:
        """SIGTERM and SIGINT ask to stop; the step running finishes (the handler only sets a flag)."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("stopping", extra={"fields": {"signal": signal.Signals(signum).name}})
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self) -> None:
        log.info(
            "worker started",
            extra={"fields": {"every_seconds": self.seconds, "days_ahead": self.days_ahead}},
        )
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.seconds)
        log.info("worker stopped", extra={"fields": {"ticks": self.ticks}})

    def run_once(self) -> None:
        now = utcnow() + timedelta(days=self.days_ahead)
        if self.days_ahead:
            log.warning(
                "TEST CLOCK: running the schedule as of a later time (SHANZHI_TEST_CLOCK); points settle before "
                "their notice period ends",
                extra={"fields": {"as_of": now.isoformat(), "days_ahead": self.days_ahead}},
            )
        started = utcnow()
        try:
            report = self._tick(self.engine, sink=self.sink, now=now, stopping=self._stop.is_set)
        except Exception:  # noqa: BLE001  (a failed tick is logged and tried again next time)
            log.exception("tick failed")
            return
        self.ticks += 1
        fields: dict[str, object] = {
            **asdict(report),
            "seconds": round((utcnow() - started).total_seconds(), 3),
        }
        if self.days_ahead:
            fields["as_of"] = now.isoformat()
        log.info("tick", extra={"fields": fields})
