"""One month of one village, three readers: the officials' dashboard (its downloads, and the function its pages
use), the API's month report as JSON, and that report's CSV and XLSX all give the same numbers, the ones
docs/claims.md ("Figures") defines.

The claims are made, decided, settled and expired through the API and the schedule; then their moments are moved
into last month (the county's, Asia/Shanghai), so the month is a whole one and the numbers are known exactly."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from api import i18n
from api.app import create_app
from api.presentation.files import FileWords, claim_status
from ledger import figures, jobs
from ledger.claims.models import Claim
from ledger.claims.rules import local
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.tenancy import Village
from redemption import figures as redemption_figures
from redemption.models import Voucher
from tests.api.claiming import claim, code_of, decide, new_activity
from tests.api.conftest import World, bearer, client_token, password_token, villager_token
from tests.api.redeeming import give_points, offer, redeem
from tests.pages.conftest import sign_in_staff

TZ = "Asia/Shanghai"


@pytest.fixture
def browser(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings, engine=engine), base_url="https://testserver", follow_redirects=False
    ) as test_client:
        yield test_client


def last_month() -> str:
    """The county month before the present one: whole, and inside the dashboard's twelve months."""
    first = local(utcnow(), TZ).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def submit(client: TestClient, official: str, villager: str, village_id: int, matter: str) -> dict[str, Any]:
    response = claim(client, villager, code_of(new_activity(client, official, village_id, matter)))
    assert response.status_code == 201, response.text
    return dict(response.json())


def approve(client: TestClient, official: str, claim_id: int) -> None:
    response = decide(client, official, claim_id)
    assert response.status_code == 201, response.text


def set_moments(engine: Engine, moments: dict[int, dict[str, datetime | None]]) -> None:
    with unit_of_work(engine) as session:
        for claim_id, values in moments.items():
            row = session.get(Claim, claim_id)
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)


