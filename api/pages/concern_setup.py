"""The county's set-up of village concerns, on pages: `/county/concerns/categories` (each category's deadlines in
plain words, the matter a useful report earns; add one, edit one), `/county/concerns/handlers` (who concerns are
dispatched to, their members and supervisor; add, enable, disable), `/county/concerns/places` and, for a village's
officials, `/office/concerns/places` (the named places of a village: add, take off the list, put back),
`/county/calendar` (working hours, the days a resolved concern waits for its evaluation, the marked days of a
year) and `/county/open311` (the outside systems speaking Open311: make one, its key shown once; disable one).

Every change goes through the functions the API's routes call (ledger/concerns/setup.py, deadlines.py,
open311.py), which check the role, the county and the village and write the change log; a page reads the form and
shows the outcome. A refusal is shown on the page it came from, in words, with its status, and writes nothing (a
savepoint, as api/pages/county_setup.py does).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlmodel import col

from api.i18n import N_
from api.pages import county_setup as shared
from api.pages.web import Page, page_allow
from api.pages.web import reason as refusal_reason
from api.problems import status_of
from ledger.catalogue import service as catalogue
from ledger.concerns import deadlines, open311, setup
from ledger.concerns.models import ConcernCategory, HandlerKind
from ledger.core.base import row_id, utcnow
from ledger.core.errors import DomainError, Invalid
from ledger.identity.models import Role, User
from ledger.identity.principal import visible_village
from ledger.tenancy import County, Township, Village

router = APIRouter()
AdminPage = Annotated[Page, page_allow(Role.COUNTY_ADMIN)]
OfficialPage = Annotated[Page, page_allow(Role.OFFICIAL)]
Short = Annotated[str, Form(max_length=12)]
Name = Annotated[str, Form(max_length=200)]

DONE: dict[str, str] = {
    "category_added": N_("The category was added."),
    "category_saved": N_("The category was saved."),
    "handler_added": N_("The handler was added. Tick its members below."),
    "members_saved": N_("The handler's members were saved."),
    "handler_enabled": N_("The handler takes concerns again."),
    "handler_disabled": N_("The handler takes no new concerns; what it has keeps its timeline."),
    "place_added": N_("The place was added to the village's list."),
    "place_disabled": N_("The place was taken off the village's list."),
    "place_enabled": N_("The place is on the village's list again."),
    "hours_saved": N_("The working hours were saved. Deadlines already running keep their moment."),
    "day_saved": N_("The day was marked."),
    "day_removed": N_("The day's mark was removed: it follows the week again."),
    "client_disabled": N_("The connection was disabled: its key is refused from now on."),
}

HANDLER_KINDS: dict[str, str] = {
    HandlerKind.OFFICIAL: N_("Village official"),
    HandlerKind.GRID: N_("Grid member"),
    HandlerKind.TOWNSHIP_OFFICE: N_("Township office"),
    HandlerKind.DEPARTMENT: N_("County department"),
}

# What to put right, by the form field the domain refused
FIELD_TEXTS: dict[str, str] = {
    "code": N_("Give the category a code of 1 to 32 letters, digits or underscores, such as road_hazard."),
    "name_zh": N_("Give the Chinese name in 1 to 40 characters."),
    "name_en": N_("Give the English name in 1 to 60 characters."),
    "name": N_("Give a name of 1 to 60 characters."),
    "accept_minutes": N_("Write the working minutes to accept as a whole number from 1 to 1620."),
    "dispatch_minutes": N_("Write the working minutes to dispatch as a whole number from 1 to 1620."),
    "resolve_minutes": N_("Write the time to resolve as a whole number: at most 60 days."),
    "matter_code": N_("Pick a matter from the list, or none."),
    "kind": N_("Pick what kind of handler this is."),
    "village_id": N_("Pick a village of the county, or none."),
    "township_id": N_("Pick a township of the county, or none."),
    "supervisor_user_id": N_("Pick an active official or county admin as the supervisor, or none."),
    "user_ids": N_("Tick active officials or county admins of the county."),
    "lat": N_("Give the position as latitude and longitude in degrees, both or neither."),
    "day": N_("Give a date from 2020 to 2100."),
}


def _refused(page: Page, error: DomainError) -> dict[str, Any]:
    """A refusal on these pages: its status, its words (the field's, where one was wrong) and its code."""
    field = str(error.detail.get("field") or "")
    words = (
        page._(FIELD_TEXTS[field]) if error.code == "invalid" and field in FIELD_TEXTS else refusal_reason(page, error)
    )
    return {"status_code": status_of(error), "refusal": words, "refused_code": error.code}


def _notice(page: Page) -> dict[str, Any]:
    done = page.request.query_params.get("done", "")
    return {"notice": page._(DONE[done])} if done in DONE else {}


def _whole(value: str, field: str) -> int:
    value = value.strip()
    if not value.isdigit() or len(value) > 9:
        raise Invalid("Write a whole number.", field=field)
    return int(value)


def _optional_id(value: str, field: str) -> int | None:
    return None if not value.strip() else _whole(value, field)


def _degrees(value: str) -> float | None:
    if not value.strip():
        return None
    try:
        return float(value.strip())
    except ValueError as error:
        raise Invalid("Not a number.", field="lat") from error


def _change(page: Page, change: Callable[[], Any]) -> DomainError | None:
    """Run a change in a savepoint: a refusal writes nothing and is handed back (signing in is asked as usual)."""
    try:
        with page.session.begin_nested():
            change()
    except DomainError as error:
        if not shared.refused(error):
            raise
        return error
    return None


def _county(page: Page) -> County:
    county = page.session.get(County, shared.who(page).county_id)
    assert county is not None  # a principal's county exists
    return county


# --- a deadline in words ------------------------------------------------------------------------------------------


def deadline_words(page: Page, minutes: int, working: bool, day: int) -> str:
    """A step's deadline as a person says it: 1 working minute, 3 working days, 24 hours (`day`: the working
    minutes of one of the county's working days)."""
    if working:
        if minutes % day == 0:
            return page._("%(n)s working days", n=minutes // day)
        if minutes % 60 == 0:
            return page._("%(n)s working hours", n=minutes // 60)
        return page._("%(n)s working minutes", n=minutes)
    if minutes % (24 * 60) == 0 and minutes > 24 * 60:
        return page._("%(n)s days", n=minutes // (24 * 60))
    if minutes % 60 == 0:
        return page._("%(n)s hours", n=minutes // 60)
    return page._("%(n)s minutes", n=minutes)


# --- categories ---------------------------------------------------------------------------------------------------


def _reward_matters(page: Page) -> list[dict[str, Any]]:
    """The county's rewards in use (a matter earning points) a category may name."""
    county_id = shared.who(page).county_id
    matters = catalogue.effective(page.session, county_id=county_id, village_id=None)
    return [
        {"code": m.code, "name": m.name_zh if page.locale == "zh_CN" else m.name_en, "points": m.points}
        for m in matters
        if m.points > 0 and m.active
    ]


def _category_view(page: Page, category: ConcernCategory, names: dict[str, str], day: int) -> dict[str, Any]:
    resolve_hours = category.resolve_minutes % 60 == 0
    return {
        "row": category,
        "name": category.name_zh if page.locale == "zh_CN" else category.name_en,
        "accept": deadline_words(page, category.accept_minutes, True, day),
        "dispatch": deadline_words(page, category.dispatch_minutes, True, day),
        "resolve": deadline_words(page, category.resolve_minutes, category.resolve_working, day),
        "matter": names.get(category.matter_code or "", category.matter_code or ""),
        "resolve_amount": category.resolve_minutes // 60 if resolve_hours else category.resolve_minutes,
        "resolve_unit": "hours" if resolve_hours else "minutes",
    }


def _categories_page(page: Page, status_code: int = 200, **context: Any) -> Response:
    matters = _reward_matters(page)
    names = {m["code"]: m["name"] for m in matters}
    county_id = shared.who(page).county_id
    day = deadlines.day_minutes(page.session, county_id)
    shown = [_category_view(page, c, names, day) for c in setup.categories(page.session, county_id)]
    return page.render(
        "concern_setup/categories.html",
        status_code=status_code,
        categories=shown,
        matters=matters,
        typed=context.pop("typed", {}),
        **{**_notice(page), **context},
    )


@router.get("/county/concerns/categories")
def categories_page(page: AdminPage) -> Response:
    """The county's categories of concerns, each with its steps' deadlines in words and the matter a useful report
    earns; a form to add one, and to edit each."""
    return _categories_page(page)


def _resolve_minutes(amount: str, unit: str) -> int:
    value = _whole(amount, "resolve_minutes")
    if unit not in ("hours", "minutes"):
        raise Invalid("Hours or minutes.", field="resolve_minutes")
    return value * 60 if unit == "hours" else value


def _matter(page: Page, value: str, keep: str | None = None) -> str | None:
    value = value.strip()
    if not value:
        return None
    if value != keep and value not in {m["code"] for m in _reward_matters(page)}:
        raise Invalid("Not a reward of the county.", field="matter_code")
    return value


@router.post("/county/concerns/categories")
def add_category(
    page: AdminPage,
    code: Annotated[str, Form(max_length=40)] = "",
    name_zh: Name = "",
    name_en: Name = "",
    urgent: Short = "",
    accept_minutes: Short = "",
    dispatch_minutes: Short = "",
    resolve_amount: Short = "",
    resolve_unit: Short = "hours",
    resolve_working: Short = "",
    matter_code: Annotated[str, Form(max_length=48)] = "",
) -> Response:
    """Add a category: its code, names, urgency, deadlines and the matter a report judged real earns."""
    who = shared.who(page)

    def add() -> None:
        code_typed = code.strip()
        if not code_typed.replace("_", "").isalnum() or not code_typed.isascii():
            raise Invalid("A code of letters, digits and underscores.", field="code")
        deadlines_typed: dict[str, Any] = {
            "accept_minutes": _whole(accept_minutes, "accept_minutes"),
            "dispatch_minutes": _whole(dispatch_minutes, "dispatch_minutes"),
            "resolve_minutes": _resolve_minutes(resolve_amount, resolve_unit),
            "resolve_working": resolve_working == "on",
        }
        row = setup.add_category(
            page.session,
            who,
            code=code_typed,
            name_zh=name_zh,
            name_en=name_en,
            urgent=urgent == "on",
            matter_code=_matter(page, matter_code),
        )
        deadlines.set_category_deadlines(page.session, who, row_id(row.id), **deadlines_typed)

    refused = _change(page, add)
    if refused is not None:
        typed = {
            "code": code,
            "name_zh": name_zh,
            "name_en": name_en,
            "urgent": urgent == "on",
            "accept_minutes": accept_minutes,
            "dispatch_minutes": dispatch_minutes,
            "resolve_amount": resolve_amount,
            "resolve_unit": resolve_unit,
            "resolve_working": resolve_working == "on",
            "matter_code": matter_code,
        }
        return _categories_page(page, **_refused(page, refused), form="add", typed=typed)
    return page.redirect("/county/concerns/categories", done="category_added")


@router.post("/county/concerns/categories/{category_id}")
def edit_category(
    page: AdminPage,
    category_id: int,
    name_zh: Name = "",
    name_en: Name = "",
    urgent: Short = "",
    accept_minutes: Short = "",
    dispatch_minutes: Short = "",
    resolve_amount: Short = "",
    resolve_unit: Short = "hours",
    resolve_working: Short = "",
    matter_code: Annotated[str, Form(max_length=48)] = "",
    active: Short = "",
) -> Response:
    """Change a category: only what changed is written (its deadlines count from the next step on)."""
    who = shared.who(page)

    def edit() -> None:
        row = setup.category(page.session, who.county_id, category_id)
        wanted: dict[str, Any] = {
            "name_zh": name_zh,
            "name_en": name_en,
            "urgent": urgent == "on",
            "matter_code": _matter(page, matter_code, keep=row.matter_code),
            "active": active == "on",
        }
        timing: dict[str, Any] = {
            "accept_minutes": _whole(accept_minutes, "accept_minutes"),
            "dispatch_minutes": _whole(dispatch_minutes, "dispatch_minutes"),
            "resolve_minutes": _resolve_minutes(resolve_amount, resolve_unit),
            "resolve_working": resolve_working == "on",
        }
        changed = {name: value for name, value in wanted.items() if getattr(row, name) != value}
        if changed:
            setup.set_category(page.session, who, category_id, **changed)
        if any(getattr(row, name) != value for name, value in timing.items()):
            deadlines.set_category_deadlines(page.session, who, category_id, **timing)

    refused = _change(page, edit)
    if refused is not None:
        return _categories_page(page, **_refused(page, refused), refused_category=category_id)
    return page.redirect("/county/concerns/categories", done="category_saved")


# --- handlers -----------------------------------------------------------------------------------------------------


def _staff(page: Page) -> list[User]:
    """The accounts that may act for a handler or supervise it: the county's active officials and county admins."""
    return list(
        page.session.scalars(
            select(User)
            .where(
                col(User.county_id) == shared.who(page).county_id,
                col(User.active),
                col(User.role).in_((Role.OFFICIAL, Role.COUNTY_ADMIN)),
            )
            .order_by(col(User.display_name), col(User.id))
        ).all()
    )


def _handlers_page(page: Page, status_code: int = 200, **context: Any) -> Response:
    who = shared.who(page)
    staff = _staff(page)
    townships = list(
        page.session.scalars(
            select(Township).where(col(Township.county_id) == who.county_id).order_by(col(Township.id))
        ).all()
    )
    villages = shared.villages(page)
    names = {u.id: u.display_name for u in staff}
    shown = [
        {
            "row": h,
            "kind": HANDLER_KINDS.get(h.kind, h.kind),
            "village": next((v.name for v in villages if v.id == h.village_id), ""),
            "township": next((t.name for t in townships if t.id == h.township_id), ""),
            "supervisor": names.get(h.supervisor_user_id, "") if h.supervisor_user_id else "",
            "members": setup.members(page.session, row_id(h.id)),
        }
        for h in setup.handlers(page.session, who.county_id)
    ]
    return page.render(
        "concern_setup/handlers.html",
        status_code=status_code,
        handlers=shown,
        kinds=HANDLER_KINDS,
        staff=staff,
        names=names,
        townships=townships,
        villages=villages,
        typed=context.pop("typed", {}),
        **{**_notice(page), **context},
    )


@router.get("/county/concerns/handlers")
def handlers_page(page: AdminPage) -> Response:
    """The county's handlers (a village official, a grid member, a township office, a department): their village or
    township, the supervisor told when a concern runs late, their members; add, enable and disable them."""
    return _handlers_page(page)


@router.post("/county/concerns/handlers")
def add_handler(
    page: AdminPage,
    kind: Annotated[str, Form(max_length=20)] = "",
    name: Name = "",
    village_id: Short = "",
    township_id: Short = "",
    supervisor_user_id: Short = "",
) -> Response:
    who = shared.who(page)
    added: list[int] = []

    def add() -> None:
        row = setup.add_handler(
            page.session,
            who,
            kind=kind,
            name=name,
            village_id=_optional_id(village_id, "village_id"),
            township_id=_optional_id(township_id, "township_id"),
            supervisor_user_id=_optional_id(supervisor_user_id, "supervisor_user_id"),
        )
        added.append(row_id(row.id))

    refused = _change(page, add)
    if refused is not None:
        typed = {
            "kind": kind,
            "name": name,
            "village_id": village_id,
            "township_id": township_id,
            "supervisor_user_id": supervisor_user_id,
        }
        return _handlers_page(page, **_refused(page, refused), form="add", typed=typed)
    return page.redirect("/county/concerns/handlers", done="handler_added")


async def _ticked(request: Request) -> list[str]:
    """The ticked accounts (read once: the CSRF check has read the form already)."""
    form = await request.form(max_part_size=64 * 1024)
    return [str(v)[:12] for v in form.getlist("user_ids")[:200]]


Ticked = Annotated[list[str], Depends(_ticked)]


@router.post("/county/concerns/handlers/{handler_id}/members")
def set_members(page: AdminPage, handler_id: int, ticked: Ticked) -> Response:
    """The staff who act for the handler: the whole list, as ticked."""
    who = shared.who(page)
    refused = _change(
        page,
        lambda: setup.set_members(page.session, who, handler_id, [_whole(v, "user_ids") for v in ticked]),
    )
    if refused is not None:
        return _handlers_page(page, **_refused(page, refused), refused_handler=handler_id)
    return page.redirect("/county/concerns/handlers", done="members_saved")


@router.post("/county/concerns/handlers/{handler_id}/active")
def set_handler_active(page: AdminPage, handler_id: int, active: Short = "") -> Response:
    """Enable a handler (`active=on`) or disable it: a disabled one takes no new concerns."""
    who = shared.who(page)
    refused = _change(page, lambda: setup.set_handler_active(page.session, who, handler_id, active=active == "on"))
    if refused is not None:
        return _handlers_page(page, **_refused(page, refused), refused_handler=handler_id)
    return page.redirect("/county/concerns/handlers", done="handler_enabled" if active == "on" else "handler_disabled")


# --- places of a village ------------------------------------------------------------------------------------------


def _places_page(page: Page, base: str, village: str | None, status_code: int = 200, **context: Any) -> Response:
    villages = shared.villages(page)
    chosen: Village | None = None
    wanted = shared.number(village, "village_id") if village else None
    if wanted is not None:
        chosen = visible_village(page.session, shared.who(page), wanted, members=False)
    elif villages:
        chosen = villages[0]
    places = setup.places(page.session, row_id(chosen.id), active_only=False) if chosen is not None else []
    return page.render(
        "concern_setup/places.html",
        status_code=status_code,
        base=base,
        villages=villages,
        village=chosen,
        places=places,
        typed=context.pop("typed", {}),
        **{**_notice(page), **context},
    )


def _add_place(page: Page, base: str, village_id: str, name: str, lat: str, lon: str) -> Response:
    who = shared.who(page)
    refused = _change(
        page,
        lambda: setup.add_place(
            page.session,
            who,
            village_id=_whole(village_id, "village_id"),
            name=name,
            lat=_degrees(lat),
            lon=_degrees(lon),
        ),
    )
    if refused is not None:
        typed = {"name": name, "lat": lat, "lon": lon}
        village = village_id if village_id.strip().isdigit() else None
        return _places_page(page, base, village, **_refused(page, refused), typed=typed)
    return page.redirect(f"{base}?village_id={village_id.strip()}", done="place_added")


def _place_active(page: Page, base: str, place_id: int, active: bool) -> Response:
    who = shared.who(page)
    rows: list[int] = []

    def change() -> None:
        rows.append(setup.set_place_active(page.session, who, place_id, active=active).village_id)

    refused = _change(page, change)
    if refused is not None:
        return _places_page(page, base, page.request.query_params.get("village_id"), **_refused(page, refused))
    return page.redirect(f"{base}?village_id={rows[0]}", done="place_enabled" if active else "place_disabled")


@router.get("/county/concerns/places")
def county_places(page: AdminPage, village_id: str | None = None) -> Response:
    """The named places of a village's list (the bridge, the culture hall) a report may name; add one, take one off
    the list or put it back."""
    return _places_page(page, "/county/concerns/places", village_id)


@router.post("/county/concerns/places")
def county_add_place(
    page: AdminPage, village_id: Short = "", name: Name = "", lat: Short = "", lon: Short = ""
) -> Response:
    return _add_place(page, "/county/concerns/places", village_id, name, lat, lon)


@router.post("/county/concerns/places/{place_id}/active")
def county_place_active(page: AdminPage, place_id: int, active: Short = "") -> Response:
    return _place_active(page, "/county/concerns/places", place_id, active == "on")


@router.get("/office/concerns/places")
def office_places(page: OfficialPage, village_id: str | None = None) -> Response:
    """The named places of the official's villages: add one, take one off the list or put it back."""
    return _places_page(page, "/office/concerns/places", village_id)


@router.post("/office/concerns/places")
def office_add_place(
    page: OfficialPage, village_id: Short = "", name: Name = "", lat: Short = "", lon: Short = ""
) -> Response:
    return _add_place(page, "/office/concerns/places", village_id, name, lat, lon)


@router.post("/office/concerns/places/{place_id}/active")
def office_place_active(page: OfficialPage, place_id: int, active: Short = "") -> Response:
    return _place_active(page, "/office/concerns/places", place_id, active == "on")


# --- the calendar -------------------------------------------------------------------------------------------------


def _year(value: str | None) -> int:
    if value and value.strip().isdigit() and deadlines.FIRST_YEAR <= int(value) <= deadlines.LAST_YEAR:
        return int(value)
    return utcnow().year


def _calendar_page(page: Page, year: int, status_code: int = 200, **context: Any) -> Response:
    county = _county(page)
    return page.render(
        "concern_setup/calendar.html",
        status_code=status_code,
        county=county,
        year=year,
        days=deadlines.days_of(page.session, row_id(county.id), year),
        close_days=deadlines.CLOSE_DAYS,
        typed=context.pop("typed", {}),
        **{**_notice(page), **context},
    )


@router.get("/county/calendar")
def calendar_page(page: AdminPage, year: str | None = None) -> Response:
    """The county's working calendar: working hours, how many days a resolved concern waits for its evaluation, and
    the marked days of a year (holidays, make-up working days), which the county enters itself each year."""
    return _calendar_page(page, _year(year))


@router.post("/county/calendar")
def set_hours(
    page: AdminPage, work_starts: Short = "", work_ends: Short = "", concern_close_days: Short = ""
) -> Response:
    who = shared.who(page)

    def change() -> None:
        close = _whole(concern_close_days, "concern_close_days") if concern_close_days.strip() else None
        deadlines.set_hours(
            page.session, who, starts=work_starts.strip() or None, ends=work_ends.strip() or None, close_days=close
        )

    refused = _change(page, change)
    if refused is not None:
        typed = {"work_starts": work_starts, "work_ends": work_ends, "concern_close_days": concern_close_days}
        return _calendar_page(page, utcnow().year, **_refused(page, refused), form="hours", typed=typed)
    return page.redirect("/county/calendar", done="hours_saved")


def _date(value: str, field: str = "day") -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError as error:
        raise Invalid("Not a date.", field=field) from error


@router.post("/county/calendar/days")
def set_day(page: AdminPage, day: Short = "", last: Short = "", kind: Short = "", name: Name = "") -> Response:
    """Mark a day, or every day from `day` to `last` when the last day is given (a holiday of several days, as the
    year's arrangement gives it): a holiday (the clocks stop on a weekday) or a make-up working day on a weekend."""
    who = shared.who(page)
    marked: list[date] = []

    def change() -> None:
        if kind not in ("holiday", "workday"):
            raise Invalid("A holiday or a make-up working day.", field="kind")
        first = _date(day)
        until = _date(last, "last") if last.strip() else first
        rows = deadlines.set_period(page.session, who, first, until, working=kind == "workday", name=name)
        marked.extend(row.day for row in rows)

    refused = _change(page, change)
    if refused is not None:
        typed = {"day": day, "last": last, "kind": kind, "name": name}
        year = _year(day[:4])
        return _calendar_page(page, year, **_refused(page, refused), form="day", typed=typed)
    return page.redirect(f"/county/calendar?year={marked[0].year}", done="day_saved")


@router.post("/county/calendar/days/{day}/remove")
def remove_day(page: AdminPage, day: str) -> Response:
    who = shared.who(page)
    refused = _change(page, lambda: deadlines.remove_day(page.session, who, _date(day)))
    if refused is not None:
        return _calendar_page(page, _year(day[:4]), **_refused(page, refused))
    return page.redirect(f"/county/calendar?year={day[:4]}", done="day_removed")


# --- Open311 clients ----------------------------------------------------------------------------------------------


def _open311_page(page: Page, status_code: int = 200, **context: Any) -> Response:
    return page.render(
        "concern_setup/open311.html",
        status_code=status_code,
        clients=open311.clients_of(page.session, shared.who(page)),
        typed=context.pop("typed", {}),
        **{**_notice(page), **context},
    )


@router.get("/county/open311")
def open311_page(page: AdminPage) -> Response:
    """The outside systems (a county hotline, a city platform) that send and read concerns through Open311
    GeoReport v2: make one (its key is shown once), disable one."""
    return _open311_page(page)


@router.post("/county/open311")
def add_client(page: AdminPage, name: Name = "") -> Response:
    """Make a connection: its key is shown on this answer only (only its SHA-256 is kept)."""
    who = shared.who(page)
    key = open311.new_key()
    made: list[str] = []

    def change() -> None:
        made.append(open311.create_client(page.session, who, name=name, key=key).name)

    refused = _change(page, change)
    if refused is not None:
        return _open311_page(page, **_refused(page, refused), typed={"name": name})
    return _open311_page(page, new_key=key.plain, new_name=made[0])


@router.post("/county/open311/{client_id}/disable")
def disable_client(page: AdminPage, client_id: int) -> Response:
    who = shared.who(page)
    refused = _change(page, lambda: open311.disable_client(page.session, who, client_id))
    if refused is not None:
        return _open311_page(page, **_refused(page, refused))
    return page.redirect("/county/open311", done="client_disabled")
