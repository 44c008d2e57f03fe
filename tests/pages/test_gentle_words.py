"""Where the words must be gentle: the notice board never names a household that lost points (and hides
deductions where the county says so), an objection reads as something being checked, points in a voucher are not
"frozen", a health-check booking says what missing it costs, a loan application says that it lets the bank see
the rating and for how long, elder mode says how to leave it, and the proxy form asks for the 户号."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from ledger.core.db import unit_of_work
from ledger.tenancy import Household
from tests.api.claiming import claim, code_of, decide, key, new_activity
from tests.api.conftest import World, bearer, password_token, villager_token
from tests.api.redeeming import give_points, offer, redeem
from tests.api.test_bookings_and_settlement import health_check
from tests.api.test_credit import give_history
from tests.api.test_loans import loan_product
from tests.factories import not_none
from tests.pages.conftest import csrf_of, form_post, sign_in_staff, sign_in_villager

NEIGHBOUR = "13900000002"  # the head of household A2, in the same village as A1


def board_line(html: str, kind: str, entry_id: int) -> str | None:
    """The notice board's line for one entry, as the page shows it; None when the board does not list it."""
    found = re.search(rf'<li data-notice-kind="{kind}" data-notice-id="{entry_id}">(.*?)</li>', html, re.S)
    return found.group(1) if found else None


def deduct(client: TestClient, official: str, household_id: int) -> dict[str, Any]:
    recorded = client.post(
        "/api/v1/deductions",
        headers={**bearer(official), **key()},
        json={"household_id": household_id, "matter_code": "breaking_village_rules", "reason": "Dog off the lead."},
    )
    assert recorded.status_code == 201, recorded.text
    body: dict[str, Any] = recorded.json()
    return body


def code_of_household(engine: Engine, household_id: int) -> str:
    with unit_of_work(engine) as session:
        return not_none(session.exec(select(Household.code).where(Household.id == household_id)).first())


def test_the_board_shows_a_deduction_as_a_household_unnamed_or_not_at_all_as_the_county_says(
    browser: TestClient, world: World
) -> None:
    official = password_token(browser, "official-a")
    a1 = villager_token(browser, world.villager_phone)
    made = claim(browser, a1, code_of(new_activity(browser, official, world.village_a.village_id))).json()
    decide(browser, official, made["id"])
    deduction = deduct(browser, official, world.household_a1)
    admin = password_token(browser, "admin")
    assert browser.get("/api/v1/county/policy", headers=bearer(admin)).json()["notice_deductions"] == "unnamed"

    sign_in_villager(browser, NEIGHBOUR)  # the neighbours read the board
    page = browser.get("/me").text
    named = not_none(board_line(page, "claim", made["id"]))
    unnamed = not_none(board_line(page, "deduction", deduction["id"]))
    assert "H" in named and "家" in named  # an approved claim: as the village's privacy policy (张家) names it
    assert "一户村民" in unnamed and "−" in unnamed and "Head" not in unnamed and "家" not in unnamed

    refused = browser.patch("/api/v1/county/policy", json={"notice_deductions": "hidden"}, headers=bearer(official))
    assert refused.status_code == 403  # the county admin's choice
    wrong = browser.patch("/api/v1/county/policy", json={"notice_deductions": "named"}, headers=bearer(admin))
    assert wrong.status_code == 422
    hidden = browser.patch("/api/v1/county/policy", json={"notice_deductions": "hidden"}, headers=bearer(admin))
    assert hidden.status_code == 200 and hidden.json()["notice_deductions"] == "hidden"

    page = browser.get("/me").text
    assert board_line(page, "deduction", deduction["id"]) is None
    assert board_line(page, "claim", made["id"]) is not None  # claims stay, named as before
    board = browser.get(f"/api/v1/villages/{world.village_a.village_id}/notice-board", headers=bearer(a1)).json()
    assert [e["kind"] for e in board["entries"]] == ["claim"]

    browser.cookies.clear()
    sign_in_villager(browser, world.villager_phone)  # the household still sees its own deduction, and may appeal
    own = browser.get("/me").text
    assert f'data-deduction-id="{deduction["id"]}"' in own and 'href="/me/appeal?deduction_id=' in own


def test_the_household_is_told_its_deduction_is_on_the_board_without_its_name(
    browser: TestClient, world: World
) -> None:
    official = password_token(browser, "official-a")
    deduction = deduct(browser, official, world.household_a1)
    sign_in_villager(browser, world.villager_phone)
    page = browser.get("/me").text
    mine = not_none(re.search(rf'data-deduction-id="{deduction["id"]}".*?</li>', page, re.S)).group(0)
    assert "公示至" in mine and "不写您家的名字" in mine
    # the message says what happened, where to read why, and what the household can do
    assert f"您家被扣了 {deduction['points']} 分" in page and "申诉" in page and "村干部会答复" in page
    assert "记了一笔扣分" not in page


