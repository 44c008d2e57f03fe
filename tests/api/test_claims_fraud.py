"""Fraud signals, one test each, and what they do to a live rotating code's automatic approval.

A rotating code approves at once only when the claim says where it was made (inside the activity's geofence) and
no other household claimed from the same device with that code; otherwise the claim waits for an official, with
the flag that says why. A flag never refuses a claim.
"""

from __future__ import annotations

import io
import random
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageFilter

from ledger.claims import service as claim_service
from ledger.core.base import utcnow
from tests.api.claiming import balance, claim, code_of, live_code, new_activity, photo
from tests.api.conftest import World, bearer, password_token, villager_token

HALL: dict[str, Any] = {"lat": 30.27410, "lon": 120.15510}  # where the meeting is
HOME: dict[str, Any] = {"lat": 30.28410, "lon": 120.15510}  # a neighbour's house, about 1.1 km north
GEOFENCE = {**HALL, "radius_m": 200}


@pytest.fixture
def official(client: TestClient, world: World) -> str:
    return password_token(client, "official-a")


@pytest.fixture
def a1(client: TestClient, world: World) -> str:
    return villager_token(client, world.villager_phone)


@pytest.fixture
def a2(client: TestClient, world: World) -> str:
    return villager_token(client, "13900000002")


def device(name: str) -> dict[str, str]:
    return {"X-Device-Id": name}


def flags_of(client: TestClient, official: str, claim_id: int) -> dict[str, dict[str, Any]]:
    """The claim's flags as the reviewing official sees them, by code."""
    response = client.get(f"/api/v1/claims/{claim_id}", headers=bearer(official))
    assert response.status_code == 200, response.text
    return {flag["code"]: flag for flag in response.json()["flags"]}


def meeting(client: TestClient, official: str, world: World, **overrides: Any) -> dict[str, Any]:
    """A village meeting (a witness matter that approves automatically) with a live rotating code."""
    return new_activity(
        client, official, world.village_a.village_id, "village_meeting", rotating=True, **{**GEOFENCE, **overrides}
    )


def picture(seed: int, size: tuple[int, int] = (640, 480), quality: int = 90) -> bytes:
    """A photo-like JPEG: random coloured blocks, blurred, so that different seeds look different."""
    rng = random.Random(seed)
    small = Image.new("RGB", (8, 6))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(48)])
    image = small.resize(size, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(4))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def resaved(jpeg: bytes, *, scale: float, quality: int) -> bytes:
    """The same photo sent again after a phone or a chat app re-encoded it: other size, other quality."""
    image: Image.Image = Image.open(io.BytesIO(jpeg))
    image = image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


# --- a live rotating code ----------------------------------------------------------------------------------


def test_a_live_code_forwarded_to_a_neighbour_at_home_waits_for_review(
    client: TestClient, world: World, official: str, a1: str, a2: str
) -> None:
    activity = meeting(client, official, world)
    code = live_code(client, official, activity["id"])

    there = claim(client, a1, code, headers=device("phone-a1"), **HALL)
    assert there.status_code == 201 and there.json()["status"] == "approved"
    assert flags_of(client, official, there.json()["id"]) == {}

    forwarded = claim(client, a2, code, headers=device("phone-a2"), **HOME)
    assert forwarded.status_code == 201, forwarded.text
    assert forwarded.json()["status"] == "pending"  # taken, not refused, but an official decides
    flag = flags_of(client, official, forwarded.json()["id"])["outside_geofence"]
    assert 1000 < flag["distance_m"] < 1250
    assert balance(client, a2, world.household_a2)["in_notice"] == 0
    assert balance(client, a2, world.household_a2)["pending_in"] == 2


def test_a_live_claim_without_a_location_waits_for_review_and_is_not_refused(
    client: TestClient, world: World, official: str, a1: str
) -> None:
    activity = meeting(client, official, world)
    made = claim(client, a1, live_code(client, official, activity["id"]), headers=device("phone-a1"))
    assert made.status_code == 201 and made.json()["status"] == "pending"
    assert "no_location" in flags_of(client, official, made.json()["id"])


def test_a_live_claim_at_an_activity_without_a_geofence_waits_for_review(
    client: TestClient, world: World, official: str, a1: str
) -> None:
    activity = meeting(client, official, world, lat=None, lon=None, radius_m=None)
    made = claim(client, a1, live_code(client, official, activity["id"]), headers=device("phone-a1"), **HALL)
    assert made.status_code == 201 and made.json()["status"] == "pending"
    assert "no_geofence" in flags_of(client, official, made.json()["id"])


def test_a_live_claim_without_a_device_id_waits_for_review(
    client: TestClient, world: World, official: str, a1: str
) -> None:
    activity = meeting(client, official, world)
    made = claim(client, a1, live_code(client, official, activity["id"]), **HALL)
    assert made.status_code == 201 and made.json()["status"] == "pending"
    assert "no_device" in flags_of(client, official, made.json()["id"])


def test_a_second_household_claiming_from_the_same_phone_with_the_same_code_waits_for_review(
    client: TestClient, world: World, official: str, a1: str, a2: str
) -> None:
    activity = meeting(client, official, world)
    code = live_code(client, official, activity["id"])
    first = claim(client, a1, code, headers=device("one-phone"), **HALL)
    assert first.json()["status"] == "approved"
    second = claim(client, a2, code, headers=device("one-phone"), **HALL)
    assert second.status_code == 201 and second.json()["status"] == "pending"
    flag = flags_of(client, official, second.json()["id"])["device_other_household"]
    assert flag["households"] == 2


# --- one test per flag -------------------------------------------------------------------------------------


