"""Vouchers under load and under a race: the real app under uvicorn (8 worker processes on PostgreSQL; 1 on a
SQLite file) while many households redeem vouchers and a merchant's tills use them, and a group of tills races on
the same vouchers. Beside it, in the same run, a bare FastAPI endpoint served the same way answers the same
number of POSTs driven the same way.

Seeded with the domain code: a county of `--villages` villages (1 by default: every journal write of the run then
takes the same village's chain head), `--households` households each with one signed-in member and settled points,
a merchant serving the county with one till (partner client, scope vouchers:consume) per racer, and a voucher
offer (10 points for 10 yuan, no stock limit) proposed by the merchant and approved by the county admin. Access
tokens are minted directly.

1. Redeem: every household redeems one voucher, and the first `--race-vouchers` households a second one, over
   `--connections` keep-alive connections (closed loop: each sends its next request when answered), each
   request with its own Idempotency-Key. Then `--paced-rate` redemptions a second are offered for
   `--paced-seconds` (open loop: each sent when due, answered or not, on a free one of the connections), and
   their latency is counted from when each was due: a closed loop's latency is only its concurrency over its
   throughput, so the latency figure (`p99_ms`) is this one.
2. Consume: the first till uses every household's first voucher (with the PIN) over `--connections` connections;
   meanwhile `--racers` tills race on the second vouchers: for each, all of them send its consume at once, each on
   a connection of its own, half with the PIN and half with the scanned QR text (`--race-lanes` such races at a
   time). Exactly one may win; every other must be answered 409 voucher_already_used. The figures are taken over
   the load's time (the answers to racers within it count too); races left when the load is done run on after.
3. Count double spends: a voucher that got more than one 200, more than one `consumed` event, or more than one
   resolution of its hold (or a posting to the clearing account for it beyond the first); a household whose posted
   balance is not what it was given less what was seen consumed, or whose held points are not its unused
   vouchers'; the clearing account not holding exactly what was seen consumed; the journal's own verification.
4. The reference: bench/bare_app.py `/bare` (a `def` endpoint returning constant JSON) under the same uvicorn
   setup, sent the same POSTs in the same shape (the load over `--connections` connections, the bursts beside it,
   then the paced POSTs at the same rate). `ratio` is answers/s of the consume phase, ours over bare.

The client is a small HTTP/1.1 client over asyncio streams (`Link`), the same for both sides: with httpx the
client took a core during the bare run (about 2.4 ms of CPU a request) and was the ceiling of the reference.

Client and server share the machine's cores (and PostgreSQL with them); the CPU each took is printed per phase.
`--small` is a quick run (200 households, 40 races, 5 s paced) for CI.

Ends with:  voucher_race double_spends=<n> consumes_per_s=<n> ratio=<ours/bare answers/s> p99_ms=<paced redemptions>
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import col

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from claims_http import free_port, serve  # noqa: E402
from scratch import postgres_schema  # noqa: E402

from api import tokens  # noqa: E402
from ledger import tenancy  # noqa: E402
from ledger.core import migrations  # noqa: E402
from ledger.core.base import row_id, table_of, utcnow  # noqa: E402
from ledger.core.db import make_engine, unit_of_work  # noqa: E402
from ledger.core.settings import Settings  # noqa: E402
from ledger.identity import principal  # noqa: E402
from ledger.identity.models import Partner, PartnerClient, PartnerKind, Role, User  # noqa: E402
from ledger.identity.passwords import hash_secret  # noqa: E402
from ledger.journal import accounts, verify  # noqa: E402
from ledger.journal import service as journal  # noqa: E402
from ledger.journal.models import Account, AccountBalance, AccountKind, JournalTransaction, Posting, TxKind  # noqa: E402
from ledger.tenancy import Person  # noqa: E402
from redemption import offers  # noqa: E402
from redemption.models import Voucher, VoucherEvent, VoucherEventKind  # noqa: E402

SECRET = "bench-secret-0123456789-abcdefghijklmnopq"
COST, VALUE_FEN = 10, 1000  # points and fen of one voucher
GIVEN = 100  # settled points each household starts with
TILL_SCOPES = ("vouchers:consume",)


# --- seeding -------------------------------------------------------------------------------------------------


@dataclass
class World:
    users: list[int]  # a villager user per household, by household index
    households: list[int]  # household ids, same order
    offer_id: int
    tills: list[str]  # the merchant's client ids; the first one does the load


def seed(url: str, households: int, villages: int, tills: int) -> World:
    engine = make_engine(url)
    migrations.upgrade(engine)
    now = utcnow()
    with unit_of_work(engine) as session:
        county = tenancy.create_county(session, code="bench", name="Bench")
        township = tenancy.create_township(session, county=county, code="bench-t", name="T")
        places = [
            tenancy.create_village(session, township=township, code=f"bench-v{v}", name=f"V{v}")
            for v in range(villages)
        ]
        merchant = Partner(county_id=row_id(county.id), kind=PartnerKind.MERCHANT, code="bench-mart", name="Bench mart")
        session.add(merchant)
        admin = User(role=Role.COUNTY_ADMIN, county_id=row_id(county.id), username="bench-admin", display_name="Admin")
        session.add(admin)
        session.flush()
        till_ids = [f"bench-till-{n}" for n in range(tills)]
        secret = hash_secret("x")
        for client_id in till_ids:
            session.add(
                PartnerClient(
                    partner_id=row_id(merchant.id),
                    client_id=client_id,
                    secret_hash=secret,
                    scopes="vouchers:consume offers:manage",
                )
            )
        issuance = {
            row_id(v.id): row_id(accounts.of_village(session, row_id(v.id), AccountKind.ISSUANCE).id) for v in places
        }
        users, made = [], []
        for n in range(households):
            village = places[n % villages]
            household = tenancy.create_household(
                session, village=village, code=f"h{n}", name=f"H{n}", head_name=f"Head {n}"
            )
            person = session.scalars(select(Person).where(col(Person.household_id) == household.id)).one()
            user = User(role=Role.VILLAGER, county_id=row_id(county.id), display_name=person.name, person_id=person.id)
            session.add(user)
            users.append(user)
            made.append(household)
            own = row_id(accounts.of_household(session, row_id(household.id)).id)
            journal.transfer(
                session,
                debit=issuance[row_id(village.id)],
                credit=own,
                amount=GIVEN,
                reason="bench_award",
                actor="bench",
            )
        session.flush()
        # the merchant proposes, the county admin approves: as over the API, without the HTTP
        till = principal.load(session, subject=f"client:{till_ids[0]}", role="partner", scopes=("offers:manage",))
        offer = offers.propose(
            session,
            till,
            offers.OfferTerms(
                kind="voucher",
                title="Bench voucher 10 yuan",
                value_fen=VALUE_FEN,
                cost_points=COST,
                stock=None,
                per_household_limit=1000,
                limit_period="ever",
                valid_from=now - timedelta(days=1),
                valid_until=now + timedelta(days=90),
            ),
        )
        boss = principal.load(session, subject=f"user:{admin.id}", role=Role.COUNTY_ADMIN, scopes=())
        offers.decide(session, boss, row_id(offer.id), approve=True, note="bench")
        world = World(
            users=[row_id(u.id) for u in users],
            households=[row_id(h.id) for h in made],
            offer_id=row_id(offer.id),
            tills=till_ids,
        )
    engine.dispose()
    return world


# --- the client ----------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int  # 0: no answer (a client-side error)
    body: dict[str, object]
    seconds: float
    request: str
    sent: float = 0.0  # when it was sent
    done: float = field(default_factory=time.perf_counter)  # when it was answered


SPACING = 0.02  # seconds between opening two connections


class Link:
    """One keep-alive HTTP/1.1 connection to the server, one request at a time, written and read by hand: a
    request costs the client a few tens of microseconds instead of the ~2.4 ms of an httpx client, which made the
    client, not the server, the ceiling of the bare reference. Both sides of the comparison are driven by it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        fresh = self.writer is None or self.writer.is_closing()
        if fresh:
            await self.open()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Length: {len(body)}\r\n"
        if body:
            head += "Content-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        try:
            return await self._exchange(head.encode() + body)
        except (ConnectionError, asyncio.IncompleteReadError):
            if fresh:
                raise
            await self.open()  # the server closed a connection left idle: once more on a new one
            return await self._exchange(head.encode() + body)

    async def open(self) -> None:
        await self.close()
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    async def _exchange(self, data: bytes) -> tuple[int, bytes]:
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" in fields:
            payload = await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readuntil(b"\r\n")
            payload = b"".join(parts)
        else:
            payload = await self.reader.read()
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, payload


