"""The county admin erases a person (PIPL deletion): name and phone replaced, photos and sessions deleted, sign-in
ended; the household's records and the journal stay whole and `verify` passes; the change log says it was done
and holds none of the erased values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import col, select

from ledger.claims import verify as claims_verify
from ledger.claims.evidence import path_of
from ledger.claims.models import EvidenceFile
from ledger.core import audit
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.identity.models import OtpChallenge, Role, User, WebSession
from ledger.journal.verify import links, verify
from ledger.tenancy import Household, Person
from redemption import verify as redemption_verify
from tests.api.claiming import balance, claim, code_of, decide, new_activity, photo
from tests.api.conftest import World, bearer, password_token, villager_token
from tests.api.test_people import add_member, admin, household, refused, signs_in, still_signed_in
from tests.factories import not_none


def _journal_verifies(engine: Engine) -> bool:
    with unit_of_work(engine) as session:
        report = verify(session)
        linked = links(session)
        mismatches = claims_verify.check(session, linked) + redemption_verify.check(session, linked)
    return report.ok and report.transactions > 0 and not mismatches


@dataclass(frozen=True)
class Head:
    id: int
    name: str


def _head(engine: Engine, household_id: int) -> Head:
    with unit_of_work(engine) as session:
        person = session.scalars(
            select(Person).where(col(Person.household_id) == household_id, col(Person.is_head))
        ).one()
        return Head(not_none(person.id), person.name)


def test_an_erased_person_is_a_pseudonym_their_photos_and_sign_in_are_gone_and_the_journal_still_verifies(
    client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    a1 = world.household_a1
    villager = villager_token(client, world.villager_phone)
    official = password_token(client, "official-a")
    photo_id = photo(client, villager)
    made = claim(
        client, villager, code_of(new_activity(client, official, world.village_a.village_id)), evidence_ids=[photo_id]
    )
    assert made.status_code == 201 and decide(client, official, made.json()["id"]).status_code == 201
    client.post("/api/v1/auth/otp/request", json={"phone": world.villager_phone})  # a code waiting, unused
    head = _head(engine, a1)
    with unit_of_work(engine) as session:
        stored = session.get(EvidenceFile, photo_id)
        assert stored is not None
        file = path_of(settings.upload_dir, stored.sha256)
        named = not_none(session.get(Household, a1))
        named.name = f"{head.name}家"  # as the county admin's form names a household: after its head
    assert file.exists()
    points_before = balance(client, official, a1)
    assert _journal_verifies(engine)

    erased = client.post(f"/api/v1/members/{head.id}/erase", headers=admin(client))

    assert erased.status_code == 200, erased.text
    assert erased.json()["name"] == f"匿名{head.id}" and erased.json()["photos_deleted"] == 1
    assert not file.exists()
    assert not still_signed_in(client, villager, a1)  # the token issued before is refused
    assert not signs_in(client, world.villager_phone)  # the phone finds nobody now
    shown = household(client, admin(client), a1)
    erased_member = next(m for m in shown["members"] if m["person_id"] == head.id)
    assert (erased_member["name"], erased_member["phone"], erased_member["is_head"]) == (f"匿名{head.id}", None, True)
    assert erased_member["erased_at"] and not erased_member["signs_in"]
    assert shown["name"] == f"匿名{head.id}家" and head.name not in json.dumps(shown, ensure_ascii=False)
    assert balance(client, official, a1) == points_before  # the household's points are untouched
    assert client.get(f"/api/v1/evidence/{photo_id}", headers=bearer(official)).json()["code"] == "evidence_deleted"
    assert _journal_verifies(engine)
    with unit_of_work(engine) as session:
        user = session.scalars(
            select(User).where(col(User.person_id) == head.id, col(User.role) == Role.VILLAGER)
        ).one()
        assert not user.active and user.display_name == f"匿名{head.id}"
        assert session.scalars(select(WebSession).where(col(WebSession.user_id) == user.id)).all() == []
        assert session.scalars(select(OtpChallenge).where(col(OtpChallenge.phone) == world.villager_phone)).all() == []
        rows = audit.changes(session, world.village_a.county_id, action="person.erase")
        logged = [audit.as_dict(r) for r in rows]
    assert [(r["target_id"], r["after"]["photos_deleted"]) for r in logged] == [(str(head.id), 1)]
    assert head.name not in json.dumps(logged, ensure_ascii=False, default=str)
    assert world.villager_phone not in json.dumps(logged, ensure_ascii=False, default=str)

    # the household's other members see their data without the erased name
    son = add_member(client, admin(client), a1, name="王二", relation="子", phone="13600000011")
    exported = client.get("/api/v1/me/data", headers=bearer(villager_token(client, "13600000011"))).json()
    assert head.name not in json.dumps(exported, ensure_ascii=False) and world.villager_phone not in json.dumps(
        exported
    )
    assert [m["name"] for m in exported["members"]] == [f"匿名{head.id}", son["name"]]
    assert exported["photos"][0]["deleted_at"] and exported["photos"][0]["link"] is None


def test_erasing_is_refused_plainly_and_changes_nothing(client: TestClient, world: World, engine: Engine) -> None:
    head_c1 = _head(engine, world.household_c1)
    resident = next(
        p for p in household(client, admin(client), world.household_a2)["members"] if p["name"] == "Resident official"
    )
    assert refused(client.post("/api/v1/members/999999/erase", headers=admin(client)), 404, "person_not_found")
    assert refused(client.post(f"/api/v1/members/{head_c1.id}/erase", headers=admin(client)), 404, "person_not_found")
    assert refused(
        client.post(f"/api/v1/members/{resident['person_id']}/erase", headers=admin(client)), 409, "person_is_staff"
    )
    assert client.post(f"/api/v1/members/{head_c1.id}/erase", headers=admin(client, "official-a")).status_code == 403
    head_a1 = _head(engine, world.household_a1)
    assert (
        client.post(
            f"/api/v1/members/{head_a1.id}/erase", headers=bearer(villager_token(client, world.villager_phone))
        ).status_code
        == 403
    )
    assert _head(engine, world.household_c1).name == head_c1.name and signs_in(client, world.villager_phone)

    assert client.post(f"/api/v1/members/{head_a1.id}/erase", headers=admin(client)).status_code == 200
    again = client.post(f"/api/v1/members/{head_a1.id}/erase", headers=admin(client))
    assert refused(again, 409, "person_already_erased")


def test_an_admin_cannot_erase_a_member_of_their_own_household(
    client: TestClient, world: World, engine: Engine
) -> None:
    head_a2 = _head(engine, world.household_a2)
    with unit_of_work(engine) as session:  # the county admin lives in household A2
        admin_user = session.scalars(select(User).where(col(User.username) == "admin")).one()
        admin_user.person_id = head_a2.id
    own = client.post(f"/api/v1/members/{head_a2.id}/erase", headers=admin(client))
    assert refused(own, 403, "conflict_of_interest")
    assert _head(engine, world.household_a2).name == head_a2.name


def test_a_photo_another_household_also_sent_stays_on_disk(
    client: TestClient, world: World, engine: Engine, settings: Settings
) -> None:
    """Files are kept once per content: erasing one sender deletes the file only when no other row keeps it."""
    mine = photo(client, villager_token(client, world.villager_phone))
    theirs = photo(client, villager_token(client, "13900000002"))  # the same picture, from the neighbour
    with unit_of_work(engine) as session:
        rows = [session.get(EvidenceFile, i) for i in (mine, theirs)]
        assert rows[0] and rows[1] and rows[0].sha256 == rows[1].sha256
        file: Path = path_of(settings.upload_dir, rows[0].sha256)
    assert (
        client.post(f"/api/v1/members/{_head(engine, world.household_a1).id}/erase", headers=admin(client)).status_code
        == 200
    )
    assert file.exists()
    assert (
        client.get(f"/api/v1/evidence/{theirs}", headers=bearer(villager_token(client, "13900000002"))).status_code
        == 200
    )


def test_the_notice_board_no_longer_names_a_household_whose_head_was_erased(
    client: TestClient, world: World, engine: Engine
) -> None:
    villager = villager_token(client, world.villager_phone)
    official = password_token(client, "official-a")
    made = claim(client, villager, code_of(new_activity(client, official, world.village_a.village_id)))
    assert made.status_code == 201 and decide(client, official, made.json()["id"]).status_code == 201
    board = f"/api/v1/villages/{world.village_a.village_id}/notice-board"
    neighbour = bearer(villager_token(client, "13900000002"))
    head = _head(engine, world.household_a1)
    before = next(e for e in client.get(board, headers=neighbour).json()["entries"] if e["id"] == made.json()["id"])
    assert before["named"] and before["name"].startswith(head.name[:1])  # 张家, under the default policy

    assert client.post(f"/api/v1/members/{head.id}/erase", headers=admin(client)).status_code == 200

    after = next(e for e in client.get(board, headers=neighbour).json()["entries"] if e["id"] == made.json()["id"])
    assert (after["name"], after["named"]) == ("一户村民", False)
