"""What the household was told: approvals, rejections with their reason, expiries, settlements, deductions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import SessionDep, allow
from api.presentation.households import notifications_out
from api.schemas.claims import NotificationOut
from ledger.identity.models import Role
from ledger.identity.principal import Principal

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])
Villager = Annotated[Principal, allow(Role.VILLAGER)]


@router.get("", response_model=list[NotificationOut])
def my_notifications(
    session: SessionDep, who: Villager, response: Response, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[NotificationOut]:
    response.headers["Cache-Control"] = "no-store"
    return notifications_out(session, who.household_id, limit=limit)
