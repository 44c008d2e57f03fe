"""Signals that a claim may not be what it seems. They flag a claim for the reviewing official; they never
refuse it: a shared phone in a family compound or a photo sent twice by mistake is not fraud by itself. A claim
with any flag is never approved automatically (ledger/claims/service.py).

For a live rotating code, what the claim cannot show is a flag too: no device id (`no_device`), no location
(`no_location`), an activity without a geofence to check the location against (`no_geofence`), and another
household having claimed from the same device with the same code (`device_other_household`). So a code
forwarded to a neighbour is approved at once only if the neighbour's phone reports a place inside the geofence.

What a device id is worth: it is what the client says (the pages' long-lived random `sz_device` cookie, an app's
`X-Device-Id` header). An honest phone keeps it, so one phone claiming for several households shows; a cheat can
send a new one with every claim, which hides the shared phone but never earns an automatic approval it would not
otherwise get (a missing one sends the claim to review). The location is what the browser reports: spoofing it
takes deliberate effort, and the reviewer sees the distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel import Session, col

from ledger.activities.models import Activity
from ledger.claims import photohash, rules
from ledger.claims.models import Claim, ClaimEvidence, EvidenceFile

SHARED_DEVICE_HOUSEHOLDS = 3  # one device claiming for this many households in a day
BURST_CLAIMS = 5  # one household claiming this often within an hour
STEPS_ACCEPTED = 1  # a rotating code is taken during its step and the one before or after (service._check_code)


_DEVICE_HOUSEHOLDS = select(col(Claim.household_id)).where(
    col(Claim.device) == bindparam("device"), col(Claim.submitted_at) >= bindparam("since")
)
_RECENT = (
    select(func.count())
    .select_from(Claim)
    .where(col(Claim.household_id) == bindparam("household_id"), col(Claim.submitted_at) >= bindparam("since"))
)
_SAME_CODE = select(col(Claim.household_id)).where(
    col(Claim.device) == bindparam("device"),
    col(Claim.activity_id) == bindparam("activity_id"),
    col(Claim.code_step).between(bindparam("first"), bindparam("last")),
)
# photos of the county already sent with a claim
_SENT = (
    select(col(ClaimEvidence.claim_id), col(EvidenceFile.sha256), col(EvidenceFile.phash))
    .join(EvidenceFile, col(EvidenceFile.id) == col(ClaimEvidence.evidence_id))
    .where(col(EvidenceFile.county_id) == bindparam("county_id"))
)


def signals(
    session: Session,
    *,
    household_id: int,
    activity: Activity,
    device: str | None,
    lat: float | None,
    lon: float | None,
    photos: Sequence[EvidenceFile],
    code_step: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """The flags of a claim about to be made. `code_step`: the step of the live rotating code it was made with."""
    flags: list[dict[str, Any]] = []
    conn = session.connection()  # Core reads: the claim they judge is not written yet, so nothing to autoflush
    if device:
        households = set(
            conn.scalars(_DEVICE_HOUSEHOLDS, {"device": device, "since": now - timedelta(days=1)}).all()
        ) | {household_id}
        if len(households) >= SHARED_DEVICE_HOUSEHOLDS:
            flags.append(
                {
                    "code": "shared_device",
                    "households": len(households),
                    "detail": f"this device claimed for {len(households)} households in a day",
                }
            )
    recent = conn.execute(_RECENT, {"household_id": household_id, "since": now - timedelta(hours=1)}).scalar()
    if (recent or 0) + 1 >= BURST_CLAIMS:
        flags.append(
            {
                "code": "burst",
                "claims": (recent or 0) + 1,
                "detail": f"{(recent or 0) + 1} claims from this household within an hour",
            }
        )
    if activity.lat is not None and activity.lon is not None and lat is not None and lon is not None:
        distance = rules.distance_m(lat, lon, activity.lat, activity.lon)
        if activity.radius_m is not None and distance > activity.radius_m:
            flags.append(
                {
                    "code": "outside_geofence",
                    "distance_m": round(distance),
                    "detail": f"claimed {round(distance)} m from the activity (allowed {activity.radius_m} m)",
                }
            )
    if photos:
        reused = _photo_reused(session, activity.county_id, photos)
        if reused:
            flags.append(
                {
                    "code": "photo_reused",
                    "claims": reused,
                    "detail": "a photo of this claim was already sent with another claim",
                }
            )
    if code_step is not None:
        flags += _live_code(
            session, household_id=household_id, activity=activity, device=device, lat=lat, code_step=code_step
        )
    return flags


def _photo_reused(session: Session, county_id: int, photos: Sequence[EvidenceFile]) -> int:
    """How many claims of the county already carry one of these photos: the same bytes, or the same picture
    re-saved (perceptual hashes within photohash.MAX_DISTANCE)."""
    digests = {p.sha256 for p in photos}
    hashes = [p.phash for p in photos if p.phash]
    claims = set()
    for claim_id, sha256, phash in session.execute(_SENT, {"county_id": county_id}):
        if sha256 in digests or (phash and any(photohash.distance(phash, h) <= photohash.MAX_DISTANCE for h in hashes)):
            claims.add(claim_id)
    return len(claims)


def _live_code(
    session: Session, *, household_id: int, activity: Activity, device: str | None, lat: float | None, code_step: int
) -> list[dict[str, Any]]:
    """What keeps a claim with a live rotating code from being approved at once."""
    flags: list[dict[str, Any]] = []
    if device is None:
        flags.append({"code": "no_device", "detail": "the claim named no device"})
    else:
        others = set(
            session.connection()
            .scalars(
                _SAME_CODE,
                {
                    "device": device,
                    "activity_id": activity.id,
                    "first": code_step - STEPS_ACCEPTED,
                    "last": code_step + STEPS_ACCEPTED,
                },
            )
            .all()
        ) - {household_id}
        if others:
            flags.append(
                {
                    "code": "device_other_household",
                    "households": len(others) + 1,
                    "detail": "another household claimed from this device with the same live code",
                }
            )
    if activity.lat is None or activity.radius_m is None:
        flags.append({"code": "no_geofence", "detail": "the activity has no geofence to check the location"})
    elif lat is None:
        flags.append({"code": "no_location", "detail": "the claim gave no location"})
    return flags
