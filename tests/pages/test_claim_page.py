"""Scanning an activity's QR code opens a page: sign in if needed, then claim with a photo in one tap."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.claiming import JPEG, code_of, new_activity
from tests.api.conftest import World, password_token
from tests.pages.conftest import csrf_of, sign_in_villager


def test_a_scanned_code_opens_sign_in_then_the_claim_page_and_the_claim_is_sent(browser: TestClient,
                                                                                  world: World) -> None:
    activity = new_activity(browser, password_token(browser, "official-a"), world.village_a.village_id,
                            matter="volunteering", title="Clean the river bank")
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
    sent = browser.post(path, data={"csrf": csrf_of(page.text), "key": key},
                        files={"photo": ("photo.jpg", JPEG, "image/jpeg")})
    assert sent.status_code == 200, sent.text
    assert "claim-sent" in sent.text

    again = browser.post(path, data={"csrf": csrf_of(page.text), "key": key},
                         files={"photo": ("photo.jpg", JPEG, "image/jpeg")})
    assert again.status_code in (200, 409), again.text  # a resend never claims twice


def test_a_code_the_household_claimed_already_says_so_before_the_photo(browser: TestClient, world: World) -> None:
    """Scanning the poster again after claiming: the page says why a claim would be refused and has no button."""
    activity = new_activity(browser, password_token(browser, "official-a"), world.village_a.village_id,
                            matter="volunteering", title="Clean the river bank")
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
    assert "您家已经申领过这个活动了" in again.text  # the plain reason, in Chinese by default


def test_another_villages_code_is_refused_on_the_page_in_plain_words(browser: TestClient, world: World) -> None:
    activity = new_activity(browser, password_token(browser, "official-b"), world.village_b.village_id)
    path = f"/c/{code_of(activity)}"
    sign_in_villager(browser, world.villager_phone, next_path=path)
    refused = browser.get(path)
    assert refused.status_code == 403
    assert 'data-refusal="outside_village"' in refused.text and 'name="photo"' not in refused.text
