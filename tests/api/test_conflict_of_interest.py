"""Conflict of interest, everywhere: no write route a staff member may call (API or page) lets them act for the
household they live in (User.person_id → that person's household).

Every such route is listed here, either with the attempt to use it for one's own household (which must be
refused, and change nothing) or with the reason it touches no household in particular. A new write route that
staff may call fails `test_every_staff_write_route_is_classified` until it is added to one of the two lists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, select
from sqlmodel import col

from api import pages
from api.app import ROUTERS, create_app
from ledger.claims.models import Claim, Deduction, Dispute, EvidenceFile
from ledger.concerns import service as concerns
from ledger.concerns import setup
from ledger.concerns.models import Concern, ConcernHandler, ConcernHandlerMember
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from ledger.identity import service as identity
from ledger.identity.models import Role, User
from ledger.journal import accounts
from ledger.journal import service as journal
from ledger.tenancy import Household, Person, Township, Village
from tests import factories
from tests.api.claiming import balance, claim, code_of, decide, key, new_activity
from tests.api.conftest import World, bearer, password_token, villager_token
from tests.api.test_app import _rules
from tests.factories import id_of, not_none
from tests.pages.conftest import csrf_of, sign_in_staff

STAFF = {Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
NEIGHBOUR = "13900000002"  # household A2: official-home lives there; the fixture moves the supervisor and admin in


def staff_write_routes() -> set[tuple[str, str]]:
    """Every write route, of the API and of the pages, that a staff member may call at all."""
    found = set()
    for router in (*ROUTERS, *pages.ROUTERS):
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            rules = _rules(route)
            if any(rule == "public" or STAFF & set(rule["roles"]) for rule in rules):
                found |= {(method, route.path) for method in (route.methods or set()) & WRITES}
    return found


# Routes that touch no household in particular, and why. Anything that could favour one household is not here.
NO_HOUSEHOLD: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/auth/token"): "signing in",
    ("POST", "/api/v1/auth/otp/request"): "signing in",
    ("POST", "/api/v1/auth/otp/verify"): "signing in",
    ("POST", "/signin/phone"): "signing in",
    ("POST", "/signin/code"): "signing in",
    ("POST", "/signin/password"): "signing in",
    ("POST", "/signout"): "signing out",
    ("POST", "/prefs/language"): "one's own page language",
    ("POST", "/prefs/elder"): "one's own page size",
    ("POST", "/api/v1/households/lookup-card"): "reads the household behind a scanned card; writes nothing",
    ("POST", "/api/v1/ledger/head/check"): "reads the chain; writes nothing",
    ("POST", "/api/v1/evidence"): "a photo is evidence only once a claim, award or deduction names it, and those "
    "are refused for one's own household",
    ("POST", "/api/v1/matters"): "a rule for every household of the village or county (village items within the "
    "county's limits)",
    ("PATCH", "/api/v1/matters/{code}"): "a new version of a rule, for every household alike",
    ("POST", "/api/v1/activities"): "open to every household of the village; each claim is decided by the rules "
    "and, when reviewed, by another official than the household's own",
    ("POST", "/api/v1/activities/{activity_id}/withdraw"): "closes an activity for every household",
    ("POST", "/office/activities"): "the page of POST /api/v1/activities",
    ("POST", "/office/activities/{activity_id}/withdraw"): "the page of the API's withdraw",
    ("PATCH", "/api/v1/villages/{village_id}"): "how the notice board names every household; the village's name, "
    "township and centre",
    ("POST", "/api/v1/townships"): "a new township: nobody lives in it yet",
    ("PATCH", "/api/v1/townships/{township_id}"): "a township's name",
    ("POST", "/api/v1/villages"): "a new village: nobody lives in it yet",
    ("POST", "/api/v1/households"): "a new household: nobody lives in it yet",
    ("PATCH", "/api/v1/county/policy"): "the county's periods and limits, for every household",
    ("PUT", "/api/v1/calendar"): "the county's working hours and evaluation days, for every concern alike",
    ("PUT", "/api/v1/calendar/days/{day}"): "a holiday or make-up day, for every concern of the county alike",
    ("DELETE", "/api/v1/calendar/days/{day}"): "a day's mark removed, for every concern of the county alike",
    ("POST", "/api/v1/calendar/periods"): "holidays or make-up days of a period, for every concern of the county alike",
    ("PUT", "/api/v1/concern-categories/{category_id}/deadlines"): "a category's deadlines, for every concern of "
    "that category alike",
    ("POST", "/api/v1/scorecards/{scorecard_id}/activate"): "the scorecard of every household of the county",
    ("PUT", "/api/v1/partners/{partner_id}/villages"): "which villages a partner serves",
    ("POST", "/api/v1/offers/{offer_id}/decision"): "a partner's offer, open to every eligible household",
    ("POST", "/api/v1/partners"): "a new partner of the county",
    ("POST", "/api/v1/partners/{partner_id}/clients"): "a partner's machine client",
    ("POST", "/api/v1/partners/{partner_id}/clients/{client_id}/disable"): "a partner's machine client",
    ("POST", "/api/v1/open311-clients"): "an Open311 client system of the county",
    ("POST", "/api/v1/open311-clients/{client_id}/disable"): "an Open311 client system of the county",
    ("POST", "/api/v1/partners/{partner_id}/staff"): "a sign-in for a partner's staff",
    ("POST", "/api/v1/staff"): "a new account belongs to nobody yet (linking it is refused for one's household)",
    ("POST", "/api/v1/auth/password"): "one's own password",
    ("POST", "/account/password"): "one's own password",
    ("POST", "/county/policy"): "the page of PATCH /api/v1/county/policy",
    ("POST", "/county/villages/{village_id}/privacy"): "the page of PATCH /api/v1/villages/{village_id}",
    ("POST", "/county/catalogue"): "the page of POST /api/v1/matters",
    ("POST", "/county/catalogue/{code}"): "the page of PATCH /api/v1/matters/{code}",
    ("POST", "/county/partners"): "the page of POST /api/v1/partners",
    ("POST", "/county/partners/{partner_id}/villages"): "the page of PUT /api/v1/partners/{partner_id}/villages",
    ("POST", "/county/partners/{partner_id}/clients"): "the page of POST /api/v1/partners/{partner_id}/clients",
    ("POST", "/county/partners/{partner_id}/clients/{client_id}/disable"): "a partner's machine client",
    ("POST", "/county/partners/{partner_id}/staff"): "the page of POST /api/v1/partners/{partner_id}/staff",
    ("POST", "/county/offers/{offer_id}/decision"): "the page of POST /api/v1/offers/{offer_id}/decision",
    ("POST", "/county/scorecards/{scorecard_id}/activate"): "the page of the API's scorecard activation",
    ("POST", "/county/townships"): "the page of POST /api/v1/townships",
    ("POST", "/county/townships/{township_id}"): "the page of PATCH /api/v1/townships/{township_id}",
    ("POST", "/county/villages"): "the page of POST /api/v1/villages",
    ("POST", "/county/villages/{village_id}"): "the page of PATCH /api/v1/villages/{village_id}",
    ("POST", "/county/households/new"): "the page of POST /api/v1/households",
    ("POST", "/county/staff"): "the page of POST /api/v1/staff",
    ("POST", "/county/roster/apply"): "applies only the file this session's preview checked (where one's own "
    "household is refused), and the import checks it again before it writes",
    ("POST", "/api/v1/concerns"): "recording a concern told in person changes no balance; the points a useful "
    "report may earn are an award another official decides for one's own household, and every later step of the "
    "concern is refused for it",
    ("POST", "/office/concerns/new"): "the page of POST /api/v1/concerns (a report told in person)",
    ("POST", "/api/v1/concern-categories"): "a category of concerns, for every household of the county",
    ("PATCH", "/api/v1/concern-categories/{category_id}"): "a category of concerns, for every household",
    ("POST", "/api/v1/concern-places"): "a named place of the village's list, for every household",
    ("PATCH", "/api/v1/concern-places/{place_id}"): "a named place of the village's list, for every household",
    ("POST", "/api/v1/concern-handlers"): "whom concerns go to; acting on one's own household's concern is refused "
    "at each step",
    ("PUT", "/api/v1/concern-handlers/{handler_id}/members"): "who acts for a handler; acting on one's own "
    "household's concern is refused at each step",
    ("PATCH", "/api/v1/concern-handlers/{handler_id}"): "whether a handler takes concerns, for every household",
    ("POST", "/county/concerns/categories"): "the page of POST /api/v1/concern-categories",
    ("POST", "/county/concerns/categories/{category_id}"): "the page of PATCH /api/v1/concern-categories/{category_id} "
    "and PUT …/deadlines",
    ("POST", "/county/concerns/handlers"): "the page of POST /api/v1/concern-handlers",
    ("POST", "/county/concerns/handlers/{handler_id}/members"): "the page of PUT "
    "/api/v1/concern-handlers/{handler_id}/members",
    (
        "POST",
        "/county/concerns/handlers/{handler_id}/active",
    ): "the page of PATCH /api/v1/concern-handlers/{handler_id}",
    ("POST", "/county/concerns/places"): "the page of POST /api/v1/concern-places",
    ("POST", "/county/concerns/places/{place_id}/active"): "the page of PATCH /api/v1/concern-places/{place_id}",
    ("POST", "/office/concerns/places"): "the page of POST /api/v1/concern-places",
    ("POST", "/office/concerns/places/{place_id}/active"): "the page of PATCH /api/v1/concern-places/{place_id}",
    ("POST", "/county/calendar"): "the page of PUT /api/v1/calendar",
    ("POST", "/county/calendar/days"): "the page of PUT /api/v1/calendar/days/{day}",
    ("POST", "/county/calendar/days/{day}/remove"): "the page of DELETE /api/v1/calendar/days/{day}",
    ("POST", "/county/open311"): "the page of POST /api/v1/open311-clients",
    ("POST", "/county/open311/{client_id}/disable"): "the page of POST /api/v1/open311-clients/{client_id}/disable",
}


@dataclass(frozen=True)
class Targets:
    """Household A2's things that an official could want to change in its favour."""

    pending_claim: int  # awaiting review
    pending_tx: int
    approval_tx: int  # of a claim in notice
    activity: int
    disputes: dict[str, int]  # an appeal of a rejection, of a deduction, an objection to A2, one raised by A2
    review_request: int
    users: dict[str, int]
    household_code: str  # A2's 户号, as the office forms ask for it
    resident: int  # the person official-home is, a member of A2
    concerns: dict[str, int]  # A2's concerns, each in the state a step needs (and one of A1 to merge into)


