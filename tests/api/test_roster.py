"""The roster over HTTP (api/routes/roster.py) and from the command line: the template, a dry run, an import, the
problems answered 422 with the report, who may call it, a phone change that ends a villager's sign-in, and the
conflict of interest of an admin whose own household the roster would change."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from sqlmodel import Session, col

from api.limits import BodyLimit
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.identity.models import User
from ledger.roster.files import COLUMNS
from ledger.tenancy import Household, Person, Township, Village
from tests.api.conftest import World, app_of, bearer, client_token, password_token, villager_token
from tests.demo_server import shanzhi

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def roster_of(engine: Engine, county_id: int) -> list[list[str]]:
    """The county's households as a roster, one row per member (what a clerk would keep)."""
    with Session(engine) as session:
        found = session.execute(
            select(
                col(Township.name),
                col(Village.name),
                col(Household.code),
                col(Household.house_number),
                col(Household.address),
                col(Person.name),
                col(Person.is_head),
                col(Person.phone),
            )
            .join(Household, col(Household.id) == col(Person.household_id))
            .join(Village, col(Village.id) == col(Household.village_id))
            .join(Township, col(Township.id) == col(Village.township_id))
            .where(col(Household.county_id) == county_id)
            .order_by(col(Person.id))
        ).all()
    return [
        [t, v, code, number or "", address or "", name, "户主" if head else "子", phone or ""]
        for t, v, code, number, address, name, head, phone in found
    ]


def as_csv(rows: list[list[str]], header: tuple[str, ...] = COLUMNS) -> bytes:
    return ("\n".join(",".join(row) for row in [list(header), *rows]) + "\n").encode("utf-8-sig")


def send(client: TestClient, token: str, content: bytes, *, filename: str = "roster.csv", **params: str) -> Any:
    return client.post(
        "/api/v1/roster/imports",
        params=params,
        files={"file": (filename, content, "text/csv" if filename.endswith(".csv") else XLSX)},
        headers=bearer(token),
    )


