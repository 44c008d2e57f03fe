"""A county from nothing but its roster, in a real browser (issue 16 §5): an empty database with only
`shanzhi db upgrade` and `shanzhi create-admin`, served by `shanzhi serve`; no demo seed.

The county admin signs in, imports an XLSX roster through the page (a file with errors first: the problems are
shown by row, nothing is imported; then the corrected file), adds a village official linked to their own
household; the official signs in and sets a password of their own, creates an activity and opens its QR poster; a
villager of the roster signs in through the poster's link and claims with a photo; the official approves it; and
the claim of the official's own household is refused to them (conflict of interest)."""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from PIL import Image

from tests.browser.conftest import DESK, PHONE, audit, expect, shoot
from tests.demo_server import SHANZHI, came_up, environment, free_port, shanzhi

ADMIN, ADMIN_PASSWORD = "jiande-admin", "a county admin's own password"
OFFICIAL, OFFICIAL_PASSWORD = "liu-official", "the official's very own password"
HEADER = ["乡镇", "村", "户号", "门牌号", "地址", "姓名", "与户主关系", "手机号"]
ROSTER = [  # 乡镇, 村, 户号, 门牌号, 地址, 姓名, 与户主关系, 手机号
    ["梅城镇", "三都村", "SD-001", "1", "三都村一组", "王建国", "户主", "138 0000 2001"],
    ["梅城镇", "三都村", "SD-001", "1", "", "李秀英", "配偶", "+86 138-0000-2002"],
    ["梅城镇", "三都村", "SD-001", "1", "", "王小明", "子", ""],
    ["梅城镇", "三都村", "SD-002", "2", "三都村二组", "刘志强", "户主", "13800002003"],  # the official's household
    ["梅城镇", "三都村", "SD-002", "2", "", "陈美华", "配偶", "13800002004"],
    ["梅城镇", "三都村", "SD-003", "3", "", "赵大山", "户主", ""],
    ["梅城镇", "乌石村", "WS-001", "8", "", "钱多多", "户主", "13800002005"],
]
VILLAGER = "13800002001"  # 王建国 of SD-001
OFFICIALS_SPOUSE = "13800002004"  # 陈美华 of SD-002, the official's own household


def roster_file(folder: Path, rows: list[list[str]], name: str) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    path = folder / name
    book.save(path)
    return path


def with_errors(rows: list[list[str]]) -> list[list[str]]:
    """The roster as first typed: a phone one digit short (row 3), a household with two heads (rows 5 and 6)."""
    broken = [list(row) for row in rows]
    broken[1][7] = "1380000200"
    broken[4][6] = "户主"
    return broken


def a_photo(folder: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (120, 160, 80)).save(buffer, "JPEG")
    path = folder / "courtyard.jpg"
    path.write_bytes(buffer.getvalue())
    return path


