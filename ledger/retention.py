"""Keeping people's data no longer than it is needed (PIPL art. 19): the scheduled purge of the ledger's records.

- Evidence photos: deleted `evidence_days` after every claim and deduction that uses them is final, and never while
  it can still be questioned: a claim is final once settled, rejected, expired or revoked; the period counts from
  its last decision (settlement, decision or an objection's or appeal's answer) and is at least the county's
  appeal days, and nothing with an open objection or appeal is touched. A photo no record uses is deleted
  `evidence_days` after it was sent. The rows stay, marked deleted (`ledger/claims/evidence.py: delete_photos`).
- Sign-in records, `sign_in_days` after they stopped mattering: one-time codes after they expired, browser
  sessions after they ended or expired, failed sign-in counts after their window passed and any lock ended, and
  request counts (`rate_window`: codes asked for per phone, texts per phone a day) after their window began.

Each kind is purged in batches of `BATCH` rows, so a first run on a large county holds no lock for long; a second
run finds nothing left to do. `now` says what is due, as for every scheduled step. The bank access log is above
this layer, in `scoring/retention.py`, which runs this purge and its own as one step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, delete, exists, func, or_, select
from sqlmodel import Session, col

from ledger.claims import evidence
from ledger.claims.models import (
    Claim,
    ClaimEvidence,
    ClaimStatus,
    Deduction,
    DeductionEvidence,
    Dispute,
    DisputeStatus,
    EvidenceFile,
)
from ledger.concerns import voice
from ledger.concerns.models import DONE_STATUSES, Concern, ConcernPhoto, ConcernVoice
from ledger.core.ratelimit import RateWindow
from ledger.identity.models import OtpChallenge, SignInThrottle, WebSession
from ledger.tenancy import County

STEP = "purge"
BATCH = 500
FINAL = (ClaimStatus.SETTLED, ClaimStatus.REJECTED, ClaimStatus.EXPIRED, ClaimStatus.REVOKED)


@dataclass(frozen=True)
class Retention:
    evidence_days: int  # photos, after what used them is final
    sign_in_days: int  # one-time codes, sessions, sign-in and request counts, after they stopped mattering
    lookup_days: int  # the bank access log (scoring/retention.py)
    upload_dir: Path
    lock_window_seconds: int = 24 * 3600  # failed sign-ins of an account count this long (account_lock_window)

    @classmethod
    def from_settings(cls, settings: Any) -> Retention:
        return cls(
            evidence_days=settings.evidence_retention_days,
            sign_in_days=settings.sign_in_records_retention_days,
            lookup_days=settings.credit_lookup_retention_days,
            upload_dir=Path(settings.upload_dir),
            lock_window_seconds=settings.account_lock_window_seconds,
        )


@dataclass
class Purged:
    photos: int = 0
    codes: int = 0
    sessions: int = 0
    throttles: int = 0
    rate_windows: int = 0
    lookups: int = 0
    voice_notes: int = 0

    @property
    def total(self) -> int:
        return (
            self.photos
            + self.voice_notes
            + self.codes
            + self.sessions
            + self.throttles
            + self.rate_windows
            + self.lookups
        )


def purge_due(session: Session, now: datetime, policy: Retention) -> Purged:
    """Delete what is past its retention period as of `now`."""
    purged = Purged()
    for county_id, appeal_days in session.execute(select(col(County.id), col(County.appeal_days))).all():
        cutoff = now - timedelta(days=max(policy.evidence_days, appeal_days))
        purged.photos += _photos(session, county_id, cutoff, policy.upload_dir, now)
        purged.voice_notes += _voice_notes(session, county_id, cutoff, policy.upload_dir, now)
    signed = now - timedelta(days=policy.sign_in_days)
    counted = min(signed, now - timedelta(seconds=policy.lock_window_seconds))
    purged.codes = _in_batches(session, OtpChallenge, col(OtpChallenge.id), col(OtpChallenge.expires_at) < signed)
    purged.sessions = _in_batches(
        session,
        WebSession,
        col(WebSession.key_hash),
        or_(col(WebSession.expires_at) < signed, col(WebSession.ended_at) < signed),
    )
    purged.throttles = _in_batches(
        session,
        SignInThrottle,
        col(SignInThrottle.key),
        and_(
            col(SignInThrottle.window_started_at) < counted,
            or_(col(SignInThrottle.blocked_until).is_(None), col(SignInThrottle.blocked_until) < signed),
        ),
    )
    purged.rate_windows = _in_batches(session, RateWindow, col(RateWindow.key), col(RateWindow.started_at) < signed)
    return purged


def _in_batches(session: Session, model: Any, key: Any, due: Any) -> int:
    """Delete the rows of `model` that are `due`, `BATCH` at a time (by their key), and say how many."""
    total = 0
    while True:
        keys = list(session.scalars(select(key).where(due).limit(BATCH)))
        if not keys:
            return total
        session.execute(delete(model).where(key.in_(keys)))
        total += len(keys)
        if len(keys) < BATCH:
            return total


def _photos(session: Session, county_id: int, cutoff: datetime, root: Path, now: datetime) -> int:
    """The county's photos whose records are all final since before `cutoff`, with nothing still disputed."""

    def disputed_since(*, claim: Any = None, deduction: Any = None) -> Any:
        target = col(Dispute.claim_id) == claim if claim is not None else col(Dispute.deduction_id) == deduction
        return exists().where(
            target, or_(col(Dispute.status) == DisputeStatus.OPEN, col(Dispute.resolved_at) >= cutoff)
        )

    claim_in_use = exists().where(
        col(ClaimEvidence.evidence_id) == col(EvidenceFile.id),
        col(Claim.id) == col(ClaimEvidence.claim_id),
        or_(
            col(Claim.status).not_in([s.value for s in FINAL]),
            col(Claim.submitted_at) >= cutoff,
            col(Claim.decided_at) >= cutoff,
            col(Claim.settled_at) >= cutoff,
            disputed_since(claim=col(Claim.id)),
        ),
    )
    deduction_in_use = exists().where(
        col(DeductionEvidence.evidence_id) == col(EvidenceFile.id),
        col(Deduction.id) == col(DeductionEvidence.deduction_id),
        or_(
            col(Deduction.recorded_at) >= cutoff,
            col(Deduction.revoked_at) >= cutoff,
            disputed_since(deduction=col(Deduction.id)),
        ),
    )
    concern_in_use = exists().where(
        col(ConcernPhoto.evidence_id) == col(EvidenceFile.id),
        _concern_in_use(col(ConcernPhoto.concern_id), cutoff),
    )
    due = select(EvidenceFile).where(
        col(EvidenceFile.county_id) == county_id,
        col(EvidenceFile.purged_at).is_(None),
        col(EvidenceFile.created_at) < cutoff,
        ~claim_in_use,
        ~deduction_in_use,
        ~concern_in_use,
    )
    return _files_in_batches(
        session,
        due.order_by(col(EvidenceFile.id)),
        lambda photos: evidence.delete_photos(session, photos, root=root, now=now),
    )


