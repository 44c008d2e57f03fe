"""Ratings as the household, the partner banks and the officials meet them: consent first, an allow-list to
banks, every lookup logged, always as of the latest settled ledger."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select
from sqlmodel import col

from ledger import jobs
from ledger.core.base import as_utc, utcnow
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.identity.principal import load
from ledger.journal import accounts
from ledger.journal import service as journal
from ledger.tenancy import Household
from scoring import lookups, ratings
from scoring.consent import ConsentRequired
from scoring.models import Consent, CreditLookup, Rating
from tests.api.claiming import claim, code_of, decide, key, new_activity, photo
from tests.api.conftest import World, bearer, client_token, password_token, villager_token
from tests.factories import id_of, not_none

MATTERS = ["garbage_sorting", "volunteering", "elder_care", "village_meeting"]
COMMON = {
    "household_id",
    "grade",
    "as_of",
    "computed_at",
    "scorecard_version",
    "data_sufficiency",
    "valid_until",
    "consent_id",
    "purpose",
    "scope",
}


def give_history(engine: Engine, world: World, household: int, months: int = 14) -> None:
    """Settled points in each of the last `months` months, in several kinds of activity."""
    now = utcnow()
    with unit_of_work(engine) as session:
        issuance = {
            world.household_a1: world.village_a,
            world.household_a2: world.village_a,
            world.household_b1: world.village_b,
            world.household_c1: world.village_c,
        }[household].issuance
        own = id_of(accounts.of_household(session, household))
        for month in range(months):
            journal.transfer(
                session,
                debit=issuance,
                credit=own,
                amount=6,
                reason=MATTERS[month % len(MATTERS)],
                actor="test",
                effective_at=now - timedelta(days=30 * month + 1),
            )


@pytest.fixture
def villager(client: TestClient, world: World, engine: Engine) -> str:
    give_history(engine, world, world.household_a1)
    return villager_token(client, world.villager_phone)


def bank_id(client: TestClient, token: str, name: str = "bank") -> int:
    banks = client.get("/api/v1/partners", params={"kind": "bank"}, headers=bearer(token)).json()
    return int(next(b["id"] for b in banks if b["name"] == name))


def consent(client: TestClient, token: str, scope: str = "score", bank: str = "bank", **extra: object) -> str:
    response = client.post(
        "/api/v1/consents",
        headers=bearer(token),
        json={"partner_id": bank_id(client, token, bank), "purpose": "loan_preapproval", "scope": scope, **extra},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def look(client: TestClient, bank: str, household: int, consent_id: str) -> Response:
    response: Response = client.get(
        f"/api/v1/credit/households/{household}", params={"consent_id": consent_id}, headers=bearer(bank)
    )
    return response


def test_a_villager_sees_grade_reasons_and_how_to_improve(client: TestClient, world: World, villager: str) -> None:
    mine = client.get("/api/v1/credit/me", headers=bearer(villager))
    assert mine.status_code == 200 and mine.headers["Cache-Control"] == "no-store"
    body = mine.json()
    assert body["grade"] in ("AAA", "AA", "A", "B", "C") and 300 <= body["score"] <= 900
    assert body["score_range"] == [300, 900] and body["data_sufficiency"]["sufficient"] is True
    assert 1 <= len(body["reasons"]) <= 4 and all(r["zh"] and r["en"] for r in body["reasons"])
    assert body["improve"]["actions"] and body["improve"]["target_grade"]
    assert "does not make it" in body["explanation"] and "person" in body["explanation"]
    assert client.get("/api/v1/credit/me/lookups", headers=bearer(villager)).json() == []


def test_a_bank_with_consent_reads_exactly_the_allowed_fields_and_the_villager_sees_it(
    client: TestClient, world: World, engine: Engine, villager: str
) -> None:
    bank = client_token(client, "bank")
    expected = {
        "grade": COMMON,
        "score": COMMON | {"score", "score_range", "reasons"},
        "summary": COMMON | {"score", "score_range", "reasons", "activity_summary"},
    }
    for scope, fields in expected.items():
        given = consent(client, villager, scope)
        shown = look(client, bank, world.household_a1, given)
        assert shown.status_code == 200, shown.text
        assert set(shown.json()) == fields, scope
        assert shown.headers["Cache-Control"] == "no-store"
        body = shown.json()
        assert (body["consent_id"], body["purpose"], body["scope"]) == (given, "loan_preapproval", scope)
        text = shown.text
        for private in ("Head", "139000", "photo", "evidence", "statement", "lat", "name"):
            assert private not in text, private
    assert set(shown.json()["reasons"][0]) == {"code", "zh", "en"}
    assert set(shown.json()["activity_summary"]) == {
        "active_months_12",
        "categories_24m",
        "points_12m_capped",
        "deductions_24m",
    }
    log = client.get("/api/v1/credit/me/lookups", headers=bearer(villager)).json()
    assert len(log) == 3 and log[0]["partner"] == "bank" and log[0]["purpose"] == "loan_preapproval"


def test_without_an_active_consent_the_bank_learns_nothing(
    client: TestClient, world: World, engine: Engine, villager: str
) -> None:
    bank = client_token(client, "bank")
    mine = consent(client, villager)
    others = consent(client, villager, bank="bank2")
    neighbour = consent(client, villager_token(client, "13900000002"))
    short = consent(client, villager, days=1)
    refusals = [
        look(client, bank, world.household_a1, "0" * 32),  # no such consent
        look(client, bank, 999_999, mine),  # no such household
        look(client, bank, world.household_a1, others),  # another bank's consent
        look(client, bank, world.household_a1, neighbour),  # another household's consent
        look(client, bank, world.household_a2, mine),  # this consent, another household
    ]
    with unit_of_work(engine) as session:  # a day later, the one-day consent has expired
        later = as_utc(not_none(session.get(Consent, short)).expires_at) + timedelta(seconds=1)
        who = load(session, subject="client:bank", role="partner", scopes=("credit:read",))
        with pytest.raises(ConsentRequired):
            lookups.lookup(
                session, who, household_id=world.household_a1, consent_id=short, limits=lookups.Limits(), now=later
            )
    client.post(f"/api/v1/consents/{mine}/revoke", headers=bearer(villager))
    refusals.append(look(client, bank, world.household_a1, mine))  # revoked
    bodies = []
    for response in refusals:
        assert response.status_code == 403 and response.json()["code"] == "consent_required"
        bodies.append({k: v for k, v in response.json().items() if k != "request_id"})
    assert all(body == bodies[0] for body in bodies)  # the same answer whatever the reason: nothing leaks
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(CreditLookup)) == 0
    malformed = client.get(
        f"/api/v1/credit/households/{world.household_a1}", params={"consent_id": "x"}, headers=bearer(bank)
    )
    assert malformed.status_code == 422


def test_other_roles_cannot_use_the_bank_routes(client: TestClient, world: World, villager: str) -> None:
    given = consent(client, villager)
    for token in (
        client_token(client, "mart"),
        villager,
        password_token(client, "official-a"),
        password_token(client, "admin"),
    ):
        assert look(client, token, world.household_a1, given).status_code == 403
        lookups = client.post(
            "/api/v1/credit/lookups",
            headers=bearer(token),
            json={"items": [{"household_id": world.household_a1, "consent_id": given}]},
        )
        assert lookups.status_code == 403
    limited = client_token(client, "bank", scope="ledger:head")  # a bank token without credit:read
    assert look(client, limited, world.household_a1, given).status_code == 403
    other = villager_token(client, "13900000002")
    assert client.get("/api/v1/credit/me", headers=bearer(other)).json()["household_id"] != world.household_a1


def test_many_lookups_at_once_are_answered_one_by_one(
    client: TestClient, world: World, engine: Engine, villager: str
) -> None:
    give_history(engine, world, world.household_a2, months=2)
    mine = consent(client, villager, "grade")
    neighbours = consent(client, villager_token(client, "13900000002"), "score")
    response = client.post(
        "/api/v1/credit/lookups",
        headers=bearer(client_token(client, "bank")),
        json={
            "items": [
                {"household_id": world.household_a1, "consent_id": mine},
                {"household_id": world.household_a2, "consent_id": neighbours},
                {"household_id": world.household_b1, "consent_id": mine},
            ]
        },
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200, 200, 403]
    assert set(results[0]["rating"]) == COMMON
    assert results[1]["rating"]["grade"] == "NR" and "score" not in results[1]["rating"]  # two months: not rated
    assert results[2] == {
        "household_id": world.household_b1,
        "consent_id": mine,
        "status": 403,
        "code": "consent_required",
    }


def test_a_settled_claim_makes_the_rating_stale_and_the_next_read_recomputes(
    client: TestClient, world: World, engine: Engine, villager: str
) -> None:
    before = client.get("/api/v1/credit/me", headers=bearer(villager)).json()
    again = client.get("/api/v1/credit/me", headers=bearer(villager)).json()
    assert again["computed_at"] == before["computed_at"]  # fresh: not recomputed
    official = password_token(client, "official-a")
    made = claim(
        client, villager, code_of(new_activity(client, official, world.village_a.village_id, "dispute_mediation"))
    ).json()
    decide(client, official, made["id"])
    jobs.tick(engine, now=utcnow() + timedelta(days=8))
    after = client.get("/api/v1/credit/me", headers=bearer(villager)).json()
    assert after["computed_at"] != before["computed_at"]
    assert after["features"]["categories_24m"] == before["features"]["categories_24m"] + 1  # a new kind: harmony
    with unit_of_work(engine) as session:
        ratings = session.scalars(
            select(Rating).where(col(Rating.household_id) == world.household_a1).order_by(col(Rating.id))
        ).all()
        assert len(ratings) == 2 and ratings[0].record_seq < ratings[1].record_seq  # the old one is kept as it was


def test_lookups_of_one_household_are_capped_a_day(
    client: TestClient, world: World, villager: str, settings: Settings, engine: Engine
) -> None:
    settings.credit_lookups_per_household_day = 2
    bank = client_token(client, "bank")
    given = consent(client, villager)
    assert [look(client, bank, world.household_a1, given).status_code for _ in range(2)] == [200, 200]
    third = look(client, bank, world.household_a1, given)
    assert third.status_code == 429 and int(third.headers["Retry-After"]) > 3600
    assert third.json()["code"] == "too_many_requests"


def test_a_bank_clients_lookups_are_limited_a_minute_refused_ones_included(
    client: TestClient,
    world: World,
    villager: str,
    settings: Settings,
) -> None:
    settings.credit_lookups_per_minute = 4
    bank = client_token(client, "bank")
    given = consent(client, villager)
    assert look(client, bank, world.household_a1, given).status_code == 200
    assert look(client, bank, world.household_a2, given).status_code == 403  # no consent: still a lookup
    many = client.post(
        "/api/v1/credit/lookups",
        headers=bearer(bank),
        json={"items": [{"household_id": world.household_a1, "consent_id": given}] * 3},
    )
    assert many.status_code == 429 and many.json()["code"] == "too_many_requests"  # 2 + 3 > 4: none of them
    assert 0 < int(many.headers["Retry-After"]) <= 60
    two = client.post(
        "/api/v1/credit/lookups",
        headers=bearer(bank),
        json={"items": [{"household_id": world.household_a1, "consent_id": given}] * 2},
    )
    assert [r["status"] for r in two.json()["results"]] == [200, 200]
    assert look(client, bank, world.household_a1, given).status_code == 429
    other_bank = client_token(client, "bank2")  # a budget per client
    assert look(client, other_bank, world.household_a1, given).status_code == 403


def test_a_villager_asks_for_a_person_to_review_and_an_official_answers(
    client: TestClient, world: World, villager: str
) -> None:
    asked = client.post(
        "/api/v1/credit/me/review-requests",
        headers=bearer(villager),
        json={"reason": "The deduction last spring was withdrawn on appeal."},
    )
    assert asked.status_code == 201 and asked.json()["status"] == "open"
    official = password_token(client, "official-a")
    queue = client.get("/api/v1/credit/review-requests", params={"status": "open"}, headers=bearer(official)).json()
    assert [t["id"] for t in queue] == [asked.json()["id"]] and queue[0]["rating"]["grade"]
    other_village = client.get("/api/v1/credit/review-requests", headers=bearer(password_token(client, "official-b")))
    assert other_village.json() == []
    answered = client.post(
        f"/api/v1/credit/review-requests/{asked.json()['id']}/answer",
        headers=bearer(official),
        json={"answer": "Checked: the rating counts no withdrawn deduction."},
    )
    assert answered.status_code == 200 and answered.json()["status"] == "answered"
    told = client.get("/api/v1/notifications", headers=bearer(villager)).json()
    assert told[0]["kind"] == "rating_review_answered"
    mine = client.get("/api/v1/credit/me/review-requests", headers=bearer(villager))
    assert mine.headers["cache-control"] == "no-store"
    assert [(r["id"], r["status"], r["answer"], r["rating"]) for r in mine.json()] == [
        (asked.json()["id"], "answered", "Checked: the rating counts no withdrawn deduction.", None)
    ]
    neighbour = villager_token(client, "13900000002")  # another household of the village sees none of it
    assert client.get("/api/v1/credit/me/review-requests", headers=bearer(neighbour)).json() == []
    assert client.get("/api/v1/credit/me/review-requests", headers=bearer(official)).status_code == 403


def test_banks_report_loan_outcomes_for_loans_they_looked_up(client: TestClient, world: World, villager: str) -> None:
    bank = client_token(client, "bank")
    given = consent(client, villager)
    event = {
        "loan_ref": "L-1",
        "household_id": world.household_a1,
        "consent_id": given,
        "occurred_at": utcnow().isoformat(),
    }
    blind = client.post("/api/v1/credit/outcomes", headers=bearer(bank), json={**event, "event": "disbursed"})
    assert blind.status_code == 409 and blind.json()["code"] == "no_rating_lookup"
    look(client, bank, world.household_a1, given)
    event["occurred_at"] = utcnow().isoformat()  # disbursed after the lookup
    made = client.post(
        "/api/v1/credit/outcomes", headers=bearer(bank), json={**event, "event": "disbursed", "amount": 30000}
    )
    assert made.status_code == 201
    again = client.post("/api/v1/credit/outcomes", headers=bearer(bank), json={**event, "event": "disbursed"})
    assert again.status_code == 200 and again.json()["id"] == made.json()["id"]
    repaid = client.post("/api/v1/credit/outcomes", headers=bearer(bank), json={**event, "event": "repaid"})
    assert repaid.status_code == 201
    unknown = client.post(
        "/api/v1/credit/outcomes", headers=bearer(bank), json={**event, "loan_ref": "L-2", "event": "default"}
    )
    assert unknown.status_code == 409 and unknown.json()["code"] == "unknown_loan"
    assert (
        client.post(
            "/api/v1/credit/outcomes", headers=bearer(client_token(client, "mart")), json={**event, "event": "repaid"}
        ).status_code
        == 403
    )


def test_calibration_makes_a_candidate_that_only_a_county_admin_activates(
    client: TestClient, world: World, engine: Engine, villager: str, tmp_path: Path
) -> None:
    import numpy as np

    from ledger.identity.models import Partner
    from scoring import calibration, ratings, report
    from scoring.card import Card
    from scoring.models import LoanOutcome

    before = client.get("/api/v1/credit/me", headers=bearer(villager)).json()
    rng = np.random.default_rng(3)
    now = utcnow()
    with unit_of_work(engine) as session:  # 240 finished loans, decided on ratings of varied histories
        county = world.village_a.county_id
        active = ratings.active_card(session, county)
        bank = session.scalars(select(Partner).where(col(Partner.code) == "bank")).one()
        for n in range(240):
            months = int(rng.integers(0, 13))
            features = {
                "tenure_months": 20,
                "active_months_12": months,
                "months_since_last_positive": 0,
                "points_12m_capped": 10 * months,
                "categories_24m": 3,
                "deductions_24m": int(n % 7 == 0),
                "months_since_last_deduction": None,
                "rejected_share": None,
                "objections_upheld_24m": 0,
            }
            rating = Rating(
                household_id=world.household_a2,
                county_id=county,
                scorecard_id=active.id,
                score=600,
                grade="A",
                as_of=now,
                record_seq=0,
                computed_at=now,
                features=features,
                points={},
                reasons=[],
                sufficiency={},
            )
            session.add(rating)
            session.flush()
            bad = rng.random() < (0.5 if months < 3 else 0.05)
            for event, days in (("disbursed", 400 - n), ("default" if bad else "repaid", 200 - n // 2)):
                session.add(
                    LoanOutcome(
                        county_id=county,
                        partner_id=id_of(bank),
                        household_id=world.household_a2,
                        loan_ref=f"L{n}",
                        rating_id=id_of(rating),
                        event=event,
                        occurred_at=now - timedelta(days=days),
                        reported_by="client:bank",
                    )
                )
    with unit_of_work(engine) as session:
        loans = calibration.dataset(session, county)
        assert len(loans.good) == 240
        calibration.check_enough(loans)
        train, test, holdout = calibration.split(loans)
        assert holdout and len(train.good) == 168
        candidate = Card.from_content(calibration.fit(active, train.features, train.good))
        ratings.ensure_card(session, candidate, origin="calibrated", actor="test", parent_id=active.id)
        validation = calibration.validate(
            active, candidate, test, calibration.population(session, county), holdout=holdout
        )
    files = report.write(validation, active, candidate, tmp_path)
    page = files[0].read_text()
    assert "AUC" in page and "KS" in page and "PSI" in page and page.count("data:image/png;base64,") == 3
    assert "Gini" in files[1].read_text() and "bad_rate_candidate" in files[2].read_text()

    official = client.post(
        f"/api/v1/scorecards/{candidate.id}/activate", json={}, headers=bearer(password_token(client, "official-a"))
    )
    assert official.status_code == 403
    admin = password_token(client, "admin")
    listed = {c["id"]: c["active"] for c in client.get("/api/v1/scorecards", headers=bearer(admin)).json()}
    assert listed == {active.id: True, candidate.id: False}
    activated = client.post(
        f"/api/v1/scorecards/{candidate.id}/activate", json={"note": "fitted on 2026 loans"}, headers=bearer(admin)
    )
    assert activated.status_code == 200 and activated.json()["active"] is True
    after = client.get("/api/v1/credit/me", headers=bearer(villager)).json()
    assert (before["scorecard_version"], after["scorecard_version"]) == (active.id, candidate.id)
    with unit_of_work(engine) as session:
        versions = [
            r.scorecard_id
            for r in session.scalars(
                select(Rating).where(col(Rating.household_id) == world.household_a1).order_by(col(Rating.id))
            )
        ]
    assert versions == [active.id, candidate.id]  # the old rating keeps the version it was made with


def test_a_county_rescored_in_batch_matches_every_rating_computed_on_the_spot(
    client: TestClient, world: World, engine: Engine, villager: str
) -> None:
    """The batch (one ordered pass over the county's postings, range by range) and a single rating (from one
    household's accounts) are two ways in; for every household they must give the same rating."""
    official = password_token(client, "official-a")
    neighbour = villager_token(client, "13900000002")
    give_history(engine, world, world.household_a2, months=8)
    give_history(engine, world, world.household_b1, months=2)  # too short: not rated
    give_history(engine, world, world.household_c1, months=12)  # another county: not in this batch
    with unit_of_work(engine) as session:  # a reversed award counts for nothing in its own month and matter
        own = id_of(accounts.of_household(session, world.household_a2))
        made = journal.transfer(
            session,
            debit=world.village_a.issuance,
            credit=own,
            amount=9,
            reason="elder_care",
            actor="test",
            effective_at=utcnow() - timedelta(days=70),
        )
        journal.reverse(session, transaction_id=made.id, actor="test", reason="Entered twice.")
    rejected = claim(client, villager, code_of(new_activity(client, official, world.village_a.village_id))).json()
    decide(client, official, rejected["id"], "reject", reason="Not on the sign-in sheet.")
    objected = claim(
        client,
        villager,
        code_of(new_activity(client, official, world.village_a.village_id, "garbage_sorting", period="day")),
    )
    assert objected.status_code == 201, objected.text
    objected = objected.json()
    decide(client, official, objected["id"])
    objection = client.post(
        f"/api/v1/claims/{objected['id']}/objections",
        json={"reason": "He was not there."},
        headers={**bearer(neighbour), **key()},
    ).json()
    client.post(
        f"/api/v1/disputes/{objection['id']}/resolve", json={"outcome": "upheld"}, headers={**bearer(official), **key()}
    )
    evidence = photo(client, official, village_id=world.village_a.village_id)
    deducted = client.post(
        "/api/v1/deductions",
        headers={**bearer(official), **key()},
        json={
            "household_id": world.household_a2,
            "matter_code": "open_burning",
            "reason": "Burnt straw by the road.",
            "evidence_ids": [evidence],
        },
    )
    assert deducted.status_code == 201, deducted.text

    now = utcnow()
    households = [world.household_a1, world.household_a2, world.household_b1]
    with unit_of_work(engine) as session:
        county = not_none(session.get(Household, world.household_a1)).county_id
        done = ratings.rescore_county(session, county, now=now, chunk=1)  # every range boundary crossed
    assert (done.households, done.rated) == (3, 2)
    fields = ("score", "grade", "features", "points", "reasons", "sufficiency", "record_seq", "scorecard_id")
    with unit_of_work(engine) as session:
        batch = {h: ratings.latest(session, h) for h in households}
        assert ratings.latest(session, world.household_c1) is None
        card = ratings.active_card(session, county)
        for h in households:
            household = session.get(Household, h)
            assert household is not None
            spot = ratings.compute(session, household, card, now=now)
            assert {f: getattr(batch[h], f) for f in fields} == {f: getattr(spot, f) for f in fields}, h
        a1, a2, b1 = batch[world.household_a1], batch[world.household_a2], batch[world.household_b1]
        assert a1 is not None and a2 is not None and b1 is not None
        assert a1.features["rejected_share"] == 0.5 and a1.features["objections_upheld_24m"] == 1
        assert a2.features["deductions_24m"] == 1 and a2.features["months_since_last_deduction"] == 0
        assert a2.features["points_12m_capped"] == 8 * 6  # the reversed award of 9 counts for nothing
        assert b1.grade == "NR"
