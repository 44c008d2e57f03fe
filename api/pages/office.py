"""The officials' pages (desk first): review queue, activities and QR posters, households, disputes, dashboard."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
