"""Places, households and members as the API (and the pages) show them. Whether the caller may see them, the
domain has decided first (`ledger/people`, `ledger/identity/principal.py`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from api.schemas.people import HouseholdDetailOut, HouseholdSummaryOut, MemberOut, TownshipOut, VillageOut
from ledger.core.base import row_id
from ledger.identity.models import Role, User
from ledger.tenancy import Household, Person, Township, Village


def township_out(township: Township) -> TownshipOut:
    return TownshipOut(id=row_id(township.id), code=township.code, name=township.name)


def village_out(village: Village) -> VillageOut:
    return VillageOut(
        id=row_id(village.id),
        code=village.code,
        name=village.name,
        township_id=village.township_id,
        notice_privacy=village.notice_privacy,
        centre_lat=village.centre_lat,
        centre_lon=village.centre_lon,
    )


def household_summary_out(household: Household, head: Person | None) -> HouseholdSummaryOut:
    return HouseholdSummaryOut(
        id=row_id(household.id),
        code=household.code,
        name=household.name,
        village_id=household.village_id,
        house_number=household.house_number,
        address=household.address,
        head_name=head.name if head is not None else None,
        closed_at=household.closed_at,
    )


def household_detail_out(session: Session, household: Household, members: list[Person]) -> HouseholdDetailOut:
    ids = [row_id(p.id) for p in members]
    signing_in = set(
        session.scalars(
            select(col(User.person_id)).where(
                col(User.person_id).in_(ids), col(User.role) == Role.VILLAGER, col(User.active).is_(True)
            )
        )
    )
    head = next((p for p in members if p.is_head), None)
    return HouseholdDetailOut(
        **household_summary_out(household, head).model_dump(),
        members=[
            MemberOut(
                person_id=row_id(p.id),
                name=p.name,
                relation=p.relation,
                is_head=p.is_head,
                phone=p.phone,
                signs_in=p.id in signing_in and p.phone is not None and household.closed_at is None,
                erased_at=p.erased_at,
            )
            for p in members
        ],
    )
