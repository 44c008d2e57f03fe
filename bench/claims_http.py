"""Claims over HTTP: the real app under uvicorn (1 worker, a SQLite file) taking auto-approved claims from many
households at 32 concurrent connections, beside a bare FastAPI endpoint returning constant JSON served the same
way, measured by the same client in the same run. Then a paced run: claims offered at about 150 a second, each
connection pausing after every answer (wrk_paced.lua), for the latency at that rate, beside the bare endpoint
paced the same way. Then a burst: 300 households claim one activity at once; each must succeed exactly once.

The load comes from wrk (Debian package `wrk`; .ci/run installs it), one thread holding 32 keep-alive
connections, each sending its next request as soon as the last is answered (closed loop). Every claim is a
different household or activity, signed in with its own access token, with its own Idempotency-Key. Client and
server share the machine's cores.

Ends with:  claims_http ratio=<ours/bare> ours=<n>/s bare=<n>/s p99_ms=<n> paced_p99_ms=<n>
(p99_ms: the closed loop's, which is concurrency ÷ throughput; paced_p99_ms: at the offered 150 claims/s.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlmodel import col

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api import tokens  # noqa: E402
from ledger import tenancy  # noqa: E402
from ledger.activities import codes  # noqa: E402
from ledger.activities import service as activities  # noqa: E402
from ledger.catalogue import service as catalogue  # noqa: E402
from ledger.core import migrations  # noqa: E402
from ledger.core.base import row_id, utcnow  # noqa: E402
from ledger.core.db import make_engine, unit_of_work  # noqa: E402
from ledger.core.settings import Settings  # noqa: E402
from ledger.identity.models import Role, User  # noqa: E402
from ledger.tenancy import Person  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghijklmnopq"
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
# The paced run: 16 connections each pausing 100 ms after an answer offer 16 × 1000 / (100 + latency) claims a
# second: 150/s when answers take about 7 ms, at most 160/s.
PACED_CONNECTIONS, PAUSE_MS = 16, 100
HALL = {"lat": 30.2741, "lon": 120.1551}  # where the meetings are, and where every claim says it is made


def seed(url: str, households: int, activity_count: int) -> tuple[list[int], list[int], int]:
    """A village of `households` households (one signed-in member each) and auto-approving activities shown
    live. Returns (villager user ids, activity ids, burst activity id)."""
    engine = make_engine(url)
    migrations.upgrade(engine)
    with unit_of_work(engine) as session:
        county = tenancy.create_county(session, code="bench", name="Bench")
        township = tenancy.create_township(session, county=county, code="bench-t", name="T")
        village = tenancy.create_village(session, township=township, code="bench-v", name="V")
        catalogue.create(
            session,
            catalogue.Scope(county_id=row_id(county.id), village_id=None),
            code="bench_meeting",
            actor="bench",
            within_village_limits=False,
            name_zh="会议",
            name_en="Meeting",
            category="participation",
            points=2,
            evidence="witness",
            review="auto",
        )
        users = []
        for n in range(households):
            household = tenancy.create_household(
                session, village=village, code=f"h{n}", name=f"H{n}", head_name=f"Head {n}"
            )
            person = session.scalars(select(Person).where(col(Person.household_id) == household.id)).one()
            user = User(role=Role.VILLAGER, county_id=row_id(county.id), display_name=person.name, person_id=person.id)
            session.add(user)
            users.append(user)
        session.flush()
        now = utcnow()
        made = [
            activities.create(
                session,
                village=village,
                matter_code="bench_meeting",
                title=f"Meeting {n}",
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(days=1),
                rotating=True,
                radius_m=300,
                actor="bench",
                lat=HALL["lat"],
                lon=HALL["lon"],
            )
            for n in range(activity_count + 1)
        ]
        ids = [row_id(u.id) for u in users], [row_id(a.id) for a in made[:-1]], row_id(made[-1].id)
    engine.dispose()
    return ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(
    app: str, port: int, env: dict[str, str], factory: bool, workers: int = 1, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """uvicorn serving `app`, once it accepts connections; with `log`, its output goes there (to be searched)."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        *(["--factory"] if factory else []),
    ]
    # A session of its own, so that a server that does not start is stopped with its worker processes
    if log is None:
        server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    else:
        with log.open("wb") as out:
            server = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
    deadline = time.monotonic() + 180  # each worker imports the app before the port answers: slow on a busy machine
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    said = f": {log.read_text(errors='replace')[-2000:]}" if log is not None else ""
    raise SystemExit(f"{app} did not start{said}")


