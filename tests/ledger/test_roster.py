"""The roster import without HTTP (ledger/roster): every problem with its row and column, all or nothing, the same
file twice, a corrected file, missing households, new places, moves, head and phone changes."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from ledger import roster, tenancy
from ledger.core import audit
from ledger.core.db import unit_of_work
from ledger.identity.models import Role, User
from ledger.journal import verify
from ledger.journal.models import Account, AccountBalance
from ledger.roster.files import COLUMNS
from ledger.tenancy import Household, Person

HEADER = ",".join(COLUMNS)

ROSTER = """乡镇,村,户号,门牌号,地址,姓名,与户主关系,手机号
青山镇,青山村,QS-001,1,青山村一组,王建国,户主,138 0000 0001
青山镇,青山村,QS-001,1,,李秀英,配偶,+86 138-0000-0002
青山镇,青山村,QS-001,1,,王小明,子,
青山镇,青山村,QS-002,2,,赵大山,户主,13800000003
青山镇,绿水村,LS-001,,,陈红,户主,0086 13800000004
"""


def csv(text: str) -> bytes:
    return text.encode("utf-8-sig")


@pytest.fixture
def county(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        county = tenancy.create_county(session, code="jd", name="建德")
        township = tenancy.create_township(session, county=county, code="jd-qs", name="青山镇")
        tenancy.create_village(session, township=township, code="jd-qs-1", name="青山村")
        tenancy.create_village(session, township=township, code="jd-qs-2", name="绿水村")
        assert county.id is not None
        return county.id


def run(
    engine: Engine,
    county_id: int,
    text: str | bytes,
    *,
    dry_run: bool = False,
    create_places: bool = False,
    filename: str = "roster.csv",
) -> dict[str, Any]:
    content = csv(text) if isinstance(text, str) else text
    with unit_of_work(engine) as session:
        table = roster.read_file(content, filename)
        report = roster.apply(
            session,
            county_id=county_id,
            table=table,
            dry_run=dry_run,
            create_places=create_places,
            actor="cli:test",
            by=None,
        )
        return report.as_dict()


def problems(report: dict[str, Any]) -> list[tuple[int, str | None, str]]:
    return [(p["row"], p["column"], p["code"]) for p in report["problems"]]


def people(engine: Engine) -> dict[str, tuple[str, str | None, str | None, bool]]:
    """name → (household code, phone, relation, head)"""
    with Session(engine) as session:
        rows = session.execute(
            select(
                col(Person.name), col(Household.code), col(Person.phone), col(Person.relation), col(Person.is_head)
            ).join(Household, col(Household.id) == col(Person.household_id))
        ).all()
    return {name: (code, phone, relation, bool(head)) for name, code, phone, relation, head in rows}


def counts(engine: Engine) -> tuple[int, int, int, int, int]:
    with Session(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Household)) or 0,
            session.scalar(select(func.count()).select_from(Person)) or 0,
            session.scalar(select(func.count()).select_from(User)) or 0,
            session.scalar(select(func.count()).select_from(Account)) or 0,
            session.scalar(select(func.count()).select_from(AccountBalance)) or 0,
        )


def imports(engine: Engine, county_id: int) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return [audit.as_dict(row) for row in audit.changes(session, county_id, action="roster.import")]


def test_a_roster_creates_households_members_accounts_and_villager_sign_ins(engine: Engine, county: int) -> None:
    report = run(engine, county, ROSTER)
    assert report["problems"] == [] and report["applied"]
    assert report["households"] == {"added": 3, "changed": 0, "unchanged": 0, "missing": 0}
    assert report["members"] == {"added": 5, "changed": 0, "unchanged": 0, "moved": 0, "missing": 0}
    assert people(engine) == {
        "王建国": ("QS-001", "13800000001", "户主", True),
        "李秀英": ("QS-001", "13800000002", "配偶", False),
        "王小明": ("QS-001", None, "子", False),
        "赵大山": ("QS-002", "13800000003", "户主", True),
        "陈红": ("LS-001", "13800000004", "户主", True),
    }
    households, members, users, accounts, balances = counts(engine)
    assert (households, members, users) == (3, 5, 4)  # one villager sign-in per member with a phone
    assert accounts == 2 * 3 + 3 * 2 and balances == accounts  # two per household, three per village
    with Session(engine) as session:
        first = session.scalars(select(Household).where(col(Household.code) == "QS-001")).one()
        assert (first.name, first.house_number, first.address) == ("王家", "1", "青山村一组")
        villagers = session.scalars(select(User).where(col(User.role) == Role.VILLAGER)).all()
        assert all(u.active and u.person_id and u.county_id == county for u in villagers)
        assert verify.verify(session).ok
    logged = imports(engine, county)
    assert len(logged) == 1  # one summary line, not one per row
    assert logged[0]["after"]["households"]["added"] == 3 and len(logged[0]["target_id"]) == 64


def test_the_same_file_twice_changes_nothing(engine: Engine, county: int) -> None:
    run(engine, county, ROSTER)
    before = counts(engine), people(engine)
    again = run(engine, county, ROSTER)
    assert again["households"] == {"added": 0, "changed": 0, "unchanged": 3, "missing": 0}
    assert again["members"] == {"added": 0, "changed": 0, "unchanged": 5, "moved": 0, "missing": 0}
    assert (counts(engine), people(engine)) == before


def test_a_dry_run_reports_and_writes_nothing(engine: Engine, county: int) -> None:
    before = counts(engine)
    report = run(engine, county, ROSTER, dry_run=True)
    assert report["households"]["added"] == 3 and not report["applied"]
    assert counts(engine) == before and imports(engine, county) == []


def test_every_problem_names_its_row_and_column_and_nothing_is_written(engine: Engine, county: int) -> None:
    bad = """乡镇,村,户号,门牌号,地址,姓名,与户主关系,手机号
