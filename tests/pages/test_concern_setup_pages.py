"""The county's set-up of village concerns on pages: each page opens in Chinese for the county admin (and the places
page for a village's official, with only their villages); a change made on a page is what the API then reads, with
its row in the change log; a wrong value is refused in words and changes nothing; officials are refused the
county's pages, villagers every one of them."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import col

from api import i18n
from api.pages.concern_setup import FIELD_TEXTS
from api.pages.messages import ERRORS
from ledger.concerns import open311, setup
from ledger.concerns.models import CalendarDay, ConcernCategory, ConcernHandler, ConcernPlace, Open311Client
from ledger.core import audit
from ledger.core.db import unit_of_work
from ledger.identity.models import User
from ledger.tenancy import County, Village
from tests.api.concerning import principal
from tests.api.conftest import World, password_token
from tests.pages.conftest import csrf_of, form_post, sign_in_staff, sign_in_villager

ZH = i18n.translations("zh_CN")
ADMIN_PAGES = (
    ("/county/concerns/categories", "问题类别"),
    ("/county/concerns/handlers", "处理人"),
    ("/county/concerns/places", "村里的地点"),
    ("/county/calendar", "工作日历"),
    ("/county/open311", "外部系统"),
)


@pytest.fixture
def county(engine: Engine, world: World) -> int:
    """World's county A, with the default categories (as county creation gives it)."""
    with unit_of_work(engine) as session:
        setup.default_categories(session, world.village_a.county_id)
    return world.village_a.county_id


def _refusal(html: str) -> tuple[str, str]:
    found = re.search(r'<p class="refusal" role="alert" data-refusal="([a-z0-9_]*)">(.*?)</p>', html, re.S)
    assert found, "the page says why it refused"
    return found.group(1), found.group(2).strip()


def _changes(engine: Engine, county_id: int, action: str) -> list[dict[str, Any]]:
    with unit_of_work(engine) as session:
        return [audit.as_dict(r) for r in audit.changes(session, county_id, action=action)]


def _category(engine: Engine, county_id: int, code: str) -> ConcernCategory:
    with unit_of_work(engine) as session:
        row = session.scalars(
            select(ConcernCategory).where(
                col(ConcernCategory.county_id) == county_id, col(ConcernCategory.code) == code
            )
        ).one()
        session.expunge(row)
        return row


def _count(engine: Engine, table: Any) -> int:
    with unit_of_work(engine) as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def _user_id(engine: Engine, username: str) -> int:
    with unit_of_work(engine) as session:
        user = session.scalars(select(User).where(col(User.username) == username)).one()
        assert user.id is not None
        return user.id


