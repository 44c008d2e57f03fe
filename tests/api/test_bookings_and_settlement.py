"""Health-check bookings, and a partner's settlement reconciled with the ledger after a random mix of redemptions."""

from __future__ import annotations

import io
import random
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.identity.principal import Principal
from ledger.journal import verify
from redemption import schedule, vouchers
from tests.api.conftest import World, bearer, client_token, password_token, villager_token
from tests.api.redeeming import available, give_points, offer, partner_principal, redeem
from tests.factories import id_of


def health_check(client: TestClient, **fields: object) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    o = offer(
        client, "clinic", kind="health_check", title="老年人健康体检", value_yuan="80.00", cost_points=60, **fields
    )
    clinic = bearer(client_token(client, "clinic"))
    start = utcnow() + timedelta(days=3)
    slots = []
    for hours, capacity in ((0, 1), (4, 5)):
        response = client.post(
            f"/api/v1/offers/{o['id']}/slots",
            headers=clinic,
            json={
                "starts_at": (start + timedelta(hours=hours)).isoformat(),
                "ends_at": (start + timedelta(hours=hours + 1)).isoformat(),
                "place": "村卫生室",
                "capacity": capacity,
            },
        )
        assert response.status_code == 201, response.text
        slots.append(response.json())
    return o, slots


def test_a_booked_health_check_is_held_then_posted_when_attended(
    client: TestClient, engine: Engine, world: World
) -> None:
    give_points(engine, world.household_a1, 100)
    give_points(engine, world.household_a2, 100)
    token = villager_token(client, world.villager_phone)
    o, slots = health_check(client)
    assert [s["id"] for s in client.get(f"/api/v1/offers/{o['id']}/slots", headers=bearer(token)).json()] == [
        s["id"] for s in slots
    ]
    missing = redeem(client, token, o["id"])  # a health check is booked into a slot
    assert missing.status_code == 422 and missing.json()["field"] == "slot_id"
    booked = redeem(client, token, o["id"], slot_id=slots[0]["id"])
    assert booked.status_code == 201, booked.text
    assert booked.json()["slot"]["booked"] == 1 and available(client, token, world.household_a1) == 40
    neighbour = villager_token(client, "13900000002")
    full = redeem(client, neighbour, o["id"], slot_id=slots[0]["id"])
    assert full.status_code == 409 and full.json()["code"] == "slot_full"

    clinic = bearer(client_token(client, "clinic"))
    listed = client.get("/api/v1/bookings", headers=clinic, params={"slot_id": slots[0]["id"]}).json()
    assert [b["code"] for b in listed] == [booked.json()["code"]]
    mart = bearer(client_token(client, "mart"))
    assert client.get("/api/v1/bookings", headers=mart).status_code == 403
    early = client.post(f"/api/v1/bookings/{booked.json()['code']}/attended", headers=clinic)
    assert early.status_code == 409 and early.json()["code"] == "booking_not_started"  # three days before
    with unit_of_work(engine) as session:
        attended = vouchers.attended(
            session,
            partner_principal(session, "clinic"),
            code=booked.json()["code"],
            now=utcnow() + timedelta(days=3, minutes=10),
        )
        assert attended.status == "used"
    balance = client.get(f"/api/v1/households/{world.household_a1}/balance", headers=bearer(token)).json()
    assert balance["posted"] == 40 and balance["held"] == 0


def test_a_booking_is_cancelled_before_the_cut_off_and_a_missed_one_costs_the_penalty(
    client: TestClient, engine: Engine, world: World
) -> None:
    give_points(engine, world.household_a1, 200)
    token = villager_token(client, world.villager_phone)
    o, slots = health_check(client, per_household_limit=3, no_show_penalty_points=10, cancel_hours=24)
    first = redeem(client, token, o["id"], slot_id=slots[1]["id"]).json()
    cancelled = client.post(f"/api/v1/vouchers/{first['code']}/cancel", headers=bearer(token))
    assert cancelled.status_code == 200 and cancelled.json()["slot"]["booked"] == 0
    assert available(client, token, world.household_a1) == 200

    second = redeem(client, token, o["id"], slot_id=slots[1]["id"]).json()
    with unit_of_work(engine) as session:  # a day before the slot: past the 24-hour cut-off
        who = _villager(session, world)
        with pytest.raises(vouchers.TooLateToCancel):
            vouchers.cancel(session, who, code=second["code"], now=utcnow() + timedelta(days=2, hours=5))
    clinic = bearer(client_token(client, "clinic"))
    early = client.post(f"/api/v1/bookings/{second['code']}/no-show", headers=clinic)
    assert early.status_code == 409 and early.json()["code"] == "booking_not_started"
    with unit_of_work(engine) as session:
        missed = vouchers.no_show(
            session,
            partner_principal(session, "clinic"),
            code=second["code"],
            now=utcnow() + timedelta(days=3, hours=5),
        )
        assert missed.status == "no_show"
        assert [e.event for e in vouchers.history(session, id_of(missed))] == ["issued", "no_show", "penalty"]
    assert available(client, token, world.household_a1) == 190  # the hold came back, less the penalty
    told = client.get("/api/v1/notifications", headers=bearer(token)).json()
    missed_told = [n["payload"] for n in told if n["kind"] == "voucher_no_show"]
    assert missed_told == [{"code": second["code"], "points_returned": 60, "penalty_points": 10}]  # and the cost


