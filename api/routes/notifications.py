"""What the household was told: approvals, rejections with their reason, expiries, settlements, deductions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from api.deps import SessionDep, allow
from api.paging import Cursor, Limit, link_next
from api.presentation.households import notification_page
from api.schemas.claims import NotificationOut
from ledger.identity.models import Role
from ledger.identity.principal import Principal

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])
Villager = Annotated[Principal, allow(Role.VILLAGER)]


@router.get("", response_model=list[NotificationOut])
def my_notifications(
    session: SessionDep, who: Villager, request: Request, response: Response, cursor: Cursor = None, limit: Limit = 50
) -> list[NotificationOut]:
    """What your household was told, newest first, a page at a time: the `Link` header names the next page."""
    response.headers["Cache-Control"] = "no-store"
    page = notification_page(session, who.household_id, cursor=cursor, limit=limit)
    link_next(request, response, page.next_cursor)
    return page.rows
