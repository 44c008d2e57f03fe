"""Households and their members, one change at a time (the county admin; docs/people.md).

A household has exactly one head (a partial unique index holds it). A member with a phone signs in as a villager
(one `User` of role villager per person, found by the person's phone): a phone added opens that sign-in, a phone
changed or removed ends its sign-ins at once (`identity.end_sign_ins`), and a removed phone deactivates it. A
member moves to another household of the county; the head moves only after the head has changed. A closed
household takes no new member, head or other change (`household_closed`); its members may still move out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from ledger import tenancy
from ledger.core import audit
from ledger.core.errors import Conflict, Invalid
from ledger.identity import service as identity
from ledger.identity.models import Role, User
from ledger.identity.principal import Principal, visible_household, visible_village, visible_villages
from ledger.identity.service import PersonNotFound
from ledger.people import access, phones
from ledger.people.erasure import PersonAlreadyErased
from ledger.people.places import name_of
from ledger.tenancy import Household, Person

HEAD = "户主"  # the head's relation, as the roster says it
HOUSEHOLD_FIELDS = ("code", "name", "village_id", "house_number", "address", "closed_at")
MEMBER_FIELDS = ("household_id", "name", "phone", "relation", "is_head")
PAGE = 50
MOST = 200


class HouseholdCodeTaken(Conflict):
    code = "household_code_taken"


class HeadCannotMove(Conflict):
    code = "head_cannot_move"


@dataclass(frozen=True)
class Member:
    """A member as the county admin enters them."""

    name: str
    phone: str | None = None
    relation: str | None = None


# --- reading --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    households: list[Household]
    heads: dict[int, Person]
    next_cursor: str | None


def listing(
    session: Session,
    who: Principal,
    *,
    village_id: int | None = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: int = PAGE,
) -> Page:
    """The households of a village the caller sees as staff (or of all of them), by id; `q` finds a 户号 or a house
    number starting with it, or a household or member whose name contains it; `cursor` continues after the page
    that named it."""
    if village_id is not None:
        villages = [visible_village(session, who, village_id, members=False).id]
    else:
        villages = [v.id for v in visible_villages(session, who)]
    query = select(Household).where(col(Household.village_id).in_(villages))
    if q and q.strip():
        wanted = q.strip()
        named = select(col(Person.id)).where(
            col(Person.household_id) == col(Household.id), col(Person.name).contains(wanted, autoescape=True)
        )
        query = query.where(
            func.upper(col(Household.code)).startswith(wanted.upper(), autoescape=True)
            | col(Household.house_number).startswith(wanted, autoescape=True)
            | col(Household.name).contains(wanted, autoescape=True)
            | named.exists()
        )
    if cursor:
        if not cursor.isdigit() or len(cursor) > 18:
            raise Invalid("This cursor is not one this listing gave.", field="cursor")
        query = query.where(col(Household.id) > int(cursor))
    limit = max(1, min(limit, MOST))
    found = list(session.scalars(query.order_by(col(Household.id)).limit(limit + 1)).all())
    more = len(found) > limit
    found = found[:limit]
    ids = [h.id for h in found]
    heads = {
        p.household_id: p
        for p in session.scalars(select(Person).where(col(Person.household_id).in_(ids), col(Person.is_head)))
    }
    return Page(found, heads, str(found[-1].id) if more and found else None)


def detail(session: Session, who: Principal, household_id: int) -> tuple[Household, list[Person]]:
    """The household and its members (head first), for whoever may see it: its members, the officials of its
    village, the county admin and auditors."""
    household = visible_household(session, who, household_id)
    return household, members(session, household_id)


def members(session: Session, household_id: int) -> list[Person]:
    query = select(Person).where(col(Person.household_id) == household_id)
    return list(session.scalars(query.order_by(col(Person.is_head).desc(), col(Person.id))).all())


# --- households -----------------------------------------------------------------------------------------------


def create_household(
    session: Session,
    who: Principal,
    *,
    village_id: int,
    code: str,
    head: Member,
    house_number: str | None = None,
    address: str | None = None,
    name: str | None = None,
) -> Household:
    """A household of a village of the county with its head (and the head's sign-in when a phone is given) and its
    two accounts. `name` defaults to the head's name and 家; the head's relation is 户主."""
    village = access.village(session, who, village_id)
    code = name_of(code, "code", 32)
    if session.scalars(select(col(Household.id)).where(col(Household.code) == code)).first() is not None:
        raise HouseholdCodeTaken("There is a household with this 户号 already.", field="code")
    head_name = name_of(head.name, "name")
    phone = _free_phone(session, phones.normalise(head.phone), None)
    household = tenancy.create_household(
        session,
        village=village,
        code=code,
        name=name_of(name) if name is not None else f"{head_name}家"[:100],
        head_name=head_name,
        head_phone=phone,
        house_number=_optional(house_number, "house_number", 20),
    )
    household.address = _optional(address, "address", 200)
    person = session.scalars(select(Person).where(col(Person.household_id) == household.id)).one()
    person.relation = HEAD
    session.flush()
    _sign_in_follows_phone(session, person, None, county_id=household.county_id)
    audit.record(
        session,
        county_id=household.county_id,
        actor=who.actor,
        action="household.create",
        target_type="household",
        target_id=household.id,
        after={**audit.fields(household, HOUSEHOLD_FIELDS), "head": audit.fields(person, MEMBER_FIELDS)},
    )
    return household


def edit_household(session: Session, who: Principal, household_id: int, changes: Mapping[str, Any]) -> Household:
    """Change the house number and address (None removes one)."""
    unknown = set(changes) - {"house_number", "address"}
    if unknown:
        raise Invalid(f"A household has no {', '.join(sorted(unknown))} to change here.", field=sorted(unknown)[0])
    household = _open(access.household(session, who, household_id))
    before = audit.fields(household, HOUSEHOLD_FIELDS)
    if "house_number" in changes:
        household.house_number = _optional(changes["house_number"], "house_number", 20)
    if "address" in changes:
        household.address = _optional(changes["address"], "address", 200)
    session.flush()
    _record(session, who, "household.change", household, before)
    return household


# --- members --------------------------------------------------------------------------------------------------


def add_member(session: Session, who: Principal, household_id: int, member: Member) -> Person:
    household = _open(access.household(session, who, household_id))
    relation = _relation(member.relation)
    person = Person(
        household_id=household_id,
        name=name_of(member.name),
        phone=_free_phone(session, phones.normalise(member.phone), None),
        relation=relation,
    )
    session.add(person)
    session.flush()
    _sign_in_follows_phone(session, person, None, county_id=household.county_id)
    audit.record(
        session,
        county_id=household.county_id,
        actor=who.actor,
        action="member.add",
        target_type="person",
        target_id=person.id,
        after=audit.fields(person, MEMBER_FIELDS),
    )
    return person


def edit_member(session: Session, who: Principal, person_id: int, changes: Mapping[str, Any]) -> Person:
    """Change a member's name, relation or phone (None removes the phone, and with it the member's sign-in)."""
    unknown = set(changes) - {"name", "relation", "phone"}
    if unknown:
        raise Invalid(f"A member has no {', '.join(sorted(unknown))} to change.", field=sorted(unknown)[0])
    person, household = _member_locked(session, who, person_id)
    _open(household)
    if person.erased_at is not None:  # a name or phone given again would undo the erasure
        raise PersonAlreadyErased("This person's data was erased: it is not entered again.", person_id=person_id)
    before = audit.fields(person, MEMBER_FIELDS)
    if "name" in changes:
        person.name = name_of(changes["name"])
    if "relation" in changes:
        person.relation = HEAD if person.is_head else _relation(changes["relation"])
    if "phone" in changes:
        person.phone = _free_phone(session, phones.normalise(changes["phone"]), person_id)
    session.flush()
    _sign_in_follows_phone(session, person, before["phone"], county_id=household.county_id)
    _record(session, who, "member.change", person, before)
    return person


def move_member(
    session: Session, who: Principal, person_id: int, *, household_id: int, relation: str | None = None
) -> Person:
    """Move a member to another household of the county (the head of an open household cannot move: change the
    head first). Their sign-ins end: they sign in again, for their new household."""
    person = access.person(session, who, person_id)
    source_id = person.household_id
    first, second = sorted({source_id, household_id})  # both rows locked, always in the same order
    locked = {first: access.household(session, who, first)}
    if second != first:
        locked[second] = access.household(session, who, second)
    source = locked[source_id]
    _open(locked[household_id])
    session.refresh(person)
    if person.household_id == household_id:
        return person
    if person.household_id != source_id:  # moved elsewhere at the same moment: its household is not locked here
        raise Conflict("This member was moved at the same moment; open their household again.", person_id=person_id)
    if person.is_head and source.closed_at is None:
        raise HeadCannotMove(
            "The head of a household moves only after another member has become its head.", person_id=person_id
        )
    before = audit.fields(person, MEMBER_FIELDS)
    person.household_id = household_id
    person.is_head = False
    person.relation = _relation(relation)
    session.flush()
    villager = _villager(session, person_id)
    if villager is not None:
        identity.end_sign_ins(session, _id(villager))
    _record(session, who, "member.move", person, before)
    return person


def change_head(
    session: Session, who: Principal, household_id: int, *, person_id: int, former_head_relation: str | None = None
) -> Person:
    """Make a member the head; the former head stays a member, with `former_head_relation` (e.g. 父). One
    statement order keeps exactly one head: the former head steps down before the new one steps up."""
    household = _open(access.household(session, who, household_id))
    person = session.get(Person, person_id)
    if person is None or person.household_id != household_id:
        raise PersonNotFound("No such member of this household.", person_id=person_id)
    session.refresh(person)
    if person.is_head:
        return person
    former = session.scalars(
        select(Person).where(col(Person.household_id) == household_id, col(Person.is_head))
    ).first()
    before = {"head_person_id": former.id if former else None, "former_head_relation": HEAD}
    relation = _relation(former_head_relation)
    if former is not None:
        former.is_head = False
        former.relation = relation
        session.flush()  # the partial unique index allows one head at a time
    person.is_head = True
    person.relation = HEAD
    session.flush()
    audit.record(
        session,
        county_id=household.county_id,
        actor=who.actor,
        action="household.head",
        target_type="household",
        target_id=household_id,
        before=before,
        after={"head_person_id": person.id, "former_head_relation": relation},
    )
    return person


# --- rules ----------------------------------------------------------------------------------------------------


def _member_locked(session: Session, who: Principal, person_id: int) -> tuple[Person, Household]:
    """The member and their household, locked, as they are once it is locked (a move at the same moment may have
    taken them to another household in between: then that one is locked instead)."""
    person = access.person(session, who, person_id)
    while True:
        household = access.household(session, who, person.household_id)
        session.refresh(person)
        if person.household_id == household.id:
            return person, household


def _open(household: Household) -> Household:
    tenancy.refuse_closed(household)
    return household


def _optional(value: object, field: str, most: int) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return name_of(value, field, most)


def _relation(value: object) -> str | None:
    relation = _optional(value, "relation", 20)
    if relation == HEAD:
        raise Invalid("A household has one head: make this member the head instead.", field="relation")
    return relation


def _free_phone(session: Session, phone: str | None, person_id: int | None) -> str | None:
    """The phone, if no other person of the service has it (one phone signs one villager in)."""
    if phone is None:
        return None
    other = session.scalars(select(col(Person.id)).where(col(Person.phone) == phone)).first()
    if other is not None and other != person_id:
        raise phones.PhoneTaken("Another member has this phone number already.", field="phone")
    return phone


def _villager(session: Session, person_id: int | None) -> User | None:
    return session.scalars(
        select(User).where(col(User.person_id) == person_id, col(User.role) == Role.VILLAGER).with_for_update()
    ).first()


def _sign_in_follows_phone(session: Session, person: Person, before: str | None, *, county_id: int) -> None:
    """The member's villager sign-in after their phone changed from `before`: opened (or opened again) for a new
    phone, ended at once for a changed one (the new phone signs the same account in), deactivated for none."""
    if person.phone == before:
        villager = _villager(session, person.id) if person.phone else None
        if villager is not None and villager.display_name != person.name:
            villager.display_name = person.name[:100]
        return
    villager = _villager(session, person.id)
    if person.phone is None:
        if villager is not None:
            villager.active = False
            identity.end_sign_ins(session, _id(villager))
        return
    if villager is None:
        session.add(User(role=Role.VILLAGER, county_id=county_id, display_name=person.name, person_id=person.id))
        session.flush()
        return
    villager.active = True
    villager.display_name = person.name
    identity.end_sign_ins(session, _id(villager))


def _record(session: Session, who: Principal, action: str, row: Household | Person, before: dict[str, Any]) -> None:
    is_household = isinstance(row, Household)
    after = audit.fields(row, HOUSEHOLD_FIELDS if is_household else MEMBER_FIELDS)
    audit.record(
        session,
        county_id=who.county_id,
        actor=who.actor,
        action=action,
        target_type="household" if is_household else "person",
        target_id=row.id,
        before=before,
        after=after,
    )


def _id(row: User) -> int:
    assert row.id is not None, "flushed"
    return row.id
