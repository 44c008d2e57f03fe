"""Closing a household (docs/people.md): its undecided claims expire, its points in notice still settle, its
settled points stay as history and can no longer be spent, its members sign in no more, banks learn nothing more
of it, and nothing new is taken for it. A closed household is not opened again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from ledger.claims import service as claims
from ledger.claims.models import Claim
from ledger.core import audit
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.identity.models import Role, User
from ledger.journal.models import JournalTransaction
from ledger.tenancy import HouseholdClosed, Person
from redemption import schedule, vouchers
from tests.api.claiming import balance, claim, code_of, decide, key, new_activity
from tests.api.conftest import World, app_of, bearer, client_token, password_token, villager_token
from tests.api.redeeming import offer
from tests.api.test_credit import consent, give_history, look
from tests.api.test_people import add_member, household, refused, signs_in, still_signed_in
from tests.factories import principal_of


def test_closing_a_household_expires_its_undecided_claims_settles_those_in_notice_and_freezes_the_rest(
    client: TestClient, world: World, engine: Engine
) -> None:
    a1, village = world.household_a1, world.village_a.village_id
    admin = bearer(password_token(client, "admin"))
    official = password_token(client, "official-a")
    give_history(engine, world, a1)
    villager = villager_token(client, world.villager_phone)
    consent_id = consent(client, villager)
    bank = client_token(client, "bank")
    assert look(client, bank, a1, consent_id).status_code == 200
    son = add_member(client, admin, a1, name="王二", relation="子", phone="13600000011")
    pending = claim(client, villager, code_of(new_activity(client, official, village, "dispute_mediation")))
    in_notice = claim(client, villager, code_of(new_activity(client, official, village, "garbage_sorting")))
    assert pending.status_code == in_notice.status_code == 201, (pending.text, in_notice.text)
    assert decide(client, official, in_notice.json()["id"]).status_code == 201
    before = balance(client, official, a1)
    with unit_of_work(engine) as session:
        user = session.scalars(
            select(User)
            .join(Person, col(Person.id) == col(User.person_id))
            .where(col(Person.phone) == world.villager_phone, col(User.role) == Role.VILLAGER)
        ).one()
        signed_in_before = principal_of(session, user.id or 0)  # as a request that began before the closing
    the_offer = offer(client)

    closed = client.post(f"/api/v1/households/{a1}/close", json={"why": "全家迁往杭州"}, headers=admin)

    assert closed.status_code == 200, closed.text
    assert closed.json()["closed_at"] and closed.json()["expired_claims"] == [pending.json()["id"]]
    assert not any(m["signs_in"] for m in closed.json()["members"])
    with unit_of_work(engine) as session:
        expired = session.get(Claim, pending.json()["id"])
        assert expired is not None and expired.status == "expired"
        expiry = session.scalars(
            select(JournalTransaction).where(col(JournalTransaction.pending_id) == expired.pending_tx_id)
        ).one()
        assert (expiry.kind, expiry.reason) == ("expire_pending", "household_closed")
    assert status_of(engine, in_notice.json()["id"]) == "approved"
    # its members sign in no more: tokens from before are refused and no code signs them in
    assert not still_signed_in(client, villager, a1)
    assert not signs_in(client, world.villager_phone) and not signs_in(client, "13600000011")
    # banks learn nothing more: the same answer as for a household that gave no consent
    assert refused(look(client, bank, a1, consent_id), 403, "consent_required")
    # nothing new is taken for it
    award = client.post(
        "/api/v1/claims/awards",
        json={"household_id": a1, "matter_code": "volunteering", "reason": "Helped."},
        headers={**bearer(official), **key()},
    )
    assert refused(award, 409, "household_closed")
    deduction = client.post(
        "/api/v1/deductions",
        json={"household_id": a1, "matter_code": "breaking_village_rules", "reason": "Fenced the lane."},
        headers={**bearer(official), **key()},
    )
    assert refused(deduction, 409, "household_closed")
    activity = new_activity(client, official, village, "neighbourly_help")
    proxy = client.post(
        "/api/v1/claims/proxy",
        json={"activity_id": activity["id"], "household_id": a1},
        headers={**bearer(official), **key()},
    )
    assert refused(proxy, 409, "household_closed")
    with unit_of_work(engine) as session, pytest.raises(HouseholdClosed):
        vouchers.redeem(session, signed_in_before, offer_id=the_offer["id"], idempotency_key="after-closing")
    with unit_of_work(engine) as session, pytest.raises(HouseholdClosed):  # a scan that began before the closing
        claims.submit_by_code(
            session,
            signed_in_before,
            app_of(client).state.code_keys,
            token=code_of(activity),
            details=claims.Details(),
            idempotency_key="scanned-before",
        )
    for method, path, body in [
        ("POST", f"/api/v1/households/{a1}/close", {}),
        ("PATCH", f"/api/v1/households/{a1}", {"address": "新地址"}),
        ("POST", f"/api/v1/households/{a1}/members", {"name": "新成员"}),
        ("POST", f"/api/v1/households/{a1}/head", {"person_id": son["person_id"]}),
    ]:
        assert refused(client.request(method, path, json=body, headers=admin), 409, "household_closed"), path
    newcomer = household(client, admin, world.household_a2)["members"][0]
    moving_in = client.post(f"/api/v1/members/{newcomer['person_id']}/move", json={"household_id": a1}, headers=admin)
    assert refused(moving_in, 409, "household_closed")
    # the points in notice still settle at the end of their notice; the settled ones stay, and nobody spends them
    schedule.tick(engine, now=utcnow() + timedelta(days=8))
    after = balance(client, official, a1)
    assert after["posted"] == before["posted"] + before["in_notice"] and after["in_notice"] == 0
    assert after["pending_in"] == 0 and before["pending_in"] > 0
    assert status_of(engine, in_notice.json()["id"]) == "settled"
    # the change log says what closed it, when, why, and what went with it
    with unit_of_work(engine) as session:
        rows = [
            audit.as_dict(r)
            for r in audit.changes(session, world.village_a.county_id, action="household.close")
            if r.target_id == str(a1)
        ]
    assert [r["action"] for r in rows] == ["household.close", "household.close.consents"]
    assert rows[0]["before"]["closed_at"] is None and rows[0]["after"]["closed_at"]
    assert rows[0]["after"]["why"] == "全家迁往杭州" and rows[0]["after"]["expired_claims"] == [pending.json()["id"]]
    assert rows[1]["before"] == {"consents": [consent_id]}


def test_a_member_of_a_closed_household_may_move_to_an_open_one_and_signs_in_there(
    client: TestClient, world: World
) -> None:
    admin = bearer(password_token(client, "admin"))
    son = add_member(client, admin, world.household_a1, name="王二", relation="子", phone="13600000012")
    assert client.post(f"/api/v1/households/{world.household_a1}/close", json={}, headers=admin).status_code == 200
    assert not signs_in(client, "13600000012")
    moved = client.post(
        f"/api/v1/members/{son['person_id']}/move",
        json={"household_id": world.household_b1, "relation": "女婿"},
        headers=admin,
    )
    assert moved.status_code == 200, moved.text
    assert still_signed_in(client, villager_token(client, "13600000012"), world.household_b1)


def status_of(engine: Engine, claim_id: int) -> str:
    with unit_of_work(engine) as session:
        found = session.get(Claim, claim_id)
        assert found is not None
        return found.status
