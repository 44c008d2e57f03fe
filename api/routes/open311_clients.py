"""The county admin's Open311 clients: the systems allowed to send and read requests through Open311 GeoReport v2
(/open311/v2/, api/open311.py). Making one shows its api_key once; disabling one refuses its key at once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status

from api.deps import SessionDep, allow
from api.presentation.open311 import open311_client_out
from api.schemas.open311 import Open311ClientCreatedOut, Open311ClientIn, Open311ClientOut
from ledger.concerns import open311
from ledger.identity.models import Role
from ledger.identity.principal import Principal

router = APIRouter(prefix="/api/v1", tags=["open311"])
Admin = Annotated[Principal, allow(Role.COUNTY_ADMIN)]
PRIVATE = {"Cache-Control": "no-store"}


@router.get("/open311-clients", response_model=list[Open311ClientOut])
def list_open311_clients(session: SessionDep, who: Admin) -> list[Open311ClientOut]:
    """The Open311 clients of your county, oldest first (never their keys)."""
    return [open311_client_out(c) for c in open311.clients_of(session, who)]


@router.post("/open311-clients", response_model=Open311ClientCreatedOut, status_code=status.HTTP_201_CREATED)
def create_open311_client(
    body: Open311ClientIn, session: SessionDep, who: Admin, response: Response
) -> Open311ClientCreatedOut:
    """A system of your county that may send concerns and read the ones it sent through Open311 GeoReport v2.
    Its api_key is in this answer only."""
    key = open311.new_key()
    client = open311.create_client(session, who, name=body.name, key=key)
    response.headers.update(PRIVATE)
    return Open311ClientCreatedOut(**open311_client_out(client).model_dump(), api_key=key.plain)


@router.post("/open311-clients/{client_id}/disable", response_model=Open311ClientOut)
def disable_open311_client(client_id: int, session: SessionDep, who: Admin) -> Open311ClientOut:
    """The client's api_key is refused from the next request on; the requests it sent stay."""
    return open311_client_out(open311.disable_client(session, who, client_id))
