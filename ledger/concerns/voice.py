"""Voice notes of concerns: a short audio upload (at most 1 MiB) told apart by its first bytes, never by its name or
the type its sender claims; stored under its SHA-256 in the photo root's `voice/` folder
(`<upload dir>/voice/ab/cd/abcd…`), so the same recording is kept once however often it is sent.

A note is uploaded with its report (ledger/concerns/service.py attaches it: `concern_id` is set then); it is served
only to whoever may see that concern (api/routes/concerns.py asks ledger/concerns/access.py first)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlmodel import Session, col

from ledger.claims import evidence
from ledger.concerns.errors import ConcernVoiceTooLarge, ConcernVoiceType
from ledger.concerns.models import ConcernVoice
from ledger.core.errors import NotFound

MAX_BYTES = 1024 * 1024
CHUNK = 64 * 1024
EXTENSIONS = {
    "audio/webm": "webm",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/wav": "wav",
    "audio/amr": "amr",
}


class ConcernVoiceNotFound(NotFound):
    code = "concern_voice_not_found"  # the concern has no voice note (or its file was purged)


def sniff(head: bytes) -> str | None:
    """The audio type of a recording by its first bytes (at least 12), or None when it is none of the six."""
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: WebM (what browsers' MediaRecorder writes)
        return "audio/webm"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"#!AMR"):  # "#!AMR\n" and "#!AMR-WB\n"
        return "audio/amr"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":  # an ISO media file: AAC in MP4 (what iPhones record)
        return "audio/mp4"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    # an MPEG audio frame: eleven sync bits, then a version other than "reserved" and a layer other than "reserved"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x18 != 0x08 and head[1] & 0x06:
        return "audio/mpeg"
    return None


def read_upload(source: BinaryIO) -> bytes:
    """The upload, refused past 1 MiB (read in chunks, so no more than that is ever held)."""
    parts, size = [], 0
    while chunk := source.read(CHUNK):
        size += len(chunk)
        if size > MAX_BYTES:
            raise ConcernVoiceTooLarge("A voice note is at most 1 MB.", limit=MAX_BYTES, field="voice")
        parts.append(chunk)
    return b"".join(parts)


def path_of(root: Path, sha256: str) -> Path:
    return Path(root) / "voice" / sha256[:2] / sha256[2:4] / sha256


def save(
    session: Session, source: BinaryIO, *, root: Path, county_id: int, village_id: int | None, actor: str
) -> ConcernVoice:
    """Refuse the upload past 1 MiB or when it is not one of the six audio types, store it, write its row (not yet
    attached to a concern)."""
    content = read_upload(source)
    content_type = sniff(content[:16])
    if content_type is None:
        raise ConcernVoiceType(
            "A voice note is a WebM, Ogg, MP3, MP4 (M4A), WAV or AMR recording.",
            field="voice",
            accepted=sorted(EXTENSIONS),
        )
    sha256 = hashlib.sha256(content).hexdigest()
    final = path_of(root, sha256)
    if not final.exists():
        incoming = Path(root) / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(dir=incoming)
        try:
            with os.fdopen(handle, "wb") as temp:
                temp.write(content)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp_name, final)
        except BaseException:
            if os.path.exists(temp_name):
                os.unlink(temp_name)
            raise
    note = ConcernVoice(
        county_id=county_id,
        village_id=village_id,
        sha256=sha256,
        size=len(content),
        content_type=content_type,
        uploaded_by=actor,
    )
    session.add(note)
    session.flush()
    return note


def delete_voices(session: Session, voices: Sequence[ConcernVoice], *, root: Path, now: datetime) -> int:
    """Delete these voice notes as evidence.delete_photos deletes photos: each row is marked `purged_at` (it stays,
    so the concern still says a voice note was there) and each file goes once the unit of work has committed,
    unless another row still keeps the same recording. Returns how many rows were marked."""
    return evidence.purge_stored(
        session,
        voices,
        sha256=col(ConcernVoice.sha256),
        purged_at=col(ConcernVoice.purged_at),
        file_of=lambda sha256: path_of(root, sha256),
        now=now,
    )


def of_concern(session: Session, concern_id: int) -> ConcernVoice | None:
    """The concern's voice note still kept (the latest, should there be more), or None."""
    return session.scalars(
        select(ConcernVoice)
        .where(col(ConcernVoice.concern_id) == concern_id, col(ConcernVoice.purged_at).is_(None))
        .order_by(col(ConcernVoice.id).desc())
        .limit(1)
    ).first()


def kept(session: Session, concern_id: int) -> ConcernVoice:
    """The concern's voice note, or 404 `concern_voice_not_found`."""
    note = of_concern(session, concern_id)
    if note is None:
        raise ConcernVoiceNotFound("This concern has no voice note.", concern_id=concern_id)
    return note
