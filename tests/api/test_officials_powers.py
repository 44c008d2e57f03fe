"""No official moves points outside the rules: no raw transfer to a household, and a journal transaction that
belongs to a record (a claim, a deduction, a voucher…) changes only through that record's own operation."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select
from sqlmodel import col

from ledger import jobs
from ledger.claims.models import Claim, Deduction
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from tests.api.claiming import balance, claim, code_of, decide, key, new_activity, photo
from tests.api.conftest import World, bearer, password_token, villager_token
from tests.factories import id_of, not_none

NEIGHBOUR = "13900000002"  # the head of household A2, where official-home lives


def test_an_official_cannot_transfer_points_to_their_own_household(client: TestClient, world: World) -> None:
    home = password_token(client, "official-home")
    sent = client.post(
        "/api/v1/ledger/transfers",
        headers={**bearer(home), **key()},
        json={"household_id": world.household_a2, "points": 100_000, "reason": "volunteering"},
    )
    assert sent.status_code >= 400 and sent.headers["content-type"] == "application/problem+json"
    after = balance(client, villager_token(client, NEIGHBOUR), world.household_a2)
    assert (after["posted"], after["available"], after["earned"], after["pending_in"]) == (0, 0, 0, 0)


def test_an_official_cannot_post_their_own_claims_pending_transaction(
    client: TestClient, world: World, engine: Engine
) -> None:
    official = password_token(client, "official-a")
    neighbour = villager_token(client, NEIGHBOUR)
    made = claim(client, neighbour, code_of(new_activity(client, official, world.village_a.village_id))).json()
    with unit_of_work(engine) as session:
        pending_tx = not_none(session.get(Claim, made["id"])).pending_tx_id
    for action in ("post", "void", "reverse"):
        tried = client.post(
            f"/api/v1/ledger/transactions/{pending_tx}/{action}",
            json={"reason": "mine"},
            headers={**bearer(password_token(client, "official-home")), **key()},
        )
        assert tried.status_code == 409, tried.text
        assert tried.json()["code"] == "transaction_belongs_to_record"
        assert (tried.json()["record"], tried.json()["record_id"]) == ("claim", made["id"])
    assert balance(client, neighbour, world.household_a2)["pending_in"] == 5
    assert balance(client, neighbour, world.household_a2)["in_notice"] == 0
    assert client.get(f"/api/v1/claims/{made['id']}", headers=bearer(neighbour)).json()["status"] == "pending"


def test_an_official_cannot_reverse_their_own_households_deduction(
    client: TestClient, world: World, engine: Engine
) -> None:
    official = password_token(client, "official-a")
    neighbour = villager_token(client, NEIGHBOUR)
    made = claim(client, neighbour, code_of(new_activity(client, official, world.village_a.village_id))).json()
    assert decide(client, official, made["id"]).status_code == 201
    jobs.tick(engine, now=utcnow() + timedelta(days=8))
    deducted = client.post(
        "/api/v1/deductions",
        headers={**bearer(official), **key()},
        json={
            "household_id": world.household_a2,
            "matter_code": "breaking_village_rules",
            "reason": "Fenced the lane.",
        },
    )
    assert deducted.status_code == 201, deducted.text
    assert balance(client, neighbour, world.household_a2)["available"] == 0
    with unit_of_work(engine) as session:
        deduction = session.scalars(select(Deduction)).one()
        tx_id, deduction_id = deduction.transaction_id, deduction.id
    undo = client.post(
        f"/api/v1/ledger/transactions/{tx_id}/reverse",
        json={"reason": "mistake"},
        headers={**bearer(password_token(client, "official-home")), **key()},
    )
    assert undo.status_code == 409, undo.text
    assert (undo.json()["code"], undo.json()["record"], undo.json()["record_id"]) == (
        "transaction_belongs_to_record",
        "deduction",
        deduction_id,
    )
    assert balance(client, neighbour, world.household_a2)["available"] == 0
    assert client.get("/api/v1/deductions", headers=bearer(neighbour)).json()[0]["status"] == "in_force"


def award(client: TestClient, token: str, **body: object) -> Response:
    response: Response = client.post("/api/v1/claims/awards", json=body, headers={**bearer(token), **key()})
    return response


def test_an_award_is_a_claim_on_the_notice_board_that_settles_and_counts_against_caps(
    client: TestClient, world: World, engine: Engine
) -> None:
    official = password_token(client, "official-a")
    villager = villager_token(client, world.villager_phone)
    given = award(
        client,
        official,
        household_id=world.household_a1,
        matter_code="volunteering",
        reason="Cleared the snow from the school path.",
    )
    assert given.status_code == 201, given.text
    body = given.json()
    assert (body["status"], body["points"], body["activity_id"], body["proxy"]) == ("approved", 5, None, True)
    assert body["award_reason"] == "Cleared the snow from the school path."
    assert (
        balance(client, villager, world.household_a1)["in_notice"],
        balance(client, villager, world.household_a1)["available"],
    ) == (5, 0)  # in notice, not spendable
    board = client.get(f"/api/v1/villages/{world.village_a.village_id}/notice-board", headers=bearer(villager))
    assert board.status_code == 200
    assert [(e["kind"], e["id"], e["points"]) for e in board.json()["entries"]] == [("claim", body["id"], 5)]
    again = award(client, official, household_id=world.household_a1, matter_code="volunteering", reason="Again.")
    assert again.status_code == 409 and again.json()["code"] == "cap_reached"  # volunteering: once a day
    jobs.tick(engine, now=utcnow() + timedelta(days=8))
    assert balance(client, villager, world.household_a1)["available"] == 5
    assert client.get(f"/api/v1/claims/{body['id']}", headers=bearer(villager)).json()["status"] == "settled"


def test_an_award_above_the_countys_threshold_needs_a_second_official(client: TestClient, world: World) -> None:
    official = password_token(client, "official-a")
    villager = villager_token(client, world.villager_phone)
    no_photo = award(
        client, official, household_id=world.household_a1, matter_code="clearing_debris", reason="Cleared the ditch."
    )
    assert no_photo.status_code == 422 and no_photo.json()["code"] == "evidence_required"
    evidence = photo(client, official, village_id=world.village_a.village_id)
    given = award(
        client,
        official,
        household_id=world.household_a1,
        matter_code="clearing_debris",
        reason="Cleared the ditch.",
        evidence_ids=[evidence],
    )
    assert given.status_code == 201 and given.json()["status"] == "pending", given.text
    assert balance(client, villager, world.household_a1)["pending_in"] == 20
    same = decide(client, official, given.json()["id"])
    assert same.status_code == 403 and same.json()["code"] == "second_official_needed"
    assert decide(client, password_token(client, "official-a2"), given.json()["id"]).status_code == 201
    assert balance(client, villager, world.household_a1)["in_notice"] == 20


def test_the_county_admin_sets_the_award_threshold(client: TestClient, world: World) -> None:
    admin = password_token(client, "admin")
    policy = client.patch("/api/v1/county/policy", json={"award_second_official_points": 0}, headers=bearer(admin))
    assert policy.status_code == 200 and policy.json()["award_second_official_points"] == 0
    official = password_token(client, "official-a")
    small = award(
        client,
        official,
        household_id=world.household_a1,
        matter_code="garbage_sorting",
        reason="Sorted the whole lane's rubbish.",
    )
    assert small.status_code == 201 and small.json()["status"] == "pending"
    refused = client.patch("/api/v1/county/policy", json={"award_second_official_points": -1}, headers=bearer(admin))
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_request"


def test_an_award_is_refused_for_the_officials_own_household_a_deduction_matter_or_another_village(
    client: TestClient, world: World, engine: Engine
) -> None:
    home = password_token(client, "official-home")
    own = award(client, home, household_id=world.household_a2, matter_code="volunteering", reason="For us.")
    assert own.status_code == 403 and own.json()["code"] == "conflict_of_interest"
    official = password_token(client, "official-a")
    minus = award(client, official, household_id=world.household_a1, matter_code="littering", reason="x")
    assert minus.status_code == 422 and minus.json()["code"] == "not_a_reward"
    other = award(client, official, household_id=world.household_b1, matter_code="volunteering", reason="x")
    assert other.status_code == 404 and other.json()["code"] == "household_not_found"
    for who in ("auditor", "bank-staff"):
        tried = award(
            client, password_token(client, who), household_id=world.household_a1, matter_code="volunteering", reason="x"
        )
        assert tried.status_code == 403
    with unit_of_work(engine) as session:
        assert session.scalars(select(Claim)).all() == []


def link(client: TestClient, token: str, user_id: int, person_id: int | None) -> Response:
    response: Response = client.put(
        f"/api/v1/staff/{user_id}/person", json={"person_id": person_id}, headers=bearer(token)
    )
    return response


def ids(engine: Engine) -> dict[str, int]:
    """Usernames' account ids, persons by their phone ('p:<phone>'), and one villager account."""
    from ledger.identity.models import User
    from ledger.tenancy import Person

    with unit_of_work(engine) as session:
        found = {u.username: id_of(u) for u in session.scalars(select(User)) if u.username}
        found |= {f"p:{p.phone}": id_of(p) for p in session.scalars(select(Person)) if p.phone}
        found["villager"] = id_of(not_none(session.scalars(select(User).where(col(User.role) == "villager")).first()))
        found["p:official-home"] = not_none(
            session.scalars(select(col(User.person_id)).where(col(User.username) == "official-home")).first()
        )
    return found