@pytest.fixture
def targets(client: TestClient, world: World, engine: Engine) -> Targets:
    official = password_token(client, "official-a")
    mine, neighbour = villager_token(client, world.villager_phone), villager_token(client, NEIGHBOUR)
    village = world.village_a.village_id

    def claimed(token: str, matter: str) -> int:
        made = claim(client, token, code_of(new_activity(client, official, village, matter)))
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    def disputed(token: str, body: dict[str, Any], path: str = "/api/v1/appeals") -> int:
        opened = client.post(path, json={"reason": "Please look again.", **body}, headers={**bearer(token), **key()})
        assert opened.status_code == 201, opened.text
        return int(opened.json()["id"])

    activity = new_activity(client, official, village, "dispute_mediation")["id"]  # no photo needed
    pending = claimed(neighbour, "volunteering")
    rejected = claimed(neighbour, "neighbourly_help")
    assert decide(client, official, rejected, "reject", reason="Nobody saw it.").status_code == 201
    in_notice = claimed(neighbour, "garbage_sorting")
    theirs = claimed(mine, "dispute_mediation")
    for approved in (in_notice, theirs):
        assert decide(client, official, approved).status_code == 201
    with unit_of_work(engine) as session:  # some settled points, so that a deduction takes something
        journal.transfer(
            session,
            debit=world.village_a.issuance,
            credit=id_of(accounts.of_household(session, world.household_a2)),
            amount=4,
            reason="volunteering",
            actor="test",
        )
    deducted = client.post(
        "/api/v1/deductions",
        headers={**bearer(official), **key()},
        json={
            "household_id": world.household_a2,
            "matter_code": "breaking_village_rules",
            "reason": "Fenced the lane.",
        },
    )
    assert deducted.status_code == 201 and deducted.json()["posted"] == 4, deducted.text
    disputes = {
        "appeal of a rejection": disputed(neighbour, {"claim_id": rejected}),
        "appeal of a deduction": disputed(neighbour, {"deduction_id": deducted.json()["id"]}),
        "objection to the household's claim": disputed(mine, {}, f"/api/v1/claims/{in_notice}/objections"),
        "objection raised by the household": disputed(neighbour, {}, f"/api/v1/claims/{theirs}/objections"),
    }
    asked = client.post(
        "/api/v1/credit/me/review-requests", json={"reason": "Our grade looks wrong."}, headers=bearer(neighbour)
    )
    assert asked.status_code == 201, asked.text
    with unit_of_work(engine) as session:
        found = session.get(Claim, pending)
        approval = session.get(Claim, in_notice)
        assert found is not None and found.pending_tx_id is not None
        assert approval is not None and approval.approval_tx_id is not None
        users = {u.username: id_of(u) for u in session.scalars(select(User)) if u.username}
        for username in ("supervisor", "admin"):  # they move into household A2 too
            person = Person(household_id=world.household_a2, name=f"{username} at home")
            session.add(person)
            session.flush()
            identity.link_staff(session, user_id=users[username], person_id=person.id, by=None)
        resident = id_of(session.scalars(select(Person).where(col(Person.name) == "Resident official")).one())
        code = not_none(session.get(Household, world.household_a2)).code
        pending_tx, approval_tx = found.pending_tx_id, approval.approval_tx_id
    return Targets(
        pending,
        pending_tx,
        approval_tx,
        activity,
        disputes,
        int(asked.json()["id"]),
        users,
        code,
        resident,
        _own_concerns(engine, world, users),
    )


