"""A village concern (随手拍) from the poster to the points, in a real browser on the served demo county: the
villager scans the village's concern code, signs in and reports a hazard with a photo; the official accepts it
and dispatches it to a handler; the handler (a staff account acting for it) resolves it with a photo; the reporter
follows each step on the parcel view, says "satisfied", and after the notice period (`shanzhi tick` with the
clock ahead) sees the report's points in the household's balance."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path
from typing import Any

from PIL import Image

from tests.browser.conftest import (
    DESK,
    PHONE,
    PHONE_OF_HOUSEHOLD_1,
    audit,
    expect,
    shoot,
    sign_in_staff,
    sign_in_villager,
)
from tests.demo_server import shanzhi

OFFICIAL = "official-qingshan"
HANDLER = "official-zhulin"  # made a member of a handler of Qingshan for this test: a staff account of no Qingshan


def a_photo(folder: Path, name: str, colour: tuple[int, int, int]) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), colour).save(buffer, "JPEG")
    path = folder / name
    path.write_bytes(buffer.getvalue())
    return path


def a_handler(database: Path, village_id: int, username: str) -> int:
    """What the county admin sets up once (its API and pages have their own tests): a grid handler of the village
    with `username` acting for it."""
    with sqlite3.connect(database) as conn:
        (county_id,) = conn.execute("SELECT county_id FROM village WHERE id = ?", (village_id,)).fetchone()
        (user_id,) = conn.execute("SELECT id FROM app_user WHERE username = ?", (username,)).fetchone()
        cursor = conn.execute(
            "INSERT INTO concern_handler (county_id, kind, name, village_id, active) VALUES (?, 'grid', ?, ?, 1)",
            (county_id, "网格员（测试）", village_id),
        )
        handler_id = int(cursor.lastrowid or 0)
        conn.execute("INSERT INTO concern_handler_member (handler_id, user_id) VALUES (?, ?)", (handler_id, user_id))
    return handler_id


def checked(page: Any, name: str, problems: list[str]) -> None:
    problems += [f"{name}: {p}" for p in audit(page)]
    shoot(page, name)


def test_a_hazard_from_the_poster_to_the_points(chromium: Any, served: tuple[str, Path], tmp_path: Path) -> None:
    base, database = served
    phone = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    desk = chromium.new_context(viewport=DESK)
    handler_desk = chromium.new_context(viewport=DESK)
    problems: list[str] = []
    try:
        # the official prints the village's poster: its QR code carries the report form's address
        official = desk.new_page()
        sign_in_staff(official, base, OFFICIAL)
        official.goto(f"{base}/office/concerns/poster")
        village_id = int(official.locator("tr[data-village-id]").first.get_attribute("data-village-id") or 0)
        poster = official.request.get(f"{base}/office/concerns/poster.svg?village_id={village_id}")
        assert poster.ok and "随手拍·有事您说" in poster.text()
        token = re.search(r"/r/([A-Za-z0-9_-]+)", poster.text())
        assert token is not None
        handler_id = a_handler(database, village_id, HANDLER)

        # the villager scans it: sign in first, then the report form for that village
        villager = phone.new_page()
        villager.goto(f"{base}/r/{token.group(1)}")
        expect(villager).to_have_url(re.compile(r"/signin\?next="))
        sign_in_villager(villager, PHONE_OF_HOUSEHOLD_1)
        expect(villager).to_have_url(re.compile(r"/r/"))
        checked(villager, "concern-report-form", problems)
        villager.locator("label[for=kind-hazard]").click()
        villager.locator("#category").select_option("road_hazard")
        villager.locator("#text").fill("村口小桥的栏杆断了，晚上很危险")
        villager.locator("#photo-1").set_input_files(str(a_photo(tmp_path, "bridge.jpg", (120, 90, 60))))
        villager.locator("form.report button[type=submit]").click()
        expect(villager).to_have_url(re.compile(r"/me/concerns/\d+"))
        concern_id = int(re.search(r"/me/concerns/(\d+)", villager.url).group(1))  # type: ignore[union-attr]
        expect(villager.locator("#where-it-is")).to_have_attribute("data-status", "submitted")
        expect(villager.locator("[data-due]")).to_contain_text("应在")
        checked(villager, "concern-parcel-submitted", problems)

        # the official accepts it and sends it to the handler
        official.goto(f"{base}/office/concerns")
        expect(official.locator(f"tr[data-concern-id='{concern_id}']").first).to_be_visible()
        checked(official, "office-concerns", problems)
        official.goto(f"{base}/office/concerns/{concern_id}")
        official.locator("#accept button[type=submit]").click()
        expect(official.locator("#concern")).to_have_attribute("data-status", "accepted")
        official.locator("#handler").select_option(str(handler_id))
        official.locator("#dispatch button[type=submit]").click()
        expect(official.locator("#concern")).to_have_attribute("data-status", "dispatched")
        checked(official, "office-concern-dispatched", problems)

        # the handler finds it assigned and resolves it with a photo
        handler = handler_desk.new_page()
        sign_in_staff(handler, base, HANDLER)
        handler.goto(f"{base}/office/concerns/assigned")
        handler.locator(f"tr[data-concern-id='{concern_id}'] a").click()
        handler.locator("#resolve-note").fill("已更换栏杆，并加装了反光条")
        handler.locator("#judgement").select_option("real")
        handler.locator("#resolve-photo-1").set_input_files(str(a_photo(tmp_path, "fixed.jpg", (60, 120, 90))))
        handler.locator("#resolve button[type=submit]").click()
        expect(handler.locator("#concern")).to_have_attribute("data-status", "resolved")
        checked(handler, "office-concern-resolved", problems)

        # the reporter follows each step, by role, and says it was done well
        villager.goto(f"{base}/me/concerns/{concern_id}")
        steps = villager.locator("[data-timeline] li").evaluate_all("els => els.map(e => e.dataset.step)")
        assert steps[:4] == ["submit", "accept", "dispatch", "resolve"], steps
        expect(villager.locator("[data-timeline]")).to_contain_text("处理人")
        expect(villager.locator("[data-timeline]")).not_to_contain_text(HANDLER)
        expect(villager.locator("#resolution img")).to_have_count(1)
        checked(villager, "concern-parcel-resolved", problems)
        villager.locator("#evaluate button[value=yes]").click()
        expect(villager.locator("#where-it-is")).to_have_attribute("data-status", "closed")
        expect(villager.locator("#points")).to_be_visible()
        points = int(villager.locator("#points .points").inner_text().strip().lstrip("+"))
        assert points > 0
        villager.goto(f"{base}/me")
        settled = int(villager.locator("[data-balance=settled]").inner_text().strip())
        # the award is in notice, beside whatever the demo's history has there (a claim of the last week)
        in_notice = int(villager.locator("[data-balance=in_notice]").inner_text().strip())
        assert in_notice >= points

        # after the notice period the schedule settles them into the household's points
        ticked = shanzhi("tick", "--days-ahead", "8", cwd=tmp_path, database=database, check=True)
        assert "settled" in ticked.stdout
        villager.goto(f"{base}/me/concerns/{concern_id}")
        expect(villager.locator("#points")).to_have_attribute("data-reward", "settled")
        checked(villager, "concern-parcel-closed", problems)
        villager.goto(f"{base}/me")
        expect(villager.locator("[data-balance=in_notice]")).to_have_text("0")
        expect(villager.locator("[data-balance=settled]")).to_have_text(str(settled + in_notice))
        assert problems == []
    finally:
        for context in (phone, desk, handler_desk):
            context.close()
