"""The set-up of village concerns (docs/concerns.md): the county's categories, the places of each village's list,
and the handlers concerns are dispatched to with their members. The county admin keeps categories and handlers;
an official keeps the places of their villages. Every change is in the change log (ledger/concerns/setup.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SessionDep, allow
from api.presentation.concerns import category_out, handler_out, place_out
from api.schemas.concerns import (
    ActiveIn,
    CategoryEdit,
    CategoryIn,
    CategoryOut,
    HandlerIn,
    HandlerOut,
    MembersIn,
    PlaceIn,
    PlaceOut,
)
from ledger.concerns import setup
from ledger.identity.models import Role
from ledger.identity.principal import Principal, visible_village
from ledger.tenancy import Village, VillageNotFound

categories = APIRouter(prefix="/api/v1/concern-categories", tags=["concerns"])
places = APIRouter(prefix="/api/v1/concern-places", tags=["concerns"])
handlers = APIRouter(prefix="/api/v1/concern-handlers", tags=["concerns"])
ROUTERS = (categories, places, handlers)

Anyone = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
Staff = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
Keeper = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]
Admin = Annotated[Principal, allow(Role.COUNTY_ADMIN)]


# --- categories ------------------------------------------------------------------------------------------------


@categories.get("", response_model=list[CategoryOut])
def list_categories(
    session: SessionDep,
    who: Anyone,
    active: Annotated[bool, Query(description="Only those a report may name (the default for villagers).")] = False,
) -> list[CategoryOut]:
    """The county's categories of concerns, with each step's deadline and the matter a useful report earns."""
    only_active = active or who.role == Role.VILLAGER
    return [category_out(c) for c in setup.categories(session, who.county_id, active_only=only_active)]


@categories.post("", response_model=CategoryOut, status_code=201)
def add_category(body: CategoryIn, session: SessionDep, who: Admin) -> CategoryOut:
    """A new category of the county (its code unique in the county: 409 `category_exists` otherwise)."""
    fields = body.model_dump(exclude={"code", "name_zh", "name_en"}, exclude_unset=True)
    added = setup.add_category(session, who, code=body.code, name_zh=body.name_zh, name_en=body.name_en, **fields)
    return category_out(added)


@categories.patch("/{category_id}", response_model=CategoryOut)
def edit_category(category_id: int, body: CategoryEdit, session: SessionDep, who: Admin) -> CategoryOut:
    """Change a category: only the fields sent (`active: false` takes it off the reporting list)."""
    return category_out(setup.set_category(session, who, category_id, **body.model_dump(exclude_unset=True)))


# --- places ----------------------------------------------------------------------------------------------------


@places.get("", response_model=list[PlaceOut])
def list_places(
    village_id: Annotated[int, Query(gt=0)],
    session: SessionDep,
    who: Anyone,
    all: Annotated[bool, Query(description="Staff: the inactive places too.")] = False,
) -> list[PlaceOut]:
    """The places of a village's list: staff, of the villages they see; a villager, of any village of their county
    (they report from the code of the village they are in)."""
    if who.role == Role.VILLAGER:
        village = session.get(Village, village_id)
        if village is None or village.county_id != who.county_id:
            raise VillageNotFound("No such village.", village_id=village_id)
    else:
        visible_village(session, who, village_id, members=False)
    active_only = not all or who.role == Role.VILLAGER
    return [place_out(p) for p in setup.places(session, village_id, active_only=active_only)]


@places.post("", response_model=PlaceOut, status_code=201)
def add_place(body: PlaceIn, session: SessionDep, who: Keeper) -> PlaceOut:
    """A place on the list of a village of yours (the bridge, the culture hall), for reports without a position."""
    return place_out(
        setup.add_place(session, who, village_id=body.village_id, name=body.name, lat=body.lat, lon=body.lon)
    )


@places.patch("/{place_id}", response_model=PlaceOut)
def edit_place(place_id: int, body: ActiveIn, session: SessionDep, who: Keeper) -> PlaceOut:
    """Take a place off the list (`active: false`), or put it back."""
    return place_out(setup.set_place_active(session, who, place_id, active=body.active))


# --- handlers --------------------------------------------------------------------------------------------------


@handlers.get("", response_model=list[HandlerOut])
def list_handlers(
    session: SessionDep,
    who: Staff,
    active: Annotated[bool, Query(description="Only those a concern may be dispatched to.")] = False,
) -> list[HandlerOut]:
    """The county's handlers (the county admin also sees each one's members)."""
    return [handler_out(session, who, h) for h in setup.handlers(session, who.county_id, active_only=active)]


@handlers.post("", response_model=HandlerOut, status_code=201)
def add_handler(body: HandlerIn, session: SessionDep, who: Admin) -> HandlerOut:
    """A handler: a village official or grid member, a township office, or another department of the county."""
    added = setup.add_handler(
        session,
        who,
        kind=body.kind,
        name=body.name,
        village_id=body.village_id,
        township_id=body.township_id,
        supervisor_user_id=body.supervisor_user_id,
    )
    return handler_out(session, who, added)


@handlers.put("/{handler_id}/members", response_model=HandlerOut)
def set_members(handler_id: int, body: MembersIn, session: SessionDep, who: Admin) -> HandlerOut:
    """The staff accounts who act for the handler (officials or county admins of the county): the whole list."""
    setup.set_members(session, who, handler_id, body.user_ids)
    return handler_out(session, who, setup.handler(session, who.county_id, handler_id))


@handlers.patch("/{handler_id}", response_model=HandlerOut)
def edit_handler(handler_id: int, body: ActiveIn, session: SessionDep, who: Admin) -> HandlerOut:
    """Stop dispatching to a handler (`active: false`), or start again; what it has keeps its timeline."""
    return handler_out(session, who, setup.set_handler_active(session, who, handler_id, active=body.active))
