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
