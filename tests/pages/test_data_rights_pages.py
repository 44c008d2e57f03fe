"""People's data on the pages: a villager downloads their household's data from their own page; the county admin
erases a person from the household's page, after confirming."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
from fastapi.testclient import TestClient

from tests.api.claiming import claim, code_of, new_activity
from tests.api.conftest import World, bearer, password_token, villager_token
from tests.pages.conftest import sign_in_villager


def test_a_villager_downloads_the_households_data_from_their_page(browser: TestClient, world: World) -> None:
    token = villager_token(browser, world.villager_phone)
    official = password_token(browser, "official-a")
    made = claim(browser, token, code_of(new_activity(browser, official, world.village_a.village_id)))
    assert made.status_code == 201, made.text
    sign_in_villager(browser, world.villager_phone)

    page = browser.get("/me")
    links = re.findall(r'href="(/me/data\?format=(?:xlsx|json))"', page.text)

    assert links == ["/me/data?format=xlsx", "/me/data?format=json"]
    assert "下载 Excel 表格" in page.text  # the county's language by default
    as_json = browser.get(links[1])
    assert as_json.status_code == 200 and as_json.headers["cache-control"] == "no-store"
    data = json.loads(as_json.content)
    api = browser.get("/api/v1/me/data", headers=bearer(token)).json()
    assert data["household"] == api["household"] and [c["id"] for c in data["claims"]] == [made.json()["id"]]
    sheets = pd.read_excel(io.BytesIO(browser.get(links[0]).content), sheet_name=None, engine="openpyxl")
    assert sheets["claims"]["id"].tolist() == [made.json()["id"]]
