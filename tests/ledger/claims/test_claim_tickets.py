"""Scan tickets: proof that a device opened a live rotating code at a given step, good for one claim within
codes.TICKET_SECONDS, from that device. Run on a real database; the race with real threads (SQLite) or real
processes (PostgreSQL), tests/concurrently.py."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from ledger.activities import codes
from ledger.activities import service as activities
from ledger.claims import service as claims
from ledger.claims.models import Claim, ScanTicketUse
from ledger.core.base import utcnow
from ledger.core.db import make_engine, unit_of_work
from ledger.core.errors import DomainError
from ledger.tenancy import Village
from tests import factories
from tests.concurrently import run_together
from tests.ledger.claims.test_claims_concurrency import KEYS, Setup, setup_village

pytestmark = pytest.mark.slow
PHONE = "one-shared-phone"
HALL: dict[str, Any] = {"lat": 30.2741, "lon": 120.1551}
SCAN_AGO = timedelta(minutes=5)  # scanned, then signing in took five minutes: 10 codes ago


def scanned(url: str, households: int) -> tuple[Setup, str, str, int]:
    """A village, a live meeting, its code of five minutes ago, the ticket this phone got for it then and that
    code's step. Five minutes before the test runs, not before the suite was collected: a ticket lasts ten."""
    world = setup_village(url, households)
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        village = session.get(Village, world.village.village_id)
        assert village is not None
        activity = activities.create(
            session,
            village=village,
            matter_code="village_meeting",
            title="Meeting",
            rotating=True,
            radius_m=200,
            starts_at=utcnow() - timedelta(hours=1),
            ends_at=utcnow() + timedelta(hours=2),
            actor="test",
            **HALL,
        )
        activity_id = factories.id_of(activity)
    engine.dispose()
    step = codes.step_of(utcnow() - SCAN_AGO)
    code = codes.sign_rotating(KEYS, activity_id=activity_id, step=step)
    ticket = codes.sign_ticket(KEYS, activity_id=activity_id, step=step, bound_to=claims.device_hash(PHONE))
    return world, code, ticket, step


def submit(
    engine: Engine, user_id: int, code: str, ticket: str | None, *, device: str = PHONE, now: datetime | None = None
) -> str:
    with unit_of_work(engine) as session:
        who = factories.principal_of(session, user_id)
        made = claims.submit_by_code(
            session,
            who,
            KEYS,
            token=code,
            idempotency_key=None,
            now=now,
            details=claims.Details(device=device, scan_ticket=ticket, **HALL),
        )
        return made.value.status


def test_with_its_ticket_a_changed_code_is_claimed_at_the_scans_time(database_url: str) -> None:
    world, code, ticket, step = scanned(database_url, 1)
    engine = make_engine(database_url)
    assert claims_outcome(engine, world.villagers[0], code, None) == "code_expired"
    assert submit(engine, world.villagers[0], code, ticket) == "approved"
    with unit_of_work(engine) as session:
        claim = session.scalars(select(Claim)).one()
        assert claim.code_step == step  # the scan's step, not the claim's
    engine.dispose()


def test_a_ticket_is_refused_from_another_device_too_late_or_for_another_code(database_url: str) -> None:
    world, code, ticket, step = scanned(database_url, 1)
    user = world.villagers[0]
    engine = make_engine(database_url)
    assert claims_outcome(engine, user, code, ticket, device="the-neighbours-phone") == "scan_ticket_invalid"
    later = utcnow() + timedelta(seconds=codes.TICKET_SECONDS)
    assert claims_outcome(engine, user, code, ticket, now=later) == "code_expired"
    meeting = codes.read(KEYS, code)
    assert isinstance(meeting, codes.ActivityCode)
    other = codes.sign_rotating(KEYS, activity_id=meeting.activity_id, step=step - 4)
    assert claims_outcome(engine, user, other, ticket) == "code_expired"
    engine.dispose()


def claims_outcome(engine: Engine, user: int, code: str, ticket: str | None, **kw: Any) -> str:
    try:
        return submit(engine, user, code, ticket, **kw)
    except DomainError as error:
        return error.code


def test_one_ticket_sent_by_four_households_at_once_makes_one_claim(database_url: str) -> None:
    world, code, ticket, _ = scanned(database_url, 4)

    def use(engine: Engine, user_id: int) -> str:
        return submit(engine, user_id, code, ticket)

    outcomes = Counter(run_together(database_url, use, world.villagers))
    assert outcomes.pop("scan_ticket_used") == 3
    assert list(outcomes) in (["approved"], ["pending"])  # the one claim (flags aside)
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Claim)) == 1
        assert session.scalar(select(func.count()).select_from(ScanTicketUse)) == 1
    engine.dispose()