def test_the_county_admin_links_a_staff_account_to_its_person_and_the_rule_follows(
    client: TestClient, world: World, engine: Engine
) -> None:
    admin = password_token(client, "admin")
    known = ids(engine)
    official = password_token(client, "official-a")
    before = award(client, official, household_id=world.household_a1, matter_code="volunteering", reason="x")
    assert before.status_code == 201  # not linked: household A1 is not theirs
    with unit_of_work(engine) as session:
        from ledger.tenancy import Person

        free_a1 = Person(household_id=world.household_a1, name="Official's spouse")
        session.add(free_a1)
        session.flush()
        person = free_a1.id
    linked = link(client, admin, known["official-a"], person)
    assert linked.status_code == 200, linked.text
    assert (linked.json()["person_id"], linked.json()["household_id"]) == (person, world.household_a1)
    after = award(
        client,
        password_token(client, "official-a"),
        household_id=world.household_a1,
        matter_code="garbage_sorting",
        reason="x",
    )
    assert after.status_code == 403 and after.json()["code"] == "conflict_of_interest"
    assert link(client, admin, known["official-a"], None).json()["household_id"] is None  # unlinked


def test_linking_refuses_unknown_foreign_taken_villager_and_own_accounts(
    client: TestClient, world: World, engine: Engine
) -> None:
    admin = password_token(client, "admin")
    known = ids(engine)
    cases = [
        (known["official-a"], 10**6, 404, "person_not_found"),
        (10**6, known["p:13900000001"], 404, "staff_not_found"),
        (known["admin-c"], known["p:13900000001"], 404, "staff_not_found"),  # another county's account
        (known["official-a"], known["p:13900000004"], 409, "person_of_another_county"),
        (known["official-a"], known["p:official-home"], 409, "person_already_linked"),  # another staff account
        (known["villager"], known["p:13900000002"], 409, "not_a_staff_account"),
        (known["bank-staff"], known["p:13900000002"], 409, "not_a_staff_account"),
        (known["admin"], known["p:13900000002"], 403, "conflict_of_interest"),  # one's own link
    ]
    for user_id, person_id, status, code in cases:
        answer = link(client, admin, user_id, person_id)
        assert (answer.status_code, answer.json()["code"]) == (status, code), (user_id, person_id, answer.text)
    for who in ("official-a", "auditor", "supervisor"):
        tried = link(client, password_token(client, who), known["official-home"], None)
        assert tried.status_code == 403
    home = client.get(
        f"/api/v1/claims?village_id={world.village_a.village_id}",
        headers=bearer(password_token(client, "official-home")),
    )
    assert home.status_code == 200  # official-home still signs in, still linked to A2:
    own = award(
        client,
        password_token(client, "official-home"),
        household_id=world.household_a2,
        matter_code="volunteering",
        reason="x",
    )
    assert own.json()["code"] == "conflict_of_interest"


def test_a_vouchers_hold_is_named_and_not_voided_by_hand(client: TestClient, world: World, engine: Engine) -> None:
    """The record is found through the schema (voucher.hold_id), not a list of kinds someone keeps up to date."""
    from redemption.models import Voucher
    from tests.api.redeeming import give_points, offer, redeem

    give_points(engine, world.household_a2, 150)
    neighbour = villager_token(client, NEIGHBOUR)
    made = redeem(client, neighbour, offer(client)["id"])
    assert made.status_code == 201, made.text
    with unit_of_work(engine) as session:
        voucher = session.scalars(select(Voucher)).one()
        hold, voucher_id = voucher.hold_id, voucher.id
    for action in ("void", "post"):
        tried = client.post(
            f"/api/v1/ledger/transactions/{hold}/{action}",
            json={},
            headers={**bearer(password_token(client, "official-home")), **key()},
        )
        assert tried.status_code == 409, tried.text
        assert (tried.json()["record"], tried.json()["record_id"]) == ("voucher", voucher_id)
    assert balance(client, neighbour, world.household_a2)["held"] == 100
