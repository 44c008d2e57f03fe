"""The pages of village concerns (随手拍), each opened as its user would: the village's concern code and poster,
the report form a scanned code opens, and refusals in words."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from ledger.activities import codes
from tests.api.conftest import World
from tests.pages.conftest import sign_in_staff, sign_in_villager


def _keys(browser: TestClient) -> codes.Keys:
    keys: codes.Keys = browser.app.state.code_keys  # type: ignore[attr-defined]
    return keys


def _code_url(browser: TestClient, village_id: int) -> str:
    return f"/r/{codes.sign_concern_place(_keys(browser), village_id=village_id)}"


def test_a_concern_code_names_its_village_or_township_and_nothing_else_reads_as_one(browser: TestClient) -> None:
    keys = _keys(browser)
    village = codes.sign_concern_place(keys, village_id=42)
    township = codes.sign_concern_place(keys, township_id=42)
    assert codes.read_concern_place(keys, village) == codes.ConcernPlaceCode(village_id=42)
    assert codes.read_concern_place(keys, township) == codes.ConcernPlaceCode(township_id=42)
    assert len(village) < 40  # compact enough to scan from a poster
    with pytest.raises(codes.CodeInvalid):
        codes.read_concern_place(keys, codes.sign_household(keys, household_id=42))
    with pytest.raises(codes.CodeInvalid):
        codes.read(keys, village)  # a concern code claims no points
    tampered = village[:-2] + ("AA" if not village.endswith("AA") else "BB")
    with pytest.raises(codes.CodeInvalid):
        codes.read_concern_place(keys, tampered)
    assert codes.scanned(f"https://x.example/r/{village}/") == village


def test_the_official_prints_the_poster_of_their_village_only(browser: TestClient, world: World) -> None:
    sign_in_staff(browser, "official-a")
    listing = browser.get("/office/concerns/poster")
    assert listing.status_code == 200
    assert f'data-village-id="{world.village_a.village_id}"' in listing.text
    assert f'data-village-id="{world.village_b.village_id}"' not in listing.text
    poster = browser.get(f"/office/concerns/poster.svg?village_id={world.village_a.village_id}")
    assert poster.status_code == 200 and poster.headers["content-type"].startswith("image/svg+xml")
    assert "随手拍·有事您说" in poster.text and "/r/" in poster.text
    png = browser.get(f"/office/concerns/poster.png?village_id={world.village_a.village_id}")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    other = browser.get(f"/office/concerns/poster.svg?village_id={world.village_b.village_id}")
    assert other.status_code == 404 and "随手拍" not in other.text


def test_a_villager_cannot_print_posters(browser: TestClient, world: World) -> None:
    sign_in_villager(browser, world.villager_phone)
    assert browser.get(f"/office/concerns/poster.svg?village_id={world.village_a.village_id}").status_code == 403


def test_scanning_the_code_asks_to_sign_in_then_opens_the_report_form_for_that_village(
    browser: TestClient, world: World
) -> None:
    url = _code_url(browser, world.village_b.village_id)  # a neighbouring village of the same county
    first = browser.get(url)
    assert first.status_code == 303 and first.headers["location"].startswith("/signin?next=%2Fr%2F")
    sign_in_villager(browser, world.villager_phone, next_path=url)
    form = browser.get(url)
    assert form.status_code == 200
    assert 'name="kind" value="hazard"' in form.text and 'accept="audio/*"' in form.text
    assert form.text.count('name="photo"') == 3 and 'name="anonymous"' in form.text
    assert re.search(r'action="/r/[^"]+"', form.text)


def test_a_code_of_another_county_or_a_damaged_one_is_refused_in_words(browser: TestClient, world: World) -> None:
    sign_in_villager(browser, world.villager_phone)
    other_county = browser.get(_code_url(browser, world.village_c.village_id))
    assert other_county.status_code == 404 and "data-code" in other_county.text
    damaged = browser.get("/r/not-a-code-at-all")
    assert damaged.status_code == 422 and 'data-code="code_invalid"' in damaged.text


def test_staff_are_not_sent_to_the_report_form(browser: TestClient, world: World) -> None:
    sign_in_staff(browser, "official-a")
    assert browser.get(_code_url(browser, world.village_a.village_id)).status_code == 403


def test_the_api_gives_the_poster_to_the_villages_officials_in_either_language(
    browser: TestClient, world: World
) -> None:
    from tests.api.conftest import password_token

    official = {"Authorization": f"Bearer {password_token(browser, 'official-a')}"}
    village = world.village_a.village_id
    chinese = browser.get(f"/api/v1/villages/{village}/concern-code.svg", headers=official)
    assert chinese.status_code == 200 and "随手拍·有事您说" in chinese.text
    english = browser.get(f"/api/v1/villages/{village}/concern-code.svg?lang=en", headers=official)
    assert "Report a village problem" in english.text and "随手拍" not in english.text
    png = browser.get(f"/api/v1/villages/{village}/concern-code.png", headers=official)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    other = browser.get(f"/api/v1/villages/{world.village_b.village_id}/concern-code.svg", headers=official)
    assert other.status_code == 404
