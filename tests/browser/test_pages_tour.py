"""Every main page of every role, in a real browser, on the served demo county: each opens with 200 and
`Cache-Control: no-store`, passes the audit at 360 px (no sideways scrolling, a label for every control, 44 px
targets, AA contrast) and again in the other language, and is shot at phone and desk size into
test-artifacts/screenshots. The rotating-code screen renews its code when the code's step ends."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import PHONE, PHONE_OF_HOUSEHOLD_1, audit, expect, shoot, sign_in_staff, sign_in_villager

# Each role's pages: a path to open, or a link to follow on the page before ("follow:" + a CSS selector).
TOURS: dict[str, list[tuple[str, str]]] = {
    "villager": [
        ("villager-rating", "/me/rating"),
        ("villager-household", "/me"),
        ("villager-appeal", "follow:a[href^='/me/appeal?deduction_id=']"),
        ("villager-redeem", "/me/redeem"),
        ("villager-concerns", "/me/concerns"),
        ("villager-report", "/me/concerns/new"),
    ],
    "official-qingshan": [
        ("office-queue", "/office"),
        ("office-activities", "/office/activities"),
        ("office-screen", "follow:a[href$='/screen']"),
        ("office-households", "/office/households"),
        ("office-card", "follow:a[href$='/card']"),
        ("office-proxy", "/office/proxy"),
        ("office-award", "/office/awards"),
        ("office-disputes", "/office/disputes"),
        ("office-rating-reviews", "/office/rating-reviews"),
        ("office-dashboard", "/office/dashboard"),
        ("office-concern-places", "/office/concerns/places"),
        ("office-concerns", "/office/concerns"),
        ("office-concern-codes", "/office/concerns/poster"),
        ("office-concern-new", "/office/concerns/new"),
    ],
    "admin": [
        ("county-concern-categories", "/county/concerns/categories"),
        ("county-concern-handlers", "/county/concerns/handlers"),
        ("county-concern-places", "/county/concerns/places"),
        ("county-calendar", "/county/calendar"),
        ("county-open311", "/county/open311"),
    ],
    "mart-staff": [
        ("till", "/till"),
        ("till-settlement", "/till/settlement"),
        ("partner-offers", "/partner/offers"),
        ("partner-offer-new", "/partner/offers/new"),
        ("partner-webhook", "/partner/webhook"),
    ],
    "clinic-staff": [
        ("clinic-bookings", "/till/bookings"),
        ("clinic-offers", "/partner/offers"),
        ("clinic-offer", "follow:tr[data-offer-id] a[href^='/partner/offers/']"),
        ("clinic-offer-new", "/partner/offers/new"),
    ],
    "bank-staff": [
        ("bank-inbox", "/bank"),
        ("bank-application", "follow:a[href^='/bank/applications/']"),
        ("bank-offer-new", "/partner/offers/new"),
        ("bank-webhook", "/partner/webhook"),
    ],
}


def visit(page: Any, base: str, where: str) -> Any:
    if where.startswith("follow:"):
        link = page.locator(where.removeprefix("follow:")).first
        expect(link).to_be_visible()
        with page.expect_navigation() as navigation:
            link.click()
        return navigation.value
    return page.goto(base + where)


def voucher_codes(page: Any) -> set[str]:
    return set(page.locator("[data-voucher-code]").evaluate_all("els => els.map(e => e.dataset.voucherCode)"))


@pytest.mark.parametrize("who", list(TOURS))
def test_every_main_page_opens_passes_the_audit_and_is_shot(
    chromium: Any, served_for_reading: tuple[str, Path], who: str
) -> None:
    base, _ = served_for_reading
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    problems: list[str] = []
    try:
        page = context.new_page()
        if who == "villager":
            page.goto(f"{base}/me")
            sign_in_villager(page, PHONE_OF_HOUSEHOLD_1)
        else:
            sign_in_staff(page, base, who)
        for name, where in TOURS[who]:
            response = visit(page, base, where)
            assert response is not None and response.status == 200, f"{name}: {where} answered {response}"
            assert response.headers.get("cache-control") == "no-store", name
            expect(page.locator("main h1").first).to_be_visible()
            problems += audit(page)
            shoot(page, name)
        # the other language too: longer words must not break the layout either
        page.locator("form[action='/prefs/language'] button[value=en]").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        for _name, where in TOURS[who]:
            visit(page, base, where)
            problems += audit(page)
        shoot(page, f"{TOURS[who][0][0]}-english")
    finally:
        context.close()
    assert problems == []


def test_elder_mode_keeps_every_villager_page_readable(chromium: Any, served_for_reading: tuple[str, Path]) -> None:
    """Large type must not push anything off a 360 px screen. One action per screen: each secondary section is a
    big button that opens it alone, so nothing is out of reach (a health check is booked in elder mode)."""
    base, _ = served_for_reading
    context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    problems: list[str] = []
    try:
        page = context.new_page()
        page.goto(f"{base}/me")
        sign_in_villager(page, PHONE_OF_HOUSEHOLD_1)  # it has a deduction to appeal and points for a health check
        if page.locator("html").get_attribute("lang") != "zh-CN":  # the tour may have left this person in English
            page.locator("form[action='/prefs/language'] button[value=zh_CN]").click()
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")  # as an elderly villager reads it
        page.locator("form[action='/prefs/elder'] button").click()
        expect(page.locator("body")).to_have_class(re.compile(r"\belder\b"))
        expect(page.locator("main")).to_contain_text("退出大字模式")  # and how to leave it is said
        for name, where in TOURS["villager"]:
            visit(page, base, where)
            expect(page.locator("body")).to_have_class(re.compile(r"\belder\b"))
            problems += audit(page)
            shoot(page, f"{name}-elder")

        page.goto(f"{base}/me/redeem")
        expect(page.locator("#health-checks")).to_have_count(0)  # not on the main screen, but a button to it
        page.locator("[data-more=health-checks]").click()
        expect(page).to_have_url(re.compile(r"\?only=health-checks$"))
        expect(page.locator("#health-checks")).to_be_visible()
        expect(page.locator("#vouchers")).to_be_hidden()  # the one section, on its own
        problems += audit(page)
        shoot(page, "villager-health-checks-elder")
        codes_before = voucher_codes(page)
        slot = page.locator("#health-checks select option:not([disabled])").first.get_attribute("value")
        page.locator("#health-checks select").first.select_option(slot)
        page.locator("#health-checks [data-action=book]").first.click()
        expect(page.locator(".notice")).to_be_visible()
        (booking,) = voucher_codes(page) - codes_before
        expect(page.locator(f"[data-voucher-code='{booking}']")).to_have_attribute("data-voucher-status", "active")
        expect(page.locator(f"[data-voucher-code='{booking}']")).to_contain_text("体检")  # a booking, with its time

        page.goto(f"{base}/me/rating")
        page.locator("[data-more=consents]").click()
        expect(page.locator("#consents [data-action=consent]")).to_be_visible()
        page.locator("[data-action=back]").click()
        expect(page.locator("[data-more=consents]")).to_be_visible()
    finally:
        context.close()
    assert problems == []


def test_the_rotating_code_screen_renews_its_code_when_the_step_ends(
    chromium: Any, served_for_reading: tuple[str, Path]
) -> None:
    """The wall screen asks for the next code as its code's 30-second step ends (the page's clock is Playwright's,
    so the test does not wait), and says so, greying the code out, when it cannot renew."""
    base, _ = served_for_reading
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    try:
        page = context.new_page()
        sign_in_staff(page, base, "official-qingshan")
        page.goto(f"{base}/office/activities")
        screen_url = base + page.locator("a[href$='/screen']").first.get_attribute("href")
        page.clock.install()
        page.goto(screen_url)
        box = page.locator("[data-live-code]")
        expires_in = float(box.get_attribute("data-expires-in"))
        assert 0 < expires_in <= 30
        with page.expect_response(re.compile(r"/live\.json$")) as renewed:
            page.clock.run_for(int((expires_in + 1) * 1000))
        assert renewed.value.status == 200
        fresh = renewed.value.json()
        assert 0 < fresh["expires_in"] <= 30
        shown = "data:image/svg+xml;base64," + base64.b64encode(fresh["svg"].encode()).decode()
        expect(page.locator("[data-live-code] img")).to_have_attribute("src", shown)
        expect(page.locator("[data-offline]")).to_be_hidden()

        # the network goes: the screen says the code cannot renew, and keeps trying
        page.route(re.compile(r"/live\.json$"), lambda route: route.abort())
        page.clock.run_for(int((fresh["expires_in"] + 1) * 1000))
        expect(page.locator("[data-offline]")).to_be_visible()
        expect(box).to_have_class(re.compile(r"\bstale\b"))
        page.unroute(re.compile(r"/live\.json$"))
        with page.expect_response(re.compile(r"/live\.json$")):
            page.clock.run_for(6000)
        expect(page.locator("[data-offline]")).to_be_hidden()
        expect(box).not_to_have_class(re.compile(r"\bstale\b"))
    finally:
        context.close()
