"""Evidence photos: a villager (or an official, for a deduction or a proxy claim) sends one before claiming; it is
shown only to the household and the officials of its village."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile, status
from fastapi.responses import FileResponse

from api.deps import SessionDep, SettingsDep, allow
from api.photos import served, store
from api.schemas.claims import EvidenceOut
from ledger.claims import access
from ledger.identity.models import Role
from ledger.identity.principal import Principal

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])
Uploader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN)]
Viewer = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]


@router.post(
    "",
    response_model=EvidenceOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        413: {
            "description": "evidence_too_large: larger than 5 MB; evidence_too_many_pixels: more "
            "pixels than SHANZHI_EVIDENCE_MAX_PIXELS"
        },
        415: {"description": "Not a JPEG, PNG or WebP that decodes"},
    },
)
def upload(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    who: Uploader,
    file: Annotated[UploadFile, File(description="A JPEG, PNG or WebP photo of at most 5 MB.")],
    village_id: int | None = None,
) -> EvidenceOut:
    """Store a photo. A villager's photo belongs to their household; an official names the village."""
    saved = store(request, session, settings, who, file, village_id)
    return EvidenceOut(id=saved.id, sha256=saved.sha256)


@router.get(
    "/{evidence_id}",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
def download(evidence_id: int, session: SessionDep, settings: SettingsDep, who: Viewer) -> FileResponse:
    return served(settings, access.visible_evidence(session, who, evidence_id))
