"""Evidence photos: checked by their content (JPEG, PNG or WebP), at most 5 MB, stored under their SHA-256
(`<upload dir>/ab/cd/abcd…`), so the same photo is kept once however often it is sent."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from sqlmodel import Session

from ledger.claims import photohash
from ledger.claims.models import EvidenceFile
from ledger.errors import NotFound, TooLarge, UnsupportedType

MAX_BYTES = 5 * 1024 * 1024
CHUNK = 64 * 1024


class EvidenceTooLarge(TooLarge):
    code = "evidence_too_large"


class EvidenceType(UnsupportedType):
    code = "evidence_type"


class EvidenceNotFound(NotFound):
    code = "evidence_not_found"


def sniff(head: bytes) -> str | None:
    """The image type by its first bytes, whatever the file is called or claims to be."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def path_of(root: Path, sha256: str) -> Path:
    return Path(root) / sha256[:2] / sha256[2:4] / sha256


def save(session: Session, source: BinaryIO, *, root: Path, county_id: int, village_id: int,
         household_id: int | None, actor: str) -> EvidenceFile:
    """Copy the upload while hashing it, refuse it past 5 MB or when it is not a photo, keep it once."""
    root = Path(root)
    incoming = root / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    digest, size, head = hashlib.sha256(), 0, b""
    handle, temp_name = tempfile.mkstemp(dir=incoming)
    try:
        with os.fdopen(handle, "wb") as temp:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise EvidenceTooLarge("A photo is at most 5 MB.", limit=MAX_BYTES)
                if len(head) < 16:
                    head += chunk[: 16 - len(head)]
                digest.update(chunk)
                temp.write(chunk)
        content_type = sniff(head)
        if content_type is None:
            raise EvidenceType("Only JPEG, PNG or WebP photos are accepted.", field="file")
        sha256 = digest.hexdigest()
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
    evidence = EvidenceFile(sha256=sha256, size=size, content_type=content_type, county_id=county_id,
                            village_id=village_id, household_id=household_id, uploaded_by=actor,
                            phash=photohash.of_file(final))
    session.add(evidence)
    session.flush()
    return evidence


def get(session: Session, evidence_id: int) -> EvidenceFile:
    evidence = session.get(EvidenceFile, evidence_id)
    if evidence is None:
        raise EvidenceNotFound("No such photo.", evidence_id=evidence_id)
    return evidence
