"""Good-conduct loans as the household and the banks meet them: apply in one step with consent, an answer at once
where the product's rules allow, the bank's staff otherwise, the loan's outcome reported for calibration, and
every step on the household's timeline. Households are rated from real settled points (tests.api.test_credit's
`give_history`: fourteen months of points make an AA)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select
from sqlmodel import col

from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.outbox import Notification
from redemption.models import LoanApplication, Offer, WebhookDelivery
from scoring import calibration
from scoring.models import Consent, CreditLookup, LoanOutcome
from tests.api.conftest import World, bearer, client_token, password_token, villager_token
from tests.api.test_credit import give_history
from tests.factories import not_none

TERMS: dict[str, Any] = {
    "grades": {
        "AAA": {"max_amount_yuan": 50_000, "rate_discount_bp": 50, "term_months": 36},
        "AA": {"max_amount_yuan": 30_000, "rate_discount_bp": 30, "term_months": 24},
        "A": {"max_amount_yuan": 10_000, "rate_discount_bp": 20, "term_months": 12},
    },
    "auto_approve": {"min_grade": "A", "max_amount_yuan": 20_000},
}
NEIGHBOUR = "13900000002"  # head of household A2, same village
RATED = {
    "household_id",
    "grade",
    "score",
    "score_range",
    "reasons",
    "as_of",
    "computed_at",
    "scorecard_version",
    "data_sufficiency",
    "valid_until",
    "consent_id",
    "purpose",
    "scope",
}


def loan_product(client: TestClient, partner: str = "bank", **fields: Any) -> int:
    now = utcnow()
    body = {
        "kind": "loan",
        "title": "好习惯贷",
        "per_household_limit": 10,
        "loan_terms": TERMS,
        "valid_from": (now - timedelta(days=1)).isoformat(),
        "valid_until": (now + timedelta(days=90)).isoformat(),
        **fields,
    }
    proposed = client.post("/api/v1/offers", json=body, headers=bearer(client_token(client, partner)))
    assert proposed.status_code == 201, proposed.text
    offer_id = int(proposed.json()["id"])
    approved = client.post(
        f"/api/v1/offers/{offer_id}/decision", json={"approve": True}, headers=bearer(password_token(client, "admin"))
    )
    assert approved.status_code == 200, approved.text
    return offer_id


def apply(
    client: TestClient, token: str, offer_id: int, amount: int = 20_000, *, key: str | None = None, **fields: Any
) -> Response:
    body = {"offer_id": offer_id, "amount_yuan": amount, "term_months": 12, "purpose": "买化肥和种子", **fields}
    response: Response = client.post(
        "/api/v1/loan-applications", json=body, headers={**bearer(token), "Idempotency-Key": key or str(uuid.uuid4())}
    )
    return response


def applied(client: TestClient, token: str, offer_id: int, amount: int = 20_000, **fields: Any) -> dict[str, Any]:
    response = apply(client, token, offer_id, amount, **fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


def report(client: TestClient, token: str, application_id: int, event: str, **fields: Any) -> Response:
    response: Response = client.post(
        f"/api/v1/loan-applications/{application_id}/status", json={"event": event, **fields}, headers=bearer(token)
    )
    return response


def decide(client: TestClient, token: str, application_id: int, approve: bool, note: str | None = None) -> Response:
    response: Response = client.post(
        f"/api/v1/loan-applications/{application_id}/decision",
        json={"approve": approve, **({"note": note} if note else {})},
        headers=bearer(token),
    )
    return response


def steps(body: dict[str, Any]) -> list[str]:
    return [step["status"] for step in body["timeline"]]


def deliveries(engine: Engine, event: str | None = None) -> list[WebhookDelivery]:
    with unit_of_work(engine) as session:
        query = select(WebhookDelivery).order_by(col(WebhookDelivery.created_at))
        if event:
            query = query.where(col(WebhookDelivery.event) == event)
        found = list(session.scalars(query))
        session.expunge_all()
        return found


def count(engine: Engine, model: Any) -> int:
    with unit_of_work(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def villager(client: TestClient, world: World, engine: Engine) -> str:
    """The head of household A1, rated AA."""
    give_history(engine, world, world.household_a1)
    token = villager_token(client, world.villager_phone)
    assert client.get("/api/v1/credit/me", headers=bearer(token)).json()["grade"] == "AA"
    return token


def test_an_aa_household_within_the_rule_is_pre_approved_at_once_and_the_bank_gets_the_snapshot(
    client: TestClient, world: World, engine: Engine, villager: str
) -> None:
    offer_id = loan_product(client)
    response = apply(client, villager, offer_id, 20_000)
    assert response.status_code == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
    mine = response.json()
    assert (mine["status"], mine["decided_automatically"], mine["grade"]) == ("pre_approved", True, "AA")
    assert (mine["max_amount_yuan"], mine["rate_discount_bp"], mine["partner_name"]) == (30_000, 30, "bank")
    assert steps(mine) == ["submitted", "pre_approved"] and mine["decided_at"]
    assert "rating" not in mine and "loan_ref" not in mine  # the bank's, not the household's

    # the consent was granted in the same step, for this bank and this purpose
    consents = client.get("/api/v1/consents", headers=bearer(villager)).json()
    assert [(c["id"], c["partner"], c["purpose"], c["scope"], c["active"]) for c in consents] == [
        (mine["consent_id"], "bank", "loan_application", "score", True)
    ]
    # the snapshot given to the bank is in the household's access log
    log = client.get("/api/v1/credit/me/lookups", headers=bearer(villager)).json()
    assert [(e["partner"], e["purpose"], e["consent_id"]) for e in log] == [
        ("bank", "loan_application", mine["consent_id"])
    ]

    # the bank's inbox: the application with the rating snapshot, and nothing about who the household is
    bank = client_token(client, "bank")
    inbox = client.get("/api/v1/loan-applications", headers=bearer(bank))
    assert inbox.status_code == 200 and inbox.headers["Cache-Control"] == "no-store"
    [seen] = inbox.json()
    assert seen["id"] == mine["id"] and seen["household_id"] == world.household_a1 and "timeline" not in seen
    assert set(seen["rating"]) == RATED
    assert (seen["rating"]["grade"], seen["rating"]["consent_id"], seen["rating"]["purpose"]) == (
        "AA",
        mine["consent_id"],
        "loan_application",
    )
    assert 300 <= seen["rating"]["score"] <= 900 and {"code", "zh", "en"} == set(seen["rating"]["reasons"][0])
    assert seen["loan_ref"] == f"shanzhi-app-{mine['id']}"
    for private in ("Head", "Household ", "13900000001"):
        assert private not in inbox.text
    assert client.get("/api/v1/loan-applications", params={"status": "under_review"}, headers=bearer(bank)).json() == []
    one = client.get(f"/api/v1/loan-applications/{mine['id']}", headers=bearer(bank))
    assert one.status_code == 200 and one.json()["rating"] == seen["rating"]

    # webhooks queued: created (with the snapshot), and decided (by the rule)
    [created] = deliveries(engine, "loan_application.created")
    data = created.payload["data"]
    assert (data["application_id"], data["amount_yuan"], data["term_months"], data["status"]) == (
        mine["id"],
        20_000,
        12,
        "pre_approved",
    )
    assert data["purpose"] == "买化肥和种子" and data["consent_id"] == mine["consent_id"]
    assert set(data["rating"]) == RATED and data["rating"]["grade"] == "AA"
    assert data["rating"]["scorecard_version"] == seen["rating"]["scorecard_version"]
    [decided] = deliveries(engine, "loan_application.decided")
    assert decided.payload["data"]["decided_automatically"] is True
    with unit_of_work(engine) as session:
        told = session.scalars(select(Notification).where(col(Notification.household_id) == world.household_a1)).all()
        assert [n.kind for n in told] == ["loan_pre_approved"]


def test_the_bank_reports_the_loan_and_calibration_sees_it(
    client: TestClient, world: World, engine: Engine, villager: str
) -> None:
    offer_id = loan_product(client)
    mine = applied(client, villager, offer_id, 15_000)
    bank = client_token(client, "bank")
    paid = report(client, bank, mine["id"], "disbursed")  # a pre-approval may be paid out as it is
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "disbursed"
    again = report(client, bank, mine["id"], "disbursed")
    assert again.status_code == 200 and again.headers["Idempotency-Replayed"] == "true"
    assert report(client, bank, mine["id"], "repaid").json()["status"] == "repaid"
    late = report(client, bank, mine["id"], "dpd30")
    assert late.status_code == 409 and late.json()["code"] == "loan_status_out_of_order"
    other = applied(client, villager, offer_id, 1_000)
    for when in (utcnow() + timedelta(days=1), utcnow() - timedelta(days=1)):  # not ahead, not before applying
        response = report(client, bank, other["id"], "disbursed", occurred_at=when.isoformat())
        assert response.status_code == 422 and response.json()["code"] == "invalid", response.text

    with unit_of_work(engine) as session:
        rows = session.scalars(select(LoanOutcome).order_by(col(LoanOutcome.id))).all()
        assert [(r.event, r.loan_ref, r.household_id, r.amount) for r in rows] == [
            ("disbursed", f"shanzhi-app-{mine['id']}", world.household_a1, 15_000),
            ("repaid", f"shanzhi-app-{mine['id']}", world.household_a1, None),
        ]
        application = session.get(LoanApplication, mine["id"])
        assert application is not None and {r.rating_id for r in rows} == {application.rating_id}
        dataset = calibration.dataset(session, world.village_a.county_id)
        assert list(dataset.good) == [True]  # one finished loan, repaid
    timeline = client.get(f"/api/v1/loan-applications/{mine['id']}", headers=bearer(villager)).json()
    assert steps(timeline) == ["submitted", "pre_approved", "disbursed", "repaid"]
    assert "15000" in timeline["timeline"][2]["note"]
    assert [d.payload["data"]["event"] for d in deliveries(engine, "loan_application.status")] == [
        "disbursed",
        "repaid",
    ]
    sideways = client.post(
        "/api/v1/credit/outcomes",
        headers=bearer(bank),
        json={
            "loan_ref": f"shanzhi-app-{other['id']}",
            "household_id": world.household_a1,
            "consent_id": "0" * 32,
            "event": "disbursed",
            "occurred_at": utcnow().isoformat(),
        },
    )
    assert sideways.status_code == 409 and sideways.json()["code"] == "report_through_the_application"
    assert (
        client.get(f"/api/v1/loan-applications/{other['id']}", headers=bearer(villager)).json()["status"]
        == "pre_approved"
    )  # the application and its outcomes still agree


def test_above_the_rule_the_bank_staff_decide(client: TestClient, world: World, engine: Engine, villager: str) -> None:
    offer_id = loan_product(client, stock=100)  # places are counted only with a stock limit
    mine = applied(client, villager, offer_id, 25_000)  # within AA's 30 000, above the rule's 20 000
    assert (mine["status"], mine["decided_automatically"]) == ("under_review", False)
    assert steps(mine) == ["submitted", "under_review"]
    assert deliveries(engine, "loan_application.decided") == []
    staff = password_token(client, "bank-staff")
    inbox = client.get("/api/v1/loan-applications", params={"status": "under_review"}, headers=bearer(staff)).json()
    assert [a["id"] for a in inbox] == [mine["id"]]
    early = report(client, staff, mine["id"], "disbursed")
    assert early.status_code == 409 and early.json()["code"] == "loan_status_out_of_order"

    approved = decide(client, staff, mine["id"], True, "收入稳定")
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["decision_note"]) == ("approved", "收入稳定")
    twice = decide(client, staff, mine["id"], False)
    assert twice.status_code == 409 and twice.json()["code"] == "loan_application_decided"
    [decided] = deliveries(engine, "loan_application.decided")
    assert (decided.payload["data"]["status"], decided.payload["data"]["decided_automatically"]) == ("approved", False)

    assert report(client, staff, mine["id"], "disbursed", amount_yuan=24_000).json()["status"] == "disbursed"
    assert report(client, staff, mine["id"], "dpd30").json()["status"] == "overdue"
    assert report(client, staff, mine["id"], "repaid").json()["status"] == "repaid"
    timeline = client.get(f"/api/v1/loan-applications/{mine['id']}", headers=bearer(villager)).json()
    assert steps(timeline) == ["submitted", "under_review", "approved", "disbursed", "overdue", "repaid"]
    assert timeline["timeline"][2]["note"] == "收入稳定"
    with unit_of_work(engine) as session:
        assert [o.event for o in session.scalars(select(LoanOutcome).order_by(col(LoanOutcome.id)))] == [
            "disbursed",
            "dpd30",
            "repaid",
        ]
        assert session.scalar(select(col(LoanOutcome.amount)).where(col(LoanOutcome.event) == "disbursed")) == 24_000

    # a rejection: the place goes back to the product, and nothing can be paid out
    other = applied(client, villager, offer_id, 25_000)
    with unit_of_work(engine) as session:
        assert not_none(session.get(Offer, offer_id)).issued == 2
    rejected = decide(client, staff, other["id"], False, "资料不全")
    assert rejected.json()["status"] == "rejected"
    with unit_of_work(engine) as session:
        assert not_none(session.get(Offer, offer_id)).issued == 1
    refused = report(client, staff, other["id"], "disbursed")
    assert refused.status_code == 409 and refused.json()["code"] == "loan_status_out_of_order"
    too_much = report(client, staff, applied(client, villager, offer_id, 1_000)["id"], "disbursed", amount_yuan=2_000)
    assert too_much.status_code == 422 and too_much.json()["code"] == "amount_above_limit"


def test_a_pre_approval_may_be_overturned_by_the_staff(client: TestClient, world: World, villager: str) -> None:
    mine = applied(client, villager, loan_product(client), 5_000)
    assert mine["status"] == "pre_approved"
    overturned = decide(client, password_token(client, "bank-staff"), mine["id"], False, "核实后不符合条件")
    assert overturned.status_code == 200 and overturned.json()["status"] == "rejected"
    assert overturned.json()["decided_automatically"] is False
    timeline = client.get(f"/api/v1/loan-applications/{mine['id']}", headers=bearer(villager)).json()
    assert steps(timeline) == ["submitted", "pre_approved", "rejected"]


def test_what_the_grade_does_not_allow_is_refused_with_a_reason(
    client: TestClient, world: World, engine: Engine, villager: str
) -> None:
    offer_id = loan_product(client)
    above = apply(client, villager, offer_id, 40_000)
    assert above.status_code == 422
    assert (above.json()["code"], above.json()["max_amount_yuan"], above.json()["grade"]) == (
        "amount_above_limit",
        30_000,
        "AA",
    )
    assert "30000" in above.json()["detail"]
    longer = apply(client, villager, offer_id, 10_000, term_months=36)
    assert longer.status_code == 422 and longer.json()["code"] == "term_above_limit"
    assert longer.json()["max_term_months"] == 24

    neighbour = villager_token(client, NEIGHBOUR)  # no history: not rated
    unrated = apply(client, neighbour, offer_id, 1_000)
    assert unrated.status_code == 403 and unrated.json()["code"] == "grade_not_offered"
    assert unrated.json()["grade"] == "NR" and "NR" in unrated.json()["detail"]
    assert unrated.json()["grades_offered"] == ["AAA", "AA", "A"]

    only_aaa = loan_product(client, loan_terms={"grades": {"AAA": TERMS["grades"]["AAA"]}, "auto_approve": None})
    low = apply(client, villager, only_aaa, 1_000)
    assert low.status_code == 403 and low.json()["code"] == "grade_not_offered" and "AA" in low.json()["detail"]
    minimum = loan_product(client, min_grade="AAA")
    assert apply(client, villager, minimum, 1_000).json()["code"] == "grade_too_low"

    # nothing of a refusal stays: no application, no consent, no lookup in anyone's log
    assert count(engine, LoanApplication) == 0
    assert count(engine, Consent) == 0
    assert count(engine, CreditLookup) == 0
    assert client.get("/api/v1/credit/me/lookups", headers=bearer(villager)).json() == []


def test_only_loan_products_that_are_open_are_applied_for(
    client: TestClient, world: World, engine: Engine, villager: str
) -> None:
    now = utcnow()
    voucher = client.post(
        "/api/v1/offers",
        headers=bearer(client_token(client, "mart")),
        json={
            "kind": "voucher",
            "title": "代金券",
            "value_yuan": "50.00",
            "cost_points": 100,
            "valid_from": (now - timedelta(days=1)).isoformat(),
            "valid_until": (now + timedelta(days=9)).isoformat(),
        },
    )
    client.post(
        f"/api/v1/offers/{voucher.json()['id']}/decision",
        json={"approve": True},
        headers=bearer(password_token(client, "admin")),
    )
    wrong = apply(client, villager, voucher.json()["id"])
    assert wrong.status_code == 422 and wrong.json()["code"] == "not_a_loan_product"
    proposed = client.post(
        "/api/v1/offers",
        headers=bearer(client_token(client, "bank")),
        json={
            "kind": "loan",
            "title": "未批准",
            "loan_terms": TERMS,
            "valid_from": (now - timedelta(days=1)).isoformat(),
            "valid_until": (now + timedelta(days=9)).isoformat(),
        },
    ).json()
    assert apply(client, villager, proposed["id"]).json()["code"] == "offer_not_found"
    assert apply(client, villager, 999_999).json()["code"] == "offer_not_found"


def test_a_product_no_longer_open_is_refused(client: TestClient, world: World, villager: str) -> None:
    offer_id = loan_product(client)
    client.post(f"/api/v1/offers/{offer_id}/withdraw", headers=bearer(client_token(client, "bank")))
    closed = apply(client, villager, offer_id)
    assert closed.status_code == 409 and closed.json()["code"] == "offer_closed"


def test_a_household_limit_and_the_products_places(
    client: TestClient, world: World, engine: Engine, villager: str
) -> None:
    offer_id = loan_product(client, per_household_limit=1, stock=2)
    first = applied(client, villager, offer_id, 25_000)
    again = apply(client, villager, offer_id, 1_000)
    assert again.status_code == 409 and again.json()["code"] == "household_limit_reached"
    withdrawn = client.post(f"/api/v1/loan-applications/{first['id']}/withdraw", headers=bearer(villager))
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert steps(withdrawn.json()) == ["submitted", "under_review", "withdrawn"]
    assert deliveries(engine, "loan_application.withdrawn")[0].payload["data"]["application_id"] == first["id"]
    repeat = client.post(f"/api/v1/loan-applications/{first['id']}/withdraw", headers=bearer(villager))
    assert repeat.status_code == 200 and steps(repeat.json()) == ["submitted", "under_review", "withdrawn"]
    assert decide(client, client_token(client, "bank"), first["id"], True).json()["code"] == "loan_application_decided"

    second = applied(client, villager, offer_id, 1_000)  # a withdrawn one does not count, and gave its place back
    bank = client_token(client, "bank")
    report(client, bank, second["id"], "disbursed")
    late = client.post(f"/api/v1/loan-applications/{second['id']}/withdraw", headers=bearer(villager))
    assert late.status_code == 409 and late.json()["code"] == "loan_application_not_withdrawable"

    give_history(engine, world, world.household_b1)
    b1 = villager_token(client, "13900000003")
    applied(client, b1, offer_id, 1_000)
    with unit_of_work(engine) as session:
        assert not_none(session.get(Offer, offer_id)).issued == 2
    give_history(engine, world, world.household_a2)
    full = apply(client, villager_token(client, NEIGHBOUR), offer_id, 1_000)
    assert full.status_code == 409 and full.json()["code"] == "out_of_stock"


def test_who_may_see_and_do_what(client: TestClient, world: World, engine: Engine, villager: str) -> None:
    mine = applied(client, villager, loan_product(client), 25_000)
    path = f"/api/v1/loan-applications/{mine['id']}"
    for partner in ("mart", "clinic"):
        for token in (client_token(client, partner), password_token(client, f"{partner}-staff")):
            assert client.get("/api/v1/loan-applications", headers=bearer(token)).status_code == 403
            assert client.get(path, headers=bearer(token)).status_code == 403
            assert decide(client, token, mine["id"], True).status_code == 403
            assert report(client, token, mine["id"], "disbursed").status_code == 403
    for name in ("admin", "official-a", "auditor"):
        assert client.get("/api/v1/loan-applications", headers=bearer(password_token(client, name))).status_code == 403

    other_bank = client_token(client, "bank2")
    assert client.get("/api/v1/loan-applications", headers=bearer(other_bank)).json() == []
    for response in (
        client.get(path, headers=bearer(other_bank)),
        decide(client, other_bank, mine["id"], True),
        report(client, other_bank, mine["id"], "disbursed"),
        client.get(path, headers=bearer(password_token(client, "bank2-staff"))),
    ):
        assert response.status_code == 404 and response.json()["code"] == "loan_application_not_found"

    neighbour = villager_token(client, NEIGHBOUR)
    assert client.get("/api/v1/loan-applications", headers=bearer(neighbour)).json() == []
    assert client.get(path, headers=bearer(neighbour)).status_code == 404
    assert client.post(f"{path}/withdraw", headers=bearer(neighbour)).status_code == 404
    assert decide(client, villager, mine["id"], True).status_code == 403  # a household does not decide
    assert report(client, villager, mine["id"], "repaid").status_code == 403
    assert client.post(f"{path}/withdraw", headers=bearer(client_token(client, "bank"))).status_code == 403

    reader = client_token(client, "bank", scope="loans:read")  # a bank client without loans:decide/report
    assert client.get(path, headers=bearer(reader)).status_code == 200
    assert decide(client, reader, mine["id"], True).status_code == 403
    assert report(client, reader, mine["id"], "disbursed").status_code == 403
    assert client.get(path, headers=bearer(client_token(client, "bank", scope="credit:read"))).status_code == 403
    with unit_of_work(engine) as session:
        assert not_none(session.get(LoanApplication, mine["id"])).status == "under_review"


def test_the_body_names_only_what_the_household_chooses(
    client: TestClient, world: World, engine: Engine, villager: str
) -> None:
    offer_id = loan_product(client)
    bank2 = client.get("/api/v1/partners", params={"kind": "bank"}, headers=bearer(villager)).json()
    for extra in (
        {"partner_id": next(b["id"] for b in bank2 if b["name"] == "bank2")},
        {"grade": "AAA"},
        {"household_id": world.household_a2},
        {"max_amount_yuan": 50_000},
        {"status": "approved"},
        {"consent_id": "0" * 32},
        {"score": 900},
    ):
        response = apply(client, villager, offer_id, **extra)
        assert response.status_code == 422, extra
    for bad in ({"amount_yuan": 0}, {"amount_yuan": "1e9"}, {"term_months": 0}, {"purpose": "  "}):
        assert apply(client, villager, offer_id, **bad).status_code == 422, bad
    no_key = client.post(
        "/api/v1/loan-applications",
        headers=bearer(villager),
        json={"offer_id": offer_id, "amount_yuan": 1_000, "term_months": 12, "purpose": "x"},
    )
    assert no_key.status_code == 422
    staff = password_token(client, "bank-staff")
    assert (
        client.post(
            "/api/v1/loan-applications/1/decision", headers=bearer(staff), json={"approve": True, "amount_yuan": 1}
        ).status_code
        == 422
    )
    assert (
        client.post("/api/v1/loan-applications/1/status", headers=bearer(staff), json={"event": "paid"}).status_code
        == 422
    )
    assert count(engine, LoanApplication) == 0

    first = apply(client, villager, offer_id, 20_000, key="apply-once")
    replay = apply(client, villager, offer_id, 20_000, key="apply-once")
    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.headers["Idempotency-Replayed"] == "true" and replay.json()["id"] == first.json()["id"]
    assert replay.json()["timeline"] == first.json()["timeline"]
    other = apply(client, villager, offer_id, 21_000, key="apply-once")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert count(engine, LoanApplication) == 1 and count(engine, Consent) == 1
    assert len(deliveries(engine, "loan_application.created")) == 1
