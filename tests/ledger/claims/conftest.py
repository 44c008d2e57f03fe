"""A village with the default catalogue, households with a villager each, two officials and an activity whose
printed code the villagers claim with; the services are driven directly with a Session, without HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from ledger.activities import codes
from ledger.activities import service as activities
from ledger.catalogue import service as catalogue
from ledger.claims import review
from ledger.claims import service as claims
from ledger.claims.models import Claim
from ledger.core.base import as_utc, utcnow
from ledger.core.db import unit_of_work
from ledger.core.outbox import Notification
from ledger.core.settings import Settings
from ledger.identity.principal import Principal
from ledger.journal import accounts, queries
from ledger.journal.models import AccountKind
from ledger.journal.rules import Balance
from ledger.tenancy import Village
from tests import factories

KEYS = codes.Keys.from_settings(Settings(env="dev", jwt_secret="test-secret-0123456789-abcdefghijklmnop"))


@dataclass
class World:
    session: Session
    village: factories.VillageFixture
    homes: list[int]  # household ids
    villagers: list[Principal]  # one member of each household, in the same order
    officials: list[Principal]
    code: str  # the printed code of a volunteering activity (5 points, reviewed by an official)

    def claim(self, n: int = 0) -> Claim:
        """Household n claims at the activity; the claim waits for review."""
        return claims.submit_by_code(
            self.session, self.villagers[n], KEYS, token=self.code, details=claims.Details(), idempotency_key=None
        ).value

    def approved(self, n: int = 0) -> Claim:
        claim = self.claim(n)
        return review.approve(self.session, self.officials[0], claim_id=id_of(claim), idempotency_key=None).value

    def points(self, n: int, kind: AccountKind = AccountKind.HOUSEHOLD) -> Balance:
        account = accounts.of_household(self.session, self.homes[n], kind)
        return queries.balance(self.session, id_of(account))

    def told(self, n: int) -> list[str]:
        """The kinds of the notifications queued for household n, oldest first."""
        return list(
            self.session.scalars(
                select(col(Notification.kind))
                .where(col(Notification.household_id) == self.homes[n])
                .order_by(col(Notification.id))
            ).all()
        )


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    with unit_of_work(engine) as session:
        village = factories.create_village(session)
        catalogue.load_default(session, county_id=village.county_id)
        homes = [factories.create_household(session, village.village_id)[0] for _ in range(3)]
        villagers = [factories.principal_of(session, factories.create_villager(session, h)) for h in homes]
        officials = [
            factories.principal_of(session, factories.create_official(session, village.county_id, [village.village_id]))
            for _ in range(2)
        ]
        home = session.get(Village, village.village_id)
        assert home is not None
        activity = activities.create(
            session,
            village=home,
            matter_code="volunteering",
            title="Volunteering",
            starts_at=utcnow() - timedelta(hours=1),
            ends_at=utcnow() + timedelta(days=30),
            actor="test",
        )
        yield World(session, village, homes, villagers, officials, activities.printed_code(KEYS, activity))


def days_later(days: float) -> datetime:
    return utcnow() + timedelta(days=days)


def id_of(row: Any) -> int:
    """The id of a stored row (a flushed row always has one)."""
    assert isinstance(row.id, int)
    return row.id


def when(moment: datetime | None) -> datetime:
    """A moment the claim has at this point of its life, in UTC."""
    assert moment is not None
    return as_utc(moment)