def _own_concerns(engine: Engine, world: World, users: dict[str, int]) -> dict[str, int]:
    """Concerns of household A2 at each step: submitted (accept, merge into A1's), accepted (dispatch),
    dispatched to a handler the three staff of A2 belong to (return, resolve), and one told in person, resolved by
    another handler (evaluate: an official of the village records the reporter's word)."""
    county = world.village_a.county_id
    with unit_of_work(engine) as session:
        setup.default_categories(session, county)
        theirs = ConcernHandler(county_id=county, kind="official", name="Staff of A2")
        grid = ConcernHandler(county_id=county, kind="grid", name="Grid")
        session.add_all([theirs, grid])
        session.flush()
        for username in ("official-home", "supervisor", "admin"):
            session.add(ConcernHandlerMember(handler_id=id_of(theirs), user_id=users[username]))
        session.add(ConcernHandlerMember(handler_id=id_of(grid), user_id=users["official-a2"]))
        official = factories.principal_of(session, users["official-a"])
        member = factories.principal_of(session, users["official-a2"])

        def villager(phone: str) -> Any:
            user = session.scalars(
                select(User).join(Person, col(Person.id) == col(User.person_id)).where(col(Person.phone) == phone)
            ).one()
            return factories.principal_of(session, id_of(user))

        neighbour, mine = villager(NEIGHBOUR), villager(world.villager_phone)

        def reported(who: Any, **fields: Any) -> int:
            values = {"category_code": "road_hazard", "kind": "hazard", "text": "A hole"} | fields
            return id_of(concerns.report(session, who, concerns.Report(**values), idempotency_key=None).value)

        made = {state: reported(neighbour) for state in ("submitted", "accepted", "dispatched")}
        made["open elsewhere"] = reported(mine)
        made["resolved"] = reported(
            official,
            channel="in_person",
            reporter_household_id=world.household_a2,
            village_id=world.village_a.village_id,
        )
        for state in ("accepted", "dispatched", "resolved"):
            concerns.accept(session, official, made[state])
        concerns.dispatch(session, official, made["dispatched"], handler_id=id_of(theirs))
        concerns.dispatch(session, official, made["resolved"], handler_id=id_of(grid))
        photo = EvidenceFile(
            sha256="0" * 64,
            size=1,
            content_type="image/png",
            county_id=county,
            village_id=world.village_a.village_id,
            uploaded_by=member.actor,
        )
        session.add(photo)
        session.flush()
        concerns.resolve(session, member, made["resolved"], note="Done", judgement="real", evidence_ids=(id_of(photo),))
        return made