def _api(browser: TestClient, username: str, path: str) -> Any:
    token = password_token(browser, username)
    answer = browser.get(path, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


# --- who opens what ----------------------------------------------------------------------------------------------


def test_every_page_opens_for_the_county_admin_in_chinese_from_the_home(browser: TestClient, county: int) -> None:
    sign_in_staff(browser, "admin")
    home = browser.get("/county").text
    assert 'data-section="concerns"' in home and 'href="/county/concerns/categories"' in home
    for path, title in ADMIN_PAGES:
        answer = browser.get(path)
        assert answer.status_code == 200, (path, answer.text)
        assert '<html lang="zh-CN">' in answer.text and title in answer.text, path
        for linked, _ in ADMIN_PAGES:  # each page leads to the others
            assert f'href="{linked}"' in answer.text
    categories = browser.get("/county/concerns/categories").text
    road = re.search(r'<tr data-category="road_hazard">(.*?)</tr>', categories, re.S)
    other = re.search(r'<tr data-category="other">(.*?)</tr>', categories, re.S)
    assert road and other
    assert "受理 1 个工作分钟 / 派单 5 个工作分钟 / 办结 24 小时" in " ".join(road.group(1).split())
    assert "办结 3 个工作日" in " ".join(other.group(1).split())
    assert "随手拍：报告隐患" in road.group(1) and "不得积分" in other.group(1)
    assert "国务院" in browser.get("/county/calendar").text  # no holiday list shipped: the county enters it


def test_officials_see_only_their_villages_places_and_no_county_page(
    browser: TestClient, engine: Engine, world: World, county: int
) -> None:
    with unit_of_work(engine) as session:
        village_b = session.get(Village, world.village_b.village_id)
        assert village_b is not None
        b_name = village_b.name
    sign_in_staff(browser, "official-a")
    assert 'href="/office/concerns/places"' in browser.get("/office").text  # the menu leads there
    own = browser.get("/office/concerns/places")
    assert own.status_code == 200 and "村里的地点" in own.text
    assert f'name="village_id" value="{world.village_a.village_id}"' in own.text and b_name not in own.text
    other = browser.get(f"/office/concerns/places?village_id={world.village_b.village_id}")
    assert other.status_code == 404
    for path, _ in ADMIN_PAGES:
        assert browser.get(path).status_code == 403, path
    assert browser.get("/county/calendar").status_code == 403


def test_villagers_and_the_auditor_are_refused_every_page(browser: TestClient, world: World, county: int) -> None:
    sign_in_villager(browser, world.villager_phone)
    for path in [p for p, _ in ADMIN_PAGES] + ["/office/concerns/places"]:
        assert browser.get(path).status_code == 403, path
    browser.cookies.clear()
    sign_in_staff(browser, "auditor")
    for path in [p for p, _ in ADMIN_PAGES] + ["/office/concerns/places"]:
        assert browser.get(path).status_code == 403, path


# --- categories --------------------------------------------------------------------------------------------------


NEW_CATEGORY = {
    "code": "streetlight",
    "name_zh": "路灯不亮",
    "name_en": "Streetlight out",
    "accept_minutes": "2",
    "dispatch_minutes": "10",
    "resolve_amount": "18",
    "resolve_unit": "hours",
    "resolve_working": "on",
    "matter_code": "report_problem",
}


def test_a_category_added_and_edited_on_the_page_is_what_the_api_reads(
    browser: TestClient, engine: Engine, county: int
) -> None:
    sign_in_staff(browser, "admin")
    done = form_post(browser, "/county/concerns/categories", NEW_CATEGORY)
    assert done.status_code == 303 and done.headers["location"] == "/county/concerns/categories?done=category_added"
    shown = browser.get(done.headers["location"]).text
    assert "类别已添加" in shown and "办结 2 个工作日" in " ".join(shown.split())
    listed = {c["code"]: c for c in _api(browser, "admin", "/api/v1/concern-categories")}
    added = listed["streetlight"]
    assert (added["name_zh"], added["urgent"], added["matter_code"]) == ("路灯不亮", False, "report_problem")
    assert (added["accept_minutes"], added["dispatch_minutes"], added["resolve_minutes"]) == (
        2,
        10,
        18 * 60,
    )  # two working days of 08:30–17:30
    assert added["resolve_working"] is True
    assert [c["target_id"] for c in _changes(engine, county, "concern_category.add")] == ["streetlight"]

    row = _category(engine, county, "streetlight")
    edit = {
        "name_zh": "路灯损坏",
        "name_en": "Streetlight broken",
        "urgent": "on",
        "accept_minutes": "1",
        "dispatch_minutes": "5",
        "resolve_amount": "48",
        "resolve_unit": "hours",
        "matter_code": "",  # resolving on the plain clock (box not ticked); no points; not in use (box not ticked)
    }
    saved = form_post(browser, f"/county/concerns/categories/{row.id}", edit, from_page="/county/concerns/categories")
    assert saved.status_code == 303, saved.text
    after = _category(engine, county, "streetlight")
    assert (after.name_zh, after.urgent, after.matter_code, after.active) == ("路灯损坏", True, None, False)
    assert (after.resolve_minutes, after.resolve_working) == (48 * 60, False)
    assert "办结 2 天" in " ".join(browser.get("/county/concerns/categories").text.split())
    active_codes = {c["code"] for c in _api(browser, "admin", "/api/v1/concern-categories?active=true")}
    assert "streetlight" not in active_codes  # no longer on the reporting list
    assert len(_changes(engine, county, "concern_category.change")) == 1
    assert len(_changes(engine, county, "concern_category.deadlines")) == 2  # at adding, and now


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"accept_minutes": "0"}, "category_deadlines_invalid", ERRORS["category_deadlines_invalid"]),
        ({"accept_minutes": "two"}, "invalid", FIELD_TEXTS["accept_minutes"]),
        ({"dispatch_minutes": "99999"}, "category_deadlines_invalid", ERRORS["category_deadlines_invalid"]),
        ({"name_zh": ""}, "invalid", FIELD_TEXTS["name_zh"]),
        ({"code": "路灯"}, "invalid", FIELD_TEXTS["code"]),
        ({"code": "road_hazard"}, "category_exists", ERRORS["category_exists"]),
        ({"matter_code": "volunteering_nowhere"}, "invalid", FIELD_TEXTS["matter_code"]),
    ],
)
def test_a_wrong_category_is_refused_in_words_and_adds_nothing(
    browser: TestClient, engine: Engine, county: int, change: dict[str, str], code: str, words: str
) -> None:
    sign_in_staff(browser, "admin")
    before = _count(engine, ConcernCategory)
    refused = form_post(browser, "/county/concerns/categories", {**NEW_CATEGORY, **change})
    assert refused.status_code in (409, 422), refused.text
    assert _refusal(refused.text) == (code, ZH.gettext(words))
    assert _count(engine, ConcernCategory) == before
    assert _changes(engine, county, "concern_category.add") == []


