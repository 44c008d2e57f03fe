"""Vouchers from redemption to use: points held, posted once, given back on expiry or cancellation."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import col

from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.identity import principal
from ledger.identity.models import User
from ledger.journal import verify
from ledger.tenancy import Person
from redemption import schedule, vouchers
from redemption.models import Voucher, WebhookDelivery
from tests.api.conftest import World, bearer, client_token, password_token, villager_token
from tests.api.redeeming import available, give_points, offer, partner_principal, propose, redeem
from tests.concurrently import run_together
from tests.factories import id_of


def test_a_voucher_holds_the_points_and_the_merchant_uses_it_once(
    client: TestClient, engine: Engine, world: World
) -> None:
    give_points(engine, world.household_a1, 300)
    token = villager_token(client, world.villager_phone)
    o = offer(client)
    response = redeem(client, token, o["id"])
    assert response.status_code == 201, response.text
    voucher = response.json()
    assert voucher["status"] == "active" and voucher["points"] == 100 and voucher["value_yuan"] == "50.00"
    assert len(voucher["code"]) == 16 and len(voucher["pin"]) == 6
    assert voucher["qr_text"] == f"SZV1:{voucher['code']}:" + voucher["qr_text"].split(":")[2]
    assert available(client, token, world.household_a1) == 200  # held, not spent yet
    assert client.get(voucher["qr_svg_url"], headers=bearer(token)).text.startswith("<svg")

    mart = bearer(client_token(client, "mart"))
    seen = client.get(f"/api/v1/vouchers/{voucher['code']}", headers=mart).json()
    assert "pin" not in seen or seen["pin"] is None  # the cashier asks for it; it is not shown to them
    used = client.post(f"/api/v1/vouchers/{voucher['code']}/consume", json={"pin": voucher["pin"]}, headers=mart)
    assert used.status_code == 200, used.text
    assert used.json()["status"] == "used"
    assert [e["event"] for e in used.json()["history"]] == ["issued", "consumed"]
    assert client.get(f"/api/v1/households/{world.household_a1}/balance", headers=bearer(token)).json()["posted"] == 200

    again = client.post(f"/api/v1/vouchers/{voucher['code']}/consume", json={"pin": voucher["pin"]}, headers=mart)
    assert again.status_code == 409 and again.json()["code"] == "voucher_already_used"
    assert again.json()["used_where"] == "mart" and again.json()["used_at"]
    assert again.json()["voucher_code"] == voucher["code"]  # the problem's own `code` stays the error's code
    with unit_of_work(engine) as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(col(WebhookDelivery.event) == "voucher.consumed")
            )
            == 1
        )
        assert verify.verify(session).ok


def test_the_scanned_qr_code_stands_for_the_pin_and_wrong_pins_lock_the_pin(
    client: TestClient, engine: Engine, world: World
) -> None:
    give_points(engine, world.household_a1, 300)
    token = villager_token(client, world.villager_phone)
    voucher = redeem(client, token, offer(client)["id"]).json()
    mart = bearer(client_token(client, "mart"))
    url = f"/api/v1/vouchers/{voucher['code']}/consume"
    wrong = "000000" if voucher["pin"] != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        response = client.post(url, json={"pin": wrong}, headers=mart)
        assert response.status_code == 403 and response.json()["code"] == "wrong_pin"
        assert response.json()["attempts_left"] == left and response.json()["voucher_code"] == voucher["code"]
    locked = client.post(url, json={"pin": voucher["pin"]}, headers=mart)
    assert locked.status_code == 409 and locked.json()["code"] == "voucher_pin_locked"
    forged = client.post(url, json={"qr": f"SZV1:{voucher['code']}:not-the-key"}, headers=mart)
    assert forged.status_code == 403
    assert client.post(url, json={}, headers=mart).json()["code"] == "pin_or_qr_required"
    scanned = client.post(url, json={"qr": voucher["qr_text"]}, headers=mart)
    assert scanned.status_code == 200 and scanned.json()["status"] == "used"


def test_part_of_a_value_voucher_is_paid_and_the_rest_stays_held(
    client: TestClient, engine: Engine, world: World
) -> None:
    give_points(engine, world.household_a1, 100)
    token = villager_token(client, world.villager_phone)
    voucher = redeem(client, token, offer(client)["id"]).json()
    mart = bearer(client_token(client, "mart"))
    url = f"/api/v1/vouchers/{voucher['code']}/consume"
    too_much = client.post(url, json={"pin": voucher["pin"], "amount": "50.01"}, headers=mart)
    assert too_much.status_code == 422 and too_much.json()["code"] == "amount_exceeds_value"
    part = client.post(url, json={"pin": voucher["pin"], "amount": "30.00"}, headers=mart).json()
    assert part["status"] == "active" and part["remaining_yuan"] == "20.00" and part["remaining_points"] == 40
    balance = client.get(f"/api/v1/households/{world.household_a1}/balance", headers=bearer(token)).json()
    assert balance["posted"] == 40 and balance["held"] == 40 and balance["available"] == 0
    rest = client.post(url, json={"pin": voucher["pin"]}, headers=mart).json()
    assert rest["status"] == "used" and rest["remaining_yuan"] == "0.00"
    assert [(e["event"], e["value_yuan"], e["points"]) for e in rest["history"]] == [
        ("issued", "50.00", 100),
        ("consumed", "30.00", 60),
        ("consumed", "20.00", 40),
    ]
    with unit_of_work(engine) as session:
        assert verify.verify(session).ok


def _use_part(client: TestClient, mart: dict[str, str], voucher: dict[str, Any], amount: str) -> dict[str, Any]:
    used = client.post(
        f"/api/v1/vouchers/{voucher['code']}/consume", json={"pin": voucher["pin"], "amount": amount}, headers=mart
    )
    assert used.status_code == 200, used.text
    return dict(used.json())


def test_a_value_voucher_used_in_many_parts_stays_usable_until_its_value_is_used_up(
    client: TestClient, engine: Engine, world: World
) -> None:
    """A 10.00 voucher for 2 points: 3.00, 3.00 and then exactly the 4.00 left, all accepted; the partner gets the
    voucher's 2 points in all and the household keeps none of them back."""
    give_points(engine, world.household_a1, 2)
    token = villager_token(client, world.villager_phone)
    voucher = redeem(client, token, offer(client, value_yuan="10.00", cost_points=2)["id"]).json()
    mart = bearer(client_token(client, "mart"))
    first = _use_part(client, mart, voucher, "3.00")
    assert (first["status"], first["remaining_yuan"]) == ("active", "7.00")
    second = _use_part(client, mart, voucher, "3.00")
    assert (second["status"], second["remaining_yuan"]) == ("active", "4.00")
    too_much = client.post(
        f"/api/v1/vouchers/{voucher['code']}/consume", json={"pin": voucher["pin"], "amount": "4.01"}, headers=mart
    )
    assert too_much.status_code == 422 and too_much.json()["code"] == "amount_exceeds_value"
    last = _use_part(client, mart, voucher, "4.00")
    assert (last["status"], last["remaining_yuan"], last["remaining_points"]) == ("used", "0.00", 0)
    uses = [(e["value_yuan"], e["points"]) for e in last["history"] if e["event"] == "consumed"]
    assert [value for value, _ in uses] == ["3.00", "3.00", "4.00"] and sum(p for _, p in uses) == 2
    balance = client.get(f"/api/v1/households/{world.household_a1}/balance", headers=bearer(token)).json()
    assert balance["posted"] == 0 and balance["held"] == 0
    month = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    settled = client.get("/api/v1/settlement", params={"month": month}, headers=mart).json()
    assert settled["value_yuan"] == "10.00" and settled["points"] == settled["ledger_points"] == 2
    assert settled["reconciled"] is True
    with unit_of_work(engine) as session:
        assert verify.verify(session).ok


