"""A household's members download everything held about their household (PIPL access), as JSON and XLSX; nobody
else's, and staff only through the county admin's route for a request made in person, which the change log
records."""

from __future__ import annotations

import io

import pandas as pd
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api import concerning
from tests.api.claiming import claim, code_of, decide, new_activity, photo
from tests.api.conftest import World, bearer, client_token, password_token, villager_token
from tests.api.test_credit import consent, give_history, look
from tests.api.test_people import admin, logged, refused


def _rich_household(client: TestClient, world: World, engine: Engine) -> tuple[str, int, int]:
    """Household A1 with settled history, a claim with a photo (rejected, with a reason), a consent and a bank's
    look at its rating. Returns the villager's token, the claim and the photo."""
    give_history(engine, world, world.household_a1)
    villager = villager_token(client, world.villager_phone)
    official = password_token(client, "official-a")
    photo_id = photo(client, villager)
    made = claim(
        client, villager, code_of(new_activity(client, official, world.village_a.village_id)), evidence_ids=[photo_id]
    )
    assert made.status_code == 201, made.text
    assert decide(client, official, made.json()["id"], "reject", reason="照片看不清").status_code == 201
    consent_id = consent(client, villager)
    assert look(client, client_token(client, "bank"), world.household_a1, consent_id).status_code == 200
    return villager, int(made.json()["id"]), photo_id


def test_a_member_downloads_everything_about_their_household_as_json_and_xlsx(
    client: TestClient, world: World, engine: Engine
) -> None:
    villager, claim_id, photo_id = _rich_household(client, world, engine)

    answer = client.get("/api/v1/me/data", headers=bearer(villager))

    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store" and "attachment" in answer.headers["Content-Disposition"]
    data = answer.json()
    assert data["household"]["id"] == world.household_a1
    assert [m["phone"] for m in data["members"] if m["is_head"]] == [world.villager_phone]
    assert data["balance"]["posted"] == 6 * 14 and len(data["statement"]) == 14
    rejected = next(c for c in data["claims"] if c["id"] == claim_id)
    assert rejected["status"] == "rejected" and rejected["reject_reason"] == "照片看不清"
    assert rejected["evidence"] == [f"/api/v1/evidence/{photo_id}"] and "flags" not in rejected  # the household's view
    assert [(p["id"], p["claims"]) for p in data["photos"]] == [(photo_id, [claim_id])]
    assert client.get(data["photos"][0]["link"], headers=bearer(villager)).status_code == 200  # a link it may open
    assert [lookup["partner"] for lookup in data["lookups"]] == ["bank"]
    assert data["consents"][0]["partner_id"] and data["ratings"] and data["ratings"][0]["reasons"]
    assert {n["kind"] for n in data["notifications"]} >= {"claim_rejected"}

    workbook = client.get("/api/v1/me/data", params={"format": "xlsx"}, headers=bearer(villager))

    assert workbook.status_code == 200 and workbook.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheets = pd.read_excel(io.BytesIO(workbook.content), sheet_name=None, engine="openpyxl")
    assert list(sheets)[:6] == ["农户", "家庭成员", "积分余额", "积分明细", "积分申报", "照片"]
    assert len(sheets["积分明细"]) == 14 and sheets["积分申报"]["reject_reason"].tolist() == ["照片看不清"]
    assert str(sheets["家庭成员"]["phone"].iloc[0]) == world.villager_phone
    assert sheets["银行查看评级的记录"]["partner"].tolist() == ["bank"]
    assert sheets["兑换券"]["vouchers"].tolist() == ["没有这类信息。"]  # an empty section says so
    english = client.get("/api/v1/me/data", params={"format": "xlsx", "lang": "en"}, headers=bearer(villager))
    assert "Points statement" in pd.read_excel(io.BytesIO(english.content), sheet_name=None, engine="openpyxl")


def test_only_the_household_itself_and_the_county_admin_in_person_get_the_file(
    client: TestClient, world: World, engine: Engine
) -> None:
    _rich_household(client, world, engine)
    for role in ("official-a", "auditor", "admin"):
        assert refused(client.get("/api/v1/me/data", headers=bearer(password_token(client, role))), 403, "forbidden")
    neighbour = villager_token(client, "13900000002")
    mine = client.get("/api/v1/me/data", headers=bearer(neighbour)).json()
    assert mine["household"]["id"] == world.household_a2 and mine["claims"] == [] and mine["lookups"] == []
    a1 = world.household_a1
    assert client.get(f"/api/v1/households/{a1}/data", headers=bearer(neighbour)).status_code == 403
    assert client.get(f"/api/v1/households/{a1}/data", headers=admin(client, "official-a")).status_code == 403
    assert refused(
        client.get(f"/api/v1/households/{a1}/data", headers=admin(client, "admin-c")), 404, "household_not_found"
    )
    assert client.get("/api/v1/me/data", params={"format": "pdf"}, headers=bearer(neighbour)).status_code == 422

    in_person = client.get(f"/api/v1/households/{a1}/data", params={"format": "xlsx"}, headers=admin(client))

    assert in_person.status_code == 200, in_person.text
    exported = logged(engine, world, "household.data_export", a1)
    assert len(exported) == 1 and exported[0]["after"] == {"format": "xlsx"}


def test_the_households_own_concerns_are_in_its_file_with_their_timeline(
    client: TestClient, world: World, engine: Engine
) -> None:
    concerning.set_up(engine, world)
    villager = villager_token(client, world.villager_phone)
    sent = client.post(
        "/api/v1/concerns",
        json={"category": "road_hazard", "kind": "hazard", "text": "桥边路面塌了", "anonymous": True},
        headers=bearer(villager) | {"Idempotency-Key": "data-1"},
    )
    assert sent.status_code == 201, sent.text
    official = password_token(client, "official-a")
    assert client.post(f"/api/v1/concerns/{sent.json()['id']}/accept", headers=bearer(official)).status_code == 200

    data = client.get("/api/v1/me/data", headers=bearer(villager)).json()

    [mine] = data["concerns"]
    assert (mine["id"], mine["text"], mine["anonymous"]) == (sent.json()["id"], "桥边路面塌了", True)
    assert [step["action"] for step in mine["timeline"]] == ["submit", "accept"]
    workbook = client.get("/api/v1/me/data", params={"format": "xlsx"}, headers=bearer(villager))
    sheets = pd.read_excel(io.BytesIO(workbook.content), sheet_name=None, engine="openpyxl")
    assert sheets["反映的村民诉求"]["text"].tolist() == ["桥边路面塌了"]
