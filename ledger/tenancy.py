"""County → township → village; households and their members. Every household knows its village and county."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, Session, SQLModel, select

from ledger.base import timestamp, utcnow
from ledger.errors import NotFound
from ledger.journal import service as journal
from ledger.journal.models import AccountKind


class County(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=100)
    created_at: datetime = timestamp(default_factory=utcnow)


class Township(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=100)


class Village(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    township_id: int = Field(foreign_key="township.id", index=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=100)


class Household(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=100)
    created_at: datetime = timestamp(default_factory=utcnow)


class Person(SQLModel, table=True):
    """A household member. Exactly one member per household is its head (a partial unique index holds that)."""

    __table_args__ = (
        UniqueConstraint("phone"),
        Index(
            "uq_person_one_head_per_household",
            "household_id",
            unique=True,
            sqlite_where=text("is_head"),
            postgresql_where=text("is_head"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    household_id: int = Field(foreign_key="household.id", index=True)
    name: str = Field(max_length=100)
    phone: str | None = Field(default=None, max_length=20)
    is_head: bool = False
    created_at: datetime = timestamp(default_factory=utcnow)


def get_household(session: Session, household_id: int) -> Household:
    household = session.get(Household, household_id)
    if household is None:
        raise NotFound("No such household.", household_id=household_id)
    return household


def villages_of_township(session: Session, township_id: int) -> list[int]:
    return list(session.exec(select(Village.id).where(Village.township_id == township_id)).all())  # type: ignore[arg-type]


# --- creating places and households (used by the demo seed, the CLI and the tests) -------------------------


def create_county(session: Session, *, code: str, name: str) -> County:
    county = County(code=code, name=name)
    session.add(county)
    session.flush()
    return county


def create_township(session: Session, *, county: County, code: str, name: str) -> Township:
    township = Township(county_id=_id(county), code=code, name=name)
    session.add(township)
    session.flush()
    return township


def create_village(session: Session, *, township: Township, code: str, name: str) -> Village:
    """A village comes with its issuance, expiry and penalty accounts."""
    village = Village(county_id=township.county_id, township_id=_id(township), code=code, name=name)
    session.add(village)
    session.flush()
    for kind in (AccountKind.ISSUANCE, AccountKind.EXPIRY, AccountKind.PENALTY):
        journal.open_account(
            session, kind=kind, code=f"{code}:{kind.value}", county_id=village.county_id, village_id=_id(village)
        )
    return village


def create_household(
    session: Session, *, village: Village, code: str, name: str, head_name: str, head_phone: str | None = None
) -> Household:
    """A household with its head member and its points account."""
    household = Household(county_id=village.county_id, village_id=_id(village), code=code, name=name)
    session.add(household)
    session.flush()
    session.add(Person(household_id=_id(household), name=head_name, phone=head_phone, is_head=True))
    journal.open_account(
        session,
        kind=AccountKind.HOUSEHOLD,
        code=f"{code}:points",
        county_id=household.county_id,
        village_id=household.village_id,
        household_id=_id(household),
    )
    session.flush()
    return household


def _id(row: County | Township | Village | Household) -> int:
    assert row.id is not None, "flush before use"
    return row.id
