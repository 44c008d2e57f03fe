"""The county's settings written through the domain, whichever door is used, each with its row in the change log:
the policy (bounds, stable codes, nothing half-changed), a village's notice-board privacy, the catalogue (a new
matter, a new version), a partner's villages, an offer's approval and a scorecard's activation."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ledger.catalogue import county as county_settings
from ledger.core import audit
from ledger.core.db import unit_of_work
from ledger.core.errors import Forbidden
from ledger.tenancy import County
from scoring import ratings
from scoring.card import Card
from tests.api.conftest import World, bearer, password_token
from tests.api.redeeming import propose
from tests.factories import principal_of


def _changes(engine: Engine, world: World, action: str) -> list[dict[str, Any]]:
    with unit_of_work(engine) as session:
        return [audit.as_dict(r) for r in audit.changes(session, world.village_a.county_id, action=action)]


def test_a_policy_change_is_logged_with_only_what_changed(client: TestClient, engine: Engine, world: World) -> None:
    admin = bearer(password_token(client, "admin"))
    before = client.get("/api/v1/county/policy", headers=admin).json()
    changed = client.patch(
        "/api/v1/county/policy",
        json={"notice_days": before["notice_days"] + 2, "appeal_days": before["appeal_days"]},
        headers=admin,
    )
    assert changed.status_code == 200 and changed.json()["notice_days"] == before["notice_days"] + 2
    logged = _changes(engine, world, "policy.change")
    assert [(c["before"], c["after"], c["actor"]) for c in logged] == [
        ({"notice_days": before["notice_days"]}, {"notice_days": before["notice_days"] + 2}, logged[0]["actor"])
    ]
    assert logged[0]["actor"].startswith("user:")
    same = client.patch("/api/v1/county/policy", json={"notice_days": before["notice_days"] + 2}, headers=admin)
    assert same.status_code == 200 and len(_changes(engine, world, "policy.change")) == 1  # no change, no row


@pytest.mark.parametrize(
    "changes",
    [
        {"notice_days": 0},
        {"overdue_hours": 24 * 15},
        {"points_expiry_months": -1},
        {"notice_deductions": "everyone"},
        {"notice_days": True},
        {"timezone": "Europe/Paris"},
        {"notice_days": 5, "appeal_days": 400},  # one wrong value: nothing changes
    ],
)
def test_the_domain_refuses_a_policy_out_of_bounds_and_changes_nothing(
    engine: Engine, world: World, changes: dict[str, Any]
) -> None:
    with unit_of_work(engine) as session:
        admin = principal_of(session, _user_id(session, "admin"))
        with pytest.raises(county_settings.InvalidPolicy) as refused:
            county_settings.set_policy(session, admin, changes)
        assert refused.value.code == "invalid_policy" and refused.value.detail["field"] in changes
    with unit_of_work(engine) as session:
        county = session.get(County, world.village_a.county_id)
        assert county is not None and county.notice_days != 5
    assert _changes(engine, world, "policy.change") == []


def test_only_the_county_admin_sets_the_policy(engine: Engine, world: World) -> None:
    with unit_of_work(engine) as session:
        for username in ("official-a", "auditor"):
            with pytest.raises(Forbidden):
                county_settings.set_policy(session, principal_of(session, _user_id(session, username)), {})


def test_the_api_refuses_a_policy_out_of_bounds_plainly(client: TestClient, engine: Engine, world: World) -> None:
    admin = bearer(password_token(client, "admin"))
    refused = client.patch("/api/v1/county/policy", json={"overdue_hours": 0}, headers=admin)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_request")
    assert _changes(engine, world, "policy.change") == []


def test_a_villages_privacy_change_is_logged(client: TestClient, engine: Engine, world: World) -> None:
    official = bearer(password_token(client, "official-a"))
    village = world.village_a.village_id
    done = client.patch(f"/api/v1/villages/{village}", json={"notice_privacy": "anonymous"}, headers=official)
    assert done.status_code == 200 and done.json()["notice_privacy"] == "anonymous"
    logged = _changes(engine, world, "village.change")
    assert [(c["target_id"], c["before"], c["after"]) for c in logged] == [
        (str(village), {"notice_privacy": "surname_house"}, {"notice_privacy": "anonymous"})
    ]
    other = client.patch(
        f"/api/v1/villages/{world.village_b.village_id}", json={"notice_privacy": "anonymous"}, headers=official
    )
    assert other.status_code == 404 and len(_changes(engine, world, "village.change")) == 1


def test_catalogue_edits_are_logged_with_their_versions(client: TestClient, engine: Engine, world: World) -> None:
    admin = bearer(password_token(client, "admin"))
    edited = client.patch("/api/v1/matters/volunteering", json={"points": 8, "cap_week": 2}, headers=admin)
    assert edited.status_code == 201, edited.text
    made = client.post(
        "/api/v1/matters",
        json={"code": "river_patrol", "name_zh": "巡河", "name_en": "River patrol", "category": "safety", "points": 4},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    logged = _changes(engine, world, "matter.")
    assert [(c["action"], c["target_id"]) for c in logged] == [
        ("matter.edit", "volunteering"),
        ("matter.create", "river_patrol"),
    ]
    assert logged[0]["before"] == {"version": 1, "points": 5, "cap_week": None}
    assert logged[0]["after"] == {"version": 2, "points": 8, "cap_week": 2}
    assert logged[1]["before"] is None and logged[1]["after"]["points"] == 4
    refused = client.patch("/api/v1/matters/volunteering", json={"points": 0}, headers=admin)
    assert refused.status_code == 422 and len(_changes(engine, world, "matter.")) == 2


def test_offer_decisions_partner_villages_and_scorecard_activations_are_logged(
    client: TestClient, engine: Engine, world: World
) -> None:
    admin = bearer(password_token(client, "admin"))
    offer = propose(client)
    decided = client.post(
        f"/api/v1/offers/{offer['id']}/decision", json={"approve": False, "note": "太贵"}, headers=admin
    )
    assert decided.status_code == 200, decided.text
    bank_id = next(p["id"] for p in client.get("/api/v1/county/partners", headers=admin).json() if p["code"] == "bank")
    served = client.put(
        f"/api/v1/partners/{bank_id}/villages", json={"village_ids": [world.village_a.village_id]}, headers=admin
    )
    assert served.status_code == 200
    card = another_card(engine)
    assert client.post(f"/api/v1/scorecards/{card}/activate", json={}, headers=admin).status_code == 200
    assert [(c["action"], c["after"]) for c in _changes(engine, world, "offer.")] == [
        ("offer.reject", {"status": "rejected", "note": "太贵"})
    ]
    assert [(c["before"], c["after"]) for c in _changes(engine, world, "partner.villages")] == [
        ({"village_ids": []}, {"village_ids": [world.village_a.village_id]})
    ]
    activated = _changes(engine, world, "scorecard.activate")
    assert len(activated) == 1 and activated[0]["target_id"] == card
    assert activated[0]["before"] == {"active": Card.shipped().id}


def another_card(engine: Engine) -> str:
    """A stored scorecard version other than the shipped one (as `shanzhi calibrate` stores a candidate)."""
    shipped = Card.shipped()
    candidate = Card.from_content({**copy.deepcopy(shipped.content), "name": "候选评分卡"})
    with unit_of_work(engine) as session:
        ratings.ensure_card(session, shipped, origin="shipped", actor="system")
        ratings.ensure_card(session, candidate, origin="calibrated", actor="test", parent_id=shipped.id)
    return candidate.id


def _user_id(session: Any, username: str) -> int:
    from sqlmodel import col, select

    from ledger.identity.models import User

    found = session.scalars(select(col(User.id)).where(col(User.username) == username)).one()
    return int(found)
