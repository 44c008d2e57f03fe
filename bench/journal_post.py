"""Journal posting throughput: our service against the same-shaped work in raw sqlite3.

One transfer per database transaction, in-process, no HTTP. On a SQLite file (WAL, synchronous=FULL, the
settings the service runs with) it runs

  ours  ledger.journal.service.transfer(...) inside ledger.core.db.unit_of_work, as a request would;
  raw   the stdlib sqlite3 module doing the same shape of work on an identically migrated file: read the
        village's chain head, hash the link, insert the transaction and its two postings, update the two
        balance rows and the head, commit.

With --database postgresql+psycopg://… it also runs the service on PostgreSQL with 1 and with 8 concurrent
writer processes (each writer posts in a village of its own, as villages do not wait on each other), beside raw
psycopg doing the same shape of work as raw sqlite3 above, one statement at a time.

The last line is the one CI logs and docs/benchmarks.md records:
  journal_post ratio=<ours/raw> ours=<n>/s raw=<n>/s
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scratch import postgres_schema  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from ledger import tenancy  # noqa: E402
from ledger.core import migrations  # noqa: E402
from ledger.core.base import row_id
from ledger.core.db import make_engine, unit_of_work  # noqa: E402
from ledger.journal import accounts  # noqa: E402
from ledger.journal import service as journal  # noqa: E402
from ledger.journal.models import AccountKind  # noqa: E402


def seed(url: str, villages: int = 1) -> list[tuple[int, int]]:
    """A county with `villages` villages of one household each; returns (issuance, household) account ids."""
    engine = make_engine(url)
    migrations.upgrade(engine)
    pairs = []
    with unit_of_work(engine) as session:
        county = tenancy.create_county(session, code="bench", name="Bench")
        township = tenancy.create_township(session, county=county, code="bench-t", name="T")
        for n in range(villages):
            village = tenancy.create_village(session, township=township, code=f"bench-v{n}", name=f"V{n}")
            household = tenancy.create_household(
                session, village=village, code=f"bench-h{n}", name="H", head_name="Head"
            )
            pairs.append(
                (
                    row_id(accounts.of_village(session, row_id(village.id), AccountKind.ISSUANCE).id),
                    row_id(accounts.of_household(session, row_id(household.id)).id),
                )
            )
    engine.dispose()
    return pairs


def run_ours(url: str, debit: int, credit: int, seconds: float) -> tuple[int, float]:
    engine = make_engine(url)
    done, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(50):
            with unit_of_work(engine) as session:
                journal.transfer(session, debit=debit, credit=credit, amount=1, reason="bench", actor="bench")
        done += 50
    elapsed = time.perf_counter() - started
    engine.dispose()
    return done, elapsed


def run_raw(path: str, village_id: int, debit: int, credit: int, seconds: float) -> tuple[int, float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute(
        "INSERT OR IGNORE INTO chain_head (village_id, county_id, seq, hash, updated_at) "
        "SELECT id, county_id, 0, ?, ? FROM village WHERE id = ?",
        ("0" * 64, datetime.now(UTC).isoformat(), village_id),
    )
    county_id = conn.execute("SELECT county_id FROM village WHERE id = ?", (village_id,)).fetchone()[0]
    done, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(50):
            now = datetime.now(UTC).isoformat()
            conn.execute("BEGIN IMMEDIATE")
            seq, prev = conn.execute("SELECT seq, hash FROM chain_head WHERE village_id = ?", (village_id,)).fetchone()
            body = json.dumps(
                {"seq": seq + 1, "postings": [[debit, -1], [credit, 1]], "created": now}, sort_keys=True
            ).encode()
            link = hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()
            tx_id = conn.execute(
                "INSERT INTO journal_transaction (county_id, village_id, chain_seq, kind, reason, actor, created_at,"
                " effective_at, prev_hash, hash) VALUES (?, ?, ?, 'transfer', 'bench', 'bench', ?, ?, ?, ?)",
                (county_id, village_id, seq + 1, now, now, prev, link),
            ).lastrowid
            conn.executemany(
                "INSERT INTO posting (transaction_id, account_id, amount, county_id, village_id)"
                " VALUES (?, ?, ?, ?, ?)",
                [(tx_id, debit, -1, county_id, village_id), (tx_id, credit, 1, county_id, village_id)],
            )
            conn.executemany(
                "UPDATE account_balance SET posted = posted + ?, updated_at = ? WHERE account_id = ?",
                [(-1, now, debit), (1, now, credit)],
            )
            conn.execute(
                "UPDATE chain_head SET seq = ?, hash = ?, updated_at = ? WHERE village_id = ?",
                (seq + 1, link, now, village_id),
            )
            conn.execute("COMMIT")
        done += 50
    elapsed = time.perf_counter() - started
    conn.close()
    return done, elapsed


def run_raw_postgres(url: str, debit: int, credit: int, seconds: float) -> tuple[int, float]:
    import psycopg

    u = make_url(url)
    with psycopg.connect(
        host=u.host,
        port=u.port or 5432,
        user=u.username,
        password=u.password or None,
        dbname=u.database,
        options=options if isinstance(options := u.query.get("options"), str) and options else None,
    ) as conn:
        return _raw_postgres_loop(conn, debit, credit, seconds)


def _raw_postgres_loop(conn: Any, debit: int, credit: int, seconds: float) -> tuple[int, float]:
    village_id, county_id = conn.execute("SELECT village_id, county_id FROM account WHERE id = %s", (debit,)).fetchone()
    conn.execute(
        "INSERT INTO chain_head (village_id, county_id, seq, hash, updated_at) VALUES (%s, %s, 0, %s, now())"
        " ON CONFLICT DO NOTHING",
        (village_id, county_id, "0" * 64),
    )
    conn.commit()
    done, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(50):
            now = datetime.now(UTC)
            seq, prev = conn.execute(
                "SELECT seq, hash FROM chain_head WHERE village_id = %s FOR UPDATE", (village_id,)
            ).fetchone()
            body = json.dumps(
                {"seq": seq + 1, "postings": [[debit, -1], [credit, 1]], "created": now.isoformat()}, sort_keys=True
            ).encode()
            link = hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()
            tx_id = conn.execute(
                "INSERT INTO journal_transaction (county_id, village_id, chain_seq, kind, reason, actor, created_at,"
                " effective_at, prev_hash, hash) VALUES (%s, %s, %s, 'transfer', 'bench', 'bench', %s, %s, %s, %s)"
                " RETURNING id",
                (county_id, village_id, seq + 1, now, now, prev, link),
            ).fetchone()[0]
            for account, amount in ((debit, -1), (credit, 1)):
                conn.execute(
                    "INSERT INTO posting (transaction_id, account_id, amount, county_id, village_id)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (tx_id, account, amount, county_id, village_id),
                )
            for account, amount in ((debit, -1), (credit, 1)):
                conn.execute(
                    "UPDATE account_balance SET posted = posted + %s, updated_at = %s WHERE account_id = %s",
                    (amount, now, account),
                )
            conn.execute(
                "UPDATE chain_head SET seq = %s, hash = %s, updated_at = %s WHERE village_id = %s",
                (seq + 1, link, now, village_id),
            )
            conn.commit()
        done += 50
    return done, time.perf_counter() - started


def _writer(url: str, debit: int, credit: int, seconds: float, start: Barrier, out: Queue[tuple[int, float]]) -> None:
    start.wait()
    out.put(run_ours(url, debit, credit, seconds))


def run_postgres(url: str, writers: int, seconds: float, *, raw: bool = False) -> float:
    """Transfers per second over `writers` processes, each in a village of its own (raw: one, by psycopg)."""
    with postgres_schema(url, f"bench_{os.getpid()}_{writers}") as scoped:
        pairs = seed(scoped, villages=writers)
        if raw:
            n, t = run_raw_postgres(scoped, *pairs[0], seconds)
            return n / t
        ctx = multiprocessing.get_context("spawn")
        start, out = ctx.Barrier(writers), ctx.Queue()
        procs = [ctx.Process(target=_writer, args=(scoped, d, c, seconds, start, out)) for d, c in pairs]
        for p in procs:
            p.start()
        results: list[tuple[int, float]] = [out.get() for _ in procs]
        for p in procs:
            p.join()
        return sum(n for n, _ in results) / max(t for _, t in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each run lasts")
    parser.add_argument("--database", help="a PostgreSQL URL: also run the service there with 1 and 8 writers")
    args = parser.parse_args()

    print(f"journal_post: one transfer per database transaction, {os.cpu_count()} cores, {args.seconds:g} s a run")
    with tempfile.TemporaryDirectory() as tmp:
        ours_path, raw_path = Path(tmp, "ours.db"), Path(tmp, "raw.db")
        ((debit, credit),) = seed(f"sqlite:///{ours_path}")
        ((raw_debit, raw_credit),) = seed(f"sqlite:///{raw_path}")
        run_ours(f"sqlite:///{ours_path}", debit, credit, 0.5)  # warm up imports and caches
        n, t = run_ours(f"sqlite:///{ours_path}", debit, credit, args.seconds)
        ours = n / t
        n, t = run_raw(str(raw_path), 1, raw_debit, raw_credit, args.seconds)
        raw = n / t
    print(f"  SQLite ours (journal service)    {ours:9.0f} transfers/s  ({2 * ours:.0f} postings/s)")
    print(f"  SQLite raw sqlite3, same shape   {raw:9.0f} transfers/s  ({2 * raw:.0f} postings/s)")
    if args.database:
        rates = {writers: run_postgres(args.database, writers, args.seconds) for writers in (1, 8)}
        raw_pg = run_postgres(args.database, 1, args.seconds, raw=True)
        print(
            f"  PostgreSQL ours, 1 writer        {rates[1]:9.0f} transfers/s  ({2 * rates[1]:.0f} postings/s;"
            f" target 700)"
        )
        print(f"  PostgreSQL raw psycopg, 1 writer {raw_pg:9.0f} transfers/s  ({2 * raw_pg:.0f} postings/s)")
        print(f"  PostgreSQL ours, 8 writers       {rates[8]:9.0f} transfers/s  ({2 * rates[8]:.0f} postings/s)")
    print(f"journal_post ratio={ours / raw:.3f} ours={ours:.0f}/s raw={raw:.0f}/s")


if __name__ == "__main__":
    main()
