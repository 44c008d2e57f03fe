"""The administrative change log: written with the change, never edited, read and exported by admins and
auditors of the county alone; and sign-ins that end at once."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from ledger.core import audit
from ledger.core.db import unit_of_work
from ledger.identity.models import User
from ledger.identity.service import end_sign_ins
from tests.api.conftest import World, bearer, password_token, villager_token


def _write(engine: Engine, world: World, n: int = 3) -> None:
    with unit_of_work(engine) as session:
        for i in range(n):
            audit.record(
                session,
                county_id=world.village_a.county_id,
                actor="user:1",
                action="village.change",
                target_type="village",
                target_id=world.village_a.village_id,
                before={"name": f"旧{i}", "notice_privacy": "anonymous"},
                after={"name": f"新{i}", "notice_privacy": "anonymous"},
            )
        audit.record(  # another county's change is never shown here
            session, county_id=world.village_c.county_id, actor="user:9", action="village.change", target_type="village"
        )


def test_only_the_fields_that_changed_are_kept_and_no_change_is_no_row(engine: Engine, world: World) -> None:
    with unit_of_work(engine) as session:
        same = audit.record(
            session,
            county_id=world.village_a.county_id,
            actor="user:1",
            action="policy.change",
            target_type="policy",
            before={"notice_days": 7},
            after={"notice_days": 7},
        )
        assert same is None
        row = audit.record(
            session,
            county_id=world.village_a.county_id,
            actor="user:1",
            action="policy.change",
            target_type="policy",
            before={"notice_days": 7, "appeal_days": 7},
            after={"notice_days": 5, "appeal_days": 7},
        )
        assert row is not None and audit.as_dict(row)["before"] == {"notice_days": 7}
        assert audit.as_dict(row)["after"] == {"notice_days": 5}


@pytest.mark.parametrize("sql", ["UPDATE admin_change SET actor = 'someone else'", "DELETE FROM admin_change"])
def test_the_database_refuses_to_edit_or_delete_a_change(engine: Engine, world: World, sql: str) -> None:
    _write(engine, world, 1)
    with pytest.raises(DBAPIError, match="append-only"), unit_of_work(engine) as session:
        session.execute(text(sql))
    with unit_of_work(engine) as session:
        assert {row.actor for row in audit.changes(session, world.village_a.county_id)} == {"user:1"}


def test_admins_and_auditors_read_their_county_and_page_through_it(
    client: TestClient, engine: Engine, world: World
) -> None:
    _write(engine, world)
    for who in ("admin", "auditor"):
        first = client.get("/api/v1/audit?limit=2", headers=bearer(password_token(client, who)))
        assert first.status_code == 200
        page = first.json()
        assert [c["after"]["name"] for c in page["changes"]] == ["新0", "新1"]
        assert page["changes"][0]["before"] == {"name": "旧0"} and page["next_after_id"]
        rest = client.get(
            f"/api/v1/audit?limit=2&after_id={page['next_after_id']}", headers=bearer(password_token(client, who))
        ).json()
        assert [c["after"]["name"] for c in rest["changes"]] == ["新2"] and rest["next_after_id"] is None
    other = client.get("/api/v1/audit", headers=bearer(password_token(client, "admin-c"))).json()
    assert [c["actor"] for c in other["changes"]] == ["user:9"]


def test_officials_villagers_partners_and_strangers_are_refused(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/audit").status_code == 401
    for token in (password_token(client, "official-a"), villager_token(client, world.villager_phone)):
        refused = client.get("/api/v1/audit", headers=bearer(token))
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"


def test_the_log_exports_as_csv_and_xlsx_with_every_change(client: TestClient, engine: Engine, world: World) -> None:
    _write(engine, world)
    token = password_token(client, "auditor")
    csv = client.get("/api/v1/audit?format=csv&action=village", headers=bearer(token))
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig")
    assert list(table["action"]) == ["village.change"] * 3 and "新2" in table["after"].iloc[2]
    xlsx = client.get("/api/v1/audit?format=xlsx", headers=bearer(token))
    assert len(pd.read_excel(io.BytesIO(xlsx.content))) == 3


def test_ending_sign_ins_refuses_the_tokens_already_issued_at_once(
    client: TestClient, engine: Engine, world: World
) -> None:
    token = password_token(client, "official-a")
    assert client.get("/api/v1/county/policy", headers=bearer(token)).status_code == 200
    with unit_of_work(engine) as session:
        user = session.scalars(select(User).where(col(User.username) == "official-a")).one()
        end_sign_ins(session, user.id or 0)
    ended = client.get("/api/v1/county/policy", headers=bearer(token))
    assert ended.status_code == 401
    fresh = password_token(client, "official-a")  # the account itself is still active: a new sign-in works
    assert client.get("/api/v1/county/policy", headers=bearer(fresh)).status_code == 200
