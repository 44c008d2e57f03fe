"""Who may touch what, over every route of the claim flow: people of another household, another village or another
county, officials of another village and partner clients are refused (403) or told there is nothing there
(404); listings show them only their own. A route added without an entry here fails the first test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response

from api.app import ROUTERS
from api.routes import activities, catalogue, claims, disputes, evidence, notifications, villages
from ledger.core.settings import Settings
from tests.api.claiming import JPEG, claim, code_of, decide, key, new_activity, photo
from tests.api.conftest import World, bearer, client_token, password_token, villager_token

CLAIM_ROUTERS = (
    catalogue.router,
    activities.router,
    evidence.router,
    claims.router,
    disputes.router,
    villages.router,
    notifications.router,
)
HOUSEHOLD_CARD_ROUTES = {
    ("GET", "/api/v1/households/{household_id}/card.svg"),
    ("POST", "/api/v1/households/lookup-card"),
}


@dataclass(frozen=True)
class Things:
    """Village A's things, and the tokens of everyone who should not reach them."""

    activity: int
    rotating: int
    pending_claim: int
    approved_claim: int
    rejected_claim: int
    deduction: int
    dispute: int
    photo: int
    code: str
    card: str
    outsiders: dict[str, str]


@pytest.fixture
def things(client: TestClient, world: World, settings: Settings) -> Things:
    from ledger.activities import codes

    official = password_token(client, "official-a")
    a1 = villager_token(client, world.villager_phone)
    a2 = villager_token(client, "13900000002")
    village = world.village_a.village_id
    activity = new_activity(client, official, village, "courtyard_hygiene")
    rotating = new_activity(client, official, village, "village_meeting", rotating=True)
    picture = photo(client, a1)
    pending = claim(client, a1, code_of(activity), evidence_ids=[picture]).json()["id"]
    approved = claim(client, a1, code_of(new_activity(client, official, village))).json()["id"]
    decide(client, official, approved)
    rejected = claim(client, a1, code_of(new_activity(client, official, village, "neighbourly_help"))).json()["id"]
    decide(client, official, rejected, "reject", reason="no")
    deduction = client.post(
        "/api/v1/deductions",
        headers={**bearer(official), **key()},
        json={"household_id": world.household_a1, "matter_code": "breaking_village_rules", "reason": "x"},
    ).json()["id"]
    dispute = client.post(
        f"/api/v1/claims/{approved}/objections", json={"reason": "x"}, headers={**bearer(a2), **key()}
    ).json()["id"]
    card = codes.sign_household(codes.Keys.from_settings(settings), household_id=world.household_a1)
    outsiders = {
        "villager of another village": villager_token(client, "13900000003"),
        "villager of another county": villager_token(client, "13900000004"),
        "official of another village": password_token(client, "official-b"),
        "admin of another county": password_token(client, "admin-c"),
        "bank client": client_token(client, "bank"),
        "merchant client": client_token(client, "mart"),
    }
    return Things(
        activity["id"],
        rotating["id"],
        pending,
        approved,
        rejected,
        deduction,
        dispute,
        picture,
        code_of(activity),
        card,
        outsiders,
    )