Attempt = Callable[[TestClient, str, Targets, World], Response | list[Response]]


def _api(
    method: str,
    path: Callable[[Targets, World], str],
    body: Callable[[Targets, World], dict[str, Any] | None] = lambda t, w: None,
) -> Attempt:
    def attempt(client: TestClient, token: str, t: Targets, w: World) -> Response:
        response: Response = client.request(method, path(t, w), json=body(t, w), headers={**bearer(token), **key()})
        return response

    return attempt


def _resolve_every_dispute(api: bool) -> Attempt:
    def attempt(client: TestClient, token: str, t: Targets, w: World) -> list[Response]:
        if api:
            return [
                client.post(
                    f"/api/v1/disputes/{d}/resolve", json={"outcome": "upheld"}, headers={**bearer(token), **key()}
                )
                for d in t.disputes.values()
            ]
        return [_page(client, f"/office/disputes/{d}/resolve", {"outcome": "upheld"}) for d in t.disputes.values()]

    return attempt


def _page(client: TestClient, path: str, data: dict[str, Any]) -> Response:
    form = client.get("/office/disputes")
    assert form.status_code == 200, form.text
    response: Response = client.post(path, data={"csrf": csrf_of(form.text), **data})
    return response


def _form(path: Callable[[Targets, World], str], data: Callable[[Targets, World], dict[str, Any]]) -> Attempt:
    def attempt(client: TestClient, token: str, t: Targets, w: World) -> Response:
        return _page(client, path(t, w), data(t, w))

    return attempt


