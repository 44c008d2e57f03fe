"""What the scheduled work could not do, as auditors and county admins see it."""

from __future__ import annotations

from pydantic import BaseModel

from api.schemas import Moment


class JobFailureOut(BaseModel):
    step: str
    record_kind: str  # "step" when the step failed as a whole
    record_id: str
    county_id: int | None  # None: a whole step, which concerns every county
    error_code: str
    error: str
    first_seen: Moment
    last_seen: Moment
    times: int
    resolved_at: Moment | None  # the item went through at a later run
