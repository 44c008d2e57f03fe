"""What the claim, activity, catalogue and notice routes accept and return (allow-lists, like every schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Moment, Strict

Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_]{1,47}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Cap = Annotated[int, Field(ge=1, le=1000)]
EvidenceIds = Annotated[list[Annotated[int, Field(gt=0)]], Field(max_length=3)]


class MatterIn(Strict):
    code: Code
    village_id: int | None = Field(default=None, gt=0, description="Set for a village's own item.")
    name_zh: Name
    name_en: Name
    category: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    points: int = Field(ge=-1000, le=1000, description="Positive for good conduct, negative for a deduction.")
    evidence: Literal["none", "photo", "witness"] = "none"
    review: Literal["official", "auto"] = "official"
    cap_day: Cap | None = None
    cap_week: Cap | None = None
    cap_month: Cap | None = None
    cap_year: Cap | None = None
    valid_from: Moment | None = None
    valid_to: Moment | None = None
    active: bool = True


class MatterEdit(Strict):
    """Only the fields to change; the edit becomes a new version."""

    name_zh: Name | None = None
    name_en: Name | None = None
    category: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] | None = None
    points: int | None = Field(default=None, ge=-1000, le=1000)
    evidence: Literal["none", "photo", "witness"] | None = None
    review: Literal["official", "auto"] | None = None
    cap_day: Cap | None = None
    cap_week: Cap | None = None
    cap_month: Cap | None = None
    cap_year: Cap | None = None
    valid_from: Moment | None = None
    valid_to: Moment | None = None
    active: bool | None = None


class MatterOut(BaseModel):
    id: int
    code: str
    version: int
    village_id: int | None
    name_zh: str
    name_en: str
    category: str
    points: int
    evidence: str
    review: str
    cap_day: int | None
    cap_week: int | None
    cap_month: int | None
    cap_year: int | None
    valid_from: Moment | None
    valid_to: Moment | None
    active: bool
    created_at: Moment


class ActivityIn(Strict):
    village_id: int = Field(gt=0)
    matter_code: Code
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    place: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    starts_at: Moment
    ends_at: Moment
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    radius_m: int | None = Field(default=None, ge=10, le=50_000)
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    period: Literal["once", "day", "week", "month"] = "once"
    rotating: bool = False


class _ActivityFields(BaseModel):
    id: int
    village_id: int
    matter: MatterOut
    title: str
    place: str
    starts_at: Moment
    ends_at: Moment
    capacity: int | None
    period: str
    rotating: bool  # its code is shown live on an official's screen, not printed
    active: bool


class ActivityOut(_ActivityFields):
    """An activity as the officials who run it see it: with its geofence and what its printed QR code says."""

    lat: float | None
    lon: float | None
    radius_m: int | None
    claim_url: str | None = Field(description="What the printed QR code encodes (none for a rotating code).")


class VillageActivityOut(_ActivityFields):
    """An activity as a villager sees it: what, where and when. No code, token or URL (a standing code claimed
    from a list could be forwarded to anyone) and no geofence."""


class LiveCodeOut(BaseModel):
    url: str
    token: str
    step: int
    expires_in: float
    svg: str


class ClaimCheckOut(BaseModel):
    """A claim with this code would be taken now (a refusal is answered as the claim's own error)."""

    may_claim: bool


class CodeInfoOut(BaseModel):
    """What a scanned code is about, before claiming."""

    activity_id: int
    title: str
    place: str
    village: str
    matter_zh: str
    matter_en: str
    points: int
    starts_at: Moment
    ends_at: Moment
    evidence: str
    rotating: bool = False  # shown live by an official: a claim needs the code of the moment, or a scan ticket
    geofence: bool = False  # a claim's location is checked against the activity's place
    scan_ticket: str | None = Field(
        default=None,
        description="For a live rotating code and a caller that sent X-Device-Id: send it with the "
        "claim (`scan_ticket`) to claim within 10 minutes although the code has changed.",
    )
    claim_with: str = "POST /api/v1/claims with this token"


class EvidenceOut(BaseModel):
    id: int
    sha256: str


class ClaimIn(Strict):
    token: Annotated[str, StringConstraints(min_length=8, max_length=96)]
    evidence_ids: EvidenceIds = []
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    scan_ticket: Annotated[str, StringConstraints(min_length=8, max_length=96)] | None = Field(
        default=None,
        description="The scan ticket opening a live rotating code gave this device: with it, the "
        "code counts at the time it was scanned (for 10 minutes, once, with the same "
        "X-Device-Id).",
    )


class ProxyClaimIn(Strict):
    activity_id: int = Field(gt=0)
    household_id: int | None = Field(default=None, gt=0)
    household_card: Annotated[str, StringConstraints(min_length=8, max_length=300)] | None = Field(
        default=None, description="What scanning the household card's QR code gave (its URL, or the token)."
    )
    person_id: int | None = Field(default=None, gt=0)
    evidence_ids: EvidenceIds = []
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class AwardIn(Strict):
    """An official's award: a matter of the catalogue, for a household of their village, saying why."""

    household_id: int = Field(gt=0)
    matter_code: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    reason: Text
    person_id: int | None = Field(default=None, gt=0)
    evidence_ids: EvidenceIds = []
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class ClaimOut(BaseModel):
    id: int
    household_id: int
    village_id: int
    activity_id: int | None = Field(description="None for an official's award.")
    award_reason: str | None = Field(default=None, description="An official's award: why it was given.")
    matter_code: str
    matter_zh: str
    matter_en: str
    points: int
    status: str
    proxy: bool
    submitted_at: Moment
    decided_at: Moment | None
    reject_reason: str | None
    appeal_until: Moment | None = Field(default=None, description="A rejected claim: until when it may be appealed.")
    notice_until: Moment | None
    settled_at: Moment | None
    evidence: list[str] = Field(description="Links to the claim's photos.")
    replayed: bool = False


class ClaimReviewOut(ClaimOut):
    """A claim as the reviewing official sees it."""

    entered_by: str
    decided_by: str | None
    age_hours: float
    overdue: bool
    escalated_at: Moment | None = Field(
        default=None,
        description="When the claim, not decided within the county's overdue hours, was sent up to the township"
        " supervisor's queue.",
    )
    flags: list[dict[str, Any]]
    note: str | None


class RejectIn(Strict):
    reason: Text


class BulkApproveIn(Strict):
    claim_ids: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=1, max_length=200)]


