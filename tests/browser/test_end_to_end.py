"""The whole villager path in a real browser, on the served demo county: scan, sign in, claim with a photo; the
official approves; the points show in notice, settle after `shanzhi tick`, buy a voucher; the supermarket uses it;
the villager sees it used; the village dashboard counts the household's participation."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from api.demo import MART_FLASH
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

WELL_RATED = "13800000003"  # household 3 of the demo: rated AA, no loan yet


def a_photo(folder: Path) -> Path:
    """A real JPEG, as a phone camera would send."""
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 140, 60)).save(buffer, "JPEG")
    path = folder / "yard.jpg"
    path.write_bytes(buffer.getvalue())
    return path


def checked(page: Any, name: str, problems: list[str]) -> None:
    """Screenshot the page (phone and desk) and note what a user would stumble on at its current width."""
    problems += audit(page)
    shoot(page, name)


def number(page: Any, selector: str, attribute: str | None = None) -> int:
    element = page.locator(selector).first
    value = element.get_attribute(attribute) if attribute else element.inner_text()
    return int(str(value).strip())


def test_the_villager_path_from_qr_code_to_a_used_voucher(
    chromium: Any, served: tuple[str, Path], seeded: tuple[Path, str], tmp_path: Path
) -> None:
    base, database = served
    link = re.search(r"/c/\S+", seeded[1])  # the seed prints the QR code's link
    assert link is not None
    printed = link.group(0)
    qr_url = f"{base}/c/{printed.rsplit('/', 1)[-1]}"  # the printed URL, on this test's port
    phone = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    desk = chromium.new_context(viewport=DESK)
    till = chromium.new_context(viewport=DESK)
    problems: list[str] = []
    try:
        official = desk.new_page()
        sign_in_staff(official, base, "official-qingshan")
        official.goto(f"{base}/office/dashboard")
        taking_part_before = number(official, "[data-participating-households]", "data-participating-households")

        # the villager scans the poster: sign in first, then straight to the claim page
        villager = phone.new_page()
        villager.goto(qr_url)
        expect(villager).to_have_url(re.compile(r"/signin\?next="))
        expect(villager.locator("html")).to_have_attribute("lang", "zh-CN")
        checked(villager, "signin", problems)
        sign_in_villager(villager, PHONE_OF_HOUSEHOLD_1)
        expect(villager).to_have_url(qr_url)
        checked(villager, "villager-claim", problems)
        villager.locator("#photo").set_input_files(str(a_photo(tmp_path)))
        villager.locator("form[data-once] button[type=submit]").click()
        sent = villager.locator("#claim-sent")
        expect(sent).to_be_visible()
        expect(sent).to_have_attribute("data-claim-status", "pending")
        claim_id = sent.get_attribute("data-claim-id")
        checked(villager, "villager-claimed", problems)

        # scanning the poster again: the page says at once that the household has claimed, before any photo
        villager.goto(qr_url)
        expect(villager.locator("#claim-refused")).to_have_attribute("data-refusal", "already_claimed")
        expect(villager.locator("#photo")).to_have_count(0)
        checked(villager, "villager-claim-refused", problems)

        # what the household has in notice already (the demo's history may hold a claim of the last week)
        villager.goto(f"{base}/me")
        in_notice_before = number(villager, "[data-balance=in_notice]")

        # the official approves it from the review queue, with the photo in view
        official.goto(f"{base}/office")
        row = official.locator(f"[data-claim-id='{claim_id}']")
        expect(row.locator("img.evidence")).to_be_visible()
        checked(official, "office-queue", problems)
        row.locator("[data-action=approve]").click()
        expect(official.locator(f"[data-claim-id='{claim_id}']")).to_have_count(0)

        # the villager sees the points in notice; after the notice period `shanzhi tick` settles them
        villager.goto(f"{base}/me")
        expect(villager.locator("[data-balance=in_notice]")).to_have_text(str(in_notice_before + 3))
        settled = number(villager, "[data-balance=settled]")
        expect(villager.locator(f"[data-claim-id='{claim_id}']")).to_have_attribute("data-claim-status", "approved")
        checked(villager, "villager-household", problems)
        ticked = shanzhi("tick", "--days-ahead", "8", cwd=tmp_path, database=database, check=True)
        assert "settled" in ticked.stdout
        villager.reload()
        expect(villager.locator("[data-balance=in_notice]")).to_have_text("0")
        expect(villager.locator("[data-balance=settled]")).to_have_text(str(settled + in_notice_before + 3))

        # a supermarket voucher for points (household 1 holds this month's 20-yuan one already: the 10-yuan one)
        villager.goto(f"{base}/me/redeem")
        codes_before = set(
            villager.locator("[data-voucher-code]").evaluate_all("els => els.map(e => e.dataset.voucherCode)")
        )
        villager.locator("[data-offer-id]").filter(has_text=MART_FLASH).locator("[data-action=redeem]").click()
        expect(villager.locator(".notice")).to_be_visible()
        codes_after = set(
            villager.locator("[data-voucher-code]").evaluate_all("els => els.map(e => e.dataset.voucherCode)")
        )
        (code,) = codes_after - codes_before
        voucher = villager.locator(f"[data-voucher-code='{code}']")
        expect(voucher).to_have_attribute("data-voucher-status", "active")
        expect(voucher.locator("img.qr")).to_be_visible()
        pin = voucher.locator("[data-pin]").inner_text().strip()
        checked(villager, "villager-redeem", problems)

        # the supermarket's till uses it with code and PIN
        cashier = till.new_page()
        sign_in_staff(cashier, base, "mart-staff")
        cashier.goto(f"{base}/till")
        cashier.locator("#code").fill(code)
        cashier.locator("#pin").fill(pin)
        cashier.locator("[data-action=consume]").click()
        expect(cashier.locator("#till-result")).to_have_attribute("data-result", "consumed")
        checked(cashier, "till-consumed", problems)

        # the villager sees the voucher used
        villager.goto(f"{base}/me/redeem")
        expect(villager.locator(f"[data-voucher-code='{code}']")).to_have_attribute("data-voucher-status", "used")

        # elder mode and English: remembered for this person
        villager.goto(f"{base}/me")
        villager.locator("form[action='/prefs/elder'] button").click()
        villager.wait_for_load_state()
        expect(villager.locator("body")).to_have_class(re.compile(r"\belder\b"))
        checked(villager, "villager-household-elder", problems)
        villager.locator("form[action='/prefs/language'] button[value=en]").click()
        expect(villager.locator("html")).to_have_attribute("lang", "en")
        checked(villager, "villager-household-english", problems)

        # the dashboard counts the household that took part
        official.goto(f"{base}/office/dashboard")
        assert (
            number(official, "[data-participating-households]", "data-participating-households")
            == taking_part_before + 1
        )
        expect(official.locator("figure.chart img").first).to_be_visible()
        checked(official, "office-dashboard", problems)
        assert problems == []
    finally:
        for context in (phone, desk, till):
            context.close()


def test_the_sign_in_page_passes_the_audit_at_360_px(chromium: Any, served: tuple[str, Path]) -> None:
    """At 360 px nothing scrolls sideways, every control has a label, targets are 44 px, contrast is AA."""
    base, _ = served
    context = chromium.new_context(viewport=PHONE, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(f"{base}/signin")
        page.locator("details.staff summary").click()
        assert audit(page) == []
        page.locator("form[action='/prefs/language'] button").click()
        assert audit(page) == []
    finally:
        context.close()


def household_of(database: Path, phone: str) -> int:
    with sqlite3.connect(database) as conn:
        (household_id,) = conn.execute("SELECT household_id FROM person WHERE phone = ?", (phone,)).fetchone()
    return int(household_id)


def bank_lookup(base: str, household_id: int, consent_id: str) -> httpx.Response:
    """What the bank's own system does with its client credentials: read the rating under a consent."""
    token = httpx.post(
        f"{base}/api/v1/auth/token", auth=("demo-bank", "demo-bank-secret"), data={"grant_type": "client_credentials"}
    ).json()["access_token"]
    return httpx.get(
        f"{base}/api/v1/credit/households/{household_id}",
        params={"consent_id": consent_id},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_the_rest_of_the_villager_path_rating_consent_review_loan_and_appeal(
    chromium: Any, served: tuple[str, Path]
) -> None:
    """In the browser, with the official and the bank at their desks: a well-rated household reads its rating,
    lets the bank see it, sees the bank's lookup, takes the consent back (the bank is refused), asks a person to
    check the rating and reads the answer, applies for a loan that the bank approves; household 1 appeals its
    deduction, the official upholds it, and the points come back."""
    base, database = served
    phone = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    desk = chromium.new_context(viewport=DESK)
    bank_desk = chromium.new_context(viewport=DESK)
    problems: list[str] = []
    try:
        villager = phone.new_page()
        villager.goto(f"{base}/me/rating")
        sign_in_villager(villager, WELL_RATED)
        expect(villager.locator("[data-grade]")).to_have_attribute("data-grade", re.compile(r"^(AAA|AA|A)$"))
        assert 1 <= villager.locator("#rating ol li").count() <= 4  # its main reasons, at most four

        # consent: the bank may look; the villager sees who looked; taking it back shuts the bank out
        villager.locator("#partner_id").select_option(index=0)
        villager.locator("#scope").select_option("score")
        villager.locator("[data-action=consent]").click()
        expect(villager.locator(".notice")).to_be_visible()
        consent_id = villager.locator("[data-consent-id]").first.get_attribute("data-consent-id")
        household_id = household_of(database, WELL_RATED)
        assert bank_lookup(base, household_id, str(consent_id)).status_code == 200
        villager.reload()
        expect(villager.locator("#lookups tbody tr")).to_have_count(1)
        checked(villager, "villager-rating-looked-at", problems)
        villager.locator(f"[data-consent-id='{consent_id}'] [data-action=revoke]").click()
        expect(villager.locator(f"[data-consent-id='{consent_id}']")).to_have_count(0)
        refused = bank_lookup(base, household_id, str(consent_id))
        assert (refused.status_code, refused.json()["code"]) == (403, "consent_required")

        # a person checks the rating: the official answers at the desk, the household reads the answer
        villager.locator("#review-reason").fill("去年的扣分已经撤销了")
        villager.locator("[data-action=ask-review]").click()
        expect(villager.locator(".notice")).to_be_visible()
        official = desk.new_page()
        sign_in_staff(official, base, "official-qingshan")
        official.goto(f"{base}/office/rating-reviews")
        asked = official.locator("[data-review-status=open]").filter(has_text="去年的扣分已经撤销了")
        asked.locator("textarea").fill("已核实：扣分已撤销，下次评级不再计入。")
        asked.locator("[data-action=answer]").click()
        expect(official.locator("[data-review-status=answered]")).to_have_count(1)
        checked(official, "office-rating-reviews", problems)
        villager.goto(f"{base}/me")
        expect(villager.locator("#notifications")).to_contain_text("已核实：扣分已撤销")

        # a good-conduct loan: applied for on the phone, approved by the bank in its inbox, followed on the phone
        villager.goto(f"{base}/me/redeem")
        loan = villager.locator("#loans [data-offer-id]").first
        loan.locator("input[name=amount_yuan]").fill("10000")
        loan.locator("input[name=purpose]").fill("买茶苗")
        loan.locator("[data-action=apply]").click()
        expect(villager.locator(".notice")).to_be_visible()
        application = villager.locator("[data-application-id]").filter(has_text="10000")
        application_id = application.get_attribute("data-application-id")
        expect(application).to_have_attribute("data-application-status", re.compile(r"^(pre_approved|under_review)$"))
        officer = bank_desk.new_page()
        sign_in_staff(officer, base, "bank-staff")
        officer.goto(f"{base}/bank/applications/{application_id}")
        expect(officer.locator("main")).to_contain_text("10000")
        officer.locator("[data-action=approve]").click()
        expect(officer.locator(".notice")).to_be_visible()
        checked(officer, "bank-application-approved", problems)
        villager.reload()
        expect(villager.locator(f"[data-application-id='{application_id}']")).to_have_attribute(
            "data-application-status", "approved"
        )

        # household 1 appeals its deduction; the official upholds it; the points come back
        villager.locator("form[action='/signout'] button").click()
        villager.goto(f"{base}/me")
        sign_in_villager(villager, PHONE_OF_HOUSEHOLD_1)
        settled = number(villager, "[data-balance=settled]")
        deduction = villager.locator("[data-deduction-status=in_force]").first
        deduction_id = deduction.get_attribute("data-deduction-id")
        deduction.locator("[data-action=appeal]").click()
        villager.locator("#reason").fill("杂物是邻居家的，当天已说明")
        villager.locator("[data-action=send-appeal]").click()
        expect(villager.locator(".notice")).to_be_visible()
        official.goto(f"{base}/office/disputes")
        dispute = official.locator("[data-dispute-status=open]").filter(has_text="杂物是邻居家的")
        dispute.locator("[data-action=uphold]").click()
        expect(official.locator("[data-dispute-status=open]")).to_have_count(0)
        villager.reload()
        expect(villager.locator(f"[data-deduction-id='{deduction_id}']")).to_have_attribute(
            "data-deduction-status", "revoked"
        )
        assert number(villager, "[data-balance=settled]") > settled  # what it took, given back
        checked(villager, "villager-deduction-revoked", problems)
        assert problems == []
    finally:
        for context in (phone, desk, bank_desk):
            context.close()


def test_an_officials_forms_and_the_tills_refusals_in_a_real_browser(
    chromium: Any, served: tuple[str, Path], tmp_path: Path
) -> None:
    """The office's forms as an official fills them in: a new activity (its poster opens), a rejection that needs
    a reason, two claims approved together, a claim entered for a household without a smartphone (which its
    enterer may not approve). The till: a wrong PIN says how many tries are left; part of a voucher is used."""
    base, _ = served
    desk = chromium.new_context(viewport=DESK)
    phone = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    problems: list[str] = []
    try:
        official = desk.new_page()
        sign_in_staff(official, base, "official-qingshan")

        official.goto(f"{base}/office/activities")
        official.locator("#title").fill("晚间广场清扫")
        official.locator("#place").fill("村文化广场")
        official.locator("#period").select_option("once")
        official.locator("form[method=post][action='/office/activities'] button[type=submit]").click()
        expect(official.locator(".notice")).to_be_visible()
        row = official.locator("tr").filter(has_text="晚间广场清扫")
        poster = row.locator("a[href$='/poster.svg']").get_attribute("href")
        shown = official.request.get(base + str(poster))
        assert shown.status == 200 and shown.headers["content-type"].startswith("image/svg+xml")

        official.goto(f"{base}/office")
        cards = official.locator("article[data-claim-id]")
        waiting = cards.count()
        assert waiting >= 3, "the demo leaves claims for the official to review"
        first = cards.nth(0)
        first_id = first.get_attribute("data-claim-id")
        first.locator("[data-action=reject]").click()  # no reason: refused, and the claim stays
        expect(official.locator(".refusal")).to_be_visible()
        expect(official.locator(f"article[data-claim-id='{first_id}']")).to_have_count(1)
        official.locator(f"article[data-claim-id='{first_id}'] textarea").fill("签到表上没有您家")
        official.locator(f"article[data-claim-id='{first_id}'] [data-action=reject]").click()
        expect(official.locator(f"article[data-claim-id='{first_id}']")).to_have_count(0)
        ticked = [cards.nth(i).get_attribute("data-claim-id") for i in range(2)]
        for claim_id in ticked:
            official.locator(f"#tick-{claim_id}").check()
        official.locator("[data-action=bulk-approve]").click()
        expect(official.locator(".notice")).to_be_visible()
        for claim_id in ticked:
            expect(official.locator(f"article[data-claim-id='{claim_id}']")).to_have_count(0)
        assert official.locator("article[data-claim-id]").count() == waiting - 3

        official.goto(f"{base}/office/households")
        official.locator("a[href^='/office/proxy?household_id=']").nth(4).click()
        new_one = official.locator("#activity_id option", has_text="晚间广场清扫").get_attribute("value")
        official.locator("#activity_id").select_option(new_one)
        proxy_form = official.url
        official.locator("form[action='/office/proxy'] button[type=submit]").click()  # no photo: refused
        expect(official.locator(".refusal")).to_have_attribute("data-code", "evidence_required")  # said in words
        official.locator("a[data-back]").click()  # back to the form just sent, not to the front page
        expect(official).to_have_url(proxy_form)
        official.locator("#activity_id").select_option(new_one)
        official.locator("#photo").set_input_files(str(a_photo(tmp_path)))  # the matter asks for one
        official.locator("#note").fill("老人没有智能手机，现场核实")
        official.locator("form[action='/office/proxy'] button[type=submit]").click()
        expect(official.locator(".notice")).to_be_visible()
        official.goto(f"{base}/office")
        entered = official.locator("article[data-claim-id]").filter(has_text="老人没有智能手机")
        expect(entered).to_have_count(1)
        entered.locator("[data-action=approve]").click()  # the enterer may not approve it: a second official must
        expect(official.locator(".refusal")).to_contain_text(re.compile("second_official_needed|另一位"))
        checked(official, "office-own-entry-refused", problems)

        # the till: household 1's supermarket voucher, with a wrong PIN and then part of its value
        villager = phone.new_page()
        villager.goto(f"{base}/me/redeem")
        sign_in_villager(villager, PHONE_OF_HOUSEHOLD_1)
        held = villager.locator("[data-voucher-status=active]").filter(has_text="20").first
        code = held.get_attribute("data-voucher-code")
        pin = held.locator("[data-pin]").inner_text().strip()
        cashier = desk.new_page()
        official.locator("form[action='/signout'] button").click()
        sign_in_staff(cashier, base, "mart-staff")
        cashier.goto(f"{base}/till")
        cashier.locator("#code").fill(str(code))
        cashier.locator("#pin").fill("000000" if pin != "000000" else "111111")
        cashier.locator("[data-action=consume]").click()
        expect(cashier.locator("#till-result")).to_have_attribute("data-result", "wrong_pin")
        expect(cashier.locator("#till-result")).to_contain_text(re.compile(r"\d"))  # tries left
        cashier.locator("#pin").fill(pin)
        cashier.locator("#amount").fill("5")
        cashier.locator("[data-action=consume]").click()
        expect(cashier.locator("#till-result")).to_have_attribute("data-result", "consumed")
        expect(cashier.locator("#till-result")).to_contain_text("15 元")  # left on the voucher, without ".00"
        checked(cashier, "till-part-used", problems)
        assert problems == []
    finally:
        for context in (desk, phone):
            context.close()


def test_a_live_code_scanned_at_the_meeting_is_approved_at_once_with_the_phones_location(
    chromium: Any, served: tuple[str, Path]
) -> None:
    """The official makes a meeting with a geofence on the office page and shows its rotating code; a villager at
    the hall scans it, signs in, lets the page read the phone's location (the page says why) and is approved at
    once. The scan ticket the browser got before signing in travels in its own cookie."""
    base, _ = served
    hall = {"latitude": 30.2741, "longitude": 120.1551}
    desk = chromium.new_context(viewport=DESK)
    phone = chromium.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, geolocation=hall, permissions=["geolocation"]
    )
    try:
        official = desk.new_page()
        sign_in_staff(official, base, "official-qingshan")
        official.goto(f"{base}/office/activities")
        form = official.locator("form.office-form[action='/office/activities']")
        form.locator("#matter_code").select_option("village_meeting")
        form.locator("#title").fill("Geofenced assembly")
        form.locator("#lat").fill("30.2741")
        form.locator("#lon").fill("120.1551")
        form.locator("#radius_m").fill("200")
        form.locator("#rotating").check()
        form.locator("button[type=submit]").click()
        activity_id = official.locator("tr[data-activity-id]", has_text="Geofenced assembly").get_attribute(
            "data-activity-id"
        )
        live = official.request.get(f"{base}/office/activities/{activity_id}/live.json").json()
        scanned = f"{base}/c/{live['token']}"

        villager = phone.new_page()
        villager.goto(scanned)
        expect(villager).to_have_url(re.compile(r"/signin\?next="))
        assert any(c["name"] == "sz_scan" for c in phone.cookies())
        sign_in_villager(villager, PHONE_OF_HOUSEHOLD_1)
        expect(villager).to_have_url(scanned)
        expect(villager.locator("#why-location")).to_be_visible()
        expect(villager.locator("input[name=lat]")).to_have_value("30.274100")
        villager.locator("form[data-once] button[type=submit]").click()
        expect(villager.locator("#claim-sent")).to_have_attribute("data-claim-status", "approved")
    finally:
        for context in (phone, desk):
            context.close()
