"""Signing in: passwords for officials and admins, one-time codes for villagers, client credentials for partners.

These functions never say whether an account exists: a miss costs the same argon2 work as a hit and
returns the same None. The argon2 check itself (ledger/identity/passwords.py) runs between two transactions:
one reads what to check against (`password_of`, `secret_of`), the next acts on the answer (`user_signing_in`,
`client_signing_in`), so no lock is held while hashing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update
from sqlmodel import Session, col

from ledger.core import audit, outbox
from ledger.core.base import as_utc, utcnow
from ledger.core.errors import Conflict, NotFound
from ledger.identity.models import OtpChallenge, Partner, PartnerClient, Role, User, WebSession
from ledger.identity.passwords import check_secret, hash_secret
from ledger.identity.principal import ConflictOfInterest, Principal
from ledger.tenancy import Household, Person

OtpSender = Callable[[str, str], None]  # (phone, code): the delivery channel (SMS gateway, or the dev log)


@dataclass(frozen=True)
class Stored:
    """What a secret is checked against: the account's id and hash (None and None for no such account)."""

    id: int | None
    secret_hash: str | None


def password_of(session: Session, username: str) -> Stored:
    """The staff account a password sign-in names. Read in one transaction, checked outside it (argon2 is slow)."""
    user = session.scalars(select(User).where(col(User.username) == username)).first()
    if user is None or not user.active or user.role == Role.VILLAGER:
        return Stored(None, None)
    return Stored(user.id, user.password_hash)


def is_disabled(session: Session, username: str) -> bool:
    """The staff account exists but is disabled: a refused sign-in is counted as such (never told to the caller,
    who hears "wrong username or password" as for any other)."""
    return (
        session.scalar(select(col(User.active)).where(col(User.username) == username, col(User.role) != Role.VILLAGER))
        is False
    )


def user_signing_in(session: Session, stored: Stored) -> User | None:
    """After the password matched `stored`: the user, still active and still with that password."""
    user = session.get(User, stored.id) if stored.id is not None else None
    if user is None or not user.active or user.role == Role.VILLAGER or user.password_hash != stored.secret_hash:
        return None
    return user


def secret_of(session: Session, client_id: str) -> Stored:
    client = session.scalars(select(PartnerClient).where(col(PartnerClient.client_id) == client_id)).first()
    if client is None or not client.active:
        return Stored(None, None)
    return Stored(client.id, client.secret_hash)


def client_signing_in(session: Session, stored: Stored) -> tuple[PartnerClient, Partner] | None:
    """After the secret matched `stored`: the client, still active with that secret, and its partner."""
    client = session.get(PartnerClient, stored.id) if stored.id is not None else None
    if client is None or not client.active or client.secret_hash != stored.secret_hash:
        return None
    partner = session.get(Partner, client.partner_id)
    return (client, partner) if partner else None


def check_password(session: Session, username: str, password: str) -> User | None:
    """Password check in one go, for the command line (not the API: it would hash inside the transaction)."""
    stored = password_of(session, username)
    return user_signing_in(session, stored) if check_secret(stored.secret_hash, password) else None


def tell_locked(session: Session, *, until: datetime, username: str | None = None, phone: str | None = None) -> None:
    """Tell an account's holder that failed sign-ins have locked it, and until when (nothing if no such account)."""
    if phone is not None:
        villager = villager_by_phone(session, phone)
        person = session.get(Person, villager.person_id) if villager and villager.person_id else None
        if villager is not None and person is not None:
            outbox.tell(
                session,
                county_id=villager.county_id,
                household_id=person.household_id,
                kind="sign_in_locked",
                user_id=villager.id,
                until=until.isoformat(),
            )
    elif username is not None:
        user = session.scalars(select(User).where(col(User.username) == username)).first()
        if user is not None:
            outbox.tell(
                session,
                county_id=user.county_id,
                household_id=None,
                kind="sign_in_locked",
                user_id=user.id,
                username=user.username,
                until=until.isoformat(),
            )


