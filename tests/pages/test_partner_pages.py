"""The partners' pages: a shop's till uses a voucher once (by code and PIN, or by its scanned QR text) and shows
the refusal plainly otherwise; the settlement downloads match; a bank decides and reports loans from its inbox."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select
from sqlmodel import col

from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from redemption.models import Voucher, VoucherEvent
from tests.api.conftest import World, bearer, client_token, villager_token
from tests.api.redeeming import give_points, offer, redeem
from tests.api.test_credit import give_history
from tests.api.test_loans import applied, loan_product
from tests.pages.conftest import csrf_of, sign_in_staff

RESULT = re.compile(r'id="till-result" data-result="([a-z_]+)"')


def as_staff(browser: TestClient, username: str, language: str = "en") -> None:
    """Sign in afresh as this user, reading the pages in `language` (chosen before signing in, as on /signin)."""
    browser.cookies.clear()
    browser.cookies.set("sz_lang", language)
    sign_in_staff(browser, username)


def a_voucher(browser: TestClient, engine: Engine, world: World) -> dict[str, str]:
    give_points(engine, world.household_a1, 300)
    token = villager_token(browser, world.villager_phone)
    response = redeem(browser, token, offer(browser)["id"])
    assert response.status_code == 201, response.text
    return dict(response.json())


def at_till(browser: TestClient, **fields: str) -> Response:
    page = browser.get("/till")
    assert page.status_code == 200, page.text
    response: Response = browser.post("/till", data={"csrf": csrf_of(page.text), **fields})
    return response


def result_of(html: str) -> str:
    found = RESULT.search(html)
    assert found, "the till shows no result"
    return found.group(1)


def uses_of(engine: Engine, code: str) -> int:
    with unit_of_work(engine) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(VoucherEvent)
                .join(Voucher, col(Voucher.id) == col(VoucherEvent.voucher_id))
                .where(col(Voucher.code) == code, col(VoucherEvent.event) == "consumed")
            )
            or 0
        )


def test_the_till_uses_a_voucher_once_and_then_says_already_used(
    browser: TestClient, engine: Engine, world: World
) -> None:
    voucher = a_voucher(browser, engine, world)
    as_staff(browser, "mart-staff")
    till = browser.get("/till")
    assert till.status_code == 200 and till.headers["cache-control"] == "no-store"
    assert 'id="code"' in till.text and 'id="pin"' in till.text and 'data-action="consume"' in till.text
    assert '<label for="code">' in till.text and '<label for="pin">' in till.text

    wrong = "000000" if voucher["pin"] != "000000" else "111111"
    refused = at_till(browser, code=voucher["code"], pin=wrong)
    assert refused.status_code == 403 and result_of(refused.text) == "wrong_pin"
    assert "The voucher PIN is wrong." in refused.text and "Tries left before the PIN is locked: 4" in refused.text
    assert uses_of(engine, voucher["code"]) == 0

    used = at_till(browser, code=voucher["code"].lower(), pin=voucher["pin"])
    assert used.status_code == 200, used.text
    assert result_of(used.text) == "consumed"
    assert "50 yuan" in used.text and "100 points" in used.text  # no fen: no ".00"

    again = at_till(browser, code=voucher["code"], pin=voucher["pin"])
    assert result_of(again.text) == "voucher_already_used"
    assert "This voucher was already used, so it cannot be used again." in again.text and "at mart." in again.text
    assert uses_of(engine, voucher["code"]) == 1
    seen = browser.get(f"/api/v1/vouchers/{voucher['code']}", headers=bearer(client_token(browser, "mart")))
    assert seen.json()["status"] == "used"
    assert [e["event"] for e in seen.json()["history"]] == ["issued", "consumed"]

    looked_up = browser.get("/till", params={"lookup": voucher["code"]})
    assert f'data-voucher-code="{voucher["code"]}" data-voucher-status="used"' in looked_up.text


def test_the_scanned_qr_text_goes_in_the_code_field_and_part_of_a_voucher_can_be_used(
    browser: TestClient, engine: Engine, world: World
) -> None:
    voucher = a_voucher(browser, engine, world)
    as_staff(browser, "mart-staff")
    part = at_till(browser, code=voucher["qr_text"], amount="20")
    assert result_of(part.text) == "consumed", part.text
    assert "20 yuan" in part.text and "30 yuan" in part.text  # used, and left on the voucher
    last = voucher["qr_text"][-1]
    forged = at_till(browser, code=voucher["qr_text"][:-1] + ("x" if last != "x" else "y"))  # never the real key
    assert result_of(forged.text) == "wrong_pin"
    no_pin = at_till(browser, code=voucher["code"])
    assert result_of(no_pin.text) == "pin_or_qr_required"
    assert uses_of(engine, voucher["code"]) == 1


def test_another_shop_cannot_use_the_voucher_and_other_roles_are_kept_out(
    browser: TestClient, engine: Engine, world: World
) -> None:
    voucher = a_voucher(browser, engine, world)
    as_staff(browser, "mart2-staff")
    other = at_till(browser, code=voucher["code"], pin=voucher["pin"])
    assert other.status_code == 404 and result_of(other.text) == "voucher_not_found"
    assert "There is no such voucher here." in other.text
    assert uses_of(engine, voucher["code"]) == 0
    assert browser.get("/bank").status_code == 403

    as_staff(browser, "bank-staff")
    assert browser.get("/till").status_code == 403
    assert browser.get("/till/settlement").status_code == 403
    assert (
        browser.post(
            "/till", data={"csrf": csrf_of(browser.get("/bank").text), "code": voucher["code"], "pin": voucher["pin"]}
        ).status_code
        == 403
    )
    assert uses_of(engine, voucher["code"]) == 0


def test_a_till_post_without_csrf_is_refused_and_uses_nothing(
    browser: TestClient, engine: Engine, world: World
) -> None:
    voucher = a_voucher(browser, engine, world)
    as_staff(browser, "mart-staff", language="zh_CN")
    refused = browser.post("/till", data={"code": voucher["code"], "pin": voucher["pin"]})
    assert refused.status_code == 403
    wrong = "000000" if voucher["pin"] != "000000" else "111111"
    in_chinese = at_till(browser, code=voucher["code"], pin=wrong)  # the cashier reads the refusal in Chinese
    assert result_of(in_chinese.text) == "wrong_pin" and "未核销" in in_chinese.text
    assert "还可以再试 4 次" in in_chinese.text
    forged = browser.post("/till", data={"csrf": "0" * 64, "code": voucher["code"], "pin": voucher["pin"]})
    assert forged.status_code == 403
    assert uses_of(engine, voucher["code"]) == 0


def test_the_settlement_page_and_its_csv_match_the_api(browser: TestClient, engine: Engine, world: World) -> None:
    voucher = a_voucher(browser, engine, world)
    as_staff(browser, "mart-staff")
    assert result_of(at_till(browser, code=voucher["code"], pin=voucher["pin"]).text) == "consumed"

    month = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")  # settlement months are county time
    api = browser.get(
        "/api/v1/settlement", params={"month": month}, headers=bearer(client_token(browser, "mart"))
    ).json()
    assert api["uses"] == 1 and api["points"] == 100 and api["value_yuan"] == "50.00" and api["reconciled"]

    page = browser.get("/till/settlement", params={"month": month})
    assert page.status_code == 200
    assert '<strong data-settlement="uses">1</strong>' in page.text
    assert '<strong data-settlement="value_yuan">50.00</strong>' in page.text
    assert voucher["code"] in page.text
    assert f"/till/settlement?month={month}&amp;format=csv" in page.text

    csv = browser.get("/till/settlement", params={"month": month, "format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["cache-control"] == "no-store" and "attachment" in csv.headers["content-disposition"]
    table = pd.read_csv(io.BytesIO(csv.content), dtype=str)  # in English: the page is
    lines, total, ledger = table.iloc[:-2], table.iloc[-2], table.iloc[-1]
    assert list(lines["Voucher number"]) == [voucher["code"]]
    assert total["Used at"] == "Total"
    assert int(total["Points"]) == api["points"] and total["Value in yuan"] == api["value_yuan"]
    assert (ledger["Used at"], int(ledger["Points"])) == ("In the ledger (matches)", api["ledger_points"])

    xlsx = browser.get("/till/settlement", params={"month": month, "format": "xlsx"})
    assert xlsx.status_code == 200
    assert int(pd.read_excel(io.BytesIO(xlsx.content), sheet_name="Summary")["Points"][0]) == api["points"]


def test_the_bank_inbox_shows_the_application_with_its_grade_and_the_page_decides_and_reports(
    browser: TestClient, engine: Engine, world: World
) -> None:
    give_history(engine, world, world.household_a1)
    villager = villager_token(browser, world.villager_phone)
    application = applied(browser, villager, loan_product(browser), 25_000)  # above the automatic limit
    assert application["status"] == "under_review"
    bank = bearer(client_token(browser, "bank"))
    url = f"/bank/applications/{application['id']}"

    as_staff(browser, "bank-staff")
    inbox = browser.get("/bank")
    assert inbox.status_code == 200
    row = inbox.text.split(f'data-application-id="{application["id"]}"')[1].split("</tr>")[0]
    assert 'data-application-status="under_review"' in row and "<strong data-grade>AA</strong>" in row
    assert "25000" in row

    opened = browser.get(url)
    assert opened.status_code == 200
    assert "data-grade>AA</span>" in opened.text and 'data-action="approve"' in opened.text

    # a rejection needs a reason; without one nothing changes
    no_reason = browser.post(f"{url}/decision", data={"csrf": csrf_of(opened.text), "decision": "reject"})
    assert no_reason.status_code == 422 and "Write the reason" in no_reason.text
    # a post without the form's csrf is refused and changes nothing
    assert browser.post(f"{url}/decision", data={"decision": "approve"}).status_code == 403
    status = browser.get(f"/api/v1/loan-applications/{application['id']}", headers=bank).json()["status"]
    assert status == "under_review"

    decided = browser.post(
        f"{url}/decision", data={"csrf": csrf_of(opened.text), "decision": "approve", "note": "收入稳定"}
    )
    assert decided.status_code == 303 and decided.headers["location"] == f"{url}?done=decided"
    assert browser.get(f"/api/v1/loan-applications/{application['id']}", headers=bank).json()["status"] == "approved"

    after = browser.get(decided.headers["location"])
    assert "Decision saved." in after.text and 'data-action="approve"' not in after.text
    assert '<option value="disbursed">' in after.text
    reported = browser.post(f"{url}/status", data={"csrf": csrf_of(after.text), "event": "disbursed"})
    assert reported.status_code == 303
    assert browser.get(f"/api/v1/loan-applications/{application['id']}", headers=bank).json()["status"] == "disbursed"
    repaid = browser.post(f"{url}/status", data={"csrf": csrf_of(after.text), "event": "repaid"})
    assert repaid.status_code == 303
    mine = browser.get(f"/api/v1/loan-applications/{application['id']}", headers=bearer(villager)).json()
    assert mine["status"] == "repaid"
    out_of_order = browser.post(f"{url}/status", data={"csrf": csrf_of(after.text), "event": "dpd30"})
    assert out_of_order.status_code == 409 and "That status cannot follow the current one." in out_of_order.text

    # another bank does not see it; a merchant is kept out of the bank's pages
    as_staff(browser, "bank2-staff")
    assert f'data-application-id="{application["id"]}"' not in browser.get("/bank").text
    assert browser.get(url).status_code == 404
    as_staff(browser, "mart-staff")
    assert browser.get("/bank").status_code == 403
    assert browser.get(url).status_code == 403


def test_the_clinic_marks_a_booking_attended_and_a_missed_one_not_before_its_slot(
    browser: TestClient, engine: Engine, world: World
) -> None:
    give_points(engine, world.household_a1, 300)
    token = villager_token(browser, world.villager_phone)
    health = offer(
        browser,
        "clinic",
        kind="health_check",
        title="老年人健康体检",
        value_yuan="80.00",
        cost_points=60,
        per_household_limit=3,
    )
    clinic = bearer(client_token(browser, "clinic"))
    slots = []
    for start in (utcnow() + timedelta(hours=1), utcnow() + timedelta(days=3)):
        made = browser.post(
            f"/api/v1/offers/{health['id']}/slots",
            headers=clinic,
            json={
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=1)).isoformat(),
                "place": "村卫生室",
                "capacity": 5,
            },
        )
        assert made.status_code == 201, made.text
        slots.append(made.json()["id"])
    soon, later = (redeem(browser, token, health["id"], slot_id=slot).json()["code"] for slot in slots)

    as_staff(browser, "clinic-staff")
    page = browser.get("/till/bookings")
    assert page.status_code == 200
    assert f'data-booking-code="{soon}" data-booking-status="active"' in page.text
    assert f'data-booking-code="{later}" data-booking-status="active"' in page.text
    assert page.text.index(soon) < page.text.index(later)  # the coming one first

    done = browser.post(f"/till/bookings/{soon}/attended", data={"csrf": csrf_of(page.text)})
    assert done.status_code == 303 and done.headers["location"] == "/till/bookings?done=recorded"
    assert browser.get(f"/api/v1/vouchers/{soon}", headers=clinic).json()["status"] == "used"
    early = browser.post(f"/till/bookings/{later}/missed", data={"csrf": csrf_of(page.text)})
    assert early.status_code == 409 and "time has not come yet" in early.text
    assert browser.get(f"/api/v1/vouchers/{later}", headers=clinic).json()["status"] == "active"
    assert f'data-booking-code="{soon}"' in browser.get("/till/bookings", params={"show": "used"}).text

    as_staff(browser, "mart-staff")
    assert browser.get("/till/bookings").status_code == 403


def test_a_till_form_filled_wrongly_says_which_field_and_how_in_the_cashiers_language(
    browser: TestClient, engine: Engine, world: World
) -> None:
    voucher = a_voucher(browser, engine, world)
    as_staff(browser, "mart-staff", language="zh_CN")
    no_code = at_till(browser, code=" ", pin=voucher["pin"])
    assert no_code.status_code == 422 and "请输入券号，或扫兑换券上的二维码。" in no_code.text
    bad_amount = at_till(browser, code=voucher["code"], pin=voucher["pin"], amount="十二")
    assert bad_amount.status_code == 422 and "金额请按元填写，例如 12 或 12.50。" in bad_amount.text
    assert uses_of(engine, voucher["code"]) == 0  # nothing was used
