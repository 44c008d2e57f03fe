"""Signing in. Password and client-credential grants at /auth/token (OAuth2 form); villagers by one-time code.

Guessing is slowed per (account, client address) and an account locked only after many failures from all
addresses (ledger/identity/throttle.py); failures are committed even though the request fails. Code requests
are limited per phone and per address, each on its own. The answer for an unknown account is the same, and as
slow, as for a wrong password. argon2 runs between transactions, never inside one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlalchemy import Engine
from sqlmodel import Session

from api import tokens
from api.deps import SettingsDep, public
from api.observability import client_address
from api.schemas import OtpRequestIn, OtpRequestOut, OtpVerifyIn, TokenOut
from ledger.core import ratelimit
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.core.errors import Invalid, Unauthenticated
from ledger.core.settings import Settings
from ledger.identity import service as identity
from ledger.identity import throttle
from ledger.identity.passwords import check_secret
from ledger.identity.principal import PARTNER

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
log = logging.getLogger("shanzhi.auth")
_basic = HTTPBasic(auto_error=False)


class InvalidGrant(Unauthenticated):
    code = "invalid_grant"


class InvalidClient(Unauthenticated):
    code = "invalid_client"


class UnsupportedGrant(Invalid):
    code = "unsupported_grant_type"


class InvalidCode(Unauthenticated):
    code = "invalid_code"


def _address(request: Request) -> str:
    return client_address(request.scope)


@router.post("/token", response_model=TokenOut, dependencies=[public()])
def token(
    request: Request,
    settings: SettingsDep,
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    grant_type: Annotated[str, Form()],
    username: Annotated[str | None, Form(max_length=64)] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
    client_id: Annotated[str | None, Form(max_length=64)] = None,
    client_secret: Annotated[str | None, Form(max_length=256)] = None,
    scope: Annotated[str | None, Form(max_length=400)] = None,
) -> TokenOut:
    """`grant_type=password` for officials, admins and auditors; `grant_type=client_credentials` for partners
    (client id and secret in the form or as HTTP Basic)."""
    if grant_type == "password":
        if not username or password is None:
            raise Invalid("The password grant needs username and password.", field="username")
        return _password_grant(request, settings, username, password)
    if grant_type == "client_credentials":
        if basic is not None:
            client_id, client_secret = basic.username, basic.password
        if not client_id or client_secret is None:
            raise Invalid("The client credentials grant needs client_id and client_secret.", field="client_id")
        return _client_grant(request, settings, client_id, client_secret, scope)
    raise UnsupportedGrant("grant_type is password or client_credentials.", field="grant_type")


def _password_grant(request: Request, settings: Settings, username: str, password: str) -> TokenOut:
    found = password_sign_in(request, settings, username, password)
    if found is None:  # the failure is counted (committed) before the refusal
        raise InvalidGrant("Wrong username or password.")
    access, lifetime = tokens.issue_access_token(settings, sub=found.subject, role=found.role)
    return TokenOut(access_token=access, expires_in=lifetime)


@dataclass(frozen=True)
class StaffSignIn:
    subject: str
    role: str
    locked_until: datetime | None  # failed sign-ins locked the account since its holder last signed in: tell them


def password_sign_in(request: Request, settings: Settings, username: str, password: str) -> StaffSignIn | None:
    """Who signed in, or None (the failure counted). Three steps: admit the try and read the hash (one
    transaction), argon2 (none), count the answer (another). The pages sign in with it too."""
    engine, account, address = request.app.state.engine, f"user:{username.lower()}", _address(request)
    limits = throttle.Limits.of(settings)
    stored, matches = _checked(
        engine, account, address, limits, lambda session: identity.password_of(session, username), password
    )
    with unit_of_work(engine) as session:
        user = identity.user_signing_in(session, stored) if matches else None
        if user is None:
            _failed(session, settings, account, limits, username=username)
            return None
        locked_until = throttle.succeeded(session, account, address)
        return StaffSignIn(f"user:{user.id}", user.role, locked_until)


def _checked(
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


def _failed(session: Session, settings: Settings, account: str, limits: throttle.Limits, **holder: str) -> None:
    """Count a failure against the account; when that locks it, tell its holder."""
    if throttle.failed(session, account, limits):
        until = utcnow() + timedelta(seconds=settings.account_lock_seconds)
        identity.tell_locked(session, until=until, **holder)
        log.warning("account locked after failed sign-ins", extra={"fields": {"account": account}})


def _client_grant(request: Request, settings: Settings, client_id: str, secret: str, scope: str | None) -> TokenOut:
    engine, account, address = request.app.state.engine, f"client:{client_id}", _address(request)
    limits = throttle.Limits.of(settings)
    stored, matches = _checked(
        engine, account, address, limits, lambda session: identity.secret_of(session, client_id), secret
    )
    with unit_of_work(engine) as session:
        found = identity.client_signing_in(session, stored) if matches else None
        if found is not None:  # a failure was counted for this address when admitted; no account-wide lock
            throttle.succeeded(session, account, address)  # for a client: its secret is long and random, so
            granted = found[0].scopes.split()  # a lock would only let anyone cut a bank off, guessing nothing
    if found is None:
        raise InvalidClient("Unknown client or wrong secret.")
    wanted = scope.split() if scope else granted
    refused = sorted(set(wanted) - set(granted))
    if refused:
        raise Invalid(f"This client may not ask for: {', '.join(refused)}.", field="scope")
    access, lifetime = tokens.issue_access_token(
        settings, sub=f"client:{client_id}", role=PARTNER, scopes=tuple(wanted)
    )
    return TokenOut(access_token=access, expires_in=lifetime, scope=" ".join(wanted))


def _pepper(settings: Settings) -> bytes:
    return ("otp:" + settings.effective_jwt_secret()).encode()


@router.post(
    "/otp/request", response_model=OtpRequestOut, status_code=status.HTTP_202_ACCEPTED, dependencies=[public()]
)
def otp_request(body: OtpRequestIn, request: Request, settings: SettingsDep) -> OtpRequestOut:
    """Send a sign-in code to a villager's phone. The answer is the same whether or not the phone is known."""
    with unit_of_work(request.app.state.engine) as session:
        code = send_code(session, request, settings, body.phone)
    return OtpRequestOut(expires_in=settings.otp_seconds, dev_code=code if settings.dev_mode else None)


