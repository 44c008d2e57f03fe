"""Every page and list route at village size, one user at a time.

The village: the demo county (api/demo.py) with its first village grown to 2 000 households and its history
(api/demo_history.py) played over three years instead of one, at a garbage-sorting rate that gives about 89 000
ledger transactions; then 250 claims waiting for review and 250 deductions over the three years, so the official's
queue is full (200 shown) and the deductions list long. Everything goes through the services a county uses (roster
import, claims, reviews, the schedule's settlement, deductions, appeals, the redemption story, ratings), nothing
is written into the journal directly. Building it takes a while, so the built SQLite file is kept under the system's
temporary directory, keyed by the migration head, the size and the day (the notice board and the queue's ages read
the clock), and each run works on a copy of it.

Requests go to the ASGI app in-process (starlette's TestClient; the app's start-up and shut-down run as under
uvicorn, and its start-up objects are frozen for the garbage collector as `shanzhi serve` does), so the figures
are the app's own time, without a socket or HTTP parsing. Each request's SQL statements are counted on the app's
engine, and the process's CPU time during a request is the app's work for it (the client waits): a figure that
other load on the machine does not inflate as it does the wall time. Each route is requested by the person who
sees it (the villager of household 1, the village's official, the county admin, a partner's staff, or an API token
of theirs), N times in a row after one warm-up request, round-robin over the routes. The table gives p50, p95 and
max wall time per route, the statements per request and the CPU time. The village holds about 89 000 ledger
transactions; every page shows a bounded part of its rows, so ten thousand more would not change what a page
reads.

Ends with:  pages p95_ms=<worst p95> max_ms=<worst max> page=<the route of the worst p95>
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402
from sqlmodel import col  # noqa: E402

from api import demo, demo_history, tokens  # noqa: E402
from api.pages.web import SESSION_COOKIE, hash_key  # noqa: E402
from ledger.activities import codes  # noqa: E402
from ledger.activities import service as activities  # noqa: E402
from ledger.activities.models import Activity  # noqa: E402
from ledger.claims import deductions  # noqa: E402
from ledger.claims import service as claims  # noqa: E402
from ledger.core import migrations  # noqa: E402
from ledger.core.base import row_id, utcnow  # noqa: E402
from ledger.core.db import make_engine, unit_of_work  # noqa: E402
from ledger.core.settings import Settings  # noqa: E402
from ledger.identity import principal  # noqa: E402
from ledger.identity.models import Role, User, WebSession  # noqa: E402
from ledger.journal import verify  # noqa: E402
from ledger.journal.models import JournalTransaction  # noqa: E402
from ledger.tenancy import Household, Person, Village  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghijklmnopq"
BUILD = 1  # bump when the village below changes: the kept file is rebuilt
GARBAGE_RATE = 0.02  # a household's daily chance of sorting at the standing code, times its keenness
PENDING = 250  # claims left waiting for review in the big village
DEDUCTIONS = 250  # deductions recorded in the big village over the years


# --- the village ------------------------------------------------------------------------------------------------


def _roster(households: int) -> Any:
    """The demo's roster with its first village (青山村) grown to `households`; the other two villages keep 20
    households each. Only heads have phones (phone_of(n)), so numbers never collide however large."""
    sizes = {"qingshan-cun": households, "zhulin": 20, "xikou": 20}

    def roster(rng: random.Random) -> pd.DataFrame:
        rows: list[dict[str, str]] = []
        n = 0
        for _, township, village_list in demo.VILLAGES:
            for village_code, village in village_list:
                for house in range(1, sizes[village_code] + 1):
                    n += 1
                    surname = demo.SURNAMES[n % len(demo.SURNAMES)]
                    place = [township, village, f"{village_code}-{n:05d}", str(house)]
                    place.append(f"{township}{village}{(house - 1) // 20 + 1}组{house}号")
                    head = surname + rng.choice(demo.GIVEN_MEN)
                    rows.append(dict(zip(demo.ROSTER_COLUMNS, [*place, head, "户主", demo.phone_of(n)], strict=True)))
                    if rng.random() < 0.85:
                        wife = rng.choice(demo.WIVES) + rng.choice(demo.GIVEN_WOMEN)
                        rows.append(dict(zip(demo.ROSTER_COLUMNS, [*place, wife, "配偶", ""], strict=True)))
        return pd.DataFrame(rows, columns=demo.ROSTER_COLUMNS)

    return roster


def _big_village(session: Any) -> Village:
    name = next(name for _, _, places in demo.VILLAGES for code, name in places if code == "qingshan-cun")
    village: Village = session.scalars(select(Village).where(col(Village.name) == name)).one()
    return village


def _waiting_claims(session: Any, keys: codes.Keys, village: Village, count: int) -> None:
    """`count` households claim at the village's standing garbage-sorting code today; nobody reviews them."""
    now = utcnow()
    standing = session.scalars(
        select(Activity).where(
            col(Activity.village_id) == village.id,
            col(Activity.period) == "day",
            col(Activity.ends_at) > now,
        )
    ).first()
    assert standing is not None
    token = activities.printed_code(keys, standing)
    heads = session.execute(
        select(col(User.id))
        .join(Person, col(Person.id) == col(User.person_id))
        .join(Household, col(Household.id) == col(Person.household_id))
        .where(col(Household.village_id) == village.id, col(Person.is_head).is_(True))
        .order_by(col(Household.id))
        .offset(20)
        .limit(count)
    ).scalars()
    for n, user_id in enumerate(heads):
        villager = principal.load(session, subject=f"user:{user_id}", role=Role.VILLAGER, scopes=())
        claims.submit_by_code(
            session,
            villager,
            keys,
            token=token,
            details=claims.Details(),
            idempotency_key=None,
            now=now - timedelta(minutes=5 * n + 1),
        )


