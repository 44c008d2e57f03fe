"""People's data under concurrency (threads on SQLite, processes on PostgreSQL): a person erased by two requests
at once is erased once, and two schedulers purging at once delete each photo once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from ledger.claims.models import EvidenceFile
from ledger.core import audit
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.identity.models import User
from ledger.people import erasure
from ledger.tenancy import Person
from redemption import schedule
from scoring import retention
from tests.api.claiming import photo, picture
from tests.api.conftest import World, villager_token
from tests.concurrently import run_together
from tests.factories import not_none, principal_of


def _erase(engine: Engine, arg: tuple[int, int, str]) -> str:
    admin_id, person_id, upload_dir = arg
    with unit_of_work(engine) as session:
        erased = erasure.erase(session, principal_of(session, admin_id), person_id, upload_dir=Path(upload_dir))
        return f"erased:{erased.photos_deleted}"


def test_a_person_erased_twice_at_once_is_erased_once(
    client: TestClient, world: World, engine: Engine, database_url: str, settings: Settings
) -> None:
    photo(client, villager_token(client, world.villager_phone))
    with unit_of_work(engine) as session:
        admin_id = not_none(session.scalars(select(User.id).where(col(User.username) == "admin")).one())
        head = session.scalars(select(Person).where(col(Person.phone) == world.villager_phone)).one()
        person_id = not_none(head.id)

    results = run_together(database_url, _erase, [(admin_id, person_id, str(settings.upload_dir))] * 4)

    assert sorted(results) == ["erased:1"] + ["person_already_erased"] * 3
    with unit_of_work(engine) as session:
        assert audit.count(session, world.village_a.county_id, action="person.erase") == 1


def _tick(engine: Engine, days: int) -> str:
    return str(schedule.tick(engine, now=utcnow() + timedelta(days=days)).done.get(retention.STEP, "skipped"))


def test_two_schedulers_purging_at_once_delete_each_photo_once(
    client: TestClient,
    world: World,
    engine: Engine,
    database_url: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(retention, "get_settings", lambda: settings)  # forked processes keep it too
    villager = villager_token(client, world.villager_phone)
    for shade in range(6):
        photo(client, villager, picture(colour=(shade, 50, 50)))
    days = settings.evidence_retention_days + 1

    results: list[Any] = run_together(database_url, _tick, [days, days, days])

    # done once: one scheduler purged (the six photos and the sign-in records of the setup), the others found
    # nothing left (SQLite: one after the other) or skipped the step another was running (PostgreSQL)
    done = [int(r) for r in results if r != "skipped"]
    assert len([n for n in done if n]) == 1 and max(done) >= 6, results
    with unit_of_work(engine) as session:
        assert all(p.purged_at is not None for p in session.scalars(select(EvidenceFile)))
