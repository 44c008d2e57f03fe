"""A claim nobody decides within the county's overdue hours goes to the township supervisor: the schedule marks it
once (however many workers tick at the same moment), tells the township's supervisors once, and puts it at the
head of the review queue, marked; a claim decided in time never goes up, and nobody outside the township sees it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from ledger import jobs
from ledger.claims import escalation
from ledger.claims.models import Claim
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.outbox import Notification
from ledger.identity.models import OfficialScope, Role, User
from ledger.identity.service import set_password
from ledger.tenancy import County
from tests import factories
from tests.api.claiming import claim, code_of, decide, new_activity
from tests.api.conftest import PASSWORD, World, bearer, password_token, villager_token
from tests.concurrently import run_together
from tests.factories import id_of

SECOND_PHONE = "13900000002"  # household A2


def _submit(client: TestClient, official: str, phone: str, village_id: int, matter: str = "volunteering") -> int:
    made = claim(client, villager_token(client, phone), code_of(new_activity(client, official, village_id, matter)))
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _age(engine: Engine, claim_id: int, hours: float) -> None:
    """Make the claim as old as that (it was submitted `hours` ago)."""
    with unit_of_work(engine) as session:
        row = session.get(Claim, claim_id)
        assert row is not None
        row.submitted_at = utcnow() - timedelta(hours=hours)


def _escalated_at(engine: Engine, claim_id: int) -> datetime | None:
    with unit_of_work(engine) as session:
        row = session.get(Claim, claim_id)
        assert row is not None
        return row.escalated_at


def _told(engine: Engine, claim_id: int) -> list[dict[str, Any]]:
    """The payloads of the escalation notices about this claim."""
    with unit_of_work(engine) as session:
        rows = session.scalars(
            select(Notification).where(col(Notification.kind) == escalation.TOLD).order_by(col(Notification.id))
        ).all()
        return [dict(n.payload) for n in rows if n.payload.get("claim_id") == claim_id]


def _user_id(engine: Engine, username: str) -> int:
    with unit_of_work(engine) as session:
        return id_of(session.scalars(select(User).where(col(User.username) == username)).one())


def _another_township(engine: Engine, world: World) -> int:
    """A village of the same county in another township, with its own official and supervisor."""
    with unit_of_work(engine) as session:
        d = factories.create_village(session, county_id=world.village_a.county_id)
        factories.create_household(session, d.village_id, phone="13900000009")
        for username, scope in (
            ("official-d", OfficialScope(user_id=0, village_id=d.village_id)),
            ("supervisor-d", OfficialScope(user_id=0, township_id=d.township_id)),
        ):
            user = User(role=Role.OFFICIAL, county_id=d.county_id, username=username, display_name=username)
            set_password(user, PASSWORD)
            session.add(user)
            session.flush()
            scope.user_id = id_of(user)
            session.add(scope)
        return d.village_id


def _tick(engine: Engine, hours_ahead: float) -> str:
    return str(jobs.tick(engine, now=utcnow() + timedelta(hours=hours_ahead)).escalated_claims)


def test_two_ticks_at_once_escalate_an_overdue_claim_once_and_tell_the_supervisor_once(
    client: TestClient, engine: Engine, database_url: str, world: World
) -> None:
    official = password_token(client, "official-a")
    overdue = _submit(client, official, world.villager_phone, world.village_a.village_id)
    _age(engine, overdue, 25)  # the county's overdue hours are 24
    fresh = _submit(client, official, SECOND_PHONE, world.village_a.village_id, "garbage_sorting")

    assert sorted(run_together(database_url, _tick, [0, 0])) == ["0", "1"]

    assert _escalated_at(engine, overdue) is not None
    assert _escalated_at(engine, fresh) is None
    supervisor = _user_id(engine, "supervisor")
    assert _told(engine, overdue) == [
        {
            "user_id": supervisor,
            "claim_id": overdue,
            "village_id": world.village_a.village_id,
            "township_id": world.village_a.township_id,
        }
    ]
    # ticking again changes nothing, and the claim is still the village official's to decide
    assert jobs.tick(engine).escalated_claims == 0
    assert len(_told(engine, overdue)) == 1
    decided = decide(client, official, overdue)
    assert decided.status_code == 201, decided.text
    assert decided.json()["status"] == "approved" and decided.json()["escalated_at"] is not None


def test_a_claim_decided_in_time_is_never_escalated(client: TestClient, engine: Engine, world: World) -> None:
    official = password_token(client, "official-a")
    approved = _submit(client, official, world.villager_phone, world.village_a.village_id)
    rejected = _submit(client, official, SECOND_PHONE, world.village_a.village_id, "garbage_sorting")
    assert decide(client, official, approved).status_code == 201
    assert decide(client, official, rejected, "reject", reason="Nobody saw it.").status_code == 201

    report = jobs.tick(engine, now=utcnow() + timedelta(hours=30))

    assert report.escalated_claims == 0
    assert _escalated_at(engine, approved) is None and _escalated_at(engine, rejected) is None
    assert _told(engine, approved) == [] and _told(engine, rejected) == []


def test_a_claim_is_escalated_after_the_countys_own_overdue_hours(
    client: TestClient, engine: Engine, world: World
) -> None:
    official = password_token(client, "official-a")
    claim_id = _submit(client, official, world.villager_phone, world.village_a.village_id)
    with unit_of_work(engine) as session:
        county = session.get(County, world.village_a.county_id)
        assert county is not None
        county.overdue_hours = 48

    assert jobs.tick(engine, now=utcnow() + timedelta(hours=30)).escalated_claims == 0
    assert jobs.tick(engine, now=utcnow() + timedelta(hours=49)).escalated_claims == 1
    assert _escalated_at(engine, claim_id) is not None


def test_the_supervisors_queue_shows_escalated_claims_first_and_another_township_never_sees_them(
    client: TestClient, engine: Engine, world: World
) -> None:
    official = password_token(client, "official-a")
    older = _submit(client, official, world.villager_phone, world.village_a.village_id)
    newer_but_late = _submit(client, official, SECOND_PHONE, world.village_a.village_id, "garbage_sorting")
    in_b = _submit(client, password_token(client, "official-b"), "13900000003", world.village_b.village_id)
    _age(engine, newer_but_late, 30)
    _another_township(engine, world)

    assert jobs.tick(engine).escalated_claims == 1

    supervisor = password_token(client, "supervisor")
    queue = client.get("/api/v1/claims", params={"status": "pending"}, headers=bearer(supervisor))
    assert queue.status_code == 200, queue.text
    assert [c["id"] for c in queue.json()] == [newer_but_late, older, in_b]
    assert [c["escalated_at"] is not None for c in queue.json()] == [True, False, False]
    assert queue.json()[0]["overdue"] is True
    only_sent_up = client.get("/api/v1/claims", params={"escalated": "true"}, headers=bearer(supervisor))
    assert [c["id"] for c in only_sent_up.json()] == [newer_but_late]
    # one page at a time, the same order
    first = client.get("/api/v1/claims", params={"status": "pending", "limit": 1}, headers=bearer(supervisor))
    rest = client.get(
        "/api/v1/claims",
        params={"status": "pending", "limit": 5, "cursor": first.json()[0]["id"]},
        headers=bearer(supervisor),
    )
    assert [c["id"] for c in first.json() + rest.json()] == [newer_but_late, older, in_b]

    # the supervisor of the other township is not told, and that township's official does not see the claim
    assert [t["user_id"] for t in _told(engine, newer_but_late)] == [_user_id(engine, "supervisor")]
    other = password_token(client, "official-d")
    theirs = client.get("/api/v1/claims", params={"status": "pending"}, headers=bearer(other))
    assert theirs.status_code == 200 and theirs.json() == []
    assert client.get("/api/v1/claims", params={"escalated": "true"}, headers=bearer(other)).json() == []
    assert client.get(f"/api/v1/claims/{newer_but_late}", headers=bearer(other)).status_code == 404
    other_supervisor = password_token(client, "supervisor-d")
    assert client.get(f"/api/v1/claims/{newer_but_late}", headers=bearer(other_supervisor)).status_code == 404
    # a villager asking for the escalated list gets nothing
    villager = villager_token(client, world.villager_phone)
    assert client.get("/api/v1/claims", params={"escalated": "true"}, headers=bearer(villager)).json() == []
