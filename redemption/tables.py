"""Imports every table of the redemption package so that SQLModel.metadata is complete (Alembic reads it)."""

from redemption.models import (
    HealthSlot,
    LoanApplication,
    LoanApplicationEvent,
    Offer,
    OfferVillage,
    Voucher,
    VoucherEvent,
    WebhookDelivery,
)

__all__ = [
    "HealthSlot",
    "LoanApplication",
    "LoanApplicationEvent",
    "Offer",
    "OfferVillage",
    "Voucher",
    "VoucherEvent",
    "WebhookDelivery",
]
