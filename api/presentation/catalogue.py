"""The catalogue as the API shows it."""

from __future__ import annotations

from api.schemas.claims import MatterOut
from ledger.catalogue.models import Matter


def matter_out(matter: Matter) -> MatterOut:
    return MatterOut.model_validate(matter, from_attributes=True)