def _villager(session: Session, world: World) -> Principal:
    from sqlalchemy import select
    from sqlmodel import col

    from ledger.identity import principal
    from ledger.identity.models import User
    from ledger.tenancy import Person

    user_id = session.scalar(
        select(col(User.id))
        .join(Person, col(Person.id) == col(User.person_id))
        .where(col(Person.phone) == world.villager_phone)
    )
    return principal.load(session, subject=f"user:{user_id}", role="villager", scopes=())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_settlement_reconciles_with_the_clearing_accounts_after_a_random_mix(
    client: TestClient, engine: Engine, world: World, seed: int
) -> None:
    rng = random.Random(seed)
    phones = {
        world.household_a1: world.villager_phone,
        world.household_a2: "13900000002",
        world.household_b1: "13900000003",
    }
    tokens = {h: villager_token(client, phone) for h, phone in phones.items()}
    for household in phones:
        give_points(engine, household, 5000)
    shops = {
        "mart": offer(client, "mart", per_household_limit=100, voucher_days=5),
        "mart2": offer(client, "mart2", per_household_limit=100, value_yuan="20.00", cost_points=30, voucher_days=30),
    }
    cashiers = {name: bearer(client_token(client, name)) for name in shops}
    expected = {name: [0, 0] for name in shops}  # value in fen, points
    expiring: dict[str, int] = {}
    for _ in range(40):
        household = rng.choice(list(phones))
        shop = rng.choice(list(shops))
        voucher = redeem(client, tokens[household], shops[shop]["id"]).json()
        action = rng.choice(["use", "part", "cancel", "expire", "keep"])
        url = f"/api/v1/vouchers/{voucher['code']}"
        if action == "use":
            assert (
                client.post(f"{url}/consume", json={"pin": voucher["pin"]}, headers=cashiers[shop]).status_code == 200
            )
            expected[shop][0] += int(voucher["value_yuan"].replace(".", ""))
            expected[shop][1] += voucher["points"]
        elif action == "part":
            fen = rng.randint(1, int(voucher["value_yuan"].replace(".", "")) - 1)
            used = client.post(
                f"{url}/consume", json={"pin": voucher["pin"], "amount": f"{fen / 100:.2f}"}, headers=cashiers[shop]
            ).json()
            expected[shop][0] += int(used["history"][-1]["value_yuan"].replace(".", ""))
            expected[shop][1] += used["history"][-1]["points"]
        elif action == "cancel":
            assert client.post(f"{url}/cancel", headers=bearer(tokens[household])).status_code == 200
        elif action == "expire" and shop == "mart":
            expiring[voucher["code"]] = household
    report = schedule.tick(engine, now=utcnow() + timedelta(days=6))
    assert report.done["expire_vouchers"] >= len(expiring)

    month = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    for shop, (value, points) in expected.items():
        answer = client.get("/api/v1/settlement", params={"month": month}, headers=cashiers[shop]).json()
        assert answer["reconciled"] is True
        assert answer["points"] == answer["ledger_points"] == points
        assert answer["value_yuan"] == f"{value / 100:.2f}"
        csv = pd.read_csv(
            io.BytesIO(
                client.get(
                    "/api/v1/settlement", params={"month": month, "format": "csv"}, headers=cashiers[shop]
                ).content
            ),
            encoding="utf-8-sig",
        )
        total, ledger = csv.iloc[-2], csv.iloc[-1]
        assert (total["核销时间"], int(total["积分"])) == ("合计", points)
        assert (ledger["核销时间"], int(ledger["积分"])) == ("账本记录（一致）", points)
        xlsx = pd.read_excel(
            io.BytesIO(
                client.get(
                    "/api/v1/settlement", params={"month": month, "format": "xlsx"}, headers=cashiers[shop]
                ).content
            ),
            sheet_name=None,
        )
        assert int(xlsx["核销明细"]["积分"].sum()) == points and xlsx["概况"]["与账本一致"].iloc[0] == "是"
    admin = bearer(password_token(client, "admin"))
    assert client.get("/api/v1/settlement", params={"month": month}, headers=admin).json()["code"] == "invalid"
    other = client.get("/api/v1/settlement", params={"month": month, "partner_id": 99}, headers=cashiers["mart"])
    assert other.status_code == 403
    with unit_of_work(engine) as session:
        assert verify.verify(session).ok