class Client:
    """`connections` links to the server; a request takes a free one (and waits for one if none is free)."""

    def __init__(self, base: str, connections: int) -> None:
        host, _, port = base.removeprefix("http://").partition(":")
        self.free: asyncio.Queue[Link] = asyncio.Queue()
        for _ in range(connections):
            self.free.put_nowait(Link(host, int(port)))

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
        link = await self.free.get()
        try:
            return await link.request(method, path, headers, body)
        except BaseException:
            await link.close()
            raise
        finally:
            self.free.put_nowait(link)

    async def connect(self) -> Client:
        """Open every connection now, one at a time, a little apart. The worker processes share the listening
        socket and one of them takes every connection waiting when it wakes: opened all at once, nearly all went
        to one or two of the 8 workers, so that the load ran on one process."""
        links = [self.free.get_nowait() for _ in range(self.free.qsize())]
        for link in links:
            await link.open()
            await asyncio.sleep(SPACING)
            self.free.put_nowait(link)
        return self

    async def aclose(self) -> None:
        while not self.free.empty():
            await self.free.get_nowait().close()

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()


async def send(client: Client, path: str, headers: dict[str, str], body: dict[str, object]) -> Answer:
    started = time.perf_counter()
    try:
        status, payload = await asyncio.wait_for(client.request("POST", path, headers, json.dumps(body).encode()), 60)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as error:
        return Answer(0, {"error": repr(error)}, time.perf_counter() - started, f"POST {path}", started)
    seconds = time.perf_counter() - started
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = {"text": payload[:500].decode(errors="replace")}
    return Answer(status, answer if isinstance(answer, dict) else {"list": answer}, seconds, f"POST {path}", started)


