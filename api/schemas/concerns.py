"""What the concern routes accept and return (docs/concerns.md). An answer shows the reporter only to whom
ledger/concerns/access.py lets see them, and the timeline names staff to staff only."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from api.schemas import Moment, Phone, Strict

Kind = Literal["complaint", "question", "suggestion", "hazard"]
CategoryCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
# The text is checked by the domain (1 to 1000 characters once trimmed: `concern_text_required`); this bound only
# keeps a body from carrying a novel.
ConcernText = Annotated[str, StringConstraints(max_length=1000)]
Note = Annotated[str, StringConstraints(max_length=1000)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Lon = Annotated[float, Field(ge=-180, le=180)]
PhotoIds = Annotated[list[Annotated[int, Field(gt=0)]], Field(max_length=10)]
PlaceName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class ConcernIn(Strict):
    """A report. A villager names the category, kind and text, and where (the village of the code they scanned,
    a place of its list, or a position); an official recording a report made in person or by phone also names
    the reporter: a household of their villages, or a name and phone."""

    category: CategoryCode = Field(description="The code of one of the county's categories (GET concern-categories).")
    kind: Kind
    text: ConcernText = Field(description="What it is about: 1 to 1000 characters.")
    anonymous: bool = Field(default=False, description="Hide the reporter from officials, handlers and clients.")
    village_id: int | None = Field(default=None, gt=0, description="The village of the scanned concern code.")
    township_id: int | None = Field(default=None, gt=0, description="The township, for a township's concern code.")
    place_id: int | None = Field(default=None, gt=0, description="A place of the village's list.")
    lat: Lat | None = None
    lon: Lon | None = None
    evidence_ids: PhotoIds = Field(default_factory=list, description="Photos sent before (POST /evidence): 3 at most.")
    channel: Literal["app", "in_person", "phone"] = Field(
        default="app", description="Staff: how the report was made (in_person or phone)."
    )
    reporter_household_id: int | None = Field(default=None, gt=0, description="Staff: the reporter's household.")
    reporter_name: Name | None = Field(default=None, description="Staff: a reporter with no household here.")
    reporter_phone: Phone | None = None


class DispatchIn(Strict):
    handler_id: int = Field(gt=0)
    note: Note | None = None


class ReturnIn(Strict):
    reason: Note = Field(description="Why this is not the handler's (1 to 1000 characters).")


class ResolveIn(Strict):
    note: Note = Field(description="What was done (1 to 1000 characters).")
    judgement: Literal["real", "not_confirmed", "false"] = Field(
        description="real: the problem was there (a hazard or problem report may earn points); not_confirmed: "
        "nothing found, in good faith; false: false or malicious (earns nothing)."
    )
    evidence_ids: PhotoIds = Field(
        default_factory=list, description="1 to 3 photos of the result (POST /evidence, or `photo` in a form)."
    )


class EvaluateIn(Strict):
    satisfied: bool
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class MergeIn(Strict):
    into_id: int = Field(gt=0, description="The open concern this one repeats.")


class CategoryOut(BaseModel):
    id: int
    code: str
    name_zh: str
    name_en: str
    urgent: bool
    accept_minutes: int
    dispatch_minutes: int
    resolve_minutes: int
    resolve_working: bool
    matter_code: str | None
    active: bool


class CategoryIn(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z][a-z0-9_]{1,31}$")]
    name_zh: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    name_en: Name
    urgent: bool = False
    accept_minutes: int = Field(default=1, ge=1, le=100_000)
    dispatch_minutes: int = Field(default=5, ge=1, le=100_000)
    resolve_minutes: int = Field(default=3 * 9 * 60, ge=1, le=1_000_000)
    resolve_working: bool = True
    matter_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = None


class CategoryEdit(Strict):
    """Only the fields to change."""

    name_zh: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = None
    name_en: Name | None = None
    urgent: bool | None = None
    accept_minutes: int | None = Field(default=None, ge=1, le=100_000)
    dispatch_minutes: int | None = Field(default=None, ge=1, le=100_000)
    resolve_minutes: int | None = Field(default=None, ge=1, le=1_000_000)
    resolve_working: bool | None = None
    matter_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = None
    active: bool | None = None


class PlaceIn(Strict):
    village_id: int = Field(gt=0)
    name: PlaceName
    lat: Lat | None = None
    lon: Lon | None = None


class PlaceOut(BaseModel):
    id: int
    village_id: int
    name: str
    lat: float | None
    lon: float | None
    active: bool


class ActiveIn(Strict):
    active: bool


class HandlerIn(Strict):
    kind: Literal["official", "grid", "township_office", "department"]
    name: Name
    village_id: int | None = Field(default=None, gt=0)
    township_id: int | None = Field(default=None, gt=0)
    supervisor_user_id: int | None = Field(default=None, gt=0, description="Told when a concern is late with it.")


class MembersIn(Strict):
    user_ids: Annotated[list[Annotated[int, Field(gt=0)]], Field(max_length=100)] = Field(
        description="The staff accounts (officials, county admins) who act for the handler: the whole list."
    )


class HandlerOut(BaseModel):
    id: int
    kind: str
    name: str
    village_id: int | None
    township_id: int | None
    supervisor_user_id: int | None
    active: bool
    member_ids: list[int] | None = Field(default=None, description="Shown to the county admin.")


class HandlerBrief(BaseModel):
    id: int
    name: str
    kind: str


class CategoryBrief(BaseModel):
    code: str
    name_zh: str
    name_en: str
    urgent: bool


class PlaceBrief(BaseModel):
    id: int
    name: str
    lat: float | None
    lon: float | None


class PhotoOut(BaseModel):
    url: str
    purpose: Literal["report", "resolution"]


class StepOut(BaseModel):
    """One step of the timeline."""

    action: str = Field(
        description="submit, accept, dispatch, return, resolve, evaluate, reopen, auto_close, merge, "
        "escalate, overdue, follow or reward"
    )
    status: str | None = Field(description="The state after the step (none for escalate, overdue, follow, reward).")
    at: Moment
    by: Literal["villager", "official", "handler", "system"] = Field(
        description="Who, by role (村民, 村干部, 处理人, 系统)."
    )
    actor: str | None = Field(default=None, description="Staff only: the staff account that took the step.")
    level: int
    note: str | None = Field(default=None, description="Staff only: the step's note (a return's reason…).")
    due_at: Moment | None = Field(description="The deadline of the step it opened.")


class ReporterOut(BaseModel):
    """Who reported: never shown to staff, handlers or clients when the report is anonymous."""

    household_id: int | None
    household_name: str | None
    name: str | None
    phone: str | None


class RewardOut(BaseModel):
    claim_id: int
    points: int
    status: str


class ConcernOut(BaseModel):
    id: int
    status: str
    kind: str
    category: CategoryBrief
    text: str
    anonymous: bool
    channel: str
    county_id: int
    township_id: int
    village_id: int | None
    place: PlaceBrief | None
    lat: float | None
    lon: float | None
    level: int = Field(description="0 the village, 1 the township supervisor, 2 the county.")
    handler: HandlerBrief | None
    merged_into_id: int | None
    reopened: bool
    judgement: str | None
    resolution_note: str | None
    satisfied: bool | None
    evaluation_comment: str | None
    closed_by: str | None
    step_due_at: Moment | None = Field(description="The deadline of the step now to be taken.")
    overdue: bool = Field(description="The step now to be taken is past its deadline.")
    created_at: Moment
    accepted_at: Moment | None
    dispatched_at: Moment | None
    resolved_at: Moment | None
    closed_at: Moment | None
    photos: list[PhotoOut]
    voice_url: str | None
    reporter: ReporterOut | None = Field(default=None, description="Only to whom may see the reporter.")
    reward: RewardOut | None = Field(default=None, description="Only to the reporter's household.")
    actions: list[str] = Field(
        default_factory=list,
        description="What the caller may do now: accept, dispatch, merge, return, resolve, evaluate.",
    )
    version: int
    timeline: list[StepOut] | None = Field(default=None, description="Every step, oldest first (one concern only).")
    replayed: bool = False
