"""The sign-in page under the limits of issue 13 §4: which limit and when it lifts, in Chinese and English, and
the staff password checked outside the page's unit of work."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, update
from sqlmodel import col

from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.identity import passwords, throttle
from ledger.identity.models import SignInThrottle
from tests.api.conftest import PASSWORD, World, app_of, bearer, password_token
from tests.api.test_sign_in_limits import BlockingHasher
from tests.pages.conftest import csrf_of, form_post, sign_in_villager


def _ask_for_codes(browser: TestClient, phone: str, times: int) -> list[Response]:
    return [form_post(browser, "/signin/phone", {"phone": phone}, from_page="/signin") for _ in range(times)]


def test_a_phone_past_its_code_requests_is_told_so_and_when_in_chinese(browser: TestClient, world: World) -> None:
    answers = _ask_for_codes(browser, world.villager_phone, 6)
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    refused = answers[-1]
    assert "这个手机号获取验证码的次数太多了" in refused.text and "15分钟" in refused.text
    assert "失败" not in refused.text  # nothing failed
    assert 0 < int(refused.headers["Retry-After"]) <= 900


def test_and_in_english(browser: TestClient, world: World) -> None:
    browser.cookies.set("sz_lang", "en")
    refused = _ask_for_codes(browser, world.villager_phone, 6)[-1]
    assert refused.status_code == 429
    assert "Too many codes were asked for this phone. Ask again in 15 minutes." in refused.text


def test_a_guesser_is_slowed_on_the_page_and_the_official_still_signs_in(browser: TestClient, world: World) -> None:
    answers = [
        form_post(browser, "/signin/password", {"username": "official-a", "password": "wrong"}, from_page="/signin")
        for _ in range(6)
    ]
    assert answers[0].status_code == 401
    assert answers[-1].status_code == 429 and "输错次数太多" in answers[-1].text
    elsewhere = TestClient(
        browser.app, base_url="https://testserver", follow_redirects=False, client=("198.51.100.20", 40000)
    )
    done = form_post(
        elsewhere, "/signin/password", {"username": "official-a", "password": PASSWORD}, from_page="/signin"
    )
    assert done.status_code == 303 and done.headers["location"] == "/office"


def test_the_password_form_still_needs_its_csrf_token(browser: TestClient, world: World) -> None:
    browser.get("/signin")
    forged = browser.post("/signin/password", data={"username": "official-a", "password": PASSWORD, "csrf": "0" * 64})
    assert forged.status_code == 403 and "sz_session" not in browser.cookies


def test_the_page_checks_a_password_outside_its_unit_of_work(
    browser: TestClient, engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = password_token(browser, "admin")
    form = browser.get("/signin")
    hasher = BlockingHasher(passwords._hasher, engine)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    signing_in: dict[str, int] = {}
    reading: dict[str, int] = {}

    def sign_in() -> None:
        signing_in["status"] = browser.post(
            "/signin/password", data={"username": "official-a", "password": PASSWORD, "csrf": csrf_of(form.text)}
        ).status_code

    thread = threading.Thread(target=sign_in)
    thread.start()
    try:
        assert hasher.entered.wait(10)
        read = threading.Thread(
            target=lambda: reading.update(
                status=browser.get(
                    f"/api/v1/households/{world.household_a1}/balance", headers=bearer(admin)
                ).status_code
            )
        )
        read.start()
        read.join(timeout=10)  # while the hash is still running
        assert reading == {"status": 200}
    finally:
        hasher.release.set()
        thread.join(30)
    assert signing_in == {"status": 303}
    assert hasher.connections_held == [0]


def test_a_villager_is_told_on_their_page_when_guessing_locked_their_phone(browser: TestClient, world: World) -> None:
    sign_in_villager(browser, world.villager_phone)
    app = app_of(browser)
    for i in range(app.state.settings.account_lock_failures):
        guess = TestClient(app, client=(f"198.18.5.{i + 1}", 40000)).post(
            "/api/v1/auth/otp/verify", json={"phone": world.villager_phone, "code": "000000"}
        )
        assert guess.status_code == 401
    me = browser.get("/me")
    assert me.status_code == 200
    assert "这个手机号被暂时锁定过" in me.text


def test_an_official_whose_account_was_locked_is_told_at_the_next_sign_in_and_only_then(
    browser: TestClient, engine: Engine, world: World
) -> None:
    app = app_of(browser)
    for i in range(app.state.settings.account_lock_failures):
        guess = TestClient(app, client=(f"198.18.6.{i + 1}", 40000)).post(
            "/api/v1/auth/token", data={"grant_type": "password", "username": "official-a", "password": "wrong"}
        )
        assert guess.status_code == 401
    with unit_of_work(engine) as session:  # the hour of the lock has passed
        session.connection().execute(
            update(SignInThrottle)
            .where(col(SignInThrottle.key) == throttle.account_key("user:official-a"))
            .values(blocked_until=utcnow())
        )

    def sign_in() -> str:
        done = form_post(
            browser, "/signin/password", {"username": "official-a", "password": PASSWORD}, from_page="/signin"
        )
        assert done.status_code == 303, done.text
        return str(done.headers["location"])

    landed = sign_in()
    assert landed == "/office?done=account_was_locked"
    assert "账号被暂时锁定过" in browser.get(landed).text
    assert form_post(browser, "/signout", {}, from_page="/office").status_code == 303
    assert sign_in() == "/office"  # told once: the next sign-in lands plainly
