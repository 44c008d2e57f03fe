"""Changes to one household at the same moment (threads on SQLite, processes on PostgreSQL): the household's row
lock puts them in turn, so a household keeps exactly one head and closes once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from ledger.core import audit
from ledger.core.db import make_engine, unit_of_work
from ledger.identity.models import Role, User
from ledger.people import households
from ledger.tenancy import Person
from scoring import closing
from tests import factories
from tests.concurrently import run_together

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Home:
    county_id: int
    household_id: int
    members: list[int]  # person ids, not the head
    admin: int  # user id


def a_home(database_url: str, members: int) -> Home:
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        village = factories.create_village(session)
        household_id, _ = factories.create_household(session, village.village_id)
        people = [Person(household_id=household_id, name=f"成员{n}", relation="子") for n in range(members)]
        session.add_all(people)
        admin = User(role=Role.COUNTY_ADMIN, county_id=village.county_id, username="admin", display_name="admin")
        session.add(admin)
        session.flush()
        home = Home(village.county_id, household_id, [factories.id_of(p) for p in people], factories.id_of(admin))
    engine.dispose()
    return home


def test_heads_changed_at_once_leave_exactly_one_head(database_url: str) -> None:
    home = a_home(database_url, 4)

    def make_head(engine: Engine, person_id: int) -> str:
        with unit_of_work(engine) as session:
            who = factories.principal_of(session, home.admin)
            households.change_head(session, who, home.household_id, person_id=person_id, former_head_relation="父")
        return "changed"

    assert run_together(database_url, make_head, home.members) == ["changed"] * 4
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        heads = session.scalars(
            select(Person).where(col(Person.household_id) == home.household_id, col(Person.is_head))
        ).all()
        assert len(heads) == 1 and heads[0].relation == "户主"
        changes = audit.changes(session, home.county_id, action="household.head")
        assert len(changes) == 4  # each one in turn, each from the head the one before left
        assert audit.as_dict(changes[-1])["after"]["head_person_id"] == heads[0].id
    engine.dispose()


def test_a_household_closed_twice_at_once_closes_once(database_url: str) -> None:
    home = a_home(database_url, 0)

    def close(engine: Engine, _: int) -> str:
        with unit_of_work(engine) as session:
            closing.close_household(session, factories.principal_of(session, home.admin), home.household_id)
        return "closed"

    results = run_together(database_url, close, [1, 2, 3])
    assert Counter(results) == {"closed": 1, "household_closed": 2}
