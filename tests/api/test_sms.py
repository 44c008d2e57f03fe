"""Text messages against a fake provider on 127.0.0.1 (tests/fake_sms.py): sign-in codes sent at once, notifications
through the outbox with retries, the daily caps, and the counts in /metrics. Both providers' protocols: the Tencent
SDK pointed at the fake, and the county gateway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlmodel import col, select

from api import sms
from api.app import create_app
from api.observability import REGISTRY
from ledger.core import outbox
from ledger.core.base import as_utc, utcnow
from ledger.core.db import unit_of_work
from ledger.core.ratelimit import RateWindow
from ledger.core.settings import Settings, check_for_production, sms_problems
from ledger.identity.models import OtpChallenge, Role, User
from ledger.tenancy import Household, Person
from tests import concurrently
from tests.api.conftest import SECRET, World, make_settings
from tests.fake_sms import CODE_TEMPLATE, FakeSms

CODE_REQUEST, CODE_CHECK = "/api/v1/auth/otp/request", "/api/v1/auth/otp/verify"


@pytest.fixture
def fake() -> Iterator[FakeSms]:
    with FakeSms() as running:
        yield running


def provider_settings(fake: FakeSms, provider: str, **more: Any) -> dict[str, Any]:
    templates = {"claim_settled": "2000001", "sign_in_locked": "2000002", "claim_approved": "2000003"}
    fields = fake.tencent_settings(**templates) if provider == "tencent" else fake.http_settings()
    return {**fields, "sms_timeout_seconds": 1, **more}


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- sign-in codes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["http", "tencent"])
def test_a_villager_signs_in_with_the_code_the_provider_delivered(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms, provider: str
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, provider))
    before = metric("shanzhi_sms_sent_total", provider=provider, kind="otp")
    with TestClient(create_app(settings, engine=engine)) as client:
        assert client.post(CODE_REQUEST, json={"phone": world.villager_phone}).status_code == 202
        code = fake.last_code(world.villager_phone)
        assert code is not None and len(code) == 6
        [sent] = fake.messages_to(world.villager_phone)
        assert sent.params == [code, "5"]  # the code, and the minutes it stays valid (otp_seconds 300)
        assert sent.sign_name == "善治积分"
        assert sent.template == (CODE_TEMPLATE if provider == "tencent" else "otp")
        signed_in = client.post(CODE_CHECK, json={"phone": world.villager_phone, "code": code})
        assert signed_in.status_code == 200, signed_in.text
        scraped = client.get("/metrics").text  # what an operator's Prometheus reads
    assert metric("shanzhi_sms_sent_total", provider=provider, kind="otp") == before + 1
    assert f'shanzhi_sms_sent_total{{kind="otp",provider="{provider}"}}' in scraped


def test_an_unknown_phone_gets_no_text_and_the_same_answer(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, "http"))
    with TestClient(create_app(settings, engine=engine)) as client:
        known = client.post(CODE_REQUEST, json={"phone": world.villager_phone})
        unknown = client.post(CODE_REQUEST, json={"phone": "13712345678"})
    assert known.status_code == unknown.status_code == 202
    assert [m.phone for m in fake.sent] == [world.villager_phone]


@pytest.mark.parametrize(
    ("provider", "failure"),
    [
        ("tencent", {"code": "LimitExceeded.PhoneNumberDailyLimit"}),  # in SendStatusSet
        ("tencent", {"code": "AuthFailure.SecretIdNotFound", "status": 401}),  # Response.Error
        ("http", {"code": "platform_down", "status": 503}),
        ("http", {"delay": 3}),  # longer than sms_timeout_seconds
    ],
)
def test_a_code_the_provider_did_not_take_answers_503_and_keeps_nothing(
    tmp_path: Path,
    database_url: str,
    engine: Engine,
    world: World,
    fake: FakeSms,
    provider: str,
    failure: dict[str, Any],
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, provider))
    if "delay" in failure:
        fake.delay_next(failure["delay"])
    else:
        fake.fail_next(failure["code"], status=failure.get("status", 200))
    with TestClient(create_app(settings, engine=engine)) as client:
        refused = client.post(CODE_REQUEST, json={"phone": world.villager_phone})
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "sms_unavailable"
        assert int(refused.headers["Retry-After"]) > 0
        assert "dev_code" not in refused.json()
        with unit_of_work(engine) as session:
            assert session.exec(select(OtpChallenge)).all() == []  # no code is waiting that nobody received
            assert session.exec(select(RateWindow).where(col(RateWindow.key).startswith("sms:"))).all() == []
        # the next try goes through, and its code signs in
        assert client.post(CODE_REQUEST, json={"phone": world.villager_phone}).status_code == 202
        code = fake.last_code(world.villager_phone)
        assert client.post(CODE_CHECK, json={"phone": world.villager_phone, "code": code}).status_code == 200


def test_codes_past_the_phones_daily_cap_are_refused_alike_for_any_number(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms
) -> None:
    settings = make_settings(
        tmp_path, database_url, **provider_settings(fake, "http", sms_per_phone_day=2, code_requests_per_phone=50)
    )
    with TestClient(create_app(settings, engine=engine)) as client:
        for phone in (world.villager_phone, "13712345678"):
            answers = [client.post(CODE_REQUEST, json={"phone": phone}) for _ in range(3)]
            assert [a.status_code for a in answers] == [202, 202, 429]
            assert answers[2].json()["code"] == "sms_phone_capped"
            assert 23 * 3600 < int(answers[2].headers["Retry-After"]) <= 24 * 3600 + 1
    assert len(fake.messages_to(world.villager_phone)) == 2


def test_codes_past_the_countys_daily_cap_are_refused(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, "http", sms_per_county_day=1))
    capped = metric("shanzhi_sms_capped_total", cap="county", kind="otp")
    with TestClient(create_app(settings, engine=engine)) as client:
        assert client.post(CODE_REQUEST, json={"phone": world.villager_phone}).status_code == 202
        refused = client.post(CODE_REQUEST, json={"phone": "13900000002"})  # the same county's
        assert refused.status_code == 429 and refused.json()["code"] == "sms_county_capped"
        # another county counts on its own
        assert client.post(CODE_REQUEST, json={"phone": "13900000004"}).status_code == 202
    assert metric("shanzhi_sms_capped_total", cap="county", kind="otp") == capped + 1
    assert sorted(m.phone for m in fake.sent) == [world.villager_phone, "13900000004"]


def test_without_a_provider_outside_dev_mode_no_code_is_promised(
    tmp_path: Path, database_url: str, engine: Engine, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, database_url, env="prod", jwt_secret=SECRET, cookie_secure=False)
    with caplog.at_level("ERROR", logger="shanzhi.sms"), TestClient(create_app(settings, engine=engine)) as client:
        known = client.post(CODE_REQUEST, json={"phone": world.villager_phone})
        unknown = client.post(CODE_REQUEST, json={"phone": "13712345678"})
    assert known.status_code == unknown.status_code == 503
    assert known.json()["code"] == unknown.json()["code"] == "sms_unavailable"
    assert any("NO SMS" in record.message for record in caplog.records)  # said loudly at start-up


# --- notifications --------------------------------------------------------------------------------------------


def tell(engine: Engine, household_id: int | None, kind: str, county_id: int, **payload: Any) -> int:
    with unit_of_work(engine) as session:
        outbox.tell(session, county_id=county_id, household_id=household_id, kind=kind, **payload)
        session.flush()
        found = session.exec(select(outbox.Notification).order_by(outbox.Notification.id.desc())).first()  # type: ignore[union-attr]
        assert found is not None and found.id is not None
        return found.id


def deliver(engine: Engine, settings: Settings, now: datetime | None = None) -> tuple[int, int]:
    with unit_of_work(engine) as session:
        return outbox.deliver_due(session, sms.sink(settings), now=now or utcnow())


def notification(engine: Engine, notification_id: int) -> outbox.Notification:
    with unit_of_work(engine) as session:
        found = session.get(outbox.Notification, notification_id)
        assert found is not None
        session.expunge(found)
        return found


@pytest.mark.parametrize("provider", ["http", "tencent"])
def test_a_households_notification_reaches_its_head(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms, provider: str
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, provider))
    county = world.village_a.county_id
    with unit_of_work(engine) as session:  # a second member who signs in: the head alone is told
        member = Person(household_id=world.household_a1, name="Member", phone="13900000011")
        session.add(member)
        session.flush()
        session.add(User(role=Role.VILLAGER, county_id=county, display_name="Member", person_id=member.id))
    sent_id = tell(engine, world.household_a1, "claim_settled", county, claim_id=42, points=15)
    assert deliver(engine, settings) == (1, 0)
    [text] = fake.sent
    assert (text.phone, text.params) == (world.villager_phone, ["42", "15"])
    assert text.template == ("2000001" if provider == "tencent" else "claim_settled")
    assert notification(engine, sent_id).delivered_at is not None


def test_a_household_whose_head_does_not_sign_in_tells_the_members_who_do(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, "http"))
    county = world.village_a.county_id
    with unit_of_work(engine) as session:
        head = session.exec(
            select(Person).where(Person.household_id == world.household_a1, Person.is_head == True)  # noqa: E712
        ).one()
        session.execute(update(User).where(User.person_id == head.id).values(active=False))  # type: ignore[arg-type]
        member = Person(household_id=world.household_a1, name="Member", phone="13900000011")
        session.add(member)
        session.flush()
        session.add(User(role=Role.VILLAGER, county_id=county, display_name="Member", person_id=member.id))
    tell(engine, world.household_a1, "appeal_upheld", county, dispute_id=3)
    deliver(engine, settings)
    assert [m.phone for m in fake.sent] == ["13900000011"]


def test_a_closed_household_and_a_staff_account_without_a_phone_are_told_nothing(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, "http"))
    county = world.village_a.county_id
    with unit_of_work(engine) as session:
        household = session.get(Household, world.household_a2)
        assert household is not None
        household.closed_at = utcnow()
        supervisor = session.exec(select(User.id).where(User.username == "supervisor")).one()
    closed = tell(engine, world.household_a2, "claim_settled", county, claim_id=1, points=1)
    staff = tell(engine, None, "claim_escalated", county, user_id=supervisor, claim_ids=[1, 2])
    assert deliver(engine, settings) == (2, 0)
    assert fake.sent == []
    assert notification(engine, closed).delivered_at is not None
    assert notification(engine, staff).delivered_at is not None


def test_claims_sent_up_reach_a_supervisor_whose_account_has_a_phone(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, "http"))
    with unit_of_work(engine) as session:
        supervisor = session.exec(select(User).where(User.username == "supervisor")).one()
        person = Person(household_id=world.household_b1, name="Supervisor", phone="13900000021")
        session.add(person)
        session.flush()
        supervisor.person_id = person.id
        supervisor_id = supervisor.id
    tell(engine, None, "claim_escalated", world.village_a.county_id, user_id=supervisor_id, claim_ids=[5, 6, 7])
    assert deliver(engine, settings) == (1, 0)
    [text] = fake.sent
    assert (text.phone, text.params) == ("13900000021", ["3"])  # three claims sent up


def test_a_text_with_no_template_at_tencent_is_recorded_not_retried(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, "tencent"))  # none for points_expired
    told = tell(
        engine, world.household_a1, "points_expired", world.village_a.county_id, points=9, settled_before="2025-12-01"
    )
    assert deliver(engine, settings) == (0, 1)
    found = notification(engine, told)
    assert found.attempts == outbox.MAX_ATTEMPTS and found.last_error is not None
    assert "no_template" in found.last_error
    assert fake.sent == [] and fake.refused == []  # nothing reached the provider


def test_a_locked_sign_in_is_told_to_that_person_in_the_countys_time(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, "http"))
    with unit_of_work(engine) as session:
        villager = session.exec(
            select(User.id).join(Person, Person.id == User.person_id).where(Person.phone == "13900000002")  # type: ignore[arg-type]
        ).one()
    tell(
        engine,
        world.household_a2,
        "sign_in_locked",
        world.village_a.county_id,
        user_id=villager,
        until="2026-11-30T12:56:00+00:00",
    )
    deliver(engine, settings)
    [text] = fake.sent
    assert (text.phone, text.params) == ("13900000002", ["11月30日 20:56"])  # Beijing time


def test_an_error_that_will_not_pass_is_recorded_and_not_retried(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, "tencent"))
    failed = metric("shanzhi_sms_failed_total", provider="tencent", kind="claim_settled", error="InvalidParameterValue")
    fake.fail_next("InvalidParameterValue.IncorrectPhoneNumber")
    sent_id = tell(engine, world.household_a1, "claim_settled", world.village_a.county_id, claim_id=7, points=3)
    assert deliver(engine, settings) == (0, 1)
    found = notification(engine, sent_id)
    assert found.delivered_at is None and found.attempts == outbox.MAX_ATTEMPTS
    assert found.last_error is not None and "IncorrectPhoneNumber" in found.last_error
    assert deliver(engine, settings, now=utcnow() + timedelta(days=2)) == (0, 0)  # never tried again
    assert len(fake.refused) == 1 and fake.sent == []
    assert (
        metric("shanzhi_sms_failed_total", provider="tencent", kind="claim_settled", error="InvalidParameterValue")
        == failed + 1
    )


@pytest.mark.parametrize(
    ("provider", "failure"),
    [
        ("tencent", {"code": "LimitExceeded.DeliveryFrequencyLimit"}),
        ("http", {"code": "busy", "status": 503}),
        ("http", {"delay": 3}),
    ],
)
def test_an_error_that_may_pass_is_retried_with_backoff_and_then_goes_out(
    tmp_path: Path,
    database_url: str,
    engine: Engine,
    world: World,
    fake: FakeSms,
    provider: str,
    failure: dict[str, Any],
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, provider))
    if "delay" in failure:
        fake.delay_next(failure["delay"])
    else:
        fake.fail_next(failure["code"], status=failure.get("status", 200))
    sent_id = tell(engine, world.household_a1, "claim_settled", world.village_a.county_id, claim_id=8, points=4)
    now = utcnow()
    assert deliver(engine, settings, now) == (0, 1)
    waiting = notification(engine, sent_id)
    assert waiting.attempts == 1 and waiting.delivered_at is None
    assert as_utc(waiting.next_attempt_at) == now + outbox.backoff(1)
    assert deliver(engine, settings, now + timedelta(seconds=10)) == (0, 0)  # not before its time
    assert deliver(engine, settings, now + outbox.backoff(1)) == (1, 0)
    assert notification(engine, sent_id).delivered_at is not None
    assert [m.params for m in fake.messages_to(world.villager_phone)][-1] == ["8", "4"]
    # both tries carry one id of the message, so that a provider that did send the first can drop the second
    assert len(fake.references) == 2 and len(set(fake.references)) == 1 and fake.references[0]


def test_a_capped_notification_waits_for_the_next_day_and_is_not_lost(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, "http", sms_per_phone_day=1))
    county = world.village_a.county_id
    capped = metric("shanzhi_sms_capped_total", cap="phone", kind="claim_settled")
    first = tell(engine, world.household_a1, "claim_settled", county, claim_id=1, points=1)
    second = tell(engine, world.household_a1, "claim_settled", county, claim_id=2, points=2)
    now = utcnow()
    assert deliver(engine, settings, now) == (1, 0)  # the second is put off, which is no failure
    later = notification(engine, second)
    assert later.delivered_at is None and later.attempts == 0
    assert timedelta(hours=23) < as_utc(later.next_attempt_at) - now <= timedelta(hours=24, seconds=2)
    assert notification(engine, first).delivered_at is not None
    assert metric("shanzhi_sms_capped_total", cap="phone", kind="claim_settled") == capped + 1
    # a day later (the cap's day, kept in the database, is over), it goes
    with unit_of_work(engine) as session:
        session.execute(
            update(RateWindow)
            .where(RateWindow.key == f"sms:phone:{world.villager_phone}")  # type: ignore[arg-type]
            .values(started_at=now - timedelta(days=1, seconds=1))
        )
    assert deliver(engine, settings, as_utc(later.next_attempt_at)) == (1, 0)
    assert [m.params for m in fake.messages_to(world.villager_phone)] == [["1", "1"], ["2", "2"]]


def test_the_countys_cap_holds_across_its_households(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, "http", sms_per_county_day=2))
    county = world.village_a.county_id
    for household in (world.household_a1, world.household_a2, world.household_b1):
        tell(engine, household, "claim_settled", county, claim_id=household, points=1)
    tell(engine, world.household_c1, "claim_settled", world.village_c.county_id, claim_id=9, points=1)
    assert deliver(engine, settings) == (3, 0)  # two of county A, and county C's own
    assert sorted(m.phone for m in fake.sent) == ["13900000001", "13900000002", "13900000004"]


def _count_one(engine: Engine, phone: str) -> str:
    from ledger.sms import delivery

    with unit_of_work(engine) as session:
        delivery.count(session, delivery.Caps(per_phone_day=3), phone=phone, county_id=None, kind="otp")
    return "sent"


def test_caps_hold_for_processes_counting_at_once(database_url: str, engine: Engine) -> None:
    outcomes = concurrently.run_together(database_url, _count_one, ["13900000009"] * 8)
    assert sorted(outcomes) == ["sent"] * 3 + ["sms_phone_capped"] * 5


# --- settings -----------------------------------------------------------------------------------------------------


def test_production_refuses_an_sms_provider_set_up_unsafely_or_half() -> None:
    def problems(**fields: Any) -> list[str]:
        return sms_problems(Settings(env="prod", jwt_secret=SECRET, **fields))

    assert problems() == []  # the log provider: starts, and says there is no SMS
    assert any("SHANZHI_SMS_HTTP_URL is missing" in p for p in problems(sms_provider="http"))
    weak = problems(sms_provider="http", sms_http_url="https://sms.county.example/send", sms_http_secret="secret123")
    assert any("SHANZHI_SMS_HTTP_SECRET" in p for p in weak)
    plain = problems(sms_provider="http", sms_http_url="http://10.1.2.3/send", sms_http_secret=SECRET)
    assert any("must be https" in p for p in plain)
    assert problems(sms_provider="http", sms_http_url="http://127.0.0.1:9000/send", sms_http_secret=SECRET) == []
    tencent = " ".join(problems(sms_provider="tencent"))
    for name in ("SECRET_ID", "SECRET_KEY", "APP_ID", "SIGN_NAME", '"otp"'):
        assert name in tencent
    with pytest.raises(Exception, match="SHANZHI_SMS_HTTP_URL"):
        check_for_production(Settings(env="prod", jwt_secret=SECRET, sms_provider="http"))


def test_schedulers_delivering_at_once_send_each_text_once(
    tmp_path: Path, database_url: str, engine: Engine, world: World, fake: FakeSms
) -> None:
    settings = make_settings(tmp_path, database_url, **provider_settings(fake, "http"))
    county = world.village_a.county_id
    for claim in range(1, 7):
        tell(
            engine,
            [world.household_a1, world.household_a2][claim % 2],
            "claim_settled",
            county,
            claim_id=claim,
            points=1,
        )

    def deliver_once(engine: Engine, _: int) -> str:
        with unit_of_work(engine) as session:
            delivered, failed = outbox.deliver_due(session, sms.sink(settings))
        return f"{delivered}/{failed}"

    outcomes = concurrently.run_together(database_url, deliver_once, [1, 2, 3])
    assert sum(int(o.split("/")[0]) for o in outcomes) == 6, outcomes
    assert sorted(m.params[0] for m in fake.sent) == ["1", "2", "3", "4", "5", "6"]  # each once
