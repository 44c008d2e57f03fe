"""The scheduled work of the whole product: the ledger's steps (ledger/jobs.py) and redemption's.

`shanzhi tick`, `shanzhi worker` and (in dev mode) the API's loop run `tick` here; tests of the ledger alone may
call `ledger.jobs.tick`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from ledger import jobs
from ledger.core import outbox
from redemption import vouchers, webhooks
from scoring import retention

STEPS: list[jobs.Step] = [
    (vouchers.STEP_EXPIRE, lambda session, now: vouchers.expire_due(session, now)),
    # people's data past its retention period (docs/privacy.md)
    (retention.STEP, retention.step),
]
# Webhooks go out last, each send outside any transaction (a slow partner must not hold the database).
OWN_STEPS: list[jobs.OwnStep] = [(webhooks.STEP, webhooks.deliver_step)]


def tick(
    engine: Engine,
    *,
    sink: outbox.Sink = outbox.log_sink,
    now: datetime | None = None,
    steps: list[jobs.Step] | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> jobs.TickReport:
    return jobs.tick(
        engine, sink=sink, now=now, more=STEPS if steps is None else steps, own=OWN_STEPS, stopping=stopping
    )
