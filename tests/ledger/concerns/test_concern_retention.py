"""A concern's photos and voice note are personal data: kept while the concern is open and for the retention
period after it is done, then deleted like claim photos; erasing their sender deletes them at once."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from ledger import retention
from ledger.claims.models import EvidenceFile
from ledger.concerns import service, voice
from ledger.concerns.models import ConcernVoice
from ledger.core.base import utcnow
from ledger.core.db import unit_of_work
from ledger.people import erasure
from tests import factories
from tests.ledger.concerns.conftest import World, make_world

OGG = b"OggS\x00\x02\x00\x00\x00\x00\x00\x00"
DAYS = 90


def _voice(world: World, root: Path, n: int, content: bytes) -> ConcernVoice:
    who = world.villagers[n]
    return voice.save(
        world.session,
        io.BytesIO(OGG + content),
        root=root,
        county_id=world.village.county_id,
        village_id=world.village.village_id,
        actor=who.actor,
    )


def _purge(session: Session, root: Path, days_later: int) -> retention.Purged:
    policy = retention.Retention(evidence_days=DAYS, sign_in_days=7, lookup_days=730, upload_dir=root)
    return retention.purge_due(session, utcnow() + timedelta(days=days_later), policy)


def test_an_open_concerns_photo_and_voice_stay_and_a_closed_ones_go_after_the_retention_period(
    engine: Engine, tmp_path: Path
) -> None:
    root = tmp_path / "uploads"
    with unit_of_work(engine) as session:
        world = make_world(session)
        open_voice, closed_voice = _voice(world, root, 0, b"open"), _voice(world, root, 1, b"closed")
        open_photo, closed_photo = world.photo(world.villagers[0]), world.photo(world.villagers[1])
        still_open = world.report(0, voice_id=open_voice.id, evidence_ids=(open_photo,))
        done = world.resolved(1, lat=30.0, lon=120.0, voice_id=closed_voice.id, evidence_ids=(closed_photo,))
        service.evaluate(session, world.villagers[1], factories.id_of(done), satisfied=True, comment=None)
        assert still_open.status == "submitted" and done.status == "closed"
        voices = {"open": (open_voice.id, open_voice.sha256), "closed": (closed_voice.id, closed_voice.sha256)}

    with unit_of_work(engine) as session:
        assert _purge(session, root, DAYS - 1).voice_notes == 0  # nothing is old enough yet
    with unit_of_work(engine) as session:
        purged = _purge(session, root, DAYS + 1)
        assert purged.voice_notes == 1 and purged.photos == 1
    with Session(engine) as session:
        for name, gone in (("open", False), ("closed", True)):
            row = session.get(ConcernVoice, voices[name][0])
            assert row is not None and (row.purged_at is not None) == gone, name
            assert voice.path_of(root, voices[name][1]).exists() != gone, name  # the file went with the commit
        for photo, gone in ((open_photo, False), (closed_photo, True)):
            shown = session.get(EvidenceFile, photo)
            assert shown is not None and (shown.purged_at is not None) == gone


def test_erasing_the_reporter_deletes_their_voice_notes_at_once(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "uploads"
    with unit_of_work(engine) as session:
        world = make_world(session)
        spoken = _voice(world, root, 0, b"mine")
        world.report(0, voice_id=spoken.id)
        person_id, sha256, spoken_id = world.villagers[0].person_id, spoken.sha256, spoken.id
        assert person_id is not None
    assert voice.path_of(root, sha256).exists()
    with unit_of_work(engine) as session:
        erasure.erase(session, world.admin, person_id, upload_dir=root)
    with Session(engine) as session:
        row = session.get(ConcernVoice, spoken_id)
        assert row is not None and row.purged_at is not None
    assert not voice.path_of(root, sha256).exists()
