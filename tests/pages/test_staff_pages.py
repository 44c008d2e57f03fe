"""The county admin's staff pages: the list, adding each kind of account with its first password shown once,
changing, disabling (its sessions end at once), enabling, resetting the password, linking to the person in the
roster; and the refusals, worded on the page and writing nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select
from sqlmodel import col

from api.app import create_app
from ledger.core import audit
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.identity.models import OfficialScope, Role, User
from ledger.tenancy import Household, Person
from tests import factories
from tests.api.conftest import World
from tests.pages.conftest import csrf_of, form_post, sign_in_staff

ONE_TIME = re.compile(r'data-one-time-password="([^"]+)"')


@pytest.fixture
def other_browser(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """A second browser, of another person."""
    with TestClient(
        create_app(settings, engine=engine), base_url="https://testserver", follow_redirects=False
    ) as client:
        yield client


def user_id(engine: Engine, username: str) -> int:
    with unit_of_work(engine) as session:
        found = session.scalars(select(User).where(col(User.username) == username)).one()
        return factories.id_of(found)


def account(engine: Engine, username: str) -> User:
    with unit_of_work(engine) as session:
        user = session.scalars(select(User).where(col(User.username) == username)).one()
        session.expunge(user)
        return user


def refusal(answer: Response) -> str:
    found = re.search(r'data-refusal="([a-z_]*)">([^<]*)</p>', answer.text)
    assert found, answer.text[-2000:]
    return f"{found.group(1)}: {found.group(2)}"


def add(browser: TestClient, **form: str | list[str]) -> Response:
    return form_post(browser, "/county/staff", form, from_page="/county/staff")  # type: ignore[arg-type]  # lists are repeated fields


def signs_in(client: TestClient, username: str, password: str) -> int:
    client.cookies.clear()
    page = client.get("/signin")
    answer = client.post(
        "/signin/password", data={"csrf": csrf_of(page.text), "username": username, "password": password}
    )
    code: int = answer.status_code
    return code


def test_the_list_and_the_forms_are_for_the_county_admin(browser: TestClient, engine: Engine, world: World) -> None:
    sign_in_staff(browser, "admin")
    listed = browser.get("/county/staff")
    assert listed.status_code == 200 and "工作人员" in listed.text and "添加工作人员账号" in listed.text
    for name in ("official-a", "supervisor", "auditor", "admin"):
        assert f'data-username="{name}"' in listed.text
    assert "admin-c" not in listed.text and "bank-staff" not in listed.text  # another county's; a partner's
    one = browser.get(f"/county/staff/{user_id(engine, 'official-a')}")
    assert one.status_code == 200 and "花名册中的本人" in one.text
    assert browser.get(f"/county/staff/{user_id(engine, 'admin-c')}").status_code == 404
    assert browser.get(f"/county/staff/{user_id(engine, 'bank-staff')}").status_code in (403, 404)
    for username in ("official-a", "auditor"):
        browser.cookies.clear()
        sign_in_staff(browser, username)
        assert browser.get("/county/staff").status_code == 403
        page = browser.get("/office")
        refused = browser.post(
            "/county/staff", data={"csrf": csrf_of(page.text), "username": "sneaky", "kind": "admin"}
        )
        assert refused.status_code == 403
    assert signs_in(browser, "sneaky", "whatever-password") == 401


def test_an_official_is_added_with_a_first_password_shown_once_which_signs_in(
    browser: TestClient, other_browser: TestClient, engine: Engine, world: World
) -> None:
    sign_in_staff(browser, "admin")
    answer = add(
        browser,
        username="wang-official",
        display_name="王干部",
        kind="official",
        village_ids=[str(world.village_a.village_id), str(world.village_b.village_id)],
        township_id=str(world.village_a.township_id),  # ignored for an official
    )
    assert answer.status_code == 200, answer.text
    assert "账号 wang-official 已添加" in answer.text and "初始密码只显示这一次" in answer.text
    shown = ONE_TIME.search(answer.text)
    assert shown
    user = account(engine, "wang-official")
    assert user.role == Role.OFFICIAL and user.must_change_password and user.display_name == "王干部"
    with unit_of_work(engine) as session:
        villages = session.scalars(
            select(col(OfficialScope.village_id)).where(col(OfficialScope.user_id) == user.id)
        ).all()
        assert sorted(v or 0 for v in villages) == sorted([world.village_a.village_id, world.village_b.village_id])
        rows = audit.changes(session, world.village_a.county_id, action="staff.create")
        created = [audit.as_dict(r) for r in rows if r.target_id == str(user.id)]
        assert created and created[0]["after"]["password"] == "generated"
        assert shown.group(1) not in str(created)  # the change log never holds the password
    assert browser.get(f"/county/staff/{user.id}").text.count(shown.group(1)) == 0  # shown once only
    assert signs_in(other_browser, "wang-official", shown.group(1)) == 303


def test_each_kind_is_added_where_it_works(browser: TestClient, engine: Engine, world: World) -> None:
    sign_in_staff(browser, "admin")
    supervisor = add(browser, username="li-supervisor", kind="supervisor", township_id=str(world.village_a.township_id))
    assert supervisor.status_code == 200
    supervisor_id = user_id(engine, "li-supervisor")
    with unit_of_work(engine) as session:
        scope = session.scalars(select(OfficialScope).where(col(OfficialScope.user_id) == supervisor_id)).one()
        assert scope.township_id == world.village_a.township_id and scope.village_id is None
    auditor = add(browser, username="zhao-auditor", kind="auditor", password="a-long-given-password")
    assert auditor.status_code == 200 and "用您设的密码登录" in auditor.text and not ONE_TIME.search(auditor.text)
    assert account(engine, "zhao-auditor").role == Role.AUDITOR
    admin = add(browser, username="qian-admin", kind="admin")
    assert admin.status_code == 200 and account(engine, "qian-admin").role == Role.COUNTY_ADMIN


def test_refusals_are_worded_and_add_nothing(browser: TestClient, engine: Engine, world: World) -> None:
    sign_in_staff(browser, "admin")
    no_village = add(browser, username="nobody-1", kind="official")
    assert no_village.status_code == 422 and refusal(no_village).startswith("staff_places_invalid: 村干部负责")
    taken = add(browser, username="official-a", kind="auditor")
    assert taken.status_code == 409 and refusal(taken).startswith("username_taken:")
    weak = add(browser, username="nobody-2", kind="auditor", password="short")
    assert weak.status_code == 422 and "weak_password" in weak.text
    elsewhere = add(browser, username="nobody-3", kind="official", village_ids=[str(world.village_c.village_id)])
    assert elsewhere.status_code == 404
    forged = browser.post("/county/staff", data={"csrf": "0" * 64, "username": "nobody-4", "kind": "auditor"})
    assert forged.status_code == 403 and 'data-code="csrf_failed"' in forged.text
    with unit_of_work(engine) as session:
        assert session.scalars(select(User).where(col(User.username).startswith("nobody"))).all() == []


def test_disabling_ends_the_sessions_at_once_and_enabling_lets_them_sign_in(
    browser: TestClient, other_browser: TestClient, engine: Engine, world: World
) -> None:
    sign_in_staff(other_browser, "official-a")
    assert other_browser.get("/office").status_code == 200
    official = user_id(engine, "official-a")
    sign_in_staff(browser, "admin")
    disabled = form_post(browser, f"/county/staff/{official}/disable", {}, from_page=f"/county/staff/{official}")
    assert disabled.status_code == 303
    shown = browser.get(disabled.headers["location"])
    assert "账号已停用" in shown.text and 'data-active="no"' in shown.text
    assert other_browser.get("/office").status_code == 303  # signed out at once
    assert signs_in(other_browser, "official-a", "correct horse battery") == 401
    enabled = form_post(browser, f"/county/staff/{official}/enable", {}, from_page=f"/county/staff/{official}")
    assert enabled.status_code == 303
    assert signs_in(other_browser, "official-a", "correct horse battery") == 303


def test_a_reset_password_is_shown_once_and_the_old_one_no_longer_works(
    browser: TestClient, other_browser: TestClient, engine: Engine, world: World
) -> None:
    official = user_id(engine, "official-a")
    sign_in_staff(browser, "admin")
    page = browser.get(f"/county/staff/{official}")
    reset = browser.post(f"/county/staff/{official}/reset-password", data={"csrf": csrf_of(page.text)})
    assert reset.status_code == 200 and "的密码已重置" in reset.text
    shown = ONE_TIME.search(reset.text)
    assert shown
    assert account(engine, "official-a").must_change_password
    assert signs_in(other_browser, "official-a", "correct horse battery") == 401
    assert signs_in(other_browser, "official-a", shown.group(1)) == 303


def test_the_admin_cannot_disable_or_reset_their_own_account(browser: TestClient, engine: Engine, world: World) -> None:
    me = user_id(engine, "admin")
    sign_in_staff(browser, "admin")
    page = browser.get(f"/county/staff/{me}")
    assert "这是您自己的账号" in page.text
    disabled = form_post(browser, f"/county/staff/{me}/disable", {}, from_page=f"/county/staff/{me}")
    assert disabled.status_code in (403, 409) and refusal(disabled).split(":")[0] in ("own_account", "last_admin")
    reset = browser.post(f"/county/staff/{me}/reset-password", data={"csrf": csrf_of(page.text)})
    assert reset.status_code == 403 and refusal(reset).startswith("own_account:")
    assert account(engine, "admin").active and not account(engine, "admin").must_change_password


def test_an_account_is_linked_to_its_person_by_household_number_and_name(
    browser: TestClient, engine: Engine, world: World
) -> None:
    with unit_of_work(engine) as session:
        household = session.get(Household, world.household_b1)
        assert household is not None
        person = session.scalars(select(Person).where(col(Person.household_id) == world.household_b1)).one()
        code, name, person_id = household.code, person.name, person.id
    official = user_id(engine, "official-a")
    member = f"/county/staff/{official}"
    sign_in_staff(browser, "admin")
    wrong = form_post(
        browser, f"{member}/person", {"household_code": code, "member_name": "没有这个人"}, from_page=member
    )
    assert wrong.status_code == 404 and "请按花名册填写户号和成员姓名" in refusal(wrong)
    linked = form_post(browser, f"{member}/person", {"household_code": code, "member_name": name}, from_page=member)
    assert linked.status_code == 303
    shown = browser.get(linked.headers["location"])
    assert "账号已关联到花名册中的人" in shown.text and f'data-linked-household="{code}"' in shown.text
    assert account(engine, "official-a").person_id == person_id
    other = user_id(engine, "official-b")
    twice = form_post(
        browser, f"/county/staff/{other}/person", {"household_code": code, "member_name": name}, from_page=member
    )
    assert twice.status_code == 409 and refusal(twice).startswith("person_already_linked:")
    unlinked = form_post(browser, f"{member}/person", {"unlink": "yes"}, from_page=member)
    assert unlinked.status_code == 303 and account(engine, "official-a").person_id is None