class BulkApproveOut(BaseModel):
    outcomes: dict[str, str] = Field(description='Per claim: "approved", or the code of why it was not.')
    replayed: bool = False


class DeductionIn(Strict):
    household_id: int = Field(gt=0)
    matter_code: Code
    reason: Text
    evidence_ids: EvidenceIds = []


class DeductionOut(BaseModel):
    id: int
    household_id: int
    village_id: int
    matter_code: str
    points: int
    posted: int = Field(description="Taken from the spendable balance.")
    unpaid: int = Field(description="What the balance could not cover: recorded, not collected.")
    reason: str
    status: str
    recorded_at: Moment
    appeal_until: Moment | None = Field(default=None, description="Until when the household may appeal it.")
    evidence: list[str]
    replayed: bool = False


class ObjectionIn(Strict):
    reason: Text


class AppealIn(Strict):
    claim_id: int | None = Field(default=None, gt=0)
    deduction_id: int | None = Field(default=None, gt=0)
    reason: Text


class ResolveDisputeIn(Strict):
    outcome: Literal["upheld", "dismissed"]
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class DisputeOut(BaseModel):
    id: int
    kind: str
    household_id: int | None = Field(
        description="The household whose entry it is; not shown to a villager who "
        "objected to another household's entry."
    )
    claim_id: int | None
    deduction_id: int | None
    reason: str
    status: str
    opened_at: Moment
    resolved_at: Moment | None
    resolution_note: str | None
    replayed: bool = False


class NoticeEntryOut(BaseModel):
    kind: Literal["claim", "deduction"]
    id: int
    name: str = Field(
        description="A claim: the household as the village's notice_privacy names it. A deduction: never the "
        "household, always 一户村民 (a household)."
    )
    named: bool = Field(description="False where the board does not name the household (一户村民).")
    matter_code: str
    matter_zh: str
    matter_en: str
    points: int
    decided_at: Moment
    notice_until: Moment
    disputed: bool


class NoticeBoardOut(BaseModel):
    village_id: int
    village: str
    entries: list[NoticeEntryOut]
    next_cursor: str | None = Field(description="Pass it as `cursor` for the next page; null on the last.")


class LeaderOut(BaseModel):
    rank: int
    name: str
    points: int
    mine: bool


class LeaderboardOut(BaseModel):
    village_id: int
    period: str
    label: str
    leaders: list[LeaderOut]
    next_cursor: str | None = Field(description="Pass it as `cursor` for the next page; null on the last.")
    me: LeaderOut | None = Field(description="Your own household's row wherever it ranks (villagers only).")


class NotificationOut(BaseModel):
    id: int
    kind: str
    payload: dict[str, Any]
    created_at: Moment
    delivered_at: Moment | None


class HouseholdCardIn(Strict):
    token: Annotated[str, StringConstraints(min_length=8, max_length=300)] = Field(
        description="What scanning the card's QR code gave (its URL, or the token)."
    )


class HouseholdCardOut(BaseModel):
    household_id: int
    code: str
    name: str
    house_number: str | None
    members: list[dict[str, Any]]


PRIVACY_DESCRIPTION = (
    "How the village notice board names the household of an approved claim: full_name (王建国), surname_house "
    "(the default: 张家（12号）) or anonymous (一户村民). Under surname_house the village can still tell which family "
    "it is, since the surname and the house number together name it; only anonymous does not. Deductions never "
    "name the household, whatever this says (see the county's notice_deductions)."
)


class VillagePolicyIn(Strict):
    notice_privacy: Literal["full_name", "surname_house", "anonymous"] = Field(description=PRIVACY_DESCRIPTION)


class CountyPolicyIn(Strict):
    notice_days: int | None = Field(default=None, ge=1, le=60)
    review_days: int | None = Field(default=None, ge=1, le=60)
    appeal_days: int | None = Field(default=None, ge=1, le=60)
    overdue_hours: int | None = Field(default=None, ge=1, le=24 * 14)
    village_max_rewards: int | None = Field(default=None, ge=0, le=50)
    village_max_deductions: int | None = Field(default=None, ge=0, le=50)
    village_max_points: int | None = Field(default=None, ge=1, le=100)
    points_expiry_months: int | None = Field(
        default=None,
        ge=0,
        le=120,
        description="Settled points lapse this many months after they settle, oldest first; 0 turns it off.",
    )
    award_second_official_points: int | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description="An official's award worth more than this waits for a second official; 0: every award does.",
    )
    notice_deductions: Literal["unnamed", "hidden"] | None = Field(
        default=None,
        description="Deductions on the village notice boards: unnamed (the default: the matter, the points and the "
        "date, the household shown as 一户村民) or hidden (not on the board at all; the household still sees its "
        "own, and may appeal).",
    )


class CountyPolicyOut(BaseModel):
    timezone: str
    notice_days: int
    review_days: int
    appeal_days: int
    overdue_hours: int
    village_max_rewards: int
    village_max_deductions: int
    village_max_points: int
    points_expiry_months: int
    award_second_official_points: int
    notice_deductions: Literal["unnamed", "hidden"]