Request = Callable[[Things, World], tuple[str, str, dict[str, Any] | None]]
# (method, route template) -> the request that would reach village A's thing
TARGETED: dict[tuple[str, str], Request] = {
    ("PATCH", "/api/v1/matters/{code}"): lambda t, w: (
        "PATCH",
        f"/api/v1/matters/volunteering?village_id={w.village_a.village_id}",
        {"points": 1},
    ),
    ("GET", "/api/v1/matters/{code}/versions"): lambda t, w: (
        "GET",
        f"/api/v1/matters/volunteering/versions?village_id={w.village_a.village_id}",
        None,
    ),
    ("POST", "/api/v1/matters"): lambda t, w: (
        "POST",
        "/api/v1/matters",
        {
            "code": "x_item",
            "village_id": w.village_a.village_id,
            "name_zh": "x",
            "name_en": "x",
            "category": "x",
            "points": 1,
        },
    ),
    ("POST", "/api/v1/activities"): lambda t, w: (
        "POST",
        "/api/v1/activities",
        {
            "village_id": w.village_a.village_id,
            "matter_code": "volunteering",
            "title": "x",
            "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": "2027-01-01T00:00:00Z",
        },
    ),
    ("GET", "/api/v1/activities/{activity_id}"): lambda t, w: ("GET", f"/api/v1/activities/{t.activity}", None),
    ("POST", "/api/v1/activities/{activity_id}/withdraw"): lambda t, w: (
        "POST",
        f"/api/v1/activities/{t.activity}/withdraw",
        None,
    ),
    ("GET", "/api/v1/activities/{activity_id}/qr.svg"): lambda t, w: (
        "GET",
        f"/api/v1/activities/{t.activity}/qr.svg",
        None,
    ),
    ("GET", "/api/v1/activities/{activity_id}/qr.png"): lambda t, w: (
        "GET",
        f"/api/v1/activities/{t.activity}/qr.png",
        None,
    ),
    ("GET", "/api/v1/activities/{activity_id}/poster.svg"): lambda t, w: (
        "GET",
        f"/api/v1/activities/{t.activity}/poster.svg",
        None,
    ),
    ("GET", "/api/v1/activities/{activity_id}/live"): lambda t, w: (
        "GET",
        f"/api/v1/activities/{t.rotating}/live",
        None,
    ),
    ("GET", "/api/v1/evidence/{evidence_id}"): lambda t, w: ("GET", f"/api/v1/evidence/{t.photo}", None),
    ("POST", "/api/v1/evidence"): lambda t, w: (
        "UPLOAD",
        f"/api/v1/evidence?village_id={w.village_a.village_id}",
        None,
    ),
    ("POST", "/api/v1/claims"): lambda t, w: ("POST", "/api/v1/claims", {"token": t.code}),
    ("GET", "/api/v1/claims/check"): lambda t, w: ("GET", f"/api/v1/claims/check?token={t.code}", None),
    ("POST", "/api/v1/claims/proxy"): lambda t, w: (
        "POST",
        "/api/v1/claims/proxy",
        {"activity_id": t.activity, "household_card": t.card},
    ),
    ("POST", "/api/v1/claims/awards"): lambda t, w: (
        "POST",
        "/api/v1/claims/awards",
        {"household_id": w.household_a1, "matter_code": "volunteering", "reason": "x"},
    ),
    ("GET", "/api/v1/claims/{claim_id}"): lambda t, w: ("GET", f"/api/v1/claims/{t.pending_claim}", None),
    ("POST", "/api/v1/claims/{claim_id}/approve"): lambda t, w: (
        "POST",
        f"/api/v1/claims/{t.pending_claim}/approve",
        None,
    ),
    ("POST", "/api/v1/claims/{claim_id}/reject"): lambda t, w: (
        "POST",
        f"/api/v1/claims/{t.pending_claim}/reject",
        {"reason": "x"},
    ),
    ("POST", "/api/v1/claims/bulk-approve"): lambda t, w: (
        "POST",
        "/api/v1/claims/bulk-approve",
        {"claim_ids": [t.pending_claim]},
    ),
    ("POST", "/api/v1/claims/{claim_id}/objections"): lambda t, w: (
        "POST",
        f"/api/v1/claims/{t.approved_claim}/objections",
        {"reason": "x"},
    ),
    ("POST", "/api/v1/deductions"): lambda t, w: (
        "POST",
        "/api/v1/deductions",
        {"household_id": w.household_a1, "matter_code": "breaking_village_rules", "reason": "x"},
    ),
    ("POST", "/api/v1/appeals"): lambda t, w: (
        "POST",
        "/api/v1/appeals",
        {"claim_id": t.rejected_claim, "reason": "x"},
    ),
    ("POST", "/api/v1/disputes/{dispute_id}/resolve"): lambda t, w: (
        "POST",
        f"/api/v1/disputes/{t.dispute}/resolve",
        {"outcome": "upheld"},
    ),
    ("GET", "/api/v1/villages/{village_id}/notice-board"): lambda t, w: (
        "GET",
        f"/api/v1/villages/{w.village_a.village_id}/notice-board",
        None,
    ),
    ("GET", "/api/v1/villages/{village_id}/leaderboard"): lambda t, w: (
        "GET",
        f"/api/v1/villages/{w.village_a.village_id}/leaderboard",
        None,
    ),
    ("GET", "/api/v1/villages/{village_id}/report"): lambda t, w: (
        "GET",
        f"/api/v1/villages/{w.village_a.village_id}/report?month=2026-11",
        None,
    ),
    ("PATCH", "/api/v1/villages/{village_id}"): lambda t, w: (
        "PATCH",
        f"/api/v1/villages/{w.village_a.village_id}",
        {"notice_privacy": "full_name"},
    ),
    ("GET", "/api/v1/villages/{village_id}/concern-code.svg"): lambda t, w: (
        "GET",
        f"/api/v1/villages/{w.village_a.village_id}/concern-code.svg",
        None,
    ),
    ("GET", "/api/v1/villages/{village_id}/concern-code.png"): lambda t, w: (
        "GET",
        f"/api/v1/villages/{w.village_a.village_id}/concern-code.png",
        None,
    ),
    ("GET", "/api/v1/households/{household_id}/card.svg"): lambda t, w: (
        "GET",
        f"/api/v1/households/{w.household_a1}/card.svg",
        None,
    ),
    ("POST", "/api/v1/households/lookup-card"): lambda t, w: (
        "POST",
        "/api/v1/households/lookup-card",
        {"token": t.card},
    ),
}
# Listings answer everyone allowed to call them, with their own things only.
LISTINGS: dict[tuple[str, str], Callable[[Things], str]] = {
    ("GET", "/api/v1/claims"): lambda t: "/api/v1/claims",
    ("GET", "/api/v1/deductions"): lambda t: "/api/v1/deductions",
    ("GET", "/api/v1/disputes"): lambda t: "/api/v1/disputes",
    ("GET", "/api/v1/notifications"): lambda t: "/api/v1/notifications",
    ("GET", "/api/v1/matters"): lambda t: "/api/v1/matters",
    ("GET", "/api/v1/activities"): lambda t: "/api/v1/activities",
    ("GET", "/api/v1/county/policy"): lambda t: "/api/v1/county/policy",
}
# Where an outsider may get an answer that is not a refusal, what that answer must be instead.
HARMLESS: dict[tuple[str, str], Callable[[str, Any], bool]] = {
    # a batch is accepted; every claim of another village in it is refused one by one
    ("POST", "/api/v1/claims/bulk-approve"): lambda who, r: (
        r.status_code == 201 and all(outcome == "claim_not_found" for outcome in r.json()["outcomes"].values())
    ),
    # a villager's photo always belongs to their own household, whatever village_id they send
    ("POST", "/api/v1/evidence"): lambda who, r: who.startswith("villager") and r.status_code == 201,
}
PUBLIC = {("GET", "/api/v1/codes/{token}")}
OWN_COUNTY = {("PATCH", "/api/v1/county/policy")}


