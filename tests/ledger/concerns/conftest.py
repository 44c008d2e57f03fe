"""A county with the default catalogue and concern categories, two villages of one township, households with a
villager each, officials, a township supervisor, a county admin, an auditor and a handler with one member; the
concern services are driven directly with a Session, without HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from ledger import tenancy
from ledger.catalogue import service as catalogue
from ledger.claims.models import EvidenceFile
from ledger.concerns import service, setup
from ledger.concerns.models import Concern, ConcernEvent
from ledger.core.db import unit_of_work
from ledger.core.outbox import Notification
from ledger.identity.models import OfficialScope, Role, User
from ledger.identity.principal import Principal
from tests import factories


@dataclass
class World:
    session: Session
    village: factories.VillageFixture
    other_village: int  # a second village of the same township
    homes: list[int]  # household ids of the first village
    villagers: list[Principal]  # one member of each household, in the same order
    outsider: Principal  # a villager of the other village
    officials: list[Principal]  # officials of the first village
    other_official: Principal  # an official of the other village only
    supervisor: Principal  # the township's supervisor
    admin: Principal
    auditor: Principal
    handler_id: int
    handler_member: Principal  # an official who acts for the handler (of no village)

    def photo(self, who: Principal, village_id: int | None = None) -> int:
        """A stored photo row sent by `who` (the file itself is not needed here)."""
        household = who.household_id if who.role == Role.VILLAGER else None
        row = EvidenceFile(
            sha256=f"{next(_names):064d}",
            size=10,
            content_type="image/jpeg",
            county_id=self.village.county_id,
            village_id=village_id or who.home_village_id or self.village.village_id,
            household_id=household,
            uploaded_by=who.actor,
        )
        self.session.add(row)
        self.session.flush()
        return factories.id_of(row)

    def report(self, n: int = 0, **fields: Any) -> Concern:
        values: dict[str, Any] = {"category_code": "road_hazard", "kind": "hazard", "text": "A hole in the road"}
        values.update(fields)
        now = values.pop("now", None)
        return service.report(
            self.session, self.villagers[n], service.Report(**values), idempotency_key=None, now=now
        ).value

    def dispatched(self, n: int = 0, **fields: Any) -> Concern:
        concern = self.report(n, **fields)
        service.accept(self.session, self.officials[0], factories.id_of(concern))
        return service.dispatch(self.session, self.officials[0], factories.id_of(concern), handler_id=self.handler_id)

    def resolved(self, n: int = 0, judgement: str = "real", **fields: Any) -> Concern:
        concern = self.dispatched(n, **fields)
        return service.resolve(
            self.session,
            self.handler_member,
            factories.id_of(concern),
            note="Filled the hole",
            judgement=judgement,
            evidence_ids=(self.photo(self.handler_member, self.village.village_id),),
        )

    def told(self, household_id: int) -> list[str]:
        return list(
            self.session.scalars(
                select(col(Notification.kind))
                .where(col(Notification.household_id) == household_id)
                .order_by(col(Notification.id))
            ).all()
        )

    def events(self, concern: Concern) -> list[ConcernEvent]:
        return list(
            self.session.scalars(
                select(ConcernEvent).where(col(ConcernEvent.concern_id) == concern.id).order_by(col(ConcernEvent.id))
            ).all()
        )


def staff(session: Session, county_id: int, role: Role, *, township_id: int | None = None) -> Principal:
    user = User(role=role, county_id=county_id, username=f"cc-{role.value}-{next(_names)}", display_name=role.value)
    session.add(user)
    session.flush()
    if township_id is not None:
        session.add(OfficialScope(user_id=factories.id_of(user), township_id=township_id))
        session.flush()
    return factories.principal_of(session, factories.id_of(user))


_names = iter(range(1, 10**9))


def make_world(session: Session) -> World:
    village = factories.create_village(session)
    catalogue.load_default(session, county_id=village.county_id)
    setup.default_categories(session, village.county_id)
    township = session.get(tenancy.Township, village.township_id)
    assert township is not None
    other = tenancy.create_village(session, township=township, code=f"OV{next(_names)}", name="Other village")
    other_id = factories.id_of(other)
    homes = [factories.create_household(session, village.village_id)[0] for _ in range(3)]
    villagers = [factories.principal_of(session, factories.create_villager(session, h)) for h in homes]
    outsider_home = factories.create_household(session, other_id)[0]
    outsider = factories.principal_of(session, factories.create_villager(session, outsider_home))
    officials = [
        factories.principal_of(session, factories.create_official(session, village.county_id, [village.village_id]))
        for _ in range(2)
    ]
    other_official = factories.principal_of(session, factories.create_official(session, village.county_id, [other_id]))
    supervisor = staff(session, village.county_id, Role.OFFICIAL, township_id=village.township_id)
    admin = staff(session, village.county_id, Role.COUNTY_ADMIN)
    auditor = staff(session, village.county_id, Role.AUDITOR)
    member = staff(session, village.county_id, Role.OFFICIAL)
    handler = setup.add_handler(
        session, admin, kind="grid", name="Grid 1", village_id=village.village_id, supervisor_user_id=supervisor.user_id
    )
    setup.set_members(session, admin, factories.id_of(handler), [factories.not_none(member.user_id)])
    return World(
        session=session,
        village=village,
        other_village=other_id,
        homes=homes,
        villagers=villagers,
        outsider=outsider,
        officials=officials,
        other_official=other_official,
        supervisor=supervisor,
        admin=admin,
        auditor=auditor,
        handler_id=factories.id_of(handler),
        handler_member=member,
    )


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    with unit_of_work(engine) as session:
        yield make_world(session)


def at(moment: datetime | None) -> datetime:
    assert moment is not None
    return moment