def wrk(
    base: str,
    seconds: float,
    requests: list[tuple[str, str, dict[str, str], str]],
    tmp: str,
    *,
    connections: int = CONNECTIONS,
    pause_ms: int | None = None,
) -> dict[str, int]:
    """Run wrk over `requests` (in order, round and round); its summary as numbers. Each connection sends its
    next request as soon as it has an answer, or `pause_ms` after it (wrk_paced.lua)."""
    listing = Path(tmp, "requests.tsv")
    with listing.open("w") as out:
        for method, path, headers, body in requests:
            out.write(f"{method}\t{path}\t{'|'.join(f'{k}: {v}' for k, v in headers.items())}\t{body}\n")
    script, extra = ("wrk_requests.lua", []) if pause_ms is None else ("wrk_paced.lua", [str(pause_ms)])
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "30s",
        "-s",
        str(Path(__file__).with_name(script)),
        base,
        "--",
        str(listing),
        *extra,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(row for row in output.splitlines() if row.startswith("RESULT "))
    return {k: int(v) for k, v in (pair.split("=") for pair in line.split()[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="each run's length (3 for a short check)")
    parser.add_argument("--households", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        users, activity_ids, burst_activity = seed(url, args.households, activity_count=20)
        env = {
            **os.environ,
            "SHANZHI_ENV": "dev",
            "SHANZHI_DATABASE_URL": url,
            "SHANZHI_JWT_SECRET": SECRET,
            "SHANZHI_TICK_SECONDS": "0",
            "SHANZHI_HEAD_SIGNING_KEY_PATH": f"{tmp}/head.pem",
            "SHANZHI_UPLOAD_DIR": f"{tmp}/uploads",
        }
        settings = Settings(env="dev", jwt_secret=SECRET)
        keys = codes.Keys.from_settings(settings)
        # each household claims from its own phone, at the meeting's place: approved at once (ledger/claims/fraud.py)
        bearers = [
            {
                "Authorization": "Bearer "
                + tokens.issue_access_token(settings, sub=f"user:{u}", role=Role.VILLAGER)[0],
                "X-Device-Id": f"bench-phone-{u}",
            }
            for u in users
        ]

        def claims(count: int, salt: str) -> list[tuple[str, str, dict[str, str], str]]:
            step = codes.step_of(utcnow())  # a rotating code is good for its 30-second step and the next
            tokens_by_activity = {a: codes.sign_rotating(keys, activity_id=a, step=step) for a in activity_ids}
            made = []
            for n in range(count):
                household, activity = n % len(users), activity_ids[(n // len(users)) % len(activity_ids)]
                made.append(
                    (
                        "POST",
                        "/api/v1/claims",
                        {**bearers[household], "Content-Type": "application/json", "Idempotency-Key": f"{salt}-{n}"},
                        json.dumps({"token": tokens_by_activity[activity], **HALL}),
                    )
                )
            return made

        capacity = len(users) * len(activity_ids)
        port = free_port()
        server = serve("api.app:create_app", port, env, factory=True)
        try:
            base = f"http://127.0.0.1:{port}"
            warm = claims(capacity, "warm")[: capacity // 20]
            wrk(base, 1, warm, tmp)
            ours_run = wrk(base, args.seconds, claims(capacity, "run")[len(warm) :], tmp)
            # the paced run claims what neither run before it reached (a request cut off at the end of a run may
            # still have been made, hence the margin)
            done = len(warm) + ours_run["requests"] + 2 * CONNECTIONS
            paced_run = paced(base, args.seconds, claims(capacity, "paced")[done:], tmp)
            burst, burst_ok = asyncio.run(burst_claims(base, keys, bearers[:300], burst_activity))
        finally:
            server.terminate()
            server.wait(timeout=30)
        verified = verify(env)
        bare_port = free_port()
        bare = serve("bench.bare_app:app", bare_port, env, factory=False)
        try:
            bare_base = f"http://127.0.0.1:{bare_port}"
            constant = [("POST", "/bare", {"Content-Type": "application/json"}, '{"token": "x"}')]
            wrk(bare_base, 1, constant, tmp)
            bare_run = wrk(bare_base, args.seconds, constant, tmp)
            constant_async = [("POST", "/bare-async", {"Content-Type": "application/json"}, '{"token": "x"}')]
            async_run = wrk(bare_base, args.seconds, constant_async, tmp)
            bare_paced = paced(bare_base, args.seconds, constant, tmp)
        finally:
            bare.terminate()
            bare.wait(timeout=30)

    ours = ours_run["requests"] / (ours_run["duration_us"] / 1e6)
    bare_rate = bare_run["requests"] / (bare_run["duration_us"] / 1e6)
    p50, p99 = ours_run["p50_us"] / 1000, ours_run["p99_us"] / 1000
    print(
        f"claims_http: {os.cpu_count()} cores, uvicorn 1 worker, SQLite file, {CONNECTIONS} connections (wrk), "
        f"{args.seconds:g} s a run, {args.households} households"
    )
    print(
        f"  ours  auto-approved claims  {ours:8.0f}/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
        f"refused {ours_run['non2xx']}, errors {ours_run['errors']}"
    )
    async_rate = async_run["requests"] / (async_run["duration_us"] / 1e6)
    print(
        f"  bare  constant JSON, def    {bare_rate:8.0f}/s  p50 {bare_run['p50_us'] / 1000:6.1f} ms  "
        f"p99 {bare_run['p99_us'] / 1000:6.1f} ms  (the reference: a thread-pool endpoint, like ours)"
    )
    print(
        f"  bare  constant JSON, async  {async_rate:8.0f}/s  p50 {async_run['p50_us'] / 1000:6.1f} ms  "
        f"p99 {async_run['p99_us'] / 1000:6.1f} ms  (for comparison: ratio {ours / async_rate:.3f})"
    )
    paced_rate = paced_run["requests"] / (paced_run["duration_us"] / 1e6)
    bare_paced_rate = bare_paced["requests"] / (bare_paced["duration_us"] / 1e6)
    paced_p99 = paced_run["p99_us"] / 1000
    print(
        f"  paced, {PACED_CONNECTIONS} connections each pausing {PAUSE_MS} ms after an answer "
        f"(at most {PACED_CONNECTIONS * 1000 // PAUSE_MS}/s offered):"
    )
    print(
        f"  ours  auto-approved claims  {paced_rate:8.0f}/s  p50 {paced_run['p50_us'] / 1000:6.1f} ms  "
        f"p99 {paced_p99:6.1f} ms  refused {paced_run['non2xx']}, errors {paced_run['errors']}"
    )
    print(
        f"  bare  constant JSON, def    {bare_paced_rate:8.0f}/s  p50 {bare_paced['p50_us'] / 1000:6.1f} ms  "
        f"p99 {bare_paced['p99_us'] / 1000:6.1f} ms"
    )
    print(f"  burst 300 households, one activity: {burst}")
    print(f"  shanzhi verify: {verified[1]}")
    print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    print(
        f"claims_http ratio={ours / bare_rate:.3f} ours={ours:.0f}/s bare={bare_rate:.0f}/s p99_ms={p99:.0f} "
        f"paced_p99_ms={paced_p99:.0f}"
    )
    refused = ours_run["non2xx"] + ours_run["errors"] + paced_run["non2xx"] + paced_run["errors"]
    if not burst_ok or refused:
        raise SystemExit("claims were refused, lost or doubled: see above")
    if not verified[0]:
        raise SystemExit("the ledger does not verify after the run: see above")


def verify(env: dict[str, str]) -> tuple[bool, str]:
    """`shanzhi verify` on the served database: chains, balances, and every claim against its transactions."""
    command = [sys.executable, "-c", "from api.cli import app; app()", "verify", "--quiet"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    said = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode == 0, " | ".join(said[-3:])


def paced(base: str, seconds: float, requests: list[tuple[str, str, dict[str, str], str]], tmp: str) -> dict[str, int]:
    return wrk(base, seconds, requests, tmp, connections=PACED_CONNECTIONS, pause_ms=PAUSE_MS)


async def burst_claims(base: str, keys: codes.Keys, bearers: list[dict[str, str]], activity: int) -> tuple[str, bool]:
    """Every household claims the same activity at once, each sending its claim twice (a retry on a flaky
    network): 300 claims must be made, every retry answered with the same claim."""
    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        token = codes.sign_rotating(keys, activity_id=activity, step=codes.step_of(utcnow()))

        async def send(n: int) -> httpx.Response:
            headers = {**bearers[n // 2], "Idempotency-Key": f"burst-{n // 2}"}
            return await client.post("/api/v1/claims", headers=headers, json={"token": token, **HALL})

        started = time.perf_counter()
        responses = await asyncio.gather(*(send(n) for n in range(2 * len(bearers))))
        elapsed = time.perf_counter() - started
    made = {r.json()["id"] for r in responses if r.status_code in (200, 201)}
    created = sum(r.status_code == 201 for r in responses)
    replayed = sum(r.status_code == 200 for r in responses)
    ok = created == len(bearers) and replayed == len(bearers) and len(made) == len(bearers)
    return (
        f"{created} created, {replayed} retries answered with the same claim, {len(made)} distinct claims in "
        f"{elapsed:.1f} s: {'each exactly once' if ok else 'NOT EXACTLY ONCE'}"
    ), ok


if __name__ == "__main__":
    main()
