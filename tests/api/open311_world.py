"""The county of the Open311 tests: categories (one retired), a handler, a place, village centres, and a client
made by the county admin through the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from ledger.concerns.models import ConcernCategory, ConcernHandler, ConcernPlace
from ledger.core.db import unit_of_work
from ledger.tenancy import County, Village
from tests.api.conftest import World, bearer, password_token
from tests.factories import id_of


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


def make_setup(engine: Engine, world: World) -> Setup:
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