def test_only_a_county_admin_may_read_the_template_or_import(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/roster/template").status_code == 401
    for token in (
        villager_token(client, world.villager_phone),
        password_token(client, "official-a"),
        password_token(client, "supervisor"),
        password_token(client, "auditor"),
        password_token(client, "bank-staff"),
        client_token(client, "bank"),
    ):
        assert client.get("/api/v1/roster/template", headers=bearer(token)).status_code == 403
        refused = send(client, token, as_csv([]))
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"


def test_the_template_has_the_chinese_headers_and_no_rows(client: TestClient, world: World) -> None:
    token = password_token(client, "admin")
    as_text = client.get("/api/v1/roster/template", params={"format": "csv"}, headers=bearer(token))
    assert as_text.status_code == 200 and as_text.headers["content-type"].startswith("text/csv")
    assert as_text.content.decode("utf-8-sig").strip() == ",".join(COLUMNS)
    book = client.get("/api/v1/roster/template", headers=bearer(token))
    assert book.status_code == 200 and book.headers["content-type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).active
    assert sheet is not None
    assert [cell.value for cell in sheet[1]] == list(COLUMNS) and sheet.max_row == 1


def test_the_template_filled_in_imports_after_a_dry_run(client: TestClient, world: World, engine: Engine) -> None:
    token = password_token(client, "admin")
    book = openpyxl.load_workbook(io.BytesIO(client.get("/api/v1/roster/template", headers=bearer(token)).content))
    sheet = book.active
    assert sheet is not None
    sheet.append(["东山镇", "东山村", "DS-001", "8", "东山村三组", "刘德华", "户主", "13700000001"])
    sheet.append(["东山镇", "东山村", "DS-001", "8", "", "刘小华", "女", ""])
    buffer = io.BytesIO()
    book.save(buffer)
    content = buffer.getvalue()

    refused = send(client, token, content, filename="花名册.xlsx")
    assert refused.status_code == 422 and refused.json()["code"] == "roster_has_problems"
    assert {(p["row"], p["column"], p["code"]) for p in refused.json()["report"]["problems"]} == {
        (2, "乡镇", "unknown_township"),
        (3, "乡镇", "unknown_township"),
    }
    dry = send(client, token, content, filename="花名册.xlsx", create_places="true")
    assert dry.status_code == 200 and dry.json()["applied"] is False
    assert dry.json()["new_places"] == [
        {"township": "东山镇", "village": None},
        {"township": "东山镇", "village": "东山村"},
    ]
    with Session(engine) as session:
        assert session.scalars(select(Household).where(col(Household.code) == "DS-001")).first() is None
    done = send(client, token, content, filename="花名册.xlsx", create_places="true", dry_run="false")
    assert done.status_code == 200, done.text
    report = done.json()
    assert report["applied"] and report["households"]["added"] == 1 and report["members"]["added"] == 2
    assert report["households"]["missing"] == 3  # the county's other households are listed, never deleted
    with Session(engine) as session:
        household = session.scalars(select(Household).where(col(Household.code) == "DS-001")).one()
        assert household.county_id == world.village_a.county_id
    assert villager_token(client, "13700000001")  # the new member signs in with their phone


def test_an_unreadable_file_and_missing_columns(client: TestClient, world: World) -> None:
    token = password_token(client, "admin")
    broken = send(client, token, b"PK\x03\x04 not really a workbook", filename="roster.xlsx")
    assert broken.status_code == 422 and broken.json()["code"] == "file_unreadable"
    other = send(client, token, b"%PDF-1.4", filename="roster.pdf")
    assert other.status_code == 422 and other.json()["code"] == "file_unreadable"
    columns = send(client, token, "乡镇,村,户号,姓名\n".encode())
    assert columns.status_code == 422
    assert [(p["row"], p["column"], p["code"]) for p in columns.json()["report"]["problems"]] == [
        (1, "门牌号", "column_missing"),
        (1, "地址", "column_missing"),
        (1, "与户主关系", "column_missing"),
        (1, "手机号", "column_missing"),
    ]


def test_a_phone_change_ends_the_villagers_sign_in(client: TestClient, world: World, engine: Engine) -> None:
    token = password_token(client, "admin")
    old = villager_token(client, world.villager_phone)
    assert client.get("/api/v1/notifications", headers=bearer(old)).status_code == 200
    rows = roster_of(engine, world.village_a.county_id)
    first = send(client, token, as_csv(rows), dry_run="false")
    assert first.status_code == 200, first.text  # the relations (与户主关系) are recorded: no phone changed
    same = send(client, token, as_csv(rows), dry_run="false")
    assert same.json()["households"]["changed"] == 0 and same.json()["members"]["changed"] == 0
    assert client.get("/api/v1/notifications", headers=bearer(old)).status_code == 200
    changed = [[*row[:7], "13911112222"] if row[7] == world.villager_phone else row for row in rows]
    answer = send(client, token, as_csv(changed), dry_run="false")
    assert answer.status_code == 200 and answer.json()["members"]["changed"] == 1
    assert client.get("/api/v1/notifications", headers=bearer(old)).status_code == 401
    assert villager_token(client, "13911112222")  # the new phone signs in to the same household


def test_problems_are_answered_422_and_nothing_is_written(client: TestClient, world: World, engine: Engine) -> None:
    token = password_token(client, "admin")
    rows = roster_of(engine, world.village_a.county_id)
    bad = [*rows, [rows[0][0], rows[0][1], "NEW-1", "", "", "赵一", "户主", "1380000"]]
    answer = send(client, token, as_csv(bad), dry_run="false")
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["code"] == "roster_has_problems" and problem["report"]["applied"] is False
    assert [(p["row"], p["column"], p["code"]) for p in problem["report"]["problems"]] == [
        (len(bad) + 1, "手机号", "phone_malformed")
    ]
    with Session(engine) as session:
        assert session.scalars(select(Household).where(col(Household.code) == "NEW-1")).first() is None


def test_another_countys_admin_sees_only_their_county(client: TestClient, world: World, engine: Engine) -> None:
    rows = roster_of(engine, world.village_a.county_id)
    answer = send(client, password_token(client, "admin-c"), as_csv(rows))
    assert answer.status_code == 422
    codes = {p["code"] for p in answer.json()["report"]["problems"]}
    assert codes == {"unknown_township", "code_taken", "phone_taken"}  # county A's places and people stay A's
    own = roster_of(engine, world.village_c.county_id)
    report = send(client, password_token(client, "admin-c"), as_csv(own)).json()
    assert report["households"] == {"added": 0, "changed": 0, "unchanged": 1, "missing": 0}


def test_an_admin_may_not_change_their_own_household(client: TestClient, world: World, engine: Engine) -> None:
    rows = roster_of(engine, world.village_a.county_id)
    assert send(client, password_token(client, "admin"), as_csv(rows), dry_run="false").status_code == 200
    with unit_of_work(engine) as session:
        resident = session.scalars(
            select(Person).where(col(Person.household_id) == world.household_a2, col(Person.is_head))
        ).one()
        assert resident is not None
        session.execute(update(User).where(col(User.username) == "admin").values(person_id=resident.id))
        own_code = session.get(Household, world.household_a2)
        assert own_code is not None
        code = own_code.code
    token = password_token(client, "admin")
    untouched = send(client, token, as_csv(rows), dry_run="false")
    assert untouched.status_code == 200  # their household is in the file, unchanged: fine
    moved = [[*row[:4], "新地址", *row[5:]] if row[2] == code else row for row in rows]
    refused = send(client, token, as_csv(moved), dry_run="false")
    assert refused.status_code == 403 and refused.json()["code"] == "conflict_of_interest"


def test_the_roster_route_alone_takes_a_whole_countys_file(client: TestClient, settings: Settings) -> None:
    limits = BodyLimit(app_of(client), settings=settings, routes=app_of(client).routes)
    assert limits.limit_for("POST", "/api/v1/roster/imports") == settings.roster_body_bytes
    assert settings.roster_body_bytes >= 30 * 1024 * 1024  # 100 000 households, about 20 MB as CSV
    assert limits.limit_for("POST", "/api/v1/roster/template") == settings.api_body_bytes


def test_the_commands_write_the_template_and_import_a_roster(tmp_path: Path) -> None:
    database = tmp_path / "county.db"
    shanzhi("db", "upgrade", cwd=tmp_path, database=database, check=True)
    args = ("create-admin", "--county", "jd", "--username", "jd-admin", "--password", "a long passphrase 42")
    shanzhi(*args, cwd=tmp_path, database=database, check=True)
    template = tmp_path / "template.csv"
    shanzhi("roster-template", "--format", "csv", "--out", str(template), cwd=tmp_path, database=database, check=True)
    roster = tmp_path / "roster.csv"
    roster.write_bytes(
        template.read_bytes()
        + "青山镇,青山村,QS-1,1,,王一,户主,13800000001\r\n青山镇,青山村,QS-1,1,,王二,子,138\r\n".encode()
    )
    refused = shanzhi(
        "roster-import", str(roster), "--county", "jd", "--create-places", cwd=tmp_path, database=database
    )
    assert refused.returncode == 1 and "not imported" in refused.stdout
    assert "row 3 手机号: phone_malformed" in refused.stdout
    assert refused.stdout.splitlines()[-1].startswith("roster NOT imported: 2 rows, 1 problems")  # the summary
    assert "roster rows checked: 2 of 2 (100%)" in refused.stderr  # no terminal: plain progress lines
    quiet = shanzhi(
        "roster-import", str(roster), "--county", "jd", "--create-places", "-q", cwd=tmp_path, database=database
    )
    assert quiet.returncode == 1 and quiet.stdout.splitlines() == [refused.stdout.splitlines()[-1]]
    assert quiet.stderr.startswith("row 3 手机号: phone_malformed")  # the errors, and nothing else
    roster.write_bytes(roster.read_bytes().replace(b",138\r\n", b",\r\n"))
    dry = shanzhi(
        "roster-import", str(roster), "--county", "jd", "--create-places", "--dry-run", cwd=tmp_path, database=database
    )
    assert dry.returncode == 0 and "dry run" in dry.stdout and "new places: 青山镇, 青山镇/青山村" in dry.stdout
    done = shanzhi("roster-import", str(roster), "--county", "jd", "--create-places", cwd=tmp_path, database=database)
    assert done.returncode == 0, done.stderr
    assert "households: 1 added" in done.stdout and "members: 2 added" in done.stdout
    assert done.stdout.splitlines()[-1] == (
        "roster imported: 2 rows, 0 problems; households 1 added, 0 changed; members 2 added, 0 changed, 0 moved"
    )
    assert "roster parts written: 5 of 5 (100%)" in done.stderr
    nowhere = shanzhi("roster-import", str(roster), "--county", "nowhere", cwd=tmp_path, database=database)
    assert nowhere.returncode == 2 and "Traceback" not in nowhere.stderr
