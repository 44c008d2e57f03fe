"""Activities and their codes: officials create them and print their posters or show their live code; anyone
who scans a code may see what it is for."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlmodel import Session

from api.deps import KeysDep, SessionDep, SettingsDep, allow, public
from api.routes.catalogue import VillageNotFound, matter_out
from api.routes.claims import DeviceId
from api.schemas.claims import ActivityIn, ActivityOut, CodeInfoOut, LiveCodeOut, VillageActivityOut
from ledger.activities import codes, render
from ledger.activities import service as activities
from ledger.activities.models import Activity
from ledger.base import as_utc
from ledger.catalogue.models import Matter
from ledger.claims import service as claims
from ledger.claims.rules import local
from ledger.identity.models import Role
from ledger.identity.principal import Principal
from ledger.settings import Settings
from ledger.tenancy import County, Village

router = APIRouter(tags=["activities"])
Staff = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
PRIVATE = {"Cache-Control": "no-store"}


def claim_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url.rstrip('/')}/c/{token}"


def activity_out(session: Session, keys: codes.Keys, settings: Settings, activity: Activity) -> ActivityOut:
    matter = session.get(Matter, activity.matter_id)
    assert matter is not None
    url = None if activity.rotating else claim_url(settings, activities.printed_code(keys, activity))
    return ActivityOut(**activity.model_dump(exclude={"matter_id"}), matter=matter_out(matter), claim_url=url)


def _managed(session: Session, who: Principal, activity_id: int) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None or not who.manages_village(activity.village_id, activity.county_id):
        raise activities.ActivityNotFound("No such activity in your villages.", activity_id=activity_id)
    return activity


@router.post("/api/v1/activities", response_model=ActivityOut, status_code=status.HTTP_201_CREATED)
def create_activity(
    body: ActivityIn, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Staff
) -> ActivityOut:
    village = session.get(Village, body.village_id)
    if village is None or not who.manages_village(village.id, village.county_id):  # type: ignore[arg-type]
        raise VillageNotFound("No such village among yours.", village_id=body.village_id)
    activity = activities.create(session, village=village, actor=who.actor, **body.model_dump(exclude={"village_id"}))
    return activity_out(session, keys, settings, activity)


def village_activity_out(session: Session, activity: Activity) -> VillageActivityOut:
    """What a villager may see of an activity: the allow-list of VillageActivityOut, never its code."""
    matter = session.get(Matter, activity.matter_id)
    assert matter is not None
    return VillageActivityOut(
        **activity.model_dump(include=set(VillageActivityOut.model_fields) - {"matter"}), matter=matter_out(matter)
    )


@router.get("/api/v1/activities", response_model=list[ActivityOut] | list[VillageActivityOut])
def list_activities(
    session: SessionDep,
    keys: KeysDep,
    settings: SettingsDep,
    who: Reader,
    village_id: Annotated[int | None, Query(gt=0)] = None,
    include_ended: bool = False,
) -> list[ActivityOut] | list[VillageActivityOut]:
    """A village's activities, current ones unless include_ended. Those who run the village's activities (its
    officials, the county admin) see their codes; anyone else (its villagers, auditors) what, where and when."""
    if who.role == Role.VILLAGER or village_id is None:
        village_id = who.home_village_id
    village = session.get(Village, village_id) if village_id else None
    if village is None or not (
        who.sees_village(village.id, village.county_id)  # type: ignore[arg-type]
        or who.lives_in(village.id)
    ):  # type: ignore[arg-type]
        raise VillageNotFound("No such village among yours.", village_id=village_id)
    found = activities.of_village(session, village.id, include_ended=include_ended)  # type: ignore[arg-type]
    if who.manages_village(village.id, village.county_id):  # type: ignore[arg-type]
        return [activity_out(session, keys, settings, a) for a in found]
    return [village_activity_out(session, a) for a in found]  # villagers (officials too, where they only live)


@router.get("/api/v1/activities/{activity_id}", response_model=ActivityOut)
def get_activity(
    activity_id: int, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Staff
) -> ActivityOut:
    return activity_out(session, keys, settings, _managed(session, who, activity_id))


@router.post("/api/v1/activities/{activity_id}/withdraw", response_model=ActivityOut)
def withdraw_activity(
    activity_id: int, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Staff
) -> ActivityOut:
    """Stop taking claims for this activity (claims already made stay as they are)."""
    activity = _managed(session, who, activity_id)
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
    url = claim_url(settings, activities.printed_code(keys, _managed(session, who, activity_id)))
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
    url = claim_url(settings, activities.printed_code(keys, _managed(session, who, activity_id)))
    return Response(render.qr_png(url, scale=scale), media_type="image/png", headers=PRIVATE)


@router.get(
    "/api/v1/activities/{activity_id}/poster.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def activity_poster(
    activity_id: int, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Staff
) -> Response:
    """An A4 poster to print: title, matter, points, when and where, and the QR code."""
    activity = _managed(session, who, activity_id)
    url = claim_url(settings, activities.printed_code(keys, activity))
    matter, village = session.get(Matter, activity.matter_id), session.get(Village, activity.village_id)
    county = session.get(County, activity.county_id)
    assert matter is not None
    assert village is not None
    assert county is not None
    return Response(
        render.poster_svg(
            url=url,
            title=activity.title,
            matter_zh=matter.name_zh,
            matter_en=matter.name_en,
            points=matter.points,
            window=window_text(activity, county.timezone),
            place=activity.place,
            village=village.name,
        ),
        media_type="image/svg+xml",
        headers=PRIVATE,
    )


def window_text(activity: Activity, timezone: str) -> str:
    start, end = local(activity.starts_at, timezone), local(activity.ends_at, timezone)
    if activity.period != "once":
        per = {"day": "每天一次 once a day", "week": "每周一次 once a week", "month": "每月一次 once a month"}
        return f"{start:%Y-%m-%d} – {end:%Y-%m-%d} · {per[activity.period]}"
    return (
        f"{start:%Y-%m-%d %H:%M} – {end:%H:%M}"
        if start.date() == end.date()
        else f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}"
    )


@router.get("/api/v1/activities/{activity_id}/live", response_model=LiveCodeOut)
def live_code(
    activity_id: int, session: SessionDep, keys: KeysDep, settings: SettingsDep, who: Staff, response: Response
) -> LiveCodeOut:
    """The rotating code for now: show it on screen and fetch it again when it expires (every 30 s)."""
    code = activities.live_code(keys, _managed(session, who, activity_id))
    url = claim_url(settings, code["token"])
    response.headers.update(PRIVATE)
    return LiveCodeOut(url=url, svg=render.qr_svg(url).decode(), **code)


@router.get("/api/v1/codes/{token}", response_model=CodeInfoOut, dependencies=[public()])
def scanned_code(token: str, session: SessionDep, keys: KeysDep, device: DeviceId = None) -> CodeInfoOut:
    """What a scanned activity code is for. It says nothing a poster on the wall does not say already. For a live
    rotating code and a caller naming its device (`X-Device-Id`), a scan ticket: proof of when this device
    scanned, so that a claim sent after signing in still counts (once, within 10 minutes, from that device)."""
    code = codes.read(keys, token)
    activity = session.get(Activity, code.activity_id) if isinstance(code, codes.ActivityCode) else None
    if activity is None or not activity.active:
        raise codes.CodeInvalid("This code is not one of ours, or it was withdrawn.", field="token")
    matter, village = session.get(Matter, activity.matter_id), session.get(Village, activity.village_id)
    assert matter is not None
    assert village is not None
    return CodeInfoOut(
        activity_id=activity.id,
        title=activity.title,
        place=activity.place,  # type: ignore[arg-type]
        village=village.name,
        matter_zh=matter.name_zh,
        matter_en=matter.name_en,
        points=matter.points,
        starts_at=as_utc(activity.starts_at),
        ends_at=as_utc(activity.ends_at),
        evidence=matter.evidence,
        rotating=activity.rotating,
        geofence=activity.radius_m is not None,
        scan_ticket=claims.scan_ticket(session, keys, token=token, device=device) if device else None,
    )
