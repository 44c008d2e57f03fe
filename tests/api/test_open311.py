"""Open311 GeoReport v2 as a client meets it: discovery, the county's categories as services, keys the county
admin makes and disables, requests read with a key (only the client's own, never who reported them), and every
error in the standard's shape with its status."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from ledger.concerns import open311 as open311_domain
from ledger.concerns.models import (
    Concern,
    ConcernEvent,
    Open311Client,
)
from ledger.core.db import unit_of_work
from ledger.tenancy import County
from tests.api.conftest import World, bearer, password_token, villager_token
from tests.api.open311_world import Setup, categories, make_client, make_setup
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


@pytest.fixture
def setup(engine: Engine, world: World) -> Setup:
    return make_setup(engine, world)


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
    many = ",".join(str(n) for n in range(1, 1002))
    assert "1000" in is_error(
        client.get(f"{BASE}/requests.json", params={"api_key": key, "service_request_id": many}), 400
    )


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


# --- sending requests -------------------------------------------------------------------------------------------


def stored(engine: Engine, concern_id: int) -> Concern:
    with unit_of_work(engine) as session:
        row = session.get(Concern, concern_id)
        assert row is not None
        session.expunge(row)
        return row


def test_a_form_encoded_request_becomes_a_concern_of_the_nearest_village(
    client: TestClient, engine: Engine, world: World, setup: Setup
) -> None:
    made = make_client(client)
    sent = client.post(
        f"{BASE}/requests.json",
        data={
            "api_key": made["api_key"],
            "jurisdiction_id": setup.county_code,
            "service_code": "road_hazard",
            "lat": "30.19",  # 1 km from village B's centre, 21 km from A's
            "long": "120.0",
            "description": "路灯杆倒在路中间",
            "first_name": "小明",
            "last_name": "王",
            "phone": "13900000009",
            "email": "wang@example.com",
            "media_url": "https://photos.example/1.jpg",
        },
    )
    assert sent.status_code == 201, sent.text
    (answer,) = sent.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert answer["service_notice"] == "" and answer["account_id"] is None
    row = stored(engine, int(answer["service_request_id"]))
    assert (row.channel, row.open311_client_id, row.village_id) == ("open311", made["id"], world.village_b.village_id)
    assert (row.kind, row.text, row.status, row.anonymous) == ("hazard", "路灯杆倒在路中间", "submitted", False)
    assert row.reporter_household_id is None and row.reporter_user_id is None  # no household: no points
    assert (row.reporter_name, row.reporter_phone) == ("小明 王", "13900000009")  # kept for the officials
    assert row.entered_by == f"open311:{made['id']}"
    assert row.media_url == "https://photos.example/1.jpg"  # kept as sent; nothing fetched it
    read = client.get(f"{BASE}/requests/{row.id}.json", params={"api_key": made["api_key"]})
    assert read.status_code == 200 and read.json()[0]["status"] == "open"
    assert read.json()[0]["expected_datetime"] is not None  # the acceptance deadline
    assert read.json()[0]["media_url"] == "https://photos.example/1.jpg"
    for personal in ("小明", "13900000009", "wang@example.com"):
        assert personal not in read.text


def test_a_json_request_at_a_place_of_the_list_may_be_anonymous_and_its_repeat_is_linked(
    client: TestClient, engine: Engine, world: World, setup: Setup
) -> None:
    made = make_client(client)
    body = {
        "api_key": made["api_key"],
        "service_code": "environment",
        "address_id": str(setup.place),
        "description": "石桥下堆满垃圾",
        "first_name": "匿名者",
        "phone": "13900000008",
        "attribute": {"anonymous": True, "kind": "complaint"},
    }
    first = client.post(f"{BASE}/requests.json", json={**body, "jurisdiction_id": setup.county_code})
    assert first.status_code == 201, first.text
    first_id = int(first.json()[0]["service_request_id"])
    row = stored(engine, first_id)
    assert (row.village_id, row.place_id, row.anonymous, row.kind) == (
        world.village_a.village_id,
        setup.place,
        True,
        "complaint",
    )
    again = client.post(
        f"{BASE}/requests.json",
        params={"jurisdiction_id": setup.county_code, "api_key": made["api_key"]},  # the key where some clients put it
        data={"service_code": "environment", "address_id": str(setup.place), "description": "垃圾还在"},
    )
    assert again.status_code == 201, again.text
    assert again.json()[0]["service_notice"].endswith(f"#{first_id}.")
    repeat = client.get(
        f"{BASE}/requests/{again.json()[0]['service_request_id']}.json", params={"api_key": made["api_key"]}
    )
    assert repeat.json()[0]["status"] == "closed"
    assert repeat.json()[0]["status_notes"].startswith(f"merged into #{first_id}")
    listed = client.get(f"{BASE}/requests.json", params={"api_key": made["api_key"]})
    assert "匿名者" not in listed.text and "13900000008" not in listed.text
    staff = client.get(f"/api/v1/concerns/{first_id}", headers=bearer(password_token(client, "official-a")))
    if staff.status_code == 200:  # the concern routes (another part) hide an anonymous reporter from staff too
        assert "匿名者" not in staff.text and "13900000008" not in staff.text


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({}, 400, "service_code"),
        ({"service_code": "nothing"}, 404, "nothing"),
        ({"service_code": "retired"}, 404, "retired"),
        ({"service_code": "road_hazard", "description": "x"}, 400, "lat"),  # nowhere said
        ({"service_code": "road_hazard", "lat": "40.0", "long": "120.0", "description": "x"}, 400, "no village"),
        ({"service_code": "road_hazard", "lat": "30.0", "description": "x"}, 400, "both"),
        ({"service_code": "road_hazard", "lat": "north", "long": "120", "description": "x"}, 400, "lat"),
        ({"service_code": "road_hazard", "lat": "91", "long": "120", "description": "x"}, 400, "lat"),
        ({"service_code": "road_hazard", "lat": "nan", "long": "120", "description": "x"}, 400, "lat"),
        ({"service_code": "road_hazard", "address_id": "999999", "description": "x"}, 400, "address_id"),
        ({"service_code": "road_hazard", "address_id": "-1", "description": "x"}, 400, "address_id"),
        ({"service_code": "road_hazard", "address_string": "月球", "description": "x"}, 400, "address_string"),
        ({"service_code": "road_hazard", "lat": "30.0", "long": "120.0"}, 400, "description"),
        (
            {"service_code": "road_hazard", "lat": "30", "long": "120", "description": "x", "media_url": "file:///x"},
            400,
            "media",
        ),
        ({"service_code": "road_hazard", "lat": "30.0", "long": "120.0", "description": " "}, 400, "description"),
        ({"service_code": "road_hazard", "lat": "30", "long": "120", "description": "x" * 1001}, 400, "1000"),
        ({"service_code": "road_hazard", "lat": "30", "long": "120", "description": "a\x00b"}, 400, "NUL"),
        (
            {"service_code": "road_hazard", "lat": "30", "long": "120", "description": "x", "phone": "1" * 21},
            400,
            "phone",
        ),
        (
            {
                "service_code": "road_hazard",
                "lat": "30",
                "long": "120",
                "description": "x",
                "attribute[anonymous]": "maybe",
            },
            400,
            "anonymous",
        ),
        (
            {
                "service_code": "road_hazard",
                "lat": "30",
                "long": "120",
                "description": "x",
                "attribute[kind]": "praise",
            },
            400,
            "kind",
        ),
    ],
)
def test_a_request_missing_or_wrong_is_refused_in_the_standards_shape_and_nothing_is_written(
    client: TestClient, engine: Engine, setup: Setup, fields: dict[str, str], status: int, says: str
) -> None:
    made = make_client(client)
    answer = client.post(
        f"{BASE}/requests.json", data={"api_key": made["api_key"], "jurisdiction_id": setup.county_code, **fields}
    )
    assert says in is_error(answer, status)
    with unit_of_work(engine) as session:
        assert session.scalars(select(Concern)).first() is None


def test_without_a_valid_key_nothing_about_the_fields_is_said_and_nothing_is_written(
    client: TestClient, engine: Engine, setup: Setup
) -> None:
    for key in ({}, {"api_key": "guessed"}):
        is_error(client.post(f"{BASE}/requests.json", data={**key, "service_code": "nothing"}), 403)
        is_error(client.post(f"{BASE}/requests.json", json={**key}), 403)
    with unit_of_work(engine) as session:
        assert session.scalars(select(Concern)).first() is None


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"\xff\xfe", "application/json"),
    ],
)
def test_a_body_that_cannot_be_read_is_a_400(client: TestClient, setup: Setup, content: bytes, kind: str) -> None:
    is_error(client.post(f"{BASE}/requests.json", content=content, headers={"Content-Type": kind}), 400)


def test_odd_json_values_are_refused_not_failed(client: TestClient, setup: Setup) -> None:
    made = make_client(client)
    base = {"api_key": made["api_key"], "jurisdiction_id": setup.county_code, "service_code": "road_hazard"}
    for odd in (
        {"description": ["a"], "lat": 30, "long": 120},
        {"description": "x", "lat": True, "long": 120},
        {"description": "x", "lat": {"a": 1}, "long": 120},
        {"description": "x", "address_id": 10**30},
        {"description": "x", "lat": 30, "long": 120, "attribute": {"anonymous": ["yes"]}},
        {"description": "x", "lat": 30, "long": 120, "service_code": 7},
    ):
        answer = client.post(f"{BASE}/requests.json", json={**base, **odd})
        assert answer.status_code in (400, 404), (odd, answer.text)
        is_error(answer, answer.status_code)


def test_around_the_routes_the_answers_keep_the_standards_shape(
    client: TestClient, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = make_client(client)
    is_error(client.put(f"{BASE}/requests.json", data={"api_key": made["api_key"]}), 405)
    is_error(client.delete(f"{BASE}/requests/1.json"), 405)
    big = client.post(f"{BASE}/requests.json", data={"api_key": made["api_key"], "description": "x" * 70_000})
    is_error(big, 413)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret inside detail")

    monkeypatch.setattr("ledger.concerns.open311.visible_requests", broken)
    failed = client.get(f"{BASE}/requests.json", params={"api_key": made["api_key"]})
    assert "secret inside" not in is_error(failed, 500)
    assert client.get("/nowhere").headers["content-type"].startswith("text/html")  # the pages keep their own


def test_a_client_sends_at_most_its_hourly_reports_then_waits_and_nothing_more_is_written(
    client: TestClient, engine: Engine, setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(open311_domain, "REPORTS_PER_HOUR", 2)
    made = make_client(client)

    def send(n: int) -> Any:
        return client.post(
            f"{BASE}/requests.json",
            data={
                "api_key": made["api_key"],
                "jurisdiction_id": setup.county_code,
                "service_code": "road_hazard",
                "lat": "30.19",
                "long": "120.0" if n == 0 else f"120.0{n}",  # far enough apart not to be one problem
                "description": f"第{n}处路面塌陷",
            },
        )

    assert [send(n).status_code for n in range(2)] == [201, 201]
    third = send(2)
    assert "reports from this client" in is_error(third, 429) and int(third.headers["Retry-After"]) > 0
    with Session(engine) as session:
        texts = session.scalars(select(col(Concern.text)).where(col(Concern.open311_client_id) == made["id"])).all()
    assert sorted(texts) == ["第0处路面塌陷", "第1处路面塌陷"]
