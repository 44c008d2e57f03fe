"""Evidence photos: a villager (or an official, for a deduction or a proxy claim) sends one before claiming; it is
shown only to the household and the officials of its village."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile, status
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlmodel import Session

from api.deps import SessionDep, SettingsDep, allow
from api.routes.catalogue import VillageNotFound
from api.schemas.claims import EvidenceOut
from ledger.claims import evidence as photos
from ledger.claims.models import Claim, ClaimEvidence, Deduction, DeductionEvidence, EvidenceFile
from ledger.errors import Invalid
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.tenancy import Village

router = APIRouter(prefix="/api/v1/evidence", tags=["evidence"])
Uploader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN)]
Viewer = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]


# A photo is shown as an image and never run as anything else: the browser may not guess another type, and were
# it opened as a document it could load nothing and run nothing.
SERVED_SAFELY = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"}


class VillageRequired(Invalid):
    code = "village_required"


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
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > photos.MAX_BYTES + 64 * 1024:
        raise photos.EvidenceTooLarge("A photo is at most 5 MB.", limit=photos.MAX_BYTES)
    if who.role == Role.VILLAGER:
        household_id, village = who.household_id, who.home_village_id
    else:
        household_id, village = None, village_id
        if village_id is None:
            raise VillageRequired("Say which of your villages this photo is for (village_id).", field="village_id")
        row = session.get(Village, village_id)
        if row is None or not who.manages_village(row.id, row.county_id):  # type: ignore[arg-type]
            raise VillageNotFound("No such village among yours.", village_id=village_id)
    assert village is not None
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
    return EvidenceOut(id=saved.id, sha256=saved.sha256)  # type: ignore[arg-type]


def may_see(session: Session, who: Principal, photo: EvidenceFile) -> bool:
    """The household it belongs to (or is used against), and the officials of its village."""
    if who.role in (Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR):
        return who.sees_village(photo.village_id, photo.county_id)
    if who.household_id is None:
        return False
    if photo.household_id == who.household_id:
        return True
    used_against = session.scalar(
        select(Deduction.id)
        .join(DeductionEvidence, DeductionEvidence.deduction_id == Deduction.id)
        .where(DeductionEvidence.evidence_id == photo.id, Deduction.household_id == who.household_id)
        .limit(1)
    )
    used_for = session.scalar(
        select(Claim.id)
        .join(ClaimEvidence, ClaimEvidence.claim_id == Claim.id)
        .where(ClaimEvidence.evidence_id == photo.id, Claim.household_id == who.household_id)
        .limit(1)
    )
    return used_against is not None or used_for is not None


@router.get(
    "/{evidence_id}",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
def download(evidence_id: int, session: SessionDep, settings: SettingsDep, who: Viewer) -> FileResponse:
    photo = session.get(EvidenceFile, evidence_id)
    if photo is None or not may_see(session, who, photo):
        raise photos.EvidenceNotFound("No such photo, or it is not yours to see.", evidence_id=evidence_id)
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


def evidence_links(session: Session, *, claim_id: int | None = None, deduction_id: int | None = None) -> list[str]:
    if claim_id is not None:
        ids = session.scalars(select(ClaimEvidence.evidence_id).where(ClaimEvidence.claim_id == claim_id)).all()
    else:
        ids = session.scalars(
            select(DeductionEvidence.evidence_id).where(DeductionEvidence.deduction_id == deduction_id)
        ).all()
    return [f"/api/v1/evidence/{i}" for i in sorted(ids)]
