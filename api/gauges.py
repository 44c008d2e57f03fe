"""The figures /metrics reads from the database at each scrape: what waits (claims overdue for a decision, claims
past their notice period not yet settled, notifications and webhook deliveries not yet delivered). Read from the
database, they are right whichever API worker process answers the scrape, and whichever process did the work.

One short read-only transaction, one query per figure, each over an index (docs/alerts.md gives the figures of a
scrape on a large county). When the database does not answer, `shanzhi_database_up` is 0, and when its schema is
not at the newest migration `shanzhi_ready` is; the figures are left out then, rather than the scrape failing."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from ledger.claims import notice, review
from ledger.core import migrations, outbox
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.tenancy import County
from redemption import webhooks

log = logging.getLogger("shanzhi.metrics")
UP = "1 when the database answered this scrape"
READY = "1 when the database answers and its schema is at the code's newest migration, as /readyz says"
_head = functools.cache(migrations.head_revision)  # the code's newest migration does not change while it runs


def _age(since: datetime | None, now: datetime) -> float:
    return max((now - since).total_seconds(), 0.0) if since is not None else 0.0


def _backlog(name: str, what: str, backlog: outbox.Backlog, now: datetime) -> Iterator[Metric]:
    states = GaugeMetricFamily(name, f"{what} not delivered yet, by state (due, retrying, given_up)", labels=["state"])
    states.add_metric(["due"], backlog.due)
    states.add_metric(["retrying"], backlog.retrying)
    states.add_metric(["given_up"], backlog.given_up)
    yield states
    yield GaugeMetricFamily(
        f"{name}_oldest_due_seconds",
        f"How long the oldest due {what.lower()} has waited to go out (0 when none is due)",
        value=_age(backlog.oldest_due, now),
    )


class Backlog(Collector):
    """A collector over one engine; registered in a registry made for the scrape (api/observability.py)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        now = utcnow()
        try:
            ready = migrations.current_revision(self.engine) == _head()
        except SQLAlchemyError:
            log.exception("metrics: the database does not answer")
            yield GaugeMetricFamily("shanzhi_database_up", UP, value=0)
            yield GaugeMetricFamily("shanzhi_ready", READY, value=0)
            return
        yield GaugeMetricFamily("shanzhi_database_up", UP, value=1)
        yield GaugeMetricFamily("shanzhi_ready", READY, value=int(ready))
        if not ready:  # the figures' tables may not be there yet (or be other): none is read
            return
        try:
            with unit_of_work(self.engine) as session:  # on SQLite, between two writers like any other
                counties = {int(i): str(code) for i, code in session.execute(select(col(County.id), col(County.code)))}
                overdue = review.overdue_by_county(session, now=now)
                settling, oldest_notice = notice.backlog(session, now=now)
                notifications = outbox.backlog(session, now=now)
                deliveries = webhooks.backlog(session, now=now)
        except SQLAlchemyError:
            log.exception("metrics: the database figures could not be read")
            return
        overdue_family = GaugeMetricFamily(
            "shanzhi_claims_overdue",
            "Claims undecided past their county's overdue hours, by county",
            labels=["county"],
        )
        for county_id, count in sorted(overdue.items()):
            overdue_family.add_metric([counties.get(county_id, str(county_id))], count)
        yield overdue_family
        yield GaugeMetricFamily(
            "shanzhi_settlement_backlog",
            "Approved claims whose notice period is over, without an open objection, not yet settled",
            value=settling,
        )
        yield GaugeMetricFamily(
            "shanzhi_settlement_backlog_oldest_seconds",
            "How long ago the notice period of the oldest claim waiting to be settled ended (0 when none waits)",
            value=_age(oldest_notice, now),
        )
        yield from _backlog("shanzhi_notifications", "Notifications (SMS and other channels)", notifications, now)
        yield from _backlog("shanzhi_webhook_deliveries", "Partner webhook deliveries", deliveries, now)
        yield GaugeMetricFamily(
            "shanzhi_metrics_query_seconds",
            "How long this scrape's database figures took to read",
            value=time.perf_counter() - started,
        )
