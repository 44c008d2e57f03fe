"""The partners' pages: a merchant's or clinic's till (redeem screen, bookings, settlement) and a bank's inbox."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
