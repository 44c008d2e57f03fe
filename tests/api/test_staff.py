"""Staff accounts, as a county admin runs them: officials with their villages, township supervisors, auditors and
county admins created with a password their holder must replace; disabled and reset at once; linked to the person
they are in the roster, so that the conflict-of-interest rule applies to them; every change in the change log."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select
from sqlalchemy.pool import QueuePool
from sqlmodel import col

from ledger.core import audit
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.identity import passwords, staff
from ledger.identity.models import Role, User
from ledger.tenancy import Person, Village
from tests.api.claiming import claim, code_of, decide, new_activity
from tests.api.conftest import PASSWORD, World, app_of, bearer, password_token, villager_token
from tests.concurrently import run_together
from tests.factories import id_of, principal_of
from tests.pages.conftest import sign_in_staff

NEW_PASSWORD = "a long one of my own 2026"


def _ids(engine: Engine) -> dict[str, int]:
    with unit_of_work(engine) as session:
        return {u.username: id_of(u) for u in session.scalars(select(User)) if u.username}


def _create(client: TestClient, admin: str, **body: Any) -> Response:
    response: Response = client.post("/api/v1/staff", json=body, headers=bearer(admin))
    return response


def _created(client: TestClient, admin: str, **body: Any) -> dict[str, Any]:
    made = _create(client, admin, **body)
    assert made.status_code == 201, made.text
    found: dict[str, Any] = made.json()
    return found


def _token(client: TestClient, username: str, password: str) -> Response:
    response: Response = client.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": password}
    )
    return response


def _own_password(client: TestClient, username: str, given: str) -> str:
    """Sign in with the password someone else set, replace it, and return a token that works everywhere."""
    token = password_token(client, username, given)
    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": given, "new_password": NEW_PASSWORD},
        headers=bearer(token),
    )
    assert changed.status_code == 204, changed.text
    return token


def _changes(engine: Engine, county_id: int, since_id: int) -> list[dict[str, Any]]:
    with unit_of_work(engine) as session:
        return [audit.as_dict(row) for row in audit.changes(session, county_id, after_id=since_id)]


def _last_change_id(engine: Engine, county_id: int) -> int:
    with unit_of_work(engine) as session:
        rows = audit.changes(session, county_id)
        return id_of(rows[-1]) if rows else 0


def _code(engine: Engine, village_id: int) -> str:
    with unit_of_work(engine) as session:
        village = session.get(Village, village_id)
        assert village is not None
        return village.code


def _seen(client: TestClient, token: str, village_id: int) -> int:
    return int(client.get(f"/api/v1/villages/{village_id}/notice-board", headers=bearer(token)).status_code)


def test_the_county_admin_creates_each_kind_and_each_works_where_it_should(
    client: TestClient, world: World, engine: Engine
) -> None:
    admin = password_token(client, "admin")
    since = _last_change_id(engine, world.village_a.county_id)
    a, b, c = world.village_a.village_id, world.village_b.village_id, world.village_c.village_id
    official = _created(
        client, admin, username="li-official", display_name="李村干部", kind="official", village_ids=[a]
    )
    supervisor = _created(
        client, admin, username="wang-supervisor", kind="supervisor", township_id=world.village_a.township_id
    )
    auditor = _created(client, admin, username="zhao-auditor", kind="auditor", password="given by the admin 1")
    second = _created(client, admin, username="second-admin", kind="admin")
    assert (official["kind"], official["role"], official["village_ids"]) == ("official", "official", [a])
    assert (supervisor["kind"], supervisor["role"], supervisor["township_id"]) == (
        "supervisor",
        "official",
        world.village_a.township_id,
    )
    assert (auditor["role"], second["role"]) == ("auditor", "county_admin")
    assert auditor["password"] is None  # the admin gave it: not echoed
    for made in (official, supervisor, second):
        assert made["must_change_password"] and len(made["password"]) >= 12

    listed = client.get("/api/v1/staff", headers=bearer(admin))
    assert listed.status_code == 200, listed.text
    rows = {row["username"]: row for row in listed.json()["items"]}
    assert {"li-official", "wang-supervisor", "zhao-auditor", "second-admin", "admin", "official-home"} <= set(rows)
    assert "password" not in rows["li-official"]  # shown once, at creation
    assert not {"bank-staff", "admin-c"} & set(rows)  # partner staff, another county's admin
    assert all(row["role"] != Role.VILLAGER for row in rows.values())
    assert rows["official-home"]["household_id"] == world.household_a2
    assert rows["supervisor"]["kind"] == "supervisor"

    tokens = {
        made["username"]: _own_password(client, made["username"], made["password"] or "given by the admin 1")
        for made in (official, supervisor, auditor, second)
    }
    assert [_seen(client, tokens["li-official"], v) for v in (a, b, c)] == [200, 404, 404]
    assert [_seen(client, tokens["wang-supervisor"], v) for v in (a, b, c)] == [200, 200, 404]
    assert [_seen(client, tokens["zhao-auditor"], v) for v in (a, b, c)] == [200, 200, 404]
    assert client.get("/api/v1/staff", headers=bearer(tokens["second-admin"])).status_code == 200
    assert _token(client, "li-official", NEW_PASSWORD).status_code == 200

    changes = _changes(engine, world.village_a.county_id, since)
    created = [row for row in changes if row["action"] == "staff.create"]
    assert [row["after"]["username"] for row in created] == [
        "li-official",
        "wang-supervisor",
        "zhao-auditor",
        "second-admin",
    ]
    assert created[0]["after"]["villages"] == [_code(engine, a)]
    assert created[1]["after"]["kind"] == "supervisor" and created[1]["after"]["township"]
    assert {row["after"]["password"] for row in created} == {"generated", "set"}
    assert sum(row["action"] == "staff.change_own_password" for row in changes) == 4
    text = json.dumps(changes, default=str)
    assert "argon2" not in text and "given by the admin" not in text and NEW_PASSWORD not in text
    assert all(row["actor"] == f"user:{_ids(engine)['admin']}" for row in created)


def test_new_accounts_are_refused_plainly(client: TestClient, world: World, engine: Engine) -> None:
    admin = password_token(client, "admin")
    a = world.village_a.village_id
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"username": "official-a", "kind": "auditor"}, 409, "username_taken"),
        ({"username": "OFFICIAL-A", "kind": "auditor"}, 409, "username_taken"),
        ({"username": "short-pw", "kind": "auditor", "password": "too short"}, 422, "weak_password"),
        ({"username": "default-pw", "kind": "auditor", "password": "PASSWORD"}, 422, "weak_password"),
        ({"username": "no-villages", "kind": "official"}, 422, "staff_places_invalid"),
        ({"username": "both", "kind": "official", "village_ids": [a], "township_id": 1}, 422, "staff_places_invalid"),
        ({"username": "no-township", "kind": "supervisor"}, 422, "staff_places_invalid"),
        ({"username": "auditor-v", "kind": "auditor", "village_ids": [a]}, 422, "staff_places_invalid"),
        (
            {"username": "far", "kind": "official", "village_ids": [world.village_c.village_id]},
            404,
            "village_not_found",
        ),
        (
            {"username": "far-t", "kind": "supervisor", "township_id": world.village_c.township_id},
            404,
            "township_not_found",
        ),
        ({"username": "ghost", "kind": "official", "village_ids": [10**6]}, 404, "village_not_found"),
        ({"username": "bad name!", "kind": "auditor"}, 422, "invalid_request"),
        ({"username": "x-role", "kind": "villager"}, 422, "invalid_request"),
    ]
    before = _ids(engine)
    for body, status, code in cases:
        answer = _create(client, admin, **body)
        assert (answer.status_code, answer.json()["code"]) == (status, code), (body, answer.text)
    assert _ids(engine) == before  # nothing half-written
    for who in ("official-a", "supervisor", "auditor", "bank-staff"):
        token = password_token(client, who)
        assert _create(client, token, username="by-" + who, kind="auditor").status_code == 403
        assert client.get("/api/v1/staff", headers=bearer(token)).status_code == 403
    villager = villager_token(client, world.villager_phone)
    assert client.get("/api/v1/staff", headers=bearer(villager)).json()["code"] == "forbidden"


def test_until_a_new_password_is_set_every_other_route_says_so(client: TestClient, world: World) -> None:
    admin = password_token(client, "admin")
    made = _created(client, admin, username="new-official", kind="official", village_ids=[world.village_a.village_id])
    token = password_token(client, "new-official", made["password"])
    for method, path in (
        ("GET", "/api/v1/claims"),
        ("GET", f"/api/v1/villages/{world.village_a.village_id}/notice-board"),
        ("GET", "/api/v1/staff"),  # not theirs anyway: the password comes first
    ):
        answer = client.request(method, path, headers=bearer(token))
        assert (answer.status_code, answer.json()["code"]) == (403, "password_change_required"), (path, answer.text)

    def change(current: str, new: str) -> Response:
        response: Response = client.post(
            "/api/v1/auth/password", json={"current_password": current, "new_password": new}, headers=bearer(token)
        )
        return response

    assert (change("not the password", NEW_PASSWORD).json()["code"]) == "current_password_wrong"
    assert change(made["password"], "short").json()["code"] == "weak_password"
    assert change(made["password"], made["password"]).json()["code"] == "same_password"
    assert change(made["password"], NEW_PASSWORD).status_code == 204
    assert _seen(client, token, world.village_a.village_id) == 200  # the same token now works
    assert _token(client, "new-official", made["password"]).status_code == 401
    assert _token(client, "new-official", NEW_PASSWORD).status_code == 200
    listed = {r["username"]: r for r in client.get("/api/v1/staff", headers=bearer(admin)).json()["items"]}
    assert listed["new-official"]["must_change_password"] is False
    villager = villager_token(client, world.villager_phone)
    assert (
        client.post(
            "/api/v1/auth/password",
            json={"current_password": "x", "new_password": NEW_PASSWORD},
            headers=bearer(villager),
        ).json()["code"]
        == "forbidden"
    )


def test_disabling_ends_a_token_and_a_web_session_at_once_and_enabling_lets_them_back(
    client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    admin = password_token(client, "admin")
    official_id = _ids(engine)["official-a"]
    token = password_token(client, "official-a")
    browser = TestClient(app_of(client), base_url="https://testserver", follow_redirects=False)
    sign_in_staff(browser, "official-a")  # a browser session
    assert browser.get("/office").status_code == 200
    since = _last_change_id(engine, world.village_a.county_id)

    disabled = client.post(f"/api/v1/staff/{official_id}/disable", headers=bearer(admin))
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert client.get("/api/v1/claims", headers=bearer(token)).status_code == 401
    gone = browser.get("/office")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/signin")
    assert _token(client, "official-a", PASSWORD).status_code == 401

    enabled = client.post(f"/api/v1/staff/{official_id}/enable", headers=bearer(admin))
    assert enabled.status_code == 200 and enabled.json()["active"] is True
    assert client.get("/api/v1/claims", headers=bearer(token)).status_code == 401  # ended is ended
    assert _seen(client, password_token(client, "official-a"), world.village_a.village_id) == 200
    assert [(r["action"], r["before"], r["after"]) for r in _changes(engine, world.village_a.county_id, since)] == [
        ("staff.disable", {"active": True}, {"active": False}),
        ("staff.enable", {"active": False}, {"active": True}),
    ]


def test_a_reset_password_replaces_the_old_one_and_must_be_changed(
    client: TestClient, world: World, engine: Engine
) -> None:
    admin = password_token(client, "admin")
    official_id = _ids(engine)["official-a"]
    old_token = password_token(client, "official-a")
    since = _last_change_id(engine, world.village_a.county_id)
    reset = client.post(f"/api/v1/staff/{official_id}/reset-password", headers=bearer(admin))
    assert reset.status_code == 200, reset.text
    new = reset.json()["password"]
    assert len(new) >= 12 and reset.json()["must_change_password"] is True
    assert client.get("/api/v1/claims", headers=bearer(old_token)).status_code == 401  # its sign-ins ended
    assert _token(client, "official-a", PASSWORD).status_code == 401
    token = password_token(client, "official-a", new)
    answer = client.get("/api/v1/claims", headers=bearer(token))
    assert (answer.status_code, answer.json()["code"]) == (403, "password_change_required")
    _own_password(client, "official-a", new)
    assert _seen(client, password_token(client, "official-a", NEW_PASSWORD), world.village_a.village_id) == 200
    rows = _changes(engine, world.village_a.county_id, since)
    assert rows[0]["action"] == "staff.reset_password" and rows[0]["after"]["password"] == "reset"
    assert new not in json.dumps(rows, default=str)


def test_nobody_disables_resets_or_moves_their_own_account_and_the_last_admin_stays(
    client: TestClient, world: World, engine: Engine
) -> None:
    admin = password_token(client, "admin")
    me = _ids(engine)["admin"]
    for path, body in (
        (f"/api/v1/staff/{me}/disable", None),
        (f"/api/v1/staff/{me}/reset-password", None),
    ):
        answer = client.post(path, json=body, headers=bearer(admin))
        assert (answer.status_code, answer.json()["code"]) == (403, "own_account"), path
    demoted = client.patch(f"/api/v1/staff/{me}", json={"kind": "auditor"}, headers=bearer(admin))
    assert (demoted.status_code, demoted.json()["code"]) == (403, "own_account")
    renamed = client.patch(f"/api/v1/staff/{me}", json={"display_name": "县管理员 张"}, headers=bearer(admin))
    assert renamed.status_code == 200 and renamed.json()["display_name"] == "县管理员 张"

    # From the command line (no account of its own) the last active admin is still kept
    with unit_of_work(engine) as session:
        cli = staff.command_line(world.village_a.county_id, "cli:test")
        with pytest.raises(staff.LastAdmin):
            staff.disable(session, by=cli, user_id=me)
        with pytest.raises(staff.LastAdmin):
            staff.change(session, by=cli, user_id=me, kind=staff.StaffKind.AUDITOR)
    second = _created(client, admin, username="second-admin", kind="admin")
    with unit_of_work(engine) as session:  # with a second admin, the first may go
        staff.disable(session, by=staff.command_line(world.village_a.county_id, "cli:test"), user_id=me)
    assert client.get("/api/v1/staff", headers=bearer(admin)).status_code == 401
    second_token = _own_password(client, "second-admin", second["password"])
    answer = client.post(f"/api/v1/staff/{second['user_id']}/disable", headers=bearer(second_token))
    assert answer.json()["code"] == "own_account"


def test_an_officials_villages_and_township_change_and_take_effect_at_once(
    client: TestClient, world: World, engine: Engine
) -> None:
    admin = password_token(client, "admin")
    ids = _ids(engine)
    a, b = world.village_a.village_id, world.village_b.village_id
    token = password_token(client, "official-a")
    since = _last_change_id(engine, world.village_a.county_id)
    moved = client.patch(f"/api/v1/staff/{ids['official-a']}", json={"village_ids": [b]}, headers=bearer(admin))
    assert moved.status_code == 200 and moved.json()["village_ids"] == [b]
    assert [_seen(client, token, v) for v in (a, b)] == [404, 200]
    promoted = client.patch(
        f"/api/v1/staff/{ids['official-a']}",
        json={"kind": "supervisor", "township_id": world.village_a.township_id},
        headers=bearer(admin),
    )
    assert promoted.status_code == 200 and promoted.json()["kind"] == "supervisor"
    assert [_seen(client, token, v) for v in (a, b)] == [200, 200]  # the same role: the token stays
    audited = client.patch(f"/api/v1/staff/{ids['official-a']}", json={"kind": "auditor"}, headers=bearer(admin))
    assert audited.status_code == 200 and audited.json()["village_ids"] == []
    assert client.get("/api/v1/claims", headers=bearer(token)).status_code == 401  # another role: sign in again
    for body, status, code in (
        ({"village_ids": [world.village_c.village_id]}, 404, "village_not_found"),
        ({"village_ids": []}, 422, "staff_places_invalid"),
        ({"kind": "supervisor", "township_id": world.village_c.township_id}, 404, "township_not_found"),
    ):
        answer = client.patch(f"/api/v1/staff/{ids['official-b']}", json=body, headers=bearer(admin))
        assert (answer.status_code, answer.json()["code"]) == (status, code), body
    changes = _changes(engine, world.village_a.county_id, since)
    assert [row["action"] for row in changes] == ["staff.change"] * 3
    assert (changes[0]["before"], changes[0]["after"]) == (
        {"villages": [_code(engine, a)]},
        {"villages": [_code(engine, b)]},
    )


def test_other_counties_partner_staff_and_villagers_are_not_staff_here(
    client: TestClient, world: World, engine: Engine
) -> None:
    admin = password_token(client, "admin")
    ids = _ids(engine)
    with unit_of_work(engine) as session:
        villager = session.scalars(select(col(User.id)).where(col(User.role) == Role.VILLAGER)).first()
    for user_id, status, code in (
        (ids["admin-c"], 404, "staff_not_found"),
        (10**6, 404, "staff_not_found"),
        (ids["bank-staff"], 409, "not_a_staff_account"),
        (villager, 409, "not_a_staff_account"),
    ):
        for action in ("disable", "reset-password"):
            answer = client.post(f"/api/v1/staff/{user_id}/{action}", headers=bearer(admin))
            assert (answer.status_code, answer.json()["code"]) == (status, code), (user_id, action)
        answer = client.get(f"/api/v1/staff/{user_id}", headers=bearer(admin))
        assert (answer.status_code, answer.json()["code"]) == (404, "staff_not_found")
    assert _token(client, "admin-c", PASSWORD).status_code == 200  # untouched
    assert _token(client, "bank-staff", PASSWORD).status_code == 200


def test_an_official_linked_to_their_household_may_not_approve_its_claim(
    client: TestClient, world: World, engine: Engine
) -> None:
    """The head of household A1 has a villager sign-in; they are also made an official of village A and linked to
    themself: both accounts stand, and as an official they may not decide their own household's claim."""
    admin = password_token(client, "admin")
    made = _created(client, admin, username="head-official", kind="official", village_ids=[world.village_a.village_id])
    with unit_of_work(engine) as session:
        head = session.scalars(select(Person).where(col(Person.phone) == world.villager_phone)).one()
        head_id = id_of(head)
    linked = client.put(f"/api/v1/staff/{made['user_id']}/person", json={"person_id": head_id}, headers=bearer(admin))
    assert linked.status_code == 200, linked.text
    assert linked.json()["household_id"] == world.household_a1
    listed = client.get(f"/api/v1/staff/{made['user_id']}", headers=bearer(admin)).json()
    assert (listed["person_id"], listed["household_id"]) == (head_id, world.household_a1)

    official = _own_password(client, "head-official", made["password"])
    villager = villager_token(client, world.villager_phone)  # their villager sign-in still works
    activity = new_activity(client, password_token(client, "official-a"), world.village_a.village_id)
    claimed = claim(client, villager, code_of(activity))
    assert claimed.status_code == 201, claimed.text
    refused = decide(client, official, claimed.json()["id"])
    assert (refused.status_code, refused.json()["code"]) == (403, "conflict_of_interest")
    assert decide(client, password_token(client, "official-a"), claimed.json()["id"]).status_code == 201

    other = _created(client, admin, username="second-head", kind="auditor")  # one staff account per person
    taken = client.put(f"/api/v1/staff/{other['user_id']}/person", json={"person_id": head_id}, headers=bearer(admin))
    assert (taken.status_code, taken.json()["code"]) == (409, "person_already_linked")
    rows = [r for r in _changes(engine, world.village_a.county_id, 0) if r["action"] == "staff.link"]
    assert rows[-1]["target_id"] == str(made["user_id"]) and rows[-1]["after"] == {"person_id": head_id}


