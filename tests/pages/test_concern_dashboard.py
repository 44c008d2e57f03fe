"""The dashboard's village concerns section (docs/concerns.md, "Figures"): this month's figures per village and
category, two charts (received and on time by month; open and overdue per village), and the same numbers as files;
drawn once per change of the concerns, redrawn when one moves."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ledger.concerns.models import Concern, ConcernCategory, ConcernEvent
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.tenancy import Village
from tests import factories
from tests.api.conftest import World
from tests.pages.conftest import sign_in_staff


def _concern(
    engine: Engine, village_id: int, category_id: int, created: datetime, events: list[tuple[str, datetime, datetime]]
) -> int:
    """A concern received at `created` with its timeline (action, at, deadline of the step it opened); its row
    left as the last event leaves it: waiting for the next step until that deadline."""
    steps = {"submit": "submitted", "accept": "accepted", "dispatch": "dispatched"}
    with unit_of_work(engine) as session:
        village = session.get(Village, village_id)
        assert village is not None
        concern = Concern(
            county_id=village.county_id,
            township_id=village.township_id,
            village_id=village_id,
            category_id=category_id,
            kind="hazard",
            text="桥头的路灯坏了",
            reporter_name="王建国",
            entered_by="user:1",
            status=steps[events[-1][0]],
            created_at=created,
            step_due_at=events[-1][2],
            version=len(events),
        )
        session.add(concern)
        session.flush()
        for action, at, due in events:
            session.add(
                ConcernEvent(
                    concern_id=factories.id_of(concern),
                    at=at,
                    action=action,
                    actor="x",
                    actor_role="official",
                    due_at=due,
                )
            )
        return factories.id_of(concern)


def _category(engine: Engine, county_id: int) -> int:
    with unit_of_work(engine) as session:
        category = ConcernCategory(county_id=county_id, code="road_hazard", name_zh="道路隐患", name_en="Road hazard")
        session.add(category)
        session.flush()
        return factories.id_of(category)


def _row(html: str, village_id: int) -> dict[str, str]:
    found = re.search(rf'<tr data-concern-row data-village-id="{village_id}"([^>]*)>(.*?)</tr>', html, re.S)
    assert found, html
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', found.group(1) + found.group(2)))


def test_the_dashboard_shows_this_months_concerns_with_charts_and_files_that_agree(
    browser: TestClient, engine: Engine, world: World
) -> None:
    road = _category(engine, world.village_a.county_id)
    now = utcnow()
    minute = timedelta(minutes=1)
    # accepted within its minute, then waiting for dispatch until well after now
    _concern(
        engine,
        world.village_a.village_id,
        road,
        now - 3 * minute,
        [("submit", now - 3 * minute, now - 2 * minute), ("accept", now - 3 * minute, now + timedelta(days=1))],
    )
    # never accepted: late a minute ago
    late = _concern(
        engine, world.village_a.village_id, road, now - 2 * minute, [("submit", now - 2 * minute, now - minute)]
    )
    sign_in_staff(browser, "official-a")
    board = browser.get("/office/dashboard")
    assert board.status_code == 200, board.text
    assert "本月村民诉求" in board.text and "按时受理率" in board.text and "闭环率" in board.text
    assert "王建国" not in board.text and "路灯" not in board.text  # counts only: no reporter, no text
    row = _row(board.text, world.village_a.village_id)
    assert row == {
        "category": "road_hazard",
        "received": "2",
        "open-now": "2",
        "overdue-now": "1",
        "accepted-on-time-rate": "1.0000",
        "dispatched-on-time-rate": "",  # nothing dispatched: no rate, not 0 %
        "resolved-on-time-rate": "",
        "closed-loop-rate": "",
        "satisfaction-rate": "",
    }
    assert "道路隐患" in board.text

    drawn = browser.app.state.drawn  # type: ignore[attr-defined]
    for name in ("concerns_by_month", "concerns_open"):
        chart = browser.get(f"/office/dashboard/chart/{name}.svg")
        assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert "按时受理率" in browser.get("/office/dashboard/chart/concerns_by_month.svg").text  # the legend, in words
    made = drawn.made
    opened = browser.get("/office/dashboard/chart/concerns_open.svg").text
    assert drawn.made == made  # nothing moved: served as drawn
    assert "已超时" in opened
    with unit_of_work(engine) as session:  # the late one is accepted: the figures move, the chart is drawn again
        concern = session.get(Concern, late)
        assert concern is not None
        concern.status, concern.version, concern.step_due_at = "accepted", concern.version + 1, now + minute * 60
        session.add(ConcernEvent(concern_id=late, at=now, action="accept", actor="x", actor_role="official"))
    browser.get("/office/dashboard/chart/concerns_open.svg")
    assert drawn.made > made
    again = _row(browser.get("/office/dashboard").text, world.village_a.village_id)
    assert (again["overdue-now"], again["accepted-on-time-rate"]) == ("0", "0.5000")

    csv = browser.get("/office/dashboard/data/concerns.csv")
    assert csv.status_code == 200, csv.text
    table = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig")
    assert table[["村", "类别", "收到诉求数", "按时受理率", "当前未办结", "当前已超时"]].values.tolist()[0][1:] == [
        "道路隐患",
        2,
        0.5,
        2,
        0,
    ]
    xlsx = browser.get("/office/dashboard/data/concerns_by_month.xlsx")
    months = pd.read_excel(io.BytesIO(xlsx.content), engine="openpyxl")
    assert len(months) == 12 and months["收到诉求数"].iloc[-1] == 2


def test_another_villages_official_sees_none_of_it(browser: TestClient, engine: Engine, world: World) -> None:
    road = _category(engine, world.village_a.county_id)
    now = utcnow()
    _concern(engine, world.village_a.village_id, road, now, [("submit", now, now + timedelta(minutes=1))])
    sign_in_staff(browser, "official-b")
    board = browser.get("/office/dashboard")
    assert 'data-concern-row data-village-id="' not in board.text
    assert "本月没有村民诉求" in board.text
    narrowed = browser.get(f"/office/dashboard/data/concerns.csv?village_id={world.village_a.village_id}")
    assert narrowed.status_code == 404
    assert browser.get("/office/dashboard/chart/nothing.svg").status_code == 422