def test_ten_small_uses_pay_the_partner_in_proportion_and_use_the_voucher_up_exactly(
    client: TestClient, engine: Engine, world: World
) -> None:
    give_points(engine, world.household_a1, 3)
    token = villager_token(client, world.villager_phone)
    voucher = redeem(client, token, offer(client, value_yuan="10.00", cost_points=3)["id"]).json()
    mart = bearer(client_token(client, "mart"))
    seen = [_use_part(client, mart, voucher, "1.00") for _ in range(10)]
    assert [s["status"] for s in seen] == ["active"] * 9 + ["used"]
    assert [s["remaining_yuan"] for s in seen] == [f"{n}.00" for n in range(9, -1, -1)]
    paid = [e["points"] for e in seen[-1]["history"] if e["event"] == "consumed"]
    assert sum(paid) == 3 and all(sum(paid[:n]) <= 3 * n / 10 + 0.5 for n in range(1, 11))  # never ahead of use
    with unit_of_work(engine) as session:
        assert verify.verify(session).ok


def test_the_rest_of_a_part_used_voucher_goes_back_to_the_household_when_it_expires(
    client: TestClient, engine: Engine, world: World
) -> None:
    give_points(engine, world.household_a1, 2)
    token = villager_token(client, world.villager_phone)
    voucher = redeem(client, token, offer(client, value_yuan="10.00", cost_points=2, voucher_days=7)["id"]).json()
    mart = bearer(client_token(client, "mart"))
    _use_part(client, mart, voucher, "3.00")
    rest = _use_part(client, mart, voucher, "3.00")
    assert (rest["status"], rest["remaining_yuan"], rest["remaining_points"]) == ("active", "4.00", 1)
    assert available(client, token, world.household_a1) == 0
    report = schedule.tick(engine, now=utcnow() + timedelta(days=7, minutes=1))
    assert report.done["expire_vouchers"] == 1
    assert available(client, token, world.household_a1) == 1  # the rest's point is the household's again
    seen = client.get(f"/api/v1/vouchers/{voucher['code']}", headers=bearer(token)).json()
    assert seen["status"] == "expired"
    assert [(e["event"], e["points"]) for e in seen["history"]][-1] == ("expired", 1)
    with unit_of_work(engine) as session:
        assert verify.verify(session).ok


