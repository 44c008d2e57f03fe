"""The roster import page of the county admin: the template, a preview that lists every problem by row and column
in words and writes nothing, a confirmation that applies the same file (kept on the server for this session
only), and the refusals."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import col

from ledger.core.audit import AdminChange
from ledger.core.db import unit_of_work
from ledger.identity.models import User
from ledger.tenancy import Household, Person, Township, Village
from tests.api.conftest import World
from tests.pages.conftest import csrf_of, form_post, sign_in_staff

HEADER = "乡镇,村,户号,门牌号,地址,姓名,与户主关系,手机号"


def places(engine: Engine, world: World) -> tuple[str, str]:
    with unit_of_work(engine) as session:
        village = session.get(Village, world.village_a.village_id)
        assert village is not None
        township = session.get(Township, village.township_id)
        assert township is not None
        return township.name, village.name


def good_roster(engine: Engine, world: World) -> bytes:
    township, village = places(engine, world)
    rows = [
        HEADER,
        f"{township},{village},NEW-001,8,一组,王建国,户主,138 0000 1001",
        f"{township},{village},NEW-001,8,,李秀英,配偶,",
        f"{township},{village},NEW-002,9,,赵大山,户主,13800001003",
    ]
    return ("\n".join(rows) + "\n").encode("utf-8-sig")


def bad_roster(engine: Engine, world: World) -> bytes:
    township, village = places(engine, world)
    rows = [
        HEADER,
        f"{township},{village},NEW-001,8,,王建国,户主,12345",  # row 2: phone malformed
        f"{township},{village},NEW-002,9,,赵大山,配偶,",  # row 3: a household with no head
        f"{township},没有这个村,NEW-003,,,陈红,户主,",  # row 4: unknown village
    ]
    return ("\n".join(rows) + "\n").encode("utf-8-sig")


def households(engine: Engine, prefix: str = "NEW-") -> list[str]:
    with unit_of_work(engine) as session:
        return sorted(session.scalars(select(col(Household.code)).where(col(Household.code).startswith(prefix))).all())


def imports(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(AdminChange).where(col(AdminChange.action) == "roster.import")
            )
            or 0
        )


def preview(browser: TestClient, content: bytes, filename: str = "roster.csv", **fields: str):  # type: ignore[no-untyped-def]
    page = browser.get("/county/roster")
    assert page.status_code == 200, page.text
    media = "text/csv" if filename.endswith(".csv") else "application/octet-stream"
    return browser.post(
        "/county/roster/preview",
        data={"csrf": csrf_of(page.text), **fields},
        files={"file": (filename, content, media)},
    )


def confirm_fields(html: str) -> dict[str, str]:
    token = re.search(r'name="token" value="([^"]+)"', html)
    sha = re.search(r'name="sha256" value="([0-9a-f]{64})"', html)
    assert token and sha, "the preview offers a confirmation"
    fields = {"csrf": csrf_of(html), "token": token.group(1), "sha256": sha.group(1)}
    if 'name="create_places" value="yes"' in html:
        fields["create_places"] = "yes"
    return fields


def test_the_page_offers_the_template_and_the_upload_in_chinese(browser: TestClient, world: World) -> None:
    sign_in_staff(browser, "admin")
    page = browser.get("/county/roster")
    assert page.status_code == 200
    assert "导入花名册" in page.text and "下载模板（Excel）" in page.text and "添加新的乡镇和村" in page.text
    assert "乡镇、村、户号、门牌号、地址、姓名、与户主关系、手机号" in page.text
    xlsx = browser.get("/county/roster/template.xlsx")
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in xlsx.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    assert [cell.value for cell in sheet[1]] == HEADER.split(",")
    csv = browser.get("/county/roster/template.csv")
    assert csv.status_code == 200 and csv.content.decode("utf-8-sig").splitlines()[0] == HEADER


@pytest.mark.parametrize("username", ["official-a", "supervisor", "auditor", "bank-staff"])
def test_only_the_county_admin_opens_it(browser: TestClient, world: World, username: str) -> None:
    sign_in_staff(browser, username)
    assert browser.get("/county/roster").status_code == 403
    assert browser.get("/county/roster/template.xlsx").status_code == 403


def test_a_file_with_problems_lists_them_by_row_and_column_and_writes_nothing(
    browser: TestClient, engine: Engine, world: World
) -> None:
    sign_in_staff(browser, "admin")
    answer = preview(browser, bad_roster(engine, world))
    assert answer.status_code == 422
    html = answer.text
    assert "文件有 3 个问题，所以什么都没有导入" in html
    assert re.search(
        r'data-row="2" data-problem="phone_malformed"><td>2</td><td>手机号</td><td>这不是 11 位手机号。', html
    )
    assert re.search(r'data-row="3" data-problem="no_head">', html)
    assert re.search(r'data-row="4" data-problem="unknown_village"><td>4</td><td>村</td><td>没有这个名称的村。', html)
    assert 'id="roster-confirm"' not in html  # nothing to confirm
    assert households(engine) == [] and imports(engine) == 0


def test_a_good_file_is_previewed_then_imported_on_confirmation(
    browser: TestClient, engine: Engine, world: World, settings: object
) -> None:
    sign_in_staff(browser, "admin")
    shown = preview(browser, good_roster(engine, world))
    assert shown.status_code == 200, shown.text
    assert "文件没有问题" in shown.text
    assert re.search(r'data-counts="households">\s*<div><strong data-count="added">2</strong>', shown.text)
    assert households(engine) == []  # a preview writes nothing
    held = list((settings.upload_dir / "roster").glob("*.bin"))  # type: ignore[attr-defined]
    assert len(held) == 1

    fields = confirm_fields(shown.text)
    done = browser.post("/county/roster/apply", data=fields)
    assert done.status_code == 200, done.text
    assert "花名册已导入" in done.text and 'data-applied="yes"' in done.text
    assert households(engine) == ["NEW-001", "NEW-002"]
    assert imports(engine) == 1
    with unit_of_work(engine) as session:
        head = session.scalars(select(Person).where(col(Person.phone) == "13800001001")).one()
        assert head.is_head and head.relation == "户主"
        assert session.scalars(select(User).where(col(User.person_id) == head.id)).one().role == "villager"
    assert not list((settings.upload_dir / "roster").glob("*.bin"))  # type: ignore[attr-defined]  # deleted once applied

    again = browser.post("/county/roster/apply", data=fields)  # the file is gone: nothing is applied twice
    assert again.status_code == 404 and "之前检查的文件已不再保存" in again.text
    assert imports(engine) == 1


def test_the_same_file_again_changes_nothing(browser: TestClient, engine: Engine, world: World) -> None:
    sign_in_staff(browser, "admin")
    first = preview(browser, good_roster(engine, world))
    browser.post("/county/roster/apply", data=confirm_fields(first.text))
    second = preview(browser, good_roster(engine, world))
    assert second.status_code == 200
    assert re.search(r'data-counts="households">\s*<div><strong data-count="added">0</strong>', second.text)
    assert re.search(r'data-count="unchanged">2</strong>', second.text)


def test_an_xlsx_roster_with_new_places(browser: TestClient, engine: Engine, world: World) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER.split(","))
    sheet.append(["新乡镇", "新村", "NEW-101", "1", "", "钱多多", "户主", "13800001101"])
    sheet.append(["新乡镇", "新村", "NEW-101", "1", "", "孙小小", "女", "", "身份证号不收"])
    buffer = io.BytesIO()
    book.save(buffer)
    sign_in_staff(browser, "admin")
    without = preview(browser, buffer.getvalue(), "名册.xlsx")
    assert without.status_code == 422 and "unknown_township" in without.text
    shown = preview(browser, buffer.getvalue(), "名册.xlsx", create_places="yes")
    assert shown.status_code == 200, shown.text
    assert "新的乡镇和村" in shown.text and "新乡镇" in shown.text
    done = browser.post("/county/roster/apply", data=confirm_fields(shown.text))
    assert done.status_code == 200
    assert households(engine) == ["NEW-101"]
    with unit_of_work(engine) as session:
        village = session.scalars(select(Village).where(col(Village.name) == "新村")).one()
        assert village.county_id == world.village_a.county_id


def test_the_kept_file_is_only_for_the_session_that_checked_it(
    browser: TestClient, engine: Engine, world: World
) -> None:
    sign_in_staff(browser, "admin")
    shown = preview(browser, good_roster(engine, world))
    fields = confirm_fields(shown.text)
    wrong_sum = browser.post("/county/roster/apply", data={**fields, "sha256": "0" * 64})
    assert wrong_sum.status_code == 404
    browser.cookies.clear()
    sign_in_staff(browser, "admin")  # the same admin, another session
    page = browser.get("/county/roster")
    other = browser.post("/county/roster/apply", data={**fields, "csrf": csrf_of(page.text)})
    assert other.status_code == 404 and "请重新上传" in other.text
    assert households(engine) == []


def test_refusals_are_worded_and_write_nothing(browser: TestClient, engine: Engine, world: World) -> None:
    sign_in_staff(browser, "admin")
    page = browser.get("/county/roster")
    no_file = browser.post("/county/roster/preview", data={"csrf": csrf_of(page.text)})
    assert no_file.status_code == 422 and "请选择要上传的花名册文件" in no_file.text
    unreadable = preview(browser, b"\x00\x01 not a roster", "roster.xlsx")
    assert unreadable.status_code in (400, 422) and "data-refusal" in unreadable.text
    wrong_kind = preview(browser, b"hello", "roster.pdf")
    assert wrong_kind.status_code in (400, 422)
    forged = browser.post(
        "/county/roster/preview",
        data={"csrf": "0" * 64},
        files={"file": ("r.csv", good_roster(engine, world), "text/csv")},
    )
    assert forged.status_code == 403
    assert households(engine) == [] and imports(engine) == 0


def test_the_admin_may_not_change_their_own_household(browser: TestClient, engine: Engine, world: World) -> None:
    township, village = places(engine, world)
    with unit_of_work(engine) as session:
        household = session.get(Household, world.household_a1)
        assert household is not None
        head = session.scalars(select(Person).where(col(Person.household_id) == world.household_a1)).one()
        admin = session.scalars(select(User).where(col(User.username) == "admin")).one()
        admin.person_id = head.id
        code, name, phone = household.code, head.name, head.phone
    content = f"{HEADER}\n{township},{village},{code},,,{name},户主,{phone}\n{township},{village},{code},,,新成员,子,\n"
    sign_in_staff(browser, "admin")
    answer = preview(browser, content.encode())
    assert answer.status_code == 403 and 'data-refusal="conflict_of_interest"' in answer.text
    with unit_of_work(engine) as session:
        assert session.scalars(select(Person).where(col(Person.name) == "新成员")).first() is None


def test_a_problem_found_at_confirmation_writes_nothing(browser: TestClient, engine: Engine, world: World) -> None:
    """The records changed between the preview and the confirmation (the village was renamed meanwhile): nothing
    is applied and the problems are shown again."""
    sign_in_staff(browser, "admin")
    shown = preview(browser, good_roster(engine, world))
    with unit_of_work(engine) as session:
        village = session.get(Village, world.village_a.village_id)
        assert village is not None
        village.name = "改了名的村"
    done = browser.post("/county/roster/apply", data=confirm_fields(shown.text))
    assert done.status_code == 422 and 'data-problem="unknown_village"' in done.text
    assert 'id="roster-confirm"' not in done.text
    assert households(engine) == [] and imports(engine) == 0


def test_form_post_helper_reaches_the_page(browser: TestClient, world: World) -> None:
    sign_in_staff(browser, "admin")
    answer = form_post(
        browser, "/county/roster/apply", {"token": "x" * 30, "sha256": "a" * 64}, from_page="/county/roster"
    )
    assert answer.status_code == 404
