"""/metrics carries what an operator pages on: claims waiting too long for a decision and how long decisions take,
points the schedule has not settled in time, notifications and webhook deliveries waiting to go out, how long the
schedule's steps take, and sign-ins refused by cause. What waits is read from the database at each scrape."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, update
from sqlmodel import col, select

from api.gauges import Backlog
from ledger.claims import notice
from ledger.claims.models import Claim
from ledger.core import outbox
from ledger.core.base import utcnow
from ledger.core.db import make_engine, unit_of_work
from ledger.core.outbox import Notification
from ledger.identity.models import Partner, SignInThrottle, User
from ledger.tenancy import County
from redemption import schedule, webhooks
from redemption.models import WebhookDelivery
from tests.api.claiming import claim, code_of, decide, new_activity
from tests.api.conftest import PASSWORD, World, password_token, villager_token
from tests.factories import id_of

Figures = dict[tuple[str, frozenset[tuple[str, str]]], float]


def figures(client: TestClient) -> Figures:
    response = client.get("/metrics")
    assert response.status_code == 200
    return parse(response.text)


def parse(text: str) -> Figures:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def one(seen: Figures, name: str, **labels: str) -> float:
    return seen[(name, frozenset(labels.items()))]


def _county_code(engine: Engine, county_id: int) -> str:
    with unit_of_work(engine) as session:
        county = session.get(County, county_id)
        assert county is not None
        return county.code


def test_overdue_claims_review_time_settlement_backlog_and_tick_steps(
    client: TestClient, world: World, engine: Engine
) -> None:
    county = _county_code(engine, world.village_a.county_id)
    other = _county_code(engine, world.village_c.county_id)
    official = password_token(client, "official-a")
    activity = new_activity(client, official, world.village_a.village_id, "volunteering")
    made = claim(client, villager_token(client, world.villager_phone), code_of(activity))
    assert made.status_code == 201, made.text
    claim_id = int(made.json()["id"])
    before = figures(client)
    assert one(before, "shanzhi_claims_overdue", county=county) == 0  # submitted just now

    with unit_of_work(engine) as session:  # submitted 30 hours ago: past the county's 24 overdue hours
        session.execute(
            update(Claim).where(col(Claim.id) == claim_id).values(submitted_at=utcnow() - timedelta(hours=30))
        )
    overdue = figures(client)
    assert one(overdue, "shanzhi_claims_overdue", county=county) == 1
    assert one(overdue, "shanzhi_claims_overdue", county=other) == 0  # per county

    reviews = one(overdue, "shanzhi_claim_review_seconds_count")
    assert decide(client, official, claim_id).status_code == 201
    decided = figures(client)
    assert one(decided, "shanzhi_claims_overdue", county=county) == 0
    assert one(decided, "shanzhi_claim_review_seconds_count") == reviews + 1
    waited = one(decided, "shanzhi_claim_review_seconds_sum") - one(overdue, "shanzhi_claim_review_seconds_sum")
    assert 30 * 3600 <= waited < 30 * 3600 + 120
    assert one(decided, "shanzhi_claim_review_seconds_bucket", le="86400.0") == one(
        overdue, "shanzhi_claim_review_seconds_bucket", le="86400.0"
    )  # 30 hours is not within a day
    assert one(decided, "shanzhi_settlement_backlog") == 0  # its notice period has just begun

    with unit_of_work(engine) as session:  # its notice period ended an hour ago, and nothing settled it
        session.execute(
            update(Claim).where(col(Claim.id) == claim_id).values(notice_until=utcnow() - timedelta(hours=1))
        )
    behind = figures(client)
    assert one(behind, "shanzhi_settlement_backlog") == 1
    assert 3600 <= one(behind, "shanzhi_settlement_backlog_oldest_seconds") < 3600 + 120

    settled_runs = (
        one(behind, "shanzhi_tick_step_seconds_count", step=notice.STEP)
        if (("shanzhi_tick_step_seconds_count", frozenset({("step", notice.STEP)})) in behind)
        else 0
    )
    report = schedule.tick(engine)
    assert report.settled_claims == 1
    caught_up = figures(client)
    assert one(caught_up, "shanzhi_settlement_backlog") == 0
    assert one(caught_up, "shanzhi_settlement_backlog_oldest_seconds") == 0
    assert one(caught_up, "shanzhi_tick_step_seconds_count", step=notice.STEP) == settled_runs + 1
    assert one(caught_up, "shanzhi_tick_step_seconds_count", step=webhooks.STEP) >= 1  # a step of its own
    assert one(caught_up, "shanzhi_database_up") == 1 and one(caught_up, "shanzhi_ready") == 1


def test_notifications_and_webhook_deliveries_waiting_retrying_and_given_up(
    client: TestClient, world: World, engine: Engine
) -> None:
    with unit_of_work(engine) as session:
        session.execute(update(Notification).values(delivered_at=utcnow()))  # whatever the world made: sent
        for n in range(3):
            outbox.tell(session, county_id=world.village_a.county_id, household_id=world.household_a1, kind=f"k{n}")
        bank = session.scalars(select(Partner).where(col(Partner.code) == "bank")).one()
        bank.webhook_url, bank.webhook_secret = "https://bank.example/hook", "s" * 32
        mart = session.scalars(select(Partner).where(col(Partner.code) == "mart")).one()  # no webhook: not waiting
        for n, partner in enumerate((bank, bank, mart)):
            session.add(
                WebhookDelivery(
                    id=f"d{n}", partner_id=id_of(partner), county_id=partner.county_id, event="voucher.used", payload={}
                )
            )
    waiting = figures(client)
    assert one(waiting, "shanzhi_notifications", state="due") == 3
    assert one(waiting, "shanzhi_webhook_deliveries", state="due") == 2
    assert one(waiting, "shanzhi_notifications_oldest_due_seconds") >= 0

    def refuse(notification: Notification) -> None:
        raise ConnectionError("the SMS gateway does not answer")

    with unit_of_work(engine) as session:
        assert outbox.deliver_due(session, refuse) == (0, 3)
        first = session.scalars(select(Notification).where(col(Notification.delivered_at).is_(None))).first()
        assert first is not None
        first.attempts = outbox.MAX_ATTEMPTS  # tried for the last time
        session.execute(
            update(WebhookDelivery).where(col(WebhookDelivery.id) == "d0").values(attempts=webhooks.MAX_ATTEMPTS)
        )
        session.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == "d1")
            .values(next_attempt_at=utcnow() - timedelta(minutes=10))
        )
    later = figures(client)
    assert one(later, "shanzhi_notifications", state="due") == 0
    assert one(later, "shanzhi_notifications", state="retrying") == 2
    assert one(later, "shanzhi_notifications", state="given_up") == 1
    assert one(later, "shanzhi_notifications_oldest_due_seconds") == 0
    assert one(later, "shanzhi_webhook_deliveries", state="given_up") == 1
    assert one(later, "shanzhi_webhook_deliveries", state="due") == 1
    assert 600 <= one(later, "shanzhi_webhook_deliveries_oldest_due_seconds") < 720


def refusals(client: TestClient) -> dict[str, float]:
    return {
        dict(labels)["cause"]: value
        for (name, labels), value in figures(client).items()
        if name == "shanzhi_sign_in_refusals_total"
    }


def test_sign_in_refusals_are_counted_by_cause(client: TestClient, world: World, engine: Engine) -> None:
    before = refusals(client)
    assert set(before) >= {"wrong_code", "wrong_password", "wrong_secret", "disabled", "slowed", "locked"}
    token = "/api/v1/auth/token"
    assert (
        client.post(token, data={"grant_type": "password", "username": "official-a", "password": "no"}).status_code
        == 401
    )
    assert (
        client.post(
            token, data={"grant_type": "client_credentials", "client_id": "bank", "client_secret": "wrong"}
        ).status_code
        == 401
    )
    client.post("/api/v1/auth/otp/request", json={"phone": world.villager_phone})
    assert client.post(
        "/api/v1/auth/otp/verify", json={"phone": world.villager_phone, "code": "000000"}
    ).status_code in (400, 401)
    with unit_of_work(engine) as session:
        session.execute(update(User).where(col(User.username) == "official-b").values(active=False))
    disabled = client.post(token, data={"grant_type": "password", "username": "official-b", "password": PASSWORD})
    assert disabled.status_code == 401
    after = refusals(client)
    assert {cause: after[cause] - before[cause] for cause in after} == {
        **dict.fromkeys(after, 0.0),
        "wrong_password": 1,
        "wrong_secret": 1,
        "wrong_code": 1,
        "disabled": 1,
    }


def test_throttled_locked_and_must_change_password_refusals_have_causes_of_their_own(
    client: TestClient, world: World, engine: Engine
) -> None:
    before = refusals(client)
    for _ in range(6):  # the phone's limit is 5 codes in the window
        client.post("/api/v1/auth/otp/request", json={"phone": world.villager_phone})
    guesses = [
        client.post("/api/v1/auth/token", data={"grant_type": "password", "username": "auditor", "password": "no"})
        for _ in range(5)
    ]
    assert [g.json()["code"] for g in guesses] == ["invalid_grant"] * 4 + ["sign_in_slowed"]  # 3 free, then waits
    with unit_of_work(engine) as session:
        session.execute(update(User).where(col(User.username) == "official-a").values(must_change_password=True))
    token = password_token(client, "official-a")
    assert client.get("/api/v1/claims", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    with unit_of_work(engine) as session:  # a phone locked after many failures from everywhere
        session.add(
            SignInThrottle(key="account:phone:13900000002", failures=20, blocked_until=utcnow() + timedelta(hours=1))
        )
    assert client.post("/api/v1/auth/otp/request", json={"phone": "13900000002"}).json()["code"] == "account_locked"
    after = refusals(client)
    assert {cause: after[cause] - before[cause] for cause in after} == {
        **dict.fromkeys(after, 0.0),
        "code_requests_limited": 1,
        "wrong_password": 4,
        "slowed": 1,
        "password_change_required": 1,
        "locked": 1,
    }


def test_a_schema_behind_the_code_is_not_ready(tmp_path: Path) -> None:
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    registry = CollectorRegistry()
    registry.register(Backlog(empty))
    seen = parse(generate_latest(registry).decode())
    assert one(seen, "shanzhi_database_up") == 1 and one(seen, "shanzhi_ready") == 0


def test_a_database_that_does_not_answer_is_a_figure_not_a_failed_scrape() -> None:
    gone = make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1")
    registry = CollectorRegistry()
    registry.register(Backlog(gone))
    seen = parse(generate_latest(registry).decode())
    assert one(seen, "shanzhi_database_up") == 0 and one(seen, "shanzhi_ready") == 0
    assert not any(name.startswith("shanzhi_settlement") for name, _ in seen)