def test_an_expired_voucher_gives_the_points_back_and_cannot_be_used(
    client: TestClient, engine: Engine, world: World
) -> None:
    give_points(engine, world.household_a1, 100)
    token = villager_token(client, world.villager_phone)
    o = offer(client, voucher_days=7, stock=1)
    voucher = redeem(client, token, o["id"]).json()
    assert available(client, token, world.household_a1) == 0
    report = schedule.tick(engine, now=utcnow() + timedelta(days=7, minutes=1))
    assert report.done["expire_vouchers"] == 1
    assert available(client, token, world.household_a1) == 100
    seen = client.get(f"/api/v1/vouchers/{voucher['code']}", headers=bearer(token)).json()
    assert seen["status"] == "expired" and [e["event"] for e in seen["history"]] == ["issued", "expired"]
    late = client.post(
        f"/api/v1/vouchers/{voucher['code']}/consume",
        json={"pin": voucher["pin"]},
        headers=bearer(client_token(client, "mart")),
    )
    assert late.status_code == 409 and late.json()["code"] == "voucher_expired"
    assert redeem(client, token, o["id"]).status_code == 409  # the household's one per month was taken
    assert client.get(f"/api/v1/offers/{o['id']}", headers=bearer(token)).json()["issued"] == 0  # stock is back


def test_a_voucher_past_its_time_is_refused_even_before_the_job_runs(
    engine: Engine, client: TestClient, world: World
) -> None:
    give_points(engine, world.household_a1, 100)
    token = villager_token(client, world.villager_phone)
    voucher = redeem(client, token, offer(client, voucher_days=1)["id"]).json()
    with unit_of_work(engine) as session:
        with pytest.raises(vouchers.VoucherExpired):
            vouchers.consume(
                session,
                partner_principal(session, "mart"),
                code=voucher["code"],
                pin=voucher["pin"],
                now=utcnow() + timedelta(days=2),
            )