def _code_hash(pepper: bytes, phone: str, code: str) -> str:
    return hmac.new(pepper, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def villager_by_phone(session: Session, phone: str) -> User | None:
    """The active villager whose person has this phone, in a household that is not closed (a closed household's
    members sign in no more: no code is sent to them and none signs them in)."""
    return session.scalars(
        select(User)
        .join(Person, col(Person.id) == col(User.person_id))
        .join(Household, col(Household.id) == col(Person.household_id))
        .where(
            col(Person.phone) == phone,
            col(User.role) == Role.VILLAGER,
            col(User.active).is_(True),
            col(Household.closed_at).is_(None),
        )
    ).first()


def request_otp(session: Session, *, phone: str, pepper: bytes, lifetime_seconds: int, send: OtpSender) -> str:
    """Send a six-digit code to a villager's phone and return it (for dev mode). For an unknown phone nothing is
    sent or kept, and a made-up code that signs nobody in is returned, so that both answers look alike."""
    code = f"{secrets.randbelow(10**6):06d}"
    if villager_by_phone(session, phone) is None:
        return code
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


def verify_otp(session: Session, *, phone: str, code: str, pepper: bytes) -> User | None:
    """The villager behind `phone` when `code` is their newest live code. Wrong tries do not spend the code:
    guessing is slowed per phone and address, and the phone locked only after many (ledger/identity/throttle.py),
    so no one can make a villager's code useless by guessing at it."""
    now = utcnow()
    challenge = session.scalars(
        select(OtpChallenge)
        .where(col(OtpChallenge.phone) == phone, col(OtpChallenge.consumed_at).is_(None))
        .order_by(col(OtpChallenge.id).desc())
        .limit(1)
        .with_for_update()
    ).first()
    expected = challenge.code_hash if challenge else _code_hash(pepper, phone, "decoy")
    matches = hmac.compare_digest(expected, _code_hash(pepper, phone, code))
    if challenge is None or as_utc(challenge.expires_at) <= now:
        return None
    challenge.attempts += 1
    if not matches:
        return None
    challenge.consumed_at = now
    return villager_by_phone(session, phone)


def set_password(user: User, password: str, *, is_default: bool = False) -> None:
    user.password_hash = hash_secret(password)
    user.password_is_default = is_default


def end_sign_ins(session: Session, user_id: int) -> None:
    """End every sign-in of an account at once: its browser sessions end, and access tokens issued before now are
    refused (principal.load reads `sign_ins_valid_from`). A disabled account, a reset password and a changed or
    removed phone all end them."""
    end_sign_ins_of(session.connection(), [user_id], utcnow())


def end_sign_ins_of(conn: Connection, user_ids: Sequence[int], now: datetime) -> None:
    """`end_sign_ins` for many accounts at once (a roster import that changes many phones): two statements."""
    if not user_ids:
        return
    conn.execute(update(User).where(col(User.id).in_(user_ids)).values(sign_ins_valid_from=now))
    conn.execute(
        update(WebSession)
        .where(col(WebSession.user_id).in_(user_ids), col(WebSession.ended_at).is_(None))
        .values(ended_at=now)
    )


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


def link_staff(
    session: Session, *, user_id: int, person_id: int | None, by: Principal | None, actor: str | None = None
) -> User:
    """Say which villager (Person) a staff account belongs to, or that it belongs to none (`person_id` None).

    Staff never act for their own household (the conflict-of-interest rule reads User.person_id → the person's
    household, ledger/identity/principal.py), so the link must be right. Only an official's, county admin's or
    auditor's account is linked here; a villager's account *is* its person and is never moved to another; a
    person has at most one staff account (and may have a villager sign-in besides). `by`: the county admin doing
    it, within their county, who may change neither their own link nor that of someone of their own household
    (unlinked, either could act for it); None for the CLI, run by whoever runs the server (`actor` names them in
    the change log)."""
    if by is not None and by.user_id == user_id:
        raise ConflictOfInterest(
            "Nobody sets their own link to a household; another county admin does.", user_id=user_id
        )
    user = session.scalars(select(User).where(col(User.id) == user_id).with_for_update()).first()
    if user is None or (by is not None and user.county_id != by.county_id):
        raise StaffNotFound("No such staff account in your county.", user_id=user_id)
    if by is not None and user.person_id is not None:
        by.refuse_own(
            session.scalar(select(col(Person.household_id)).where(col(Person.id) == user.person_id)),
            what="This account's holder lives in your household",
        )
    if user.role not in STAFF_ROLES:
        raise NotAStaffAccount(
            "Only an official's, county admin's or auditor's account is linked to a person here; a villager's "
            "account is its person and is not moved.",
            user_id=user_id,
            role=user.role,
        )
    if person_id is not None:
        found = session.execute(
            select(Person, col(Household.county_id))
            .join(Household, col(Household.id) == col(Person.household_id))
            .where(col(Person.id) == person_id)
        ).first()
        if found is None:
            raise PersonNotFound("No such person.", person_id=person_id)
        if found.county_id != user.county_id:
            raise PersonOfAnotherCounty(
                "This person lives in another county than the account works in.", person_id=person_id
            )
        other = session.scalars(
            select(col(User.id)).where(
                col(User.person_id) == person_id, col(User.id) != user_id, col(User.role) != Role.VILLAGER
            )
        ).first()
        if other is not None:
            raise PersonAlreadyLinked(
                "This person has another staff account already.", person_id=person_id, user_id=other
            )
    before = user.person_id
    user.person_id = person_id
    session.flush()  # the unique index on app_user.person_id (per kind) stands behind the check above
    audit.record(
        session,
        county_id=user.county_id,
        actor=by.actor if by is not None else (actor or "cli"),
        action="staff.link",
        target_type="staff",
        target_id=user_id,
        before={"person_id": before},
        after={"person_id": person_id},
    )
    return user
