"""Evidence photos over HTTP, for the API's evidence routes and the pages' forms alike: storing an upload (a body
far over the limit refused before it is read) and serving a stored photo so that it is only ever an image."""

from __future__ import annotations

from fastapi import Request, UploadFile
from fastapi.responses import FileResponse
from sqlmodel import Session
from starlette.datastructures import UploadFile as Upload

from ledger.claims import access
from ledger.claims import evidence as photos
from ledger.claims.models import EvidenceFile
from ledger.core.settings import Settings
from ledger.identity.principal import Principal

# A photo is shown as an image and never run as anything else: the browser may not guess another type, and were
# it opened as a document it could load nothing and run nothing.
SERVED_SAFELY = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}


def store(
    request: Request, session: Session, settings: Settings, who: Principal, file: UploadFile, village_id: int | None
) -> EvidenceFile:
    """Store an uploaded photo for `who` (the API's upload and the pages' forms): a body far over the limit is
    refused before it is read; the photo is the household's or, sent by an official, one of their villages'."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > photos.MAX_BYTES + 64 * 1024:
        raise photos.EvidenceTooLarge("A photo is at most 5 MB.", limit=photos.MAX_BYTES)
    return keep(session, settings, who, file, village_id)


def keep(session: Session, settings: Settings, who: Principal, file: Upload, village_id: int | None) -> EvidenceFile:
    """Store an uploaded photo for `who` (as `store`), for a route that takes several at once and has limited
    its whole body itself (api/limits.py)."""
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