def _deductions(session: Any, village: Village, count: int, years: int, rng: random.Random) -> None:
    official_id = session.scalars(select(col(User.id)).where(col(User.username) == "official-qingshan")).one()
    official = principal.load(session, subject=f"user:{official_id}", role=Role.OFFICIAL, scopes=())
    homes = session.scalars(
        select(col(Household.id)).where(col(Household.village_id) == village.id).order_by(col(Household.id))
    ).all()
    now = utcnow()
    for n in range(count):
        deductions.record(
            session,
            official,
            household_id=rng.choice(homes[30:]),
            matter_code="breaking_village_rules",
            reason=rng.choice(demo_history.DEDUCTION_REASONS),
            evidence_ids=(),
            idempotency_key=None,
            now=now - timedelta(days=3 + (365 * years - 4) * n / count),
        )


def build(path: Path, households: int, years: int, settings: Settings) -> None:
    """The village, through the services, into the SQLite file at `path`."""
    engine = make_engine(f"sqlite:///{path}")
    migrations.upgrade(engine)
    keys = codes.Keys.from_settings(settings)
    demo.roster = _roster(households)
    demo_history.GARBAGE = GARBAGE_RATE
    one_year = demo_history.play

    def play(session: Any, keys: codes.Keys, places: Any, *, now: Any, **rest: Any) -> dict[str, int]:
        """The demo's year of history, played `years` times back to back (an activity lasts a year at most)."""
        counts: dict[str, int] = {}
        for back in range(years - 1, -1, -1):
            for step, n in one_year(session, keys, places, now=now - timedelta(days=365 * back), **rest).items():
                counts[step] = counts.get(step, 0) + n
        return counts

    demo_history.play = play
    with unit_of_work(engine) as session:
        demo.seed(session, keys)
        village = _big_village(session)
        _waiting_claims(session, keys, village, PENDING)
        _deductions(session, village, DEDUCTIONS, years, random.Random(18))
    engine.dispose()


def village_file(households: int, years: int, settings: Settings, rebuild: bool) -> Path:
    """The built village, kept between runs (not in the repository: under the system's temporary directory)."""
    size = f"{BUILD}-{households}h-{years}y-{utcnow():%Y%m%d}"
    kept = Path(tempfile.gettempdir()) / f"shanzhi-bench-pages-{migrations.head_revision()}-{size}.db"
    older = sorted(
        Path(tempfile.gettempdir()).glob(f"shanzhi-bench-pages-*-{size}.db"), key=lambda p: p.stat().st_mtime
    )
    if not rebuild and not kept.exists() and older:
        # the same village kept by an older version of the schema: migrated, as a county's database would be
        print(f"migrating the village kept in {older[-1]} to {kept}", flush=True)
        partial = kept.with_suffix(".partial")
        shutil.copyfile(older[-1], partial)
        engine = make_engine(f"sqlite:///{partial}")
        migrations.upgrade(engine)
        engine.dispose()
        partial.rename(kept)
    if rebuild or not kept.exists():
        partial = kept.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        started = time.perf_counter()
        print(f"building the village ({households} households, {years} years of history): {kept}", flush=True)
        build(partial, households, years, settings)
        partial.rename(kept)
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    return kept


# --- who asks for what ------------------------------------------------------------------------------------------


