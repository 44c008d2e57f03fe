"""Scheduled work, run by `shanzhi tick` or by each API worker's loop every few seconds.

Each step runs in its own unit of work. On PostgreSQL a step first takes a transaction-level advisory lock; a
worker that cannot take it skips the step, because another worker is doing it right now. On SQLite every unit of
work begins with BEGIN IMMEDIATE, so steps run one at a time anyway. Every step also re-checks each row's state
under a row lock before acting on it, so running a step twice never acts twice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, text
from sqlmodel import Session

from ledger import expiry, outbox
from ledger.base import utcnow
from ledger.claims import notice, review
from ledger.db import unit_of_work
from ledger.journal import service as journal

log = logging.getLogger("shanzhi.jobs")


@dataclass
class TickReport:
    expired_claims: int = 0
    settled_claims: int = 0
    expired_transfers: int = 0
    expired_points_households: int = 0  # households whose settled points lapsed (ledger/expiry.py)
    expiry_warnings: int = 0  # households told their points lapse within 30 days
    delivered: int = 0
    failed_deliveries: int = 0
    done: dict[str, int] = field(default_factory=dict)  # what each step of a layer above did (see Step)
    skipped: list[str] = field(default_factory=list)  # steps another worker was running


# A step of a layer above the ledger (redemption: expiring vouchers): its name, and what it does in one unit of
# work, returning how many things it acted on.
Step = tuple[str, Callable[[Session, datetime], int]]
# A step that opens its own short units of work because it waits on the outside world in between (delivering
# partner webhooks): it gets the engine, and keeps two workers apart by itself (leases).
OwnStep = tuple[str, Callable[[Engine, datetime], int]]


def _lock_id(step: str) -> int:
    return int.from_bytes(hashlib.sha256(f"shanzhi:{step}".encode()).digest()[:8], "big", signed=True)


def _exclusive(session: Session, step: str) -> bool:
    """Hold this step for the rest of the unit of work; False when another worker holds it."""
    if session.connection().dialect.name != "postgresql":
        return True
    return bool(session.connection().execute(text("SELECT pg_try_advisory_xact_lock(:id)"),
                                             {"id": _lock_id(step)}).scalar())


def tick(engine: Engine, *, sink: outbox.Sink = outbox.log_sink, now: datetime | None = None,
         more: Sequence[Step] = (), own: Sequence[OwnStep] = ()) -> TickReport:
    """Run every step once. `more` are the steps of the layers above; they run after the ledger's own, before
    notifications are delivered (so what they tell goes out in the same tick). `own` run last, outside any unit
    of work of this function."""
    now = now or utcnow()
    report = TickReport()
    steps: list[tuple[str, Callable[[Session], None]]] = [
        ("expire_claims", lambda s: setattr(report, "expired_claims", review.expire_overdue(s, now=now))),
        ("settle_notice", lambda s: setattr(report, "settled_claims", notice.settle_due(s, now=now))),
        ("expire_transfers", lambda s: setattr(report, "expired_transfers", len(journal.expire_due(s, now=now)))),
        ("expire_points", lambda s: setattr(report, "expired_points_households", expiry.expire_due(s, now=now))),
        ("warn_points_expiry", lambda s: setattr(report, "expiry_warnings", expiry.warn_due(s, now=now))),
        *[(name, _counted(report, name, run, now)) for name, run in more],
        ("deliver", lambda s: _deliver(s, report, sink, now)),
    ]
    for name, step in steps:
        with unit_of_work(engine) as session:
            if not _exclusive(session, name):
                report.skipped.append(name)
                continue
            step(session)
    for name, run in own:
        report.done[name] = run(engine, now)
    return report


def _counted(report: TickReport, name: str, run: Callable[[Session, datetime], int], now: datetime
             ) -> Callable[[Session], None]:
    def step(session: Session) -> None:
        report.done[name] = run(session, now)

    return step


def _deliver(session: Session, report: TickReport, sink: outbox.Sink, now: datetime) -> None:
    report.delivered, report.failed_deliveries = outbox.deliver_due(session, sink, now=now)


class Loop:
    """Runs `tick` every `seconds` in a background thread until stopped (an API worker's scheduler)."""

    def __init__(self, engine: Engine, seconds: float, sink: outbox.Sink = outbox.log_sink,
                 more: Sequence[Step] = (), own: Sequence[OwnStep] = ()) -> None:
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
