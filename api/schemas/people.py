"""The county's places and people as the API takes and shows them (docs/people.md). Members' phones are personal
data: they leave only in a household's detail, for those who may see that household."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Moment, Strict
from api.schemas.claims import PRIVACY_DESCRIPTION

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Relation = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)]
PhoneText = Annotated[
    str,
    StringConstraints(max_length=40),
    Field(description="A mainland mobile number; +86 or 0086, spaces and dashes are taken away. Kept as 11 digits."),
]
Privacy = Literal["full_name", "surname_house", "anonymous"]
Latitude = Annotated[float, Field(ge=-90, le=90, description="WGS-84 degrees")]
Longitude = Annotated[float, Field(ge=-180, le=180, description="WGS-84 degrees")]


class TownshipIn(Strict):
    name: Name
    code: Code | None = Field(default=None, description="Unique across the service; made up when left out.")


class TownshipChangeIn(Strict):
    name: Name


class TownshipOut(BaseModel):
    id: int
    code: str
    name: str


class VillageIn(Strict):
    township_id: int = Field(gt=0)
    name: Name
    code: Code | None = Field(default=None, description="Unique across the service; made up when left out.")
    notice_privacy: Privacy | None = Field(default=None, description=PRIVACY_DESCRIPTION)
    centre_lat: Latitude | None = None
    centre_lon: Longitude | None = None


class VillageChangeIn(Strict):
    """What to change; what is left out stays. The village's officials may set only `notice_privacy`."""

    notice_privacy: Privacy | None = Field(default=None, description=PRIVACY_DESCRIPTION)
    name: Name | None = None
    township_id: int | None = Field(default=None, gt=0)
    centre_lat: Latitude | None = Field(default=None, description="With centre_lon; both null remove the centre.")
    centre_lon: Longitude | None = None


class VillageOut(BaseModel):
    id: int
    code: str
    name: str
    township_id: int
    notice_privacy: str
    centre_lat: float | None
    centre_lon: float | None


class MemberIn(Strict):
    name: Name
    phone: PhoneText | None = None
    relation: Relation | None = Field(default=None, description="与户主关系, e.g. 配偶, 子, 女 (not 户主).")


class HouseholdIn(Strict):
    village_id: int = Field(gt=0)
    code: Code = Field(description="户号: unique in the county")
    house_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    name: Name | None = Field(default=None, description="Defaults to the head's name and 家.")
    head_name: Name
    head_phone: PhoneText | None = None


class HouseholdChangeIn(Strict):
    """What to change; null removes it."""

    house_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class MemberChangeIn(Strict):
    """What to change; `phone: null` removes the phone and with it the member's sign-in."""

    name: Name | None = None
    relation: Relation | None = None
    phone: PhoneText | None = None


class MoveIn(Strict):
    household_id: int = Field(gt=0, description="The household of the county the member moves to.")
    relation: Relation | None = Field(default=None, description="Their relation to the new household's head.")


class HeadIn(Strict):
    person_id: int = Field(gt=0, description="The member who becomes the head.")
    former_head_relation: Relation | None = Field(
        default=None, description="The former head's relation to the new head, e.g. 父 (they stay a member)."
    )


class CloseIn(Strict):
    why: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = Field(
        default=None, description="Why it closes (kept in the change log), e.g. 全家迁出."
    )


class MemberOut(BaseModel):
    person_id: int
    name: str
    relation: str | None
    is_head: bool
    phone: str | None
    signs_in: bool = Field(description="The member has a villager sign-in (a phone, and the account active).")
    erased_at: Moment | None = Field(
        default=None, description="When the county admin erased this person's data (the name is a pseudonym)."
    )


class ErasedOut(BaseModel):
    person_id: int
    household_id: int
    name: str = Field(description="The pseudonym the person's name was replaced by.")
    erased_at: Moment
    photos_deleted: int = Field(description="Photos the person had sent, deleted with their data.")
    sign_in_ended: bool = Field(description="The person's villager sign-in was ended and deactivated.")


class HouseholdSummaryOut(BaseModel):
    id: int
    code: str
    name: str
    village_id: int
    house_number: str | None
    address: str | None
    head_name: str | None
    closed_at: Moment | None


class HouseholdPageOut(BaseModel):
    households: list[HouseholdSummaryOut]
    next_cursor: str | None = Field(description="Pass it as `cursor` for the next page; null on the last.")


class HouseholdDetailOut(HouseholdSummaryOut):
    members: list[MemberOut]


class ClosedOut(HouseholdDetailOut):
    expired_claims: list[int] = Field(description="Claims that were waiting for a decision and expired with it.")
