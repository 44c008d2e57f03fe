"""Concerns under contention, on a real database: threads on SQLite, processes on PostgreSQL
(tests/concurrently.py). Two officials pressing "accept" together: one accepts, the other is told the concern is
no longer waiting, and the timeline has one acceptance; two reports of the same place at once make one concern."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from ledger.concerns import service
from ledger.concerns.models import Concern, ConcernEvent
from ledger.core.db import make_engine, unit_of_work
from ledger.core.outbox import Notification
from tests import factories
from tests.concurrently import run_together
from tests.ledger.concerns.conftest import make_world

pytestmark = pytest.mark.slow


def _accept(engine: Engine, arg: tuple[int, int]) -> str:
    user_id, concern_id = arg
    with unit_of_work(engine) as session:
        who = factories.principal_of(session, user_id)
        service.accept(session, who, concern_id)
    return "accepted"


def test_two_officials_accepting_at_once_accept_once(database_url: str) -> None:
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        world = make_world(session)
        concern = world.report()
        concern_id = factories.id_of(concern)
        officials = [factories.not_none(o.user_id) for o in (*world.officials, world.supervisor, world.admin)]
        home = world.homes[0]
    outcomes = run_together(database_url, _accept, [(user_id, concern_id) for user_id in officials])
    assert sorted(outcomes) == ["accepted"] + ["concern_wrong_step"] * (len(officials) - 1)
    with unit_of_work(engine) as session:
        actions = session.scalars(
            select(col(ConcernEvent.action)).where(col(ConcernEvent.concern_id) == concern_id)
        ).all()
        assert sorted(actions) == ["accept", "submit"]
        row = session.get(Concern, concern_id)
        assert row is not None and (row.status, row.version) == ("accepted", 2)
        told = session.scalar(
            select(func.count()).where(
                col(Notification.household_id) == home, col(Notification.kind) == "concern_accepted"
            )
        )
        assert told == 1
    engine.dispose()


def _report(engine: Engine, arg: tuple[int, int]) -> str:
    user_id, place_id = arg
    with unit_of_work(engine) as session:
        who = factories.principal_of(session, user_id)
        report = service.Report(category_code="road_hazard", kind="hazard", text="Hole", place_id=place_id)
        concern = service.report(session, who, report, idempotency_key=None).value
        return concern.status


def test_reports_of_one_place_at_once_make_one_concern_and_followers(database_url: str) -> None:
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        world = make_world(session)
        from ledger.concerns import setup

        place = setup.add_place(session, world.officials[0], village_id=world.village.village_id, name="Bridge")
        args: list[Any] = [(factories.not_none(v.user_id), factories.id_of(place)) for v in world.villagers]
    outcomes = run_together(database_url, _report, args)
    assert sorted(outcomes) == ["merged", "merged", "submitted"]
    engine.dispose()
