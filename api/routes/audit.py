"""The administrative change log (ledger/core/audit.py): county admins and auditors read and export it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import SessionDep, allow
from ledger.core import audit, exports
from ledger.identity.models import Role
from ledger.identity.principal import Principal

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Reader = Annotated[Principal, allow(Role.COUNTY_ADMIN, Role.AUDITOR)]
PRIVATE = {"Cache-Control": "no-store"}


class ChangeOut(BaseModel):
    id: int
    at: datetime
    actor: str = Field(description='Who made the change: "user:<id>", or "cli:<login>" from the command line.')
    action: str = Field(description="What was done, e.g. household.close, staff.disable, policy.change.")
    target_type: str
    target_id: str | None
    before: dict[str, Any] | None = Field(description="The fields that changed, as they were (none: created).")
    after: dict[str, Any] | None = Field(description="The same fields as they are now (none: removed).")


class ChangesOut(BaseModel):
    changes: list[ChangeOut]
    next_after_id: int | None = Field(description="Pass as after_id for the next page; null on the last page.")


@router.get(
    "",
    response_model=None,
    responses={
        200: {
            "model": ChangesOut,
            "content": {
                "application/json": {},
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            },
        }
    },
)
def changes(
    session: SessionDep,
    who: Reader,
    since: datetime | None = None,
    until: datetime | None = None,
    action: Annotated[str | None, Query(max_length=60, description="Only actions starting with this")] = None,
    after_id: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    format: Literal["json", "csv", "xlsx"] = "json",  # noqa: A002
) -> Response | ChangesOut:
    """Every administrative change in your county, oldest first: who, when, what, and the changed fields before
    and after. JSON pages with `after_id`; CSV and XLSX hold every change matching the filters."""
    if format != "json":
        rows = audit.changes(session, who.county_id, since=since, until=until, action=action)
        table = audit.table(rows)
        if format == "csv":
            body, media = exports.csv_bytes(table), "text/csv; charset=utf-8"
        else:
            body = exports.xlsx_bytes({"changes": table})
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        name = f"shanzhi-changes.{format}"
        return Response(
            body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"', **PRIVATE}
        )
    rows = audit.changes(
        session, who.county_id, since=since, until=until, action=action, after_id=after_id, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return ChangesOut(
        changes=[ChangeOut(**audit.as_dict(row)) for row in rows],
        next_after_id=rows[-1].id if more and rows else None,
    )