def test_the_household_cancels_an_unused_voucher(client: TestClient, engine: Engine, world: World) -> None:
    give_points(engine, world.household_a1, 100)
    token = villager_token(client, world.villager_phone)
    voucher = redeem(client, token, offer(client)["id"]).json()
    other = villager_token(client, "13900000002")
    assert client.post(f"/api/v1/vouchers/{voucher['code']}/cancel", headers=bearer(other)).status_code == 404
    cancelled = client.post(f"/api/v1/vouchers/{voucher['code']}/cancel", headers=bearer(token))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert available(client, token, world.household_a1) == 100
    twice = client.post(f"/api/v1/vouchers/{voucher['code']}/cancel", headers=bearer(token))
    assert twice.status_code == 409 and twice.json()["code"] == "voucher_closed"


def test_redeeming_is_idempotent_and_refused_without_points(client: TestClient, engine: Engine, world: World) -> None:
    give_points(engine, world.household_a1, 150)
    token = villager_token(client, world.villager_phone)
    o = offer(client, per_household_limit=5)
    headers = {**bearer(token), "Idempotency-Key": "redeem-1"}
    first = client.post("/api/v1/redemptions", json={"offer_id": o["id"]}, headers=headers)
    replay = client.post("/api/v1/redemptions", json={"offer_id": o["id"]}, headers=headers)
    assert first.status_code == 201 and replay.status_code == 200
    assert replay.headers["Idempotency-Replayed"] == "true" and replay.json()["code"] == first.json()["code"]
    poor = redeem(client, token, o["id"])
    assert poor.status_code == 409 and poor.json()["code"] == "insufficient_points"
    assert available(client, token, world.household_a1) == 50
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Voucher)) == 1


def test_offers_are_refused_with_the_reason(client: TestClient, engine: Engine, world: World) -> None:
    give_points(engine, world.household_a1, 1000)
    token = villager_token(client, world.villager_phone)
    proposed = propose(client)
    assert redeem(client, token, proposed["id"]).json()["code"] == "offer_not_found"  # not approved yet
    elsewhere = offer(client, village_ids=[world.village_b.village_id])
    response = redeem(client, token, elsewhere["id"])
    assert response.status_code == 403 and response.json()["code"] == "offer_not_for_your_village"
    graded = offer(client, min_grade="A")
    response = redeem(client, token, graded["id"])
    assert response.status_code == 403 and response.json()["code"] == "grade_too_low"
    assert response.json()["grade"] == "NR"
    scarce = offer(client, stock=1, per_household_limit=3)
    assert redeem(client, token, scarce["id"]).status_code == 201
    assert redeem(client, token, scarce["id"]).json()["code"] == "out_of_stock"
    limited = offer(client, per_household_limit=1)
    assert redeem(client, token, limited["id"]).status_code == 201
    assert redeem(client, token, limited["id"]).json()["code"] == "household_limit_reached"
    listed = {o["id"]: o for o in client.get("/api/v1/offers", headers=bearer(token)).json()}
    assert elsewhere["id"] not in listed and proposed["id"] not in listed
    assert listed[graded["id"]]["eligible"] is False and listed[limited["id"]]["affordable"] is True


def test_prices_partners_and_households_in_the_body_are_refused(
    client: TestClient, engine: Engine, world: World
) -> None:
    give_points(engine, world.household_a1, 1000)
    token = villager_token(client, world.villager_phone)
    o = offer(client)
    for extra in ({"cost_points": 1}, {"household_id": world.household_a2}, {"partner_id": 1}, {"points": 1}):
        response = client.post(
            "/api/v1/redemptions",
            json={"offer_id": o["id"], **extra},
            headers={**bearer(token), "Idempotency-Key": f"x-{extra}"},
        )
        assert response.status_code == 422, extra
    partner = client.post(
        "/api/v1/offers",
        json={
            "kind": "voucher",
            "title": "x",
            "value_yuan": "1",
            "cost_points": 1,
            "valid_from": utcnow().isoformat(),
            "valid_until": (utcnow() + timedelta(days=1)).isoformat(),
            "partner_id": 99,
        },
        headers=bearer(client_token(client, "mart")),
    )
    assert partner.status_code == 422