def _household_account(action: str) -> Attempt:
    """Another staff account of one's household renamed, disabled, enabled or reset: one could act through it."""

    def attempt(client: TestClient, token: str, t: Targets, w: World) -> list[Response]:
        return [
            client.request(
                "PATCH" if action == "" else "POST",
                f"/api/v1/staff/{t.users[who]}{action}",
                json={"display_name": "Renamed"} if action == "" else None,
                headers=bearer(token),
            )
            for who in ("supervisor", "official-home")
        ]

    return attempt


# Routes that act on a household, with the attempt to act on one's own. (token: the staff member's bearer token;
# page attempts use the client's signed-in session instead.)
OWN_HOUSEHOLD: dict[tuple[str, str], Attempt] = {
    ("POST", "/api/v1/ledger/transactions/{transaction_id}/post"): _api(
        "POST", lambda t, w: f"/api/v1/ledger/transactions/{t.pending_tx}/post", lambda t, w: {}
    ),
    ("POST", "/api/v1/ledger/transactions/{transaction_id}/void"): _api(
        "POST", lambda t, w: f"/api/v1/ledger/transactions/{t.pending_tx}/void", lambda t, w: {}
    ),
    ("POST", "/api/v1/ledger/transactions/{transaction_id}/reverse"): _api(
        "POST", lambda t, w: f"/api/v1/ledger/transactions/{t.approval_tx}/reverse", lambda t, w: {"reason": "x"}
    ),
    ("POST", "/api/v1/claims/{claim_id}/approve"): _api(
        "POST", lambda t, w: f"/api/v1/claims/{t.pending_claim}/approve"
    ),
    ("POST", "/api/v1/claims/{claim_id}/reject"): _api(
        "POST", lambda t, w: f"/api/v1/claims/{t.pending_claim}/reject", lambda t, w: {"reason": "x"}
    ),
    ("POST", "/api/v1/claims/bulk-approve"): _api(
        "POST", lambda t, w: "/api/v1/claims/bulk-approve", lambda t, w: {"claim_ids": [t.pending_claim]}
    ),
    ("POST", "/api/v1/claims/proxy"): _api(
        "POST",
        lambda t, w: "/api/v1/claims/proxy",
        lambda t, w: {"activity_id": t.activity, "household_id": w.household_a2},
    ),
    ("POST", "/api/v1/claims/awards"): _api(
        "POST",
        lambda t, w: "/api/v1/claims/awards",
        lambda t, w: {"household_id": w.household_a2, "matter_code": "volunteering", "reason": "For us."},
    ),
    ("POST", "/api/v1/deductions"): _api(
        "POST",
        lambda t, w: "/api/v1/deductions",
        lambda t, w: {"household_id": w.household_a2, "matter_code": "breaking_village_rules", "reason": "x"},
    ),
    ("POST", "/api/v1/disputes/{dispute_id}/resolve"): _resolve_every_dispute(api=True),
    ("POST", "/api/v1/credit/review-requests/{request_id}/answer"): _api(
        "POST",
        lambda t, w: f"/api/v1/credit/review-requests/{t.review_request}/answer",
        lambda t, w: {"answer": "Fine as it is."},
    ),
    ("PATCH", "/api/v1/households/{household_id}"): _api(
        "PATCH", lambda t, w: f"/api/v1/households/{w.household_a2}", lambda t, w: {"address": "Our lane"}
    ),
    ("POST", "/api/v1/households/{household_id}/members"): _api(
        "POST", lambda t, w: f"/api/v1/households/{w.household_a2}/members", lambda t, w: {"name": "A cousin"}
    ),
    ("PATCH", "/api/v1/members/{person_id}"): _api(
        "PATCH", lambda t, w: f"/api/v1/members/{t.resident}", lambda t, w: {"phone": "13600000099"}
    ),
    ("POST", "/api/v1/members/{person_id}/erase"): _api("POST", lambda t, w: f"/api/v1/members/{t.resident}/erase"),
    ("POST", "/api/v1/members/{person_id}/move"): _api(
        "POST", lambda t, w: f"/api/v1/members/{t.resident}/move", lambda t, w: {"household_id": w.household_a1}
    ),
    ("POST", "/api/v1/households/{household_id}/head"): _api(
        "POST", lambda t, w: f"/api/v1/households/{w.household_a2}/head", lambda t, w: {"person_id": t.resident}
    ),
    ("POST", "/api/v1/households/{household_id}/close"): _api(
        "POST", lambda t, w: f"/api/v1/households/{w.household_a2}/close", lambda t, w: {}
    ),
    ("PUT", "/api/v1/staff/{user_id}/person"): lambda client, token, t, w: [  # unlinked, one could act for it
        client.put(f"/api/v1/staff/{t.users[who]}/person", json={"person_id": None}, headers=bearer(token))
        for who in ("admin", "supervisor", "official-home")
    ],
    **{
        ("PATCH" if action == "" else "POST", "/api/v1/staff/{user_id}" + action): _household_account(action)
        for action in ("", "/disable", "/enable", "/reset-password")
    },
    ("POST", "/office/claims/{claim_id}/approve"): _form(
        lambda t, w: f"/office/claims/{t.pending_claim}/approve", lambda t, w: {}
    ),
    ("POST", "/office/claims/{claim_id}/reject"): _form(
        lambda t, w: f"/office/claims/{t.pending_claim}/reject", lambda t, w: {"reason": "x"}
    ),
    ("POST", "/office/claims/bulk-approve"): _form(
        lambda t, w: "/office/claims/bulk-approve", lambda t, w: {"claim_ids": [str(t.pending_claim)]}
    ),
    ("POST", "/office/proxy"): _form(
        lambda t, w: "/office/proxy",
        lambda t, w: {"activity_id": str(t.activity), "household_code": t.household_code, "key": "own-household-1"},
    ),
    ("POST", "/office/awards"): _form(
        lambda t, w: "/office/awards",
        lambda t, w: {
            "household_id": str(w.household_a2),
            "matter_code": "volunteering",
            "reason": "For us.",
            "key": "own-household-3",
        },
    ),
    ("POST", "/office/deductions"): _form(
        lambda t, w: "/office/deductions",
        lambda t, w: {
            "household_id": str(w.household_a2),
            "matter_code": "breaking_village_rules",
            "reason": "x",
            "key": "own-household-2",
        },
    ),
    ("POST", "/api/v1/concerns/{concern_id}/accept"): _api(
        "POST", lambda t, w: f"/api/v1/concerns/{t.concerns['submitted']}/accept"
    ),
    ("POST", "/api/v1/concerns/{concern_id}/merge"): _api(
        "POST",
        lambda t, w: f"/api/v1/concerns/{t.concerns['submitted']}/merge",
        lambda t, w: {"into_id": t.concerns["open elsewhere"]},
    ),
    ("POST", "/api/v1/concerns/{concern_id}/dispatch"): _api(
        "POST", lambda t, w: f"/api/v1/concerns/{t.concerns['accepted']}/dispatch", lambda t, w: {"handler_id": 1}
    ),
    ("POST", "/api/v1/concerns/{concern_id}/return"): _api(
        "POST", lambda t, w: f"/api/v1/concerns/{t.concerns['dispatched']}/return", lambda t, w: {"reason": "x"}
    ),
    ("POST", "/api/v1/concerns/{concern_id}/resolve"): _api(
        "POST",
        lambda t, w: f"/api/v1/concerns/{t.concerns['dispatched']}/resolve",
        lambda t, w: {"note": "Done", "judgement": "real", "evidence_ids": []},
    ),
    ("POST", "/api/v1/concerns/{concern_id}/evaluate"): _api(
        "POST", lambda t, w: f"/api/v1/concerns/{t.concerns['resolved']}/evaluate", lambda t, w: {"satisfied": True}
    ),
    ("POST", "/office/concerns/{concern_id}/accept"): _form(
        lambda t, w: f"/office/concerns/{t.concerns['submitted']}/accept", lambda t, w: {}
    ),
    ("POST", "/office/concerns/{concern_id}/merge"): _form(
        lambda t, w: f"/office/concerns/{t.concerns['submitted']}/merge",
        lambda t, w: {"into_id": str(t.concerns["open elsewhere"])},
    ),
    ("POST", "/office/concerns/{concern_id}/dispatch"): _form(
        lambda t, w: f"/office/concerns/{t.concerns['accepted']}/dispatch", lambda t, w: {"handler_id": "1"}
    ),
    ("POST", "/office/concerns/{concern_id}/return"): _form(
        lambda t, w: f"/office/concerns/{t.concerns['dispatched']}/return", lambda t, w: {"reason": "x"}
    ),
    ("POST", "/office/concerns/{concern_id}/resolve"): _form(
        lambda t, w: f"/office/concerns/{t.concerns['dispatched']}/resolve",
        lambda t, w: {"note": "Done", "judgement": "real"},
    ),
    ("POST", "/office/concerns/{concern_id}/evaluate"): _form(
        lambda t, w: f"/office/concerns/{t.concerns['resolved']}/evaluate", lambda t, w: {"satisfied": "yes"}
    ),
    ("POST", "/office/disputes/{dispute_id}/resolve"): _resolve_every_dispute(api=False),
    ("POST", "/office/rating-reviews/{request_id}/answer"): _form(
        lambda t, w: f"/office/rating-reviews/{t.review_request}/answer", lambda t, w: {"answer": "Fine."}
    ),
}


