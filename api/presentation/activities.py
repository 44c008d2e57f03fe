"""Activities and their codes as the API (and the pages) show them: to those who run them (with their codes), to
villagers (what, where and when), on a printed poster, on a live screen, and to whoever scanned a code."""

from __future__ import annotations

from sqlmodel import Session

from api import i18n
from api.i18n import N_
from api.presentation.catalogue import matter_out
from api.schemas.claims import ActivityOut, CodeInfoOut, LiveCodeOut, VillageActivityOut
from ledger.activities import codes, render
from ledger.activities import service as activities
from ledger.activities.models import Activity
from ledger.catalogue.models import Matter
from ledger.claims import service as claims
from ledger.claims.rules import local
from ledger.core.base import as_utc
from ledger.core.settings import Settings
from ledger.tenancy import County, Village


def claim_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url.rstrip('/')}/c/{token}"


def activity_out(session: Session, keys: codes.Keys, settings: Settings, activity: Activity) -> ActivityOut:
    """An activity as those who run it see it, with what its printed QR code says (none for a rotating one)."""
    matter = session.get(Matter, activity.matter_id)
    assert matter is not None
    url = None if activity.rotating else claim_url(settings, activities.printed_code(keys, activity))
    return ActivityOut(**activity.model_dump(exclude={"matter_id"}), matter=matter_out(matter), claim_url=url)


def village_activity_out(session: Session, activity: Activity) -> VillageActivityOut:
    """What a villager may see of an activity: the allow-list of VillageActivityOut, never its code."""
    matter = session.get(Matter, activity.matter_id)
    assert matter is not None
    return VillageActivityOut(
        **activity.model_dump(include=set(VillageActivityOut.model_fields) - {"matter"}), matter=matter_out(matter)
    )


def window_text(activity: Activity, timezone: str, locale: str) -> str:
    """When an activity runs, as the poster says it: "11月30日 09:00 – 11:00", or for a recurring one
    "11月1日 – 11月30日 · 每天一次" (in English "1 Nov – 30 Nov · once a day")."""
    start, end = activity.starts_at, activity.ends_at
    if activity.period != "once":
        per = {
            "day": N_("once a day"),
            "week": N_("once a week"),
            "month": N_("once a month"),
        }
        return (
            f"{i18n.day(start, locale, timezone=timezone)} – {i18n.day(end, locale, timezone=timezone)}"
            f" · {i18n.text(locale, per[activity.period])}"
        )
    if local(start, timezone).date() == local(end, timezone).date():
        return f"{i18n.when(start, locale, timezone=timezone)} – {local(end, timezone):%H:%M}"
    return f"{i18n.when(start, locale, timezone=timezone)} – {i18n.when(end, locale, timezone=timezone)}"


def points_text(points: int, locale: str) -> str:
    """ "+5 积分" ("+5 points"), "-5 积分" for a deduction, as the poster's headline says it."""
    return i18n.text_in(locale, "poster", "%(points)s points", points=f"{'+' if points > 0 else ''}{points}")


def poster_svg(session: Session, keys: codes.Keys, settings: Settings, activity: Activity, locale: str) -> bytes:
    """An A4 poster to print, all in the reader's language: title, matter, points, when and where, the QR code."""
    url = claim_url(settings, activities.printed_code(keys, activity))
    matter, village = session.get(Matter, activity.matter_id), session.get(Village, activity.village_id)
    county = session.get(County, activity.county_id)
    assert matter is not None
    assert village is not None
    assert county is not None
    return render.poster_svg(
        url=url,
        title=activity.title,
        matter=matter.name_zh if locale == "zh_CN" else matter.name_en,
        points=points_text(matter.points, locale),
        window=window_text(activity, county.timezone, locale),
        place=activity.place,
        village=village.name,
        scan=i18n.text(locale, "Scan with your phone to claim points for your household"),
    )


def live_code_out(keys: codes.Keys, settings: Settings, activity: Activity) -> LiveCodeOut:
    """The rotating code for now, as a URL and a QR code, and how long it has left."""
    code = activities.live_code(keys, activity)
    url = claim_url(settings, code["token"])
    return LiveCodeOut(url=url, svg=render.qr_svg(url).decode(), **code)


def code_info_out(session: Session, keys: codes.Keys, token: str, device: str | None) -> CodeInfoOut:
    """What a scanned activity code is for (nothing a poster on the wall does not say already), and, for a live
    rotating code and a named device, a scan ticket."""
    activity = activities.scanned_activity(session, keys, token)
    matter, village = session.get(Matter, activity.matter_id), session.get(Village, activity.village_id)
    assert matter is not None
    assert village is not None
    assert activity.id is not None
    return CodeInfoOut(
        activity_id=activity.id,
        title=activity.title,
        place=activity.place,
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
