"""Scheduled work, run by `shanzhi worker` (a process of its own), by `shanzhi tick` (once), or in dev mode by the
API's loop every few seconds.

Each step runs in its own unit of work. On PostgreSQL a step first takes a transaction-level advisory lock; a
worker that cannot take it skips the step, because another worker is doing it right now. On SQLite every unit of
work begins with BEGIN IMMEDIATE, so steps run one at a time anyway. Every step also re-checks each row's state
under a row lock before acting on it, so running a step twice never acts twice.

One bad record never stops the schedule (ledger/core/failures.py): each item of a step runs in a savepoint of its own
and a failing one is rolled back alone, skipped and recorded; a step that fails as a whole is rolled back, recorded
in a unit of work of its own, and the next step runs.

Time: `now` says what is due (`shanzhi tick --days-ahead` moves it in a demo). What a step writes takes its time
from the journal transaction it writes, stamped by the journal's own clock (ledger.core.base.utcnow, the real time): a
record never says it happened at another moment than its journal entry, and no entry is dated in the future.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import Histogram
from sqlalchemy import Engine, text
from sqlmodel import Session

from ledger import expiry
from ledger.claims import escalation, notice, review
from ledger.concerns import deadlines as concern_deadlines
from ledger.core import failures, outbox
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.journal import service as journal

log = logging.getLogger("shanzhi.jobs")

# Not in any registry here: api/observability.py adds it to the one /metrics shows. A step another worker was
# running (skipped) is not observed; a step that failed as a whole is, and counted in failures.FAILURES too.
STEP_SECONDS = Histogram(
    "shanzhi_tick_step_seconds",
    "How long each step of the scheduled work took, by step",
    ["step"],
    registry=None,
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)


@dataclass
class TickReport:
    expired_claims: int = 0
    escalated_claims: int = 0  # claims not decided within the county's overdue hours, sent to the supervisor
    overdue_concerns: int = 0  # concerns whose step passed its deadline: flagged, a level up, supervisor told
    auto_closed_concerns: int = 0  # resolved concerns nobody evaluated within the county's days, closed
    settled_claims: int = 0
    expired_transfers: int = 0
    expired_points_households: int = 0  # households whose settled points lapsed (ledger/expiry.py)
    expiry_warnings: int = 0  # households told their points lapse within 30 days
    delivered: int = 0
    failed_deliveries: int = 0
    done: dict[str, int] = field(default_factory=dict)  # what each step of a layer above did (see Step)
    skipped: list[str] = field(default_factory=list)  # steps another worker was running
    failed_items: dict[str, int] = field(default_factory=dict)  # per step, items skipped because they failed
    failed_steps: list[str] = field(default_factory=list)  # steps that failed as a whole (rolled back, recorded)
    not_run: list[str] = field(default_factory=list)  # steps left for the next tick: the worker was asked to stop


# A step of a layer above the ledger (redemption: expiring vouchers): its name, and what it does in one unit of
# work, returning how many things it acted on.
Step = tuple[str, Callable[[Session, datetime], int]]
# A step that opens its own short units of work because it waits on the outside world in between (delivering
# partner webhooks): it gets the engine, and keeps two workers apart by itself (leases).
OwnStep = tuple[str, Callable[[Engine, datetime], int]]


def _lock_id(step: str) -> int:
    return int.from_bytes(hashlib.sha256(f"shanzhi:{step}".encode()).digest()[:8], "big", signed=True)


WAITED_FOR = {outbox.STEP}  # a step whose work another worker may have just added: wait for it, do not skip


def _exclusive(session: Session, step: str) -> bool:
    """Hold this step for the rest of the unit of work; False when another worker holds it. Delivery waits
    instead: a worker that has just settled claims would otherwise find another delivering what was committed
    before its settlement, skip, and leave its own notices for the next tick. Waiting is safe: each statement
    after the lock reads what the other worker committed, so nothing is delivered twice."""
    if session.connection().dialect.name != "postgresql":
        return True
    if step in WAITED_FOR:
        session.connection().execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _lock_id(step)})
        return True
    return bool(
        session.connection().execute(text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _lock_id(step)}).scalar()
    )


def tick(
    engine: Engine,
    *,
    sink: outbox.Sink = outbox.log_sink,
    now: datetime | None = None,
    more: Sequence[Step] = (),
    own: Sequence[OwnStep] = (),
    stopping: Callable[[], bool] = lambda: False,
) -> TickReport:
    """Run every step once. `more` are the steps of the layers above; they run after the ledger's own, before
    notifications are delivered (so what they tell goes out in the same tick). `own` run last, outside any unit
    of work of this function. When `stopping()` turns true (a worker told to stop), the step running finishes
    and the rest are left for the next tick: each step is whole on its own, so nothing is half done."""
    now = now or utcnow()
    report = TickReport()
    steps: list[tuple[str, Callable[[Session], None]]] = [
        (review.STEP_EXPIRE, lambda s: setattr(report, "expired_claims", review.expire_overdue(s, now=now))),
        (escalation.STEP, lambda s: setattr(report, "escalated_claims", escalation.escalate_due(s, now=now))),
        (
            concern_deadlines.STEP_OVERDUE,
            lambda s: setattr(report, "overdue_concerns", concern_deadlines.escalate_overdue(s, now)),
        ),
        (
            concern_deadlines.STEP_AUTO_CLOSE,
            lambda s: setattr(report, "auto_closed_concerns", concern_deadlines.close_resolved(s, now)),
        ),
        (notice.STEP, lambda s: setattr(report, "settled_claims", notice.settle_due(s, now=now))),
        (journal.STEP_EXPIRE, lambda s: setattr(report, "expired_transfers", len(journal.expire_due(s, now=now)))),
        (expiry.STEP_EXPIRE, lambda s: setattr(report, "expired_points_households", expiry.expire_due(s, now=now))),
        (expiry.STEP_WARN, lambda s: setattr(report, "expiry_warnings", expiry.warn_due(s, now=now))),
        *[(name, _counted(report, name, run, now)) for name, run in more],
        (outbox.STEP, lambda s: _deliver(s, report, sink, now)),
    ]
    for name, step in steps:
        if stopping():
            report.not_run.append(name)
            continue
        started = time.perf_counter()
        try:
            with unit_of_work(engine) as session:
                if not _exclusive(session, name):
                    report.skipped.append(name)
                    continue
                step(session)
                if session.info.get(failures.FAILED_ITEMS):
                    report.failed_items[name] = session.info[failures.FAILED_ITEMS]
                failures.succeeded(session, step=name, kind=failures.STEP, record_id=None)
            STEP_SECONDS.labels(step=name).observe(time.perf_counter() - started)
        except Exception as error:  # noqa: BLE001  (a step that fails as a whole must not stop the others)
            STEP_SECONDS.labels(step=name).observe(time.perf_counter() - started)
            _step_failed(engine, report, name, error)
    for name, run in own:
        if stopping():
            report.not_run.append(name)
            continue
        started = time.perf_counter()
        try:
            report.done[name] = run(engine, now)
            with unit_of_work(engine) as session:
                failures.succeeded(session, step=name, kind=failures.STEP, record_id=None)
        except Exception as error:  # noqa: BLE001
            _step_failed(engine, report, name, error)
        STEP_SECONDS.labels(step=name).observe(time.perf_counter() - started)
    return report


def _step_failed(engine: Engine, report: TickReport, name: str, error: Exception) -> None:
    """A step failed as a whole (its items' own failures are caught inside it): what it did is rolled back; log,
    count and record it, then go on with the next step."""
    report.failed_steps.append(name)
    try:
        with unit_of_work(engine) as session:
            failures.failed(session, step=name, kind=failures.STEP, record_id=None, county_id=None, error=error)
    except Exception:  # noqa: BLE001  (the database itself is failing: the log and the counter still tell)
        log.exception("could not record a failed step", extra={"fields": {"step": name}})


def _counted(
    report: TickReport, name: str, run: Callable[[Session, datetime], int], now: datetime
) -> Callable[[Session], None]:
    def step(session: Session) -> None:
        report.done[name] = run(session, now)

    return step


def _deliver(session: Session, report: TickReport, sink: outbox.Sink, now: datetime) -> None:
    report.delivered, report.failed_deliveries = outbox.deliver_due(session, sink, now=now)


class Loop:
    """Runs `tick` every `seconds` in a background thread until stopped (an API worker's scheduler)."""

    def __init__(
        self,
        engine: Engine,
        seconds: float,
        sink: outbox.Sink = outbox.log_sink,
        more: Sequence[Step] = (),
        own: Sequence[OwnStep] = (),
    ) -> None:
        self.engine, self.seconds, self.sink, self.more, self.own = engine, seconds, sink, more, own
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="shanzhi-tick", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.seconds + 30)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                tick(self.engine, sink=self.sink, more=self.more, own=self.own)
            except Exception:  # noqa: BLE001  (a failed tick is logged and tried again next time)
                log.exception("scheduled work failed")