async def closed_loop(
    client: Client, jobs: Sequence[Callable[[], Awaitable[Answer]]], connections: int
) -> list[Answer]:
    """Run `jobs` in order over `connections` request loops: each sends its next as soon as it has an answer."""
    answers: list[Answer | None] = [None] * len(jobs)
    feed: Iterator[int] = iter(range(len(jobs)))

    async def loop() -> None:
        for n in feed:
            answers[n] = await jobs[n]()

    await asyncio.gather(*(loop() for _ in range(connections)))
    done = [answer for answer in answers if answer is not None]
    assert len(done) == len(jobs)  # every job was answered
    return done


async def paced(jobs: Sequence[Callable[[], Awaitable[Answer]]], rate: float) -> list[Answer]:
    """Open loop: job n is sent at n / `rate` seconds whether or not the earlier ones were answered (each takes a
    free connection of the client the jobs use), so a slow answer does not slow the rate offered. An answer's
    time counts from when it was due to be sent: waiting for a free connection is part of its latency."""
    start = time.perf_counter()

    async def one(n: int) -> Answer:
        due = start + n / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        answer = await jobs[n]()
        answer.seconds, answer.sent = answer.done - due, due
        return answer

    return list(await asyncio.gather(*(one(n) for n in range(len(jobs)))))


async def bursts(
    base: str, width: int, lanes: int, jobs: Sequence[Sequence[Callable[[Client], Awaitable[Answer]]]]
) -> list[list[Answer]]:
    """Each burst's `width` requests all at once, each on a client (a connection) of its own; `lanes` bursts at a
    time, each lane sending its next burst when the last one is all answered."""
    done: list[list[Answer]] = [[] for _ in jobs]

    async def lane(first: int) -> None:
        clients = [await Client(base, 1).connect() for _ in range(width)]
        try:
            for n in range(first, len(jobs), lanes):
                done[n] = list(await asyncio.gather(*(job(c) for job, c in zip(jobs[n], clients, strict=True))))
        finally:
            for c in clients:
                await c.aclose()

    await asyncio.gather(*(lane(first) for first in range(lanes)))
    return done


async def warm_up(
    base: str, path: str, headers: dict[str, str], count: int, connections: int, method: str = "GET"
) -> None:
    """Every worker process imports the app and opens its pool on its first requests: not part of the figures."""
    async with Client(base, connections) as client:

        async def one() -> Answer:
            started = time.perf_counter()
            status, _ = await client.request(method, path, headers)
            return Answer(status, {}, time.perf_counter() - started, path)

        await closed_loop(client, [one] * count, connections)


