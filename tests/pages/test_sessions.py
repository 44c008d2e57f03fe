"""Browser sessions: what the cookie is, what the database keeps, signing out, CSRF, and where sign-in leads."""

from __future__ import annotations

import hashlib
import re

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import col, select

from ledger.core.base import as_utc, utcnow
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.identity.models import User, WebSession
from tests.api.conftest import World
from tests.factories import not_none
from tests.pages.conftest import csrf_of, form_post, sign_in_staff, sign_in_villager


def _cookie_header(browser: TestClient, response_text_path: str = "/signin") -> str:
    return str(browser.get(response_text_path).headers.get("set-cookie", ""))


def test_the_session_cookie_is_secure_httponly_samesite_and_only_its_hash_is_stored(
    browser: TestClient, world: World, engine: Engine
) -> None:
    pre = browser.get("/signin").headers["set-cookie"]
    assert "sz_pre=" in pre and "Secure" in pre and "HttpOnly" in pre and "samesite=lax" in pre.lower()
    sent = form_post(
        browser,
        "/signin/password",
        {"username": "official-a", "password": "correct horse battery"},
        from_page="/signin",
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/office"
    cookie = next(c for c in sent.headers.get_list("set-cookie") if c.startswith("sz_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    key = not_none(re.match(r"sz_session=([^;]+)", cookie)).group(1)
    with unit_of_work(engine) as session:
        stored = session.exec(select(WebSession.key_hash)).all()
    assert stored == [hashlib.sha256(key.encode()).hexdigest()]


def test_signing_out_ends_the_session_even_for_a_copied_cookie(browser: TestClient, world: World) -> None:
    sign_in_staff(browser, "official-a")
    stolen = browser.cookies.get("sz_session")
    assert browser.get("/office").status_code == 200
    out = form_post(browser, "/signout", {}, from_page="/office")
    assert out.status_code == 303
    browser.cookies.set("sz_session", stolen, domain="testserver")
    again = browser.get("/office")
    assert again.status_code == 303 and again.headers["location"].startswith("/signin")


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    browser: TestClient, world: World, engine: Engine
) -> None:
    sign_in_villager(browser, world.villager_phone)
    refused = browser.post("/prefs/elder", data={"next": "/me"})
    assert refused.status_code == 403 and "csrf_failed" in refused.text
    forged = browser.post("/prefs/elder", data={"next": "/me", "csrf": "0" * 64})
    assert forged.status_code == 403
    with unit_of_work(engine) as session:
        assert not session.exec(select(User.elder_mode).where(col(User.elder_mode).is_(True))).all()
    done = form_post(browser, "/prefs/elder", {"next": "/me"}, from_page="/me")
    assert done.status_code == 303
    with unit_of_work(engine) as session:
        assert len(session.exec(select(User.id).where(col(User.elder_mode).is_(True))).all()) == 1


def test_a_token_from_before_sign_in_is_not_accepted_after_it(browser: TestClient, world: World) -> None:
    before = csrf_of(browser.get("/signin").text)
    sign_in_villager(browser, world.villager_phone)
    stale = browser.post("/prefs/elder", data={"csrf": before, "next": "/me"})
    assert stale.status_code == 403


def test_sign_in_follows_only_paths_on_this_site(browser: TestClient, world: World) -> None:
    for target, lands in (("//evil.example/x", "/me"), ("https://evil.example", "/me"), ("/me/rating", "/me/rating")):
        browser.cookies.clear()
        sent = form_post(browser, "/signin/phone", {"phone": world.villager_phone, "next": target}, from_page="/signin")
        code = not_none(re.search(r'class="dev-code">(\d{6})<', sent.text)).group(1)
        done = browser.post(
            "/signin/code",
            data={"csrf": csrf_of(sent.text), "phone": world.villager_phone, "code": code, "next": target},
        )
        assert done.headers["location"] == lands


def test_a_wrong_code_is_refused_plainly_and_counted(browser: TestClient, world: World) -> None:
    sent = form_post(browser, "/signin/phone", {"phone": world.villager_phone}, from_page="/signin")
    right = not_none(re.search(r'class="dev-code">(\d{6})<', sent.text)).group(1)
    wrong = "000000" if right != "000000" else "111111"
    refused = browser.post(
        "/signin/code", data={"csrf": csrf_of(sent.text), "phone": world.villager_phone, "code": wrong}
    )
    assert refused.status_code == 401
    assert "验证码不对或已过期" in refused.text  # the reason, in the default language
    assert "sz_session" not in refused.headers.get("set-cookie", "")
    assert browser.get("/me").status_code == 303


def test_pages_are_not_cached_and_load_only_our_own_scripts(browser: TestClient, world: World) -> None:
    sign_in_villager(browser, world.villager_phone)
    page = browser.get("/me")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text


def test_the_language_follows_the_person_to_another_browser(
    browser: TestClient,
    settings: Settings,
    engine: Engine,
    world: World,
) -> None:
    sign_in_villager(browser, world.villager_phone)
    assert '<html lang="zh-CN">' in browser.get("/me").text
    switched = form_post(browser, "/prefs/language", {"locale": "en", "next": "/me"}, from_page="/me")
    assert switched.status_code == 303
    assert '<html lang="en">' in browser.get("/me").text
    from api.app import create_app

    with TestClient(
        create_app(settings, engine=engine), base_url="https://testserver", follow_redirects=False
    ) as other_phone:
        sign_in_villager(other_phone, world.villager_phone)
        assert '<html lang="en">' in other_phone.get("/me").text


def test_an_ended_or_expired_session_or_a_disabled_user_goes_back_to_sign_in(
    browser: TestClient, world: World, engine: Engine
) -> None:
    sign_in_staff(browser, "official-a")
    with unit_of_work(engine) as session:
        for row in session.exec(select(WebSession)).all():
            row.expires_at = utcnow()
    assert browser.get("/office").status_code == 303
    sign_in_staff(browser, "official-a")
    with unit_of_work(engine) as session:
        session.exec(select(User).where(User.username == "official-a")).one().active = False
    gone = browser.get("/office")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/signin")


def _max_age(response: Response) -> int:
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("sz_session="))
    found = re.search(r"max-age=(\d+)", cookie, re.IGNORECASE)
    assert found, cookie
    return int(found.group(1))


def test_the_session_cookie_lasts_exactly_as_long_as_the_session_on_the_server(
    browser: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    """A browser must not keep a session cookie the server has long ended (nor drop one it still honours)."""
    staff = form_post(
        browser,
        "/signin/password",
        {"username": "official-a", "password": "correct horse battery"},
        from_page="/signin",
    )
    assert staff.status_code == 303
    assert _max_age(staff) == settings.staff_session_hours * 3600
    form_post(browser, "/signout", {}, from_page="/office")
    sent = form_post(browser, "/signin/phone", {"phone": world.villager_phone, "next": ""}, from_page="/signin")
    code = not_none(re.search(r"<strong class=\"dev-code\">(\d{6})</strong>", sent.text)).group(1)
    villager = browser.post(
        "/signin/code", data={"csrf": csrf_of(sent.text), "phone": world.villager_phone, "code": code, "next": ""}
    )
    assert villager.status_code == 303
    assert _max_age(villager) == settings.villager_session_days * 24 * 3600
    with unit_of_work(engine) as session:
        ends = session.exec(select(WebSession.expires_at).order_by(col(WebSession.created_at))).all()
    lifetimes = [(as_utc(end) - utcnow()).total_seconds() for end in ends]
    assert abs(lifetimes[0] - settings.staff_session_hours * 3600) < 60
    assert abs(lifetimes[-1] - settings.villager_session_days * 24 * 3600) < 60
