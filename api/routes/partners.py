"""A partner's own settings: who it is, and where its events (webhooks) go. Banks, merchants and clinics alike;
their staff and their machine clients both."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import SessionDep, SettingsDep, allow
from api.paging import Cursor, Limit, link_next
from api.presentation.partners import delivery_out, me_out
from api.schemas.partners import (
    DeliveryOut,
    PartnerMeOut,
    PartnerVillagesIn,
    PartnerVillagesOut,
    RotatedOut,
    WebhookIn,
    WebhookOut,
)
from ledger.core import paging
from ledger.core.base import row_id
from ledger.identity.models import PartnerKind, Role
from ledger.identity.principal import Principal
from redemption import access, offers, webhooks

router = APIRouter(prefix="/api/v1", tags=["partners"])
KINDS = (PartnerKind.BANK, PartnerKind.MERCHANT, PartnerKind.CLINIC)
AnyPartner = Annotated[Principal, allow(partner_kinds=KINDS)]
PartnerManager = Annotated[Principal, allow(partner_kinds=KINDS, scope="offers:manage")]
Admin = Annotated[Principal, allow(Role.COUNTY_ADMIN)]
PRIVATE = {"Cache-Control": "no-store"}


@router.get("/partners/me", response_model=PartnerMeOut)
def my_partner(session: SessionDep, who: AnyPartner) -> PartnerMeOut:
    """The partner you act for, and where its events are delivered."""
    return me_out(access.own_partner(session, who))


@router.put(
    "/partners/me/webhook",
    response_model=WebhookOut,
    responses={
        422: {
            "description": "invalid_webhook_url: not an http(s) URL of at most 500 characters (https "
            "outside dev mode), or its host does not resolve; "
            "webhook_address_not_allowed: the host is an address of a private, "
            "local or reserved network"
        }
    },
)
def set_webhook(
    body: WebhookIn, session: SessionDep, settings: SettingsDep, who: PartnerManager, response: Response
) -> WebhookOut:
    """Deliver your events to this URL from now on (events that waited for a URL go out too). The first time, a
    signing secret is made and returned: it is shown only this once."""
    reach = webhooks.Reach.from_settings(settings)
    partner, secret = webhooks.set_url(session, row_id(who.partner_id), body.url, reach, actor=who.actor)
    response.headers.update(PRIVATE)
    return WebhookOut(webhook_url=partner.webhook_url, secret=secret)


@router.post("/partners/me/webhook/secret", response_model=RotatedOut)
def rotate_webhook_secret(session: SessionDep, who: PartnerManager, response: Response) -> RotatedOut:
    """A new signing secret, in force at once (retries too are signed with it); shown only this once. The secret
    it replaces still signs beside it (a second `v1` in `Shanzhi-Signature`) for 24 hours, until
    `previous_secret_valid_until`: put the new one in your receiver within that time."""
    partner, secret = webhooks.rotate_secret(session, row_id(who.partner_id), actor=who.actor)
    response.headers.update(PRIVATE)
    return RotatedOut(
        webhook_url=partner.webhook_url,
        secret=secret,
        previous_secret_valid_until=webhooks.previous_valid_until(partner),
    )


@router.get("/partners/me/webhook/deliveries", response_model=list[DeliveryOut])
def my_deliveries(
    session: SessionDep,
    who: AnyPartner,
    request: Request,
    response: Response,
    limit: Limit = paging.PAGE,
    cursor: Cursor = None,
    failed: Annotated[bool, Query(description="Only those that failed and have not arrived since")] = False,
) -> list[DeliveryOut]:
    """Your deliveries, newest first: whether each arrived, and what your endpoint answered; a page at a time (the
    `Link` header names the next)."""
    page = webhooks.delivery_page(session, row_id(who.partner_id), failed=failed, cursor=cursor, limit=limit)
    link_next(request, response, page.next_cursor)
    return [delivery_out(d) for d in page.rows]


@router.post(
    "/partners/me/webhook/deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    responses={
        404: {"description": "webhook_delivery_not_found: no delivery of yours has this id"},
        409: {"description": "webhook_delivery_delivered: it has already arrived (your endpoint answered 2xx)"},
    },
)
def retry_delivery(
    delivery_id: Annotated[str, Path(max_length=32)], session: SessionDep, who: PartnerManager
) -> DeliveryOut:
    """Send a delivery again by hand: it is due at once and goes out with the next run of the scheduled job
    (within seconds), even after its last automatic attempt. Same delivery id, fresh signature."""
    return delivery_out(webhooks.retry(session, row_id(who.partner_id), delivery_id))


@router.put("/partners/{partner_id}/villages", response_model=PartnerVillagesOut)
def set_partner_villages(
    partner_id: int, body: PartnerVillagesIn, session: SessionDep, who: Admin
) -> PartnerVillagesOut:
    """The county admin says which villages a partner serves; an empty list: the whole county."""
    villages = offers.set_villages(session, who, partner_id, body.village_ids)
    return PartnerVillagesOut(partner_id=partner_id, village_ids=villages, whole_county=not villages)
