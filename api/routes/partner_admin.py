"""The county admin's partners: add a bank, merchant or clinic, give it machine clients (the secret shown once)
and staff sign-ins (the first password shown once, changed at first sign-in), disable a client. Which villages a
partner serves: PUT /api/v1/partners/{id}/villages (api/routes/partners.py); its offers: api/routes/redemption.py.

A secret or password is made and hashed before the request's unit of work begins (`_fresh`, declared before the
session): argon2 must not run while the request holds the database. Only a caller with a county admin's token
makes the server hash; the role is then checked again from the database, as on every route.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from starlette.concurrency import run_in_threadpool

from api.deps import BearerDep, SessionDep, SettingsDep, allow, bearer_claims
from api.presentation.partner_admin import client_out, partner_out, staff_out
from api.schemas.partner_admin import (
    ClientCreatedOut,
    ClientIn,
    ClientOut,
    PartnerIn,
    PartnerOut,
    PartnerStaffCreatedOut,
    PartnerStaffIn,
)
from ledger.core.errors import Forbidden
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from redemption import access, partners

router = APIRouter(prefix="/api/v1", tags=["partners"])
Admin = Annotated[Principal, allow(Role.COUNTY_ADMIN)]
PRIVATE = {"Cache-Control": "no-store"}


def _admin_token(request: Request, settings: SettingsDep, credentials: BearerDep) -> None:
    claims = bearer_claims(request, settings, credentials)
    if claims.role != Role.COUNTY_ADMIN:
        raise Forbidden("Your role may not use this route.")


async def _fresh_secret(request: Request, settings: SettingsDep, credentials: BearerDep) -> partners.Fresh:
    _admin_token(request, settings, credentials)
    return await run_in_threadpool(partners.new_secret)


async def _fresh_password(request: Request, settings: SettingsDep, credentials: BearerDep) -> partners.Fresh:
    _admin_token(request, settings, credentials)
    return await run_in_threadpool(partners.new_password)


FreshSecret = Annotated[partners.Fresh, Depends(_fresh_secret)]
FreshPassword = Annotated[partners.Fresh, Depends(_fresh_password)]


@router.get("/county/partners", response_model=list[PartnerOut])
def list_partners(session: SessionDep, who: Admin) -> list[PartnerOut]:
    """The partners of your county, by name, as you manage them: their villages, clients and staff sign-ins
    (GET /api/v1/partners lists them for everyone of the county, by name only)."""
    return [partner_out(session, p) for p in access.county_partners(session, who)]


@router.post("/partners", response_model=PartnerOut, status_code=status.HTTP_201_CREATED)
def create_partner(body: PartnerIn, session: SessionDep, who: Admin) -> PartnerOut:
    """A bank, merchant or clinic of your county; it serves the whole county until you name its villages."""
    return partner_out(session, partners.create_partner(session, who, kind=body.kind, code=body.code, name=body.name))


@router.post("/partners/{partner_id}/clients", response_model=ClientCreatedOut, status_code=status.HTTP_201_CREATED)
def create_client(
    fresh: FreshSecret, partner_id: int, body: ClientIn, session: SessionDep, who: Admin
) -> ClientCreatedOut:
    """A machine client of the partner (OAuth2 client credentials) holding the scopes asked for, by default every
    scope its kind may hold. The secret is in this answer only."""
    client = partners.create_client(
        session, who, partner_id, secret=fresh, client_id=body.client_id, scopes=body.scopes
    )
    return ClientCreatedOut(**client_out(client).model_dump(), client_secret=fresh.plain)


@router.post("/partners/{partner_id}/clients/{client_id}/disable", response_model=ClientOut)
def disable_client(partner_id: int, client_id: str, session: SessionDep, who: Admin) -> ClientOut:
    """The client's tokens are refused at once, and it gets no new ones."""
    return client_out(partners.disable_client(session, who, partner_id, client_id))


@router.post("/partners/{partner_id}/staff", response_model=PartnerStaffCreatedOut, status_code=status.HTTP_201_CREATED)
def create_partner_staff(
    fresh: FreshPassword, partner_id: int, body: PartnerStaffIn, session: SessionDep, who: Admin
) -> PartnerStaffCreatedOut:
    """A sign-in for someone working at the partner. The first password is in this answer only; they change it
    at first sign-in."""
    user = partners.create_staff(
        session, who, partner_id, username=body.username, display_name=body.display_name, password=fresh
    )
    return PartnerStaffCreatedOut(**staff_out(user).model_dump(), password=fresh.plain)
