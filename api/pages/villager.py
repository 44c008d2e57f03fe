"""The villager's pages (phone first): claim from a scanned QR code, the household, the rating, redeeming."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response

from api.pages.web import VillagerPage
from api.routes import activities, claims, evidence
from api.schemas.claims import ClaimIn

router = APIRouter()


@router.get("/c/{token}")
def claim_page(page: VillagerPage, token: str) -> Response:
    """What scanning an activity's QR code opens: the activity and one button (after signing in if needed)."""
    info = page.call(activities.scanned_code, token=token, keys=page.request.app.state.code_keys)
    return page.render("villager/claim.html", info=info, token=token, key=secrets.token_urlsafe(16))


@router.post("/c/{token}")
def send_claim(page: VillagerPage, token: str, key: Annotated[str, Form(min_length=8, max_length=64)],
               photo: Annotated[UploadFile | None, File()] = None) -> Response:
    """Claim with the photo just taken. The form's key makes a double tap or a resend claim once."""
    photos = []
    if photo is not None and photo.filename:
        saved = page.call(evidence.upload, request=page.request, settings=page.settings, file=photo,
                          village_id=None)
        photos.append(saved.id)
    claim = page.call(claims.claim, body=ClaimIn(token=token, evidence_ids=photos), idempotency_key=f"page:{key}",
                      keys=page.request.app.state.code_keys, response=Response(), device=None)
    return page.render("villager/claimed.html", claim=claim)