def claim_routes() -> set[tuple[str, str]]:
    found = {
        (method, route.path)
        for router in CLAIM_ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    return found | HOUSEHOLD_CARD_ROUTES


def test_every_claim_route_is_in_the_matrix() -> None:
    assert claim_routes() == set(TARGETED) | set(LISTINGS) | PUBLIC | OWN_COUNTY
    assert all(
        r
        in {
            (m, route.path)
            for router in ROUTERS
            for route in router.routes
            if isinstance(route, APIRoute)
            for m in route.methods or ()
        }
        for r in HOUSEHOLD_CARD_ROUTES
    )


def send(client: TestClient, token: str, method: str, path: str, body: dict[str, Any] | None) -> Response:
    headers = {**bearer(token), **key()}
    response: Response
    if method == "UPLOAD":
        response = client.post(path, files={"file": ("p.jpg", JPEG, "image/jpeg")}, headers=headers)
    else:
        response = client.request(method, path, json=body, headers=headers)
    return response


def test_outsiders_cannot_reach_village_a(client: TestClient, world: World, things: Things) -> None:
    """One setup, every targeted route, every outsider (a failure names all three)."""
    for route in sorted(TARGETED):
        method, path, body = TARGETED[route](things, world)
        for who, token in things.outsiders.items():
            response = send(client, token, method, path, body)
            if route in HARMLESS and HARMLESS[route](who, response):
                continue
            assert response.status_code in (403, 404), (route, who, response.status_code, response.text)
            assert response.headers["content-type"] == "application/problem+json"


def test_another_household_of_the_same_village_cannot_reach_a1s_things(
    client: TestClient, world: World, things: Things
) -> None:
    a2 = villager_token(client, "13900000002")
    for path in (f"/api/v1/claims/{things.pending_claim}", f"/api/v1/evidence/{things.photo}"):
        assert client.get(path, headers=bearer(a2)).status_code == 404
    appeal = client.post(
        "/api/v1/appeals", json={"claim_id": things.rejected_claim, "reason": "x"}, headers={**bearer(a2), **key()}
    )
    assert appeal.status_code == 404
    for (method, path), request in TARGETED.items():
        if method != "GET" and path.startswith("/api/v1/claims/{claim_id}/") and "objections" not in path:
            m, p, body = request(things, world)
            assert send(client, a2, m, p, body).status_code == 403


def test_listings_show_outsiders_only_their_own(client: TestClient, world: World, things: Things) -> None:
    for route in sorted(LISTINGS):
        _only_their_own(client, world, things, route)


def _only_their_own(client: TestClient, world: World, things: Things, route: tuple[str, str]) -> None:
    path = LISTINGS[route](things)
    a_ids = {
        things.pending_claim,
        things.approved_claim,
        things.rejected_claim,
        things.deduction,
        things.dispute,
        things.activity,
        things.rotating,
    }
    for who, token in things.outsiders.items():
        response = client.get(path, headers=bearer(token))
        if response.status_code in (403, 404):
            continue
        assert response.status_code == 200, (who, response.text)
        body = response.json()
        if route == ("GET", "/api/v1/county/policy"):
            continue  # the caller's own county's settings
        ids = {item.get("id") for item in body} if isinstance(body, list) else set()
        if route == ("GET", "/api/v1/matters"):
            assert all(item["village_id"] in (None, world.village_b.village_id) for item in body), who
        elif route != ("GET", "/api/v1/activities"):
            assert not ids & a_ids, (who, body)
        else:
            assert not ids & {things.activity, things.rotating}, who


def test_read_only_and_partner_roles_cannot_write(client: TestClient, world: World, things: Things) -> None:
    auditor = password_token(client, "auditor")
    for route, request in TARGETED.items():
        method, path, body = request(things, world)
        if method == "GET":
            continue
        response = send(client, auditor, method, path, body)
        assert response.status_code in (403, 404), (route, response.text)


def test_only_a_county_admin_sets_the_countys_policy_and_only_their_own(
    client: TestClient, world: World, things: Things
) -> None:
    for who, token in {
        **things.outsiders,
        "official": password_token(client, "official-a"),
        "auditor": password_token(client, "auditor"),
    }.items():
        response = client.patch("/api/v1/county/policy", json={"notice_days": 1}, headers=bearer(token))
        if who == "admin of another county":
            assert response.status_code == 200  # their own county's
        else:
            assert response.status_code == 403, who
    mine = client.get("/api/v1/county/policy", headers=bearer(password_token(client, "admin"))).json()
    assert mine["notice_days"] == 7


def test_a_villagers_photo_is_their_households_whatever_village_they_name(
    client: TestClient, world: World, things: Things
) -> None:
    b1 = things.outsiders["villager of another village"]
    sent = client.post(
        f"/api/v1/evidence?village_id={world.village_a.village_id}",
        headers=bearer(b1),
        files={"file": ("p.jpg", JPEG, "image/jpeg")},
    ).json()
    a_official = password_token(client, "official-a")
    assert client.get(f"/api/v1/evidence/{sent['id']}", headers=bearer(a_official)).status_code == 404
    assert (
        client.get(f"/api/v1/evidence/{sent['id']}", headers=bearer(password_token(client, "official-b"))).status_code
        == 200
    )