def test_a_wrong_edit_changes_nothing_of_the_category(browser: TestClient, engine: Engine, county: int) -> None:
    sign_in_staff(browser, "admin")
    row = _category(engine, county, "environment")
    edit = {
        "name_zh": "环境",
        "name_en": "Environment",
        "accept_minutes": "1",
        "dispatch_minutes": "5",
        "resolve_amount": "999999",
        "resolve_unit": "hours",
        "resolve_working": "on",
        "matter_code": "report_problem",
        "active": "on",
    }
    refused = form_post(browser, f"/county/concerns/categories/{row.id}", edit, from_page="/county/concerns/categories")
    assert refused.status_code == 422
    assert _refusal(refused.text)[0] == "category_deadlines_invalid"
    after = _category(engine, county, "environment")
    assert (after.name_zh, after.resolve_minutes) == ("环境卫生", row.resolve_minutes)  # the name was not kept either
    assert _changes(engine, county, "concern_category.change") == []


# --- handlers ----------------------------------------------------------------------------------------------------


def test_a_handler_added_with_members_on_the_page_is_what_the_api_reads(
    browser: TestClient, engine: Engine, world: World, county: int
) -> None:
    sign_in_staff(browser, "admin")
    supervisor = _user_id(engine, "supervisor")
    done = form_post(
        browser,
        "/county/concerns/handlers",
        {
            "kind": "grid",
            "name": "一组网格员",
            "village_id": str(world.village_a.village_id),
            "township_id": "",
            "supervisor_user_id": str(supervisor),
        },
    )
    assert done.status_code == 303, done.text
    with unit_of_work(engine) as session:
        handler = session.scalars(select(ConcernHandler)).one()
        handler_id = handler.id
    page = browser.get(done.headers["location"])
    assert "网格员" in page.text and "处理人已添加" in page.text
    members = [_user_id(engine, "official-a"), _user_id(engine, "official-a2")]
    saved = browser.post(
        f"/county/concerns/handlers/{handler_id}/members",
        data={"csrf": csrf_of(page.text), "user_ids": [str(m) for m in members]},
    )
    assert saved.status_code == 303, saved.text
    listed = _api(browser, "admin", "/api/v1/concern-handlers")
    assert [(h["kind"], h["name"], h["village_id"], sorted(h["member_ids"])) for h in listed] == [
        ("grid", "一组网格员", world.village_a.village_id, sorted(members))
    ]
    page = browser.get("/county/concerns/handlers")
    off = browser.post(f"/county/concerns/handlers/{handler_id}/active", data={"csrf": csrf_of(page.text)})
    assert off.status_code == 303
    assert _api(browser, "admin", "/api/v1/concern-handlers?active=true") == []
    assert len(_changes(engine, county, "concern_handler.members")) == 1

    # a villager's account is no member: refused in words, the members stay
    villager = _user_id_of_phone(engine, world.villager_phone)
    page = browser.get("/county/concerns/handlers")
    refused = browser.post(
        f"/county/concerns/handlers/{handler_id}/members",
        data={"csrf": csrf_of(page.text), "user_ids": [str(members[0]), str(villager)]},
    )
    assert refused.status_code == 422
    assert _refusal(refused.text) == ("invalid", ZH.gettext(FIELD_TEXTS["user_ids"]))
    with unit_of_work(engine) as session:
        assert setup.members(session, handler_id or 0) == sorted(members)


