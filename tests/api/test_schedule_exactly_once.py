"""Several schedulers at once over the same due work: each claim settles once, each voucher expires once, each
notification is sent once, and the ledger verifies. Each scheduler is a thread with an engine (a connection pool)
of its own, as separate `shanzhi worker` processes would be; on PostgreSQL they really run at the same moment, on
SQLite one writer at a time."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import col

from ledger import jobs
from ledger.claims import verify as claims_verify
from ledger.claims.models import Claim, ClaimStatus
from ledger.core.base import utcnow
from ledger.core.db import make_engine, unit_of_work
from ledger.core.outbox import Notification
from ledger.journal import verify
from ledger.journal.models import JournalTransaction
from redemption import schedule
from redemption import verify as redemption_verify
from redemption.models import Voucher, VoucherStatus
from tests.api.claiming import claim, code_of, decide, new_activity, photo
from tests.api.conftest import World, password_token, villager_token
from tests.api.redeeming import give_points, offer, redeem

SCHEDULERS = 4
TICKS_EACH = 3
SECOND_PHONE = "13900000002"  # household A2 in the world fixture


def _claim(client: TestClient, villager: str, activity: dict[str, Any]) -> int:
    made = claim(client, villager, code_of(activity), evidence_ids=[photo(client, villager)])
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


@pytest.mark.db
def test_tick_is_exactly_once_however_many_schedulers_run(
    client: TestClient, world: World, engine: Engine, database_url: str
) -> None:
    official = password_token(client, "official-a")
    first, second = villager_token(client, world.villager_phone), villager_token(client, SECOND_PHONE)
    activity = new_activity(client, official, world.village_a.village_id, "courtyard_hygiene")
    claims = [_claim(client, villager, activity) for villager in (first, second)]
    claims.append(_claim(client, first, new_activity(client, official, world.village_a.village_id)))
    for claim_id in claims:
        assert decide(client, official, claim_id).status_code == 201
    give_points(engine, world.household_a1, 300)
    give_points(engine, world.household_a2, 300)
    lapsing = offer(client, voucher_days=7, stock=5)
    redeemed = [redeem(client, token, lapsing["id"]) for token in (first, second)]
    assert [r.status_code for r in redeemed] == [201, 201]
    vouchers = [r.json()["code"] for r in redeemed]
    with unit_of_work(engine) as session:
        transactions_before = session.scalar(select(func.count()).select_from(JournalTransaction))

    later = utcnow() + timedelta(days=30)  # past every notice period and every voucher's time
    sent: list[int] = []
    sent_lock = threading.Lock()

    def sink(notification: Notification) -> None:
        with sent_lock:
            sent.append(int(notification.id or 0))

    start = threading.Barrier(SCHEDULERS)
    reports: list[jobs.TickReport] = []
    errors: list[BaseException] = []

    def scheduler() -> None:
        own = make_engine(database_url)
        try:
            own.connect().close()
            start.wait()
            for _ in range(TICKS_EACH):
                report = schedule.tick(own, sink=sink, now=later)
                with sent_lock:
                    reports.append(report)
        except BaseException as error:  # noqa: BLE001  (reported by the test below)
            errors.append(error)
        finally:
            own.dispose()

    threads = [threading.Thread(target=scheduler) for _ in range(SCHEDULERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert all(not report.failed_steps and not report.failed_items for report in reports)

    assert sum(report.settled_claims for report in reports) == len(claims)
    assert sum(report.done.get("expire_vouchers", 0) for report in reports) == len(vouchers)
    with unit_of_work(engine) as session:
        statuses = session.scalars(select(col(Claim.status)).where(col(Claim.id).in_(claims))).all()
        assert set(statuses) == {ClaimStatus.SETTLED}
        voucher_statuses = session.scalars(select(col(Voucher.status)).where(col(Voucher.code).in_(vouchers))).all()
        assert set(voucher_statuses) == {VoucherStatus.EXPIRED}
        transactions_after = session.scalar(select(func.count()).select_from(JournalTransaction))
        notifications = session.scalars(select(Notification)).all()
        delivered = {int(n.id or 0) for n in notifications if n.delivered_at is not None}
        report = verify.verify(session)
        linked = verify.links(session)
        mismatches = [*claims_verify.check(session, linked), *redemption_verify.check(session, linked)]

    # One settlement per claim and one release per voucher: the journal grew by exactly that much.
    assert (transactions_after or 0) - (transactions_before or 0) == len(claims) + len(vouchers)
    # Every notification due went out, each once.
    assert delivered and set(sent) == delivered
    assert [n for n, times in Counter(sent).items() if times > 1] == []
    assert sum(r.delivered for r in reports) == len(sent)
    assert report.ok and mismatches == []
