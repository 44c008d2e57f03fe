"""The village concern figures of a month (ledger/figures.py, docs/concerns.md "Figures"), as JSON, CSV and XLSX.

Its path is `/api/v1/concerns/figures`, beside the concerns' own routes (api/routes/concerns.py), whose
`/api/v1/concerns/{concern_id}` would otherwise take "figures" for an id: this router is included before that
one (api/app.py, ROUTERS), and tests/api/test_concern_figures_api.py holds it there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from api.deps import Lang, SessionDep, allow
from api.presentation.files import FileWords
from ledger import figures
from ledger.core.base import utcnow
from ledger.identity.models import Role
from ledger.identity.principal import Principal

router = APIRouter(tags=["concerns"])
Staff = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PRIVATE = {"Cache-Control": "no-store"}


def _records(table: Any) -> list[dict[str, Any]]:
    return [{k: (None if v != v else v) for k, v in row.items()} for row in table.to_dict(orient="records")]


@router.get(
    "/api/v1/concerns/figures",
    response_model=None,
    responses={200: {"content": {"application/json": {}, "text/csv": {}, XLSX: {}}}},
)
def concern_figures(
    session: SessionDep,
    who: Staff,
    month: Annotated[
        str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM, county time; this month when left out")
    ] = None,
    village_id: Annotated[
        int | None, Query(gt=0, description="one village of yours; all of them when left out")
    ] = None,
    township: Annotated[int | None, Query(gt=0, description="the villages of one township of yours")] = None,
    format: Literal["json", "csv", "xlsx"] = "json",  # noqa: A002
    lang: Lang = "zh_CN",
) -> Response | dict[str, object]:
    """Village concerns of one month (county time) for the villages you see (an official's own, a supervisor's
    township, the whole county for its admin and auditors), narrowed to one village or township: `summary` (all
    together) and `rows` per village and category, as defined in docs/concerns.md ("Figures"): received, each
    step done in the month and on time (by the deadline recorded when it opened) with its rate, the closed-loop
    and satisfaction rates, the median hours to resolve, and what is open and late now. A rate with nothing to
    count is null. CSV (the rows) and XLSX (a sheet each) have their headers and words in `lang`; the JSON keeps
    its keys. A village or township not among yours: 404 `village_not_found`."""
    scope = figures.scope_of(session, who, village_id=village_id, township_id=township)
    now = utcnow()
    month = month or figures.months_until(now, scope.timezone, 1)[0]
    figures.month_bounds(month, scope.timezone)  # a month that is no month (2026-13): 422 `invalid`
    report = figures.concern_report(session, scope, month, now)
    words = FileWords(lang, scope.timezone)
    name = f"shanzhi-concerns-{month}"
    if format == "csv":
        return Response(
            figures.concerns_csv(report, words),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"', **PRIVATE},
        )
    if format == "xlsx":
        return Response(
            figures.concerns_xlsx(report, words),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"', **PRIVATE},
        )
    summary = _records(report["concerns_summary"])[0]
    return {
        "month": month,
        "village_id": scope.village_id,
        "township_id": scope.township_id,
        "summary": {k: v for k, v in summary.items() if k != "month"},
        "rows": _records(report["concerns"]),
    }