def _disable(engine: Engine, pair: tuple[int, int]) -> str:
    by, target = pair
    with unit_of_work(engine) as session:
        staff.disable(session, by=principal_of(session, by), user_id=target)
    return "disabled"


def test_two_admins_disabling_each_other_at_once_leave_one(
    client: TestClient, world: World, engine: Engine, database_url: str
) -> None:
    admin = password_token(client, "admin")
    second = _created(client, admin, username="second-admin", kind="admin")
    first = _ids(engine)["admin"]
    outcomes = run_together(database_url, _disable, [(first, second["user_id"]), (second["user_id"], first)])
    # the other is refused: as the last admin, or (when it starts after the first is done) as disabled itself
    assert outcomes.count("disabled") == 1 and set(outcomes) - {"disabled"} <= {"last_admin", "unauthenticated"}
    with unit_of_work(engine) as session:
        active = session.scalars(
            select(col(User.username)).where(col(User.role) == Role.COUNTY_ADMIN, col(User.active))
        ).all()
    assert len([name for name in active if name in ("admin", "second-admin")]) == 1


class _Watched:
    """The real hasher, noting how many database connections are checked out whenever it hashes or verifies."""

    def __init__(self, real: Any, engine: Engine) -> None:
        self.real, self.engine, self.held = real, engine, list[int]()

    def hash(self, secret: str) -> str:
        self.held.append(cast(QueuePool, self.engine.pool).checkedout())
        return str(self.real.hash(secret))

    def verify(self, stored: str, secret: str) -> bool:
        self.held.append(cast(QueuePool, self.engine.pool).checkedout())
        return bool(self.real.verify(stored, secret))


def test_passwords_are_hashed_with_no_database_connection_held(
    client: TestClient, world: World, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = password_token(client, "admin")
    watched = _Watched(passwords._hasher, engine)
    monkeypatch.setattr(passwords, "_hasher", watched)
    made = _created(client, admin, username="hashed-official", kind="auditor")
    assert watched.held == [0]
    reset = client.post(f"/api/v1/staff/{made['user_id']}/reset-password", headers=bearer(admin))
    assert reset.status_code == 200 and watched.held == [0, 0]
    token = password_token(client, "hashed-official", reset.json()["password"])
    watched.held.clear()
    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": reset.json()["password"], "new_password": NEW_PASSWORD},
        headers=bearer(token),
    )
    assert changed.status_code == 204 and watched.held == [0, 0]  # the current one checked, the new one hashed
