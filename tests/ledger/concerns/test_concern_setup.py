"""A county's concern set-up: the default categories on day one (once), categories, places and handlers edited
by whom the rules say, each change in the change log."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlmodel import col

from ledger.concerns import setup
from ledger.concerns.models import ConcernCategory
from ledger.core.audit import AdminChange
from ledger.core.errors import DomainError
from tests import factories
from tests.ledger.concerns.conftest import World

id_of = factories.id_of


def refused(expected: str, call: object, /, *args: object, **kwargs: object) -> None:
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    assert caught.value.code == expected, caught.value.message


def test_the_default_categories_come_once_with_the_binjiang_deadlines(world: World) -> None:
    county = world.village.county_id
    assert setup.default_categories(world.session, county) == 0  # the world's county has them already
    found = {c.code: c for c in setup.categories(world.session, county)}
    assert list(found) == [d.code for d in setup.DEFAULT_CATEGORIES]
    road, environment, dispute = found["road_hazard"], found["environment"], found["neighbour_dispute"]
    assert (road.urgent, road.accept_minutes, road.dispatch_minutes) == (True, 1, 5)
    assert (road.resolve_minutes, road.resolve_working, road.matter_code) == (1440, False, "report_hazard")
    # three working days of the default 08:30–17:30 (nine hours a day)
    assert (environment.resolve_minutes, environment.resolve_working, environment.matter_code) == (
        3 * 9 * 60,
        True,
        "report_problem",
    )
    assert dispute.matter_code is None and found["other"].name_zh == "其他"


def test_categories_are_the_county_admins(world: World) -> None:
    refused("forbidden", setup.add_category, world.session, world.officials[0], code="x", name_zh="某", name_en="X")
    refused("category_exists", setup.add_category, world.session, world.admin, code="other", name_zh="某", name_en="X")
    refused("invalid", setup.add_category, world.session, world.admin, code="x", name_zh="", name_en="X")
    refused(
        "category_deadlines_invalid",
        setup.add_category,
        world.session,
        world.admin,
        code="x",
        name_zh="某",
        name_en="X",
        accept_minutes=0,
    )
    # the same bounds as the deadlines' own edit: accepting within three working days at most
    refused(
        "category_deadlines_invalid",
        setup.add_category,
        world.session,
        world.admin,
        code="x",
        name_zh="某",
        name_en="X",
        accept_minutes=1621,
    )
    # a category earns a matter of the county's catalogue that gives points
    for matter in ("no_such_matter", "littering"):
        refused(
            "category_matter_invalid",
            setup.add_category,
            world.session,
            world.admin,
            code="x",
            name_zh="某",
            name_en="X",
            matter_code=matter,
        )
    added = setup.add_category(
        world.session, world.admin, code="flood", name_zh="内涝", name_en="Flooding", urgent=True
    )
    assert (added.resolve_working, added.resolve_minutes) == (False, 1440)
    setup.set_category(world.session, world.admin, id_of(added), matter_code="report_hazard", dispatch_minutes=10)
    row = world.session.get(ConcernCategory, id_of(added))
    assert row is not None and (row.matter_code, row.dispatch_minutes) == ("report_hazard", 10)
    refused("category_not_found", setup.set_category, world.session, world.admin, 10**6, active=False)
    actions = world.session.scalars(
        select(col(AdminChange.action)).where(col(AdminChange.target_type) == "concern_category")
    ).all()
    assert actions == ["concern_category.add", "concern_category.change"]


def test_places_are_kept_by_the_villages_officials(world: World) -> None:
    place = setup.add_place(world.session, world.officials[0], village_id=world.village.village_id, name=" Bridge ")
    assert place.name == "Bridge"
    refused(
        "village_not_found",
        setup.add_place,
        world.session,
        world.other_official,
        village_id=world.village.village_id,
        name="x",
    )
    refused(
        "forbidden",
        setup.add_place,
        world.session,
        world.auditor,
        village_id=world.village.village_id,
        name="x",
    )
    refused(
        "forbidden", setup.add_place, world.session, world.villagers[0], village_id=world.village.village_id, name="x"
    )
    refused(
        "invalid", setup.add_place, world.session, world.admin, village_id=world.village.village_id, name="x", lat=30.0
    )
    refused("place_not_found", setup.set_place_active, world.session, world.other_official, id_of(place), active=False)
    setup.set_place_active(world.session, world.admin, id_of(place), active=False)
    assert setup.places(world.session, world.village.village_id) == []


def test_handlers_and_their_members_are_the_county_admins(world: World) -> None:
    refused("forbidden", setup.add_handler, world.session, world.officials[0], kind="grid", name="G")
    refused("invalid", setup.add_handler, world.session, world.admin, kind="police", name="G")
    refused(
        "invalid",
        setup.add_handler,
        world.session,
        world.admin,
        kind="grid",
        name="G",
        supervisor_user_id=world.villagers[0].user_id,
    )
    office = setup.add_handler(
        world.session,
        world.admin,
        kind="township_office",
        name="Township office",
        township_id=world.village.township_id,
    )
    refused("invalid", setup.set_members, world.session, world.admin, id_of(office), [world.villagers[0].user_id or 0])
    assert setup.set_members(world.session, world.admin, id_of(office), [world.officials[1].user_id or 0]) == [
        world.officials[1].user_id
    ]
    assert setup.members(world.session, id_of(office)) == [world.officials[1].user_id]
    refused("handler_not_found", setup.set_handler_active, world.session, world.admin, 10**6, active=False)
    assert [h.id for h in setup.handlers(world.session, world.village.county_id, active_only=True)] == [
        world.handler_id,
        office.id,
    ]
