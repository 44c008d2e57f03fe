"""County → township → village; households and their members. Every household knows its village and county."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint, bindparam, text, update
from sqlmodel import Field, Session, SQLModel, col, select

from ledger.core.base import timestamp, utcnow
from ledger.core.errors import Conflict, NotFound
from ledger.journal import head as chain_heads
from ledger.journal import service as journal
from ledger.journal.models import AccountKind


def _setting(default: int | str, **kwargs: Any) -> Any:
    """A county or village setting: a column with a server default, so adding one needs no backfill."""
    server = str(default) if isinstance(default, int) else default
    return Field(default=default, sa_column_kwargs={"server_default": server}, **kwargs)


class NoticeDeductions(StrEnum):
    """How the village notice board shows a deduction (the county's choice, for all its villages)."""

    UNNAMED = "unnamed"  # shown as 一户村民: the matter, the points and the date, never the household
    HIDDEN = "hidden"  # not shown on the board at all (the household still sees its own, and may appeal)


class County(SQLModel, table=True):
    __table_args__ = (CheckConstraint("notice_deductions in ('unnamed', 'hidden')", name="notice_deductions"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=100)
    created_at: datetime = timestamp(default_factory=utcnow)
    # The county's programme rules (the county admin sets them; see docs/claims.md).
    timezone: str = _setting("Asia/Shanghai", max_length=40)  # days, weeks and months are counted here
    notice_days: int = _setting(7)  # approved points stay on the notice board this long before they settle
    review_days: int = _setting(7)  # a claim nobody decides in this many days expires
    appeal_days: int = _setting(7)  # a household may appeal a rejection or deduction this long
    overdue_hours: int = _setting(24)  # an undecided claim older than this is overdue
    village_max_rewards: int = _setting(5)  # reward items a village may add of its own
    village_max_deductions: int = _setting(5)  # deduction items a village may add of its own
    village_max_points: int = _setting(2)  # the most points (either way) of a village's own item
    points_expiry_months: int = _setting(0)  # settled points lapse this many months after they settle; 0: never
    # An official's award worth more than this many points waits for a second official's approval; 0: every one
    award_second_official_points: int = _setting(5)
    # Deductions on the notice board: shown without naming the household, or not shown (claims follow the
    # village's notice_privacy)
    notice_deductions: str = _setting(NoticeDeductions.UNNAMED.value, sa_type=String(16))
    # Village concerns (docs/concerns.md): the working hours their deadlines count (weekdays, less the holidays of
    # calendar_day, plus its make-up days), how long a resolved concern waits for its reporter's evaluation
    # before it closes by itself, and how near a report must be to an open one to be its duplicate
    work_starts: str = _setting("08:30", max_length=5)
    work_ends: str = _setting("17:30", max_length=5)
    concern_close_days: int = _setting(7)
    concern_near_metres: int = _setting(100)


class Township(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=100)


class NoticePrivacy(StrEnum):
    """How the village notice board names a household for an approved claim. Under the default, 王家（12号）, the
    village can tell which family it is: the surname and the house number together name it."""

    FULL_NAME = "full_name"  # 王建国
    SURNAME_HOUSE = "surname_house"  # 王家（12号）: recognisable by the whole village
    ANONYMOUS = "anonymous"  # 一户村民


class Village(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint("notice_privacy in ('full_name', 'surname_house', 'anonymous')", name="notice_privacy"),
    )

    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    township_id: int = Field(foreign_key="township.id", index=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=100)
    notice_privacy: str = _setting(NoticePrivacy.SURNAME_HOUSE.value, sa_type=String(16))
    # An optional centre (WGS-84 degrees), for activities that check where a claim was made
    centre_lat: float | None = None
    centre_lon: float | None = None


class Household(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    county_id: int = Field(foreign_key="county.id", index=True)
    village_id: int = Field(foreign_key="village.id", index=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=100)
    house_number: str | None = Field(default=None, max_length=20)
    address: str | None = Field(default=None, max_length=200)
    created_at: datetime = timestamp(default_factory=utcnow)
    # A closed household keeps its history and balance but earns, spends and signs in no more (docs/people.md)
    closed_at: datetime | None = timestamp(default=None)
    # Moves on whenever something the rating reads changes (a settlement, a decision, a deduction, a dispute);
    # a rating computed at an older value is stale.
    record_seq: int = _setting(0)


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
    relation: str | None = Field(default=None, max_length=20)  # 与户主关系, as the roster says it
    is_head: bool = False
    created_at: datetime = timestamp(default_factory=utcnow)
    # The county admin erased this person's data (ledger/people/erasure.py): the name is a pseudonym, the phone,
    # photos and sign-ins are gone; the row stays because the household's records name it
    erased_at: datetime | None = timestamp(default=None)


class HouseholdNotFound(NotFound):
    code = "household_not_found"


class VillageNotFound(NotFound):
    code = "village_not_found"


class TownshipNotFound(NotFound):
    code = "township_not_found"


class HouseholdClosed(Conflict):
    """A closed household earns, spends and changes no more (docs/people.md)."""

    code = "household_closed"


def refuse_closed(household: Household | Any) -> None:
    """Refuse anything new for a closed household: a claim, an award, a deduction, a redemption, a member."""
    if household.closed_at is not None:
        raise HouseholdClosed(
            "This household was closed: it takes no new claim, award, deduction, redemption or member.",
            household_id=household.id,
        )


_TOUCH = (
    update(Household)
    .where(col(Household.id) == bindparam("household_id"))
    .values(record_seq=col(Household.record_seq) + 1)
)


def touch_record(session: Session, household_id: int) -> None:
    """Mark the household's record as changed: its rating is stale from now. Call it before the journal write of
    the same operation, so the household row is locked before the village's chain head, as claims lock them."""
    session.execute(_TOUCH, {"household_id": household_id})


def get_household(session: Session, household_id: int) -> Household:
    household = session.get(Household, household_id)
    if household is None:
        raise HouseholdNotFound("No such household.", household_id=household_id)
    return household


def villages_of_township(session: Session, township_id: int) -> list[int]:
    found = session.exec(select(col(Village.id)).where(col(Village.township_id) == township_id))
    return [village_id for village_id in found if village_id is not None]


def villages_of_county(session: Session, county_id: int) -> list[int]:
    found = session.exec(select(col(Village.id)).where(col(Village.county_id) == county_id))
    return [village_id for village_id in found if village_id is not None]


def county_chain_head(session: Session, county_id: int) -> dict[str, Any]:
    """The county's chain head: the head of each of its villages and their root (`ledger/journal/head.py`)."""
    county = session.get(County, county_id)
    if county is None:
        raise NotFound("No such county.", county_id=county_id)
    return chain_heads.county_head(session, county.code, county_id, villages_of_county(session, county_id))


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
    session: Session,
    *,
    village: Village,
    code: str,
    name: str,
    head_name: str,
    head_phone: str | None = None,
    house_number: str | None = None,
) -> Household:
    """A household with its head member and its two accounts: settled points, and points in notice."""
    household = Household(
        county_id=village.county_id, village_id=_id(village), code=code, name=name, house_number=house_number
    )
    session.add(household)
    session.flush()
    session.add(Person(household_id=_id(household), name=head_name, phone=head_phone, is_head=True))
    for kind, suffix in ((AccountKind.HOUSEHOLD, "points"), (AccountKind.NOTICE, "notice")):
        journal.open_account(
            session,
            kind=kind,
            code=f"{code}:{suffix}",
            county_id=household.county_id,
            village_id=household.village_id,
            household_id=_id(household),
        )
    session.flush()
    return household


def _id(row: County | Township | Village | Household) -> int:
    assert row.id is not None, "flush before use"
    return row.id