def send_code(session: Session, request: Request, settings: Settings, phone: str) -> str:
    """Send a sign-in code. Refused while the phone is locked, and past the phone's or the address's limit of
    requests, each counted on its own (asking is not failing). The code is returned for dev mode's demo only;
    for an unknown phone it is a made-up one, so that the answers look alike."""
    throttle.check_locked(session, f"phone:{phone}")
    window = settings.sign_in_window_seconds
    with session.begin_nested():  # a refusal counts nothing, even where the caller commits (the pages)
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
            f"code-requests:address:{_address(request)[:64]}",
            limit=settings.code_requests_per_address,
            seconds=window,
            what="codes asked for from your address",
            refusal=throttle.CodeRequestsAddressLimited,
        )
    return identity.request_otp(
        session,
        phone=phone,
        pepper=_pepper(settings),
        lifetime_seconds=settings.otp_seconds,
        send=request.app.state.otp_sender,
    )


@router.post("/otp/verify", response_model=TokenOut, dependencies=[public()])
def otp_verify(body: OtpVerifyIn, request: Request, settings: SettingsDep) -> TokenOut:
    with unit_of_work(request.app.state.engine) as session:
        found = code_sign_in(session, request, settings, body)
    if found is None:  # the failure is counted (committed) before the refusal
        raise InvalidCode("The code is wrong or has expired; ask for a new one.")
    access, lifetime = tokens.issue_access_token(settings, sub=found[0], role=found[1])
    return TokenOut(access_token=access, expires_in=lifetime)


def code_sign_in(session: Session, request: Request, settings: Settings, body: OtpVerifyIn) -> tuple[str, str] | None:
    """The subject and role of a villager signing in by code, or None (the failure counted)."""
    account, address, limits = f"phone:{body.phone}", _address(request), throttle.Limits.of(settings)
    with session.begin_nested():  # a refused try counts nothing, even where the caller commits (the pages)
        throttle.admit(session, account, address, limits)
    user = identity.verify_otp(session, phone=body.phone, code=body.code, pepper=_pepper(settings))
    if user is None:
        _failed(session, settings, account, limits, phone=body.phone)
        return None
    throttle.succeeded(session, account, address)
    return f"user:{user.id}", user.role


def log_otp_sender(settings: Settings) -> identity.OtpSender:
    """The development delivery channel: the code goes to the log (never outside dev mode)."""

    def send(phone: str, code: str) -> None:
        if settings.dev_mode:
            log.info("one-time code", extra={"fields": {"phone": phone, "dev_code": code}})
        else:
            log.error(
                "no SMS gateway is configured; a one-time code could not be delivered",
                extra={"fields": {"phone_tail": phone[-4:]}},
            )

    return send
