"""What the county admin's Open311 client routes accept and return. A client's api_key is returned only by the
route that makes it, once; no other response names it (only its SHA-256 is kept)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Moment, Strict

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Open311ClientIn(Strict):
    name: Name = Field(description="Which system this is (an app, a city dashboard), as the county knows it.")


class Open311ClientOut(BaseModel):
    id: int
    name: str
    active: bool
    created_at: Moment
    created_by: str


class Open311ClientCreatedOut(Open311ClientOut):
    api_key: str = Field(
        description="Shown only this once; only its SHA-256 is kept. The client sends it as `api_key` to "
        "/open311/v2/requests.json."
    )
