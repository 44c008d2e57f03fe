"""Signals that a claim may not be what it seems. They flag a claim for the reviewing official; they never
refuse it: a shared phone in a family compound or a photo sent twice by mistake is not fraud by itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel import Session

from ledger.activities.models import Activity
from ledger.claims import rules
from ledger.claims.models import Claim, ClaimEvidence, EvidenceFile

SHARED_DEVICE_HOUSEHOLDS = 3  # one device claiming for this many households in a day
BURST_CLAIMS = 5  # one household claiming this often within an hour


_DEVICE_HOUSEHOLDS = select(Claim.household_id).where(Claim.device == bindparam("device"),
                                                     Claim.submitted_at >= bindparam("since"))
_RECENT = select(func.count()).select_from(Claim).where(Claim.household_id == bindparam("household_id"),
                                                        Claim.submitted_at >= bindparam("since"))


def signals(
    session: Session,
    *,
    household_id: int,
    activity: Activity,
    device: str | None,
    lat: float | None,
    lon: float | None,
    photo_hashes: list[str],
    now: datetime,
) -> list[dict[str, Any]]:
    flags: list[dict[str, Any]] = []
    if device:
        households = set(session.scalars(_DEVICE_HOUSEHOLDS, {"device": device,
                                                              "since": now - timedelta(days=1)}).all()) | {household_id}
        if len(households) >= SHARED_DEVICE_HOUSEHOLDS:
            flags.append({"code": "shared_device", "households": len(households),
                          "detail": f"this device claimed for {len(households)} households in a day"})
    recent = session.execute(_RECENT, {"household_id": household_id, "since": now - timedelta(hours=1)}).scalar()
    if (recent or 0) + 1 >= BURST_CLAIMS:
        flags.append({"code": "burst", "claims": (recent or 0) + 1,
                      "detail": f"{(recent or 0) + 1} claims from this household within an hour"})
    if activity.lat is not None and activity.lon is not None and lat is not None and lon is not None:
        distance = rules.distance_m(lat, lon, activity.lat, activity.lon)
        if activity.radius_m is not None and distance > activity.radius_m:
            flags.append({"code": "outside_geofence", "distance_m": round(distance),
                          "detail": f"claimed {round(distance)} m from the activity (allowed {activity.radius_m} m)"})
    if photo_hashes:
        reused = session.scalar(
            select(func.count()).select_from(ClaimEvidence)
            .join(EvidenceFile, EvidenceFile.id == ClaimEvidence.evidence_id)
            .where(EvidenceFile.sha256.in_(photo_hashes))  # type: ignore[attr-defined]
        )
        if reused:
            flags.append({"code": "photo_reused", "claims": reused,
                          "detail": "a photo of this claim was already sent with another claim"})
    return flags
