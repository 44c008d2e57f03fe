"""What the county admin's partner routes accept and return. A client's secret and a sign-in's first password are
returned only by the route that makes them, once; no other response names them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Moment, Strict

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class PartnerIn(Strict):
    kind: Literal["bank", "merchant", "clinic"]
    code: str = Field(
        min_length=2, max_length=32, description="Lowercase letters, digits, - or _, starting with a letter; unique."
    )
    name: Name


class ClientOut(BaseModel):
    client_id: str
    scopes: list[str]
    active: bool
    created_at: Moment


class PartnerStaffOut(BaseModel):
    user_id: int
    username: str | None
    display_name: str
    active: bool
    must_change_password: bool


class PartnerOut(BaseModel):
    id: int
    kind: str
    code: str
    name: str
    village_ids: list[int] = Field(description="The villages it serves; empty: the whole county.")
    clients: list[ClientOut]
    staff: list[PartnerStaffOut]


class ClientIn(Strict):
    client_id: str | None = Field(
        default=None, max_length=64, description="Defaults to the partner's code and a random suffix."
    )
    scopes: list[str] | None = Field(
        default=None, max_length=20, description="Defaults to every scope the partner's kind may hold."
    )


class ClientCreatedOut(ClientOut):
    client_secret: str = Field(description="Shown only this once; only its hash is kept.")


class PartnerStaffIn(Strict):
    username: str = Field(min_length=3, max_length=64)
    display_name: str | None = Field(default=None, max_length=100)


class PartnerStaffCreatedOut(PartnerStaffOut):
    password: str = Field(description="The first password, shown only this once; changed at first sign-in.")
