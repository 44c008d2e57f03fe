"""A claim from QR code to settled points, and every way it can be refused, through the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from ledger import jobs
from ledger.activities import codes
from ledger.claims.models import Claim
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.journal.models import JournalTransaction
from ledger.journal.verify import verify
from tests.api.claiming import PNG, balance, claim, code_of, decide, key, live_code, new_activity, photo, upload
from tests.api.conftest import World, bearer, password_token, villager_token


def counts(engine: Engine) -> tuple[int, int]:
    """(claims, journal transactions): what a refused claim must leave untouched."""
    with unit_of_work(engine) as session:
        return (
            int(session.scalar(select(func.count()).select_from(Claim)) or 0),
            int(session.scalar(select(func.count()).select_from(JournalTransaction)) or 0),
        )


def ledger_verifies(engine: Engine) -> bool:
    with unit_of_work(engine) as session:
        report = verify(session)
    assert report.ok, [str(p) for p in report.problems]
    return True


@pytest.fixture
def official(client: TestClient, world: World) -> str:
    return password_token(client, "official-a")


@pytest.fixture
def villager(client: TestClient, world: World) -> str:
    return villager_token(client, world.villager_phone)


def test_a_claim_with_a_photo_goes_from_review_to_notice_to_settled(
    client: TestClient, world: World, engine: Engine, official: str, villager: str
) -> None:
    activity = new_activity(client, official, world.village_a.village_id, "courtyard_hygiene")
    assert activity["claim_url"].startswith("http://127.0.0.1:8000/c/")
    evidence = photo(client, villager)
    made = claim(client, villager, code_of(activity), evidence_ids=[evidence], note="swept and tidied")
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["status"], body["points"], body["matter_code"]) == ("pending", 3, "courtyard_hygiene")
    assert body["evidence"] == [f"/api/v1/evidence/{evidence}"]
    assert balance(client, villager, world.household_a1) | {} == {
        "household_id": world.household_a1,
        "posted": 0,
        "in_notice": 0,
        "pending_in": 3,
        "held": 0,
        "available": 0,
        "earned": 0,
    }

    queue = client.get("/api/v1/claims", params={"status": "pending"}, headers=bearer(official)).json()
    assert [c["id"] for c in queue] == [body["id"]]
    assert queue[0]["overdue"] is False and queue[0]["age_hours"] == 0 and queue[0]["flags"] == []
    assert client.get(queue[0]["evidence"][0], headers=bearer(official)).content.startswith(b"\xff\xd8\xff")

    approved = decide(client, official, body["id"])
    assert approved.status_code == 201 and approved.json()["status"] == "approved"
    assert balance(client, villager, world.household_a1) == {
        "household_id": world.household_a1,
        "posted": 0,
        "in_notice": 3,
        "pending_in": 0,
        "held": 0,
        "available": 0,
        "earned": 3,
    }
    board = client.get(f"/api/v1/villages/{world.village_a.village_id}/notice-board", headers=bearer(villager))
    assert board.status_code == 200 and board.headers["Cache-Control"] == "no-store"
    entry = board.json()["entries"][0]
    assert (entry["kind"], entry["points"], entry["matter_zh"]) == ("claim", 3, "庭院整洁")
    assert entry["name"].endswith("家")  # surname and house number by default, never the full name

    first = jobs.tick(engine)
    assert (first.settled_claims, first.delivered) == (0, 1)  # still in notice; "approved" sent
    report = jobs.tick(engine, now=utcnow() + timedelta(days=7, minutes=1))
    assert (report.settled_claims, report.delivered) == (1, 1)  # settled; "settled" sent
    assert balance(client, villager, world.household_a1) == {
        "household_id": world.household_a1,
        "posted": 3,
        "in_notice": 0,
        "pending_in": 0,
        "held": 0,
        "available": 3,
        "earned": 3,
    }
    mine = client.get("/api/v1/claims", headers=bearer(villager)).json()
    assert mine[0]["status"] == "settled" and "flags" not in mine[0] and "entered_by" not in mine[0]
    told = [n["kind"] for n in client.get("/api/v1/notifications", headers=bearer(villager)).json()]
    assert told == ["claim_settled", "claim_approved"]
    statement = client.get(f"/api/v1/households/{world.household_a1}/statement", headers=bearer(villager)).json()
    assert [(e["reason"], e["amount"]) for e in statement["entries"]] == [("courtyard_hygiene", 3)]
    assert ledger_verifies(engine)


def test_the_same_claim_sent_twice_is_one_claim(
    client: TestClient, world: World, engine: Engine, official: str, villager: str
) -> None:
    code = code_of(new_activity(client, official, world.village_a.village_id))
    headers = {**bearer(villager), "Idempotency-Key": "scan-1"}
    first = client.post("/api/v1/claims", json={"token": code}, headers=headers)
    again = client.post("/api/v1/claims", json={"token": code}, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotency-Replayed"] == "true"
    other = client.post("/api/v1/claims", json={"token": code, "note": "changed"}, headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert counts(engine) == (1, 1)


def test_every_refusal_has_its_own_code_and_writes_nothing(
    client: TestClient, world: World, engine: Engine, official: str, villager: str
) -> None:
    village = world.village_a.village_id
    now = utcnow()
    open_one = new_activity(client, official, village, "volunteering")
    ended = new_activity(
        client,
        official,
        village,
        "neighbourly_help",
        starts_at=(now - timedelta(days=2)).isoformat(),
        ends_at=(now - timedelta(days=1)).isoformat(),
    )
    later = new_activity(
        client,
        official,
        village,
        "dispute_mediation",
        starts_at=(now + timedelta(days=1)).isoformat(),
        ends_at=(now + timedelta(days=2)).isoformat(),
    )
    in_b = new_activity(client, password_token(client, "official-b"), world.village_b.village_id)
    photo_needed = new_activity(client, official, village, "elder_care")
    sorting_1 = new_activity(client, official, village, "garbage_sorting", title="Station 1", period="day")
    sorting_2 = new_activity(client, official, village, "garbage_sorting", title="Station 2", period="day")
    one_place = new_activity(client, official, village, "clearing_debris", capacity=1)
    neighbour = villager_token(client, "13900000002")
    assert claim(client, villager, code_of(open_one)).status_code == 201
    assert claim(client, villager, code_of(sorting_1)).status_code == 201
    assert claim(client, neighbour, code_of(one_place), evidence_ids=[photo(client, neighbour)]).status_code == 201
    neighbours_photo = photo(client, neighbour, PNG)
    tampered = code_of(open_one)[:-3] + ("AAA" if not code_of(open_one).endswith("AAA") else "BBB")
    before = counts(engine)

    cases: list[tuple[str, dict[str, Any], int, str]] = [
        (tampered, {}, 422, "code_invalid"),
        (code_of(ended), {}, 409, "activity_over"),
        (code_of(later), {}, 409, "not_yet_open"),
        (code_of(in_b), {}, 403, "outside_village"),
        (code_of(open_one), {}, 409, "already_claimed"),
        (code_of(sorting_2), {}, 409, "cap_reached"),
        (code_of(one_place), {"evidence_ids": [photo(client, villager)]}, 409, "capacity_full"),
        (code_of(photo_needed), {}, 422, "evidence_required"),
        (code_of(photo_needed), {"evidence_ids": [neighbours_photo]}, 403, "evidence_not_yours"),
    ]
    for token, body, status, code in cases:
        response = claim(client, villager, token, **body)
        assert (response.status_code, response.json()["code"]) == (status, code), (code, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] and "Traceback" not in response.text
    assert counts(engine) == before
    assert ledger_verifies(engine)

    # asking first gives the same answer as claiming, but for the evidence, which comes with the claim
    for token, _, status, code in cases:
        asked = client.get("/api/v1/claims/check", params={"token": token}, headers=bearer(villager))
        expected = (200, None) if code.startswith("evidence_") else (status, code)
        assert (asked.status_code, asked.json().get("code")) == expected, (code, asked.text)
    already = client.get("/api/v1/claims/check", params={"token": code_of(open_one)}, headers=bearer(villager))
    assert already.json()["claim_id"] == client.get("/api/v1/claims", headers=bearer(villager)).json()[-1]["id"]
    assert client.get(
        "/api/v1/claims/check", params={"token": code_of(photo_needed)}, headers=bearer(villager)
    ).json() == {"may_claim": True}
    assert (
        client.get("/api/v1/claims/check", params={"token": code_of(open_one)}, headers=bearer(official)).status_code
        == 403
    )  # only a villager claims with a code
    assert counts(engine) == before


def test_a_claim_body_cannot_set_points_status_or_household(
    client: TestClient, world: World, engine: Engine, official: str, villager: str
) -> None:
    code = code_of(new_activity(client, official, world.village_a.village_id))
    value: Any
    for field, value in [
        ("points", 500),
        ("status", "approved"),
        ("household_id", world.household_a2),
        ("approved_by", "user:1"),
    ]:
        response = claim(client, villager, code, **{field: value})
        assert response.status_code == 422 and response.json()["code"] == "invalid_request"
        assert field in response.json()["detail"]
    assert counts(engine) == (0, 0)


def test_a_live_rotating_code_approves_at_once_and_old_codes_are_refused(
    client: TestClient, world: World, engine: Engine, official: str, villager: str, settings: Settings
) -> None:
    meeting = new_activity(
        client,
        official,
        world.village_a.village_id,
        "village_meeting",
        rotating=True,
        lat=30.2741,
        lon=120.1551,
        radius_m=200,
    )
    assert meeting["claim_url"] is None
    printed = client.get(f"/api/v1/activities/{meeting['id']}/poster.svg", headers=bearer(official))
    assert printed.status_code == 409 and printed.json()["code"] == "not_rotating"
    keys = codes.Keys.from_settings(settings)
    stale = codes.sign_rotating(keys, activity_id=meeting["id"], step=codes.step_of(utcnow()) - 2)
    assert claim(client, villager, stale).json()["code"] == "code_expired"
    # at the meeting, from the villager's own phone (tests/api/test_claims_fraud.py: what sends it to review)
    made = claim(
        client,
        villager,
        live_code(client, official, meeting["id"]),
        lat=30.2742,
        lon=120.1552,
        headers={"X-Device-Id": "phone-of-a1"},
    )
    assert made.status_code == 201 and made.json()["status"] == "approved"
    assert balance(client, villager, world.household_a1)["in_notice"] == 2
    assert ledger_verifies(engine)


def test_a_witness_matter_needs_a_live_code(client: TestClient, world: World, official: str) -> None:
    response = client.post(
        "/api/v1/activities",
        headers=bearer(official),
        json={
            "village_id": world.village_a.village_id,
            "matter_code": "fire_safety_duty",
            "title": "Night watch",
            "starts_at": utcnow().isoformat(),
            "ends_at": (utcnow() + timedelta(hours=3)).isoformat(),
        },
    )
    assert response.status_code == 422 and response.json()["code"] == "invalid_activity"
    assert response.json()["field"] == "rotating"


def test_rejection_needs_a_reason_the_household_sees(
    client: TestClient, world: World, engine: Engine, official: str, villager: str
) -> None:
    made = claim(client, villager, code_of(new_activity(client, official, world.village_a.village_id))).json()
    missing = decide(client, official, made["id"], "reject")
    assert missing.status_code == 422 and missing.json()["code"] == "invalid_request"
    rejected = decide(client, official, made["id"], "reject", reason="Nobody saw you at the clean-up.")
    assert rejected.status_code == 201 and rejected.json()["status"] == "rejected"
    seen = client.get(f"/api/v1/claims/{made['id']}", headers=bearer(villager)).json()
    assert seen["reject_reason"] == "Nobody saw you at the clean-up."
    assert balance(client, villager, world.household_a1)["pending_in"] == 0
    again = decide(client, password_token(client, "official-a2"), made["id"])
    assert again.status_code == 409 and again.json()["code"] == "claim_already_decided"
    assert again.json()["claim_status"] == "rejected"
    told = client.get("/api/v1/notifications", headers=bearer(villager)).json()
    assert told[0]["kind"] == "claim_rejected" and told[0]["payload"]["reason"] == "Nobody saw you at the clean-up."
    assert ledger_verifies(engine)


def test_an_official_does_not_decide_their_own_households_claims(
    client: TestClient, world: World, official: str
) -> None:
    neighbour = villager_token(client, "13900000002")  # household A2, where official-home lives
    made = claim(client, neighbour, code_of(new_activity(client, official, world.village_a.village_id))).json()
    own = decide(client, password_token(client, "official-home"), made["id"])
    assert own.status_code == 403 and own.json()["code"] == "conflict_of_interest"
    assert decide(client, password_token(client, "supervisor"), made["id"]).status_code == 201


def test_a_proxy_claim_by_household_card_needs_a_second_official(
    client: TestClient, world: World, engine: Engine, official: str, villager: str, settings: Settings
) -> None:
    activity = new_activity(client, official, world.village_a.village_id, "elder_care")
    card_svg = client.get(f"/api/v1/households/{world.household_a1}/card.svg", headers=bearer(official))
    assert card_svg.status_code == 200 and card_svg.headers["content-type"].startswith("image/svg+xml")
    # what scanning the card's QR code gives (the card is an SVG drawing; its code is signed like this)
    card_url = "http://127.0.0.1:8000/h/" + codes.sign_household(
        codes.Keys.from_settings(settings), household_id=world.household_a1
    )
    looked_up = client.post("/api/v1/households/lookup-card", json={"token": card_url}, headers=bearer(official))
    assert looked_up.status_code == 200 and looked_up.json()["household_id"] == world.household_a1
    person = looked_up.json()["members"][0]["person_id"]
    evidence = photo(client, official, village_id=world.village_a.village_id)
    made = client.post(
        "/api/v1/claims/proxy",
        headers={**bearer(official), **key()},
        json={
            "activity_id": activity["id"],
            "household_card": card_url,
            "person_id": person,
            "evidence_ids": [evidence],
        },
    )
    assert made.status_code == 201, made.text
    assert (made.json()["proxy"], made.json()["status"], made.json()["household_id"]) == (
        True,
        "pending",
        world.household_a1,
    )
    same = decide(client, official, made.json()["id"])
    assert same.status_code == 403 and same.json()["code"] == "second_official_needed"
    assert decide(client, password_token(client, "official-a2"), made.json()["id"]).status_code == 201
    assert balance(client, villager, world.household_a1)["in_notice"] == 3


def test_bulk_approve_reports_each_claim(client: TestClient, world: World, official: str, villager: str) -> None:
    first = claim(client, villager, code_of(new_activity(client, official, world.village_a.village_id))).json()
    neighbour = villager_token(client, "13900000002")
    second = claim(
        client, neighbour, code_of(new_activity(client, official, world.village_a.village_id, "neighbourly_help"))
    ).json()
    in_b = claim(
        client,
        villager_token(client, "13900000003"),
        code_of(new_activity(client, password_token(client, "official-b"), world.village_b.village_id)),
    ).json()
    decide(client, official, second["id"], "reject", reason="duplicate")
    headers = {**bearer(official), "Idempotency-Key": "bulk-1"}
    ids = [first["id"], second["id"], in_b["id"], 99999]
    result = client.post("/api/v1/claims/bulk-approve", json={"claim_ids": ids}, headers=headers)
    assert result.status_code == 201
    assert result.json()["outcomes"] == {
        str(first["id"]): "approved",
        str(second["id"]): "claim_already_decided",
        str(in_b["id"]): "claim_not_found",
        "99999": "claim_not_found",
    }
    replay = client.post("/api/v1/claims/bulk-approve", json={"claim_ids": ids}, headers=headers)
    assert replay.status_code == 200 and replay.json()["outcomes"] == result.json()["outcomes"]


def test_claims_nobody_decides_expire_and_the_household_is_told(
    client: TestClient, world: World, engine: Engine, official: str, villager: str
) -> None:
    made = claim(client, villager, code_of(new_activity(client, official, world.village_a.village_id))).json()
    with unit_of_work(engine) as session:  # a day and a bit ago
        session.execute(update(Claim).where(Claim.id == made["id"]).values(submitted_at=utcnow() - timedelta(hours=25)))
    overdue = client.get(
        "/api/v1/claims", params={"overdue": "true"}, headers=bearer(password_token(client, "supervisor"))
    ).json()
    assert [c["id"] for c in overdue] == [made["id"]] and overdue[0]["overdue"] is True
    report = jobs.tick(engine, now=utcnow() + timedelta(days=7, minutes=1))
    assert report.expired_claims == 1
    assert client.get(f"/api/v1/claims/{made['id']}", headers=bearer(villager)).json()["status"] == "expired"
    assert balance(client, villager, world.household_a1)["pending_in"] == 0
    assert client.get("/api/v1/notifications", headers=bearer(villager)).json()[0]["kind"] == "claim_expired"
    late = decide(client, official, made["id"])
    assert late.status_code == 409 and late.json()["code"] == "claim_already_decided"
    assert ledger_verifies(engine)


def test_an_upheld_objection_reverses_a_claim_in_notice(
    client: TestClient, world: World, engine: Engine, official: str, villager: str
) -> None:
    made = claim(client, villager, code_of(new_activity(client, official, world.village_a.village_id))).json()
    decide(client, official, made["id"])
    own = client.post(
        f"/api/v1/claims/{made['id']}/objections", json={"reason": "mine"}, headers={**bearer(villager), **key()}
    )
    assert own.status_code == 403 and own.json()["code"] == "own_entry"
    neighbour = villager_token(client, "13900000002")
    objection = client.post(
        f"/api/v1/claims/{made['id']}/objections",
        json={"reason": "He was not there."},
        headers={**bearer(neighbour), **key()},
    )
    assert objection.status_code == 201 and objection.json()["status"] == "open"
    twice = client.post(
        f"/api/v1/claims/{made['id']}/objections",
        json={"reason": "Really not."},
        headers={**bearer(neighbour), **key()},
    )
    assert twice.status_code == 409 and twice.json()["code"] == "already_disputed"
    outsider = villager_token(client, "13900000003")  # village B
    assert (
        client.post(
            f"/api/v1/claims/{made['id']}/objections", json={"reason": "x"}, headers={**bearer(outsider), **key()}
        ).status_code
        == 404
    )
    board = client.get(f"/api/v1/villages/{world.village_a.village_id}/notice-board", headers=bearer(villager))
    assert board.json()["entries"][0]["disputed"] is True

    assert jobs.tick(engine, now=utcnow() + timedelta(days=8)).settled_claims == 0  # held while disputed
    resolved = client.post(
        f"/api/v1/disputes/{objection.json()['id']}/resolve",
        json={"outcome": "upheld", "note": "Checked the sign-in sheet."},
        headers={**bearer(official), **key()},
    )
    assert resolved.status_code == 201 and resolved.json()["status"] == "upheld"
    assert client.get(f"/api/v1/claims/{made['id']}", headers=bearer(villager)).json()["status"] == "revoked"
    assert balance(client, villager, world.household_a1) | {"household_id": 0} == {
        "household_id": 0,
        "posted": 0,
        "in_notice": 0,
        "pending_in": 0,
        "held": 0,
        "available": 0,
        "earned": 0,
    }
    assert ledger_verifies(engine)


def test_a_dismissed_objection_lets_the_claim_settle(
    client: TestClient, world: World, engine: Engine, official: str, villager: str
) -> None:
    made = claim(client, villager, code_of(new_activity(client, official, world.village_a.village_id))).json()
    decide(client, official, made["id"])
    objection = client.post(
        f"/api/v1/claims/{made['id']}/objections",
        json={"reason": "Not sure."},
        headers={**bearer(villager_token(client, "13900000002")), **key()},
    ).json()
    client.post(
        f"/api/v1/disputes/{objection['id']}/resolve",
        json={"outcome": "dismissed"},
        headers={**bearer(official), **key()},
    )
    assert jobs.tick(engine, now=utcnow() + timedelta(days=8)).settled_claims == 1
    assert balance(client, villager, world.household_a1)["posted"] == 5


def test_an_upheld_appeal_approves_a_rejected_claim_after_all(
    client: TestClient, world: World, engine: Engine, official: str, villager: str
) -> None:
    made = claim(client, villager, code_of(new_activity(client, official, world.village_a.village_id))).json()
    decide(client, official, made["id"], "reject", reason="No photo of you there.")
    appeal = client.post(
        "/api/v1/appeals",
        json={"claim_id": made["id"], "reason": "Ask the team leader."},
        headers={**bearer(villager), **key()},
    )
    assert appeal.status_code == 201 and appeal.json()["kind"] == "appeal"
    queue = client.get("/api/v1/disputes", params={"status": "open"}, headers=bearer(official)).json()
    assert [d["id"] for d in queue] == [appeal.json()["id"]]
    client.post(
        f"/api/v1/disputes/{appeal.json()['id']}/resolve",
        json={"outcome": "upheld"},
        headers={**bearer(password_token(client, "official-a2")), **key()},
    )
    assert client.get(f"/api/v1/claims/{made['id']}", headers=bearer(villager)).json()["status"] == "approved"
    assert balance(client, villager, world.household_a1)["in_notice"] == 5
    assert ledger_verifies(engine)


def test_appeals_close_after_the_countys_appeal_days(
    client: TestClient, world: World, engine: Engine, official: str, villager: str
) -> None:
    made = claim(client, villager, code_of(new_activity(client, official, world.village_a.village_id))).json()
    assert made["appeal_until"] is None  # nothing to appeal while it awaits review
    decide(client, official, made["id"], "reject", reason="no")
    rejected = client.get(f"/api/v1/claims/{made['id']}", headers=bearer(villager)).json()
    decided = datetime.fromisoformat(rejected["decided_at"])
    assert datetime.fromisoformat(rejected["appeal_until"]) == decided + timedelta(days=7)  # the county's 7 days
    with unit_of_work(engine) as session:
        session.execute(update(Claim).where(Claim.id == made["id"]).values(decided_at=utcnow() - timedelta(days=8)))
    closed = client.get(f"/api/v1/claims/{made['id']}", headers=bearer(villager)).json()["appeal_until"]
    late = client.post(
        "/api/v1/appeals", json={"claim_id": made["id"], "reason": "late"}, headers={**bearer(villager), **key()}
    )
    assert late.status_code == 409 and late.json()["code"] == "appeal_window_closed"
    assert datetime.fromisoformat(late.json()["closed_at"]) == datetime.fromisoformat(closed)  # one rule, one date

    deduction = client.post(
        "/api/v1/deductions",
        headers={**bearer(official), **key()},
        json={"household_id": world.household_a1, "matter_code": "breaking_village_rules", "reason": "x"},
    ).json()
    assert datetime.fromisoformat(deduction["appeal_until"]) == (
        datetime.fromisoformat(deduction["recorded_at"]) + timedelta(days=7)
    )


def test_a_deduction_takes_what_the_balance_allows_and_records_the_rest(
    client: TestClient, world: World, engine: Engine, official: str, villager: str
) -> None:
    made = claim(
        client,
        villager,
        code_of(new_activity(client, official, world.village_a.village_id, "garbage_sorting", period="day")),
    ).json()
    decide(client, official, made["id"])
    jobs.tick(engine, now=utcnow() + timedelta(days=8))
    assert balance(client, villager, world.household_a1)["available"] == 2
    no_photo = client.post(
        "/api/v1/deductions",
        headers={**bearer(official), **key()},
        json={"household_id": world.household_a1, "matter_code": "open_burning", "reason": "Burnt straw by the road."},
    )
    assert no_photo.status_code == 422 and no_photo.json()["code"] == "evidence_required"
    evidence = photo(client, official, village_id=world.village_a.village_id)
    recorded = client.post(
        "/api/v1/deductions",
        headers={**bearer(official), **key()},
        json={
            "household_id": world.household_a1,
            "matter_code": "open_burning",
            "reason": "Burnt straw by the road.",
            "evidence_ids": [evidence],
        },
    )
    assert recorded.status_code == 201, recorded.text
    assert (recorded.json()["points"], recorded.json()["posted"], recorded.json()["unpaid"]) == (5, 2, 3)
    assert balance(client, villager, world.household_a1)["available"] == 0  # never below zero
    seen = client.get("/api/v1/deductions", headers=bearer(villager)).json()
    assert seen[0]["unpaid"] == 3 and client.get(seen[0]["evidence"][0], headers=bearer(villager)).status_code == 200
    wrong = client.post(
        "/api/v1/deductions",
        headers={**bearer(official), **key()},
        json={"household_id": world.household_a1, "matter_code": "volunteering", "reason": "x"},
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == "not_a_deduction"
    appeal = client.post(
        "/api/v1/appeals",
        json={"deduction_id": recorded.json()["id"], "reason": "Not us."},
        headers={**bearer(villager), **key()},
    ).json()
    client.post(
        f"/api/v1/disputes/{appeal['id']}/resolve", json={"outcome": "upheld"}, headers={**bearer(official), **key()}
    )
    assert client.get("/api/v1/deductions", headers=bearer(villager)).json()[0]["status"] == "revoked"
    assert balance(client, villager, world.household_a1)["available"] == 2
    assert ledger_verifies(engine)


@pytest.mark.parametrize(
    ("policy", "expected"), [("full_name", "Head"), ("surname_house", "H家"), ("anonymous", "一户村民")]
)
def test_the_notice_board_names_households_as_the_village_decided(
    client: TestClient, world: World, official: str, villager: str, policy: str, expected: str
) -> None:
    made = claim(client, villager, code_of(new_activity(client, official, world.village_a.village_id))).json()
    decide(client, official, made["id"])
    assert (
        client.patch(
            f"/api/v1/villages/{world.village_a.village_id}", json={"notice_privacy": policy}, headers=bearer(official)
        ).status_code
        == 200
    )
    entry = client.get(f"/api/v1/villages/{world.village_a.village_id}/notice-board", headers=bearer(villager)).json()[
        "entries"
    ][0]
    assert entry["name"].startswith(expected)


def test_photos_are_checked_by_content_and_size_and_shown_only_to_their_people(
    client: TestClient, world: World, official: str, villager: str
) -> None:
    text = upload(client, villager, b"not really a picture", name="cat.jpg")
    assert text.status_code == 415 and text.json()["code"] == "evidence_type"
    huge = upload(client, villager, b"\xff\xd8\xff" + bytes(5 * 1024 * 1024))
    assert huge.status_code == 413 and huge.json()["code"] == "evidence_too_large"
    unplaced = upload(client, official)  # an official's photo needs a village of theirs
    assert unplaced.status_code == 422 and unplaced.json()["code"] == "village_required"
    first, again = upload(client, villager).json(), upload(client, villager).json()
    assert first["sha256"] == again["sha256"] and first["id"] != again["id"]
    link = f"/api/v1/evidence/{first['id']}"
    assert client.get(link, headers=bearer(villager)).headers["Cache-Control"] == "private, no-store"
    assert client.get(link, headers=bearer(official)).status_code == 200
    for outsider in (villager_token(client, "13900000002"), password_token(client, "official-b")):
        response = client.get(link, headers=bearer(outsider))
        assert response.status_code == 404 and response.json()["code"] == "evidence_not_found"


def test_the_catalogue_versions_every_edit_and_keeps_village_items_within_limits(
    client: TestClient, world: World, engine: Engine, official: str, villager: str
) -> None:
    admin = password_token(client, "admin")
    made = claim(client, villager, code_of(new_activity(client, official, world.village_a.village_id))).json()
    edited = client.patch("/api/v1/matters/volunteering", json={"points": 8}, headers=bearer(admin))
    assert edited.status_code == 201 and (edited.json()["version"], edited.json()["points"]) == (2, 8)
    versions = client.get("/api/v1/matters/volunteering/versions", headers=bearer(villager)).json()
    assert [(v["version"], v["points"]) for v in versions] == [(1, 5), (2, 8)]
    assert client.get(f"/api/v1/claims/{made['id']}", headers=bearer(villager)).json()["points"] == 5
    assert (
        client.patch("/api/v1/matters/volunteering", json={"points": 9}, headers=bearer(official)).json()["code"]
        == "village_item_limit"
    )
    village = world.village_a.village_id
    item = {"village_id": village, "name_zh": "护河", "name_en": "River patrol", "category": "environment"}
    too_big = client.post(
        "/api/v1/matters", json={**item, "code": "river_patrol", "points": 3}, headers=bearer(official)
    )
    assert too_big.status_code == 403 and too_big.json()["code"] == "village_item_limit"
    for n in range(5):
        ok = client.post(
            "/api/v1/matters", json={**item, "code": f"river_patrol_{n}", "points": 2}, headers=bearer(official)
        )
        assert ok.status_code == 201, ok.text
    sixth = client.post(
        "/api/v1/matters", json={**item, "code": "river_patrol_5", "points": 1}, headers=bearer(official)
    )
    assert sixth.status_code == 403 and sixth.json()["code"] == "village_item_limit"
    own = {m["code"] for m in client.get("/api/v1/matters", headers=bearer(villager)).json()}
    assert {"river_patrol_0", "volunteering", "littering"} <= own
    in_b = {
        m["code"] for m in client.get("/api/v1/matters", headers=bearer(villager_token(client, "13900000003"))).json()
    }
    assert "river_patrol_0" not in in_b


def test_leaderboard_and_month_report(
    client: TestClient, world: World, engine: Engine, official: str, villager: str
) -> None:
    made = claim(client, villager, code_of(new_activity(client, official, world.village_a.village_id))).json()
    decide(client, official, made["id"])
    later = utcnow() + timedelta(days=8)
    jobs.tick(engine, now=later)
    board = client.get(
        f"/api/v1/villages/{world.village_a.village_id}/leaderboard",
        params={"period": "year", "at": later.isoformat()},
        headers=bearer(villager),
    ).json()
    assert [(r["rank"], r["points"], r["mine"]) for r in board["leaders"]] == [(1, 5, True), (2, 0, False)]
    # the claim settled when its journal entry was written (now), not at the moment the schedule ran as
    settled_at = datetime.fromisoformat(
        client.get(f"/api/v1/claims/{made['id']}", headers=bearer(villager)).json()["settled_at"]
    )
    month = settled_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")  # the county's month
    report = client.get(
        f"/api/v1/villages/{world.village_a.village_id}/report", params={"month": month}, headers=bearer(official)
    )
    assert report.status_code == 200
    assert (report.json()["households"], report.json()["participating"]) == (2, 1)
    csv = client.get(
        f"/api/v1/villages/{world.village_a.village_id}/report",
        params={"month": month, "format": "csv"},
        headers=bearer(official),
    )
    assert csv.headers["content-type"].startswith("text/csv") and "参与率" in csv.text
    xlsx = client.get(
        f"/api/v1/villages/{world.village_a.village_id}/report",
        params={"month": month, "format": "xlsx"},
        headers=bearer(official),
    )
    assert xlsx.content[:2] == b"PK"  # a zip: the XLSX container
    assert (
        client.get(
            f"/api/v1/villages/{world.village_a.village_id}/report", params={"month": month}, headers=bearer(villager)
        ).status_code
        == 403
    )
