"""Open311 GeoReport v2 as a client meets it: discovery, the county's categories as services, keys the county
admin makes and disables, requests read with a key (only the client's own, never who reported them), and every
error in the standard's shape with its status."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from ledger.concerns.models import (
    Concern,
    ConcernCategory,
    ConcernEvent,
    ConcernHandler,
    ConcernPlace,
    Open311Client,
)
from ledger.core.db import unit_of_work
from ledger.tenancy import County, Village
from tests.api.conftest import World, bearer, password_token, villager_token
from tests.factories import id_of

BASE = "/open311/v2"
REQUEST_FIELDS = {  # GeoReport v2's fields of a service request, and the JSON types each may hold
    "service_request_id": (str,),
    "status": (str,),
    "status_notes": (str,),
    "service_name": (str,),
    "service_code": (str,),
    "description": (str,),
    "agency_responsible": (str,),
    "service_notice": (str,),
    "requested_datetime": (str,),
    "updated_datetime": (str,),
    "expected_datetime": (str, type(None)),
    "address": (str,),
    "address_id": (str,),
    "zipcode": (str,),
    "lat": (float, int, type(None)),
    "long": (float, int, type(None)),
    "media_url": (str,),
}
PERSONAL = ("first_name", "last_name", "email", "phone", "account_id", "device_id", "reporter", "household")


@dataclass(frozen=True)
class Setup:
    county_code: str
    other_county_code: str
    road: int  # category ids
    environment: int
    handler: int
    place: int


def categories(session: Session, county_id: int) -> tuple[int, int]:
    road = ConcernCategory(
        county_id=county_id,
        code="road_hazard",
        name_zh="道路隐患",
        name_en="Road hazard",
        urgent=True,
        resolve_minutes=1440,
        resolve_working=False,
        matter_code="report_hazard",
    )
    environment = ConcernCategory(
        county_id=county_id, code="environment", name_zh="环境卫生", name_en="Environment", matter_code="report_problem"
    )
    retired = ConcernCategory(county_id=county_id, code="retired", name_zh="旧", name_en="Old", active=False)
    session.add_all([road, environment, retired])
    session.flush()
    return id_of(road), id_of(environment)


@pytest.fixture
def setup(engine: Engine, world: World) -> Setup:
    with unit_of_work(engine) as session:
        road, environment = categories(session, world.village_a.county_id)
        categories(session, world.village_c.county_id)
        handler = ConcernHandler(county_id=world.village_a.county_id, kind="grid", name="第三网格")
        place = ConcernPlace(village_id=world.village_a.village_id, name="石桥", lat=30.1, lon=120.1)
        session.add_all([handler, place])
        for village_id, lat in ((world.village_a.village_id, 30.0), (world.village_b.village_id, 30.2)):
            village = session.get(Village, village_id)
            assert village is not None
            village.centre_lat, village.centre_lon = lat, 120.0
        session.flush()
        codes = {c.id: c.code for c in session.scalars(select(County))}
        return Setup(
            codes[world.village_a.county_id],
            codes[world.village_c.county_id],
            road,
            environment,
            id_of(handler),
            id_of(place),
        )


def make_client(client: TestClient, name: str = "city dashboard", admin: str = "admin") -> dict[str, Any]:
    made = client.post("/api/v1/open311-clients", json={"name": name}, headers=bearer(password_token(client, admin)))
    assert made.status_code == 201, made.text
    return dict(made.json())


def concern(
    engine: Engine,
    world: World,
    category_id: int,
    *,
    client_id: int | None,
    status: str = "submitted",
    anonymous: bool = False,
    created_at: datetime | None = None,
    **more: Any,
) -> int:
    """A concern as the core service writes one (its rows only: the Open311 routes read them)."""
    with unit_of_work(engine) as session:
        row = Concern(
            county_id=world.village_a.county_id,
            township_id=world.village_a.township_id,
            village_id=world.village_a.village_id,
            category_id=category_id,
            kind="hazard",
            text="桥边护栏断了",
            anonymous=anonymous,
            channel="open311" if client_id else "app",
            open311_client_id=client_id,
            reporter_household_id=None if client_id else world.household_a1,
            reporter_name="王小明",
            reporter_phone="13900000009",
            entered_by=f"open311:{client_id}" if client_id else "user:1",
            status=status,
            created_at=created_at or datetime.now(UTC),
            **more,
        )
        session.add(row)
        session.flush()
        session.add(
            ConcernEvent(
                concern_id=id_of(row), action="submit", to_status="submitted", actor=row.entered_by, actor_role="client"
            )
        )
        return id_of(row)


def is_error(response: Any, status: int) -> str:
    """The standard's error: that status, and a JSON array of {code, description}; returns the description."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}, body
    assert body[0]["code"] == status and isinstance(body[0]["description"], str) and body[0]["description"]
    return str(body[0]["description"])