def test_burst_five_claims_of_a_household_within_an_hour_are_flagged(
    client: TestClient, world: World, official: str, a1: str
) -> None:
    matters = ["garbage_sorting", "volunteering", "dispute_mediation", "neighbourly_help", "neighbourly_help"]
    made = []
    for matter in matters:
        activity = new_activity(client, official, world.village_a.village_id, matter)
        response = claim(client, a1, code_of(activity))
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    assert all("burst" not in flags_of(client, official, claim_id) for claim_id in made[:4])
    assert flags_of(client, official, made[4])["burst"]["claims"] == 5


def test_shared_device_one_phone_claiming_for_three_households_in_a_day_is_flagged(
    client: TestClient, world: World, official: str, a1: str, a2: str
) -> None:
    b1 = villager_token(client, "13900000003")
    in_a = new_activity(client, official, world.village_a.village_id, "volunteering")
    in_b = new_activity(client, password_token(client, "official-b"), world.village_b.village_id, "volunteering")
    first = claim(client, a1, code_of(in_a), headers=device("family-phone"))
    second = claim(client, a2, code_of(in_a), headers=device("family-phone"))
    third = claim(client, b1, code_of(in_b), headers=device("family-phone"))
    assert [r.status_code for r in (first, second, third)] == [201, 201, 201]
    assert "shared_device" not in flags_of(client, official, second.json()["id"])
    supervisor = password_token(client, "admin")
    assert flags_of(client, supervisor, third.json()["id"])["shared_device"]["households"] == 3


def test_outside_geofence_a_claim_far_from_the_activity_is_flagged_with_the_distance(
    client: TestClient, world: World, official: str, a1: str, a2: str
) -> None:
    activity = new_activity(client, official, world.village_a.village_id, "volunteering", **GEOFENCE)
    near = claim(client, a1, code_of(activity), **HALL)
    far = claim(client, a2, code_of(activity), **HOME)
    assert "outside_geofence" not in flags_of(client, official, near.json()["id"])
    assert flags_of(client, official, far.json()["id"])["outside_geofence"]["distance_m"] == pytest.approx(1112, abs=5)


def test_photo_reused_the_same_photo_again_is_flagged(
    client: TestClient, world: World, official: str, a1: str, a2: str
) -> None:
    shot = picture(1)
    first = claim(
        client,
        a1,
        code_of(new_activity(client, official, world.village_a.village_id, "courtyard_hygiene")),
        evidence_ids=[photo(client, a1, shot)],
    )
    again = claim(
        client,
        a2,
        code_of(new_activity(client, official, world.village_a.village_id, "courtyard_hygiene")),
        evidence_ids=[photo(client, a2, shot)],
    )
    assert "photo_reused" not in flags_of(client, official, first.json()["id"])
    assert flags_of(client, official, again.json()["id"])["photo_reused"]["claims"] == 1


def test_photo_reused_a_resaved_copy_is_caught_by_its_perceptual_hash_and_another_photo_is_not(
    client: TestClient, world: World, official: str, a1: str, a2: str
) -> None:
    shot = picture(1)
    activity = new_activity(client, official, world.village_a.village_id, "courtyard_hygiene")
    claim(client, a1, code_of(activity), evidence_ids=[photo(client, a1, shot)])

    copy = resaved(shot, scale=0.6, quality=55)
    assert copy != shot
    resent = claim(client, a2, code_of(activity), evidence_ids=[photo(client, a2, copy)])
    assert resent.status_code == 201, resent.text
    assert "photo_reused" in flags_of(client, official, resent.json()["id"])

    other = new_activity(client, official, world.village_a.village_id, "elder_care")
    fresh = claim(client, a1, code_of(other), evidence_ids=[photo(client, a1, picture(2))])
    assert "photo_reused" not in flags_of(client, official, fresh.json()["id"])


def test_photo_reuse_is_looked_for_within_the_county_only(
    client: TestClient, world: World, official: str, a1: str
) -> None:
    shot = picture(3)
    claim(
        client,
        a1,
        code_of(new_activity(client, official, world.village_a.village_id, "courtyard_hygiene")),
        evidence_ids=[photo(client, a1, shot)],
    )
    admin_c = password_token(client, "admin-c")
    c1 = villager_token(client, "13900000004")
    elsewhere = claim(
        client,
        c1,
        code_of(new_activity(client, admin_c, world.village_c.village_id, "courtyard_hygiene")),
        evidence_ids=[photo(client, c1, shot)],
    )
    assert elsewhere.status_code == 201, elsewhere.text
    assert "photo_reused" not in flags_of(client, admin_c, elsewhere.json()["id"])


def test_an_app_gets_a_scan_ticket_for_a_live_code_and_claims_with_it_after_the_code_changed(
    client: TestClient, world: World, official: str, a1: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = live_code(client, official, meeting(client, official, world)["id"])
    assert client.get(f"/api/v1/codes/{code}").json()["scan_ticket"] is None  # a ticket is for a named device
    ticket = client.get(f"/api/v1/codes/{code}", headers=device("phone-a1")).json()["scan_ticket"]
    assert ticket

    later = utcnow() + timedelta(minutes=3)  # signing in took three minutes
    monkeypatch.setattr(claim_service, "utcnow", lambda: later)
    assert claim(client, a1, code, headers=device("phone-a1"), **HALL).json()["code"] == "code_expired"
    made = claim(client, a1, code, headers=device("phone-a1"), scan_ticket=ticket, **HALL)
    assert made.status_code == 201 and made.json()["status"] == "approved"

    printed = new_activity(client, official, world.village_a.village_id, "volunteering")
    assert client.get(f"/api/v1/codes/{code_of(printed)}", headers=device("phone-a1")).json()["scan_ticket"] is None