# --- where the cores went ------------------------------------------------------------------------------------


class Meter:
    """CPU seconds of this process (the client), of the server's process tree, and of the whole machine (the rest
    is PostgreSQL and anything else running), read from /proc at each mark. Empty where there is no /proc."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.marks: list[tuple[str, float, float, float, float]] = []
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _ticks(self, pid: int) -> int:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0
        return int(fields[11]) + int(fields[12])  # utime, stime

    def _tree(self) -> list[int]:
        parents: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                parents.setdefault(parent, []).append(int(entry.name))
        found, todo = [], [self.server_pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(parents.get(pid, []))
        return found

    def server_seconds(self) -> float:
        return sum(self._ticks(pid) for pid in self._tree()) / self.tick

    def mark(self, label: str) -> None:
        if not Path("/proc/stat").exists():
            return
        cpu = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]  # guest time is in user
        busy = (sum(cpu) - cpu[3] - cpu[4]) / self.tick  # all but idle and iowait
        times = os.times()
        server = self.server_seconds()
        self.marks.append((label, time.perf_counter(), times.user + times.system, server, busy))

    def between(self, first: str, last: str) -> str:
        marks = {m[0]: m[1:] for m in self.marks}
        if first not in marks or last not in marks:
            return "(no /proc)"
        (w0, c0, s0, b0), (w1, c1, s1, b1) = marks[first], marks[last]
        wall, client, server, busy = w1 - w0, c1 - c0, s1 - s0, b1 - b0
        cores = os.cpu_count() or 1
        return (
            f"CPU of {cores} cores x {wall:.1f} s: server {server:.1f} s, client {client:.1f} s, "
            f"the rest (PostgreSQL, others) {busy - server - client:.1f} s, idle {cores * wall - busy:.1f} s"
        )


# --- the phases ----------------------------------------------------------------------------------------------


def settle(server_pid: int, limit: float = 180) -> None:
    """Wait until every worker process has imported the app: the port answers as soon as the first one has, and
    connections opened before the others are up all go to it. Taken as the server's processes using less than a
    tenth of a core for a second (or `limit` seconds)."""
    meter, deadline = Meter(server_pid), time.monotonic() + limit
    if not Path("/proc/stat").exists():
        return
    before = meter.server_seconds()
    while time.monotonic() < deadline:
        time.sleep(1)
        now = meter.server_seconds()
        if now - before < 0.1:
            return
        before = now


def percentile(answers: Sequence[Answer], q: float) -> float:
    times = sorted(a.seconds for a in answers)
    return 1000 * times[min(len(times) - 1, int(q * len(times)))] if times else 0.0


@dataclass(frozen=True)
class Shape:
    connections: int  # the load's
    racers: int  # requests in a burst, each on a connection of its own
    lanes: int  # bursts at a time


@dataclass
class Consumption:
    """The consume phase: the load over its connections, and beside it the bursts, one after another."""

    load: list[Answer]
    race: list[list[Answer]]
    started: float
    load_done: float  # the window of the figures: the load, with the race beside it
    done: float  # the race may end later

    def in_window(self) -> list[Answer]:
        return self.load + [a for burst in self.race for a in burst if a.done <= self.load_done]

    def per_second(self, ok: Callable[[Answer], bool] = lambda a: True) -> float:
        return sum(ok(a) for a in self.in_window()) / (self.load_done - self.started)


async def consume_phase(
    client: Client,
    base: str,
    load: Sequence[Callable[[], Awaitable[Answer]]],
    race: Sequence[Sequence[Callable[[Client], Awaitable[Answer]]]],
    shape: Shape,
    meter: Meter,
) -> Consumption:
    meter.mark("consume")
    started = time.perf_counter()
    race_task = asyncio.ensure_future(bursts(base, shape.racers, shape.lanes, race))
    load_answers = await closed_loop(client, load, shape.connections)
    load_done = time.perf_counter()
    meter.mark("load done")
    race_answers = await race_task
    meter.mark("consumed")
    return Consumption(load_answers, race_answers, started, load_done, time.perf_counter())


@dataclass(frozen=True)
class Pace:
    rate: float  # requests offered a second
    count: int


@dataclass
class Run:
    redeemed: list[Answer]
    redeem_seconds: float
    paced: list[Answer]  # redemptions offered at a steady rate, after the closed loop
    consumed: Consumption
    vouchers: dict[str, dict[str, object]]  # code -> the voucher as its household saw it at redemption
    owner: dict[str, int]  # code -> household index
    load_codes: list[str]
    race_codes: list[str]


async def drive_ours(
    base: str,
    world: World,
    bearers: list[dict[str, str]],
    tills: list[dict[str, str]],
    race_vouchers: int,
    shape: Shape,
    pace: Pace,
    meter: Meter,
) -> Run:
    async with Client(base, shape.connections) as client:

        def redeem(n: int) -> Callable[[], Awaitable[Answer]]:
            household = n % len(bearers)
            headers = {**bearers[household], "Idempotency-Key": str(uuid.uuid4())}
            return lambda: send(client, "/api/v1/redemptions", headers, {"offer_id": world.offer_id})

        total = len(bearers) + race_vouchers
        step(f"redeeming {total} vouchers")
        meter.mark("redeem")
        started = time.perf_counter()
        redeemed = await closed_loop(client, [redeem(n) for n in range(total)], shape.connections)
        redeem_seconds = time.perf_counter() - started
        meter.mark("redeemed")
        vouchers: dict[str, dict[str, object]] = {}
        owner: dict[str, int] = {}
        codes: list[str | None] = []
        for n, answer in enumerate(redeemed):
            if answer.status == 201:
                code = str(answer.body["code"])
                vouchers[code], owner[code] = answer.body, n % len(bearers)
                codes.append(code)
            else:
                codes.append(None)
        load_codes = [c for c in codes[: len(bearers)] if c]
        race_codes = [c for c in codes[len(bearers) :] if c]

        step(f"redeeming {pace.count} more at {pace.rate:g}/s offered")
        at_pace = await paced([redeem(n) for n in range(pace.count)], pace.rate)
        for n, answer in enumerate(at_pace):  # held, not used: the checks count them so
            if answer.status == 201:
                code = str(answer.body["code"])
                vouchers[code], owner[code] = answer.body, n % len(bearers)

        def consume(code: str) -> Callable[[], Awaitable[Answer]]:
            return lambda: send(client, f"/api/v1/vouchers/{code}/consume", tills[0], {"pin": vouchers[code]["pin"]})

        def racer(code: str, k: int) -> Callable[[Client], Awaitable[Answer]]:
            proof = {"pin": vouchers[code]["pin"]} if k % 2 == 0 else {"qr": vouchers[code]["qr_text"]}
            return lambda c: send(c, f"/api/v1/vouchers/{code}/consume", tills[k], proof)

        step(f"consuming {len(load_codes)} vouchers, racing on {len(race_codes)}")
        consumed = await consume_phase(
            client,
            base,
            [consume(c) for c in load_codes],
            [[racer(c, k) for k in range(len(tills))] for c in race_codes],
            shape,
            meter,
        )
    return Run(redeemed, redeem_seconds, at_pace, consumed, vouchers, owner, load_codes, race_codes)


async def drive_bare(
    base: str, load: int, race_vouchers: int, shape: Shape, pace: Pace, meter: Meter
) -> tuple[Consumption, list[Answer]]:
    """The consume phase's shape against `/bare`: the load's POSTs over `connections`, the bursts beside them;
    then POSTs at the paced redemptions' rate."""
    async with Client(base, shape.connections) as client:

        def post() -> Awaitable[Answer]:
            return send(client, "/bare", {}, {"pin": "000000"})

        def burst_post(c: Client) -> Awaitable[Answer]:
            return send(c, "/bare", {}, {"pin": "000000"})

        consumed = await consume_phase(
            client, base, [post] * load, [[burst_post] * shape.racers] * race_vouchers, shape, meter
        )
        return consumed, await paced([post] * pace.count, pace.rate)


