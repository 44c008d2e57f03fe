"""Voice notes are told apart by their first bytes, never by a name or a claimed type; at most 1 MB; kept once
under their SHA-256 in the photo root's voice/ folder."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import Engine

from ledger.concerns import voice
from ledger.concerns.errors import ConcernVoiceTooLarge, ConcernVoiceType
from ledger.core.db import unit_of_work
from tests import factories

RECORDINGS = {
    "audio/webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm",
    "audio/ogg": b"OggS\x00\x02\x00\x00\x00\x00\x00\x00",
    "audio/amr": b"#!AMR\n\x3c\x00\x00\x00\x00\x00",
    "audio/wav": b"RIFF\x24\x00\x00\x00WAVEfmt ",
    "audio/mp4": b"\x00\x00\x00\x20ftypM4A \x00\x00",
    "audio/mpeg": b"ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00",
}


@pytest.mark.parametrize("kind", sorted(RECORDINGS))
def test_each_kind_is_known_by_its_first_bytes(kind: str) -> None:
    assert voice.sniff(RECORDINGS[kind]) == kind


def test_an_mpeg_frame_without_a_tag_is_mp3_and_reserved_bits_are_not() -> None:
    assert voice.sniff(b"\xff\xfb\x90\x64" + b"\0" * 8) == "audio/mpeg"  # MPEG-1 layer III
    assert voice.sniff(b"\xff\xf1\x50\x80" + b"\0" * 8) is None  # ADTS AAC: layer bits 00
    assert voice.sniff(b"\xff\xeb\x90\x64" + b"\0" * 8) is None  # version "reserved"


@pytest.mark.parametrize(
    "head",
    [b"", b"MZ\x90\x00", b"<html><script>", b"%PDF-1.7", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00AVI "],
)
def test_anything_else_is_not_a_voice_note(head: bytes) -> None:
    assert voice.sniff(head) is None


def test_saved_once_under_its_hash_refused_past_a_megabyte_or_not_audio(engine: Engine, tmp_path: Path) -> None:
    with unit_of_work(engine) as session:
        place = factories.create_village(session)
        kept = [
            voice.save(
                session,
                io.BytesIO(RECORDINGS["audio/ogg"] + b"same"),
                root=tmp_path / "uploads",
                county_id=place.county_id,
                village_id=place.village_id,
                actor="user:1",
            )
            for _ in range(2)
        ]
        assert kept[0].sha256 == kept[1].sha256 and kept[0].content_type == "audio/ogg"
        stored = voice.path_of(tmp_path / "uploads", kept[0].sha256)
        assert stored.read_bytes() == RECORDINGS["audio/ogg"] + b"same"
        assert stored.parent.parent.parent.name == "voice"
        assert [p for p in (tmp_path / "uploads").rglob("*") if p.is_file()] == [stored]
        with pytest.raises(ConcernVoiceTooLarge):
            voice.save(
                session,
                io.BytesIO(b"OggS" + b"\0" * voice.MAX_BYTES),
                root=tmp_path / "uploads",
                county_id=place.county_id,
                village_id=place.village_id,
                actor="user:1",
            )
        with pytest.raises(ConcernVoiceType):
            voice.save(
                session,
                io.BytesIO(b"<svg onload=alert(1)>"),
                root=tmp_path / "uploads",
                county_id=place.county_id,
                village_id=place.village_id,
                actor="user:1",
            )
        assert voice.of_concern(session, 1) is None  # not attached to a concern until a report names it
