"""Signing in over HTTP, for the API's token routes and the sign-in pages alike: one-time codes by SMS (asked for
and checked), staff passwords and partner client secrets; each attempt slowed or refused per (account, address)
before any hash is checked, and argon2 run outside every database transaction (ledger/identity/passwords.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request
from sqlalchemy import Engine
from sqlmodel import Session

from api.observability import client_address
from api.schemas import OtpVerifyIn
from ledger.core import ratelimit
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.errors import Invalid, Throttled, Unauthenticated
from ledger.core.settings import Settings
from ledger.identity import service as identity
from ledger.identity import staff, throttle
from ledger.identity.models import User
from ledger.identity.passwords import check_secret
from ledger.identity.principal import Principal
from ledger.sms import delivery, texts

log = logging.getLogger("shanzhi.auth")


class InvalidGrant(Unauthenticated):
    code = "invalid_grant"


class InvalidClient(Unauthenticated):
    code = "invalid_client"


class UnsupportedGrant(Invalid):
    code = "unsupported_grant_type"


class InvalidCode(Unauthenticated):
    code = "invalid_code"


def caller_address(request: Request) -> str:
    return client_address(request.scope)


@dataclass(frozen=True)
class StaffSignIn:
    subject: str
    role: str
    locked_until: datetime | None  # failed sign-ins locked the account since its holder last signed in: tell them


def password_sign_in(request: Request, settings: Settings, username: str, password: str) -> StaffSignIn | None:
    """Who signed in, or None (the failure counted). Three steps: admit the try and read the hash (one
    transaction), argon2 (none), count the answer (another). The pages sign in with it too."""
    engine, account, address = request.app.state.engine, f"user:{username.lower()}", caller_address(request)
    limits = throttle.Limits.of(settings)
    stored, matches = checked(
        engine, account, address, limits, lambda session: identity.password_of(session, username), password
    )
    with unit_of_work(engine) as session:
        user = identity.user_signing_in(session, stored) if matches else None
        if user is None:  # the figures count a disabled account's refusals apart; the caller is told nothing more
            disabled = identity.is_disabled(session, username)
            failed(session, settings, account, limits, cause="disabled" if disabled else None, username=username)
            return None
        locked_until = throttle.succeeded(session, account, address)
        return StaffSignIn(f"user:{user.id}", user.role, locked_until)


@dataclass(frozen=True)
class OwnPassword:
    """A holder's new password, checked and hashed outside any transaction, and the hash their current one
    matched (stored only if that is still the account's: ledger/identity/staff.py `change_own_password`)."""

    checked_hash: str
    password: staff.NewPassword


def check_own_password(request: Request, settings: Settings, who: Principal, current: str, new: str) -> OwnPassword:
    """Someone signed in sets a password of their own: the new one must be strong and differ, the current one
    right. A wrong one counts as a failed sign-in of the account (slowed and locked alike). The API's route and the
    pages' form both call it, with no unit of work open (argon2 twice)."""
    staff.refuse_weak(new)
    if new == current:
        raise staff.SamePassword("Choose a new password, not the current one.", field="new_password")
    engine = request.app.state.engine
    with unit_of_work(engine) as session:
        user = session.get(User, who.user_id) if who.user_id is not None else None
        username = user.username if user is not None else None
    if username is None:
        raise staff.CurrentPasswordWrong("This account has no password to change.")
    account, limits = f"user:{username.lower()}", throttle.Limits.of(settings)
    stored, matches = checked(
        engine,
        account,
        caller_address(request),
        limits,
        lambda session: identity.Stored(who.user_id, staff.stored_password(session, who.user_id)),
        current,
    )
    if not matches or stored.secret_hash is None:
        with unit_of_work(engine) as session:
            failed(session, settings, account, limits, username=username)
        raise staff.CurrentPasswordWrong("The current password is wrong.", field="current_password")
    return OwnPassword(checked_hash=stored.secret_hash, password=staff.new_password(new))


def checked(
    engine: Engine,
    account: str,
    address: str,
    limits: throttle.Limits,
    read: Callable[[Session], identity.Stored],
    secret: str,
) -> tuple[identity.Stored, bool]:
    """Admit the try and read the stored hash in one short transaction, then run argon2 with none open: a slow
    hash never holds the database (on SQLite, its one writer)."""
    with unit_of_work(engine) as session:
        throttle.admit(session, account, address, limits)
        stored = read(session)
    return stored, check_secret(stored.secret_hash, secret)


def failed(
    session: Session,
    settings: Settings,
    account: str,
    limits: throttle.Limits,
    *,
    cause: str | None = None,
    **holder: str,
) -> None:
    """Count a failure against the account; when that locks it, tell its holder."""
    if throttle.failed(session, account, limits, cause=cause):
        until = utcnow() + timedelta(seconds=settings.account_lock_seconds)
        identity.tell_locked(session, until=until, **holder)
        log.warning("account locked after failed sign-ins", extra={"fields": {"account": account}})


@contextmanager
def counted_as(cause: str) -> Iterator[None]:
    """A throttling refusal raised in the block is counted as `cause` (throttle.REFUSALS)."""
    try:
        yield
    except Throttled:
        throttle.refused(cause)
        raise


def pepper(settings: Settings) -> bytes:
    return ("otp:" + settings.effective_jwt_secret()).encode()


def send_code(session: Session, request: Request, settings: Settings, phone: str) -> str:
    """Send a sign-in code. Refused without an SMS provider (outside dev mode), while the phone is locked, past the
    phone's or the address's limit of requests, each counted on its own (asking is not failing), and past the
    daily caps of texts (ledger/sms/delivery.py). A provider's failure is SmsUnavailable (503), nothing kept. The
    code is returned for dev mode's demo only; for an unknown phone it is a made-up one, so that the answers look
    alike."""
    if not getattr(request.app.state, "has_sms", True):
        raise delivery.SmsUnavailable(
            "Text messages are not set up, so no code can be sent. Ask the village official.", retry_after=3600
        )
    throttle.check_locked(session, f"phone:{phone}")
    window = settings.sign_in_window_seconds
    # A refusal, or a code the provider did not take, counts and keeps nothing, even where the caller commits (the
    # pages)
    with counted_as("code_requests_limited"), session.begin_nested():
        ratelimit.hit(
            session,
            f"code-requests:phone:{phone}",
            limit=settings.code_requests_per_phone,
            seconds=window,
            what="codes asked for this phone",
            refusal=throttle.CodeRequestsPhoneLimited,
        )
        ratelimit.hit(
            session,
            f"code-requests:address:{caller_address(request)[:64]}",
            limit=settings.code_requests_per_address,
            seconds=window,
            what="codes asked for from your address",
            refusal=throttle.CodeRequestsAddressLimited,
        )
        if settings.sms_provider != "log":
            # Each code is a text: the phone's cap counts for any number asked (known or not, the answers look
            # alike); the county's only for a villager's, whose county is known.
            delivery.count(
                session,
                delivery.Caps.of(settings),
                phone=phone,
                county_id=delivery.county_of_phone(session, phone),
                kind=texts.CODE,
            )
        return identity.request_otp(
            session,
            phone=phone,
            pepper=pepper(settings),
            lifetime_seconds=settings.otp_seconds,
            send=request.app.state.otp_sender,
        )


def code_sign_in(session: Session, request: Request, settings: Settings, body: OtpVerifyIn) -> tuple[str, str] | None:
    """The subject and role of a villager signing in by code, or None (the failure counted)."""
    account, address, limits = f"phone:{body.phone}", caller_address(request), throttle.Limits.of(settings)
    with session.begin_nested():  # a refused try counts nothing, even where the caller commits (the pages)
        throttle.admit(session, account, address, limits)
    user = identity.verify_otp(session, phone=body.phone, code=body.code, pepper=pepper(settings))
    if user is None:
        failed(session, settings, account, limits, phone=body.phone)
        return None
    throttle.succeeded(session, account, address)
    return f"user:{user.id}", user.role
