"""A county's staff accounts: officials with their villages, township supervisors (officials of a whole township),
auditors and county admins. The county admin creates them, changes an official's villages or township, disables
and enables them and resets their passwords; the command line does the same for whoever runs the server.

Passwords. A new account's first password is either given (at least 12 characters, not a default one) or made up
here and shown once; either way its holder must set one of their own at first sign-in (`must_change_password`,
refused everywhere else by `api/deps.py`). argon2 is slow on purpose, so a password is hashed *before* the
transaction that stores it opens (`new_password`), never inside one. The change log (ledger/core/audit.py) records
that a password was set or reset, never the password or its hash.

Refusals: nobody disables, re-roles, moves or resets their own account (`own_account`); the county's last active
admin is never disabled or re-roled (`last_admin`); a village or township of another county looks missing; partner
staff and villagers are not staff here (`not_a_staff_account`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from ledger.core import audit
from ledger.core.base import row_id
from ledger.core.errors import Conflict, Forbidden, Invalid, NotFound
from ledger.core.settings import DEFAULT_PASSWORDS
from ledger.identity.models import OfficialScope, Role, User
from ledger.identity.passwords import hash_secret
from ledger.identity.principal import Principal
from ledger.identity.service import STAFF_ROLES, NotAStaffAccount, StaffNotFound, end_sign_ins
from ledger.tenancy import Household, Person, Township, Village, VillageNotFound

MIN_PASSWORD_LENGTH = 12
_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/l/I: read aloud, typed by hand


class StaffKind(StrEnum):
    """What a staff account does, as the county admin says it (an official's role plus where they work)."""

    OFFICIAL = "official"  # works in the villages named
    SUPERVISOR = "supervisor"  # an official of a whole township: every village of it
    AUDITOR = "auditor"  # reads the county, changes nothing
    ADMIN = "admin"  # the county admin


ROLE_OF: dict[StaffKind, Role] = {
    StaffKind.OFFICIAL: Role.OFFICIAL,
    StaffKind.SUPERVISOR: Role.OFFICIAL,
    StaffKind.AUDITOR: Role.AUDITOR,
    StaffKind.ADMIN: Role.COUNTY_ADMIN,
}


class UsernameTaken(Conflict):
    code = "username_taken"


class WeakPassword(Invalid):
    code = "weak_password"


class TownshipNotFound(NotFound):
    code = "township_not_found"


class StaffPlacesInvalid(Invalid):
    code = "staff_places_invalid"  # an official without villages, a supervisor without one township, …


class OwnAccount(Forbidden):
    code = "own_account"  # nobody disables, re-roles, moves or resets their own account


class LastAdmin(Conflict):
    code = "last_admin"


class NotCountyAdmin(Forbidden):
    code = "forbidden"


# --- passwords: checked and hashed before any transaction -----------------------------------------------------


@dataclass(frozen=True)
class NewPassword:
    """A password ready to store: its argon2 hash, and the password itself when it was made up here (to be shown
    once to whoever hands it over; None when the caller chose it)."""

    hash: str
    shown: str | None


def refuse_weak(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH or password.lower() in DEFAULT_PASSWORDS:
        raise WeakPassword(
            f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters that is not a default one.",
            field="password",
        )


def generated_password() -> str:
    """Sixteen characters in four groups (about 90 bits), easy to read out and type: e.g. `k7Qm-x2Hd-…`."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(chars[i : i + 4] for i in range(0, 16, 4))


def new_password(given: str | None = None) -> NewPassword:
    """Check (a given one) or make up a password and hash it. Slow: call it with no transaction open."""
    if given is not None:
        refuse_weak(given)
        return NewPassword(hash=hash_secret(given), shown=None)
    made = generated_password()
    return NewPassword(hash=hash_secret(made), shown=made)


# --- reading ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffMember:
    """A staff account as the county admin sees it."""

    user_id: int
    username: str | None
    display_name: str
    role: str
    kind: StaffKind
    active: bool
    must_change_password: bool
    village_ids: tuple[int, ...]
    village_codes: tuple[str, ...]
    township_id: int | None
    township_code: str | None
    person_id: int | None
    household_id: int | None
    household_code: str | None


def kind_of(role: str, township_id: int | None) -> StaffKind:
    if role == Role.COUNTY_ADMIN:
        return StaffKind.ADMIN
    if role == Role.AUDITOR:
        return StaffKind.AUDITOR
    return StaffKind.SUPERVISOR if township_id is not None else StaffKind.OFFICIAL


def members(session: Session, county_id: int, *, user_ids: Iterable[int] | None = None) -> list[StaffMember]:
    """The county's staff (officials, supervisors, auditors, admins; not partner staff, not villagers), by
    username; with `user_ids`, only those."""
    query = (
        select(User, col(Household.id), col(Household.code))
        .outerjoin(Person, col(Person.id) == col(User.person_id))
        .outerjoin(Household, col(Household.id) == col(Person.household_id))
        .where(col(User.county_id) == county_id, col(User.role).in_(STAFF_ROLES))
        .order_by(col(User.username), col(User.id))
    )
    if user_ids is not None:
        query = query.where(col(User.id).in_(list(user_ids)))
    rows = session.execute(query).all()
    ids = [row_id(user.id) for user, _, _ in rows]
    scopes: dict[int, list[tuple[int | None, str | None, int | None, str | None]]] = {}
    if ids:
        for user_id, village_id, village_code, township_id, township_code in session.execute(
            select(
                col(OfficialScope.user_id),
                col(OfficialScope.village_id),
                col(Village.code),
                col(OfficialScope.township_id),
                col(Township.code),
            )
            .outerjoin(Village, col(Village.id) == col(OfficialScope.village_id))
            .outerjoin(Township, col(Township.id) == col(OfficialScope.township_id))
            .where(col(OfficialScope.user_id).in_(ids))
            .order_by(col(Village.code), col(OfficialScope.id))
        ):
            scopes.setdefault(user_id, []).append((village_id, village_code, township_id, township_code))
    found = []
    for user, household_id, household_code in rows:
        mine = scopes.get(row_id(user.id), []) if user.role == Role.OFFICIAL else []
        township = next(((t, c) for _, _, t, c in mine if t is not None), (None, None))
        found.append(
            StaffMember(
                user_id=row_id(user.id),
                username=user.username,
                display_name=user.display_name,
                role=user.role,
                kind=kind_of(user.role, township[0]),
                active=user.active,
                must_change_password=user.must_change_password,
                village_ids=tuple(v for v, _, _, _ in mine if v is not None),
                village_codes=tuple(c for v, c, _, _ in mine if v is not None and c is not None),
                township_id=township[0],
                township_code=township[1],
                person_id=user.person_id,
                household_id=household_id,
                household_code=household_code,
            )
        )
    return found


def member(session: Session, county_id: int, user_id: int) -> StaffMember:
    found = members(session, county_id, user_ids=[user_id])
    if not found:
        raise StaffNotFound("No such staff account in your county.", user_id=user_id)
    return found[0]


# --- changing ----------------------------------------------------------------------------------------------------


def command_line(county_id: int, actor: str) -> Principal:
    """Whoever runs the server acts, from the command line, as a county admin of the county named, with no
    account of their own (so no account is theirs, and no household)."""
    return Principal(subject=actor, role=Role.COUNTY_ADMIN, county_id=county_id)


def _admin(by: Principal) -> None:
    if by.role != Role.COUNTY_ADMIN:
        raise NotCountyAdmin("Only the county admin manages staff accounts.")


def _staff(session: Session, by: Principal, user_id: int) -> User:
    """A staff account of `by`'s county, locked for the change; not someone of `by`'s own household."""
    _admin(by)
    user = session.scalars(select(User).where(col(User.id) == user_id).with_for_update()).first()
    if user is None or user.county_id != by.county_id:
        raise StaffNotFound("No such staff account in your county.", user_id=user_id)
    if user.role not in STAFF_ROLES:
        raise NotAStaffAccount(
            "Only officials, supervisors, auditors and county admins are managed here; a villager signs in by code "
            "and a partner's staff belong to the partner.",
            user_id=user_id,
            role=user.role,
        )
    if user.person_id is not None:
        by.refuse_own(
            session.scalar(select(col(Person.household_id)).where(col(Person.id) == user.person_id)),
            what="This account's holder lives in your household",
        )
    return user


def _not_own(by: Principal, user_id: int, what: str) -> None:
    if by.user_id is not None and by.user_id == user_id:
        raise OwnAccount(f"Nobody {what} their own account; another county admin does.", user_id=user_id)


def _active_admins(session: Session, county_id: int) -> set[int]:
    """The county's active admins, their rows locked (in id order, before the account changed is locked, so two
    admins disabling or re-roling each other at once cannot deadlock, nor both succeed)."""
    found = session.scalars(
        select(col(User.id))
        .where(col(User.county_id) == county_id, col(User.role) == Role.COUNTY_ADMIN, col(User.active))
        .order_by(col(User.id))
        .with_for_update()
    ).all()
    return {row_id(user_id) for user_id in found}


def _keep_an_admin(user: User, admins: set[int]) -> None:
    """Refuse when `user` is the county's last active admin (`admins`: from `_active_admins`)."""
    if user.role == Role.COUNTY_ADMIN and user.active and not admins - {user.id}:
        raise LastAdmin("This is the county's last active admin; add another county admin first.", user_id=user.id)


@dataclass(frozen=True)
class _Places:
    villages: tuple[Village, ...]
    township: Township | None


def _places(
    session: Session, county_id: int, kind: StaffKind, village_ids: Sequence[int], township_id: int | None
) -> _Places:
    """The villages or township a kind of staff works in, of this county (another county's look missing)."""
    wanted = sorted(set(village_ids))
    if kind == StaffKind.OFFICIAL and (not wanted or township_id is not None):
        raise StaffPlacesInvalid("An official works in one or more villages, and no township.", field="village_ids")
    if kind == StaffKind.SUPERVISOR and (township_id is None or wanted):
        raise StaffPlacesInvalid("A township supervisor supervises one township, and no villages.", field="township_id")
    if kind in (StaffKind.AUDITOR, StaffKind.ADMIN) and (wanted or township_id is not None):
        raise StaffPlacesInvalid(
            "Auditors and county admins work across the county: name no village or township.", field="village_ids"
        )
    villages = session.scalars(
        select(Village)
        .where(col(Village.id).in_(wanted), col(Village.county_id) == county_id)
        .order_by(col(Village.id))
    ).all()
    missing = sorted(set(wanted) - {v.id for v in villages})
    if missing:
        raise VillageNotFound("No such village in your county.", village_id=missing[0])
    township = None
    if township_id is not None:
        township = session.get(Township, township_id)
        if township is None or township.county_id != county_id:
            raise TownshipNotFound("No such township in your county.", township_id=township_id)
    return _Places(tuple(villages), township)


def places_by_code(
    session: Session, county_id: int, village_codes: Sequence[str], township_code: str | None
) -> tuple[list[int], int | None]:
    """Village and township ids from their codes (the command line names places by code)."""
    village_ids = []
    for code in village_codes:
        found = session.scalar(
            select(col(Village.id)).where(col(Village.code) == code, col(Village.county_id) == county_id)
        )
        if found is None:
            raise VillageNotFound("No such village in your county.", village_code=code)
        village_ids.append(found)
    township_id = None
    if township_code is not None:
        township_id = session.scalar(
            select(col(Township.id)).where(col(Township.code) == township_code, col(Township.county_id) == county_id)
        )
        if township_id is None:
            raise TownshipNotFound("No such township in your county.", township_code=township_code)
    return village_ids, township_id


def _set_places(session: Session, user_id: int, places: _Places) -> None:
    for scope in session.scalars(select(OfficialScope).where(col(OfficialScope.user_id) == user_id)).all():
        session.delete(scope)
    session.flush()
    for village in places.villages:
        session.add(OfficialScope(user_id=user_id, village_id=village.id))
    if places.township is not None:
        session.add(OfficialScope(user_id=user_id, township_id=places.township.id))
    session.flush()


def _logged(kind: StaffKind, places: _Places) -> dict[str, Any]:
    return {
        "kind": kind.value,
        "villages": [v.code for v in places.villages],
        "township": places.township.code if places.township is not None else None,
    }


def _current(session: Session, user: User) -> tuple[StaffKind, _Places]:
    scopes = session.scalars(select(OfficialScope).where(col(OfficialScope.user_id) == user.id)).all()
    village_ids = [s.village_id for s in scopes if s.village_id is not None]
    township_id = next((s.township_id for s in scopes if s.township_id is not None), None)
    villages = session.scalars(select(Village).where(col(Village.id).in_(village_ids)).order_by(col(Village.id))).all()
    township = session.get(Township, township_id) if township_id is not None else None
    return kind_of(user.role, township_id), _Places(tuple(villages), township)


def create(
    session: Session,
    *,
    by: Principal,
    username: str,
    display_name: str,
    kind: StaffKind,
    password: NewPassword,
    village_ids: Sequence[int] = (),
    township_id: int | None = None,
) -> User:
    """A new staff account of `by`'s county. Its holder sets a password of their own at first sign-in."""
    _admin(by)
    username = username.strip()
    places = _places(session, by.county_id, kind, village_ids, township_id)
    if session.scalar(select(col(User.id)).where(func.lower(col(User.username)) == username.lower())) is not None:
        raise UsernameTaken("This username is taken; choose another.", field="username", username=username)
    user = User(
        role=ROLE_OF[kind],
        county_id=by.county_id,
        username=username,
        display_name=display_name.strip() or username,
        password_hash=password.hash,
        must_change_password=True,
    )
    session.add(user)
    session.flush()  # the unique index on the username stands behind the check above
    _set_places(session, row_id(user.id), places)
    audit.record(
        session,
        county_id=by.county_id,
        actor=by.actor,
        action="staff.create",
        target_type="staff",
        target_id=user.id,
        after={
            "username": username,
            "display_name": user.display_name,
            "role": user.role,
            **_logged(kind, places),
            "password": "generated" if password.shown is not None else "set",
            "must_change_password": True,
        },
    )
    return user


def change(
    session: Session,
    *,
    by: Principal,
    user_id: int,
    display_name: str | None = None,
    kind: StaffKind | None = None,
    village_ids: Sequence[int] | None = None,
    township_id: int | None = None,
) -> User:
    """Change a staff account's display name, its kind, or an official's villages or township. Names given are
    set, the rest kept: a new kind or new places replace the old (an official's villages with `village_ids`, a
    supervisor's township with `township_id`)."""
    _admin(by)
    admins = _active_admins(session, by.county_id) if kind is not None else set()
    user = _staff(session, by, user_id)
    old_kind, old_places = _current(session, user)
    before: dict[str, Any] = {"display_name": user.display_name, "role": user.role, **_logged(old_kind, old_places)}
    new_kind, places = old_kind, old_places
    if kind is not None or village_ids is not None or township_id is not None:
        _not_own(by, user_id, "changes the role or places of")
        new_kind = kind or old_kind
        if new_kind != old_kind:  # a new kind names its own places (none for auditors and admins)
            wanted_villages, wanted_township = list(village_ids or ()), township_id
        else:  # the same kind: the places named replace the old, the others stay
            wanted_villages = (
                list(village_ids) if village_ids is not None else [row_id(v.id) for v in old_places.villages]
            )
            wanted_township = township_id if township_id is not None else getattr(old_places.township, "id", None)
        places = _places(session, by.county_id, new_kind, wanted_villages, wanted_township)
        if new_kind != old_kind and new_kind != StaffKind.ADMIN:
            _keep_an_admin(user, admins)
        user.role = ROLE_OF[new_kind]  # a token or session of the old role is refused from now (principal.load)
        _set_places(session, user_id, places)
    if display_name is not None and display_name.strip():
        user.display_name = display_name.strip()
    session.flush()
    audit.record(
        session,
        county_id=by.county_id,
        actor=by.actor,
        action="staff.change",
        target_type="staff",
        target_id=user_id,
        before=before,
        after={"display_name": user.display_name, "role": user.role, **_logged(new_kind, places)},
    )
    return user


def disable(session: Session, *, by: Principal, user_id: int) -> User:
    """The account signs in no more; its browser sessions and tokens end at once."""
    _admin(by)
    admins = _active_admins(session, by.county_id)
    user = _staff(session, by, user_id)
    _not_own(by, user_id, "disables")
    if not user.active:
        return user
    _keep_an_admin(user, admins)
    user.active = False
    session.flush()
    end_sign_ins(session, user_id)
    audit.record(
        session,
        county_id=by.county_id,
        actor=by.actor,
        action="staff.disable",
        target_type="staff",
        target_id=user_id,
        before={"active": True},
        after={"active": False},
    )
    return user


def enable(session: Session, *, by: Principal, user_id: int) -> User:
    user = _staff(session, by, user_id)
    if user.active:
        return user
    user.active = True
    session.flush()
    audit.record(
        session,
        county_id=by.county_id,
        actor=by.actor,
        action="staff.enable",
        target_type="staff",
        target_id=user_id,
        before={"active": False},
        after={"active": True},
    )
    return user


def reset_password(session: Session, *, by: Principal, user_id: int, password: NewPassword) -> User:
    """A new password (made up by `new_password`, shown once to the admin); its holder changes it at first sign-in,
    and every sign-in of the old one ends now."""
    user = _staff(session, by, user_id)
    _not_own(by, user_id, "resets the password of")
    user.password_hash = password.hash
    user.password_is_default = False
    user.must_change_password = True
    session.flush()
    end_sign_ins(session, user_id)
    audit.record(
        session,
        county_id=by.county_id,
        actor=by.actor,
        action="staff.reset_password",
        target_type="staff",
        target_id=user_id,
        after={"password": "reset", "must_change_password": True},
    )
    return user


# --- one's own password ------------------------------------------------------------------------------------------


class CurrentPasswordWrong(Forbidden):
    code = "current_password_wrong"


class SamePassword(Invalid):
    code = "same_password"


class PasswordChanged(Conflict):
    code = "password_changed_meanwhile"


def stored_password(session: Session, user_id: int | None) -> str | None:
    """The hash a password change is checked against (None: no such active account with a password)."""
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or not user.active or user.role == Role.VILLAGER:
        return None
    return user.password_hash


def change_own_password(session: Session, *, who: Principal, checked_hash: str, password: NewPassword) -> User:
    """Store a password its holder chose, after their current one was checked against `checked_hash` (outside this
    transaction). Refused if the password changed in between (a reset): they sign in again and retry. Their other
    sign-ins stay; the flag asking for a password of their own goes."""
    user = session.scalars(select(User).where(col(User.id) == who.user_id).with_for_update()).first()
    if user is None or not user.active or user.role == Role.VILLAGER:
        raise CurrentPasswordWrong("This account has no password to change.")
    if user.password_hash != checked_hash:
        raise PasswordChanged("Your password was changed meanwhile; sign in again.")
    user.password_hash = password.hash
    user.password_is_default = False
    user.must_change_password = False
    session.flush()
    audit.record(
        session,
        county_id=user.county_id,
        actor=who.actor,
        action="staff.change_own_password",
        target_type="staff",
        target_id=user.id,
        after={"password": "changed by its holder"},
    )
    return user
