"""Partner webhooks: events written to `webhook_delivery` in the same transaction as the change they tell of.

(Delivery, signing and retries: to be written.)
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlmodel import Session

from ledger.base import utcnow
from redemption.models import WebhookDelivery


def enqueue(session: Session, *, partner_id: int, county_id: int, event: str, data: dict[str, Any]) -> str:
    """Queue one event for a partner in the caller's unit of work; returns its delivery id."""
    delivery_id = secrets.token_hex(16)
    now = utcnow()
    session.add(WebhookDelivery(id=delivery_id, partner_id=partner_id, county_id=county_id, event=event,
                                payload={"id": delivery_id, "event": event, "created_at": now.isoformat(),
                                         "data": data},
                                created_at=now, next_attempt_at=now))
    return delivery_id
