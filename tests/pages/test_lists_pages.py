"""The pages reach every row at village size (2 000 households): the deduction form finds and picks the 2 000th
household with a plain GET search, and a villager's page pages through the leaderboard and the notice board."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, update
from sqlmodel import Session, col, select

from ledger.catalogue.models import Matter
from ledger.claims.models import Claim, ClaimStatus, Deduction, Dispute, DisputeStatus
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.tenancy import Household
from tests.api.conftest import World, bearer, password_token
from tests.api.test_lists import SIZE, appeal_every_deduction, build_crowd
from tests.pages.conftest import csrf_of, sign_in_staff, sign_in_villager


def test_the_official_finds_the_2000th_household_and_records_a_deduction_for_it(
    browser: TestClient, world: World, engine: Engine
) -> None:
    crowd = build_crowd(engine, world)
    last = crowd.households[-1]
    sign_in_staff(browser, "official-a")
    empty = browser.get("/office/disputes")
    assert empty.status_code == 200
    assert "L0001" not in empty.text  # no list of every household: a search box
    for q in ("L2000", "l2000", "2000", "Crowdhead 2000", "Crowd 2000"):
        found = browser.get("/office/disputes", params={"q": q})
        assert found.status_code == 200, found.text
        assert f'data-household-id="{last}"' in found.text, q
    # a broad search lists twenty at a time, and its pages reach the last household
    seen: list[str] = []
    path = "/office/disputes?q=Crowd"
    for _ in range(SIZE):
        page = browser.get(path)
        picker = page.text.split("data-picker")[1].split("</ul>")[0]
        seen += re.findall(r'data-household-id="(\d+)"', picker)
        more = re.search(r'href="(/office/disputes\?q=Crowd&amp;cursor=\d+)#deduction"', page.text)
        if more is None:
            break
        path = more.group(1).replace("&amp;", "&")
    assert [int(h) for h in seen] == crowd.households  # every one, in order, once
    assert "data-picker-none" in browser.get("/office/disputes?q=nobody").text

    picked = browser.get(f"/office/disputes?household_id={last}")
    assert picked.status_code == 200
    assert f'data-picked="{last}"' in picked.text and "L2000" in picked.text
    key = picked.text.split('name="key" value="')[1].split('"')[0]
    done = browser.post(
        "/office/deductions",
        data={
            "csrf": csrf_of(picked.text),
            "key": key,
            "household_id": re.search(r'name="household_id" value="(\d+)"', picked.text).group(1),  # type: ignore[union-attr]
            "matter_code": "breaking_village_rules",
            "reason": "Left the gate of the threshing ground open",
        },
    )
    assert done.status_code == 303, done.text
    official = bearer(password_token(browser, "official-a"))
    recorded = browser.get("/api/v1/deductions", headers=official).json()
    assert [(d["household_id"], d["reason"]) for d in recorded] == [
        (last, "Left the gate of the threshing ground open")
    ]
    # a household outside the official's villages is not picked
    assert browser.get(f"/office/disputes?household_id={world.household_c1}").status_code == 404
    assert browser.get("/office/disputes?cursor=x1&q=Crowd").status_code == 422


def test_my_page_shows_ten_leaders_my_rank_and_pages_to_the_last(
    browser: TestClient, world: World, engine: Engine
) -> None:
    crowd = build_crowd(engine, world)
    now = utcnow()
    with unit_of_work(engine) as session:
        matter = session.scalars(select(Matter).where(col(Matter.code) == "volunteering")).first()
        assert matter is not None
        a = world.village_a
        rows: list[dict[str, Any]] = [
            dict(
                county_id=a.county_id,
                village_id=a.village_id,
                household_id=h,
                matter_id=matter.id,
                points=1 + n % 9,
                period_key=f"a{n}{status[0]}",
                status=status,
                proxy=True,
                award_reason="Helped",
                entered_by="user:1",
                submitted_at=now - timedelta(hours=1),
                decided_at=now - timedelta(minutes=30, seconds=n),
                notice_until=now + timedelta(days=3),
                settled_at=now - timedelta(minutes=1) if status == ClaimStatus.SETTLED.value else None,
                flags=[],
            )
            for n, h in enumerate(crowd.households)
            for status in (ClaimStatus.SETTLED.value, ClaimStatus.APPROVED.value)
        ]
        session.execute(insert(Claim), rows)
    sign_in_villager(browser, world.villager_phone)
    me = browser.get("/me")
    assert me.status_code == 200
    leaderboard = me.text.split('id="leaderboard"')[1]
    assert len(re.findall(r"<li[ >]", leaderboard.split("</ol>")[0])) == 10
    assert re.search(r'data-my-rank="2001"', leaderboard)  # the villager's household has no points: last but one
    board = me.text.split('id="notice-board"')[1].split("</section>")[0]
    assert len(re.findall(r"data-notice-id=", board)) == 20

    ranks: list[int] = []
    path = "/me"
    for _ in range(SIZE):
        page = browser.get(path)
        assert page.status_code == 200, page.text
        ranks += [int(r) for r in re.findall(r"<li[^>]*>(\d+)\. ", page.text.split('id="leaderboard"')[1])]
        more = re.search(r'href="\?(period=month&amp;leaders_after=[^"#]+)#leaderboard"', page.text)
        if more is None:
            break
        path = "/me?" + more.group(1).replace("&amp;", "&")
    assert len(ranks) == SIZE + 2 and ranks == sorted(ranks)  # every household of the village, top to bottom

    entries: list[str] = []
    path = "/me"
    for _ in range(SIZE):
        page = browser.get(path)
        entries += re.findall(r'data-notice-id="(\d+)"', page.text)
        more = re.search(r'href="\?(notices_after=[^"#]+)#notice-board"', page.text)
        if more is None:
            break
        path = "/me?" + more.group(1)
    with Session(engine) as session:
        in_notice = session.scalars(
            select(Claim.id).where(col(Claim.status) == ClaimStatus.APPROVED).order_by(col(Claim.id))
        ).all()
    assert sorted(int(e) for e in entries) == list(in_notice) and len(entries) == len(set(entries)) == SIZE
    assert browser.get("/me?leaders_after=abc").status_code == 422
    assert browser.get("/me?notices_after=abc").status_code == 422


def test_my_deduction_says_it_is_on_the_board_whatever_the_board_page(
    browser: TestClient, world: World, engine: Engine
) -> None:
    with unit_of_work(engine) as session:
        matter = session.scalars(select(Matter).where(col(Matter.code) == "breaking_village_rules")).first()
        household = session.get(Household, world.household_a1)
        assert matter is not None and household is not None
        session.execute(
            insert(Deduction),
            [
                dict(
                    county_id=household.county_id,
                    village_id=household.village_id,
                    household_id=household.id,
                    matter_id=matter.id,
                    points=5,
                    posted=0,
                    unpaid=5,
                    reason="Old",
                    recorded_by="user:1",
                    recorded_at=utcnow() - timedelta(days=60),
                ),
                dict(
                    county_id=household.county_id,
                    village_id=household.village_id,
                    household_id=household.id,
                    matter_id=matter.id,
                    points=5,
                    posted=0,
                    unpaid=5,
                    reason="New",
                    recorded_by="user:1",
                ),
            ],
        )
    sign_in_villager(browser, world.villager_phone)
    page = browser.get("/me").text
    assert page.count("公示栏上不写您家的名字") == 1  # the new one; the old one is off the board


def test_the_officials_page_reaches_every_open_appeal_oldest_first_and_shows_the_latest_decided(
    browser: TestClient, world: World, engine: Engine
) -> None:
    crowd = build_crowd(engine, world)
    appeals = appeal_every_deduction(engine, world, crowd)
    decided, still_open = appeals[:30], appeals[30:]
    with unit_of_work(engine) as session:
        session.execute(
            update(Dispute)
            .where(col(Dispute.id).in_(decided))
            .values(status=DisputeStatus.DISMISSED.value, resolved_at=utcnow(), resolved_by="user:1")
        )
    sign_in_staff(browser, "official-a")
    first = browser.get("/office/disputes")
    assert first.status_code == 200
    shown = [int(i) for i in re.findall(r'data-dispute-id="(\d+)" data-dispute-status="dismissed"', first.text)]
    assert shown == decided[::-1][:20]  # the latest decided, newest first, below the open ones
    seen: list[int] = []
    path = "/office/disputes"
    for _ in range(len(still_open)):
        page = browser.get(path)
        assert page.status_code == 200
        seen += [int(i) for i in re.findall(r'data-dispute-id="(\d+)" data-dispute-status="open"', page.text)]
        more = re.search(r'href="(/office/disputes\?open_cursor=[^"]+)"', page.text)
        if more is None:
            break
        path = more.group(1)
    assert seen == still_open  # every open appeal, oldest first, once: the 2 000th household's too
    assert browser.get("/office/disputes?open_cursor=x1").status_code == 422
