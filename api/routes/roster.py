"""The roster: the template to fill in, and importing a filled one (a dry run first, then for real).

County admins only, for their own county. The import runs in the thread pool like any database route; a county's
whole roster (100 000 households) is one request, so this route alone takes a large body (api/limits.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Query, Response, UploadFile

from api.deps import SessionDep, allow
from api.presentation.roster import report_out
from api.schemas.roster import RosterReportOut
from ledger import roster
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.roster.files import XLSX_MEDIA

router = APIRouter(prefix="/api/v1/roster", tags=["roster"])
Admin = Annotated[Principal, allow(Role.COUNTY_ADMIN)]
MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_MEDIA}


@router.get("/template", response_class=Response, responses={200: {"content": {"text/csv": {}, XLSX_MEDIA: {}}}})
def template(who: Admin, format: Literal["xlsx", "csv"] = "xlsx") -> Response:  # noqa: A002
    """The roster template: the Chinese headers in order (乡镇, 村, 户号, 门牌号, 地址, 姓名, 与户主关系, 手机号) and no
    rows (an example row would be imported as a real household: docs/roster.md shows one)."""
    return Response(
        roster.template(format),
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="roster-template.{format}"'},
    )


@router.post(
    "/imports",
    response_model=RosterReportOut,
    responses={
        422: {
            "description": "roster_has_problems: nothing was imported; `report` holds the whole report with every "
            "problem by row and column. file_unreadable: not a .xlsx or .csv roster."
        }
    },
)
def import_roster(
    session: SessionDep,
    who: Admin,
    file: Annotated[UploadFile, File(description="The roster, .xlsx or .csv (UTF-8 or GBK).")],
    dry_run: Annotated[bool, Query(description="true (the default): check and report, write nothing.")] = True,
    create_places: Annotated[
        bool, Query(description="Create the townships and villages the county does not have yet.")
    ] = False,
) -> RosterReportOut:
    """Import the county's roster, all or nothing: households matched by 户号, members by name (a phone seen in
    another household is a move). Households and members missing from the file are listed, never deleted. 200:
    the report (with `applied`); 422 `roster_has_problems` with the report when anything is wrong."""
    content = file.file.read()
    filename = file.filename or ("roster.xlsx" if content[:2] == b"PK" else "roster.csv")
    table = roster.read_file(content, filename)
    report = roster.apply(
        session,
        county_id=who.county_id,
        table=table,
        dry_run=dry_run,
        create_places=create_places,
        actor=who.actor,
        by=who,
    )
    if report.problems:
        raise roster.RosterHasProblems(report)
    return report_out(report)
