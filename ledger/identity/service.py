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
from ledger.identity.models import OtpChallenge, Partner, PartnerClient, Role, User
from ledger.identity.passwords import check_secret, hash_secret
from ledger.tenancy import Person

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