def _user_id_of_phone(engine: Engine, phone: str) -> int:
    from ledger.tenancy import Person

    with unit_of_work(engine) as session:
        person = session.scalars(select(Person).where(col(Person.phone) == phone)).one()
        user = session.scalars(select(User).where(col(User.person_id) == person.id)).one()
        assert user.id is not None
        return user.id


def test_a_handler_in_another_county_or_nameless_is_refused_and_not_added(
    browser: TestClient, engine: Engine, world: World, county: int
) -> None:
    sign_in_staff(browser, "admin")
    for typed, code, words in (
        ({"name": ""}, "invalid", FIELD_TEXTS["name"]),
        ({"village_id": str(world.village_c.village_id)}, "invalid", FIELD_TEXTS["village_id"]),
        ({"kind": "mayor"}, "invalid", FIELD_TEXTS["kind"]),
    ):
        refused = form_post(browser, "/county/concerns/handlers", {"kind": "official", "name": "王主任", **typed})
        assert refused.status_code == 422, typed
        assert _refusal(refused.text) == (code, ZH.gettext(words))
    assert _count(engine, ConcernHandler) == 0


# --- places ------------------------------------------------------------------------------------------------------


def test_an_official_adds_and_retires_a_place_of_their_village_as_the_api_reads(
    browser: TestClient, engine: Engine, world: World, county: int
) -> None:
    sign_in_staff(browser, "official-a")
    village = world.village_a.village_id
    done = form_post(
        browser,
        "/office/concerns/places",
        {"village_id": str(village), "name": "村口石桥", "lat": "30.25", "lon": "120.15"},
    )
    assert done.status_code == 303 and done.headers["location"].startswith(
        f"/office/concerns/places?village_id={village}"
    )
    listed = _api(browser, "official-a", f"/api/v1/concern-places?village_id={village}")
    assert [(p["name"], p["lat"], p["lon"]) for p in listed] == [("村口石桥", 30.25, 120.15)]
    page = browser.get(done.headers["location"])
    assert "村口石桥" in page.text and "地点已加入本村的列表" in page.text
    retired = browser.post(f"/office/concerns/places/{listed[0]['id']}/active", data={"csrf": csrf_of(page.text)})
    assert retired.status_code == 303
    assert _api(browser, "official-a", f"/api/v1/concern-places?village_id={village}") == []

    # another village's place looks missing; a half position is refused in words; neither writes
    with unit_of_work(engine) as session:
        theirs = setup.add_place(session, principal(session, "admin"), village_id=world.village_b.village_id, name="桥")
        theirs_id = theirs.id
    page = browser.get("/office/concerns/places")
    missing = browser.post(f"/office/concerns/places/{theirs_id}/active", data={"csrf": csrf_of(page.text)})
    assert missing.status_code == 404 and _refusal(missing.text)[0] == "place_not_found"
    half = form_post(browser, "/office/concerns/places", {"village_id": str(village), "name": "祠堂", "lat": "30.2"})
    assert half.status_code == 422 and _refusal(half.text) == ("invalid", ZH.gettext(FIELD_TEXTS["lat"]))
    elsewhere = form_post(
        browser, "/office/concerns/places", {"village_id": str(world.village_b.village_id), "name": "祠堂"}
    )
    assert elsewhere.status_code in (403, 404)
    with unit_of_work(engine) as session:
        assert session.get(ConcernPlace, theirs_id).active  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).where(col(ConcernPlace.name) == "祠堂")) == 0


