"""What the household was told: approvals, rejections with their reason, expiries, settlements, deductions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from api.deps import SessionDep, allow
from api.schemas.claims import NotificationOut
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.outbox import Notification

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])
Villager = Annotated[Principal, allow(Role.VILLAGER)]


@router.get("", response_model=list[NotificationOut])
def my_notifications(
    session: SessionDep, who: Villager, response: Response, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[NotificationOut]:
    rows = session.scalars(
        select(Notification)
        .where(Notification.household_id == who.household_id)
        .order_by(Notification.id.desc())
        .limit(limit)
    ).all()  # type: ignore[union-attr]
    response.headers["Cache-Control"] = "no-store"
    return [NotificationOut.model_validate(n, from_attributes=True) for n in rows]