def long_csv(content: bytes) -> dict[tuple[str, str, str], str]:
    """The month report's CSV in English: (section, item, measure) -> figure."""
    table = pd.read_csv(io.BytesIO(content), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    return {(str(r.Section), str(r.Item), str(r.Measure)): str(r.Figure) for r in table.itertuples()}


def test_the_dashboard_the_report_and_its_files_agree_on_a_month(
    client: TestClient, browser: TestClient, engine: Engine, world: World
) -> None:
    village = world.village_a.village_id
    official = password_token(client, "official-a")
    a1 = villager_token(client, world.villager_phone)
    a2 = villager_token(client, "13900000002")

    # settled and expired: decided now, then the schedule runs eight days on
    settled = submit(client, official, a1, village, "volunteering")
    approve(client, official, settled["id"])
    expired = submit(client, official, a1, village, "dispute_mediation")
    jobs.tick(engine, now=utcnow() + timedelta(days=8))
    approved = submit(client, official, a1, village, "garbage_sorting")
    approve(client, official, approved["id"])
    late = submit(client, official, a1, village, "dispute_mediation")
    approve(client, official, late["id"])
    pending = submit(client, official, a1, village, "neighbourly_help")
    rejected = submit(client, official, a2, village, "garbage_sorting")
    assert decide(client, official, rejected["id"], "reject", reason="Nobody saw it.").status_code == 201
    next_month = submit(client, official, a2, village, "volunteering")
    approve(client, official, next_month["id"])

    month = last_month()
    start, end = figures.month_bounds(month, TZ)
    day = timedelta(days=1)
    hour = timedelta(hours=1)
    set_moments(
        engine,
        {
            settled["id"]: {
                "submitted_at": start + 2 * day,
                "decided_at": start + 2 * day + 2 * hour,
                "settled_at": start + 9 * day + 2 * hour,
            },
            approved["id"]: {"submitted_at": start + 10 * day, "decided_at": start + 10 * day + 3 * hour},
            rejected["id"]: {"submitted_at": start + 11 * day, "decided_at": start + 11 * day + 5 * hour},
            late["id"]: {"submitted_at": start + 12 * day, "decided_at": start + 12 * day + 30 * hour},
            expired["id"]: {"submitted_at": start + 13 * day, "decided_at": start + 20 * day},
            pending["id"]: {"submitted_at": end - hour},
            # a minute into the next month in the village (still the month's last day in UTC): next month's
            next_month["id"]: {"submitted_at": end + timedelta(minutes=1), "decided_at": end + 2 * hour},
        },
    )
    with unit_of_work(engine) as session:
        statuses = {c.id: c.status for c in session.exec(select(Claim).where(Claim.village_id == village)).all()}
    assert (statuses[settled["id"]], statuses[expired["id"]]) == ("settled", "expired")

    # vouchers: one used, one cancelled (left out), one still held; issued in the month
    give_points(engine, world.household_a1, 300)
    mart = offer(client, "mart")
    used = redeem(client, a1, mart["id"]).json()
    consumed = client.post(
        f"/api/v1/vouchers/{used['code']}/consume",
        json={"pin": used["pin"]},
        headers=bearer(client_token(client, "mart")),
    )
    assert consumed.status_code == 200, consumed.text
    cancelled = redeem(client, a1, offer(client, "mart")["id"]).json()  # one voucher per offer and household
    assert client.post(f"/api/v1/vouchers/{cancelled['code']}/cancel", headers=bearer(a1)).status_code == 200
    held = redeem(client, a1, offer(client, "mart2", cost_points=50, value_yuan="20.00")["id"]).json()
    with unit_of_work(engine) as session:
        for code in (used["code"], cancelled["code"], held["code"]):
            voucher = session.exec(select(Voucher).where(Voucher.code == code)).one()
            voucher.created_at = start + 15 * day

    # the API's month report
    report = client.get(f"/api/v1/villages/{village}/report", params={"month": month}, headers=bearer(official))
    assert report.status_code == 200, report.text
    body = report.json()
    points = {c["matter_code"]: c["points"] for c in (settled, approved, late)}
    assert {k: body[k] for k in ("households", "participating", "participation_rate")} == {
        "households": 2,
        "participating": 1,  # A1; A2's one standing claim was made in the next month (county time)
        "participation_rate": 0.5,
    }
    # reviews that ended in the month: 2 h, 3 h, 5 h on time; 30 h late; the expired one late
    assert (body["decided"], body["decided_on_time"], body["on_time_rate"], body["median_decision_hours"]) == (
        5,
        3,
        0.6,
        4.0,
    )
    assert {(r["matter_code"], r["claims"], r["points"]) for r in body["points_by_matter"]} == {
        ("volunteering", 1, points["volunteering"]),
        ("garbage_sorting", 1, points["garbage_sorting"]),
        ("dispute_mediation", 1, points["dispute_mediation"]),
    }
    assert {r["status"]: r["claims"] for r in body["claims_by_status"]} == {
        "approved": 2,
        "expired": 1,
        "pending": 1,
        "rejected": 1,
        "settled": 1,
    }
    assert [
        (r["partner"], r["vouchers"], r["used"], r["points"], r["value_yuan"]) for r in body["redemption_by_partner"]
    ] == [("mart", 1, 1, 100, 50.0), ("mart2", 1, 0, 50, 20.0)]

    # its CSV (in English): the same numbers
    csv = client.get(
        f"/api/v1/villages/{village}/report",
        params={"month": month, "format": "csv", "lang": "en"},
        headers=bearer(official),
    )
    cells = long_csv(csv.content)
    english = FileWords("en")
    the_month = i18n.month_key(month, "en")  # November 2026
    for name in ("households", "participating", "decided", "decided_on_time"):
        assert int(cells[("Summary", the_month, english.name(name, "summary"))]) == body[name]
    for name in ("participation_rate", "on_time_rate", "median_decision_hours"):
        assert float(cells[("Summary", the_month, english.name(name, "summary"))]) == body[name]
    for row in body["points_by_matter"]:
        assert int(cells[("Points by matter", row["matter_en"], "Number of claims")]) == row["claims"]
        assert int(cells[("Points by matter", row["matter_en"], "Points")]) == row["points"]
    for row in body["claims_by_status"]:
        status = claim_status(row["status"], "en")
        assert int(cells[("Claims by status", status, "Number of claims")]) == row["claims"]
    for row in body["redemption_by_partner"]:
        section, partner = "Redemption by partner", row["partner"]
        assert (
            int(cells[(section, partner, "Vouchers issued")]),
            int(cells[(section, partner, "Points")]),
            float(cells[(section, partner, "Value in yuan")]),
        ) == (row["vouchers"], row["points"], row["value_yuan"])

    # its XLSX (in Chinese, the default): one sheet per table, the same numbers
    xlsx = client.get(
        f"/api/v1/villages/{village}/report", params={"month": month, "format": "xlsx"}, headers=bearer(official)
    )
    sheets = pd.read_excel(io.BytesIO(xlsx.content), sheet_name=None)
    chinese = FileWords("zh_CN")
    summary = sheets["概况"].iloc[0]
    for name in ("households", "participating", "participation_rate", "decided", "decided_on_time", "on_time_rate"):
        assert summary[chinese.name(name, "summary")] == body[name]
    for name in ("points_by_matter", "claims_by_status", "redemption_by_partner"):
        assert sheets[chinese.name(name)].to_dict(orient="records") == [
            {chinese.name(k, name): chinese.cell(k, v, name) for k, v in row.items() if chinese.shows(k, name)}
            for row in body[name]
        ]

    # the dashboard: its downloads have one row per month; last month's row is the report's
    sign_in_staff(browser, "official-a")
    per_month = {}
    key_of = {
        (chinese.name(key, table), table): key
        for table, keys in (("participation", figures.PARTICIPATION), ("on_time", figures.ON_TIME))
        for key in keys
    }
    for name in ("participation", "on_time"):
        download = browser.get(f"/office/dashboard/data/{name}.csv?village_id={village}")
        assert download.status_code == 200
        table = pd.read_csv(io.BytesIO(download.content), encoding="utf-8-sig")  # in Chinese: the page is
        table.columns = [key_of[column, name] for column in table.columns]
        per_month[name] = table.set_index("month").loc[i18n.month_key(month, "zh_CN")]
    assert (per_month["participation"]["households"], per_month["participation"]["participating"]) == (2, 1)
    assert per_month["participation"]["rate"] == body["participation_rate"]
    taking_part = per_month["on_time"]
    assert (taking_part["decided"], taking_part["on_time"]) == (body["decided"], body["decided_on_time"])
    assert (taking_part["rate"], taking_part["median_hours"]) == (body["on_time_rate"], body["median_decision_hours"])
    # this month on the page: A2's claim made a minute into it
    board = browser.get(f"/office/dashboard?village_id={village}")
    shown = re.search(r'data-participating-households="(\d+)"', board.text)
    assert shown is not None and int(shown.group(1)) == 1
    now_report = client.get(
        f"/api/v1/villages/{village}/report",
        params={"month": local(end, TZ).strftime("%Y-%m")},
        headers=bearer(official),
    ).json()
    assert now_report["participating"] == 1

    # the twelve-month tables, as the dashboard computes them with last month as its newest
    with unit_of_work(engine) as session:
        row = session.get(Village, village)
        assert row is not None
        scope = figures.village_scope(session, row)
        moment: datetime = start + 20 * day
        by_matter = redemption_figures.dashboard_table("points_by_matter", session, scope, moment)
        given = redemption_figures.dashboard_table("redemption", session, scope, moment)
    assert by_matter[["matter_code", "claims", "points"]].to_dict(orient="records") == [
        {k: r[k] for k in ("matter_code", "claims", "points")} for r in body["points_by_matter"]
    ]
    assert given.to_dict(orient="records") == body["redemption_by_partner"]
