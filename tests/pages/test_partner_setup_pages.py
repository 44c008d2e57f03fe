"""A partner's own set-up pages: its staff propose and withdraw offers, a clinic adds health-check slots, and every
kind of partner sets where its events go, makes a new signing secret (shown once; the old one keeps signing for
the overlap) and sends a failed delivery again by hand. Anyone else's offers and deliveries look missing; villagers
and officials are kept out."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from ledger.core.base import as_utc, utcnow
from ledger.core.settings import Settings
from ledger.identity import principal
from ledger.identity.models import Partner
from redemption import webhooks
from redemption.models import HealthSlot, Offer, WebhookDelivery
from tests.api.conftest import World, bearer, client_token, make_settings, password_token
from tests.api.test_webhooks import Endpoint, delivery, enqueue, partner_id
from tests.factories import not_none
from tests.pages.conftest import csrf_of, sign_in_staff, sign_in_villager

LOCAL = ipaddress.ip_network("127.0.0.1/32")  # the test receivers listen here: the allow-list lets them in
SECRET_SHOWN = re.compile(r"<code class=\"code\" data-secret>(whsec_[0-9a-f]+)</code>")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, webhook_allowed_networks=[str(LOCAL)])


@pytest.fixture(autouse=True)
def partners_on_the_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names under .example resolve to a public address (nothing connects there: those tests send by hand)."""
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host).endswith(".example"):
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("93.184.215.14", int(port or 0)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    served = Endpoint()
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()
    served.thread.join(timeout=5)


def as_staff(browser: TestClient, username: str, language: str = "zh_CN") -> None:
    browser.cookies.clear()
    browser.cookies.set("sz_lang", language)
    sign_in_staff(browser, username)


def post_from(browser: TestClient, page_path: str, action: str, data: dict[str, Any] | None = None) -> Response:
    page = browser.get(page_path)
    assert page.status_code == 200, page.text
    response: Response = browser.post(action, data={"csrf": csrf_of(page.text), **(data or {})})
    return response


def offers_of(engine: Engine, code: str) -> list[Offer]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(Offer).where(col(Offer.partner_id) == partner_id(engine, code)).order_by(col(Offer.id))
            )
        )


def offer_row(engine: Engine, offer_id: int) -> Offer:
    with Session(engine) as session:
        return not_none(session.get(Offer, offer_id))


