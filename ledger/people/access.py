"""Who may change the county's places and people: the county admin, within their county, never for the household
they live in (`Principal.refuse_own`). Officials run their villages but do not restructure them; auditors read.
Anything of another county looks missing (404), as for something that does not exist."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.core.errors import Forbidden, NotFound
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.identity.service import PersonNotFound
from ledger.tenancy import Household, HouseholdNotFound, Person, Township, Village, VillageNotFound


class TownshipNotFound(NotFound):
    code = "township_not_found"


def require_admin(who: Principal) -> None:
    if who.role != Role.COUNTY_ADMIN:
        raise Forbidden("Only the county admin changes the county's places and people.")


def township(session: Session, who: Principal, township_id: int, *, lock: bool = False) -> Township:
    require_admin(who)
    query = select(Township).where(col(Township.id) == township_id)
    found = session.scalars(query.with_for_update() if lock else query).first()
    if found is None or found.county_id != who.county_id:
        raise TownshipNotFound("No such township in your county.", township_id=township_id)
    return found


def village(session: Session, who: Principal, village_id: int, *, lock: bool = False) -> Village:
    require_admin(who)
    query = select(Village).where(col(Village.id) == village_id)
    found = session.scalars(query.with_for_update() if lock else query).first()
    if found is None or found.county_id != who.county_id:
        raise VillageNotFound("No such village in your county.", village_id=village_id)
    return found


def household(session: Session, who: Principal, household_id: int, *, own: bool = True) -> Household:
    """The household, locked, for a change by the county admin. `own`: refuse it when it is the admin's own
    household (every change to a household and its members; `own=False` only to read it)."""
    require_admin(who)
    found = session.scalars(select(Household).where(col(Household.id) == household_id).with_for_update()).first()
    if found is None or found.county_id != who.county_id:
        raise HouseholdNotFound("No such household in your county.", household_id=household_id)
    if own:
        who.refuse_own(household_id, what="This is your own household")
    return found


def person(session: Session, who: Principal, person_id: int) -> Person:
    """A member of a household of the admin's county (not locked: lock their household first)."""
    require_admin(who)
    found = session.execute(
        select(Person, col(Household.county_id))
        .join(Household, col(Household.id) == col(Person.household_id))
        .where(col(Person.id) == person_id)
    ).first()
    if found is None or found.county_id != who.county_id:
        raise PersonNotFound("No such person in your county.", person_id=person_id)
    member: Person = found[0]
    return member