@dataclass
class Caller:
    cookie: str = ""  # a signed-in browser's session key
    token: str = ""  # an API access token

    def headers(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {"Cookie": f"{SESSION_COOKIE}={self.cookie}"}


@dataclass
class Route:
    path: str
    caller: Caller
    who: str
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # the process's CPU time during the request (the app's work)
    statements: list[int] = field(default_factory=list)


def _user(session: Any, **where: Any) -> User:
    query = select(User)
    for name, value in where.items():
        query = query.where(getattr(User, name) == value)
    user: User = session.scalars(query).first()
    return user


def callers(url: str, settings: Settings) -> dict[str, Any]:
    """A signed-in browser (a session, as signing in makes) and an API token for each person the bench plays."""
    engine = make_engine(url)
    found: dict[str, Any] = {}
    with unit_of_work(engine) as session:
        village = _big_village(session)
        first = session.scalars(
            select(Household).where(col(Household.village_id) == village.id).order_by(col(Household.id))
        ).first()
        assert first is not None
        head = session.scalars(
            select(User)
            .join(Person, col(Person.id) == col(User.person_id))
            .where(col(Person.household_id) == first.id, col(Person.is_head).is_(True))
        ).one()
        people = {
            "villager": head,
            "official": _user(session, username="official-qingshan"),
            "admin": _user(session, username="admin"),
            "bank": _user(session, username="bank-staff"),
            "mart": _user(session, username="mart-staff"),
            "clinic": _user(session, username="clinic-staff"),
        }
        for name, user in people.items():
            key = secrets.token_urlsafe(32)
            session.add(
                WebSession(
                    key_hash=hash_key(key), user_id=row_id(user.id), role=user.role, expires_at=utcnow() + timedelta(1)
                )
            )
            token = tokens.issue_access_token(settings, sub=f"user:{user.id}", role=user.role, scopes=())[0]
            found[name] = (Caller(cookie=key), Caller(token=token))
        found["village_id"] = row_id(village.id)
        found["household_id"] = row_id(first.id)
        found["transactions"] = session.scalar(select(func.count()).select_from(JournalTransaction))
        found["households"] = session.scalar(
            select(func.count()).select_from(Household).where(col(Household.village_id) == village.id)
        )
    engine.dispose()
    return found


def routes(people: dict[str, Any]) -> list[Route]:
    v, h = people["village_id"], people["household_id"]
    pages = {
        "villager": ["/me", "/me/rating", "/me/redeem"],
        "official": [
            "/office",
            "/office/activities",
            "/office/households",
            "/office/disputes",
            "/office/awards",
            "/office/proxy",
            "/office/rating-reviews",
            "/office/dashboard",
            "/office/dashboard/chart/participation.svg",
            "/office/dashboard/chart/points_by_matter.svg",
            "/office/dashboard/chart/on_time.svg",
            "/office/dashboard/chart/redemption.svg",
        ],
        "admin": [
            "/county",
            "/county/households",
            "/county/changes",
            "/county/catalogue",
            "/county/places",
            "/county/staff",
            "/county/partners",
            "/county/offers",
            "/county/scorecards",
            "/office/dashboard",
        ],
        "bank": ["/bank"],
        "mart": ["/till", "/till/settlement", "/partner/offers"],
        "clinic": ["/till/bookings"],
    }
    api = {
        "villager": [
            f"/api/v1/households/{h}/statement",
            "/api/v1/claims",
            "/api/v1/vouchers",
            f"/api/v1/villages/{v}/leaderboard",
            f"/api/v1/villages/{v}/notice-board",
            "/api/v1/notifications",
        ],
        "official": [
            f"/api/v1/claims?village_id={v}&status=pending",
            "/api/v1/deductions",
            "/api/v1/disputes",
            f"/api/v1/households?village_id={v}",
            f"/api/v1/activities?village_id={v}",
        ],
    }
    found = [Route(path, people[who][0], who) for who, paths in pages.items() for path in paths]
    found += [Route(path, people[who][1], who) for who, paths in api.items() for path in paths]
    return found


# --- the run ----------------------------------------------------------------------------------------------------


@contextmanager
def counted(engine: Any) -> Iterator[list[int]]:
    """The SQL statements the engine runs, counted into the list's one element."""
    count = [0]

    def seen(*_: Any) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield count
    finally:
        event.remove(engine, "before_cursor_execute", seen)


@contextmanager
def collections_timed() -> Iterator[dict[int, list[float]]]:
    """How long each garbage collection took (ms), by generation, while inside."""
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:  # CPU time: what the collection costs, load or not
        if phase == "start":
            started[0] = time.process_time()
        else:
            pauses[info["generation"]].append((time.process_time() - started[0]) * 1000)

    gc.callbacks.append(timed)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(timed)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def run(url: str, settings: Settings, rounds: int, freeze: bool) -> tuple[list[Route], dict[int, list[float]], int]:
    from fastapi.testclient import TestClient

    from api.app import create_app, settle_memory

    people = callers(url, settings)
    print(
        f"village: {people['households']} households, {people['transactions']} ledger transactions in the county",
        flush=True,
    )
    engine = make_engine(url)
    app = create_app(settings, engine=engine)
    if freeze:
        settle_memory()  # as `shanzhi serve` does in each worker (api.app.served_app)
    listed = routes(people)
    with TestClient(app, base_url="https://testserver") as client, counted(engine) as count:
        for route in listed:  # warm-up: templates compiled, caches filled
            answer = client.get(route.path, headers=route.caller.headers())
            if answer.status_code != 200:
                raise SystemExit(f"{route.path} as {route.who}: {answer.status_code} {answer.text[:300]}")
        tracked = len(gc.get_objects())
        with collections_timed() as pauses:
            requests(client, listed, rounds, count)
    engine.dispose()
    return listed, pauses, tracked


def requests(client: Any, listed: list[Route], rounds: int, count: list[int]) -> None:
    for _ in range(rounds):
        for route in listed:
            count[0] = 0
            started, cpu = time.perf_counter(), time.process_time()
            answer = client.get(route.path, headers=route.caller.headers())
            route.times.append((time.perf_counter() - started) * 1000)
            route.cpu.append((time.process_time() - cpu) * 1000)
            route.statements.append(count[0])
            assert answer.status_code == 200, (route.path, answer.status_code)


def verified(url: str) -> bool:
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        ok = verify.verify(session).ok
    engine.dispose()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, default=2000, help="households of the big village")
    parser.add_argument("--years", type=int, default=3, help="years of history")
    parser.add_argument("--rounds", type=int, default=20, help="requests of each route (after one warm-up)")
    parser.add_argument("--small", action="store_true", help="200 households, one year, 5 rounds (a quick check)")
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave start-up's objects to the garbage collector (to compare)"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the village again even if it is kept")
    args = parser.parse_args()
    if args.small:
        args.households, args.years, args.rounds = 200, 1, 5
    settings = Settings(env="dev", jwt_secret=SECRET, tick_seconds=0, schedule_in_api=False)
    kept = village_file(args.households, args.years, settings, args.rebuild)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pages.db"
        shutil.copyfile(kept, path)
        url = f"sqlite:///{path}"
        settings = settings.model_copy(
            update={"database_url": url, "head_signing_key_path": Path(tmp) / "head.pem", "upload_dir": Path(tmp)}
        )
        listed, pauses, tracked = run(url, settings, args.rounds, not args.no_freeze)
        ok = verified(url)
    load = os.getloadavg()
    print(
        f"pages: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, SQLite file, "
        f"in-process ASGI, {args.rounds} requests a route, gc {'frozen ' if gc.get_freeze_count() else ''}"
        f"thresholds {gc.get_threshold()}"
    )
    heads = f"{'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} {'SQL':>5} {'CPU p50':>8} {'CPU max':>8}"
    print(f"  {'route':58} {'who':9} {heads}")
    for route in listed:
        print(
            f"  {route.path[:58]:58} {route.who:9} {statistics.median(route.times):7.1f} "
            f"{pct(route.times, 0.95):7.1f} {max(route.times):7.1f} {statistics.median(route.statements):5.0f} "
            f"{statistics.median(route.cpu):8.1f} {max(route.cpu):8.1f}"
        )
    full = pauses[2]
    print(
        f"  garbage collector: {tracked} objects tracked outside the frozen ones; {len(full)} full collections, "
        f"longest {max(full, default=0):.1f} ms of CPU; {len(pauses[0]) + len(pauses[1])} young ones, longest "
        f"{max(pauses[0] + pauses[1], default=0):.1f} ms"
    )
    print(f"  shanzhi verify: {'ok' if ok else 'FAILED'}")
    worst = max(listed, key=lambda r: pct(r.times, 0.95))
    worst_max = max(max(r.times) for r in listed)
    print(f"pages p95_ms={pct(worst.times, 0.95):.1f} max_ms={worst_max:.1f} page={worst.path}")
    if not ok:
        raise SystemExit("the ledger does not verify")


if __name__ == "__main__":
    main()
