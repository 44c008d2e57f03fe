"""Claims under contention, on a real database: threads on SQLite, processes on PostgreSQL (tests/concurrently.py).

Two officials approving one claim together credit it once; a capacity or a cap is never exceeded however many
claims arrive at once; several workers running the scheduled work together settle each claim once and deliver
each notification once.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from ledger import jobs
from ledger.activities import codes
from ledger.activities import service as activities
from ledger.catalogue import service as catalogue
from ledger.claims import review
from ledger.claims import service as claims
from ledger.claims.models import Claim
from ledger.core import outbox
from ledger.core.base import utcnow
from ledger.core.db import make_engine, unit_of_work
from ledger.core.outbox import Notification
from ledger.core.settings import Settings
from ledger.journal import accounts, queries
from ledger.journal.models import AccountKind, JournalTransaction
from ledger.journal.verify import verify
from ledger.tenancy import Village
from tests import factories
from tests.concurrently import run_together

pytestmark = pytest.mark.slow
KEYS = codes.Keys.from_settings(Settings(env="dev", jwt_secret="test-secret-0123456789-abcdefghijklmnop"))


@dataclass(frozen=True)
class Setup:
    village: factories.VillageFixture
    homes: list[int]
    villagers: list[int]  # user ids, one per home
    officials: list[int]


def setup_village(url: str, households: int) -> Setup:
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        village = factories.create_village(session)
        catalogue.load_default(session, county_id=village.county_id)
        homes = [factories.create_household(session, village.village_id)[0] for _ in range(households)]
        villagers = [factories.create_villager(session, h) for h in homes]
        officials = [factories.create_official(session, village.county_id, [village.village_id]) for _ in range(2)]
    engine.dispose()
    return Setup(village, homes, villagers, officials)


def new_activity(url: str, village_id: int, matter: str, **kw: Any) -> tuple[int, str]:
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        village = session.get(Village, village_id)
        assert village is not None
        activity = activities.create(
            session,
            village=village,
            matter_code=matter,
            title=matter,
            starts_at=utcnow() - timedelta(hours=1),
            ends_at=utcnow() + timedelta(days=1),
            actor="test",
            **kw,
        )
        code = activities.printed_code(KEYS, activity)
        activity_id = factories.id_of(activity)
    engine.dispose()
    return activity_id, code


def submit(engine: Engine, user_id: int, code: str) -> str:
    with unit_of_work(engine) as session:
        who = factories.principal_of(session, user_id)
        made = claims.submit_by_code(session, who, KEYS, token=code, details=claims.Details(), idempotency_key=None)
        return f"claimed:{made.value.id}"


def test_two_officials_approving_at_once_credit_the_claim_once(database_url: str) -> None:
    world = setup_village(database_url, 1)
    _, code = new_activity(database_url, world.village.village_id, "volunteering")
    engine = make_engine(database_url)
    claim_id = int(submit(engine, world.villagers[0], code).split(":")[1])
    engine.dispose()

    def approve(engine: Engine, official: int) -> str:
        with unit_of_work(engine) as session:
            review.approve(session, factories.principal_of(session, official), claim_id=claim_id, idempotency_key=None)
        return "approved"

    results = run_together(database_url, approve, list(world.officials) * 3)
    assert Counter(results) == {"approved": 1, "claim_already_decided": 5}
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        notice = accounts.of_household(session, world.homes[0], AccountKind.NOTICE)
        assert queries.balance(session, factories.id_of(notice)).posted == 5
        assert verify(session).ok
    engine.dispose()


def test_a_full_activity_takes_exactly_its_capacity(database_url: str) -> None:
    world = setup_village(database_url, 10)
    _, code = new_activity(database_url, world.village.village_id, "volunteering", capacity=3)
    results = run_together(
        database_url, lambda engine, user: submit(engine, user, code).split(":")[0], list(world.villagers)
    )
    assert Counter(results) == {"claimed": 3, "capacity_full": 7}


def test_one_household_claiming_two_stations_at_once_stays_within_its_cap(database_url: str) -> None:
    world = setup_village(database_url, 1)
    village_id = world.village.village_id
    stations = [new_activity(database_url, village_id, "garbage_sorting", period="day")[1] for _ in range(4)]
    user = world.villagers[0]
    results = run_together(database_url, lambda engine, code: submit(engine, user, code).split(":")[0], stations)
    assert Counter(results) == {"claimed": 1, "cap_reached": 3}  # garbage sorting: once a day


def test_awards_and_a_claim_of_one_matter_at_once_stay_within_its_cap(database_url: str) -> None:
    """An award is a claim: two officials awarding, and the household claiming, at the same moment share the cap."""
    world = setup_village(database_url, 1)
    home, user = world.homes[0], world.villagers[0]
    _, code = new_activity(database_url, world.village.village_id, "garbage_sorting", period="day")

    def award_or_claim(engine: Engine, who: int | None) -> str:
        if who is None:
            return submit(engine, user, code).split(":")[0]
        with unit_of_work(engine) as session:
            claims.submit_award(
                session,
                factories.principal_of(session, who),
                household_id=home,
                matter_code="garbage_sorting",
                reason="Sorted the lane.",
                person_id=None,
                details=claims.Details(),
                idempotency_key=None,
            )
        return "claimed"

    results = run_together(database_url, award_or_claim, [*world.officials, None])
    assert Counter(results) == {"claimed": 1, "cap_reached": 2}  # garbage sorting: once a day
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Claim)) == 1
        assert verify(session).ok
    engine.dispose()


def test_workers_running_the_schedule_together_settle_and_tell_once(database_url: str, tmp_path: Path) -> None:
    world = setup_village(database_url, 6)
    village_id = world.village.village_id
    _, code = new_activity(database_url, village_id, "volunteering")
    engine = make_engine(database_url)
    for user in world.villagers:
        claim_id = int(submit(engine, user, code).split(":")[1])
        with unit_of_work(engine) as session:
            review.approve(
                session,
                factories.principal_of(session, world.officials[0]),
                claim_id=claim_id,
                idempotency_key=None,
            )
    engine.dispose()
    sent = tmp_path / "sent.txt"

    def sink(notification: outbox.Notification) -> None:
        with open(sent, "a") as out:  # one short append: atomic between processes
            out.write(f"{notification.id}\n")
            out.flush()
            os.fsync(out.fileno())

    later = utcnow() + timedelta(days=8)
    reports = run_together(
        database_url, lambda engine, _: repr(jobs.tick(engine, sink=sink, now=later)), list(range(4))
    )
    assert len(reports) == 4
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        assert set(session.scalars(select(col(Claim.status))).all()) == {"settled"}
        settlements = session.scalar(
            select(func.count()).select_from(JournalTransaction).where(col(JournalTransaction.actor) == "system:notice")
        )
        assert settlements == 6
        for home in world.homes:
            assert queries.balance(session, factories.id_of(accounts.of_household(session, home))).posted == 5
        notifications = session.scalar(select(func.count()).select_from(Notification))
        assert verify(session).ok
    engine.dispose()
    delivered = sent.read_text().split()
    assert len(delivered) == len(set(delivered)) == notifications == 12  # approved + settled, each once
