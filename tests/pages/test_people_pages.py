"""The county admin's pages for places and households: each renders in Chinese for the admin only, each form
changes what it says (through ledger/people, so the change log has it), and each refusal is worded on the page it
came from and writes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select
from sqlmodel import col

from ledger.core import audit
from ledger.core.db import unit_of_work
from ledger.identity.models import Role, User
from ledger.journal.models import Account
from ledger.tenancy import Household, Person, Township, Village
from tests import factories
from tests.api.conftest import World
from tests.pages.conftest import csrf_of, form_post, sign_in_staff, sign_in_villager


def send(client: TestClient, path: str, data: dict[str, Any], from_page: str) -> Response:
    return form_post(client, path, data, from_page=from_page)


def logged(engine: Engine, world: World, action: str) -> list[dict[str, Any]]:
    with unit_of_work(engine) as session:
        rows = audit.changes(session, world.village_a.county_id, action=action)
        return [audit.as_dict(r) for r in rows if r.action == action]


def refusal(answer: Response) -> str:
    found = re.search(r'<p class="refusal" role="alert" data-refusal="([a-z_]*)">([^<]*)</p>', answer.text)
    assert found, answer.text[-2000:]
    return f"{found.group(1)}: {found.group(2)}"


def members(engine: Engine, household_id: int) -> dict[str, tuple[str | None, str | None, bool]]:
    with unit_of_work(engine) as session:
        found = session.scalars(select(Person).where(col(Person.household_id) == household_id)).all()
        return {p.name: (p.phone, p.relation, p.is_head) for p in found}


def code_of(engine: Engine, household_id: int) -> str:
    with unit_of_work(engine) as session:
        household = session.get(Household, household_id)
        assert household is not None
        return household.code


PAGES = [
    "/county/places",
    "/county/villages/{village}",
    "/county/households",
    "/county/households/new",
    "/county/households/{household}",
    "/county/households/{household}/close",
]


def test_each_page_opens_in_chinese_for_the_admin_only(browser: TestClient, world: World) -> None:
    paths = [p.format(village=world.village_a.village_id, household=world.household_a1) for p in PAGES]
    sign_in_staff(browser, "admin")
    for path in paths:
        answer = browser.get(path)
        assert answer.status_code == 200, path
        assert '<html lang="zh-CN">' in answer.text and "乡镇和村" in answer.text and "导入花名册" in answer.text
    for username in ("official-a", "supervisor", "auditor", "mart-staff"):
        browser.cookies.clear()
        sign_in_staff(browser, username)
        assert {browser.get(path).status_code for path in paths} == {403}, username
    browser.cookies.clear()
    sign_in_villager(browser, world.villager_phone)
    assert browser.get("/county/households").status_code == 403
    browser.cookies.clear()
    assert browser.get("/county/places").status_code == 303  # sign in first


def test_townships_and_villages_are_added_renamed_and_set(browser: TestClient, engine: Engine, world: World) -> None:
    sign_in_staff(browser, "admin")
    added = send(browser, "/county/townships", {"name": "梅城镇"}, "/county/places")
    assert added.status_code == 303
    places = browser.get(added.headers["location"])
    assert "乡镇已添加。" in places.text and "梅城镇" in places.text
    with unit_of_work(engine) as session:
        township = session.scalars(select(Township).where(col(Township.name) == "梅城镇")).one()
        township_id = township.id
    assert logged(engine, world, "township.create")[-1]["after"]["name"] == "梅城镇"

    twice = send(browser, "/county/townships", {"name": "梅城镇"}, "/county/places")
    assert twice.status_code == 409 and refusal(twice).startswith("township_name_taken: 本县已有同名的乡镇")
    renamed = send(browser, f"/county/townships/{township_id}", {"name": "新梅城镇"}, "/county/places")
    assert renamed.status_code == 303

    village = send(
        browser,
        "/county/villages",
        {"township_id": str(township_id), "name": "三都村", "notice_privacy": "anonymous"},
        "/county/places",
    )
    assert village.status_code == 303
    opened = browser.get(village.headers["location"])
    assert "村已添加" in opened.text and 'value="三都村"' in opened.text
    village_id = int(village.headers["location"].split("/")[-1].split("?")[0])
    with unit_of_work(engine) as session:
        row = session.get(Village, village_id)
        assert row is not None and row.notice_privacy == "anonymous" and row.township_id == township_id
        accounts = session.scalar(
            select(func.count()).select_from(Account).where(col(Account.village_id) == village_id)
        )
        assert accounts == 3  # issuance, expiry, penalty

    saved = send(
        browser,
        f"/county/villages/{village_id}",
        {
            "name": "三都村",
            "township_id": str(township_id),
            "notice_privacy": "surname_house",
            "centre_lat": "29.61",
            "centre_lon": "119.28",
        },
        f"/county/villages/{village_id}",
    )
    assert saved.status_code == 303
    half = send(
        browser,
        f"/county/villages/{village_id}",
        {"name": "三都村", "township_id": str(township_id), "notice_privacy": "full_name", "centre_lat": "95"},
        f"/county/villages/{village_id}",
    )
    assert half.status_code in (409, 422) and "中心" in refusal(half)
    with unit_of_work(engine) as session:
        row = session.get(Village, village_id)
        assert row is not None and (row.notice_privacy, row.centre_lat, row.centre_lon) == (
            "surname_house",
            29.61,
            119.28,
        )
    change = logged(engine, world, "village.change")[-1]
    assert change["before"]["notice_privacy"] == "anonymous" and change["after"]["centre_lat"] == 29.61


def test_another_countys_places_look_missing(browser: TestClient, world: World) -> None:
    sign_in_staff(browser, "admin")
    assert browser.get(f"/county/villages/{world.village_c.village_id}").status_code == 404
    assert browser.get(f"/county/households/{world.household_c1}").status_code == 404
    answer = send(
        browser,
        f"/county/townships/{world.village_c.township_id}",
        {"name": "别县的镇"},
        "/county/places",
    )
    assert answer.status_code == 404


def test_households_are_found_by_number_or_name_a_page_at_a_time(
    browser: TestClient, engine: Engine, world: World
) -> None:
    with unit_of_work(engine) as session:
        for _ in range(52):
            factories.create_household(session, world.village_b.village_id)
    sign_in_staff(browser, "admin")
    first = browser.get(f"/county/households?village_id={world.village_b.village_id}")
    assert first.status_code == 200
    assert len(re.findall(r"<tr data-household-id=", first.text)) == 50
    following = re.search(r'data-action="next-page" href="([^"]+)"', first.text)
    assert following
    second = browser.get(following.group(1).replace("&amp;", "&"))
    assert len(re.findall(r"<tr data-household-id=", second.text)) == 3  # B1 and 52 new: 53 in all
    assert 'data-action="next-page"' not in second.text

    code = code_of(engine, world.household_a1)
    by_code = browser.get(f"/county/households?q={code}")
    assert f'data-household-code="{code}"' in by_code.text
    with unit_of_work(engine) as session:
        head = session.scalars(select(Person).where(col(Person.household_id) == world.household_a2)).first()
        assert head is not None
        name = head.name
    by_name = browser.get("/county/households", params={"q": name})
    assert f'data-household-id="{world.household_a2}"' in by_name.text
    assert browser.get("/county/households?cursor=abc").status_code == 422


def test_a_household_is_added_with_its_head_who_signs_in(browser: TestClient, engine: Engine, world: World) -> None:
    sign_in_staff(browser, "admin")
    form = {
        "village_id": str(world.village_a.village_id),
        "code": "MC-0001",
        "house_number": "12",
        "address": "一组",
        "head_name": "王建国",
        "head_phone": "+86 138-0000-7001",
    }
    added = send(browser, "/county/households/new", form, "/county/households/new")
    assert added.status_code == 303
    page = browser.get(added.headers["location"])
    assert "农户已添加。" in page.text and "用 13800007001 登录" in page.text
    with unit_of_work(engine) as session:
        head = session.scalars(select(Person).where(col(Person.phone) == "13800007001")).one()
        assert head.is_head and head.relation == "户主"
        assert session.scalars(select(User).where(col(User.person_id) == head.id)).one().role == Role.VILLAGER

    again = send(browser, "/county/households/new", {**form, "head_phone": ""}, "/county/households/new")
    assert again.status_code == 409 and refusal(again).startswith("household_code_taken:")
    assert 'value="MC-0001"' in again.text  # what was typed is kept
    bad_phone = send(
        browser, "/county/households/new", {**form, "code": "MC-0002", "head_phone": "12345"}, "/county/households/new"
    )
    assert bad_phone.status_code == 422 and refusal(bad_phone).startswith("phone_malformed: 这不是手机号")
    taken = send(
        browser,
        "/county/households/new",
        {**form, "code": "MC-0003", "head_phone": world.villager_phone},
        "/county/households/new",
    )
    assert taken.status_code == 409 and refusal(taken).startswith("phone_taken:")
    with unit_of_work(engine) as session:
        codes = session.scalars(select(col(Household.code)).where(col(Household.code).startswith("MC-"))).all()
        assert codes == ["MC-0001"]


def test_members_are_added_edited_moved_and_the_head_changed(browser: TestClient, engine: Engine, world: World) -> None:
    household = f"/county/households/{world.household_a1}"
    sign_in_staff(browser, "admin")
    added = send(
        browser, f"{household}/members", {"name": "李秀英", "relation": "配偶", "phone": "13800007002"}, household
    )
    assert added.status_code == 303
    assert members(engine, world.household_a1)["李秀英"] == ("13800007002", "配偶", False)
    with unit_of_work(engine) as session:
        person_id = session.scalars(select(col(Person.id)).where(col(Person.name) == "李秀英")).one()
        villager = session.scalars(select(User).where(col(User.person_id) == person_id)).one()
        assert villager.sign_ins_valid_from is None
        villager_id = villager.id

    edited = send(
        browser, f"/county/members/{person_id}", {"name": "李秀英", "relation": "妻", "phone": "13800007003"}, household
    )
    assert edited.status_code == 303
    assert members(engine, world.household_a1)["李秀英"] == ("13800007003", "妻", False)
    with unit_of_work(engine) as session:
        changed = session.get(User, villager_id)
        assert changed is not None and changed.sign_ins_valid_from is not None  # phone changed: sign-ins end
    assert logged(engine, world, "member.change")[-1]["after"]["phone"] == "13800007003"

    bad = send(browser, f"/county/members/{person_id}", {"name": "", "phone": "1"}, household)
    assert bad.status_code == 422
    assert members(engine, world.household_a1)["李秀英"] == ("13800007003", "妻", False)

    with unit_of_work(engine) as session:
        head_id = session.scalars(
            select(col(Person.id)).where(col(Person.household_id) == world.household_a1, col(Person.is_head))
        ).one()
    stuck = send(
        browser, f"/county/members/{head_id}/move", {"household_code": code_of(engine, world.household_a2)}, household
    )
    assert stuck.status_code == 409 and refusal(stuck).startswith("head_cannot_move: 户主不能迁出")

    headed = send(browser, f"{household}/head", {"person_id": str(person_id), "former_head_relation": "夫"}, household)
    assert headed.status_code == 303
    now = members(engine, world.household_a1)
    assert now["李秀英"] == ("13800007003", "户主", True) and [v for v in now.values() if v[2]] == [now["李秀英"]]

    target = code_of(engine, world.household_a2)
    moved = send(browser, f"/county/members/{head_id}/move", {"household_code": target, "relation": "兄"}, household)
    assert moved.status_code == 303 and moved.headers["location"].startswith(f"/county/households/{world.household_a2}")
    assert head_id in _ids(engine, world.household_a2)
    nowhere = send(browser, f"/county/members/{person_id}/move", {"household_code": "NO-SUCH"}, household)
    assert nowhere.status_code == 404 and refusal(nowhere).startswith("household_not_found:")


def _ids(engine: Engine, household_id: int) -> list[int]:
    with unit_of_work(engine) as session:
        found = session.scalars(select(Person).where(col(Person.household_id) == household_id)).all()
        return [factories.id_of(p) for p in found]


def test_closing_says_what_it_does_asks_to_confirm_and_is_done_once(
    browser: TestClient, engine: Engine, world: World
) -> None:
    close = f"/county/households/{world.household_a2}/close"
    sign_in_staff(browser, "admin")
    page = browser.get(close)
    assert "还在等待审核的申报会失效" in page.text and "注销后不能恢复" in page.text
    unconfirmed = send(browser, close, {"why": "全家迁出"}, close)
    assert unconfirmed.status_code == 400 and "请勾选确认" in unconfirmed.text
    with unit_of_work(engine) as session:
        assert session.get(Household, world.household_a2).closed_at is None  # type: ignore[union-attr]
    done = send(browser, close, {"why": "全家迁出", "confirm": "yes"}, close)
    assert done.status_code == 303
    shown = browser.get(done.headers["location"])
    assert "农户已注销。" in shown.text and 'data-household-status="closed"' in shown.text
    assert 'id="add-member"' not in shown.text  # nothing more is added to it
    with unit_of_work(engine) as session:
        assert session.get(Household, world.household_a2).closed_at is not None  # type: ignore[union-attr]
    again = browser.post(close, data={"csrf": csrf_of(shown.text), "confirm": "yes"})
    assert again.status_code == 409 and refusal(again).startswith("household_closed:")
    assert "这一户已于" in browser.get(close).text


def test_the_admin_does_not_change_their_own_household(browser: TestClient, engine: Engine, world: World) -> None:
    with unit_of_work(engine) as session:
        head = session.scalars(select(Person).where(col(Person.household_id) == world.household_a1)).one()
        admin = session.scalars(select(User).where(col(User.username) == "admin")).one()
        admin.person_id = head.id
        head_id = head.id
    household = f"/county/households/{world.household_a1}"
    sign_in_staff(browser, "admin")
    answer = send(browser, f"{household}/members", {"name": "新成员", "relation": "子"}, household)
    assert answer.status_code == 403 and refusal(answer).startswith("conflict_of_interest:")
    edit = send(browser, f"/county/members/{head_id}", {"name": "改名", "phone": ""}, household)
    assert edit.status_code == 403
    closing = send(browser, f"{household}/close", {"confirm": "yes"}, f"{household}/close")
    assert closing.status_code == 403
    assert "新成员" not in members(engine, world.household_a1) and "改名" not in members(engine, world.household_a1)


@pytest.mark.parametrize("path", ["/county/townships", "/county/households/new"])
def test_a_form_without_its_csrf_token_changes_nothing(browser: TestClient, world: World, path: str) -> None:
    sign_in_staff(browser, "admin")
    answer = browser.post(path, data={"name": "梅城镇", "csrf": "0" * 64})
    assert answer.status_code == 403 and 'data-code="csrf_failed"' in answer.text
