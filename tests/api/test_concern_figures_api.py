"""GET /api/v1/concerns/figures: the village concern figures of a month (docs/concerns.md, "Figures") as JSON, CSV
and XLSX, for the staff who see those villages; the same numbers as ledger/figures.py computes, whoever reads them
and in whichever file."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from api.app import ROUTERS
from api.presentation.files import FileWords
from ledger import figures
from ledger.concerns.models import Concern, ConcernCategory
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.tenancy import County, Township, Village
from tests import factories
from tests.api.conftest import World, bearer, password_token, villager_token
from tests.ledger.test_concern_figures import tell_in

URL = "/api/v1/concerns/figures"


def told(engine: Engine, world: World) -> int:
    """The story of tests/ledger/test_concern_figures.py in villages A and B of the world (and a third village of
    their county); the third village's id."""
    with unit_of_work(engine) as session:
        third = factories.create_village(session, county_id=world.village_a.county_id)
        tell_in(
            session,
            world.village_a.county_id,
            {"A": world.village_a.village_id, "B": world.village_b.village_id, "C": third.village_id},
        )
        return third.village_id


def expected(engine: Engine, county_id: int, village_ids: list[int]) -> dict[str, pd.DataFrame]:
    with unit_of_work(engine) as session:
        county = session.get(County, county_id)
        assert county is not None
        villages = [v for v in (session.get(Village, i) for i in village_ids) if v is not None]
        return figures.concern_report(session, figures.Scope(county=county, villages=villages), "2026-11", utcnow())


def get(client: TestClient, token: str, **params: Any) -> Any:
    return client.get(URL, params={"month": "2026-11", **params}, headers=bearer(token))


def test_an_official_reads_their_villages_figures_as_the_module_counts_them(
    client: TestClient, world: World, engine: Engine
) -> None:
    told(engine, world)
    response = get(client, password_token(client, "official-a"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["month"], body["village_id"]) == ("2026-11", None)
    assert {row["village_id"] for row in body["rows"]} == {world.village_a.village_id}  # only their village
    want = expected(engine, world.village_a.county_id, [world.village_a.village_id])
    assert body["rows"] == [
        {k: (None if v != v else v) for k, v in row.items()} for row in want["concerns"].to_dict(orient="records")
    ]
    road = next(row for row in body["rows"] if row["category_code"] == "road")
    assert (road["received"], road["accepted_on_time_rate"], road["satisfaction_rate"]) == (3, 0.5, 0.3333)
    assert road["median_hours_to_resolve"] == 24.0
    summary = body["summary"]
    assert (summary["received"], summary["resolved"], summary["resolved_on_time"]) == (5, 4, 3)
    assert summary["open_now"] == sum(row["open_now"] for row in body["rows"]) == 1


def test_the_county_sees_every_village_and_narrows_to_one_or_a_township(
    client: TestClient, world: World, engine: Engine
) -> None:
    third = told(engine, world)
    for who in ("admin", "auditor"):
        rows = get(client, password_token(client, who)).json()["rows"]
        assert {row["village_id"] for row in rows} == {world.village_a.village_id, world.village_b.village_id, third}
    admin = password_token(client, "admin")
    one = get(client, admin, village_id=world.village_b.village_id).json()
    assert one["village_id"] == world.village_b.village_id
    assert {row["village_id"] for row in one["rows"]} == {world.village_b.village_id}
    township = get(client, password_token(client, "supervisor")).json()["rows"]
    assert {row["village_id"] for row in township} == {world.village_a.village_id, world.village_b.village_id}


def test_who_may_not_read_them(client: TestClient, world: World, engine: Engine) -> None:
    told(engine, world)
    other = get(client, password_token(client, "official-b"), village_id=world.village_a.village_id)
    assert (other.status_code, other.json()["code"]) == (404, "village_not_found")  # someone else's looks missing
    elsewhere = get(client, password_token(client, "admin-c"), village_id=world.village_a.village_id)
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "village_not_found")
    assert get(client, password_token(client, "admin-c")).json()["rows"] == []  # another county: nothing of ours
    villager = get(client, villager_token(client, world.villager_phone))
    assert (villager.status_code, villager.json()["code"]) == (403, "forbidden")
    assert client.get(URL).status_code == 401
    wrong = get(client, password_token(client, "admin"), month="2026-13")
    assert (wrong.status_code, wrong.json()["code"]) == (422, "invalid")
    assert get(client, password_token(client, "admin"), month="November").status_code == 422