def _roster_of_own_household(client: TestClient, t: Targets, w: World, engine: Engine) -> bytes:
    """A roster that gives household A2 (where the caller lives) another address."""
    with unit_of_work(engine) as session:
        household = not_none(session.get(Household, w.household_a2))
        village = not_none(session.get(Village, household.village_id))
        township = not_none(session.get(Township, village.township_id))
        head = session.scalars(
            select(Person).where(col(Person.household_id) == household.id, col(Person.is_head))
        ).one()
        row = [township.name, village.name, household.code, "", "Our lane", head.name, "户主", head.phone or ""]
    return ("乡镇,村,户号,门牌号,地址,姓名,与户主关系,手机号\n" + ",".join(row) + "\n").encode()


def _roster(engine: Engine, *, page: bool) -> Attempt:
    def attempt(client: TestClient, token: str, t: Targets, w: World) -> Response:
        content = _roster_of_own_household(client, t, w, engine)
        if page:
            form = client.get("/office/disputes")
            response: Response = client.post(
                "/county/roster/preview",
                data={"csrf": csrf_of(form.text)},
                files={"file": ("roster.csv", content, "text/csv")},
            )
            return response
        answer: Response = client.post(
            "/api/v1/roster/imports?dry_run=false",
            files={"file": ("roster.csv", content, "text/csv")},
            headers=bearer(token),
        )
        return answer

    return attempt