# --- discovery and services (public) ----------------------------------------------------------------------------


def test_discovery_names_the_endpoint_the_specification_and_json(client: TestClient) -> None:
    answer = client.get(f"{BASE}/discovery.json")
    assert answer.status_code == 200
    body = answer.json()
    assert {"changeset", "contact", "key_service", "endpoints"} <= set(body)
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2") and endpoint["formats"] == ["application/json"]
    assert endpoint["type"] == "production"


def test_services_are_the_countys_active_categories_with_the_specs_fields(client: TestClient, setup: Setup) -> None:
    answer = client.get(f"{BASE}/services.json", params={"jurisdiction_id": setup.county_code})
    assert answer.status_code == 200, answer.text
    services = {s["service_code"]: s for s in answer.json()}
    assert set(services) == {"road_hazard", "environment"}  # the inactive one is not offered
    road = services["road_hazard"]
    assert set(road) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
    assert road["service_name"] == "道路隐患" and road["type"] == "realtime" and road["metadata"] is True
    assert road["group"] == "hazard" and services["environment"]["group"] == "complaint"
    assert "24 hour(s)" in road["description"] and "3 working day(s)" in services["environment"]["description"]
    assert "Road hazard" in road["keywords"]
    english = client.get(
        f"{BASE}/services.json", params={"jurisdiction_id": setup.county_code}, headers={"Accept-Language": "en"}
    )
    assert {s["service_name"] for s in english.json()} == {"Road hazard", "Environment"}


def test_a_jurisdiction_is_named_when_several_counties_are_served(client: TestClient, setup: Setup) -> None:
    assert "jurisdiction_id" in is_error(client.get(f"{BASE}/services.json"), 400)  # the world has two counties
    is_error(client.get(f"{BASE}/services.json", params={"jurisdiction_id": "nowhere"}), 404)


def test_with_one_county_the_jurisdiction_may_be_left_out(client: TestClient, engine: Engine) -> None:
    with unit_of_work(engine) as session:
        county = County(code="solo", name="Solo county")
        session.add(county)
        session.flush()
        categories(session, id_of(county))
    answer = client.get(f"{BASE}/services.json")
    assert answer.status_code == 200 and len(answer.json()) == 2


def test_a_service_definition_offers_anonymity_and_the_kind(client: TestClient, setup: Setup) -> None:
    answer = client.get(f"{BASE}/services/road_hazard.json", params={"jurisdiction_id": setup.county_code})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["service_code"] == "road_hazard"
    attributes = {a["code"]: a for a in body["attributes"]}
    assert attributes["anonymous"]["datatype"] == "singlevaluelist" and attributes["anonymous"]["required"] is False
    assert {v["key"] for v in attributes["anonymous"]["values"]} == {"true", "false"}
    assert {v["key"] for v in attributes["kind"]["values"]} == {"complaint", "question", "suggestion", "hazard"}
    for attribute in body["attributes"]:
        assert {"variable", "code", "datatype", "required", "datatype_description", "order", "description"} <= set(
            attribute
        )
    is_error(client.get(f"{BASE}/services/retired.json", params={"jurisdiction_id": setup.county_code}), 404)
    is_error(client.get(f"{BASE}/services/nothing.json", params={"jurisdiction_id": setup.county_code}), 404)


def test_anything_else_under_the_prefix_is_the_standards_404(client: TestClient) -> None:
    assert "JSON" in is_error(client.get(f"{BASE}/services.xml"), 404)
    is_error(client.get(f"{BASE}/tokens/123.json"), 404)


# --- keys -------------------------------------------------------------------------------------------------------


def test_the_county_admin_makes_a_key_shown_once_and_only_its_hash_is_kept(
    client: TestClient, engine: Engine, world: World
) -> None:
    made = make_client(client)
    key = made["api_key"]
    assert len(key) >= 43 and made["active"] is True and made["name"] == "city dashboard"
    with unit_of_work(engine) as session:
        row = session.get(Open311Client, made["id"])
        assert row is not None and row.key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert row.county_id == world.village_a.county_id and row.created_by.startswith("user:")
    listed = client.get("/api/v1/open311-clients", headers=bearer(password_token(client, "admin")))
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()] == [made["id"]]
    assert key not in listed.text and "key" not in listed.json()[0]
    second = make_client(client, "app")
    assert second["api_key"] != key


