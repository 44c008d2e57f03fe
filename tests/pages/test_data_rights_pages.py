"""People's data on the pages: a villager downloads their household's data from their own page; the county admin
erases a person from the household's page, after confirming."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from ledger.core import audit
from ledger.core.db import unit_of_work
from ledger.tenancy import Person
from tests.api.claiming import claim, code_of, new_activity
from tests.api.conftest import World, bearer, password_token, villager_token
from tests.factories import not_none
from tests.pages.conftest import csrf_of, sign_in_staff, sign_in_villager


def test_a_villager_downloads_the_households_data_from_their_page(browser: TestClient, world: World) -> None:
    token = villager_token(browser, world.villager_phone)
    official = password_token(browser, "official-a")
    made = claim(browser, token, code_of(new_activity(browser, official, world.village_a.village_id)))
    assert made.status_code == 201, made.text
    sign_in_villager(browser, world.villager_phone)

    page = browser.get("/me")
    links = re.findall(r'href="(/me/data\.(?:xlsx|json))"', page.text)

    assert links == ["/me/data.xlsx", "/me/data.json"]
    assert "下载电子表格" in page.text  # the county's language by default
    as_json = browser.get(links[1])
    assert as_json.status_code == 200 and as_json.headers["cache-control"] == "no-store"
    data = json.loads(as_json.content)
    api = browser.get("/api/v1/me/data", headers=bearer(token)).json()
    assert data["household"] == api["household"] and [c["id"] for c in data["claims"]] == [made.json()["id"]]
    sheets = pd.read_excel(io.BytesIO(browser.get(links[0]).content), sheet_name=None, engine="openpyxl")
    assert sheets["积分申报"]["id"].tolist() == [made.json()["id"]]


def _head_id(engine: Engine, household_id: int) -> int:
    with unit_of_work(engine) as session:
        head = session.scalars(
            select(Person).where(col(Person.household_id) == household_id, col(Person.is_head))
        ).one()
        return not_none(head.id)


def test_the_county_admin_erases_a_person_from_the_household_page_after_confirming(
    browser: TestClient, world: World, engine: Engine
) -> None:
    a1 = world.household_a1
    head = _head_id(engine, a1)
    token = villager_token(browser, world.villager_phone)
    sign_in_staff(browser, "admin")
    household_page = browser.get(f"/county/households/{a1}")
    erase = f"/county/members/{head}/erase"
    assert f'href="{erase}"' in household_page.text
    page = browser.get(erase)
    assert "删除后不能恢复" in page.text and "手机号、此人上传的照片" in page.text

    unconfirmed = browser.post(erase, data={"csrf": csrf_of(page.text)})

    assert unconfirmed.status_code == 400 and "请勾选确认框" in unconfirmed.text
    assert browser.get(f"/api/v1/households/{a1}/balance", headers=bearer(token)).status_code == 200

    done = browser.post(erase, data={"csrf": csrf_of(page.text), "confirm": "yes"})

    assert done.status_code == 303 and done.headers["location"].startswith(f"/county/households/{a1}")
    shown = browser.get(done.headers["location"])
    assert "此人的个人信息已删除" in shown.text and f"匿名{head}" in shown.text
    assert 'data-person-status="erased"' in shown.text and world.villager_phone not in shown.text
    assert f'href="{erase}"' not in shown.text  # nothing more to erase, and no form to enter the name again
    assert browser.get(f"/api/v1/households/{a1}/balance", headers=bearer(token)).status_code == 401
    again = browser.post(erase, data={"csrf": csrf_of(shown.text), "confirm": "yes"})
    assert again.status_code == 409 and "已经删除" in again.text


def test_the_county_admin_hands_the_households_data_out_in_person(
    browser: TestClient, world: World, engine: Engine
) -> None:
    sign_in_staff(browser, "admin")
    page = browser.get(f"/county/households/{world.household_a1}")
    assert f'href="/county/households/{world.household_a1}/data.xlsx"' in page.text

    file = browser.get(f"/county/households/{world.household_a1}/data.xlsx")

    assert file.status_code == 200 and file.headers["cache-control"] == "no-store"
    sheets = pd.read_excel(io.BytesIO(file.content), sheet_name=None, engine="openpyxl")
    assert sheets["农户"]["id"].tolist() == [world.household_a1]
    with unit_of_work(engine) as session:
        logged = audit.changes(session, world.village_a.county_id, action="household.data_export")
        assert [row.target_id for row in logged] == [str(world.household_a1)]
    browser.cookies.clear()
    sign_in_staff(browser, "official-a")
    assert browser.get(f"/county/households/{world.household_a1}/data.xlsx").status_code == 403