def test_an_objection_reads_as_being_checked_on_the_board_and_in_the_households_messages(
    browser: TestClient, world: World
) -> None:
    official = password_token(browser, "official-a")
    a1 = villager_token(browser, world.villager_phone)
    made = claim(browser, a1, code_of(new_activity(browser, official, world.village_a.village_id))).json()
    decide(browser, official, made["id"])
    objection = browser.post(
        f"/api/v1/claims/{made['id']}/objections",
        json={"reason": "Not there that day."},
        headers={**bearer(villager_token(browser, NEIGHBOUR)), **key()},
    )
    assert objection.status_code == 201
    sign_in_villager(browser, world.villager_phone)
    page = browser.get("/me").text
    line = not_none(board_line(page, "claim", made["id"]))
    assert "核实中" in line and "有异议" not in page
    assert "有村民请村里核实您家公示中的一条申报" in page and "您不用做什么" in page

    browser.post("/prefs/language", data={"csrf": csrf_of(page), "locale": "en", "next": "/me"})
    english = browser.get("/me").text
    assert "Being checked" in not_none(board_line(english, "claim", made["id"]))
    assert "A villager asked for one of your claims on the notice board to be checked." in english


def test_points_in_a_voucher_are_said_to_come_back_if_unused_never_frozen(
    browser: TestClient, world: World, engine: Engine
) -> None:
    give_points(engine, world.household_a1, 50)
    a1 = villager_token(browser, world.villager_phone)
    shop = offer(browser, title="洗衣粉", cost_points=20, value_yuan="10.00")
    assert redeem(browser, a1, shop["id"]).status_code == 201
    sign_in_villager(browser, world.villager_phone)
    page = browser.get("/me").text
    assert "另有 20 分已换成兑换券（未用可退回）。" in page
    assert "换成兑换券" in not_none(re.search(r'id="statement".*?</table>', page, re.S)).group(0)
    assert "冻结" not in page and "冻结" not in browser.get("/me/redeem").text


@pytest.mark.parametrize(("penalty", "shown"), [(10, True), (0, False)])
def test_a_health_check_booking_says_what_missing_it_costs(
    browser: TestClient, world: World, engine: Engine, penalty: int, shown: bool
) -> None:
    give_points(engine, world.household_a1, 100)
    check, slots = health_check(browser, no_show_penalty_points=penalty, cancel_hours=24)
    sign_in_villager(browser, world.villager_phone)
    page = browser.get("/me/redeem").text
    offered = not_none(re.search(rf'data-offer-id="{check["id"]}".*?</form>', page, re.S)).group(0)
    assert ("预约后没有到场，会扣您家 10 分。" in offered) is shown
    assert ("来不了请至少提前 24 小时取消预约。" in offered) is shown
    booking_key = not_none(re.search(rf'name="key" value="([^"]+-{check["id"]})"', page)).group(1)
    booked = browser.post(
        "/me/redeem",
        data={"csrf": csrf_of(page), "key": booking_key, "offer_id": str(check["id"]), "slot_id": str(slots[1]["id"])},
    )
    assert booked.status_code == 303
    vouchers = browser.get("/me/redeem").text
    mine = not_none(re.search(r'<li class="voucher".*?</li>', vouchers, re.S)).group(0)
    assert ("预约了没有到场，会扣您家 10 分。" in mine) is shown
    assert ("会扣您家" in vouchers) is shown


def test_a_loan_application_says_before_the_button_that_the_bank_sees_the_rating_and_for_how_long(
    browser: TestClient, world: World, engine: Engine
) -> None:
    give_history(engine, world, world.household_a1)
    product = loan_product(browser)
    sign_in_villager(browser, world.villager_phone)
    page = browser.get("/me/redeem").text
    form = not_none(re.search(rf'data-offer-id="{product}".*?</form>', page, re.S)).group(0)
    consent = not_none(re.search(r"<p data-loan-consent>(.*?)</p>\s*<button[^>]*>(.*?)</button>", form, re.S))
    assert "同意bank在 90 天内查看您家的信用评级" in consent.group(1) and "授信评估" in consent.group(1)
    assert "收回授权" in consent.group(1)
    assert consent.group(2) == "申请贷款"
    assert "善治贷" in page and "好习惯贷款" not in page

    key_of = not_none(re.search(rf'name="key" value="([^"]+-loan-{product})"', page)).group(1)
    sent = browser.post(
        "/me/loans",
        data={
            "csrf": csrf_of(page),
            "key": key_of,
            "offer_id": str(product),
            "amount_yuan": "20000",
            "term_months": "12",
            "purpose": "买化肥和种子",
        },
    )
    assert sent.status_code == 303
    consents = browser.get("/api/v1/consents", headers=bearer(villager_token(browser, world.villager_phone))).json()
    assert [
        round(
            (datetime.fromisoformat(c["expires_at"]) - datetime.fromisoformat(c["granted_at"])).total_seconds() / 86400
        )
        for c in consents
    ] == [90]