# --- the checks ----------------------------------------------------------------------------------------------


def check(url: str, world: World, run: Run) -> tuple[list[str], list[str]]:
    """(double spends, other problems): each a line saying what was found."""
    spends: list[str] = []
    problems: list[str] = []
    seen_used: Counter[str] = Counter()
    for code, answer in zip(run.load_codes, run.consumed.load, strict=True):
        if answer.status == 200:
            seen_used[code] += 1
        else:
            problems.append(f"load consume of {code}: {answer.status} {answer.body}")
    for code, burst in zip(run.race_codes, run.consumed.race, strict=True):
        won = [a for a in burst if a.status == 200]
        seen_used[code] += len(won)
        if len(won) > 1:
            spends.append(f"race on {code}: {len(won)} tills were told 200")
        if not won:
            problems.append(f"race on {code}: nobody won: {[(a.status, a.body.get('code')) for a in burst]}")
        for a in burst:
            if a.status != 200 and (a.status != 409 or a.body.get("code") != "voucher_already_used"):
                problems.append(f"race on {code}: a loser got {a.status} {a.body}")
    for n, answer in enumerate(run.redeemed + run.paced):
        if answer.status != 201:
            problems.append(f"redemption {n}: {answer.status} {answer.body}")

    engine = make_engine(url)
    try:
        with unit_of_work(engine) as session:
            by_code = {
                v.code: v for v in session.scalars(select(Voucher).where(col(Voucher.offer_id) == world.offer_id))
            }
            if set(by_code) != set(run.vouchers):
                problems.append(f"{len(by_code)} vouchers in the database, {len(run.vouchers)} redeemed over HTTP")
            consumed: Counter[int | None] = Counter(
                session.scalars(
                    select(col(VoucherEvent.voucher_id)).where(col(VoucherEvent.event) == VoucherEventKind.CONSUMED)
                )
            )
            tx = table_of(JournalTransaction)
            resolutions: Counter[int | None] = Counter(
                session.scalars(select(tx.c.pending_id).where(tx.c.pending_id.is_not(None)))
            )
            clearing = session.execute(
                select(col(Account.id), col(AccountBalance.posted), col(AccountBalance.pending_credit))
                .join(AccountBalance, col(AccountBalance.account_id) == col(Account.id))
                .where(col(Account.kind) == AccountKind.PARTNER_CLEARING)
            ).all()
            to_clearing: Counter[int | None] = Counter(
                dict(
                    session.execute(
                        select(tx.c.pending_id, func.count())
                        .select_from(Posting)
                        .join(tx, tx.c.id == Posting.transaction_id)
                        .where(
                            col(Posting.account_id).in_([row.id for row in clearing]),
                            tx.c.kind == TxKind.POST_PENDING,
                        )
                        .group_by(tx.c.pending_id)
                    ).all()
                )
            )
            for code, voucher in by_code.items():
                events, resolved = consumed[voucher.id], resolutions[voucher.hold_id]
                if events > 1:
                    spends.append(f"{code}: {events} consumed events")
                if resolved > 1:
                    spends.append(f"{code}: its hold resolved {resolved} times")
                if to_clearing[voucher.hold_id] > 1:
                    spends.append(f"{code}: {to_clearing[voucher.hold_id]} postings to the clearing account")
                used = voucher.status == "used"
                if used != (seen_used[code] == 1) or events != int(used):
                    problems.append(
                        f"{code}: status {voucher.status}, {events} consumed events, "
                        f"{seen_used[code]} consumes answered 200"
                    )
            spent = Counter(run.owner[code] for code, n in seen_used.items() if n)
            held = Counter(run.owner[code] for code in run.vouchers if not seen_used[code])
            own = {h: row_id(accounts.of_household(session, h).id) for h in world.households}
            balances = {
                row.account_id: row
                for row in session.scalars(
                    select(AccountBalance).where(col(AccountBalance.account_id).in_(own.values()))
                )
            }
            for n, household in enumerate(world.households):
                row = balances[own[household]]
                if row.posted != GIVEN - COST * spent[n]:
                    spends.append(
                        f"household {household}: posted {row.posted}, given {GIVEN} less {COST * spent[n]} seen spent"
                    )
                if row.pending_debit != COST * held[n]:
                    problems.append(
                        f"household {household}: {row.pending_debit} held, {COST * held[n]} in unused vouchers"
                    )
            total_used = COST * sum(1 for n in seen_used.values() if n)
            if sum(row.posted for row in clearing) != total_used:
                spends.append(
                    f"the clearing accounts hold {sum(row.posted for row in clearing)}, {total_used} seen consumed"
                )
            report = verify.verify(session)
            if not report.ok:
                spends.append(f"journal verification failed: {report}")
    finally:
        engine.dispose()
    return spends, problems