def test_only_the_county_admin_manages_clients_and_only_their_countys(client: TestClient, world: World) -> None:
    made = make_client(client)
    official = bearer(password_token(client, "official-a"))
    assert client.get("/api/v1/open311-clients", headers=official).status_code == 403
    refused = client.post("/api/v1/open311-clients", json={"name": "x"}, headers=official)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    villager = bearer(villager_token(client, world.villager_phone))
    assert client.post("/api/v1/open311-clients", json={"name": "x"}, headers=villager).status_code == 403
    other = bearer(password_token(client, "admin-c"))
    assert client.get("/api/v1/open311-clients", headers=other).json() == []
    missing = client.post(f"/api/v1/open311-clients/{made['id']}/disable", headers=other)
    assert missing.status_code == 404 and missing.json()["code"] == "open311_client_not_found"
    blank = client.post(
        "/api/v1/open311-clients", json={"name": "   "}, headers=bearer(password_token(client, "admin"))
    )
    assert blank.status_code == 422


def test_a_request_needs_a_valid_key_and_a_disabled_clients_key_is_refused_at_once(
    client: TestClient, engine: Engine, world: World, setup: Setup
) -> None:
    made = make_client(client)
    jurisdiction = {"jurisdiction_id": setup.county_code}
    is_error(client.get(f"{BASE}/requests.json", params=jurisdiction), 403)
    is_error(client.get(f"{BASE}/requests.json", params={**jurisdiction, "api_key": "guessed"}), 403)
    assert client.get(f"{BASE}/requests.json", params={**jurisdiction, "api_key": made["api_key"]}).json() == []
    other_county = {"jurisdiction_id": setup.other_county_code, "api_key": made["api_key"]}
    is_error(client.get(f"{BASE}/requests.json", params=other_county), 403)
    admin = bearer(password_token(client, "admin"))
    disabled = client.post(f"/api/v1/open311-clients/{made['id']}/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    is_error(client.get(f"{BASE}/requests.json", params={**jurisdiction, "api_key": made["api_key"]}), 403)
    again = client.post(f"/api/v1/open311-clients/{made['id']}/disable", headers=admin)
    assert again.status_code == 200  # changes nothing


def test_the_key_may_come_as_http_basic_password(client: TestClient, setup: Setup) -> None:
    made = make_client(client)
    answer = client.get(
        f"{BASE}/requests.json", params={"jurisdiction_id": setup.county_code}, auth=("x", made["api_key"])
    )
    assert answer.status_code == 200 and answer.json() == []
    is_error(client.get(f"{BASE}/requests.json", auth=("x", "wrong")), 403)


# --- reading requests -------------------------------------------------------------------------------------------


def test_a_request_has_the_specs_fields_and_types_and_nothing_of_the_reporter(
    client: TestClient, engine: Engine, world: World, setup: Setup
) -> None:
    made = make_client(client)
    due = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    concern_id = concern(
        engine,
        world,
        setup.road,
        client_id=made["id"],
        anonymous=True,
        status="dispatched",
        handler_id=setup.handler,
        place_id=setup.place,
        step_due_at=due,
    )
    answer = client.get(f"{BASE}/requests/{concern_id}.json", params={"api_key": made["api_key"]})
    assert answer.status_code == 200, answer.text
    (request,) = answer.json()
    assert set(request) == set(REQUEST_FIELDS)
    for name, types in REQUEST_FIELDS.items():
        assert isinstance(request[name], types), (name, request[name])
    assert request["service_request_id"] == str(concern_id) and request["status"] == "open"
    assert request["status_notes"] == "dispatched to 第三网格" and request["agency_responsible"] == "第三网格"
    assert request["service_code"] == "road_hazard" and request["description"] == "桥边护栏断了"
    assert request["address"] == "石桥" and request["address_id"] == str(setup.place)
    assert (request["lat"], request["long"]) == (30.1, 120.1)  # the place's, as the report had none of its own
    assert request["expected_datetime"] == "2026-12-02T09:00:00+08:00"  # the county's time, with its offset
    for moment in ("requested_datetime", "updated_datetime"):
        assert datetime.fromisoformat(request[moment]).utcoffset() == timedelta(hours=8)
    text = answer.text
    assert "王小明" not in text and "13900000009" not in text
    assert not any(word in name for name in request for word in PERSONAL)


def test_statuses_are_open_or_closed_with_the_state_in_the_notes(
    client: TestClient, engine: Engine, world: World, setup: Setup
) -> None:
    made = make_client(client)
    into = concern(engine, world, setup.road, client_id=made["id"])
    states = {
        "submitted": ("open", "submitted"),
        "accepted": ("open", "accepted"),
        "returned": ("open", "returned by the handler: to be dispatched again"),
        "reopened": ("open", "reopened: the reporter was not satisfied; with the supervisor to dispatch again"),
        "resolved": ("closed", "resolved"),
        "closed": ("closed", "closed"),
    }
    ids = {state: concern(engine, world, setup.road, client_id=made["id"], status=state) for state in states}
    merged = concern(engine, world, setup.road, client_id=made["id"], status="merged", merged_into_id=into)
    auto = concern(engine, world, setup.road, client_id=made["id"], status="closed", closed_by="auto")
    every = client.get(f"{BASE}/requests.json", params={"api_key": made["api_key"]}).json()
    by_id = {int(r["service_request_id"]): r for r in every}
    for state, (status, notes) in states.items():
        assert (by_id[ids[state]]["status"], by_id[ids[state]]["status_notes"]) == (status, notes)
    assert by_id[merged]["status"] == "closed" and by_id[merged]["status_notes"].startswith(f"merged into #{into}")
    assert by_id[auto]["status_notes"] == "closed without the reporter's evaluation"
    open_ = client.get(f"{BASE}/requests.json", params={"api_key": made["api_key"], "status": "open"}).json()
    assert {r["status"] for r in open_} == {"open"} and len(open_) == 5
    closed = client.get(f"{BASE}/requests.json", params={"api_key": made["api_key"], "status": "closed"}).json()
    assert len(closed) == 4
    both = client.get(f"{BASE}/requests.json", params={"api_key": made["api_key"], "status": "open,closed"}).json()
    assert len(both) == 9
    is_error(client.get(f"{BASE}/requests.json", params={"api_key": made["api_key"], "status": "pending"}), 400)


def test_a_client_reads_only_the_requests_it_sent(
    client: TestClient, engine: Engine, world: World, setup: Setup
) -> None:
    mine, theirs = make_client(client, "mine"), make_client(client, "theirs")
    own = concern(engine, world, setup.road, client_id=mine["id"])
    other = concern(engine, world, setup.road, client_id=theirs["id"])
    villagers = concern(engine, world, setup.road, client_id=None)
    listed = client.get(f"{BASE}/requests.json", params={"api_key": mine["api_key"]}).json()
    assert [r["service_request_id"] for r in listed] == [str(own)]
    for hidden in (other, villagers, 999_999):
        is_error(client.get(f"{BASE}/requests/{hidden}.json", params={"api_key": mine["api_key"]}), 404)
    by_id = client.get(
        f"{BASE}/requests.json", params={"api_key": mine["api_key"], "service_request_id": f"{own},{other},{villagers}"}
    ).json()
    assert [r["service_request_id"] for r in by_id] == [str(own)]
    is_error(client.get(f"{BASE}/requests/abc.json", params={"api_key": mine["api_key"]}), 404)
    is_error(client.get(f"{BASE}/requests/{own}.json"), 403)  # the key before anything else


def test_the_filters_of_the_standard(client: TestClient, engine: Engine, world: World, setup: Setup) -> None:
    made = make_client(client)
    key = made["api_key"]
    now = datetime.now(UTC)
    recent = concern(engine, world, setup.road, client_id=made["id"], created_at=now - timedelta(days=1))
    problem = concern(engine, world, setup.environment, client_id=made["id"], created_at=now - timedelta(days=2))
    old = concern(engine, world, setup.road, client_id=made["id"], created_at=now - timedelta(days=120))

    def ids(**params: str) -> list[int]:
        answer = client.get(f"{BASE}/requests.json", params={"api_key": key, **params})
        assert answer.status_code == 200, answer.text
        return [int(r["service_request_id"]) for r in answer.json()]

    assert ids() == [recent, problem]  # the latest 90 days by default, newest first
    assert ids(service_code="environment") == [problem]
    assert ids(service_code="road_hazard,environment") == [recent, problem]
    assert ids(service_code="nothing") == []
    start = (now - timedelta(days=130)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(start_date=start, end_date=end) == [old]
    assert ids(start_date=start) == [old]  # 90 days from the start
    assert ids(service_request_id=str(old)) == [old]  # overrides the dates
    too_long = {"api_key": key, "start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}
    assert "90 days" in is_error(client.get(f"{BASE}/requests.json", params=too_long), 400)
    backwards = {"api_key": key, "start_date": "2026-06-01T00:00:00Z", "end_date": "2026-05-01T00:00:00Z"}
    is_error(client.get(f"{BASE}/requests.json", params=backwards), 400)
    is_error(client.get(f"{BASE}/requests.json", params={"api_key": key, "start_date": "yesterday"}), 400)
    is_error(client.get(f"{BASE}/requests.json", params={"api_key": key, "service_request_id": "1,x"}), 400)


def test_every_open311_route_declares_who_may_call_it(client: TestClient) -> None:
    from fastapi.routing import APIRoute

    from api import open311
    from api.deps import access_rules

    rules = {
        (route.path, method): access_rules(route.dependant)
        for route in open311.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    keyed = {(p, m) for (p, m), found in rules.items() if found == ["open311_key"]}
    public = {(p, m) for (p, m), found in rules.items() if found == ["public"]}
    assert keyed | public == set(rules)  # one rule each
    assert {p for p, _ in keyed} == {f"{BASE}/requests.json", f"{BASE}/requests/{{service_request_id}}.json"}
    assert f"{BASE}/requests.json" not in {p for p, _ in public}
