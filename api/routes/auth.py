"""Signing in. Password and client-credential grants at /auth/token (OAuth2 form); villagers by one-time code.

Failures are counted per account and per client address and committed even though the request fails;
the answer for an unknown account is the same, and as slow, as for a wrong password.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlmodel import Session

from api import tokens
from api.deps import SettingsDep, public
from api.schemas import OtpRequestIn, OtpRequestOut, OtpVerifyIn, TokenOut
from ledger.db import unit_of_work
from ledger.errors import Invalid, Unauthenticated
from ledger.identity import service as identity
from ledger.identity import throttle
from ledger.identity.principal import PARTNER
from ledger.settings import Settings

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


def _limits(settings: Settings, account_key: str, address: str) -> dict[str, int]:
    return {account_key: settings.sign_in_max_failures, f"address:{address}": settings.sign_in_max_failures_per_address}


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


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
    with unit_of_work(request.app.state.engine) as session:
        found = password_sign_in(session, request, settings, username, password)
    if found is None:  # the failure is counted (committed) before the refusal
        raise InvalidGrant("Wrong username or password.")
    access, lifetime = tokens.issue_access_token(settings, sub=found[0], role=found[1])
    return TokenOut(access_token=access, expires_in=lifetime)


def password_sign_in(session: Session, request: Request, settings: Settings, username: str, password: str
                     ) -> tuple[str, str] | None:
    """The subject and role of a staff sign-in, or None (the failure counted). The pages sign in with it too."""
    keys = _limits(settings, f"account:{username.lower()}", _address(request))
    throttle.check(session, keys)
    user = identity.check_password(session, username, password)
    if user is None:
        throttle.record_failure(session, keys, window_seconds=settings.sign_in_window_seconds)
        return None
    throttle.clear(session, f"account:{username.lower()}")
    return f"user:{user.id}", user.role


def _client_grant(
    request: Request, settings: Settings, client_id: str, secret: str, scope: str | None
) -> TokenOut:
    keys = _limits(settings, f"client:{client_id}", _address(request))
    with unit_of_work(request.app.state.engine) as session:
        throttle.check(session, keys)
        found = identity.check_client(session, client_id, secret)
        if found is None:
            throttle.record_failure(session, keys, window_seconds=settings.sign_in_window_seconds)
        else:
            granted = found[0].scopes.split()
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


@router.post("/otp/request", response_model=OtpRequestOut, status_code=status.HTTP_202_ACCEPTED,
             dependencies=[public()])
def otp_request(body: OtpRequestIn, request: Request, settings: SettingsDep) -> OtpRequestOut:
    """Send a sign-in code to a villager's phone. The answer is the same whether or not the phone is known."""
    with unit_of_work(request.app.state.engine) as session:
        code = send_code(session, request, settings, body.phone)
    return OtpRequestOut(expires_in=settings.otp_seconds, dev_code=code if settings.dev_mode else None)


def send_code(session: Session, request: Request, settings: Settings, phone: str) -> str | None:
    """Send a sign-in code (counted against the phone's and the address's limits). The code is returned for
    dev mode's demo only; None when the phone is unknown."""
    keys = _limits(settings, f"otp-request:{phone}", _address(request))
    throttle.check(session, keys)
    throttle.record_failure(session, keys, window_seconds=settings.sign_in_window_seconds)  # counts requests
    return identity.request_otp(session, phone=phone, pepper=_pepper(settings),
                                lifetime_seconds=settings.otp_seconds, send=request.app.state.otp_sender)


@router.post("/otp/verify", response_model=TokenOut, dependencies=[public()])
def otp_verify(body: OtpVerifyIn, request: Request, settings: SettingsDep) -> TokenOut:
    with unit_of_work(request.app.state.engine) as session:
        found = code_sign_in(session, request, settings, body)
    if found is None:  # the failure is counted (committed) before the refusal
        raise InvalidCode("The code is wrong or has expired; ask for a new one.")
    access, lifetime = tokens.issue_access_token(settings, sub=found[0], role=found[1])
    return TokenOut(access_token=access, expires_in=lifetime)


def code_sign_in(session: Session, request: Request, settings: Settings, body: OtpVerifyIn
                 ) -> tuple[str, str] | None:
    """The subject and role of a villager signing in by code, or None (the failure counted)."""
    keys = _limits(settings, f"otp:{body.phone}", _address(request))
    throttle.check(session, keys)
    user = identity.verify_otp(session, phone=body.phone, code=body.code, pepper=_pepper(settings),
                               max_attempts=settings.otp_max_attempts)
    if user is None:
        throttle.record_failure(session, keys, window_seconds=settings.sign_in_window_seconds)
        return None
    throttle.clear(session, f"otp:{body.phone}")
    return f"user:{user.id}", user.role


def log_otp_sender(settings: Settings) -> identity.OtpSender:
    """The development delivery channel: the code goes to the log (never outside dev mode)."""

    def send(phone: str, code: str) -> None:
        if settings.dev_mode:
            log.info("one-time code", extra={"fields": {"phone": phone, "dev_code": code}})
        else:
            log.error("no SMS gateway is configured; a one-time code could not be delivered",
                      extra={"fields": {"phone_tail": phone[-4:]}})

    return send
