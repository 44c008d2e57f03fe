"""People's data rights in a real browser, on the served demo county: a villager downloads everything held about
their household from their page (spreadsheet and JSON) and finds their own name in it; the county admin erases
that villager's data from the household's page (refused until confirmed); the villager's phone is signed out at
once; the file the admin hands out in person no longer holds the name; and the ledger still verifies."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd

from tests.browser.conftest import DESK, PHONE, PHONE_OF_HOUSEHOLD_1, audit, expect, sign_in_staff, sign_in_villager
from tests.demo_server import shanzhi


def _person(database: Path, phone: str) -> tuple[int, int, str]:
    """(person id, household id, name) of the villager with this phone, read from the demo's database."""
    with sqlite3.connect(database) as db:
        row = db.execute("SELECT id, household_id, name FROM person WHERE phone = ?", (phone,)).fetchone()
    assert row is not None, f"no person with phone {phone} in the demo"
    return int(row[0]), int(row[1]), str(row[2])


def _download(page: Any, link: Any, folder: Path) -> bytes:
    with page.expect_download() as download:
        link.click()
    path = folder / str(download.value.suggested_filename)
    download.value.save_as(str(path))
    return path.read_bytes()


def _cells(workbook: bytes) -> set[str]:
    sheets = pd.read_excel(io.BytesIO(workbook), sheet_name=None, engine="openpyxl")
    return {str(value) for sheet in sheets.values() for value in sheet.to_numpy().ravel()}


def test_a_villager_downloads_their_data_and_the_county_admin_erases_it(
    chromium: Any, served: tuple[str, Path], tmp_path: Path
) -> None:
    base, database = served
    person_id, household_id, name = _person(database, PHONE_OF_HOUSEHOLD_1)
    phone = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True, accept_downloads=True)
    desk = chromium.new_context(viewport=DESK, accept_downloads=True)
    problems: list[str] = []
    try:
        # the villager downloads the household's data from their own page
        villager = phone.new_page()
        villager.goto(f"{base}/me")
        sign_in_villager(villager, PHONE_OF_HOUSEHOLD_1)
        expect(villager).to_have_url(re.compile(r"/me$"))
        sheet = _download(villager, villager.locator("[data-action=download-data]"), tmp_path)
        assert name in _cells(sheet)
        as_json = json.loads(_download(villager, villager.locator("a[href='/me/data.json']"), tmp_path))
        assert as_json["household"]["id"] == household_id
        assert {m["name"] for m in as_json["members"]} >= {name}
        assert as_json["balance"] is not None and as_json["claims"], "the demo household has claims"

        # the county admin erases the villager's data: refused until confirmed, then done
        admin = desk.new_page()
        sign_in_staff(admin, base, "admin")
        admin.goto(f"{base}/county/households/{household_id}")
        member = admin.locator(f"[data-person-id='{person_id}']")
        expect(member).to_contain_text(name)
        member.locator("[data-action=erase]").click()
        expect(admin).to_have_url(re.compile(rf"/county/members/{person_id}/erase$"))
        problems += audit(admin)
        admin.locator("[data-action=erase-person]").click()  # without ticking the confirmation
        expect(admin.locator("#confirm")).to_be_visible()
        expect(admin.locator("[data-person-status=erased]")).to_have_count(0)
        admin.locator("#confirm").check()
        admin.locator("[data-action=erase-person]").click()
        expect(admin).to_have_url(re.compile(rf"/county/households/{household_id}"))
        member = admin.locator(f"[data-person-id='{person_id}']")
        expect(member.locator("[data-person-status=erased]")).to_be_visible()
        expect(member).not_to_contain_text(name)
        expect(member.locator("[data-action=erase]")).to_have_count(0)  # it cannot be done twice

        # the villager's phone is signed out at once
        villager.goto(f"{base}/me")
        expect(villager).to_have_url(re.compile(r"/signin"))

        # what the admin hands out in person no longer holds the name
        admin.goto(f"{base}/county/households/{household_id}")
        handed_out = _cells(_download(admin, admin.locator("[data-action=download-data]"), tmp_path))
        assert name not in handed_out
        assert any(cell.startswith("匿名") for cell in handed_out)
    finally:
        phone.close()
        desk.close()
    assert problems == []
    verified = shanzhi("verify", cwd=tmp_path, database=database, check=True)
    assert "verified" in verified.stdout
