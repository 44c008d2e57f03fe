"""Helpers of the concern routes' tests: the county's categories, a handler with a member and a staff account that
is not one, photos and voice notes to send, and concerns brought to a state through the domain services."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from ledger.claims.models import EvidenceFile
from ledger.concerns import service, setup
from ledger.concerns.models import Concern, ConcernEvent, ConcernHandler, ConcernHandlerMember
from ledger.core.db import unit_of_work
from ledger.identity.models import Role, User
from ledger.identity.principal import Principal
from ledger.identity.service import set_password
from ledger.tenancy import Person
from tests import factories
from tests.api.conftest import PASSWORD, World


@dataclass(frozen=True)
class Concerns:
    handler_id: int  # "Grid A", its member: the user "grid-1"
    other_handler_id: int  # "Roads office", its member: "grid-2"
    reporter_user: int  # the villager head of household A1 (World.villager_phone)


def staff_user(session: Session, username: str, county_id: int, role: Role = Role.OFFICIAL) -> int:
    user = User(role=role, county_id=county_id, username=username, display_name=username)
    set_password(user, PASSWORD)
    session.add(user)
    session.flush()
    return factories.id_of(user)


def set_up(engine: Engine, world: World) -> Concerns:
    county = world.village_a.county_id
    with unit_of_work(engine) as session:
        setup.default_categories(session, county)
        grid_1 = staff_user(session, "grid-1", county)
        grid_2 = staff_user(session, "grid-2", county)
        handler = ConcernHandler(county_id=county, kind="grid", name="Grid A", village_id=world.village_a.village_id)
        other = ConcernHandler(county_id=county, kind="township_office", name="Roads office")
        session.add_all([handler, other])
        session.flush()
        session.add(ConcernHandlerMember(handler_id=factories.id_of(handler), user_id=grid_1))
        session.add(ConcernHandlerMember(handler_id=factories.id_of(other), user_id=grid_2))
        reporter = session.scalars(
            select(User)
            .join(Person, col(Person.id) == col(User.person_id))
            .where(col(Person.phone) == world.villager_phone)
        ).one()
        return Concerns(factories.id_of(handler), factories.id_of(other), factories.id_of(reporter))


def photo(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(buffer, "PNG")
    return buffer.getvalue()


OGG = b"OggS\x00\x02" + b"\x00" * 40 + b"voice"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40


def principal(session: Session, username: str | None = None, *, user_id: int | None = None) -> Principal:
    if user_id is None:
        user_id = factories.not_none(session.scalars(select(col(User.id)).where(col(User.username) == username)).one())
    return factories.principal_of(session, user_id)


def report(session: Session, who: Principal, **fields: Any) -> Concern:
    values: dict[str, Any] = {"category_code": "road_hazard", "kind": "hazard", "text": "A hole in the road"} | fields
    return service.report(session, who, service.Report(**values), idempotency_key=None).value


def concern_in(engine: Engine, world: World, concerns: Concerns, state: str, *, anonymous: bool = False) -> int:
    """A concern reported by household A1 (village A), brought to `state` through the services: submitted,
    accepted, dispatched (to Grid A), returned, resolved (by grid-1, judged not confirmed), closed, reopened."""
    with unit_of_work(engine) as session:
        villager = principal(session, user_id=concerns.reporter_user)
        concern = report(session, villager, anonymous=anonymous)
        concern_id = factories.id_of(concern)
        if state == "submitted":
            return concern_id
        official = principal(session, "official-a")
        service.accept(session, official, concern_id)
        if state == "accepted":
            return concern_id
        service.dispatch(session, official, concern_id, handler_id=concerns.handler_id)
        if state == "dispatched":
            return concern_id
        grid = principal(session, "grid-1")
        if state == "returned":
            service.return_(session, grid, concern_id, reason="Not ours")
            return concern_id
        saved = EvidenceFile(
            sha256="0" * 64,
            size=1,
            content_type="image/png",
            county_id=world.village_a.county_id,
            village_id=world.village_a.village_id,
            uploaded_by=grid.actor,
        )
        session.add(saved)
        session.flush()
        service.resolve(
            session, grid, concern_id, note="Filled", judgement="not_confirmed", evidence_ids=(factories.id_of(saved),)
        )
        if state == "resolved":
            return concern_id
        service.evaluate(session, villager, concern_id, satisfied=state == "closed", comment=None)
        assert state in ("closed", "reopened")
        return concern_id


def snapshot(engine: Engine, concern_id: int) -> tuple[str, int, int]:
    """What a refusal must leave as it was: the status, the version and the number of timeline steps."""
    with unit_of_work(engine) as session:
        concern = session.get(Concern, concern_id)
        assert concern is not None
        events = session.scalar(
            select(func.count()).select_from(ConcernEvent).where(col(ConcernEvent.concern_id) == concern_id)
        )
        return concern.status, concern.version, int(events or 0)
