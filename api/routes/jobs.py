"""What the scheduled work could not do (ledger/core/failures.py): for the county's auditors and admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import SessionDep, allow
from api.paging import Cursor, Limit, link_next
from api.schemas.jobs import JobFailureOut
from ledger.core import failures, paging
from ledger.identity.models import Role
from ledger.identity.principal import Principal

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
Overseer = Annotated[Principal, allow(Role.AUDITOR, Role.COUNTY_ADMIN)]


@router.get("/failures", response_model=list[JobFailureOut])
def job_failures(
    session: SessionDep,
    who: Overseer,
    request: Request,
    response: Response,
    open_only: Annotated[bool, Query(alias="open")] = False,
    cursor: Cursor = None,
    limit: Limit = paging.MOST,
) -> list[JobFailureOut]:
    """Items of the scheduled work that failed and were skipped (their county's, and whole steps that failed),
    newest last seen first, a page at a time (200 by default): step, record, error, first and last seen, how
    often; `open=true` leaves out those that went through at a later run."""
    shown = failures.page(session, county_id=who.county_id, open_only=open_only, cursor=cursor, limit=limit)
    link_next(request, response, shown.next_cursor)
    response.headers["Cache-Control"] = "no-store"
    return [JobFailureOut.model_validate(row, from_attributes=True) for row in shown.rows]
