"""Activities and their codes: officials create them and print their posters or show their live code; anyone
who scans a code may see what it is for."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from api.deps import KeysDep, Lang, SessionDep, SettingsDep, allow, public
from api.paging import Cursor, Limit, link_next
from api.presentation.activities import (
    activity_out,
    claim_url,
    code_info_out,
    live_code_out,
    poster_svg,
    village_activity_out,
)
from api.routes.claims import DeviceId
from api.schemas.claims import ActivityIn, ActivityOut, CodeInfoOut, LiveCodeOut, VillageActivityOut
from ledger.activities import access, render
from ledger.activities import service as activities
from ledger.core import paging
from ledger.identity.models import Role
from ledger.identity.principal import Principal, managed_village

router = APIRouter(tags=["activities"])
Staff = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
PRIVATE = {"Cache-Control": "no-store"}


@router.post("/api/v1/activities", response_model=ActivityOut, status_code=status.HTTP_201_CREATED)
def create_activity(
    body: ActivityIn, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Staff
) -> ActivityOut:
    village = managed_village(session, who, body.village_id)
    activity = activities.create(session, village=village, actor=who.actor, **body.model_dump(exclude={"village_id"}))
    return activity_out(session, keys, settings, activity)


@router.get("/api/v1/activities", response_model=list[ActivityOut] | list[VillageActivityOut])
def list_activities(
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    who: Reader,
    request: Request,
    response: Response,
    village_id: Annotated[int | None, Query(gt=0)] = None,
    include_ended: bool = False,
    cursor: Cursor = None,
    limit: Limit = paging.PAGE,
) -> list[ActivityOut] | list[VillageActivityOut]:
    """A village's activities, current ones unless include_ended. Those who run the village's activities (its
    officials, the county admin) see their codes; anyone else (its villagers, auditors) what, where and when.
    By start, a page at a time: the `Link` header names the next page (README, "Lists")."""
    village = access.listed_village(session, who, village_id)
    assert village.id is not None
    page = activities.village_page(session, village.id, include_ended=include_ended, cursor=cursor, limit=limit)
    link_next(request, response, page.next_cursor)
    found = page.rows
    if access.sees_codes(who, village):
        return [activity_out(session, keys, settings, a) for a in found]
    return [village_activity_out(session, a) for a in found]  # villagers (officials too, where they only live)


@router.get("/api/v1/activities/{activity_id}", response_model=ActivityOut)
def get_activity(
    activity_id: int, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Staff
) -> ActivityOut:
    return activity_out(session, keys, settings, access.managed_activity(session, who, activity_id))


@router.post("/api/v1/activities/{activity_id}/withdraw", response_model=ActivityOut)
def withdraw_activity(
    activity_id: int, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Staff
) -> ActivityOut:
    """Stop taking claims for this activity (claims already made stay as they are)."""
    activity = access.managed_activity(session, who, activity_id)
    activities.deactivate(session, activity)
    return activity_out(session, keys, settings, activity)


@router.get(
    "/api/v1/activities/{activity_id}/qr.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def activity_qr_svg(
    activity_id: int, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Staff
) -> Response:
    url = claim_url(settings, activities.printed_code(keys, access.managed_activity(session, who, activity_id)))
    return Response(render.qr_svg(url), media_type="image/svg+xml", headers=PRIVATE)


@router.get(
    "/api/v1/activities/{activity_id}/qr.png", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
def activity_qr_png(
    activity_id: int,
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    who: Staff,
    scale: Annotated[int, Query(ge=2, le=40)] = 10,
) -> Response:
    url = claim_url(settings, activities.printed_code(keys, access.managed_activity(session, who, activity_id)))
    return Response(render.qr_png(url, scale=scale), media_type="image/png", headers=PRIVATE)


@router.get(
    "/api/v1/activities/{activity_id}/poster.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def activity_poster(
    activity_id: int, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Staff, lang: Lang = "zh_CN"
) -> Response:
    """An A4 poster to print, all in one language (`lang`): title, matter, points, when and where, and the QR
    code."""
    svg = poster_svg(session, keys, settings, access.managed_activity(session, who, activity_id), lang)
    return Response(svg, media_type="image/svg+xml", headers=PRIVATE)


@router.get("/api/v1/activities/{activity_id}/live", response_model=LiveCodeOut)
def live_code(
    activity_id: int, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Staff, response: Response
) -> LiveCodeOut:
    """The rotating code for now: show it on screen and fetch it again when it expires (every 30 s)."""
    shown = live_code_out(keys, settings, access.managed_activity(session, who, activity_id))
    response.headers.update(PRIVATE)
    return shown


@router.get("/api/v1/codes/{token}", response_model=CodeInfoOut, dependencies=[public()])
def scanned_code(token: str, session: SessionDep, keys: KeysDep, device: DeviceId = None) -> CodeInfoOut:
    """What a scanned activity code is for. It says nothing a poster on the wall does not say already. For a live
    rotating code and a caller naming its device (`X-Device-Id`), a scan ticket: proof of when this device
    scanned, so that a claim sent after signing in still counts (once, within 10 minutes, from that device)."""
    return code_info_out(session, keys, token, device)