def _staff_page(action: str) -> Attempt:
    """The staff pages' forms, for the other staff accounts of one's household."""

    def attempt(client: TestClient, token: str, t: Targets, w: World) -> list[Response]:
        data = {"display_name": "Renamed", "kind": "official"} if action == "" else {}
        if action == "/person":
            data = {"unlink": "yes"}
        return [_page(client, f"/county/staff/{t.users[who]}{action}", data) for who in ("supervisor", "official-home")]

    return attempt


def _code_of(engine: Engine, household_id: int) -> str:
    with unit_of_work(engine) as session:
        return not_none(session.get(Household, household_id)).code


def _set_up_pages(engine: Engine) -> dict[tuple[str, str], Attempt]:
    """The county admin's pages for households, members, staff and the roster, tried on one's own household."""
    return {
        ("POST", "/county/households/{household_id}"): _form(
            lambda t, w: f"/county/households/{w.household_a2}", lambda t, w: {"address": "Our lane"}
        ),
        ("POST", "/county/households/{household_id}/members"): _form(
            lambda t, w: f"/county/households/{w.household_a2}/members", lambda t, w: {"name": "A cousin"}
        ),
        ("POST", "/county/members/{person_id}"): _form(
            lambda t, w: f"/county/members/{t.resident}",
            lambda t, w: {"name": "Resident official", "phone": "13600000099"},
        ),
        ("POST", "/county/members/{person_id}/erase"): _form(
            lambda t, w: f"/county/members/{t.resident}/erase", lambda t, w: {"confirm": "yes"}
        ),
        ("POST", "/county/members/{person_id}/move"): _form(
            lambda t, w: f"/county/members/{t.resident}/move",
            lambda t, w: {"household_code": _code_of(engine, w.household_a1)},
        ),
        ("POST", "/county/households/{household_id}/head"): _form(
            lambda t, w: f"/county/households/{w.household_a2}/head", lambda t, w: {"person_id": str(t.resident)}
        ),
        ("POST", "/county/households/{household_id}/close"): _form(
            lambda t, w: f"/county/households/{w.household_a2}/close", lambda t, w: {"confirm": "yes"}
        ),
        **{
            ("POST", "/county/staff/{user_id}" + action): _staff_page(action)
            for action in ("", "/disable", "/enable", "/reset-password", "/person")
        },
        ("POST", "/county/roster/preview"): _roster(engine, page=True),
        ("POST", "/api/v1/roster/imports"): _roster(engine, page=False),
    }


def test_every_staff_write_route_is_classified() -> None:
    own = set(OWN_HOUSEHOLD) | set(_set_up_pages(None))  # type: ignore[arg-type]  # only the keys are read
    assert staff_write_routes() == own | set(NO_HOUSEHOLD)
    assert not own & set(NO_HOUSEHOLD)


