"""A village's public side (the notice board and the leaderboards, for its members and officials), its
participation report (officials), its privacy setting (and, for the county admin, its name, township and centre);
the county's programme settings (county admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from api.deps import KeysDep, Lang, SessionDep, SettingsDep, allow
from api.paging import Cursor, Limit, link_next
from api.presentation import concern_codes
from api.presentation.claims import leaderboard_out, notice_board_out
from api.presentation.files import FileWords
from api.presentation.people import village_out
from api.schemas.claims import CountyPolicyIn, CountyPolicyOut, LeaderboardOut, NoticeBoardOut
from api.schemas.people import VillageChangeIn, VillageOut
from ledger import figures
from ledger.catalogue import county as county_settings
from ledger.core import paging
from ledger.identity.models import Role
from ledger.identity.principal import Principal, managed_village, visible_village
from ledger.people import places
from ledger.tenancy import County
from redemption import figures as redemption_figures

router = APIRouter(tags=["villages"])
Member = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
Staff = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
Manager = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]
Admin = Annotated[Principal, allow(Role.COUNTY_ADMIN)]
PRIVATE = {"Cache-Control": "no-store"}


@router.get("/api/v1/villages/{village_id}/notice-board", response_model=NoticeBoardOut)
def notice_board(
    village_id: int,
    session: SessionDep,
    who: Member,
    request: Request,
    response: Response,
    cursor: Cursor = None,
    limit: Limit = paging.PAGE,
) -> NoticeBoardOut:
    """Approved claims in their notice period, named as the village's privacy setting allows, and recent
    deductions, which never name the household (一户村民), or are left off where the county's
    `notice_deductions` is `hidden`; newest first, a page at a time (`next_cursor`). Villagers of the village may
    object to a claim here while it is in notice."""
    village = visible_village(session, who, village_id, members=True)
    response.headers.update(PRIVATE)
    board = notice_board_out(session, village, cursor=cursor, limit=limit)
    link_next(request, response, board.next_cursor)
    return board


@router.get(
    "/api/v1/villages/{village_id}/concern-code.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def concern_code_poster(
    village_id: int, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Manager, lang: Lang = "zh_CN"
) -> Response:
    """The A4 poster of the village's concern code (随手拍·有事您说), all in one language (`lang`): scanning its QR
    code opens the report form for the village (`/r/{token}`)."""
    village = managed_village(session, who, village_id)
    return Response(
        concern_codes.poster_svg(keys, settings, village, lang), media_type="image/svg+xml", headers=PRIVATE
    )


@router.get(
    "/api/v1/villages/{village_id}/concern-code.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def concern_code_png(
    village_id: int,
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    who: Manager,
    scale: Annotated[int, Query(ge=2, le=40)] = 10,
) -> Response:
    """The village's concern QR code alone, as a PNG picture."""
    village = managed_village(session, who, village_id)
    return Response(concern_codes.qr_png(keys, settings, village, scale=scale), media_type="image/png", headers=PRIVATE)


@router.get("/api/v1/villages/{village_id}/leaderboard", response_model=LeaderboardOut)
def leaderboard(
    village_id: int,
    session: SessionDep,
    who: Member,
    response: Response,
    request: Request,
    period: Literal["month", "quarter", "year"] = "month",
    at: datetime | None = None,
    cursor: Cursor = None,
    limit: Limit = paging.PAGE,
) -> LeaderboardOut:
    """Households ranked by settled points less deductions in the month, quarter or year around `at` (now), the
    most first (households with as many points share a rank), a page at a time (`next_cursor`); `me` is your own
    household's row wherever it ranks."""
    village = visible_village(session, who, village_id, members=True)
    response.headers.update(PRIVATE)
    board = leaderboard_out(session, village, who, period=period, at=at, cursor=cursor, limit=limit)
    link_next(request, response, board.next_cursor)
    return board


@router.get(
    "/api/v1/villages/{village_id}/report",
    response_model=None,
    responses={
        200: {
            "content": {
                "application/json": {},
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        }
    },
)
def month_report(
    village_id: int,
    session: SessionDep,
    who: Staff,
    month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")],
    format: Literal["json", "csv", "xlsx"] = "json",
    lang: Lang = "zh_CN",
) -> Response | dict[str, object]:  # noqa: A002
    """Participation rate, points by matter, claims by status, review on-time rate (decided within the county's
    overdue hours), median decision time and redemption by partner, for one village and month (county time), as
    defined in docs/claims.md ("Figures"); as JSON, CSV or XLSX. The CSV and XLSX files have their headers and
    words in `lang`; the JSON keeps its keys."""
    village = visible_village(session, who, village_id, members=False)
    report = redemption_figures.village_month(session, village, month)
    words = FileWords(lang)
    name = f"shanzhi-{village.code}-{month}"
    if format == "csv":
        return Response(
            figures.to_csv(report, words),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"', **PRIVATE},
        )
    if format == "xlsx":
        return Response(
            figures.to_xlsx(report, words),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"', **PRIVATE},
        )
    return {
        **report.summary(),
        "points_by_matter": report.points_by_matter.to_dict(orient="records"),
        "claims_by_status": report.claims_by_status.to_dict(orient="records"),
        **{section: table.to_dict(orient="records") for section, table in report.extra.items()},
    }


@router.patch("/api/v1/villages/{village_id}", response_model=VillageOut)
def edit_village(village_id: int, body: VillageChangeIn, session: SessionDep, who: Manager) -> VillageOut:
    """How the notice board names the household of an approved claim: full name, surname and house number (the
    default, 张家（12号）: the village can tell which family it is), or anonymous (一户村民) — the village's officials
    and the county admin. The county admin also renames the village, moves it to another township of the county
    and sets or removes its centre (officials sending these: 403 `forbidden`). Only what is sent changes."""
    return village_out(places.edit_village(session, who, village_id, body.model_dump(exclude_unset=True)))


@router.get("/api/v1/county/policy", response_model=CountyPolicyOut)
def county_policy(session: SessionDep, who: Member) -> CountyPolicyOut:
    county = session.get(County, who.county_id)
    return CountyPolicyOut.model_validate(county, from_attributes=True)


@router.patch("/api/v1/county/policy", response_model=CountyPolicyOut)
def set_county_policy(body: CountyPolicyIn, session: SessionDep, who: Admin) -> CountyPolicyOut:
    """Notice, review and appeal periods, when a claim is overdue, what villages may add of their own, whether
    settled points expire (months, 0 = never), and whether deductions show on the notice boards unnamed or not
    at all. Each change is written to the change log (GET /api/v1/audit)."""
    county = county_settings.set_policy(session, who, body.model_dump(exclude_none=True))
    return CountyPolicyOut.model_validate(county, from_attributes=True)
