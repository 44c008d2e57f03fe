"""A staff member whose password the county admin set (a new account, a reset) is sent to set their own first,
on every page, and then goes on; the form refuses plainly what the API refuses."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ledger.core.db import unit_of_work
from ledger.identity import staff
from tests.api.conftest import World
from tests.pages.conftest import csrf_of

GIVEN = "set by the admin 2026"
OWN = "my very own password 7"


def test_a_new_official_sets_their_own_password_before_anything_else(
    browser: TestClient, world: World, engine: Engine
) -> None:
    with unit_of_work(engine) as session:
        staff.create(
            session,
            by=staff.command_line(world.village_a.county_id, "cli:test"),
            username="fresh-official",
            display_name="新干部",
            kind=staff.StaffKind.OFFICIAL,
            password=staff.new_password(GIVEN),
            village_ids=[world.village_a.village_id],
        )
    signin = browser.get("/signin")
    done = browser.post(
        "/signin/password", data={"csrf": csrf_of(signin.text), "username": "fresh-official", "password": GIVEN}
    )
    assert done.status_code == 303 and done.headers["location"] == "/account/password"
    office = browser.get("/office")
    assert office.status_code == 303 and office.headers["location"] == "/account/password"
    form = browser.get("/account/password")
    assert form.status_code == 200 and "设置自己的密码" in form.text and "县管理员" in form.text
    csrf = csrf_of(form.text)

    def send(current: str, new: str, repeated: str | None = None) -> tuple[int, str]:
        answer = browser.post(
            "/account/password",
            data={"csrf": csrf, "current_password": current, "new_password": new, "repeated": repeated or new},
        )
        return answer.status_code, answer.text

    assert send(GIVEN, OWN, OWN + "x")[0] == 422
    status, text = send("not it at all 123", OWN)
    assert status == 403 and "现在的密码不对" in text
    status, text = send(GIVEN, "short")
    assert status == 422 and "至少用12个字符" in text
    forged = browser.post(
        "/account/password", data={"csrf": "0" * 64, "current_password": GIVEN, "new_password": OWN, "repeated": OWN}
    )
    assert forged.status_code == 403
    saved = browser.post(
        "/account/password", data={"csrf": csrf, "current_password": GIVEN, "new_password": OWN, "repeated": OWN}
    )
    assert saved.status_code == 303 and saved.headers["location"].startswith("/office")
    assert "新密码已保存" in browser.get(saved.headers["location"]).text
    assert browser.get("/office").status_code == 200
    assert "设置自己的密码" in browser.get("/account/password").text  # still open, no longer required


def test_a_villager_has_no_password_page(browser: TestClient, world: World) -> None:
    from tests.pages.conftest import sign_in_villager

    sign_in_villager(browser, world.villager_phone)
    assert browser.get("/account/password").status_code == 403
