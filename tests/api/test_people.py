"""The county's structure and people, one change at a time (docs/people.md): the county admin builds townships,
villages and households, adds, edits and moves members, changes heads and phones; each change is in the change log,
a phone change ends the member's sign-ins, and nobody outside the county (or inside it, without the role) can."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine
from sqlmodel import col, select

from ledger.core import audit
from ledger.core.db import unit_of_work
from ledger.identity import service as identity
from ledger.identity.models import Role, User
from ledger.tenancy import Person
from tests.api.conftest import World, bearer, password_token, villager_token


def admin(client: TestClient, username: str = "admin") -> dict[str, str]:
    return bearer(password_token(client, username))


def logged(engine: Engine, world: World, action: str, target_id: object) -> list[dict[str, Any]]:
    """The county's change-log rows of this action and target (rows of other tests' making are left out)."""
    with unit_of_work(engine) as session:
        rows = audit.changes(session, world.village_a.county_id, action=action)
        return [audit.as_dict(r) for r in rows if r.action == action and r.target_id == str(target_id)]


def household(client: TestClient, headers: dict[str, str], household_id: int) -> dict[str, Any]:
    answer = client.get(f"/api/v1/households/{household_id}", headers=headers)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store", answer.text
    found: dict[str, Any] = answer.json()
    return found


def add_member(client: TestClient, headers: dict[str, str], household_id: int, **body: Any) -> dict[str, Any]:
    answer = client.post(f"/api/v1/households/{household_id}/members", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return next(m for m in answer.json()["members"] if m["name"] == body["name"])


def refused(answer: Response, status: int, code: str) -> bool:
    return answer.status_code == status and bool(answer.json()["code"] == code)


def signs_in(client: TestClient, phone: str) -> bool:
    code = client.post("/api/v1/auth/otp/request", json={"phone": phone}).json()["dev_code"]
    answer: Response = client.post("/api/v1/auth/otp/verify", json={"phone": phone, "code": code})
    return answer.status_code == 200


def still_signed_in(client: TestClient, token: str, household_id: int) -> bool:
    answer: Response = client.get(f"/api/v1/households/{household_id}/balance", headers=bearer(token))
    assert answer.status_code in (200, 401), answer.text
    return answer.status_code == 200


# --- building the county ----------------------------------------------------------------------------------------


def test_the_admin_builds_a_township_a_village_and_a_household_whose_head_signs_in(
    client: TestClient, world: World, engine: Engine
) -> None:
    headers = admin(client)
    township = client.post("/api/v1/townships", json={"name": "梅城镇"}, headers=headers)
    assert township.status_code == 201, township.text
    village = client.post(
        "/api/v1/villages",
        json={"township_id": township.json()["id"], "name": "三河村", "centre_lat": 29.48, "centre_lon": 119.28},
        headers=headers,
    )
    assert village.status_code == 201, village.text
    assert village.json()["notice_privacy"] == "surname_house" and village.json()["centre_lat"] == 29.48
    made = client.post(
        "/api/v1/households",
        json={
            "village_id": village.json()["id"],
            "code": "SH-001",
            "house_number": "12",
            "address": "三河村12号",
            "head_name": "王建国",
            "head_phone": "+86 139-1234-5678",
        },
        headers=headers,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["code"], body["name"], body["head_name"], body["house_number"]) == (
        "SH-001",
        "王建国家",
        "王建国",
        "12",
    )
    assert body["members"] == [
        {
            "person_id": body["members"][0]["person_id"],
            "name": "王建国",
            "relation": "户主",
            "is_head": True,
            "phone": "13912345678",
            "signs_in": True,
            "erased_at": None,
        }
    ]
    token = villager_token(client, "13912345678")
    assert household(client, bearer(token), body["id"])["code"] == "SH-001"
    assert client.get("/api/v1/townships", headers=headers).json()[-1]["name"] == "梅城镇"
    assert "三河村" in [v["name"] for v in client.get("/api/v1/villages", headers=headers).json()]
    assert logged(engine, world, "township.create", township.json()["id"])[0]["after"]["name"] == "梅城镇"
    assert logged(engine, world, "village.create", village.json()["id"])[0]["after"]["centre_lon"] == 119.28
    created = logged(engine, world, "household.create", body["id"])
    assert created[0]["before"] is None and created[0]["after"]["head"]["phone"] == "13912345678"


def test_names_codes_centres_and_phones_are_checked_and_nothing_is_half_written(
    client: TestClient, world: World, engine: Engine
) -> None:
    headers = admin(client)
    township = client.post("/api/v1/townships", json={"name": "乾潭镇"}, headers=headers).json()
    assert refused(
        client.post("/api/v1/townships", json={"name": "乾潭镇"}, headers=headers), 409, "township_name_taken"
    )
    village = {"township_id": township["id"], "name": "胥岭村"}
    assert client.post("/api/v1/villages", json=village, headers=headers).status_code == 201
    assert refused(client.post("/api/v1/villages", json=village, headers=headers), 409, "village_name_taken")
    half = {"township_id": township["id"], "name": "新村", "centre_lat": 29.5}
    assert refused(client.post("/api/v1/villages", json=half, headers=headers), 422, "centre_invalid")
    far = {**half, "centre_lon": 200}
    assert refused(client.post("/api/v1/villages", json=far, headers=headers), 422, "invalid_request")
    new = {"village_id": world.village_a.village_id, "code": "A-100", "head_name": "李四"}
    for phone in ("1391234567", "23912345678", "+1 415 555 0100", "139123456789"):
        answer = client.post("/api/v1/households", json={**new, "head_phone": phone}, headers=headers)
        assert refused(answer, 422, "phone_malformed"), (phone, answer.text)
    taken = {**new, "head_phone": "139-0000-0002"}  # household A2's head's
    assert refused(client.post("/api/v1/households", json=taken, headers=headers), 409, "phone_taken")
    assert client.post("/api/v1/households", json=new, headers=headers).status_code == 201
    assert refused(client.post("/api/v1/households", json=new, headers=headers), 409, "household_code_taken")
    with unit_of_work(engine) as session:  # the refused households left no head behind
        assert session.scalars(select(Person).where(col(Person.name) == "李四")).all().__len__() == 1
    for phone in ("0086 13912340000", "139 1234 0000", "139-1234-0000"):
        same = add_member(client, headers, world.household_b1, name=f"成员{phone[-6:]}", phone=phone)
        assert same["phone"] == "13912340000"
        cleared = client.patch(f"/api/v1/members/{same['person_id']}", json={"phone": None}, headers=headers)
        assert cleared.status_code == 200, cleared.text


def test_the_village_patch_sets_privacy_for_officials_and_more_for_the_admin(
    client: TestClient, world: World, engine: Engine
) -> None:
    village = world.village_a.village_id
    official = bearer(password_token(client, "official-a"))
    answer = client.patch(f"/api/v1/villages/{village}", json={"notice_privacy": "anonymous"}, headers=official)
    assert answer.status_code == 200 and answer.json()["notice_privacy"] == "anonymous", answer.text
    assert refused(client.patch(f"/api/v1/villages/{village}", json={"name": "X"}, headers=official), 403, "forbidden")
    other = client.patch(
        f"/api/v1/villages/{world.village_b.village_id}", json={"notice_privacy": "anonymous"}, headers=official
    )
    assert refused(other, 404, "village_not_found")
    headers = admin(client)
    township = client.post("/api/v1/townships", json={"name": "大同镇"}, headers=headers).json()
    moved = client.patch(
        f"/api/v1/villages/{village}",
        json={"name": "新安村", "township_id": township["id"], "centre_lat": 29.1, "centre_lon": 119.5},
        headers=headers,
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["name"], moved.json()["township_id"], moved.json()["notice_privacy"]) == (
        "新安村",
        township["id"],
        "anonymous",
    )
    cleared = client.patch(
        f"/api/v1/villages/{village}", json={"centre_lat": None, "centre_lon": None}, headers=headers
    )
    assert cleared.json()["centre_lat"] is None
    changes = logged(engine, world, "village.change", village)
    assert changes[0]["before"] == {"notice_privacy": "surname_house"}
    assert changes[1]["before"]["name"] != "新安村" and changes[1]["after"]["name"] == "新安村"
    assert changes[2]["after"] == {"centre_lat": None, "centre_lon": None}
    renamed = client.patch(f"/api/v1/townships/{township['id']}", json={"name": "大同"}, headers=headers)
    assert renamed.status_code == 200 and renamed.json()["name"] == "大同"
    assert logged(engine, world, "township.rename", township["id"])[0]["after"] == {"name": "大同"}


# --- who may --------------------------------------------------------------------------------------------------


def test_only_the_county_admin_restructures_and_other_counties_look_missing(
    client: TestClient, world: World, engine: Engine
) -> None:
    with unit_of_work(engine) as session:
        person = session.scalars(select(Person).where(col(Person.household_id) == world.household_a1)).first()
        assert person is not None and person.id is not None
        person_id = person.id
    a1 = world.household_a1
    writes = [
        ("POST", "/api/v1/townships", {"name": "外乡"}),
        ("POST", "/api/v1/villages", {"township_id": world.village_a.township_id, "name": "外村"}),
        ("POST", "/api/v1/households", {"village_id": world.village_a.village_id, "code": "X1", "head_name": "X"}),
        ("PATCH", f"/api/v1/townships/{world.village_a.township_id}", {"name": "外乡"}),
        ("PATCH", f"/api/v1/households/{a1}", {"address": "外"}),
        ("POST", f"/api/v1/households/{a1}/members", {"name": "外人"}),
        ("PATCH", f"/api/v1/members/{person_id}", {"name": "外人"}),
        ("POST", f"/api/v1/members/{person_id}/move", {"household_id": world.household_a2}),
        ("POST", f"/api/v1/households/{a1}/head", {"person_id": person_id}),
        ("POST", f"/api/v1/households/{a1}/close", {}),
    ]
    tokens = {
        "official-a": password_token(client, "official-a"),
        "supervisor": password_token(client, "supervisor"),
        "auditor": password_token(client, "auditor"),
        "villager": villager_token(client, world.villager_phone),
        "bank": client.post(
            "/api/v1/auth/token",
            data={"grant_type": "client_credentials", "client_id": "bank", "client_secret": "bank-secret"},
        ).json()["access_token"],
    }
    for who, token in tokens.items():
        for method, path, body in writes:
            answer = client.request(method, path, json=body, headers=bearer(token))
            assert refused(answer, 403, "forbidden"), (who, method, path, answer.text)
    other = admin(client, "admin-c")
    expected = {"/api/v1/villages": "township_not_found", "/api/v1/households": "village_not_found"}
    for method, path, body in writes[1:]:
        answer = client.request(method, path, json=body, headers=other)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["code"] in {
            expected.get(path),
            "township_not_found",
            "household_not_found",
            "person_not_found",
        }
    assert household(client, admin(client), a1)["members"][0]["name"] != "外人"
    with unit_of_work(engine) as session:  # nothing was written by any of them
        assert audit.changes(session, world.village_a.county_id) == []
        assert audit.changes(session, world.village_c.county_id) == []


def test_who_reads_households_and_phones(client: TestClient, world: World) -> None:
    official_b = bearer(password_token(client, "official-b"))
    listed = client.get("/api/v1/households", headers=official_b).json()["households"]
    assert [h["id"] for h in listed] == [world.household_b1]
    assert "phone" not in str(listed) and listed[0]["head_name"]
    assert refused(
        client.get(f"/api/v1/households/{world.household_a1}", headers=official_b), 404, "household_not_found"
    )
    assert client.get("/api/v1/households", headers=official_b).headers["Cache-Control"] == "no-store"
    own = household(client, official_b, world.household_b1)
    assert own["members"][0]["phone"] == "13900000003"
    answer = client.get("/api/v1/households", params={"village_id": world.village_a.village_id}, headers=official_b)
    assert refused(answer, 404, "village_not_found")
    villager = bearer(villager_token(client, world.villager_phone))
    assert household(client, villager, world.household_a1)["members"][0]["phone"] == world.villager_phone
    assert refused(client.get(f"/api/v1/households/{world.household_a2}", headers=villager), 404, "household_not_found")
    assert refused(client.get("/api/v1/households", headers=villager), 403, "forbidden")
    assert [v["id"] for v in client.get("/api/v1/villages", headers=official_b).json()] == [world.village_b.village_id]
    assert refused(client.get("/api/v1/townships", headers=official_b), 403, "forbidden")
    auditor = bearer(password_token(client, "auditor"))
    county = {world.household_a1, world.household_a2, world.household_b1}
    assert {h["id"] for h in client.get("/api/v1/households", headers=auditor).json()["households"]} == county
    assert household(client, auditor, world.household_a1)["members"][0]["phone"] == world.villager_phone
    townships = [t["id"] for t in client.get("/api/v1/townships", headers=auditor).json()]
    assert world.village_a.township_id in townships and world.village_c.township_id not in townships
    assert refused(
        client.get(f"/api/v1/households/{world.household_a1}", headers=admin(client, "admin-c")),
        404,
        "household_not_found",
    )


def test_the_household_list_pages_with_a_cursor_and_finds_by_code_or_name(client: TestClient, world: World) -> None:
    headers = admin(client)
    for n in range(5):
        made = client.post(
            "/api/v1/households",
            json={"village_id": world.village_a.village_id, "code": f"PG-{n}", "head_name": f"赵{n}"},
            headers=headers,
        )
        assert made.status_code == 201, made.text
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"village_id": world.village_a.village_id, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/api/v1/households", params=params, headers=headers).json()
        seen += [h["id"] for h in page["households"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7 and seen == sorted(seen)  # A1, A2 and the five
    by_code = client.get("/api/v1/households", params={"q": "pg-"}, headers=headers).json()["households"]
    assert [h["code"] for h in by_code] == [f"PG-{n}" for n in range(5)]
    by_name = client.get("/api/v1/households", params={"q": "赵3"}, headers=headers).json()["households"]
    assert [h["code"] for h in by_name] == ["PG-3"]
    assert client.get("/api/v1/households", params={"q": "%"}, headers=headers).json()["households"] == []
    bad = client.get("/api/v1/households", params={"cursor": "abc"}, headers=headers)
    assert bad.status_code == 422


# --- members and phones ---------------------------------------------------------------------------------------


def test_a_changed_phone_ends_the_members_sign_ins_and_the_new_phone_signs_the_same_account_in(
    client: TestClient, world: World, engine: Engine
) -> None:
    old = villager_token(client, world.villager_phone)
    head = household(client, bearer(old), world.household_a1)["members"][0]
    headers = admin(client)
    changed = client.patch(f"/api/v1/members/{head['person_id']}", json={"phone": "137 0000 0009"}, headers=headers)
    assert changed.status_code == 200, changed.text
    assert not still_signed_in(client, old, world.household_a1)
    assert not signs_in(client, world.villager_phone)
    new = villager_token(client, "13700000009")
    assert still_signed_in(client, new, world.household_a1)
    with unit_of_work(engine) as session:
        accounts = session.scalars(
            select(User).where(col(User.person_id) == head["person_id"], col(User.role) == Role.VILLAGER)
        ).all()
        assert len(accounts) == 1 and accounts[0].active
    row = logged(engine, world, "member.change", head["person_id"])[0]
    assert (row["before"], row["after"]) == ({"phone": world.villager_phone}, {"phone": "13700000009"})


def test_a_removed_phone_ends_the_sign_in_and_a_phone_added_again_opens_it(
    client: TestClient, world: World, engine: Engine
) -> None:
    headers = admin(client)
    member = add_member(client, headers, world.household_a1, name="王小明", relation="子", phone="13600000001")
    assert member["signs_in"] and member["relation"] == "子"
    token = villager_token(client, "13600000001")
    removed = client.patch(f"/api/v1/members/{member['person_id']}", json={"phone": None}, headers=headers)
    assert removed.status_code == 200
    assert not still_signed_in(client, token, world.household_a1)
    assert not next(m for m in removed.json()["members"] if m["name"] == "王小明")["signs_in"]
    assert not signs_in(client, "13600000001")
    again = client.patch(f"/api/v1/members/{member['person_id']}", json={"phone": "13600000001"}, headers=headers)
    assert next(m for m in again.json()["members"] if m["name"] == "王小明")["signs_in"]
    assert not still_signed_in(client, token, world.household_a1)  # a token from before stays ended
    assert signs_in(client, "13600000001")
    with unit_of_work(engine) as session:
        assert len(session.scalars(select(User).where(col(User.person_id) == member["person_id"])).all()) == 1
    renamed = client.patch(
        f"/api/v1/members/{member['person_id']}", json={"name": "王晓明", "relation": "女"}, headers=headers
    )
    assert next(m for m in renamed.json()["members"] if m["name"] == "王晓明")["relation"] == "女"
    assert refused(
        client.patch(f"/api/v1/members/{member['person_id']}", json={"relation": "户主"}, headers=headers),
        422,
        "invalid",
    )
    assert [r["after"] for r in logged(engine, world, "member.change", member["person_id"])] == [
        {"phone": None},
        {"phone": "13600000001"},
        {"name": "王晓明", "relation": "女"},
    ]


def test_a_member_moves_the_head_only_after_the_head_changed(client: TestClient, world: World, engine: Engine) -> None:
    headers = admin(client)
    son = add_member(client, headers, world.household_a1, name="王二", relation="子", phone="13600000002")
    token = villager_token(client, "13600000002")
    moved = client.post(
        f"/api/v1/members/{son['person_id']}/move",
        json={"household_id": world.household_b1, "relation": "女婿"},
        headers=headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["id"] == world.household_b1 and "王二" in [m["name"] for m in moved.json()["members"]]
    assert not still_signed_in(client, token, world.household_a1)
    assert still_signed_in(client, villager_token(client, "13600000002"), world.household_b1)
    row = logged(engine, world, "member.move", son["person_id"])[0]
    assert row["before"] == {"household_id": world.household_a1, "relation": "子"}
    assert row["after"] == {"household_id": world.household_b1, "relation": "女婿"}
    head = household(client, headers, world.household_a1)["members"][0]
    away = client.post(
        f"/api/v1/members/{head['person_id']}/move", json={"household_id": world.household_b1}, headers=headers
    )
    assert refused(away, 409, "head_cannot_move")
    wife = add_member(client, headers, world.household_a1, name="李芳", relation="配偶")
    changed = client.post(
        f"/api/v1/households/{world.household_a1}/head",
        json={"person_id": wife["person_id"], "former_head_relation": "配偶"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    members = changed.json()["members"]
    assert [(m["name"], m["relation"], m["is_head"]) for m in members if m["is_head"]] == [("李芳", "户主", True)]
    assert changed.json()["head_name"] == "李芳"
    assert (
        client.post(
            f"/api/v1/members/{head['person_id']}/move", json={"household_id": world.household_b1}, headers=headers
        ).status_code
        == 200
    )
    stranger = household(client, headers, world.household_a2)["members"][0]
    elsewhere = client.post(
        f"/api/v1/households/{world.household_a1}/head", json={"person_id": stranger["person_id"]}, headers=headers
    )
    assert refused(elsewhere, 404, "person_not_found")
    row = logged(engine, world, "household.head", world.household_a1)[0]
    assert row["before"]["head_person_id"] == head["person_id"] and row["after"]["head_person_id"] == wife["person_id"]
    out_of_county = client.post(
        f"/api/v1/members/{wife['person_id']}/move", json={"household_id": world.household_c1}, headers=headers
    )
    assert refused(out_of_county, 404, "household_not_found")


def test_the_county_admin_does_not_restructure_their_own_household(
    client: TestClient, world: World, engine: Engine
) -> None:
    headers = admin(client)
    member = add_member(client, headers, world.household_a1, name="县管理员", relation="子")
    head = household(client, headers, world.household_a1)["members"][0]
    with unit_of_work(engine) as session:
        user = session.scalars(select(User).where(col(User.username) == "admin")).one()
        identity.link_staff(session, user_id=user.id or 0, person_id=member["person_id"], by=None)
    headers = admin(client)
    a1 = world.household_a1
    attempts = [
        ("PATCH", f"/api/v1/households/{a1}", {"address": "我家"}),
        ("POST", f"/api/v1/households/{a1}/members", {"name": "亲戚"}),
        ("PATCH", f"/api/v1/members/{head['person_id']}", {"phone": "13600000003"}),
        ("POST", f"/api/v1/members/{member['person_id']}/move", {"household_id": world.household_a2}),
        (
            "POST",
            f"/api/v1/members/{household(client, headers, world.household_a2)['members'][0]['person_id']}/move",
            {"household_id": a1},
        ),
        ("POST", f"/api/v1/households/{a1}/head", {"person_id": member["person_id"]}),
        ("POST", f"/api/v1/households/{a1}/close", {}),
    ]
    before = household(client, headers, a1)
    for method, path, body in attempts:
        answer = client.request(method, path, json=body, headers=headers)
        assert refused(answer, 403, "conflict_of_interest"), (method, path, answer.text)
    assert household(client, headers, a1) == before
