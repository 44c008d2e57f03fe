"""The roster import's report (ledger/roster): what the file adds, changes and leaves out, and its problems."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RosterProblemOut(BaseModel):
    row: int = Field(description="The spreadsheet row (the header is row 1).")
    column: str | None = Field(description="The column's Chinese header, e.g. 手机号.")
    code: str = Field(
        description="Stable: column_missing, unknown_township, unknown_village, phone_malformed, phone_repeated, "
        "phone_taken, no_head, two_heads, member_in_two_households, member_repeated, name_missing, code_missing, "
        "code_taken, value_too_long, household_in_two_villages, household_village_changed, household_closed."
    )
    message: str


class HouseholdCountsOut(BaseModel):
    added: int
    changed: int
    unchanged: int
    missing: int = Field(description="In the records, not in the file: listed, never deleted.")


class MemberCountsOut(HouseholdCountsOut):
    moved: int = Field(description="Members whose phone is now in another household of the file.")


class NewPlaceOut(BaseModel):
    township: str
    village: str | None = Field(description="None: the township itself is new.")


class MissingMemberOut(BaseModel):
    household: str = Field(description="The household's code (户号).")
    name: str


class RosterReportOut(BaseModel):
    dry_run: bool
    applied: bool = Field(description="True when the changes were written (not a dry run, no problems).")
    sha256: str = Field(description="The SHA-256 of the file, as the change log records it.")
    rows: int = Field(description="Member rows read (empty rows left out).")
    households: HouseholdCountsOut
    members: MemberCountsOut
    missing_households: list[str]
    missing_members: list[MissingMemberOut]
    new_places: list[NewPlaceOut] = Field(description="Created with create_places=true; problems without it.")
    ignored_columns: list[str] = Field(description="Columns the roster does not keep: read, never stored.")
    problems: list[RosterProblemOut]