def test_the_county_admin_keeps_the_places_of_any_village_of_the_county(
    browser: TestClient, engine: Engine, world: World, county: int
) -> None:
    sign_in_staff(browser, "admin")
    page = browser.get(f"/county/concerns/places?village_id={world.village_b.village_id}")
    assert page.status_code == 200
    done = form_post(
        browser,
        "/county/concerns/places",
        {"village_id": str(world.village_b.village_id), "name": "文化礼堂"},
        from_page=f"/county/concerns/places?village_id={world.village_b.village_id}",
    )
    assert done.status_code == 303
    assert [
        p["name"] for p in _api(browser, "admin", f"/api/v1/concern-places?village_id={world.village_b.village_id}")
    ] == ["文化礼堂"]
    assert browser.get(f"/county/concerns/places?village_id={world.village_c.village_id}").status_code == 404


# --- the calendar ------------------------------------------------------------------------------------------------


def test_hours_and_marked_days_set_on_the_page_are_what_the_api_reads(
    browser: TestClient, engine: Engine, county: int
) -> None:
    sign_in_staff(browser, "admin")
    done = form_post(
        browser, "/county/calendar", {"work_starts": "09:00", "work_ends": "17:00", "concern_close_days": "10"}
    )
    assert done.status_code == 303
    for day, kind, name in (("2027-10-01", "holiday", "国庆节"), ("2027-10-09", "workday", "国庆调休")):
        marked = form_post(
            browser, "/county/calendar/days", {"day": day, "kind": kind, "name": name}, from_page="/county/calendar"
        )
        assert marked.status_code == 303 and marked.headers["location"].startswith("/county/calendar?year=2027")
    calendar = _api(browser, "admin", "/api/v1/calendar?year=2027")
    assert (calendar["work_starts"], calendar["work_ends"], calendar["concern_close_days"]) == ("09:00", "17:00", 10)
    assert [(d["day"], d["working"], d["name"]) for d in calendar["days"]] == [
        ("2027-10-01", False, "国庆节"),
        ("2027-10-09", True, "国庆调休"),
    ]
    shown = browser.get("/county/calendar?year=2027").text
    assert "国庆节" in shown and "调休上班" in shown
    removed = browser.post("/county/calendar/days/2027-10-09/remove", data={"csrf": csrf_of(shown)})
    assert removed.status_code == 303
    assert [d["day"] for d in _api(browser, "admin", "/api/v1/calendar?year=2027")["days"]] == ["2027-10-01"]
    assert [c["target_id"] for c in _changes(engine, county, "calendar.day_removed")] == ["2027-10-09"]


def test_a_holiday_of_several_days_is_marked_from_one_form(browser: TestClient, engine: Engine, county: int) -> None:
    sign_in_staff(browser, "admin")
    shown = browser.get("/county/calendar?year=2027").text
    assert 'name="last"' in shown and "结束日期" in shown
    typed = {"day": "2027-10-01", "last": "2027-10-07", "kind": "holiday", "name": "国庆节"}
    marked = form_post(browser, "/county/calendar/days", typed, from_page="/county/calendar")
    assert marked.status_code == 303 and marked.headers["location"].startswith("/county/calendar?year=2027")
    days = _api(browser, "admin", "/api/v1/calendar?year=2027")["days"]
    assert [(d["day"], d["working"], d["name"]) for d in days] == [
        (f"2027-10-{n:02d}", False, "国庆节") for n in range(1, 8)
    ]
    assert len(_changes(engine, county, "calendar.day")) == 7
    # a make-up period over a weekday is refused whole, in words, and the typed dates stay in the form
    typed = {"day": "2027-10-09", "last": "2027-10-11", "kind": "workday", "name": "调休"}
    refused = form_post(browser, "/county/calendar/days", typed, from_page="/county/calendar")
    assert refused.status_code == 422 and _refusal(refused.text)[0] == "calendar_day_invalid"
    assert 'value="2027-10-11"' in refused.text
    assert len(_api(browser, "admin", "/api/v1/calendar?year=2027")["days"]) == 7


