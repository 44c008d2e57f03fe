"""How long /metrics takes to read its database figures (api/gauges.py) on a large database.

    python bench/metrics_scrape.py --database sqlite:///var/big.db --claims 2000000 --notifications 1000000

Starts from a migrated database with a county in it (e.g. `shanzhi demo --no-serve`), and grows it: it copies the
settled claims, delivered notifications and webhook deliveries it finds until there are as many as asked (the
history every figure must not read), then adds what waits: pending claims (a tenth of them overdue), approved
claims past their notice period, undelivered notifications. Then it reads the figures ten times and prints them,
with the median and the worst time of a read.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine, text

from api.gauges import Backlog
from ledger.core.base import utcnow
from ledger.core.db import make_engine


def count(engine: Engine, table: str, where: str = "1 = 1") -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one())  # noqa: S608


def grow(engine: Engine, claims: int, notifications: int, deliveries: int) -> None:
    columns = (
        "county_id, village_id, household_id, matter_id, points, period_key, proxy, entered_by, submitted_at, "
        "decided_at, decided_by, notice_until, settled_at, flags"
    )
    while count(engine, "claim") < claims:
        with engine.begin() as conn:
            conn.execute(
                text(
                    f"INSERT INTO claim ({columns}, status, award_reason) SELECT {columns}, 'settled', 'bench' "  # noqa: S608
                    "FROM claim WHERE status = 'settled'"
                )
            )
    n = 0
    while count(engine, "notification") < notifications:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO notification (county_id, household_id, kind, payload, created_at, attempts, "
                    "next_attempt_at, delivered_at) SELECT county_id, household_id, kind, payload, created_at, 1, "
                    "next_attempt_at, coalesce(delivered_at, created_at) FROM notification"
                )
            )
    partner = None
    with engine.connect() as conn:
        partner = conn.execute(text("SELECT id, county_id FROM partner ORDER BY id")).first()
    assert partner is not None, "the database has no partner: start from the demo"
    now = utcnow()
    while count(engine, "webhook_delivery") < deliveries:
        n += 1
        have = count(engine, "webhook_delivery")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO webhook_delivery (id, partner_id, county_id, event, payload, created_at, attempts, "
                    "next_attempt_at, delivered_at) VALUES (:id, :p, :c, 'voucher.used', '{}', :t, 1, :t, :t)"
                ),
                [
                    {"id": f"b{n}-{i}", "p": partner.id, "c": partner.county_id, "t": now}
                    for i in range(max(min(deliveries - have, 50_000), 1))
                ],
            )
    with engine.begin() as conn:  # what waits: a few hundred rows among the history
        pending = f"INSERT INTO claim ({columns}, status, award_reason) SELECT {columns}, :status, 'bench' "  # noqa: S608
        pending += "FROM claim WHERE status = 'settled' LIMIT :n"
        conn.execute(text(pending), {"status": "pending", "n": 500})
        conn.execute(
            text("UPDATE claim SET submitted_at = :old, decided_at = NULL, settled_at = NULL WHERE status = 'pending'"),
            {"old": now - timedelta(hours=30)},
        )
        conn.execute(text(pending), {"status": "approved", "n": 200})
        conn.execute(
            text("UPDATE claim SET notice_until = :past, settled_at = NULL WHERE status = 'approved'"),
            {"past": now - timedelta(hours=2)},
        )
        conn.execute(
            text("UPDATE notification SET delivered_at = NULL WHERE id IN (SELECT id FROM notification LIMIT 300)")
        )


def scrape(engine: Engine) -> tuple[float, str]:
    registry = CollectorRegistry()
    registry.register(Backlog(engine))
    started = time.perf_counter()
    body = generate_latest(registry).decode()
    return time.perf_counter() - started, body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database", required=True)
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--notifications", type=int, default=1_000_000)
    parser.add_argument("--deliveries", type=int, default=200_000)
    args = parser.parse_args()
    engine = make_engine(args.database)
    started = time.perf_counter()
    grow(engine, args.claims, args.notifications, args.deliveries)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    print(f"grown in {time.perf_counter() - started:.0f} s")
    print(
        f"claims {count(engine, 'claim')}, notifications {count(engine, 'notification')}, "
        f"webhook deliveries {count(engine, 'webhook_delivery')}"
    )
    timings = []
    body = ""
    for _ in range(10):
        seconds, body = scrape(engine)
        timings.append(seconds)
    for line in body.splitlines():
        if not line.startswith("#"):
            print(line)
    print(
        f"metrics_scrape database={engine.dialect.name} median_ms={statistics.median(timings) * 1000:.1f} "
        f"max_ms={max(timings) * 1000:.1f}"
    )


if __name__ == "__main__":
    main()
