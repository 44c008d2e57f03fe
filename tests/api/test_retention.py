"""The scheduled purge (docs/privacy.md, "Retention"): photos a set number of days after what used them is final
and never while it can still be questioned, sign-in records once they stopped mattering, the bank access log after
five years; in batches, and a second run does nothing. Time is driven: the purge takes `now`."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, text
from sqlmodel import col, select

import ledger.retention
from ledger.claims.evidence import path_of
from ledger.claims.models import EvidenceFile
from ledger.core import purge
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.ratelimit import RateWindow
from ledger.core.settings import Settings
from ledger.identity.models import OtpChallenge, SignInThrottle, User, WebSession
from ledger.retention import Purged, Retention
from redemption import schedule
from scoring import retention
from scoring.models import CreditLookup
from tests.api.claiming import claim, code_of, decide, key, new_activity, photo, picture
from tests.api.conftest import World, bearer, client_token, password_token, villager_token
from tests.api.test_credit import consent, give_history, look
from tests.factories import not_none

DAYS = 30


def policy(settings: Settings) -> Retention:
    return Retention(evidence_days=DAYS, sign_in_days=7, lookup_days=730, upload_dir=settings.upload_dir)


def run(engine: Engine, settings: Settings, now: datetime) -> Purged:
    with unit_of_work(engine) as session:
        return retention.purge_due(session, now, policy(settings))


def file_of(engine: Engine, settings: Settings, evidence_id: int) -> Path:
    with unit_of_work(engine) as session:
        return path_of(settings.upload_dir, not_none(session.get(EvidenceFile, evidence_id)).sha256)


def test_photos_go_a_set_time_after_their_claim_is_final_never_while_it_can_be_questioned(
    client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    village = world.village_a.village_id
    villager = villager_token(client, world.villager_phone)
    official = password_token(client, "official-a")
    shots = {
        name: photo(client, villager, picture(colour=colour))
        for name, colour in (("approved", (10, 20, 30)), ("pending", (40, 50, 60)), ("appealed", (70, 80, 90)))
    }
    shots["unused"] = photo(client, villager, picture(colour=(100, 110, 120)))
    made = {
        name: claim(
            client, villager, code_of(new_activity(client, official, village, matter)), evidence_ids=[shots[name]]
        )
        for name, matter in (("approved", "courtyard_hygiene"), ("appealed", "clearing_debris"))
    }
    assert all(m.status_code == 201 for m in made.values()), [m.text for m in made.values()]
    assert decide(client, official, made["approved"].json()["id"]).status_code == 201
    assert decide(client, official, made["appealed"].json()["id"], "reject", reason="看不清").status_code == 201
    appeal = client.post(
        "/api/v1/appeals",
        json={"claim_id": made["appealed"].json()["id"], "reason": "请再看看"},
        headers={**bearer(villager), **key()},
    )
    assert appeal.status_code == 201, appeal.text
    files = {name: file_of(engine, settings, evidence_id) for name, evidence_id in shots.items()}
    start = utcnow()

    assert run(engine, settings, start + timedelta(days=DAYS - 1)).photos == 0  # nothing final long enough yet
    schedule.tick(engine, now=start + timedelta(days=8))  # the notice period ends: the approved claim settles
    # a claim made now waits for review (the tick above would have expired an older undecided one)
    made["pending"] = claim(
        client,
        villager,
        code_of(new_activity(client, official, village, "volunteering")),
        evidence_ids=[shots["pending"]],
    )
    assert made["pending"].status_code == 201 and made["pending"].json()["status"] == "pending"
    later = start + timedelta(days=DAYS + 9)
    first = run(engine, settings, later)

    # settled 8 days in, so not yet 30 days final at day 39 measured from its settlement, which is stamped by the
    # journal's own clock (now): its photo goes; the unused one goes; the pending and the appealed ones stay
    assert first.photos == 2
    assert not files["approved"].exists() and not files["unused"].exists()
    assert files["pending"].exists() and files["appealed"].exists()
    assert run(engine, settings, later).photos == 0  # a second run does nothing
    assert client.get(f"/api/v1/evidence/{shots['approved']}", headers=bearer(villager)).json()["code"] == (
        "evidence_deleted"
    )
    again = claim(
        client,
        villager,
        code_of(new_activity(client, official, village, "elder_care")),
        evidence_ids=[shots["unused"]],
    )
    assert again.status_code == 403 and again.json()["code"] == "evidence_not_yours"  # a deleted photo proves nothing
    exported = client.get("/api/v1/me/data", headers=bearer(villager)).json()["photos"]
    assert {p["id"] for p in exported if p["deleted_at"]} == {shots["approved"], shots["unused"]}

    # once the appeal is answered and its answer is old enough, that photo goes too; the pending claim's never
    resolved = client.post(
        f"/api/v1/disputes/{appeal.json()['id']}/resolve",
        json={"outcome": "dismissed", "note": "维持"},
        headers={**bearer(official), **key()},
    )
    assert resolved.status_code == 201, resolved.text
    assert run(engine, settings, later + timedelta(days=DAYS + 1)).photos == 1
    assert not files["appealed"].exists() and files["pending"].exists()


def test_a_county_with_a_long_appeal_time_keeps_rejected_photos_until_it_is_over(
    client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    admin = bearer(password_token(client, "admin"))
    assert client.patch("/api/v1/county/policy", json={"appeal_days": 60}, headers=admin).status_code == 200
    villager = villager_token(client, world.villager_phone)
    official = password_token(client, "official-a")
    shot = photo(client, villager)
    made = claim(
        client,
        villager,
        code_of(new_activity(client, official, world.village_a.village_id, "courtyard_hygiene")),
        evidence_ids=[shot],
    )
    assert decide(client, official, made.json()["id"], "reject", reason="看不清").status_code == 201
    assert run(engine, settings, utcnow() + timedelta(days=45)).photos == 0  # 30 days final, but appealable
    assert run(engine, settings, utcnow() + timedelta(days=61)).photos == 1


def test_the_purge_works_in_batches_and_keeps_a_file_another_row_still_uses(
    client: TestClient, world: World, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger.retention, "BATCH", 2)
    villager = villager_token(client, world.villager_phone)
    for shade in range(5):
        photo(client, villager, picture(colour=(shade, 0, 0)))
    shared = photo(client, villager, picture(colour=(9, 9, 9)))
    kept = photo(client, villager_token(client, "13900000002"), picture(colour=(9, 9, 9)))  # the same photo
    with unit_of_work(engine) as session:  # the neighbour's copy was sent later, so it is not due yet
        not_none(session.get(EvidenceFile, kept)).created_at = utcnow() + timedelta(days=DAYS)
    assert run(engine, settings, utcnow() + timedelta(days=DAYS + 1)).photos == 6
    assert file_of(engine, settings, shared).exists()  # still the neighbour's photo
    assert run(engine, settings, utcnow() + timedelta(days=DAYS * 2 + 2)).photos == 1
    assert not file_of(engine, settings, shared).exists()


def test_sign_in_records_go_once_they_no_longer_matter(
    client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    now = utcnow()
    with unit_of_work(engine) as session:
        user_id = not_none(session.scalars(select(User.id).where(col(User.username) == "admin")).one())
        session.add(OtpChallenge(phone="13900000001", code_hash="x" * 64, expires_at=now + timedelta(minutes=5)))
        session.add(SignInThrottle(key="account:phone:13900000001", failures=3, window_started_at=now))
        session.add(
            SignInThrottle(
                key="account:locked-one", failures=20, window_started_at=now, blocked_until=now + timedelta(days=20)
            )
        )
        session.add(RateWindow(key="code-requests:phone:13900000001", started_at=now, count=2))
        session.add(
            WebSession(key_hash="a" * 64, user_id=user_id, role="county_admin", expires_at=now + timedelta(days=30))
        )
        session.add(
            WebSession(
                key_hash="b" * 64,
                user_id=user_id,
                role="county_admin",
                expires_at=now + timedelta(days=30),
                ended_at=now,
            )
        )

    assert run(engine, settings, now + timedelta(days=6)).total == 0
    second = run(engine, settings, now + timedelta(days=8))
    assert (second.codes, second.throttles, second.rate_windows, second.sessions) == (1, 1, 1, 1)
    third = run(engine, settings, now + timedelta(days=28))  # the lock ended 8 days before
    assert (third.throttles, third.sessions) == (1, 0)
    assert run(engine, settings, now + timedelta(days=38)).sessions == 1  # expired 8 days before
    assert run(engine, settings, now + timedelta(days=38)).total == 0


def test_the_bank_access_log_is_kept_its_period_then_purged_and_nothing_else_can_delete_it(
    client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    give_history(engine, world, world.household_a1)
    villager = villager_token(client, world.villager_phone)
    consent_id = consent(client, villager)
    assert look(client, client_token(client, "bank"), world.household_a1, consent_id).status_code == 200

    with pytest.raises(Exception, match="append-only"), unit_of_work(engine) as session:
        session.execute(delete(CreditLookup))
    with pytest.raises(Exception, match="append-only"), unit_of_work(engine) as session:
        with purge.permitted(session, "credit_lookup", utcnow() - timedelta(days=1)):  # a permit for older rows only
            session.execute(delete(CreditLookup))
    with pytest.raises(Exception, match="append-only"), unit_of_work(engine) as session:
        session.execute(text("UPDATE credit_lookup SET purpose = 'other'"))

    assert run(engine, settings, utcnow() + timedelta(days=729)).lookups == 0
    assert len(client.get("/api/v1/credit/me/lookups", headers=bearer(villager)).json()) == 1
    assert run(engine, settings, utcnow() + timedelta(days=731)).lookups == 1
    assert client.get("/api/v1/credit/me/lookups", headers=bearer(villager)).json() == []
    with unit_of_work(engine) as session:
        assert session.scalars(select(purge.PurgePermit)).all() == []  # the permit never outlives its purge


def test_the_purge_is_a_step_of_the_schedule(
    client: TestClient, world: World, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "get_settings", lambda: settings)
    shot = photo(client, villager_token(client, world.villager_phone))
    report = schedule.tick(engine, now=utcnow() + timedelta(days=settings.evidence_retention_days + 1))
    assert report.done[retention.STEP] >= 1 and not file_of(engine, settings, shot).exists()
    assert (
        schedule.tick(engine, now=utcnow() + timedelta(days=settings.evidence_retention_days + 1)).done[retention.STEP]
        == 0
    )
