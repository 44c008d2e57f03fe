"""Rescoring a whole county: our batch (`scoring.ratings.rescore_county`) against a bare SQL aggregation over the
same postings, on a synthetic county.

The generator writes N households (with their accounts) in 100 villages and M postings: M/2 settled awards
(village issuance → household, a matter of the default catalogue, spread over 30 months), plus deductions for
one household in twenty. Chain hashes are not computed (rescoring does not read them). The households' monthly
summary that the journal keeps as it posts (`household_month`) is then filled the way the migration fills it from
an existing journal (`ledger.journal.months.backfill`, timed and printed apart). Then, each in a fresh process so
its peak memory is its own:

  bare  SELECT account_id, SUM(amount) FROM posting GROUP BY account_id   (fetching every row)
  ours  every household rated as of now, features from the monthly summary + pandas, ratings written

Ends with:  rescore ratio=<ours/bare_sql> seconds=<ours> peak_rss_mb=<ours>
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scratch import postgres_schema  # noqa: E402
from sqlalchemy import text  # noqa: E402

from ledger import tenancy  # noqa: E402
from ledger.catalogue import service as catalogue  # noqa: E402
from ledger.core import migrations  # noqa: E402
from ledger.core.base import row_id, table_of  # noqa: E402
from ledger.core.db import make_engine, unit_of_work  # noqa: E402
from ledger.journal import months  # noqa: E402

VILLAGES = 100
CHUNK = 20_000


def generate(url: str, households: int, postings: int, seed: int = 11) -> tuple[int, float]:
    """Fill an empty, migrated database; returns the county id and the seconds the monthly summary took."""
    engine = make_engine(url)
    migrations.upgrade(engine)
    rng = random.Random(seed)
    with unit_of_work(engine) as session:
        county = tenancy.create_county(session, code="bench", name="Bench")
        township = tenancy.create_township(session, county=county, code="bench-t", name="T")
        villages = [
            tenancy.create_village(session, township=township, code=f"bench-v{n}", name=f"V{n}")
            for n in range(VILLAGES)
        ]
        catalogue.load_default(session, county_id=row_id(county.id))
        codes = [
            m.code for m in catalogue.effective(session, county_id=row_id(county.id), village_id=None) if m.points > 0
        ]
        deduction_matter = catalogue.current(
            session,
            county_id=row_id(county.id),
            village_id=None,
            code="breaking_village_rules",
        ).id
        issuance = {
            v.id: session.execute(
                text("SELECT id FROM account WHERE village_id = :v AND kind = 'issuance'"), {"v": v.id}
            ).scalar_one()
            for v in villages
        }
        county_id = row_id(county.id)
        village_ids = [v.id for v in villages]
    now = datetime.now(UTC)
    moment = table_of(tenancy.Household).c.created_at.type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
    stamp: Callable[[Any], Any] = moment or (
        lambda value: value
    )  # the form the ORM stores a moment in (text on SQLite)
    conn = engine.raw_connection()
    cursor = conn.cursor()
    placeholder = "?" if engine.dialect.name == "sqlite" else "%s"

    def insert(table: str, columns: list[str], rows: Sequence[tuple[object, ...]]) -> None:
        marks = ", ".join([placeholder] * len(columns))
        if engine.dialect.name == "sqlite" and not conn.in_transaction:  # the raw connection autocommits
            cursor.execute("BEGIN")
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def largest_id(table: str) -> int:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        row = cursor.fetchone()
        assert row is not None  # an aggregate answers one row
        return int(row[0])

    first_household = largest_id("household") + 1
    first_account = largest_id("account") + 1
    for start in range(0, households, CHUNK):
        part = range(start, min(start + CHUNK, households))
        homes, people, accounts, balances = [], [], [], []
        for n in part:
            hid, village = first_household + n, village_ids[n % VILLAGES]
            homes.append((hid, county_id, village, f"bh{n}", f"H{n}", stamp(now), 0))
            people.append((hid, f"Head {n}", True, stamp(now)))
            for k, kind in enumerate(("household", "notice")):
                aid = first_account + 2 * n + k
                accounts.append((aid, f"bh{n}:{kind}", kind, county_id, village, hid, stamp(now)))
                balances.append((aid, 0, 0, 0, 0, stamp(now)))
        insert("household", ["id", "county_id", "village_id", "code", "name", "created_at", "record_seq"], homes)
        insert("person", ["household_id", "name", "is_head", "created_at"], people)
        insert("account", ["id", "code", "kind", "county_id", "village_id", "household_id", "created_at"], accounts)
        insert(
            "account_balance",
            ["account_id", "posted", "pending_debit", "pending_credit", "earned", "updated_at"],
            balances,
        )
        conn.commit()
    next_tx = largest_id("journal_transaction") + 1
    seq = dict.fromkeys(village_ids, 0)
    awards = postings // 2
    for start in range(0, awards, CHUNK * 5):
        txs, legs = [], []
        for _ in range(start, min(start + CHUNK * 5, awards)):
            n = rng.randrange(households)
            village = village_ids[n % VILLAGES]
            seq[village] += 1
            when = stamp(now - timedelta(days=rng.randrange(900), seconds=rng.randrange(86_400)))
            txs.append(
                (
                    next_tx,
                    county_id,
                    village,
                    seq[village],
                    "transfer",
                    rng.choice(codes),
                    "bench",
                    when,
                    when,
                    "0" * 64,
                    "0" * 64,
                )
            )
            amount = rng.choice((2, 3, 5, 5, 10))
            legs.append((next_tx, issuance[village], -amount, county_id, village))
            legs.append((next_tx, first_account + 2 * n, amount, county_id, village))
            next_tx += 1
        insert(
            "journal_transaction",
            [
                "id",
                "county_id",
                "village_id",
                "chain_seq",
                "kind",
                "reason",
                "actor",
                "created_at",
                "effective_at",
                "prev_hash",
                "hash",
            ],
            txs,
        )
        insert("posting", ["transaction_id", "account_id", "amount", "county_id", "village_id"], legs)
        conn.commit()
    deductions = [
        (
            county_id,
            village_ids[n % VILLAGES],
            first_household + n,
            deduction_matter,
            5,
            0,
            5,
            "bench",
            "in_force",
            "bench",
            stamp(now - timedelta(days=rng.randrange(700))),
        )
        for n in range(0, households, 20)
    ]
    insert(
        "deduction",
        [
            "county_id",
            "village_id",
            "household_id",
            "matter_id",
            "points",
            "posted",
            "unpaid",
            "reason",
            "status",
            "recorded_by",
            "recorded_at",
        ],
        deductions,
    )
    conn.commit()
    conn.close()
    started = time.perf_counter()
    with engine.begin() as summary:
        months.backfill(summary)
    summarised = time.perf_counter() - started
    with engine.begin() as analyse:
        analyse.exec_driver_sql("ANALYZE")
    engine.dispose()
    return county_id, summarised


def _bare(url: str, out: Queue[tuple[float, int, float]]) -> None:
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT account_id, SUM(amount) FROM posting GROUP BY account_id")).all()
    out.put((time.perf_counter() - started, len(rows), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def _ours(url: str, county_id: int, out: Queue[tuple[float, Any, float]]) -> None:
    from scoring import ratings

    engine = make_engine(url)
    started = time.perf_counter()
    with unit_of_work(engine) as session:
        done = ratings.rescore_county(session, county_id)
    out.put((time.perf_counter() - started, done, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def measure(target: Callable[..., None], *args: object) -> tuple[float, Any, float]:
    """Run target in a fresh process: (seconds, its answer, peak memory in MB)."""
    ctx = multiprocessing.get_context("spawn")
    out: Queue[tuple[float, Any, float]] = ctx.Queue()
    process = ctx.Process(target=target, args=(*args, out))
    process.start()
    result = out.get()
    process.join()
    return result


def run(url: str, label: str, households: int, postings: int) -> tuple[float, float, float]:
    started = time.perf_counter()
    county_id, summarised = generate(url, households, postings)
    print(
        f"  {label}: generated {households} households and {postings} postings in {time.perf_counter() - started:.0f} s"
        f" (of which the monthly summary from the postings {summarised:.1f} s)"
    )
    bare_seconds, groups, bare_rss = measure(_bare, url)
    ours_seconds, done, ours_rss = measure(_ours, url, county_id)
    print(f"  {label} bare SQL GROUP BY account  {bare_seconds:8.1f} s  ({groups} accounts, peak {bare_rss:.0f} MB)")
    print(
        f"  {label} ours: rescore the county  {ours_seconds:8.1f} s  ({done.households} households, {done.rated} "
        f"rated; loading {done.seconds_loading:.1f} s, scoring {done.seconds_scoring:.1f} s, writing "
        f"{done.seconds_writing:.1f} s; peak {ours_rss:.0f} MB)"
    )
    return ours_seconds / bare_seconds, ours_seconds, ours_rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--postings", type=int, default=20_000_000)
    parser.add_argument("--database", help="a PostgreSQL URL: run there too")
    parser.add_argument("--small", action="store_true", help="100 000 households and 2 000 000 postings")
    args = parser.parse_args()
    if args.small:
        args.households, args.postings = 100_000, 2_000_000
    print(f"rescore: {args.households} households, {args.postings} postings, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        ratio, seconds, rss = run(f"sqlite:///{tmp}/rescore.db", "SQLite", args.households, args.postings)
    if args.database:
        with postgres_schema(args.database, f"rescore_{os.getpid()}") as scoped:
            pg_ratio, pg_seconds, pg_rss = run(scoped, "PostgreSQL", args.households, args.postings)
        print(f"  PostgreSQL: rescore ratio={pg_ratio:.2f} seconds={pg_seconds:.1f} peak_rss_mb={pg_rss:.0f}")
    print(f"rescore ratio={ratio:.2f} seconds={seconds:.1f} peak_rss_mb={rss:.0f}")


if __name__ == "__main__":
    main()
