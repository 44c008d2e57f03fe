"""The county's calendar and the categories' deadlines over the API: the county's staff read them, only the county
admin edits them, a refused edit changes nothing, and another county's category looks missing."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ledger.concerns.models import ConcernCategory
from ledger.core.db import unit_of_work
from tests.api.conftest import World, bearer, password_token, villager_token
from tests.factories import id_of


def _category(engine: Engine, county_id: int) -> int:
    with unit_of_work(engine) as session:
        category = ConcernCategory(county_id=county_id, code="environment", name_zh="环境卫生", name_en="Environment")
        session.add(category)
        session.flush()
        return id_of(category)


def _as(client: TestClient, world: World, who: str) -> dict[str, str]:
    if who == "villager":
        return bearer(villager_token(client, world.villager_phone))
    return bearer(password_token(client, who))


def test_the_county_admin_edits_the_calendar_and_staff_read_it(client: TestClient, world: World) -> None:
    admin = _as(client, world, "admin")
    hours = client.put(
        "/api/v1/calendar?year=2026", json={"work_starts": "09:00", "concern_close_days": 5}, headers=admin
    )
    assert hours.status_code == 200, hours.text
    assert (hours.json()["work_starts"], hours.json()["work_ends"], hours.json()["concern_close_days"]) == (
        "09:00",
        "17:30",
        5,
    )
    holiday = client.put("/api/v1/calendar/days/2026-10-01", json={"working": False, "name": "国庆节"}, headers=admin)
    assert holiday.status_code == 200, holiday.text
    make_up = client.put("/api/v1/calendar/days/2026-10-10", json={"working": True, "name": "调休"}, headers=admin)
    assert make_up.status_code == 200, make_up.text

    for who in ("official-a", "auditor", "admin"):
        seen = client.get("/api/v1/calendar?year=2026", headers=_as(client, world, who))
        assert seen.status_code == 200, seen.text
        assert seen.json()["timezone"] == "Asia/Shanghai"
        assert seen.json()["days"] == [
            {"day": "2026-10-01", "working": False, "name": "国庆节"},
            {"day": "2026-10-10", "working": True, "name": "调休"},
        ]
    assert client.get("/api/v1/calendar?year=2027", headers=admin).json()["days"] == []
    other = client.get("/api/v1/calendar?year=2026", headers=_as(client, world, "admin-c")).json()
    assert (other["work_starts"], other["days"]) == ("08:30", [])  # another county's calendar is its own
    assert client.get("/api/v1/calendar", headers=_as(client, world, "villager")).status_code == 403

    assert client.delete("/api/v1/calendar/days/2026-10-01", headers=admin).status_code == 204
    again = client.delete("/api/v1/calendar/days/2026-10-01", headers=admin)
    assert (again.status_code, again.json()["code"]) == (404, "not_found")
    changes = client.get("/api/v1/audit?action=calendar.", headers=admin).json()["changes"]
    assert [c["action"] for c in changes] == ["calendar.hours", "calendar.day", "calendar.day", "calendar.day_removed"]


@pytest.mark.parametrize("who", ["official-a", "supervisor", "auditor", "villager"])
def test_only_the_county_admin_edits_and_a_refusal_changes_nothing(
    client: TestClient, engine: Engine, world: World, who: str
) -> None:
    category = _category(engine, world.village_a.county_id)
    admin = _as(client, world, "admin")
    assert client.put("/api/v1/calendar/days/2026-12-07", json={"working": False}, headers=admin).status_code == 200
    before = client.get("/api/v1/calendar?year=2026", headers=admin).json()
    headers = _as(client, world, who)
    deadlines = {"accept_minutes": 60, "dispatch_minutes": 60, "resolve_minutes": 60, "resolve_working": True}
    attempts = [
        client.put("/api/v1/calendar", json={"work_ends": "12:00"}, headers=headers),
        client.put("/api/v1/calendar/days/2026-12-08", json={"working": False}, headers=headers),
        client.delete("/api/v1/calendar/days/2026-12-07", headers=headers),
        client.put(f"/api/v1/concern-categories/{category}/deadlines", json=deadlines, headers=headers),
        client.post(
            "/api/v1/calendar/periods",
            json={"first": "2026-12-21", "last": "2026-12-23", "working": False},
            headers=headers,
        ),
    ]
    assert [(a.status_code, a.json()["code"]) for a in attempts] == [(403, "forbidden")] * 5
    assert client.get("/api/v1/calendar?year=2026", headers=admin).json() == before
    with unit_of_work(engine) as session:
        stored = session.get(ConcernCategory, category)
        assert stored is not None and stored.accept_minutes == 1


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/api/v1/calendar", {"work_starts": "18:00"}, "calendar_hours_invalid"),  # after the closing
        ("/api/v1/calendar", {"work_starts": "8:30"}, "invalid_request"),
        ("/api/v1/calendar", {"concern_close_days": 0}, "invalid_request"),
        ("/api/v1/calendar/days/2026-12-08", {"working": True}, "calendar_day_invalid"),  # a Tuesday
        ("/api/v1/calendar/days/2019-12-31", {"working": False}, "calendar_day_invalid"),
        ("/api/v1/calendar/days/2026-13-01", {"working": False}, "invalid_request"),
        ("/api/v1/calendar/days/2026-12-07", {"working": False, "name": "节" * 41}, "invalid_request"),
    ],
)
def test_wrong_edits_are_refused_with_their_code(
    client: TestClient, world: World, path: str, body: dict[str, Any], code: str
) -> None:
    admin = _as(client, world, "admin")
    before = client.get("/api/v1/calendar?year=2026", headers=admin).json()
    refused = client.put(path, json=body, headers=admin)
    assert (refused.status_code, refused.json()["code"]) == (422, code)
    assert client.get("/api/v1/calendar?year=2026", headers=admin).json() == before


def test_the_county_admin_sets_a_categorys_deadlines(client: TestClient, engine: Engine, world: World) -> None:
    category = _category(engine, world.village_a.county_id)
    body = {"accept_minutes": 10, "dispatch_minutes": 30, "resolve_minutes": 1620, "resolve_working": True}
    done = client.put(
        f"/api/v1/concern-categories/{category}/deadlines", json=body, headers=_as(client, world, "admin")
    )
    assert done.status_code == 200, done.text
    assert done.json() == {"id": category, "code": "environment", **body}
    elsewhere = client.put(
        f"/api/v1/concern-categories/{category}/deadlines", json=body, headers=_as(client, world, "admin-c")
    )
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "category_not_found")
    too_long = client.put(
        f"/api/v1/concern-categories/{category}/deadlines",
        json={**body, "accept_minutes": 1621},
        headers=_as(client, world, "admin"),
    )
    assert (too_long.status_code, too_long.json()["code"]) == (422, "invalid_request")


def test_the_county_admin_marks_a_holiday_of_several_days_in_one_go(client: TestClient, world: World) -> None:
    admin = _as(client, world, "admin")
    marked = client.post(
        "/api/v1/calendar/periods",
        json={"first": "2027-02-05", "last": "2027-02-12", "working": False, "name": "春节"},
        headers=admin,
    )
    assert marked.status_code == 200, marked.text
    assert [d["day"] for d in marked.json()["days"]] == [f"2027-02-{d:02d}" for d in range(5, 13)]
    again = client.post(  # marked again: replaced, not doubled
        "/api/v1/calendar/periods",
        json={"first": "2027-02-11", "last": "2027-02-12", "working": False, "name": "春节（二）"},
        headers=admin,
    )
    assert again.status_code == 200, again.text
    days = client.get("/api/v1/calendar?year=2027", headers=admin).json()["days"]
    assert [(d["day"], d["name"]) for d in days] == [(f"2027-02-{d:02d}", "春节") for d in range(5, 11)] + [
        ("2027-02-11", "春节（二）"),
        ("2027-02-12", "春节（二）"),
    ]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"first": "2027-02-12", "last": "2027-02-05", "working": False}, "calendar_day_invalid"),
        ({"first": "2027-01-01", "last": "2027-02-01", "working": False}, "calendar_day_invalid"),  # 32 days
        ({"first": "2027-02-06", "last": "2027-02-08", "working": True}, "calendar_day_invalid"),  # Monday works
        ({"first": "2027-02-06", "working": True}, "invalid_request"),
        ({"first": "2027-02-06", "last": "2027-02-07", "working": "maybe"}, "invalid_request"),
    ],
)
def test_a_wrong_period_is_refused_whole(client: TestClient, world: World, body: dict[str, Any], code: str) -> None:
    admin = _as(client, world, "admin")
    refused = client.post("/api/v1/calendar/periods", json=body, headers=admin)
    assert (refused.status_code, refused.json()["code"]) == (422, code), refused.text
    assert client.get("/api/v1/calendar?year=2027", headers=admin).json()["days"] == []
