"""What the partner's own routes accept and return. The webhook secret is returned only by the two routes that
make one; no other response names it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas import Moment, Strict


class PartnerMeOut(BaseModel):
    id: int
    kind: str
    code: str
    name: str
    webhook_url: str | None


class WebhookIn(Strict):
    url: str = Field(description="Where to POST your events: an http:// or https:// URL, at most 500 characters.")


class WebhookOut(BaseModel):
    webhook_url: str | None
    secret: str | None = Field(
        description="The signing secret, shown only when it is made: when a URL is set for "
        "the first time, and on rotation. Otherwise null: keep the one you have."
    )


class RotatedOut(WebhookOut):
    previous_secret_valid_until: Moment | None = Field(
        description="Until when the secret this one replaced still signs, beside it (null if there was none)."
    )


class DeliveryOut(BaseModel):
    id: str = Field(description="The delivery id, also sent as the Shanzhi-Delivery header.")
    event: str
    created_at: Moment
    attempts: int
    next_attempt_at: Moment | None = Field(
        description="When it is tried next; null once delivered, or after its last attempt."
    )
    delivered_at: Moment | None
    last_status: int | None = Field(description="The HTTP status of your last answer; null if there was none.")
    last_error: str | None


class PartnerVillagesIn(Strict):
    village_ids: list[int] = Field(max_length=1000, description="None: the partner serves the whole county")


class PartnerVillagesOut(BaseModel):
    partner_id: int
    village_ids: list[int]
    whole_county: bool
