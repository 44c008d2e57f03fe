"""A partner bank's rating lookup over HTTP at a steady 500 requests a second, against ratings computed
beforehand, beside a bare FastAPI endpoint served and driven the same way in the same run.

The app runs under uvicorn (1 worker by default, a SQLite file unless --database names PostgreSQL). Every lookup
is a different household with its own consent, by one bank client with a token of scope credit:read; each one is
checked against its consent, counted against the rate limits (raised for the bench, as a bank's contract would)
and written to the household's access log, exactly as in production. wrk paces the load: 16 connections, each
waiting 30 ms after an answer before its next request. The ledger is verified after the run (`shanzhi verify`).
`--seconds 2` for a short run.

Ends with:  credit_lookup p99_ms=<n> ours=<n>/s bare=<n>/s
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from claims_http import free_port, serve, verify, wrk  # noqa: E402
from scratch import postgres_schema  # noqa: E402

from api import tokens  # noqa: E402
from ledger import tenancy  # noqa: E402
from ledger.core import migrations  # noqa: E402
from ledger.core.base import row_id, utcnow  # noqa: E402
from ledger.core.db import make_engine, unit_of_work  # noqa: E402
from ledger.core.settings import Settings  # noqa: E402
from ledger.identity.models import Partner, PartnerClient, PartnerKind  # noqa: E402
from ledger.identity.passwords import hash_secret  # noqa: E402
from ledger.journal import accounts  # noqa: E402
from ledger.journal import service as journal  # noqa: E402
from ledger.journal.models import AccountKind  # noqa: E402
from scoring import ratings  # noqa: E402
from scoring.models import Consent  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghijklmnopq"
CONNECTIONS, PAUSE_MS = 16, 30


def seed(url: str, households: int) -> list[tuple[int, str]]:
    """Households with a year of history, each with a consent for the bench bank; ratings computed. Returns
    (household id, consent id) pairs."""
    engine = make_engine(url)
    migrations.upgrade(engine)
    now = utcnow()
    pairs = []
    with unit_of_work(engine) as session:
        county = tenancy.create_county(session, code="bench", name="Bench")
        township = tenancy.create_township(session, county=county, code="bench-t", name="T")
        village = tenancy.create_village(session, township=township, code="bench-v", name="V")
        bank = Partner(county_id=row_id(county.id), kind=PartnerKind.BANK, code="bench-bank", name="Bench bank")
        session.add(bank)
        session.flush()
        session.add(
            PartnerClient(
                partner_id=row_id(bank.id),
                client_id="bench-bank",
                secret_hash=hash_secret("x"),
                scopes="credit:read",
            )
        )
        issuance = row_id(accounts.of_village(session, row_id(village.id), AccountKind.ISSUANCE).id)
        for n in range(households):
            household = tenancy.create_household(
                session, village=village, code=f"h{n}", name=f"H{n}", head_name=f"Head {n}"
            )
            own = row_id(accounts.of_household(session, row_id(household.id)).id)
            for month in range(n % 12 + 1):
                journal.transfer(
                    session,
                    debit=issuance,
                    credit=own,
                    amount=5,
                    reason="volunteering",
                    actor="bench",
                    effective_at=now - timedelta(days=30 * month + 1),
                )
            consent = Consent(
                id=secrets.token_hex(16),
                county_id=row_id(county.id),
                household_id=row_id(household.id),
                partner_id=row_id(bank.id),
                purpose="loan_preapproval",
                scope="score",
                granted_by="bench",
                granted_at=now,
                expires_at=now + timedelta(days=90),
            )
            session.add(consent)
            pairs.append((row_id(household.id), consent.id))
        session.flush()
        ratings.rescore_county(session, row_id(county.id))
    engine.dispose()
    return pairs


def paced(base: str, seconds: float, requests: list[tuple[str, str, dict[str, str], str]], tmp: str) -> dict[str, int]:
    return wrk(base, seconds, requests, tmp, connections=CONNECTIONS, pause_ms=PAUSE_MS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--households", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database", help="a PostgreSQL URL to serve from instead of a SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        url = (
            stack.enter_context(postgres_schema(args.database, f"lookup_{os.getpid()}"))
            if args.database
            else f"sqlite:///{tmp}/lookup.db"
        )
        pairs = seed(url, args.households)
        env = {
            **os.environ,
            "SHANZHI_ENV": "dev",
            "SHANZHI_DATABASE_URL": url,
            "SHANZHI_JWT_SECRET": SECRET,
            "SHANZHI_TICK_SECONDS": "0",
            "SHANZHI_HEAD_SIGNING_KEY_PATH": f"{tmp}/head.pem",
            "SHANZHI_CREDIT_LOOKUPS_PER_MINUTE": "1000000",
        }
        settings = Settings(env="dev", jwt_secret=SECRET)
        bank = tokens.issue_access_token(settings, sub="client:bench-bank", role="partner", scopes=("credit:read",))[0]
        lookups = [
            ("GET", f"/api/v1/credit/households/{h}?consent_id={c}", {"Authorization": f"Bearer {bank}"}, "")
            for h, c in pairs
        ]
        port = free_port()
        server = serve("api.app:create_app", port, env, factory=True, workers=args.workers)
        try:
            paced(f"http://127.0.0.1:{port}", 1, lookups, tmp)  # warm up
            ours = paced(f"http://127.0.0.1:{port}", args.seconds, lookups, tmp)
        finally:
            server.terminate()
            server.wait(timeout=30)
        verified = verify(env)
        bare_port = free_port()
        bare_server = serve("bench.bare_app:app", bare_port, env, factory=False)
        try:
            constant: list[tuple[str, str, dict[str, str], str]] = [("GET", "/bare-get", {}, "")]
            paced(f"http://127.0.0.1:{bare_port}", 1, constant, tmp)
            bare = paced(f"http://127.0.0.1:{bare_port}", args.seconds, constant, tmp)
        finally:
            bare_server.terminate()
            bare_server.wait(timeout=30)
    rate = ours["requests"] / (ours["duration_us"] / 1e6)
    bare_rate = bare["requests"] / (bare["duration_us"] / 1e6)
    engine = "PostgreSQL" if args.database else "SQLite file"
    print(
        f"credit_lookup: {os.cpu_count()} cores, uvicorn {args.workers} worker(s), {engine}, {CONNECTIONS} "
        f"connections pacing {PAUSE_MS} ms, {args.seconds:g} s, {args.households} households"
    )
    print(
        f"  ours  rating lookups    {rate:7.0f}/s  p50 {ours['p50_us'] / 1000:6.1f} ms  "
        f"p99 {ours['p99_us'] / 1000:6.1f} ms  refused {ours['non2xx']}, errors {ours['errors']}"
    )
    print(
        f"  bare  constant JSON     {bare_rate:7.0f}/s  p50 {bare['p50_us'] / 1000:6.1f} ms  "
        f"p99 {bare['p99_us'] / 1000:6.1f} ms"
    )
    print(f"  shanzhi verify: {verified[1]}")
    print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    print(f"credit_lookup p99_ms={ours['p99_us'] / 1000:.1f} ours={rate:.0f}/s bare={bare_rate:.0f}/s")
    if ours["non2xx"] or ours["errors"]:
        raise SystemExit("lookups were refused or failed: see above")
    if not verified[0]:
        raise SystemExit("the ledger does not verify after the run: see above")


if __name__ == "__main__":
    main()