@pytest.mark.parametrize(
    ("path", "typed", "code"),
    [
        (
            "/county/calendar",
            {"work_starts": "18:00", "work_ends": "09:00", "concern_close_days": "7"},
            "calendar_hours_invalid",
        ),
        (
            "/county/calendar",
            {"work_starts": "08:30", "work_ends": "17:30", "concern_close_days": "0"},
            "calendar_hours_invalid",
        ),
        ("/county/calendar/days", {"day": "2027-10-11", "kind": "workday", "name": "周一"}, "calendar_day_invalid"),
        ("/county/calendar/days", {"day": "1999-10-01", "kind": "holiday", "name": ""}, "calendar_day_invalid"),
        ("/county/calendar/days", {"day": "十月一日", "kind": "holiday", "name": ""}, "invalid"),
        (
            "/county/calendar/days",
            {"day": "2027-10-07", "last": "2027-10-01", "kind": "holiday"},
            "calendar_day_invalid",
        ),
        ("/county/calendar/days", {"day": "2027-10-01", "last": "国庆后", "kind": "holiday"}, "invalid"),
    ],
)
def test_a_wrong_calendar_entry_is_refused_in_words_and_changes_nothing(
    browser: TestClient, engine: Engine, county: int, path: str, typed: dict[str, str], code: str
) -> None:
    sign_in_staff(browser, "admin")
    refused = form_post(browser, path, typed, from_page="/county/calendar")
    assert refused.status_code == 422, refused.text
    shown_code, words = _refusal(refused.text)
    assert shown_code == code and words and "invalid" not in words
    with unit_of_work(engine) as session:
        row = session.get(County, county)
        assert row is not None
        assert (row.work_starts, row.work_ends, row.concern_close_days) == ("08:30", "17:30", 7)
    assert _count(engine, CalendarDay) == 0


def test_removing_a_day_with_no_mark_is_refused_in_words(browser: TestClient, county: int) -> None:
    sign_in_staff(browser, "admin")
    page = browser.get("/county/calendar")
    refused = browser.post(
        f"/county/calendar/days/{date(2027, 5, 3).isoformat()}/remove", data={"csrf": csrf_of(page.text)}
    )
    assert refused.status_code == 404 and _refusal(refused.text)[0] == "not_found"


# --- Open311 clients ---------------------------------------------------------------------------------------------


def test_an_open311_client_made_on_the_page_shows_its_key_once_and_disabling_refuses_it(
    browser: TestClient, engine: Engine, county: int
) -> None:
    sign_in_staff(browser, "admin")
    made = form_post(browser, "/county/open311", {"name": "县12345热线"})
    assert made.status_code == 200 and "只显示这一次" in made.text
    key = re.search(r"<code data-key>([^<]+)</code>", made.text)
    assert key
    with unit_of_work(engine) as session:
        client = open311.client_of_key(session, key.group(1))  # the key shown is the one that works
        client_id = client.id
    again = browser.get("/county/open311").text
    assert key.group(1) not in again and "县12345热线" in again  # never shown again
    listed = _api(browser, "admin", "/api/v1/open311-clients")
    assert [(c["name"], c["active"]) for c in listed] == [("县12345热线", True)]
    off = browser.post(f"/county/open311/{client_id}/disable", data={"csrf": csrf_of(again)})
    assert off.status_code == 303
    assert [c["active"] for c in _api(browser, "admin", "/api/v1/open311-clients")] == [False]
    with unit_of_work(engine) as session, pytest.raises(open311.Open311KeyInvalid):
        open311.client_of_key(session, key.group(1))

    nameless = form_post(browser, "/county/open311", {"name": "  "})
    assert nameless.status_code == 422 and _refusal(nameless.text)[0] == "invalid_open311_client"
    assert "data-new-key" not in nameless.text and _count(engine, Open311Client) == 1


def test_a_form_without_its_csrf_token_changes_nothing(browser: TestClient, engine: Engine, county: int) -> None:
    sign_in_staff(browser, "admin")
    answer = browser.post("/county/open311", data={"name": "伪造"})
    assert answer.status_code == 403 and _count(engine, Open311Client) == 0