青山镇,青山村,A1,,,甲,户主,12345
青山镇,青山村,A1,,,乙,户主,13800000011
青山镇,青山村,A2,,,丙,子,13800000011
青山镇,青山村,,,,丁,户主,
青山镇,青山村,A3,,,,户主,
白云镇,青山村,A4,,,戊,户主,
青山镇,白云村,A5,,,己,户主,
青山镇,青山村,A6,,,庚,户主,13800000020
青山镇,青山村,A7,,,庚,户主,13800000020
青山镇,青山村,A6,,,辛,女,
青山镇,青山村,A6,,,辛,女,
"""
    before = counts(engine)
    report = run(engine, county, bad)
    assert not report["applied"]
    assert problems(report) == [
        (2, "手机号", "phone_malformed"),
        (3, "与户主关系", "two_heads"),
        (4, "与户主关系", "no_head"),
        (4, "手机号", "phone_repeated"),
        (5, "户号", "code_missing"),
        (6, "姓名", "name_missing"),
        (7, "乡镇", "unknown_township"),
        (8, "村", "unknown_village"),
        (10, "户号", "member_in_two_households"),
        (12, "姓名", "member_repeated"),
    ]
    assert all(p["message"] for p in report["problems"])
    assert counts(engine) == before  # all or nothing


def test_missing_columns_are_answered_before_anything_else(engine: Engine, county: int) -> None:
    report = run(engine, county, "乡镇,村,户号,姓名,身份证号\n青山镇,青山村,A1,甲,330101\n")
    assert problems(report) == [
        (1, "门牌号", "column_missing"),
        (1, "地址", "column_missing"),
        (1, "与户主关系", "column_missing"),
        (1, "手机号", "column_missing"),
    ]
    assert report["ignored_columns"] == ["身份证号"]


def test_extra_columns_are_ignored_and_named(engine: Engine, county: int) -> None:
    text = ROSTER.replace("手机号\n", "手机号,身份证号\n", 1)
    report = run(engine, county, text)
    assert report["applied"] and report["ignored_columns"] == ["身份证号"]


def test_unknown_places_are_created_when_asked(engine: Engine, county: int) -> None:
    text = HEADER + "\n白云镇,白云村,BY-1,,,周一,户主,\n青山镇,新村,XC-1,,,吴二,户主,\n"
    refused = run(engine, county, text)
    assert problems(refused) == [(2, "乡镇", "unknown_township"), (3, "村", "unknown_village")]
    dry = run(engine, county, text, create_places=True, dry_run=True)
    assert dry["problems"] == [] and dry["new_places"] == [
        {"township": "白云镇", "village": None},
        {"township": "白云镇", "village": "白云村"},
        {"township": "青山镇", "village": "新村"},
    ]
    report = run(engine, county, text, create_places=True)
    assert report["applied"] and report["households"]["added"] == 2
    again = run(engine, county, text)
    assert again["new_places"] == [] and again["households"]["unchanged"] == 2
    with Session(engine) as session:
        assert verify.verify(session).ok


def test_a_corrected_file_applies_only_the_differences(engine: Engine, county: int) -> None:
    run(engine, county, ROSTER)
    corrected = (
        ROSTER.replace(
            "青山镇,青山村,QS-001,1,青山村一组,王建国,户主,138 0000 0001",
            "青山镇,青山村,QS-001,1,青山村二组,王建国,户主,138 0000 0001",
        ).replace("王小明,子,", "王小明,子,13800000009")
        + "青山镇,绿水村,LS-002,,,孙丽,户主,\n"
    )
    report = run(engine, county, corrected)
    assert report["households"] == {"added": 1, "changed": 1, "unchanged": 2, "missing": 0}
    assert report["members"] == {"added": 1, "changed": 1, "unchanged": 4, "moved": 0, "missing": 0}
    assert people(engine)["王小明"] == ("QS-001", "13800000009", "子", False)
    assert counts(engine)[2] == 5  # 王小明 can sign in now


def test_missing_households_and_members_are_listed_never_deleted(engine: Engine, county: int) -> None:
    run(engine, county, ROSTER)
    shorter = "\n".join(line for line in ROSTER.splitlines() if "QS-002" not in line and "王小明" not in line) + "\n"
    report = run(engine, county, shorter)
    assert report["households"]["missing"] == 1 and report["missing_households"] == ["QS-002"]
    assert report["members"]["missing"] == 1
    assert report["missing_members"] == [{"household": "QS-001", "name": "王小明"}]
    assert counts(engine)[:2] == (3, 5)


def test_a_head_change_and_a_phone_change(engine: Engine, county: int) -> None:
    run(engine, county, ROSTER)
    changed = ROSTER.replace("王建国,户主,138 0000 0001", "王建国,父,13900000001").replace("李秀英,配偶", "李秀英,户主")
    report = run(engine, county, changed)
    assert report["problems"] == []
    assert report["households"]["changed"] == 1 and report["members"]["changed"] == 2
    after = people(engine)
    assert after["王建国"] == ("QS-001", "13900000001", "父", False)
    assert after["李秀英"][3] is True
    with Session(engine) as session:
        household = session.scalars(select(Household).where(col(Household.code) == "QS-001")).one()
        assert household.name == "李家"  # named after its head
        user = session.scalars(
            select(User).join(Person, col(Person.id) == col(User.person_id)).where(col(Person.name) == "王建国")
        ).one()
        assert user.sign_ins_valid_from is not None and user.active  # the old phone's sign-ins ended


def test_a_phone_removed_disables_the_sign_in_and_a_phone_added_back_restores_it(engine: Engine, county: int) -> None:
    run(engine, county, ROSTER)
    without = ROSTER.replace("+86 138-0000-0002", "")
    run(engine, county, without)

    def active() -> bool:
        with Session(engine) as session:
            user = session.scalars(
                select(User).join(Person, col(Person.id) == col(User.person_id)).where(col(Person.name) == "李秀英")
            ).one()
            return user.active

    assert not active()
    run(engine, county, ROSTER)
    assert active() and counts(engine)[2] == 4


def test_a_sign_in_the_admin_disabled_stays_disabled(engine: Engine, county: int) -> None:
    run(engine, county, ROSTER)
    with unit_of_work(engine) as session:
        person = session.scalars(select(Person).where(col(Person.name) == "赵大山")).one()
        user = session.scalars(select(User).where(col(User.person_id) == person.id)).one()
        user.active = False
        user_id = user.id
    run(engine, county, ROSTER.replace("赵大山,户主,13800000003", "赵大山,户主,13800000033"))
    with Session(engine) as session:
        again = session.get(User, user_id)
        assert again is not None
        assert not again.active  # a new phone, still disabled


def test_a_phone_seen_in_another_household_is_a_move(engine: Engine, county: int) -> None:
    run(engine, county, ROSTER)
    moved = ROSTER.replace("青山镇,青山村,QS-001,1,,李秀英,配偶,+86 138-0000-0002\n", "") + (
        "青山镇,青山村,QS-002,2,,李秀英,配偶,13800000002\n"
    )
    report = run(engine, county, moved)
    assert report["problems"] == [] and report["members"]["moved"] == 1 and report["members"]["added"] == 0
    assert people(engine)["李秀英"] == ("QS-002", "13800000002", "配偶", False)
    assert counts(engine)[1] == 5


def test_a_member_moves_into_a_household_the_file_adds(engine: Engine, county: int) -> None:
    run(engine, county, ROSTER)
    split = ROSTER.replace("青山镇,青山村,QS-001,1,,李秀英,配偶,+86 138-0000-0002\n", "") + (
        "青山镇,青山村,QS-003,3,,李秀英,户主,13800000002\n"
    )
    report = run(engine, county, split)
    assert report["problems"] == [] and report["households"]["added"] == 1
    assert report["members"]["moved"] == 1 and report["members"]["added"] == 0
    assert people(engine)["李秀英"] == ("QS-003", "13800000002", "户主", True)
    with Session(engine) as session:
        assert verify.verify(session).ok


def test_a_phone_kept_by_its_holder_is_taken(engine: Engine, county: int) -> None:
    run(engine, county, ROSTER)
    text = ROSTER + "青山镇,绿水村,LS-009,,,钱七,户主,13800000003\n"  # 赵大山's phone, 赵大山 keeps it
    report = run(engine, county, text)
    assert problems(report) == [(7, "手机号", "phone_repeated")]
    text = ROSTER.replace("赵大山,户主,13800000003", "赵大山,户主,") + "青山镇,绿水村,LS-009,,,钱七,户主,13800000003\n"
    report = run(engine, county, text)  # 赵大山 lets it go in the same file: 钱七 may have it
    assert report["problems"] == [] and people(engine)["钱七"][1] == "13800000003"
    text = ROSTER.replace("赵大山,户主,13800000003", "赵大山,户主,").replace("0086 13800000004", "13800000003")
    report = run(engine, county, text)
    assert problems(report) == [(6, "手机号", "phone_taken")]  # 钱七 of LS-009 (not in this file) holds it


def test_an_xlsx_roster_reads_like_the_csv(engine: Engine, county: int) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for line in ROSTER.splitlines():
        sheet.append([int(v) if v.isdigit() and len(v) == 11 else v for v in line.split(",")])
    buffer = io.BytesIO()
    book.save(buffer)
    report = run(engine, county, buffer.getvalue(), filename="花名册.xlsx")
    assert report["problems"] == [] and report["members"]["added"] == 5
    assert people(engine)["赵大山"][1] == "13800000003"  # a number cell read as its digits


def test_a_gbk_csv_is_read(engine: Engine, county: int) -> None:
    report = run(engine, county, ROSTER.encode("gbk"))
    assert report["problems"] == [] and report["households"]["added"] == 3


def test_an_unreadable_file_is_refused() -> None:
    with pytest.raises(roster.RosterUnreadable):
        roster.read_file(b"\x00\x01 not a workbook", "roster.xlsx")
    with pytest.raises(roster.RosterUnreadable):
        roster.read_file(b"abc", "roster.pdf")


@pytest.mark.parametrize("format_", ["csv", "xlsx"])
def test_the_template_and_rows_import_cleanly(engine: Engine, county: int, format_: str) -> None:
    content = roster.template(format_)  # type: ignore[arg-type]
    table = roster.read_file(content, f"t.{format_}")
    assert list(table.columns) == list(COLUMNS) and len(table) == 0
    if format_ == "xlsx":
        book = openpyxl.load_workbook(io.BytesIO(content))
        sheet = book.active
        assert sheet is not None
        for line in ROSTER.splitlines()[1:]:
            sheet.append(line.split(","))
        buffer = io.BytesIO()
        book.save(buffer)
        content = buffer.getvalue()
    else:
        content += csv("\r\n".join(ROSTER.splitlines()[1:]) + "\r\n").removeprefix(b"\xef\xbb\xbf")
    report = run(engine, county, content, filename=f"t.{format_}")
    assert report["problems"] == [] and report["members"]["added"] == 5
