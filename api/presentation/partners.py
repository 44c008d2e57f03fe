"""A partner's own settings as the API shows them (api/schemas/partners.py). The webhook secret is never here:
only the two routes that make one return it, once."""

from __future__ import annotations

from api.schemas.partners import DeliveryOut, PartnerMeOut
from ledger.identity.models import Partner
from redemption import webhooks
from redemption.models import WebhookDelivery


def me_out(partner: Partner) -> PartnerMeOut:
    assert partner.id is not None
    return PartnerMeOut(
        id=partner.id,
        kind=partner.kind,
        code=partner.code,
        name=partner.name,
        webhook_url=partner.webhook_url,
    )


def delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    """One delivery: whether it arrived, and what the partner's endpoint answered."""
    return DeliveryOut(
        id=delivery.id,
        event=delivery.event,
        created_at=delivery.created_at,
        attempts=delivery.attempts,
        next_attempt_at=webhooks.next_try(delivery),
        delivered_at=delivery.delivered_at,
        last_status=delivery.last_status,
        last_error=delivery.last_error,
    )
