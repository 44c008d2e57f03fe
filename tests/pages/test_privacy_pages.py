"""What the villager's pages show of other households: under the anonymous notice board, nothing that names one."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.claiming import claim, code_of, decide, key, new_activity
from tests.api.conftest import World, bearer, password_token, villager_token
from tests.api.test_privacy import _names_of
from tests.pages.conftest import sign_in_villager


def test_an_objectors_household_page_names_nobody_under_the_anonymous_board(
    browser: TestClient, world: World, engine: Engine
) -> None:
    official = password_token(browser, "official-a")
    village = world.village_a.village_id
    assert (
        browser.patch(
            f"/api/v1/villages/{village}", json={"notice_privacy": "anonymous"}, headers=bearer(official)
        ).status_code
        == 200
    )
    made = claim(
        browser, villager_token(browser, world.villager_phone), code_of(new_activity(browser, official, village))
    ).json()
    decide(browser, official, made["id"])
    neighbour = villager_token(browser, "13900000002")
    objection = browser.post(
        f"/api/v1/claims/{made['id']}/objections", json={"reason": "Not there."}, headers={**bearer(neighbour), **key()}
    ).json()
    browser.post(
        f"/api/v1/disputes/{objection['id']}/resolve",
        json={"outcome": "dismissed", "note": "Seen."},
        headers={**bearer(official), **key()},
    )
    sign_in_villager(browser, "13900000002")
    page = browser.get("/me")
    assert page.status_code == 200 and "一户村民" in page.text  # the entry is on the board, anonymously
    assert [name for name in _names_of(engine, world.household_a1) if name in page.text] == []
