"""Evidence photos: at most 5 MB, decoded with Pillow (a JPEG, PNG or WebP by the decoded image, not by its name or
first bytes; at most a set number of pixels, checked before decoding), then encoded afresh from the pixels alone,
turned as the camera meant: no EXIF (so no GPS), XMP, comment or colour profile is kept. What is stored, and
served, is that clean encoding, under its SHA-256 (`<upload dir>/ab/cd/abcd…`), so the same photo is kept once
however often it is sent."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from PIL import Image, ImageOps
from sqlalchemy import event, select
from sqlmodel import Session, col

from ledger.claims import photohash
from ledger.claims.models import EvidenceFile
from ledger.core.errors import NotFound, TooLarge, UnsupportedType

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # the default of SHANZHI_EVIDENCE_MAX_PIXELS: a 40-megapixel camera
CHUNK = 64 * 1024
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


class EvidenceTooLarge(TooLarge):
    code = "evidence_too_large"


class EvidenceType(UnsupportedType):
    code = "evidence_type"


class EvidenceTooManyPixels(TooLarge):
    code = "evidence_too_many_pixels"


class EvidenceNotFound(NotFound):
    code = "evidence_not_found"


class EvidenceDeleted(NotFound):
    code = "evidence_deleted"  # the photo's file was deleted (retention, or its sender erased); the row stays


def clean(source: BinaryIO, *, max_pixels: int) -> tuple[bytes, str]:
    """The photo encoded afresh from its pixels alone, upright, and its type; refuses what is not a JPEG, PNG or
    WebP that decodes, and a picture of more than `max_pixels` pixels before decoding it."""
    not_a_photo = EvidenceType("Only JPEG, PNG or WebP photos are accepted.", field="file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source, formats=list(FORMATS))
            width, height = image.size
            if width * height > max_pixels:
                raise EvidenceTooManyPixels(f"A photo has at most {max_pixels} pixels.", limit=max_pixels)
            image.load()
            upright = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise EvidenceTooManyPixels(f"A photo has at most {max_pixels} pixels.", limit=max_pixels) from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:  # Pillow's ways of saying "not an image"
        raise not_a_photo from error
    kind = str(image.format)
    if upright.mode == "P" or "transparency" in upright.info:
        upright = upright.convert("RGBA")  # a palette's transparency lives in the metadata cleared below
    upright.info.clear()  # EXIF, XMP, comment, ICC profile, text chunks: none is written again
    out = io.BytesIO()
    if kind == "JPEG":
        upright.convert("RGB").save(out, "JPEG", quality=90)
    elif kind == "PNG":
        upright.save(out, "PNG")
    else:
        upright.save(out, "WEBP", quality=90)
    return out.getvalue(), FORMATS[kind]


def path_of(root: Path, sha256: str) -> Path:
    return Path(root) / sha256[:2] / sha256[2:4] / sha256


def read_upload(source: BinaryIO) -> io.BytesIO:
    """The upload, refused past 5 MB (read in chunks, so no more than that is ever held)."""
    data, size = io.BytesIO(), 0
    while chunk := source.read(CHUNK):
        size += len(chunk)
        if size > MAX_BYTES:
            raise EvidenceTooLarge("A photo is at most 5 MB.", limit=MAX_BYTES)
        data.write(chunk)
    data.seek(0)
    return data


def save(
    session: Session,
    source: BinaryIO,
    *,
    root: Path,
    county_id: int,
    village_id: int,
    household_id: int | None,
    actor: str,
    max_pixels: int = MAX_PIXELS,
) -> EvidenceFile:
    """Refuse the upload past 5 MB or when it is not a photo, store its clean encoding, keep it once."""
    root = Path(root)
    incoming = root / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    content, content_type = clean(read_upload(source), max_pixels=max_pixels)
    size, sha256 = len(content), hashlib.sha256(content).hexdigest()
    handle, temp_name = tempfile.mkstemp(dir=incoming)
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(content)
        final = path_of(root, sha256)
        if final.exists():
            os.unlink(temp_name)
        else:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp_name, final)
    except BaseException:
        if os.path.exists(temp_name):
            os.unlink(temp_name)
        raise
    evidence = EvidenceFile(
        sha256=sha256,
        size=size,
        content_type=content_type,
        county_id=county_id,
        village_id=village_id,
        household_id=household_id,
        uploaded_by=actor,
        phash=photohash.of_file(final),
    )
    session.add(evidence)
    session.flush()
    return evidence


def get(session: Session, evidence_id: int) -> EvidenceFile:
    evidence = session.get(EvidenceFile, evidence_id)
    if evidence is None:
        raise EvidenceNotFound("No such photo.", evidence_id=evidence_id)
    return evidence


DOOMED = "shanzhi.evidence.doomed"  # session.info: files to delete once the unit of work has committed


def delete_photos(session: Session, photos: Sequence[EvidenceFile], *, root: Path, now: datetime) -> int:
    """Delete these photos: each row is marked `purged_at` (it stays, so the claims that named a photo still
    say so, and the fraud checks still know its hashes), and each file is deleted once the unit of work has
    committed, unless another row still keeps the same photo (files are kept once per content). A rollback
    deletes nothing. Returns how many rows were marked."""
    return purge_stored(
        session,
        photos,
        sha256=col(EvidenceFile.sha256),
        purged_at=col(EvidenceFile.purged_at),
        file_of=lambda sha256: path_of(root, sha256),
        now=now,
    )


class Stored(Protocol):
    """A row of a file kept once per content: its content's hash, and when it was purged."""

    sha256: str
    purged_at: datetime | None


def purge_stored(
    session: Session,
    rows: Sequence[Stored],
    *,
    sha256: Any,
    purged_at: Any,
    file_of: Callable[[str], Path],
    now: datetime,
) -> int:
    """Mark these rows `purged_at` and delete each content's file once the unit of work has committed, unless
    another row of the same table (`sha256`, `purged_at`: its columns) still keeps that content. Rows purged
    already are left. Returns how many rows were marked."""
    fresh = [row for row in rows if row.purged_at is None]
    if not fresh:
        return 0
    for row in fresh:
        row.purged_at = now
    session.flush()
    contents = {row.sha256 for row in fresh}
    kept = set(session.scalars(select(sha256).where(sha256.in_(contents), purged_at.is_(None))))
    delete_after_commit(session, [file_of(content) for content in sorted(contents - kept)])
    return len(fresh)


def delete_after_commit(session: Session, paths: list[Path]) -> None:
    """Delete these files once the unit of work has committed (a rollback deletes nothing)."""
    if not paths:
        return
    doomed = session.info.setdefault(DOOMED, [])
    if not doomed:
        event.listen(session, "after_commit", _delete_doomed, once=True)
        event.listen(session, "after_rollback", _forget_doomed, once=True)
    doomed.extend(paths)


def _delete_doomed(session: Session) -> None:
    for path in session.info.pop(DOOMED, []):
        path.unlink(missing_ok=True)


def _forget_doomed(session: Session) -> None:
    session.info.pop(DOOMED, None)