@contextmanager
def served(database: Path, cwd: Path) -> Iterator[str]:
    """`shanzhi serve` (dev mode, on loopback) on this database until the block ends; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [SHANZHI, "serve", "--port", str(port)],
        cwd=cwd,
        env=environment(database, SHANZHI_BASE_URL=base),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        if not came_up(base, server, seconds=60):
            server.terminate()
            pytest.fail("the server did not come up:\n" + server.communicate(timeout=30)[0])
        yield base
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "Traceback" not in output, output  # no request ended in an unhandled error


@pytest.fixture
def empty_county(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A database with nothing but the schema and a county admin (and the county it starts with)."""
    database = tmp_path / "county.db"
    shanzhi("db", "upgrade", cwd=tmp_path, database=database, check=True)
    created = shanzhi(
        "create-admin",
        "--username",
        ADMIN,
        "--county",
        "jiande",
        "--county-name",
        "建德县",
        cwd=tmp_path,
        database=database,
        check=True,
        SHANZHI_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    assert "created county admin" in created.stdout
    with served(database, tmp_path) as base:
        yield base, database


def sign_in_with_password(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/signin")
    page.locator("details.staff summary").click()
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form[action='/signin/password'] button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/signin"))


def sign_in_by_phone(page: Any, phone: str) -> None:
    page.locator("#phone").fill(phone)
    page.locator("form[action='/signin/phone'] button[type=submit]").click()
    page.locator("#code").fill(page.locator(".dev-code").inner_text())
    page.locator("form[action='/signin/code'] button[type=submit]").click()
    expect(page).not_to_have_url(re.compile(r"/signin"))


def claim_with_a_photo(context: Any, qr_url: str, phone: str, photo: Path) -> str:
    """A villager scans the poster, signs in with their phone and claims with a photo; the claim's id."""
    villager = context.new_page()
    villager.goto(qr_url)
    expect(villager).to_have_url(re.compile(r"/signin\?next="))
    sign_in_by_phone(villager, phone)
    expect(villager).to_have_url(qr_url)
    villager.locator("#photo").set_input_files(str(photo))
    villager.locator("form[data-once] button[type=submit]").click()
    sent = villager.locator("#claim-sent")
    expect(sent).to_have_attribute("data-claim-status", "pending")
    return str(sent.get_attribute("data-claim-id"))


def checked(page: Any, name: str, problems: list[str]) -> None:
    problems += audit(page)
    shoot(page, name)


def test_a_county_starts_from_its_roster_alone(chromium: Any, empty_county: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = empty_county
    desk = chromium.new_context(viewport=DESK)
    office = chromium.new_context(viewport=DESK)
    phone = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    spouse_phone = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    problems: list[str] = []
    try:
        # the county admin signs in to an empty county and imports the roster: first as typed, with errors
        admin = desk.new_page()
        sign_in_with_password(admin, base, ADMIN, ADMIN_PASSWORD)
        admin.locator("header nav a[href='/county']").click()  # from the office to the county's set-up
        admin.locator("[data-section=roster] a").click()
        expect(admin).to_have_url(f"{base}/county/roster")
        expect(admin.locator("html")).to_have_attribute("lang", "zh-CN")
        checked(admin, "county-roster", problems)
        admin.locator("#roster-file").set_input_files(str(roster_file(tmp_path, with_errors(ROSTER), "花名册.xlsx")))
        admin.locator("#create-places").check()
        admin.locator("#roster-upload button[type=submit]").click()
        expect(admin.locator("#roster-problems")).to_be_visible()
        expect(admin.locator("tr[data-row='3'][data-problem='phone_malformed']")).to_contain_text("手机号")
        expect(admin.locator("tr[data-problem='two_heads']")).not_to_have_count(0)
        expect(admin.locator("#roster-confirm")).to_have_count(0)  # nothing to import
        checked(admin, "county-roster-problems", problems)

        # the corrected file: a preview of what it adds (with its new places), then the import
        admin.goto(f"{base}/county/roster")
        admin.locator("#roster-file").set_input_files(str(roster_file(tmp_path, ROSTER, "花名册-改好.xlsx")))
        admin.locator("#create-places").check()
        admin.locator("#roster-upload button[type=submit]").click()
        expect(admin.locator("#roster-ok")).to_be_visible()
        expect(admin.locator("[data-counts=households] [data-count=added]")).to_have_text("4")
        expect(admin.locator("[data-new-places]")).to_contain_text("三都村")
        checked(admin, "county-roster-preview", problems)
        admin.locator("[data-action=import]").click()
        expect(admin.locator("#roster-imported")).to_have_attribute("data-applied", "yes")
        expect(admin.locator("[data-counts=members] [data-count=added]")).to_have_text("7")
        checked(admin, "county-roster-imported", problems)
        admin.goto(f"{base}/county/households?q=SD-002")
        expect(admin.locator("tr[data-household-code='SD-002']")).to_contain_text("刘志强")

        # a village official of 三都村, who lives in household SD-002: the first password is shown once
        admin.locator("nav.county-sections a[href='/county/staff']").click()
        admin.locator("#username").fill(OFFICIAL)
        admin.locator("#display_name").fill("刘志强")
        admin.locator("#new-kind").select_option("official")
        admin.locator("fieldset.staff-villages label", has_text="三都村").locator("input").check()
        checked(admin, "county-staff", problems)
        admin.locator("#add-staff button[type=submit]").click()
        shown = admin.locator("[data-one-time-password]")
        expect(shown).to_be_visible()
        first_password = str(shown.get_attribute("data-one-time-password"))
        checked(admin, "county-staff-added", problems)
        admin.locator("a", has_text="查看账号").click()
        admin.locator("#household_code").fill("SD-002")
        admin.locator("#member_name").fill("刘志强")
        admin.locator("#link-person button[type=submit]").click()
        expect(admin.locator("[data-linked-household]")).to_have_attribute("data-linked-household", "SD-002")
        checked(admin, "county-staff-linked", problems)

        # the official signs in with it, sets a password of their own, and creates an activity with a poster
        official = office.new_page()
        sign_in_with_password(official, base, OFFICIAL, first_password)
        expect(official).to_have_url(re.compile(r"/account/password"))
        official.locator("#current_password").fill(first_password)
        official.locator("#new_password").fill(OFFICIAL_PASSWORD)
        official.locator("#repeated").fill(OFFICIAL_PASSWORD)
        official.locator("form[action='/account/password'] button[type=submit]").click()
        expect(official).not_to_have_url(re.compile(r"/account/password"))
        official.goto(f"{base}/office/activities")
        official.locator("#matter_code").select_option("courtyard_hygiene")
        official.locator("#title").fill("庭院整洁评比")
        official.locator("#place").fill("三都村文化礼堂")
        official.locator("form[action='/office/activities'] button.primary").click()
        row = official.locator("tr[data-activity-id]", has_text="庭院整洁评比")
        expect(row).to_have_count(1)
        checked(official, "office-activities-new-county", problems)
        poster = row.locator("a[href$='/poster.svg']")
        official.goto(base + str(poster.get_attribute("href")))
        printed = str(official.evaluate("() => document.documentElement.textContent"))
        link = re.search(r"/c/[A-Za-z0-9_.~-]+", printed)
        assert link, printed
        official.screenshot(path=str(shoot_path("office-poster-new-county")))
        qr_url = base + link.group(0)

        # a villager of the roster scans the poster, signs in with their phone and claims with a photo
        claim_id = claim_with_a_photo(phone, qr_url, VILLAGER, a_photo(tmp_path))
        # … and so does the official's own spouse, for their household
        own_claim_id = claim_with_a_photo(spouse_phone, qr_url, OFFICIALS_SPOUSE, a_photo(tmp_path))

        # the official approves the villager's claim
        official.goto(f"{base}/office")
        expect(official.locator(f"[data-claim-id='{claim_id}']")).to_be_visible()
        checked(official, "office-queue-new-county", problems)
        official.locator(f"[data-claim-id='{claim_id}'] [data-action=approve]").click()
        expect(official.locator(f"[data-claim-id='{claim_id}']")).to_have_count(0)
        villager = phone.pages[0]
        villager.goto(f"{base}/me")
        expect(villager.locator(f"[data-claim-id='{claim_id}']")).to_have_attribute("data-claim-status", "approved")

        # the claim of the official's own household is refused to them: another official decides it
        official.goto(f"{base}/office")
        official.locator(f"[data-claim-id='{own_claim_id}'] [data-action=approve]").click()
        refusal = official.locator("[data-code=conflict_of_interest]")
        expect(refusal).to_be_visible()
        expect(refusal).to_contain_text("不能处理自己家的事项")
        checked(official, "office-own-household-refused", problems)
        official.goto(f"{base}/office")
        expect(official.locator(f"[data-claim-id='{own_claim_id}']")).to_be_visible()  # still waiting
        assert problems == []
    finally:
        for context in (desk, office, phone, spouse_phone):
            context.close()


def shoot_path(name: str) -> Path:
    from tests.browser.conftest import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}-desk.png"
