"""Signing in: passwords for officials and admins, one-time codes for villagers, client credentials for partners.

These functions never say whether an account exists: a miss costs the same argon2 work as a hit and
returns the same None.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import Session

from ledger.base import as_utc, utcnow
from ledger.errors import Conflict, NotFound
from ledger.identity.models import OtpChallenge, Partner, PartnerClient, Role, User
from ledger.identity.passwords import check_secret, hash_secret
from ledger.identity.principal import ConflictOfInterest, Principal
from ledger.tenancy import Household, Person

OtpSender = Callable[[str, str], None]  # (phone, code): the delivery channel (SMS gateway, or the dev log)


def check_password(session: Session, username: str, password: str) -> User | None:
    user = session.scalars(select(User).where(User.username == username)).first()
    ok = check_secret(user.password_hash if user else None, password)
    if user is None or not ok or not user.active or user.role == Role.VILLAGER:
        return None
    return user


def check_client(session: Session, client_id: str, secret: str) -> tuple[PartnerClient, Partner] | None:
    client = session.scalars(select(PartnerClient).where(PartnerClient.client_id == client_id)).first()
    ok = check_secret(client.secret_hash if client else None, secret)
    if client is None or not ok or not client.active:
        return None
    partner = session.get(Partner, client.partner_id)
    return (client, partner) if partner else None


def _code_hash(pepper: bytes, phone: str, code: str) -> str:
    return hmac.new(pepper, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def villager_by_phone(session: Session, phone: str) -> User | None:
    return session.scalars(
        select(User)
        .join(Person, Person.id == User.person_id)
        .where(Person.phone == phone, User.role == Role.VILLAGER, User.active.is_(True))  # type: ignore[attr-defined]
    ).first()


def request_otp(
    session: Session, *, phone: str, pepper: bytes, lifetime_seconds: int, send: OtpSender
) -> str | None:
    """Send a six-digit code to a villager's phone. Returns the code (for dev mode), or None for an unknown phone."""
    if villager_by_phone(session, phone) is None:
        return None
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(
        OtpChallenge(
            phone=phone,
            code_hash=_code_hash(pepper, phone, code),
            expires_at=utcnow() + timedelta(seconds=lifetime_seconds),
        )
    )
    session.flush()
    send(phone, code)
    return code


def verify_otp(session: Session, *, phone: str, code: str, pepper: bytes, max_attempts: int) -> User | None:
    """The villager behind `phone` when `code` is their newest live code; each challenge allows few attempts."""
    now = utcnow()
    challenge = session.scalars(
        select(OtpChallenge)
        .where(OtpChallenge.phone == phone, OtpChallenge.consumed_at.is_(None))  # type: ignore[union-attr]
        .order_by(OtpChallenge.id.desc())  # type: ignore[union-attr]
        .limit(1)
        .with_for_update()
    ).first()
    expected = challenge.code_hash if challenge else _code_hash(pepper, phone, "decoy")
    matches = hmac.compare_digest(expected, _code_hash(pepper, phone, code))
    if challenge is None or as_utc(challenge.expires_at) <= now or challenge.attempts >= max_attempts:
        return None
    challenge.attempts += 1
    if not matches:
        return None
    challenge.consumed_at = now
    return villager_by_phone(session, phone)


def set_password(user: User, password: str, *, is_default: bool = False) -> None:
    user.password_hash = hash_secret(password)
    user.password_is_default = is_default


# --- the staff ↔ person link ---------------------------------------------------------------------------------

STAFF_ROLES = (Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)


class StaffNotFound(NotFound):
    code = "staff_not_found"


class PersonNotFound(NotFound):
    code = "person_not_found"


class PersonOfAnotherCounty(Conflict):
    code = "person_of_another_county"


class PersonAlreadyLinked(Conflict):
    code = "person_already_linked"


class NotAStaffAccount(Conflict):
    code = "not_a_staff_account"


def link_staff(session: Session, *, user_id: int, person_id: int | None, by: Principal | None) -> User:
    """Say which villager (Person) a staff account belongs to, or that it belongs to none (`person_id` None).

    Staff never act for their own household (the conflict-of-interest rule reads User.person_id → the person's
    household, ledger/identity/principal.py), so the link must be right. Only an official's, county admin's or
    auditor's account is linked here; a villager's account *is* its person and is never moved to another; a
    person has at most one account. `by`: the county admin doing it, within their county, who may change neither
    their own link nor that of someone of their own household (unlinked, either could act for it); None for the
    CLI, run by whoever runs the server."""
    if by is not None and by.user_id == user_id:
        raise ConflictOfInterest("Nobody sets their own link to a household; another county admin does.",
                                 user_id=user_id)
    user = session.scalars(select(User).where(User.id == user_id).with_for_update()).first()
    if user is None or (by is not None and user.county_id != by.county_id):
        raise StaffNotFound("No such staff account in your county.", user_id=user_id)
    if by is not None and user.person_id is not None:
        by.refuse_own(session.scalar(select(Person.household_id).where(Person.id == user.person_id)),
                      what="This account's holder lives in your household")
    if user.role not in STAFF_ROLES:
        raise NotAStaffAccount(
            "Only an official's, county admin's or auditor's account is linked to a person here; a villager's "
            "account is its person and is not moved.", user_id=user_id, role=user.role)
    if person_id is not None:
        found = session.execute(select(Person, Household.county_id).join(Household, Household.id ==
                                                                         Person.household_id)
                                .where(Person.id == person_id)).first()
        if found is None:
            raise PersonNotFound("No such person.", person_id=person_id)
        if found.county_id != user.county_id:
            raise PersonOfAnotherCounty("This person lives in another county than the account works in.",
                                        person_id=person_id)
        other = session.scalars(select(User.id).where(User.person_id == person_id, User.id != user_id)).first()
        if other is not None:
            raise PersonAlreadyLinked("This person has another account already.", person_id=person_id,
                                      user_id=other)
    user.person_id = person_id
    session.flush()  # the unique index on app_user.person_id stands behind the check above
    return user