def test_who_may_touch_whose_vouchers(client: TestClient, engine: Engine, world: World) -> None:
    give_points(engine, world.household_a1, 300)
    token = villager_token(client, world.villager_phone)
    voucher = redeem(client, token, offer(client)["id"]).json()
    code, pin = voucher["code"], voucher["pin"]
    other_shop = client.post(
        f"/api/v1/vouchers/{code}/consume", json={"pin": pin}, headers=bearer(client_token(client, "mart2"))
    )
    assert other_shop.status_code == 404 and other_shop.json()["code"] == "voucher_not_found"
    bank = bearer(client_token(client, "bank"))
    assert client.post(f"/api/v1/vouchers/{code}/consume", json={"pin": pin}, headers=bank).status_code == 403
    assert client.get("/api/v1/vouchers", headers=bank).status_code == 403
    assert client.get(f"/api/v1/vouchers/{code}", headers=bank).status_code == 403
    neighbour = bearer(villager_token(client, "13900000002"))
    assert client.get(f"/api/v1/vouchers/{code}", headers=neighbour).status_code == 404
    assert client.get("/api/v1/vouchers", headers=neighbour).json() == []
    official = bearer(password_token(client, "official-a"))
    assert (
        client.post(
            "/api/v1/redemptions", json={"offer_id": voucher["offer_id"]}, headers={**official, "Idempotency-Key": "o"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/v1/vouchers/{code}/consume", json={"pin": pin}, headers=bearer(password_token(client, "mart-staff"))
        ).status_code
        == 200
    )
    with unit_of_work(engine) as session:  # nothing was consumed by the refused callers
        voucher_id = id_of(session.scalars(select(Voucher)).one())
        assert [e.actor for e in vouchers.history(session, voucher_id)][-1].startswith("user:")


def test_the_county_admin_decides_offers_and_partners_manage_only_their_own(client: TestClient, world: World) -> None:
    proposed = propose(client)
    assert (
        client.post(
            f"/api/v1/offers/{proposed['id']}/decision",
            json={"approve": True},
            headers=bearer(client_token(client, "mart")),
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/v1/offers/{proposed['id']}/decision",
            json={"approve": True},
            headers=bearer(password_token(client, "admin-c")),
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/v1/offers/{proposed['id']}/withdraw", headers=bearer(client_token(client, "mart2"))
        ).status_code
        == 404
    )
    wrong_kind = client.post(
        "/api/v1/offers",
        json={
            "kind": "loan",
            "title": "x",
            "valid_from": utcnow().isoformat(),
            "loan_terms": {"grades": {}},
            "valid_until": (utcnow() + timedelta(days=1)).isoformat(),
        },
        headers=bearer(client_token(client, "mart")),
    )
    assert wrong_kind.status_code == 422
    admin = bearer(password_token(client, "admin"))
    rejected = client.post(
        f"/api/v1/offers/{proposed['id']}/decision", json={"approve": False, "note": "price"}, headers=admin
    )
    assert rejected.json()["status"] == "rejected"
    again = client.post(f"/api/v1/offers/{proposed['id']}/decision", json={"approve": True}, headers=admin)
    assert again.status_code == 409 and again.json()["code"] == "offer_already_decided"


def _consume(engine: Engine, arg: tuple[str, str]) -> str:
    code, pin = arg
    with unit_of_work(engine) as session:
        return vouchers.consume(session, partner_principal(session, "mart"), code=code, pin=pin).status


def test_fifty_cashiers_at_once_use_a_voucher_exactly_once(
    client: TestClient, engine: Engine, world: World, database_url: str
) -> None:
    give_points(engine, world.household_a1, 100)
    token = villager_token(client, world.villager_phone)
    voucher = redeem(client, token, offer(client)["id"]).json()
    outcomes = run_together(database_url, _consume, [(voucher["code"], voucher["pin"])] * 50)
    assert outcomes.count("used") == 1, outcomes
    assert outcomes.count("voucher_already_used") == 49, outcomes
    balance = client.get(f"/api/v1/households/{world.household_a1}/balance", headers=bearer(token)).json()
    assert balance["posted"] == 0 and balance["held"] == 0
    with unit_of_work(engine) as session:
        assert [e.event for e in vouchers.history(session, id_of(session.scalars(select(Voucher)).one()))] == [
            "issued",
            "consumed",
        ]
        assert verify.verify(session).ok


def test_a_partner_serving_some_villages_offers_only_there(client: TestClient, engine: Engine, world: World) -> None:
    give_points(engine, world.household_a1, 300)
    give_points(engine, world.household_b1, 300)
    o = offer(client)
    admin = bearer(password_token(client, "admin"))
    mart_id = client.get("/api/v1/partners/me", headers=bearer(client_token(client, "mart"))).json()["id"]
    other_county = client.put(
        f"/api/v1/partners/{mart_id}/villages", json={"village_ids": [world.village_c.village_id]}, headers=admin
    )
    assert other_county.status_code == 422 and other_county.json()["code"] == "village_not_served"
    assert (
        client.put(
            f"/api/v1/partners/{mart_id}/villages",
            json={"village_ids": [world.village_b.village_id]},
            headers=bearer(client_token(client, "mart")),
        ).status_code
        == 403
    )
    served = client.put(
        f"/api/v1/partners/{mart_id}/villages", json={"village_ids": [world.village_b.village_id]}, headers=admin
    )
    assert served.json() == {"partner_id": mart_id, "village_ids": [world.village_b.village_id], "whole_county": False}
    a1 = villager_token(client, world.villager_phone)
    assert redeem(client, a1, o["id"]).json()["code"] == "offer_not_for_your_village"
    assert redeem(client, villager_token(client, "13900000003"), o["id"]).status_code == 201
    assert (
        client.put(f"/api/v1/partners/{mart_id}/villages", json={"village_ids": []}, headers=admin).json()[
            "whole_county"
        ]
        is True
    )
    assert redeem(client, a1, o["id"]).status_code == 201


def _redeem_as(engine: Engine, arg: tuple[int, int]) -> str:
    user_id, offer_id = arg
    with unit_of_work(engine) as session:
        who = principal.load(session, subject=f"user:{user_id}", role="villager", scopes=())
        return vouchers.redeem(session, who, offer_id=offer_id, idempotency_key=str(uuid.uuid4())).value.status


def _villager_user(engine: Engine, phone: str) -> int:
    with unit_of_work(engine) as session:
        user_id = session.scalar(
            select(col(User.id)).join(Person, col(Person.id) == col(User.person_id)).where(col(Person.phone) == phone)
        )
        assert user_id is not None
        return int(user_id)


@pytest.mark.parametrize(
    ("terms", "made", "refused"),
    [
        ({"per_household_limit": 2}, 2, "household_limit_reached"),
        ({"per_household_limit": 10, "stock": 3}, 3, "out_of_stock"),
    ],
)
def test_ten_redemptions_at_once_take_the_households_limit_or_the_stock_and_no_more(
    client: TestClient, engine: Engine, world: World, database_url: str, terms: dict[str, Any], made: int, refused: str
) -> None:
    give_points(engine, world.household_a1, 1000)
    token = villager_token(client, world.villager_phone)
    limited = offer(client, "mart", **terms)
    outcomes = run_together(
        database_url, _redeem_as, [(_villager_user(engine, world.villager_phone), limited["id"])] * 10
    )
    assert sorted(outcomes) == ["active"] * made + [refused] * (10 - made), outcomes
    assert available(client, token, world.household_a1) == 1000 - 100 * made
    mine = client.get("/api/v1/vouchers", headers=bearer(token)).json()
    assert len(mine) == made
    with unit_of_work(engine) as session:
        assert verify.verify(session).ok
