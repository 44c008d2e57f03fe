"""Scanning an activity's QR code opens a page: sign in if needed, then claim with a photo in one tap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from ledger.claims import service as claim_service
from ledger.core.base import utcnow
from ledger.core.settings import Settings
from tests.api.claiming import JPEG, code_of, live_code, new_activity
from tests.api.conftest import World, password_token
from tests.pages.conftest import csrf_of, sign_in_villager


def test_a_scanned_code_opens_sign_in_then_the_claim_page_and_the_claim_is_sent(
    browser: TestClient, world: World
) -> None:
    activity = new_activity(
        browser,
        password_token(browser, "official-a"),
        world.village_a.village_id,
        matter="volunteering",
        title="Clean the river bank",
    )
    path = f"/c/{code_of(activity)}"

    first = browser.get(path)
    assert first.status_code == 303
    assert first.headers["location"].startswith("/signin?next=")

    sign_in_villager(browser, world.villager_phone, next_path=path)
    page = browser.get(path)
    assert page.status_code == 200
    assert "Clean the river bank" in page.text
    assert 'capture="environment"' in page.text and 'accept="image/*"' in page.text
    assert page.headers["cache-control"] == "no-store"

    key = page.text.split('name="key" value="')[1].split('"')[0]
    sent = browser.post(
        path, data={"csrf": csrf_of(page.text), "key": key}, files={"photo": ("photo.jpg", JPEG, "image/jpeg")}
    )
    assert sent.status_code == 200, sent.text
    assert "claim-sent" in sent.text

    again = browser.post(
        path, data={"csrf": csrf_of(page.text), "key": key}, files={"photo": ("photo.jpg", JPEG, "image/jpeg")}
    )
    assert again.status_code in (200, 409), again.text  # a resend never claims twice


def test_a_code_the_household_claimed_already_says_so_before_the_photo(browser: TestClient, world: World) -> None:
    """Scanning the poster again after claiming: the page says why a claim would be refused and has no button."""
    activity = new_activity(
        browser,
        password_token(browser, "official-a"),
        world.village_a.village_id,
        matter="volunteering",
        title="Clean the river bank",
    )
    path = f"/c/{code_of(activity)}"
    sign_in_villager(browser, world.villager_phone, next_path=path)
    page = browser.get(path)
    key = page.text.split('name="key" value="')[1].split('"')[0]
    assert browser.post(path, data={"csrf": csrf_of(page.text), "key": key}).status_code == 200

    again = browser.get(path)
    assert again.status_code == 409
    assert 'data-refusal="already_claimed"' in again.text
    assert "Clean the river bank" in again.text  # what the code is for, still
    assert 'name="photo"' not in again.text and f'action="{path}"' not in again.text
    assert "您家已经申报过这个活动了" in again.text  # the plain reason, in Chinese by default


def test_another_villages_code_is_refused_on_the_page_in_plain_words(browser: TestClient, world: World) -> None:
    activity = new_activity(browser, password_token(browser, "official-b"), world.village_b.village_id)
    path = f"/c/{code_of(activity)}"
    sign_in_villager(browser, world.villager_phone, next_path=path)
    refused = browser.get(path)
    assert refused.status_code == 403
    assert 'data-refusal="outside_village"' in refused.text and 'name="photo"' not in refused.text


# --- a live rotating code: scanned, then signing in takes longer than the code lives -------------------------

HALL = {"lat": "30.2741", "lon": "120.1551"}


def _later(monkeypatch: pytest.MonkeyPatch, minutes: int) -> None:
    """The claim is sent this many minutes after the scan: the code on the screen has changed many times."""
    moment = utcnow() + timedelta(minutes=minutes)
    monkeypatch.setattr(claim_service, "utcnow", lambda: moment)


def _scan_live(browser: TestClient, world: World) -> tuple[str, str]:
    official = password_token(browser, "official-a")
    activity = new_activity(
        browser,
        official,
        world.village_a.village_id,
        "village_meeting",
        rotating=True,
        lat=30.2741,
        lon=120.1551,
        radius_m=200,
    )
    return f"/c/{live_code(browser, official, activity['id'])}", official


def test_a_live_code_scanned_before_signing_in_is_claimed_after_it_has_changed(
    browser: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _scan_live(browser, world)
    first = browser.get(path)
    assert first.status_code == 303 and first.headers["location"].startswith("/signin?next=")
    assert browser.cookies.get("sz_scan"), "opening a live code gives the browser a scan ticket"
    assert browser.cookies.get("sz_device"), "and a device cookie the ticket is bound to"

    _later(monkeypatch, 4)  # the SMS code came slowly; the screen shows the 8th code since
    sign_in_villager(browser, world.villager_phone, next_path=path)
    page = browser.get(path)
    assert page.status_code == 200, page.text
    assert 'name="lat"' in page.text and "data-locate" in page.text  # the page asks for the location, and why
    key = page.text.split('name="key" value="')[1].split('"')[0]
    sent = browser.post(path, data={"csrf": csrf_of(page.text), "key": key, **HALL})
    assert sent.status_code == 200, sent.text
    assert 'data-claim-status="approved"' in sent.text  # at the hall, own phone: approved at once


def test_without_a_scan_ticket_the_changed_code_is_refused(
    browser: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _scan_live(browser, world)
    sign_in_villager(browser, world.villager_phone, next_path=path)
    _later(monkeypatch, 4)
    refused = browser.get(path)
    assert refused.status_code == 409 and 'data-refusal="code_expired"' in refused.text


def test_a_scan_ticket_works_only_in_the_browser_that_scanned(
    browser: TestClient, world: World, settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = _scan_live(browser, world)
    browser.get(path)
    ticket = browser.cookies.get("sz_scan")
    _later(monkeypatch, 4)
    with TestClient(
        create_app(settings, engine=engine), base_url="https://testserver", follow_redirects=False
    ) as neighbour:
        neighbour.get("/signin")  # a browser of its own, with its own device cookie
        neighbour.cookies.set("sz_scan", ticket)
        sign_in_villager(neighbour, "13900000002", next_path=path)
        refused = neighbour.get(path)
        assert refused.status_code in (409, 422)
        assert 'name="photo"' not in refused.text


def test_a_scan_ticket_is_used_once(browser: TestClient, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = _scan_live(browser, world)
    browser.get(path)
    ticket = browser.cookies.get("sz_scan")
    _later(monkeypatch, 4)
    sign_in_villager(browser, world.villager_phone, next_path=path)
    page = browser.get(path)
    key = page.text.split('name="key" value="')[1].split('"')[0]
    assert browser.post(path, data={"csrf": csrf_of(page.text), "key": key, **HALL}).status_code == 200
    assert not browser.cookies.get("sz_scan")  # the browser forgets a used ticket

    browser.post("/signout", data={"csrf": csrf_of(browser.get("/me").text)})
    sign_in_villager(browser, "13900000002", next_path=path)  # another household on the same phone
    browser.cookies.set("sz_scan", ticket)  # with a copy of the ticket kept back: the server remembers it
    again = browser.get(path)
    assert again.status_code == 409 and 'data-refusal="scan_ticket_used"' in again.text