def _refused(answer: Response, route: tuple[str, str], who: str) -> str | None:
    """None when the attempt was refused as it must be; else what went wrong."""
    method, path = route
    if path.endswith("bulk-approve") and path.startswith("/api/"):  # a batch: each claim refused on its own
        ok = answer.status_code == 201 and set(answer.json()["outcomes"].values()) == {"conflict_of_interest"}
    elif path.endswith("bulk-approve"):  # the page shows what the batch refused
        ok = answer.status_code in (200, 303) and "approved" not in answer.headers.get("location", "")
    elif path.startswith("/api/v1/ledger/transactions/"):
        ok = answer.status_code == 409 and answer.json()["code"] == "transaction_belongs_to_record"
    elif path.startswith("/api/"):
        codes = {"conflict_of_interest"}
        if who == "admin" and path in ("/api/v1/claims/proxy", "/api/v1/concerns/{concern_id}/evaluate"):
            codes = {"forbidden"}  # a proxy claim, and an evaluation told in person, are an official's
        if who != "admin" and path.startswith(
            ("/api/v1/staff/", "/api/v1/households/", "/api/v1/members/", "/api/v1/roster/")
        ):
            codes = {"forbidden"}  # only the county admin links staff and restructures households
        ok = answer.status_code == 403 and answer.json()["code"] in codes
    else:  # a page: the refusal page, 403
        ok = answer.status_code == 403
    return None if ok else f"{who} {method} {path}: {answer.status_code} {answer.text[:200]}"


@dataclass(frozen=True)
class Seen:
    balance: dict[str, int]
    claims: list[tuple[int, str]]
    disputes: list[tuple[int, str]]
    deductions: list[tuple[int, str]]
    links: list[tuple[str | None, int | None]]
    people: list[tuple[int, int, str, str | None, bool]]
    households: list[tuple[int, str | None, bool]]
    concerns: list[tuple[int, str, int]]


def _seen(client: TestClient, engine: Engine, world: World, neighbour: str) -> Seen:
    points = balance(client, neighbour, world.household_a2)
    with unit_of_work(engine) as session:
        return Seen(
            points,
            [(id_of(c), c.status) for c in session.scalars(select(Claim).order_by(col(Claim.id)))],
            [(id_of(d), d.status) for d in session.scalars(select(Dispute).order_by(col(Dispute.id)))],
            [(id_of(d), d.status) for d in session.scalars(select(Deduction).order_by(col(Deduction.id)))],
            [(u.username, u.person_id) for u in session.scalars(select(User).order_by(col(User.id)))],
            [
                (id_of(p), p.household_id, p.name, p.phone, p.is_head)
                for p in session.scalars(select(Person).order_by(col(Person.id)))
            ],
            [
                (id_of(h), h.address, h.closed_at is None)
                for h in session.scalars(select(Household).order_by(col(Household.id)))
            ],
            [(id_of(c), c.status, c.version) for c in session.scalars(select(Concern).order_by(col(Concern.id)))],
        )


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """One client for the API and the pages: like a browser on https (Secure cookies travel, redirects are seen)."""
    with TestClient(
        create_app(settings, engine=engine), base_url="https://testserver", follow_redirects=False
    ) as test_client:
        yield test_client


@pytest.mark.parametrize("who", ["official-home", "supervisor", "admin"])
def test_no_staff_member_acts_for_their_own_household_through_any_route(
    client: TestClient,
    world: World,
    engine: Engine,
    targets: Targets,
    who: str,
) -> None:
    neighbour = password_token(client, "official-a")  # sees A2's balance
    before = _seen(client, engine, world, neighbour)
    token = password_token(client, who)
    sign_in_staff(client, who)  # for the pages
    failures = []
    for route, attempt in {**OWN_HOUSEHOLD, **_set_up_pages(engine)}.items():
        answers = attempt(client, token, targets, world)
        for answer in answers if isinstance(answers, list) else [answers]:
            failures.append(_refused(answer, route, who))
    assert [f for f in failures if f] == []
    assert _seen(client, engine, world, neighbour) == before  # nothing changed: no points, no decision, no link


def test_the_same_routes_work_for_an_official_of_another_household(
    client: TestClient, world: World, engine: Engine, targets: Targets
) -> None:
    """The refusals above are about the household, not the route: official-a2 (no household) decides."""
    other = password_token(client, "official-a2")
    assert decide(client, other, targets.pending_claim).status_code == 201
    resolved = client.post(
        f"/api/v1/disputes/{targets.disputes['appeal of a rejection']}/resolve",
        json={"outcome": "upheld"},
        headers={**bearer(other), **key()},
    )
    assert resolved.status_code == 201, resolved.text
    answered = client.post(
        f"/api/v1/credit/review-requests/{targets.review_request}/answer",
        json={"answer": "Looked again: the grade stands."},
        headers=bearer(other),
    )
    assert answered.status_code == 200, answered.text
