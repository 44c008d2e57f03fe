"""Small typed factories for tests. Each builds through the same services the product uses."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sqlmodel import Session

from ledger import tenancy
from ledger.identity.principal import Principal
from ledger.journal import accounts
from ledger.journal.models import AccountKind

_serial = itertools.count(1)


class HasId(Protocol):
    id: int | None


T = TypeVar("T")


def not_none(value: T | None) -> T:
    """A value the test knows is there (a row it wrote, a pattern the page must show): fails plainly if not."""
    assert value is not None
    return value


def id_of(row: HasId) -> int:
    """The id of a row that was flushed (the type says it may be None before)."""
    assert row.id is not None
    return row.id


@dataclass(frozen=True)
class VillageFixture:
    county_id: int
    township_id: int
    village_id: int
    issuance: int  # account ids
    expiry: int
    penalty: int


def create_village(session: Session, *, county_id: int | None = None) -> VillageFixture:
    n = next(_serial)
    if county_id is None:
        county = tenancy.create_county(session, code=f"C{n}", name=f"County {n}")
    else:
        found = session.get(tenancy.County, county_id)
        assert found is not None
        county = found
    township = tenancy.create_township(session, county=county, code=f"T{n}", name=f"Township {n}")
    village = tenancy.create_village(session, township=township, code=f"V{n}", name=f"Village {n}")
    assert village.id is not None and township.id is not None and county.id is not None
    return VillageFixture(
        county_id=county.id,
        township_id=township.id,
        village_id=village.id,
        issuance=_account(session, village.id, AccountKind.ISSUANCE),
        expiry=_account(session, village.id, AccountKind.EXPIRY),
        penalty=_account(session, village.id, AccountKind.PENALTY),
    )


def create_household(session: Session, village_id: int, *, phone: str | None = None) -> tuple[int, int]:
    """Returns (household id, points account id)."""
    n = next(_serial)
    village = session.get(tenancy.Village, village_id)
    assert village is not None
    household = tenancy.create_household(
        session, village=village, code=f"H{n}", name=f"Household {n}", head_name=f"Head {n}", head_phone=phone
    )
    assert household.id is not None
    return household.id, id_of(accounts.of_household(session, household.id))


def _account(session: Session, village_id: int, kind: AccountKind) -> int:
    account_id = accounts.of_village(session, village_id, kind).id
    assert account_id is not None
    return account_id


def create_villager(session: Session, household_id: int, *, name: str = "Member") -> int:
    """A member of the household who signs in (a villager user). Returns the user id."""
    from ledger.identity.models import Role, User
    from ledger.tenancy import Household, Person

    household = session.get(Household, household_id)
    assert household is not None
    person = Person(household_id=household_id, name=name)
    session.add(person)
    session.flush()
    user = User(role=Role.VILLAGER, county_id=household.county_id, display_name=name, person_id=person.id)
    session.add(user)
    session.flush()
    assert user.id is not None
    return user.id


def create_official(session: Session, county_id: int, village_ids: list[int], *, name: str = "Official") -> int:
    from ledger.identity.models import OfficialScope, Role, User

    n = next(_serial)
    user = User(role=Role.OFFICIAL, county_id=county_id, username=f"official-{n}", display_name=name)
    session.add(user)
    session.flush()
    for village_id in village_ids:
        session.add(OfficialScope(user_id=id_of(user), village_id=village_id))
    session.flush()
    assert user.id is not None
    return user.id


def principal_of(session: Session, user_id: int) -> Principal:
    """Who the user is on a request, as the API would load it."""
    from ledger.identity import principal
    from ledger.identity.models import User

    user = session.get(User, user_id)
    assert user is not None
    return principal.load(session, subject=f"user:{user_id}", role=user.role, scopes=())
