"""Small typed factories for tests. Each builds through the same services the product uses."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlmodel import Session

from ledger import tenancy
from ledger.journal import accounts
from ledger.journal.models import AccountKind

_serial = itertools.count(1)


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
        county = session.get(tenancy.County, county_id)
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
    household = tenancy.create_household(
        session, village=village, code=f"H{n}", name=f"Household {n}", head_name=f"Head {n}", head_phone=phone
    )
    assert household.id is not None
    return household.id, accounts.of_household(session, household.id).id  # type: ignore[return-value]


def _account(session: Session, village_id: int, kind: AccountKind) -> int:
    account_id = accounts.of_village(session, village_id, kind).id
    assert account_id is not None
    return account_id
