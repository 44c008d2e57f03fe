"""Signing in. Password and client-credential grants at /auth/token (OAuth2 form); villagers by one-time code.

Guessing is slowed per (account, client address) and an account locked only after many failures from all
addresses (ledger/identity/throttle.py); failures are committed even though the request fails. Code requests
are limited per phone and per address, each on its own. The answer for an unknown account is the same, and as
slow, as for a wrong password. argon2 runs between transactions, never inside one.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api import tokens
from api.deps import SettingsDep, allow_unheld, caller_again, in_turn, public
from api.schemas import OtpRequestIn, OtpRequestOut, OtpVerifyIn, Strict, TokenOut
from api.signin import (
    InvalidClient,
    InvalidCode,
    InvalidGrant,
    OwnPassword,
    UnsupportedGrant,
    caller_address,
    check_own_password,
    checked,
    code_sign_in,
    password_sign_in,
    send_code,
)
from ledger.core.db import unit_of_work
from ledger.core.errors import Invalid
from ledger.core.settings import Settings
from ledger.identity import service as identity
from ledger.identity import staff, throttle
from ledger.identity.models import Role
from ledger.identity.principal import PARTNER, Principal

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
log = logging.getLogger("shanzhi.auth")
_basic = HTTPBasic(auto_error=False)


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


def _client_grant(request: Request, settings: Settings, client_id: str, secret: str, scope: str | None) -> TokenOut:
    engine, account, address = request.app.state.engine, f"client:{client_id}", caller_address(request)
    limits = throttle.Limits.of(settings)
    stored, matches = checked(
        engine, account, address, limits, lambda session: identity.secret_of(session, client_id), secret
    )
    with unit_of_work(engine) as session:
        found = identity.client_signing_in(session, stored) if matches else None
        if found is not None:  # a failure was counted for this address when admitted; no account-wide lock
            throttle.succeeded(session, account, address)  # for a client: its secret is long and random, so
            granted = found[0].scopes.split()  # a lock would only let anyone cut a bank off, guessing nothing
    if found is None:
        throttle.refused("wrong_secret")
        raise InvalidClient("Unknown client or wrong secret.")
    wanted = scope.split() if scope else granted
    refused = sorted(set(wanted) - set(granted))
    if refused:
        raise Invalid(f"This client may not ask for: {', '.join(refused)}.", field="scope")
    access, lifetime = tokens.issue_access_token(
        settings, sub=f"client:{client_id}", role=PARTNER, scopes=tuple(wanted)
    )
    return TokenOut(access_token=access, expires_in=lifetime, scope=" ".join(wanted))


@router.post(
    "/otp/request", response_model=OtpRequestOut, status_code=status.HTTP_202_ACCEPTED, dependencies=[public()]
)
def otp_request(body: OtpRequestIn, request: Request, settings: SettingsDep) -> OtpRequestOut:
    """Send a sign-in code to a villager's phone. The answer is the same whether or not the phone is known."""
    with unit_of_work(request.app.state.engine) as session:
        code = send_code(session, request, settings, body.phone)
    return OtpRequestOut(expires_in=settings.otp_seconds, dev_code=code if settings.dev_mode else None)


@router.post("/otp/verify", response_model=TokenOut, dependencies=[public()])
def otp_verify(body: OtpVerifyIn, request: Request, settings: SettingsDep) -> TokenOut:
    with unit_of_work(request.app.state.engine) as session:
        found = code_sign_in(session, request, settings, body)
    if found is None:  # the failure is counted (committed) before the refusal
        raise InvalidCode("The code is wrong or has expired; ask for a new one.")
    access, lifetime = tokens.issue_access_token(settings, sub=found[0], role=found[1])
    return TokenOut(access_token=access, expires_in=lifetime)


class PasswordChangeIn(Strict):
    current_password: str = Field(max_length=256)
    new_password: str = Field(max_length=256, description="At least 12 characters, not the current one.")


PasswordHolder = Annotated[
    Principal,
    allow_unheld(
        Role.OFFICIAL,
        Role.COUNTY_ADMIN,
        Role.AUDITOR,
        partner_kinds=("bank", "merchant", "clinic"),
        before_password_change=True,
    ),
]


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(
    body: PasswordChangeIn, request: Request, settings: SettingsDep, who: PasswordHolder
) -> Response:
    """Set a password of your own. Needed first after a county admin created your account or reset its password:
    until then every other route answers 403 `password_change_required`. Refused: a wrong current password (403
    `current_password_wrong`, counted as a failed sign-in), a weak new one (422 `weak_password`) or the same (422
    `same_password`). Your token stays valid."""
    own: OwnPassword = await run_in_threadpool(
        check_own_password, request, settings, who, body.current_password, body.new_password
    )

    def write() -> None:
        with unit_of_work(request.app.state.engine) as session:
            staff.change_own_password(
                session, who=caller_again(request, session), checked_hash=own.checked_hash, password=own.password
            )

    await in_turn(request, write)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
