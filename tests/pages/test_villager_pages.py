"""The villager's pages: what the household sees of its points, claims, rating, consents and vouchers, and that
what a page refuses changes nothing."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api import i18n
from api.pages.messages import ERRORS
from tests.api.claiming import claim, code_of, decide, new_activity, photo
from tests.api.conftest import World, bearer, password_token, villager_token
from tests.api.redeeming import available, give_points, offer
from tests.api.test_bookings_and_settlement import health_check
from tests.api.test_credit import give_history
from tests.api.test_loans import loan_product
from tests.factories import not_none
from tests.pages.conftest import csrf_of, form_post, sign_in_villager


def number(html: str, hook: str) -> int:
    found = re.search(rf'data-balance="{hook}">(-?\d+)<', html)
    assert found, f"no {hook} balance on the page"
    return int(found.group(1))


@pytest.fixture
def villager(browser: TestClient, world: World) -> str:
    """A bearer token for household A1 (to set data up and ask the API), and the browser signed in as its head."""
    token = villager_token(browser, world.villager_phone)
    sign_in_villager(browser, world.villager_phone)
    return token


def test_my_household_shows_the_balance_the_api_has_after_an_approved_claim(
    browser: TestClient, world: World, villager: str
) -> None:
    official = password_token(browser, "official-a")
    activity = new_activity(browser, official, world.village_a.village_id, "courtyard_hygiene")
    made = claim(browser, villager, code_of(activity), evidence_ids=[photo(browser, villager)]).json()
    pending = browser.get("/me")
    assert pending.status_code == 200
    assert number(pending.text, "pending") == 3
    assert f'data-claim-id="{made["id"]}" data-claim-status="pending"' in pending.text

    assert decide(browser, official, made["id"]).status_code == 201
    page = browser.get("/me")
    api = browser.get(f"/api/v1/households/{world.household_a1}/balance", headers=bearer(villager)).json()
    assert (
        (number(page.text, "settled"), number(page.text, "in_notice"), number(page.text, "pending"))
        == (api["posted"], api["in_notice"], api["pending_in"])
        == (0, 3, 0)
    )
    assert f'data-claim-id="{made["id"]}" data-claim-status="approved"' in page.text
    assert 'id="notice-board"' in page.text and 'id="leaderboard"' in page.text
    assert page.headers["cache-control"] == "no-store"

    # times are the county's (Asia/Shanghai here), not the server's
    sent_at = datetime.fromisoformat(made["submitted_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    row = page.text.split(f'data-claim-id="{made["id"]}"')[1].split("</li>")[0]
    assert i18n.when(sent_at, "zh_CN", timezone="Asia/Shanghai") in row  # 12月1日 06:50

    # the leaderboards: this month by default, the quarter and the year one tap away
    year = browser.get("/me?period=year")
    assert re.search(r'id="leaderboard-title">[^<]*· \d{4}年</h2>', year.text)
    assert 'href="?period=year#leaderboard" aria-current="true"' in year.text
    assert re.search(
        r'id="leaderboard-title">[^<]*· \d{4}年第[一二三四]季度</h2>', browser.get("/me?period=quarter").text
    )
    assert browser.get("/me?period=decade").status_code == 422  # refused plainly, not a 500


def test_a_rejected_claim_shows_its_reason_and_can_be_appealed(
    browser: TestClient, world: World, villager: str
) -> None:
    official = password_token(browser, "official-a")
    made = claim(browser, villager, code_of(new_activity(browser, official, world.village_a.village_id))).json()
    decide(browser, official, made["id"], "reject", reason="Nobody saw you at the clean-up.")
    page = browser.get("/me")
    assert f'data-claim-id="{made["id"]}" data-claim-status="rejected"' in page.text
    assert "Nobody saw you at the clean-up." in page.text
    assert f'href="/me/appeal?claim_id={made["id"]}"' in page.text

    form = browser.get(f"/me/appeal?claim_id={made['id']}")
    assert form.status_code == 200 and "Nobody saw you at the clean-up." in form.text
    key = form.text.split('name="key" value="')[1].split('"')[0]
    sent = browser.post(
        "/me/appeal",
        data={
            "csrf": csrf_of(form.text),
            "key": key,
            "claim_id": str(made["id"]),
            "reason": "I was there, ask the team leader.",
        },
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/me?done=appealed"
    disputes = browser.get("/api/v1/disputes", headers=bearer(villager)).json()
    assert [(d["kind"], d["claim_id"], d["reason"]) for d in disputes] == [
        ("appeal", made["id"], "I was there, ask the team leader.")
    ]
    after = browser.get(sent.headers["location"])
    assert 'class="notice"' in after.text
    assert f'href="/me/appeal?claim_id={made["id"]}"' not in after.text  # appealed once; no second button


def test_a_rejection_past_its_appeal_days_offers_no_appeal(
    browser: TestClient, world: World, engine: Engine, villager: str
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from ledger.claims.models import Claim
    from ledger.core.base import utcnow
    from ledger.core.db import unit_of_work

    official = password_token(browser, "official-a")
    made = claim(browser, villager, code_of(new_activity(browser, official, world.village_a.village_id))).json()
    decide(browser, official, made["id"], "reject", reason="Nobody saw you at the clean-up.")
    with unit_of_work(engine) as session:
        session.execute(update(Claim).where(Claim.id == made["id"]).values(decided_at=utcnow() - timedelta(days=8)))
    row = browser.get("/me").text.split(f'data-claim-id="{made["id"]}"')[1].split("</li>")[0]
    assert 'data-action="appeal"' not in row and "data-appeal-closed" in row  # says so, instead of a dead button


def test_consents_given_and_taken_back_on_the_page_are_what_the_api_says(
    browser: TestClient, world: World, villager: str
) -> None:
    page = browser.get("/me/rating")
    assert page.status_code == 200 and 'class="grade"' in page.text
    bank = next(
        b
        for b in browser.get("/api/v1/partners", params={"kind": "bank"}, headers=bearer(villager)).json()
        if b["name"] == "bank"
    )
    given = browser.post(
        "/me/consents",
        data={
            "csrf": csrf_of(page.text),
            "partner_id": str(bank["id"]),
            "purpose": "loan_preapproval",
            "scope": "grade",
            "days": "30",
        },
    )
    assert given.status_code == 303 and given.headers["location"] == "/me/rating?done=consent_given"
    consents = browser.get("/api/v1/consents", headers=bearer(villager)).json()
    assert [(c["partner_id"], c["scope"], c["active"]) for c in consents] == [(bank["id"], "grade", True)]
    shown = browser.get("/me/rating")
    assert f'data-consent-id="{consents[0]["id"]}"' in shown.text

    revoked = browser.post(f"/me/consents/{consents[0]['id']}/revoke", data={"csrf": csrf_of(shown.text)})
    assert revoked.status_code == 303
    assert browser.get("/api/v1/consents", headers=bearer(villager)).json()[0]["active"] is False
    assert f'data-consent-id="{consents[0]["id"]}"' not in browser.get("/me/rating").text

    asked = form_post(browser, "/me/rating/review", {"reason": "My deduction was revoked."}, from_page="/me/rating")
    assert asked.status_code == 303 and asked.headers["location"] == "/me/rating?done=review_asked"
    following = browser.get(asked.headers["location"]).text  # the request, waiting for the village
    assert 'data-review-status="open"' in following and "My deduction was revoked." in following


def test_redeeming_shows_the_voucher_with_its_pin_and_the_balance_drops(
    browser: TestClient, world: World, engine: Engine, villager: str
) -> None:
    give_points(engine, world.household_a1, 150)
    shop = offer(browser, cost_points=100, stock=5)
    page = browser.get("/me/redeem")
    assert f'data-offer-id="{shop["id"]}"' in page.text and 'data-action="redeem"' in page.text
    key = not_none(re.search(rf'name="key" value="([^"]+-{shop["id"]})"', page.text)).group(1)
    done = browser.post("/me/redeem", data={"csrf": csrf_of(page.text), "key": key, "offer_id": str(shop["id"])})
    assert done.status_code == 303 and done.headers["location"] == "/me/redeem?done=redeemed"

    assert available(browser, villager, world.household_a1) == 50
    after = browser.get(done.headers["location"])
    voucher = browser.get("/api/v1/vouchers", headers=bearer(villager)).json()[0]
    assert f'data-voucher-code="{voucher["code"]}" data-voucher-status="active"' in after.text
    assert f"<strong data-pin>{voucher['pin']}</strong>" in after.text
    assert f'<img class="qr" src="/me/vouchers/{voucher["code"]}/qr.svg"' in after.text
    assert number(after.text, "settled") == 150  # held, not yet spent: 50 can be spent now
    assert "50" in after.text.split('id="offers"')[0]
    qr = browser.get(f"/me/vouchers/{voucher['code']}/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.headers["cache-control"] == "no-store"

    again = browser.post("/me/redeem", data={"csrf": csrf_of(page.text), "key": key, "offer_id": str(shop["id"])})
    assert again.status_code in (303, 409)  # the same form sent twice redeems once
    assert len(browser.get("/api/v1/vouchers", headers=bearer(villager)).json()) == 1

    cancelled = browser.post(f"/me/vouchers/{voucher['code']}/cancel", data={"csrf": csrf_of(after.text)})
    assert cancelled.status_code == 303 and cancelled.headers["location"] == "/me/redeem?done=cancelled"
    assert available(browser, villager, world.household_a1) == 150


def test_a_redeem_the_household_cannot_afford_is_refused_plainly_and_changes_nothing(
    browser: TestClient, world: World, engine: Engine, villager: str
) -> None:
    give_points(engine, world.household_a1, 40)
    dear = offer(browser, cost_points=100, stock=5)
    page = browser.get("/me/redeem")
    offer_html = page.text.split(f'data-offer-id="{dear["id"]}"')[1].split("</li>")[0]
    assert "data-cannot-afford" in offer_html
    key = not_none(re.search(rf'name="key" value="([^"]+-{dear["id"]})"', page.text)).group(1)
    refused = browser.post("/me/redeem", data={"csrf": csrf_of(page.text), "key": key, "offer_id": str(dear["id"])})
    assert refused.status_code in (403, 409, 422)
    plain = i18n.translations("zh_CN").gettext(ERRORS["insufficient_points"])  # zh-CN is the default
    assert plain in refused.text and 'data-code="insufficient_points"' in refused.text
    assert available(browser, villager, world.household_a1) == 40
    assert browser.get("/api/v1/vouchers", headers=bearer(villager)).json() == []
    assert browser.get(f"/api/v1/offers/{dear['id']}", headers=bearer(villager)).json()["issued"] == 0


def test_another_households_voucher_qr_is_refused(
    browser: TestClient, world: World, engine: Engine, villager: str
) -> None:
    neighbour = villager_token(browser, "13900000002")
    give_points(engine, world.household_a2, 100)
    shop = offer(browser, cost_points=100)
    made = browser.post(
        "/api/v1/redemptions",
        json={"offer_id": shop["id"]},
        headers={**bearer(neighbour), "Idempotency-Key": "neighbour-1"},
    )
    assert made.status_code == 201, made.text
    code = made.json()["code"]
    refused = browser.get(f"/me/vouchers/{code}/qr.svg")
    assert refused.status_code == 404
    assert "svg" not in refused.headers["content-type"]
    assert code not in browser.get("/me/redeem").text
    cancel = form_post(browser, f"/me/vouchers/{code}/cancel", {}, from_page="/me/redeem")
    assert cancel.status_code == 404
    assert browser.get(f"/api/v1/vouchers/{code}", headers=bearer(neighbour)).json()["status"] == "active"


def test_a_post_without_csrf_is_refused_and_changes_nothing(
    browser: TestClient, world: World, engine: Engine, villager: str
) -> None:
    give_points(engine, world.household_a1, 150)
    shop = offer(browser, cost_points=100)
    refused = browser.post("/me/redeem", data={"key": "no-csrf-key-1", "offer_id": str(shop["id"])})
    assert refused.status_code == 403 and "csrf_failed" in refused.text
    forged = browser.post("/me/rating/review", data={"csrf": "0" * 64, "reason": "forged"})
    assert forged.status_code == 403
    assert available(browser, villager, world.household_a1) == 150
    assert browser.get("/api/v1/vouchers", headers=bearer(villager)).json() == []


def test_elder_mode_is_remembered_across_sign_ins(browser: TestClient, world: World, villager: str) -> None:
    page = browser.get("/me")
    assert '<body class="elder' not in page.text
    toggled = browser.post("/prefs/elder", data={"csrf": csrf_of(page.text), "next": "/me"})
    assert toggled.status_code == 303
    assert 'id="statement"' in page.text  # the statement is in place on the normal page
    elder = browser.get("/me").text
    assert '<body class="elder' in elder
    # one action per screen: the statement is a button to a screen of its own, which shows it
    assert 'id="statement"' not in elder and 'href="?only=statement"' in elder
    alone = browser.get("/me?only=statement").text
    assert 'id="statement"' in alone and '<body class="elder only' in alone and 'data-action="back"' in alone

    out = form_post(browser, "/signout", {}, from_page="/me")
    assert out.status_code == 303
    assert browser.get("/me").status_code == 303  # signed out
    sign_in_villager(browser, world.villager_phone)
    assert '<body class="elder' in browser.get("/me").text


def test_the_pages_are_for_villagers_only(browser: TestClient, world: World) -> None:
    from tests.pages.conftest import sign_in_staff

    sign_in_staff(browser, "official-a")
    for path in ("/me", "/me/rating", "/me/redeem"):
        assert browser.get(path).status_code == 403


def test_a_health_check_is_booked_on_a_slot_picked_on_the_page(
    browser: TestClient, world: World, engine: Engine, villager: str
) -> None:
    give_points(engine, world.household_a1, 100)
    check, slots = health_check(browser)
    page = browser.get("/me/redeem")
    assert 'id="health-checks"' in page.text and f'<option value="{slots[1]["id"]}"' in page.text
    key = not_none(re.search(rf'name="key" value="([^"]+-{check["id"]})"', page.text)).group(1)
    booked = browser.post(
        "/me/redeem",
        data={"csrf": csrf_of(page.text), "key": key, "offer_id": str(check["id"]), "slot_id": str(slots[1]["id"])},
    )
    assert booked.status_code == 303 and booked.headers["location"] == "/me/redeem?done=booked"
    voucher = browser.get("/api/v1/vouchers", headers=bearer(villager)).json()[0]
    assert voucher["slot"]["id"] == slots[1]["id"]
    assert available(browser, villager, world.household_a1) == 40
    assert f'data-voucher-code="{voucher["code"]}" data-voucher-status="active"' in browser.get("/me/redeem").text


def test_a_loan_applied_for_on_the_page_is_followed_there(browser: TestClient, world: World, engine: Engine) -> None:
    give_history(engine, world, world.household_a1)  # rated AA
    product = loan_product(browser)
    token = villager_token(browser, world.villager_phone)
    sign_in_villager(browser, world.villager_phone)
    page = browser.get("/me/redeem")
    assert 'id="loans"' in page.text and 'data-action="apply"' in page.text
    key = not_none(re.search(rf'name="key" value="([^"]+-loan-{product})"', page.text)).group(1)
    sent = browser.post(
        "/me/loans",
        data={
            "csrf": csrf_of(page.text),
            "key": key,
            "offer_id": str(product),
            "amount_yuan": "20000",
            "term_months": "12",
            "purpose": "买化肥和种子",
        },
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/me/redeem?done=applied"
    mine = browser.get("/api/v1/loan-applications", headers=bearer(token)).json()
    assert [(a["amount_yuan"], a["term_months"]) for a in mine] == [(20_000, 12)]
    shown = browser.get("/me/redeem").text
    assert f'data-application-id="{mine[0]["id"]}" data-application-status="{mine[0]["status"]}"' in shown