def _concern_in_use(concern_id: Any, cutoff: datetime) -> Any:
    """A concern not done (closed or merged), or closed since `cutoff` (a merged one: reported since): its photos
    and voice note are kept."""
    return exists().where(
        col(Concern.id) == concern_id,
        or_(
            col(Concern.status).not_in([s.value for s in DONE_STATUSES]),
            func.coalesce(col(Concern.closed_at), col(Concern.created_at)) >= cutoff,
        ),
    )


def _voice_notes(session: Session, county_id: int, cutoff: datetime, root: Path, now: datetime) -> int:
    """The county's voice notes older than `cutoff` whose concern is done since before it (or that never went with
    a concern)."""
    due = select(ConcernVoice).where(
        col(ConcernVoice.county_id) == county_id,
        col(ConcernVoice.purged_at).is_(None),
        col(ConcernVoice.created_at) < cutoff,
        ~_concern_in_use(col(ConcernVoice.concern_id), cutoff),
    )
    return _files_in_batches(
        session,
        due.order_by(col(ConcernVoice.id)),
        lambda notes: voice.delete_voices(session, notes, root=root, now=now),
    )


def _files_in_batches(session: Session, due: Select[Any], purge: Callable[[list[Any]], int]) -> int:
    """Purge the rows `due` selects (in a steady order), BATCH at a time, until fewer than BATCH are left; each batch
    is marked purged, so the next read starts after it. Returns how many were purged."""
    total = 0
    while True:
        rows = list(session.scalars(due.limit(BATCH)))
        total += purge(rows)
        if len(rows) < BATCH:
            return total
