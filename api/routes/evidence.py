"""Evidence photos: a villager (or an official, for a deduction or a proxy claim) sends one before claiming; it is
shown only to the household and the officials of its village."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile, status
from fastapi.responses import FileResponse
from sqlmodel import Session

from api.deps import SessionDep, SettingsDep, allow
from api.schemas.claims import EvidenceOut
from ledger.claims import access
from ledger.claims import evidence as photos
from ledger.claims.models import EvidenceFile
from ledger.core.settings import Settings
from ledger.identity.models import Role
from ledger.identity.principal import Principal

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])
Uploader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN)]
Viewer = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]


# A photo is shown as an image and never run as anything else: the browser may not guess another type, and were
# it opened as a document it could load nothing and run nothing.
SERVED_SAFELY = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}


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


def store(
    request: Request, session: Session, settings: Settings, who: Principal, file: UploadFile, village_id: int | None
) -> EvidenceFile:
    """Store an uploaded photo for `who` (the API's upload and the pages' forms): a body far over the limit is
    refused before it is read; the photo is the household's or, sent by an official, one of their villages'."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > photos.MAX_BYTES + 64 * 1024:
        raise photos.EvidenceTooLarge("A photo is at most 5 MB.", limit=photos.MAX_BYTES)
    household_id, village = access.upload_target(session, who, village_id)
    saved = photos.save(
        session,
        file.file,
        root=settings.upload_dir,
        county_id=who.county_id,
        village_id=village,
        household_id=household_id,
        actor=who.actor,
        max_pixels=settings.evidence_max_pixels,
    )
    return saved


@router.get(
    "/{evidence_id}",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
def download(evidence_id: int, session: SessionDep, settings: SettingsDep, who: Viewer) -> FileResponse:
    return served(settings, access.visible_evidence(session, who, evidence_id))


def served(settings: Settings, photo: EvidenceFile) -> FileResponse:
    """A photo as a file, never cached and never run as anything but an image."""
    extension = photos.EXTENSIONS.get(photo.content_type, "bin")
    return FileResponse(
        photos.path_of(settings.upload_dir, photo.sha256),
        media_type=photo.content_type,
        headers={
            "Cache-Control": "private, no-store",
            **SERVED_SAFELY,
            "Content-Disposition": f'inline; filename="photo-{photo.id}.{extension}"',
        },
    )