def local(moment: Any) -> str:
    """A moment as a datetime-local field holds it, in the county's time (Asia/Shanghai, UTC+8)."""
    return str((moment + timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M"))


VOUCHER_FORM = {
    "kind": "voucher",
    "title": "菜籽油一桶",
    "description": "5 升装",
    "value_yuan": "50",
    "cost_points": "100",
    "stock": "20",
    "per_household_limit": "2",
    "limit_period": "month",
    "voucher_days": "30",
}


# --- offers ----------------------------------------------------------------------------------------------------


def test_a_merchant_proposes_an_offer_on_the_page_sees_it_wait_for_the_county_and_withdraws_it(
    browser: TestClient, engine: Engine, world: World
) -> None:
    as_staff(browser, "mart-staff")
    listed = browser.get("/partner/offers")
    assert listed.status_code == 200 and '<html lang="zh-CN"' in listed.text
    assert "我们的兑换项目" in listed.text and 'href="/partner/offers/new"' in listed.text
    form = browser.get("/partner/offers/new")
    assert form.status_code == 200 and "报县里审核" in form.text
    assert '<option value="voucher"' in form.text and 'value="loan"' not in form.text  # a shop offers vouchers
    assert f'value="{world.village_a.village_id}"' in form.text  # the villages it serves, to pick from
    assert f'value="{world.village_c.village_id}"' not in form.text  # never another county's

    start = utcnow()
    sent = browser.post(
        "/partner/offers",
        data={
            "csrf": csrf_of(form.text),
            **VOUCHER_FORM,
            "valid_from": local(start),
            "valid_until": local(start + timedelta(days=60)),
            "village_ids": [str(world.village_a.village_id)],
        },
    )
    assert sent.status_code == 303, sent.text
    (made,) = offers_of(engine, "mart")
    assert sent.headers["location"] == f"/partner/offers/{made.id}?done=offer_proposed"
    seen = browser.get(
        f"/api/v1/offers/{made.id}", headers=bearer(client_token(browser, "mart"))
    ).json()  # what the API says of it: the same offer
    assert (seen["status"], seen["title"], seen["value_yuan"], seen["cost_points"]) == (
        "proposed",
        "菜籽油一桶",
        "50.00",
        100,
    )
    assert (seen["stock"], seen["per_household_limit"], seen["village_ids"]) == (20, 2, [world.village_a.village_id])
    assert abs(as_utc(made.valid_from) - start) < timedelta(minutes=1)  # typed in county time, kept in UTC

    opened = browser.get(sent.headers["location"])
    assert "等待县里审核" in opened.text and "已报县里审核" in opened.text
    assert 'data-action="add-slot"' not in opened.text  # slots are a clinic's
    row = browser.get("/partner/offers").text.split(f'data-offer-id="{made.id}"')[1].split("</tr>")[0]
    assert 'data-offer-status="proposed"' in row and "等待县里审核" in row and 'data-action="withdraw"' in row

    withdrawn = post_from(browser, f"/partner/offers/{made.id}", f"/partner/offers/{made.id}/withdraw")
    assert withdrawn.status_code == 303
    assert offer_row(engine, not_none(made.id)).status == "withdrawn"
    after = browser.get(withdrawn.headers["location"])
    assert "已撤回" in after.text and 'data-action="withdraw"' not in after.text


def test_an_offer_form_filled_wrongly_comes_back_with_the_reason_and_what_was_typed(
    browser: TestClient, engine: Engine, world: World
) -> None:
    as_staff(browser, "mart-staff")
    start = utcnow()
    good = {**VOUCHER_FORM, "valid_from": local(start), "valid_until": local(start + timedelta(days=60))}
    for wrong, words in (
        ({"cost_points": "一百"}, "兑换一份要多少积分"),
        ({"valid_until": local(start - timedelta(days=1))}, "请填写兑换项目截止的日期和时间"),
        ({"value_yuan": ""}, "请填写一份值多少元"),
        ({"title": ""}, "请给兑换项目起个名字"),
        ({"kind": "loan"}, "请选择兑换项目的种类"),  # a shop cannot offer loans, whatever is posted
        ({"village_ids": str(world.village_c.village_id)}, "本单位不服务这个村"),
    ):
        refused = post_from(browser, "/partner/offers/new", "/partner/offers", {**good, **wrong})
        assert refused.status_code == 422, (wrong, refused.text)
        assert words in refused.text, (wrong, refused.text)
        assert 'value="菜籽油一桶"' in refused.text or wrong == {"title": ""}  # what was typed stays
    assert offers_of(engine, "mart") == []  # nothing was made


def test_a_bank_proposes_a_loan_product_with_what_each_grade_may_borrow(
    browser: TestClient, engine: Engine, world: World
) -> None:
    as_staff(browser, "bank-staff")
    form = browser.get("/partner/offers/new")
    assert form.status_code == 200 and 'name="AA_max_amount_yuan"' in form.text and 'name="value_yuan"' not in form.text
    start = utcnow()
    base = {
        "kind": "loan",
        "title": "善治贷",
        "valid_from": local(start),
        "valid_until": local(start + timedelta(days=365)),
        "AAA_max_amount_yuan": "50000",
        "AAA_rate_discount_bp": "50",
        "AAA_term_months": "24",
        "AA_max_amount_yuan": "30000",
        "AA_rate_discount_bp": "30",
        "AA_term_months": "12",
    }
    half = post_from(browser, "/partner/offers/new", "/partner/offers", {**base, "A_max_amount_yuan": "1000"})
    assert half.status_code == 422 and "每个放贷的等级" in half.text
    sent = post_from(
        browser,
        "/partner/offers/new",
        "/partner/offers",
        {**base, "auto_min_grade": "AA", "auto_max_amount_yuan": "20000"},
    )
    assert sent.status_code == 303, sent.text
    (made,) = offers_of(engine, "bank")
    assert made.kind == "loan" and made.loan_terms == {
        "grades": {
            "AAA": {"max_amount_yuan": 50000, "rate_discount_bp": 50, "term_months": 24},
            "AA": {"max_amount_yuan": 30000, "rate_discount_bp": 30, "term_months": 12},
        },
        "auto_approve": {"min_grade": "AA", "max_amount_yuan": 20000},
    }
    assert "善治贷" in browser.get(f"/partner/offers/{made.id}").text


def test_a_clinic_adds_slots_to_its_health_check_and_a_wrong_slot_is_refused(
    browser: TestClient, engine: Engine, world: World
) -> None:
    as_staff(browser, "clinic-staff")
    start = utcnow()
    sent = post_from(
        browser,
        "/partner/offers/new",
        "/partner/offers",
        {
            **VOUCHER_FORM,
            "kind": "health_check",
            "title": "老年人健康体检",
            "value_yuan": "80",
            "cost_points": "60",
            "cancel_hours": "12",
            "no_show_penalty_points": "5",
            "valid_from": local(start),
            "valid_until": local(start + timedelta(days=90)),
        },
    )
    assert sent.status_code == 303, sent.text
    (made,) = offers_of(engine, "clinic")
    assert (made.kind, made.cancel_hours, made.no_show_penalty_points) == ("health_check", 12, 5)
    url = f"/partner/offers/{made.id}"
    opened = browser.get(url)
    assert 'data-action="add-slot"' in opened.text and "还没有时段" in opened.text

    day = (start + timedelta(days=5, hours=8)).strftime("%Y-%m-%d")
    slot_form = {"day": day, "starts": "09:00", "ends": "11:30", "place": "村卫生室", "capacity": "8"}
    added = post_from(browser, url, f"{url}/slots", slot_form)
    assert added.status_code == 303 and added.headers["location"] == f"{url}?done=slot_added"
    with Session(engine) as session:
        (slot,) = session.scalars(select(HealthSlot).where(col(HealthSlot.offer_id) == made.id)).all()
    assert (slot.place, slot.capacity) == ("村卫生室", 8)
    assert as_utc(slot.starts_at).strftime("%Y-%m-%d %H:%M") == f"{day} 01:00"  # 09:00 in Beijing time
    assert as_utc(slot.ends_at) - as_utc(slot.starts_at) == timedelta(hours=2, minutes=30)
    shown = browser.get(added.headers["location"])
    assert f'data-slot-id="{slot.id}"' in shown.text and "0 / 8" in shown.text and "村卫生室" in shown.text
    listed = browser.get(f"/api/v1/offers/{made.id}/slots", headers=bearer(client_token(browser, "clinic"))).json()
    assert [s["id"] for s in listed] == [slot.id]

    for wrong, words in (
        ({"ends": "08:00"}, "请填写时段结束的时间"),
        ({"capacity": "0"}, "请填写这个时段能约多少户"),
        ({"place": " "}, "请填写体检的地点"),
        ({"day": "明天"}, "请填写时段的日期和开始时间"),
    ):
        data = {"day": day, "starts": "14:00", "ends": "16:00", "place": "镇卫生院", "capacity": "5", **wrong}
        refused = post_from(browser, url, f"{url}/slots", data)
        assert refused.status_code == 422 and words in refused.text, (wrong, refused.text)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(HealthSlot)) == 1


def test_another_partner_villagers_and_officials_cannot_see_or_change_a_partners_offers(
    browser: TestClient, engine: Engine, world: World
) -> None:
    as_staff(browser, "mart-staff")
    start = utcnow()
    sent = post_from(
        browser,
        "/partner/offers/new",
        "/partner/offers",
        {**VOUCHER_FORM, "valid_from": local(start), "valid_until": local(start + timedelta(days=9))},
    )
    (made,) = offers_of(engine, "mart")
    assert sent.status_code == 303
    url = f"/partner/offers/{made.id}"

    as_staff(browser, "mart2-staff", language="en")
    assert f'data-offer-id="{made.id}"' not in browser.get("/partner/offers").text
    missing = browser.get(url)
    assert missing.status_code == 404 and "There is no such offer." in missing.text
    assert post_from(browser, "/partner/offers", f"{url}/withdraw").status_code == 404
    slot = {"day": "2030-01-01", "starts": "09:00", "ends": "10:00", "place": "x", "capacity": "1"}
    assert post_from(browser, "/partner/offers", f"{url}/slots", slot).status_code == 403  # slots: clinics only
    as_staff(browser, "clinic-staff", language="en")
    assert post_from(browser, "/partner/offers", f"{url}/slots", slot).status_code == 404  # not its offer
    assert offer_row(engine, not_none(made.id)).status == "proposed"

    for username in ("official-a", "admin"):
        as_staff(browser, username)
        for path in ("/partner/offers", "/partner/offers/new", url, "/partner/webhook"):
            assert browser.get(path).status_code == 403, (username, path)
    browser.cookies.clear()
    sign_in_villager(browser, world.villager_phone)
    assert browser.get("/partner/offers").status_code == 403
    assert browser.get("/partner/webhook").status_code == 403
    browser.cookies.clear()
    signed_out = browser.get("/partner/webhook")
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/signin")
    assert browser.post(f"{url}/withdraw", data={}).status_code in (303, 403)
    assert offer_row(engine, not_none(made.id)).status == "proposed"


# --- the webhook -----------------------------------------------------------------------------------------------


def shown_secret(html: str) -> str:
    found = SECRET_SHOWN.search(html)
    assert found, "the new secret is shown"
    return found.group(1)


def test_the_webhook_page_sets_the_url_shows_each_secret_once_and_the_old_one_signs_through_the_overlap(
    browser: TestClient, engine: Engine, world: World
) -> None:
    as_staff(browser, "bank-staff")
    page = browser.get("/partner/webhook")
    assert page.status_code == 200 and "推送设置" in page.text and "第一次保存网址时生成密钥" in page.text
    assert 'data-action="rotate"' not in page.text

    refused = post_from(browser, "/partner/webhook", "/partner/webhook", {"url": "http://10.0.0.8/hook"})
    assert refused.status_code == 422 and "这个网址从外面访问不到" in refused.text
    assert 'value="http://10.0.0.8/hook"' in refused.text  # what was typed stays to be put right
    with Session(engine) as session:
        bank = session.scalars(select(Partner).where(col(Partner.code) == "bank")).one()
        assert (bank.webhook_url, bank.webhook_secret) == (None, None)

    saved = post_from(browser, "/partner/webhook", "/partner/webhook", {"url": "https://bank.example/in"})
    assert saved.status_code == 200 and saved.headers["cache-control"] == "no-store"
    old = shown_secret(saved.text)
    assert "只显示这一次" in saved.text
    again = browser.get("/partner/webhook")
    assert "whsec_" not in again.text and 'value="https://bank.example/in"' in again.text
    moved = post_from(browser, "/partner/webhook", "/partner/webhook", {"url": "https://bank.example/v2"})
    assert moved.status_code == 303 and moved.headers["location"] == "/partner/webhook?done=webhook_saved"
    assert "whsec_" not in browser.get(moved.headers["location"]).text

    form = browser.get("/partner/webhook")
    replacing = re.search(r'name="replacing" value="([0-9a-f]{16})"', form.text)
    assert replacing and old not in form.text  # names the secret it replaces, without telling it
    rotate = {"csrf": csrf_of(form.text), "replacing": replacing.group(1)}
    rotated = browser.post("/partner/webhook/secret", data=rotate)
    assert rotated.status_code == 200
    new = shown_secret(rotated.text)
    resent = browser.post("/partner/webhook/secret", data=rotate)  # the answer reloaded: no second secret
    assert resent.status_code == 303 and resent.headers["location"] == "/partner/webhook?done=secret_already_new"
    assert "已经生成过新密钥" in browser.get(resent.headers["location"]).text
    assert new != old and "data-previous-until" in rotated.text and "旧密钥" in rotated.text
    assert "whsec_" not in browser.get("/partner/webhook").text  # shown once
    with Session(engine) as session:
        bank = session.scalars(select(Partner).where(col(Partner.code) == "bank")).one()
        assert bank.webhook_url == "https://bank.example/v2" and bank.webhook_secret == new
        until = as_utc(not_none(bank.webhook_previous_until))

    sent: list[tuple[dict[str, str], bytes]] = []

    def send(url: str, headers: dict[str, str], body: bytes) -> int:
        sent.append((headers, body))
        return 200

    for moment, old_verifies in ((None, True), (until - timedelta(seconds=1), True), (until, False)):
        enqueue(engine, world, "bank", "loan_application.created")
        assert webhooks.deliver_due(engine, moment or utcnow(), send=send) == 1
        headers, body = sent[-1]
        signature = headers["Shanzhi-Signature"]
        assert webhooks.verify(new, signature, body, now=time.time())
        assert webhooks.verify(old, signature, body, now=time.time()) is old_verifies


def test_a_failed_delivery_is_listed_and_sent_again_by_hand_to_a_local_receiver(
    browser: TestClient, engine: Engine, world: World, endpoint: Endpoint
) -> None:
    as_staff(browser, "clinic-staff")
    saved = post_from(browser, "/partner/webhook", "/partner/webhook", {"url": endpoint.url})
    assert saved.status_code == 200, saved.text
    endpoint.secret = shown_secret(saved.text)
    delivery_id = enqueue(engine, world, "clinic", "booking.created", {"booking_id": 4})
    send = webhooks.pinned_sender(webhooks.Reach(https_only=False, allowed=(LOCAL,)))
    t0 = utcnow()
    assert webhooks.deliver_due(engine, t0, send=send) == 0  # the receiver answers 500 the first time

    page = browser.get("/partner/webhook")
    row = page.text.split(f'data-delivery-id="{delivery_id}"')[1].split("</tr>")[0]
    assert "有人预约了体检" in row and "对方系统回答 500" in row and 'data-action="retry"' in row
    assert "<td>1</td>" in row  # one try so far

    as_staff(browser, "mart-staff")  # another partner: its list has none, and the delivery looks missing to it
    assert delivery_id not in browser.get("/partner/webhook").text
    other = post_from(browser, "/partner/webhook", f"/partner/webhook/deliveries/{delivery_id}/retry")
    assert other.status_code == 404 and "没有这条推送记录" in other.text
    assert delivery(engine, delivery_id).retry_requested_at is None

    as_staff(browser, "clinic-staff")
    queued = post_from(browser, "/partner/webhook", f"/partner/webhook/deliveries/{delivery_id}/retry")
    assert queued.status_code == 303 and queued.headers["location"] == "/partner/webhook?done=delivery_queued"
    assert "几秒钟内重新发送" in browser.get(queued.headers["location"]).text
    assert as_utc(delivery(engine, delivery_id).next_attempt_at) < t0 + timedelta(seconds=30)  # due now
    assert webhooks.deliver_due(engine, utcnow(), send=send) == 1  # the scheduled job's next run sends it
    assert [r["headers"]["Shanzhi-Delivery"] for r in endpoint.requests] == [delivery_id, delivery_id]
    assert all(r["valid"] for r in endpoint.requests)
    assert json.loads(endpoint.requests[1]["body"])["data"] == {"booking_id": 4}

    after = browser.get("/partner/webhook")
    assert f'data-delivery-id="{delivery_id}"' not in after.text and f'data-recent-id="{delivery_id}"' in after.text
    delivered = browser.post(f"/partner/webhook/deliveries/{delivery_id}/retry", data={"csrf": csrf_of(after.text)})
    assert delivered.status_code == 409 and "这条消息已经送达，不再重发" in delivered.text
    assert browser.post(f"/partner/webhook/deliveries/{delivery_id}/retry", data={}).status_code == 403  # no csrf
    assert len(endpoint.requests) == 2
    with Session(engine) as session:
        row_after = not_none(session.get(WebhookDelivery, delivery_id))
        assert (row_after.attempts, row_after.last_status) == (2, 204)


def test_a_delivery_given_up_on_says_so_and_still_can_be_sent_again(
    browser: TestClient, engine: Engine, world: World
) -> None:
    token = bearer(password_token(browser, "mart-staff"))
    browser.put("/api/v1/partners/me/webhook", json={"url": "https://mart.example/in"}, headers=token)
    delivery_id = enqueue(engine, world, "mart", "voucher.expired")

    def unreachable(url: str, headers: dict[str, str], body: bytes) -> int:
        raise OSError("connection refused")

    now = utcnow()
    for _ in range(webhooks.MAX_ATTEMPTS):
        webhooks.deliver_due(engine, now, send=unreachable)
        now = as_utc(delivery(engine, delivery_id).next_attempt_at)
    as_staff(browser, "mart-staff", language="en")
    row = browser.get("/partner/webhook").text.split(f'data-delivery-id="{delivery_id}"')[1].split("</tr>")[0]
    assert f"Stopped after {webhooks.MAX_ATTEMPTS} tries" in row and "Could not connect" in row
    assert "A voucher ran out" in row
    queued = post_from(browser, "/partner/webhook", f"/partner/webhook/deliveries/{delivery_id}/retry")
    assert queued.status_code == 303
    row = browser.get("/partner/webhook").text.split(f'data-delivery-id="{delivery_id}"')[1].split("</tr>")[0]
    assert "Stopped after" not in row  # it has its one more try waiting


def test_the_pages_follow_the_staff_scopes_as_the_api_does(
    browser: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offers and the webhook need offers:manage on the pages too: staff of a kind without it are refused."""
    as_staff(browser, "mart-staff")
    assert browser.get("/partner/offers").status_code == 200
    monkeypatch.setitem(principal.STAFF_SCOPES, "merchant", frozenset({"vouchers:consume", "settlement:read"}))
    for path in ("/partner/offers", "/partner/offers/new", "/partner/webhook"):
        assert browser.get(path).status_code == 403, path
    assert browser.get("/till").status_code == 200  # the till needs no such scope