# --- main ----------------------------------------------------------------------------------------------------


def step(what: str) -> None:
    """Where the run is, on stderr as it goes (the figures come at the end, on stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="a PostgreSQL URL (a scratch schema is made in it); default: a SQLite file")
    parser.add_argument("--workers", type=int, help="uvicorn worker processes (8 on PostgreSQL, 1 on SQLite)")
    parser.add_argument("--households", type=int, default=1500)
    parser.add_argument("--villages", type=int, default=1)
    parser.add_argument("--race-vouchers", type=int, default=200)
    parser.add_argument("--racers", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--race-lanes", type=int, default=2, help="bursts at a time")
    parser.add_argument("--paced-rate", type=float, default=60, help="redemptions offered a second in the paced run")
    parser.add_argument("--paced-seconds", type=float, default=20, help="how long the paced run offers them")
    parser.add_argument(
        "--small", action="store_true", help="a quick run: 200 households, 40 raced vouchers, 5 s paced"
    )
    args = parser.parse_args()
    if args.small:
        args.households, args.race_vouchers = min(args.households, 200), min(args.race_vouchers, 40)
        args.paced_seconds = min(args.paced_seconds, 5)
    pace = Pace(args.paced_rate, max(1, round(args.paced_rate * args.paced_seconds)))
    args.race_vouchers = min(args.race_vouchers, args.households)
    workers = args.workers or (8 if args.database else 1)
    shape = Shape(args.connections, args.racers, args.race_lanes)

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        url = (
            stack.enter_context(postgres_schema(args.database, f"voucher_race_{os.getpid()}"))
            if args.database
            else f"sqlite:///{tmp}/vouchers.db"
        )
        step(f"seeding {args.households} households ({'PostgreSQL' if args.database else 'SQLite'})")
        started = time.perf_counter()
        world = seed(url, args.households, args.villages, args.racers)
        seeded = time.perf_counter() - started
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
        bearers = [
            {"Authorization": "Bearer " + tokens.issue_access_token(settings, sub=f"user:{u}", role=Role.VILLAGER)[0]}
            for u in world.users
        ]
        tills = [
            {
                "Authorization": "Bearer "
                + tokens.issue_access_token(settings, sub=f"client:{t}", role="partner", scopes=TILL_SCOPES)[0]
            }
            for t in world.tills
        ]
        port = free_port()
        log = Path(tmp, "server.log")
        step(f"serving the app with {workers} worker(s)")
        server = serve("api.app:create_app", port, env, factory=True, workers=workers, log=log)
        base = f"http://127.0.0.1:{port}"
        try:
            settle(server.pid)
            asyncio.run(warm_up(base, "/api/v1/vouchers", bearers[0], 16 * workers, args.connections))
            meter = Meter(server.pid)
            run = asyncio.run(drive_ours(base, world, bearers, tills, args.race_vouchers, shape, pace, meter))
        finally:
            stop(server)
        server_errors = [
            line
            for line in log.read_text(errors="replace").splitlines()
            if "Traceback" in line or "ERROR" in line or "error" in line.lower()
        ]
        step("checking the database")
        spends, problems = check(url, world, run)
        step("serving the bare app")

        bare_port = free_port()
        bare = serve("bench.bare_app:app", bare_port, env, factory=False, workers=workers, log=Path(tmp, "bare.log"))
        bare_base = f"http://127.0.0.1:{bare_port}"
        try:
            settle(bare.pid)
            asyncio.run(warm_up(bare_base, "/bare", {}, 16 * workers, args.connections, method="POST"))
            bare_meter = Meter(bare.pid)
            bare_run, bare_paced = asyncio.run(
                drive_bare(bare_base, len(run.load_codes), len(run.race_codes), shape, pace, bare_meter)
            )
        finally:
            stop(bare)

    ours = run.consumed
    window = ours.load_done - ours.started
    race_answers = [a for burst in ours.race for a in burst]
    bare_race = [a for burst in bare_run.race for a in burst]
    consumes_per_s = ours.per_second(lambda a: a.status == 200)
    answers_per_s, bare_per_s = ours.per_second(), bare_run.per_second()
    winners = Counter(sum(a.status == 200 for a in burst) for burst in ours.race)
    losers = Counter((a.status, str(a.body.get("code"))) for a in race_answers if a.status != 200)
    status_5xx = [a for a in run.redeemed + run.paced + ours.load + race_answers if a.status >= 500 or a.status == 0]
    redeemed_ok = sum(a.status == 201 for a in run.redeemed)
    engine = "PostgreSQL" if args.database else "SQLite file"

    print(
        f"voucher_race: {os.cpu_count()} cores, uvicorn {workers} worker(s), {engine}, {args.villages} village(s), "
        f"{args.households} households, {args.connections} connections (closed loop) + {args.racers} racing "
        f"tills on {len(run.race_codes)} vouchers; seeded in {seeded:.1f} s"
    )
    if not args.database and not args.workers:
        print("  (SQLite takes one writer at a time: 1 worker; --database postgresql+psycopg://… for the 8 workers)")
    print(
        f"  redeem  {len(run.redeemed)} POSTs in {run.redeem_seconds:.1f} s: {redeemed_ok / run.redeem_seconds:.1f} "
        f"redemptions/s  p50 {percentile(run.redeemed, 0.5):.1f} ms  p99 {percentile(run.redeemed, 0.99):.1f} ms"
    )
    print(f"          {meter.between('redeem', 'redeemed')}")
    paced_ok = sum(a.status == 201 for a in run.paced)
    paced_p99 = percentile(run.paced, 0.99)
    print(
        f"  paced   {pace.count} redemptions offered at {pace.rate:g}/s ({paced_ok} made), counted from when each was "
        f"due: p50 {percentile(run.paced, 0.5):.1f} ms  p99 {paced_p99:.1f} ms  max {percentile(run.paced, 1):.1f} ms;"
        f"  bare at the same pace: p50 {percentile(bare_paced, 0.5):.1f} ms  p99 {percentile(bare_paced, 0.99):.1f} ms"
    )
    under_load = sum(bool(burst) and max(a.done for a in burst) <= ours.load_done for burst in ours.race)
    print(
        f"  consume {len(ours.load)} vouchers over {args.connections} connections, {len(race_answers)} racing POSTs "
        f"beside them ({args.race_lanes} bursts at a time); figures over the load's {window:.1f} s, in which "
        f"{under_load} of {len(ours.race)} races were run (the rest in {ours.done - ours.load_done:.1f} s after)"
    )
    print("                 answers/s  consumes/s   load p50    load p99   race p50   race p99")
    print(
        f"    ours       {answers_per_s:10.1f}  {consumes_per_s:10.1f}  {percentile(ours.load, 0.5):7.1f} ms  "
        f"{percentile(ours.load, 0.99):7.1f} ms {percentile(race_answers, 0.5):7.1f} ms "
        f"{percentile(race_answers, 0.99):7.1f} ms"
    )
    print(
        f"    bare       {bare_per_s:10.1f}           -  {percentile(bare_run.load, 0.5):7.1f} ms  "
        f"{percentile(bare_run.load, 0.99):7.1f} ms {percentile(bare_race, 0.5):7.1f} ms "
        f"{percentile(bare_race, 0.99):7.1f} ms   (/bare, same shape: {bare_run.load_done - bare_run.started:.1f} s)"
    )
    print(f"    ratio ours/bare answers/s {answers_per_s / bare_per_s:.3f}")
    print(f"    ours  {meter.between('consume', 'load done')}")
    print(f"    bare  {bare_meter.between('consume', 'load done')}")
    overlapped = sum(bool(burst) and max(a.sent for a in burst) < min(a.done for a in burst) for burst in ours.race)
    print(
        f"  race    winners per voucher: {dict(sorted(winners.items()))}; the others were answered: "
        f"{dict(losers.most_common())}; in {overlapped} of {len(ours.race)} races every request was sent "
        f"before the first answer came"
    )
    print(
        f"  checks  {len(spends)} double spends, {len(problems)} other problems, {len(status_5xx)} answers 5xx or "
        f"none, {len(server_errors)} error lines in the server log"
    )
    for line in (spends + problems)[:20]:
        print(f"    {line}")
    for a in status_5xx[:5]:
        print(f"    {a.request}: {a.status} {a.body}")
    for line in server_errors[:20]:
        print(f"    server: {line}")
    print(
        f"voucher_race double_spends={len(spends)} consumes_per_s={consumes_per_s:.1f} "
        f"ratio={answers_per_s / bare_per_s:.3f} p99_ms={paced_p99:.1f}"
    )
    if spends or problems or status_5xx:
        raise SystemExit(1)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)  # the server and its workers (serve() gives them a session)
        server.wait()


if __name__ == "__main__":
    main()