def test_the_csv_and_xlsx_give_the_same_numbers_in_the_readers_words(
    client: TestClient, world: World, engine: Engine
) -> None:
    told(engine, world)
    admin = password_token(client, "admin")
    rows = get(client, admin).json()["rows"]
    csv = get(client, admin, format="csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert 'filename="shanzhi-concerns-2026-11.csv"' in csv.headers["content-disposition"]
    table = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig")
    words = FileWords("zh_CN")
    assert list(table.columns)[:3] == ["村", "类别", "月份"]
    assert "类别" in table.columns and "闭环率" in table.columns and "category_code" not in table.columns
    assert table[words.name("received", "concerns")].tolist() == [row["received"] for row in rows]
    assert table[words.name("open_now", "concerns")].tolist() == [row["open_now"] for row in rows]
    assert set(table["类别"]) == {"道路隐患", "环境卫生"}
    xlsx = get(client, admin, format="xlsx", lang="en")
    sheets = pd.read_excel(io.BytesIO(xlsx.content), sheet_name=None, engine="openpyxl")
    assert list(sheets) == ["All concerns of the month", "By village and category"]
    by_place = sheets["By village and category"]
    assert by_place["Concerns resolved"].tolist() == [row["resolved"] for row in rows]
    assert by_place["Concern category"].tolist() == [row["category_en"] for row in rows]
    assert sheets["All concerns of the month"]["Concerns received"].tolist() == [sum(row["received"] for row in rows)]


def test_figures_is_not_taken_for_a_concerns_id() -> None:
    """The figures route is included before every other route under /api/v1/concerns/ (a `{concern_id}` would
    match "figures" and refuse it as no number)."""
    paths = [route.path for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    mine = paths.index(URL)
    assert all(paths.index(path) > mine for path in paths if path.startswith("/api/v1/concerns/{"))


def test_a_townships_own_concerns_are_a_row_of_their_own_for_those_who_see_them(
    client: TestClient, world: World, engine: Engine
) -> None:
    """A concern of the township's own code (no village): the supervisor of the township and the county count it,
    as a row named by the township with no village id; a village's official does not."""
    told(engine, world)
    with unit_of_work(engine) as session:
        township = session.get(Township, world.village_a.township_id)
        assert township is not None
        category = session.scalars(
            select(ConcernCategory).where(
                col(ConcernCategory.county_id) == world.village_a.county_id, col(ConcernCategory.code) == "road"
            )
        ).one()
        session.add(
            Concern(
                county_id=world.village_a.county_id,
                township_id=world.village_a.township_id,
                village_id=None,
                category_id=factories.id_of(category),
                kind="hazard",
                text="镇上的桥",
                entered_by="user:1",
                created_at=datetime(2026, 11, 12, 2, tzinfo=UTC),
                step_due_at=datetime(2026, 11, 12, 2, 1, tzinfo=UTC),
            )
        )
        name = township.name
    for who in ("supervisor", "admin"):
        body = get(client, password_token(client, who)).json()
        [own] = [row for row in body["rows"] if row["village_id"] is None]
        assert (own["village"], own["category_code"], own["received"], own["open_now"]) == (name, "road", 1, 1)
        assert body["summary"]["received"] == {"supervisor": 5, "admin": 6}[who] + 1  # the township's counted too
    official = get(client, password_token(client, "official-a")).json()
    assert all(row["village_id"] is not None for row in official["rows"])
    assert official["summary"]["received"] == 5
    narrowed = get(client, password_token(client, "admin"), village_id=world.village_a.village_id).json()
    assert all(row["village_id"] == world.village_a.village_id for row in narrowed["rows"])