def test_a_credit_review_permission_reads_as_a_credit_assessment(browser: TestClient, world: World) -> None:
    sign_in_villager(browser, world.villager_phone)
    page = browser.get("/me/rating").text
    bank = not_none(re.search(r'name="partner_id"[^>]*>.*?<option value="(\d+)"', page, re.S)).group(1)
    given = form_post(
        browser,
        "/me/consents",
        {"partner_id": bank, "purpose": "credit_review", "scope": "grade", "days": "30"},
        from_page="/me/rating",
    )
    assert given.status_code == 303
    rating = browser.get("/me/rating").text
    assert "授信评估" in rating and "信用审查" not in rating


def test_elder_mode_says_how_to_leave_it(browser: TestClient, world: World) -> None:
    sign_in_villager(browser, world.villager_phone)
    normal = browser.get("/me").text
    assert "大字模式" in normal and "data-elder-hint" not in normal and "退出大字模式" not in normal
    browser.post("/prefs/elder", data={"csrf": csrf_of(normal), "next": "/me"})
    elder = browser.get("/me").text
    hint = not_none(re.search(r"<p class=\"elder-hint\" data-elder-hint>(.*?)</p>", elder)).group(1)
    assert "退出大字模式" in hint
    button = not_none(re.search(r'data-action="elder">(.*?)</button>', elder)).group(1)
    assert button == "退出大字模式"
    browser.post("/prefs/elder", data={"csrf": csrf_of(elder), "next": "/me"})
    assert "data-elder-hint" not in browser.get("/me").text


def test_the_proxy_form_asks_for_the_household_number_and_takes_it(
    browser: TestClient, world: World, engine: Engine
) -> None:
    official = password_token(browser, "official-a")
    activity = new_activity(browser, official, world.village_a.village_id)
    code = code_of_household(engine, world.household_a2)
    sign_in_staff(browser, "official-a")
    listing = browser.get("/office/households").text
    assert f"<td>{code}" in listing  # the list shows the 户号 the form asks for

    form = browser.get(f"/office/proxy?household_id={world.household_a2}").text  # the list's link fills it in
    assert "户号" in form and "系统里的编号" not in form
    assert f'name="household_code" maxlength="32" autocomplete="off" value="{code}"' in form

    wrong = form_post(
        browser, "/office/proxy", {"activity_id": str(activity["id"]), "household_code": "NO-SUCH", "key": "px-1-key"}
    )
    assert wrong.status_code == 404 and "没有户号为 NO-SUCH 的农户" in wrong.text
    elsewhere = code_of_household(engine, world.household_b1)  # village B: not this official's
    other = form_post(
        browser, "/office/proxy", {"activity_id": str(activity["id"]), "household_code": elsewhere, "key": "px-2-key"}
    )
    assert other.status_code == 404 and f"没有户号为 {elsewhere} 的农户" in other.text

    done = form_post(
        browser,
        "/office/proxy",
        {"activity_id": str(activity["id"]), "household_code": f" {code.lower()} ", "key": "px-3-key"},
    )
    assert done.status_code == 303, done.text
    entered = browser.get("/api/v1/claims?status=pending", headers=bearer(official)).json()
    assert [(c["household_id"], c["proxy"]) for c in entered] == [(world.household_a2, True)]


def test_the_award_form_takes_the_household_number_too(browser: TestClient, world: World, engine: Engine) -> None:
    official = password_token(browser, "official-a")
    code = code_of_household(engine, world.household_a1)
    sign_in_staff(browser, "official-a")
    page = browser.get("/office/awards").text
    assert 'name="household_code"' in page and "户号" in page and "系统里的编号" not in page
    fields = {"matter_code": "volunteering", "reason": "Helped at the flood bank."}
    wrong = browser.post(
        "/office/awards", data={"csrf": csrf_of(page), "key": "aw-wrong-key", "household_code": "NO-SUCH", **fields}
    )
    assert wrong.status_code == 404 and "data-refusal" in wrong.text
    done = browser.post(
        "/office/awards", data={"csrf": csrf_of(page), "key": "aw-right-key", "household_code": code, **fields}
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith(f"/office/awards?household_id={world.household_a1}&")
    given = browser.get("/api/v1/claims?limit=200", headers=bearer(official)).json()
    assert [c["household_id"] for c in given if c["award_reason"]] == [world.household_a1]
