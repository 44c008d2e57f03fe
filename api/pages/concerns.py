"""The pages of village concerns (随手拍): the village's concern code and its poster, reporting a problem from a
scanned code or from the villager's own pages, following it step by step (the parcel view) and evaluating it;
and for staff the queue, a concern's page with its actions, recording a report told in person or by phone, and
the handler's own list.

Every page declares who may open it (`page_allow`) and calls what the API's routes call: the concerns' access
module (`ledger/concerns/access.py`, the one place that says who sees and acts on a concern), its services
(`ledger/concerns/service.py`, which check the village, the handler, the step and conflict of interest
themselves) and the presenters of `api/presentation/`. An anonymous reporter is never shown to staff: what a page
shows of the reporter comes from the access module's `shows_reporter`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse, Response
from sqlmodel import col, select

from api.i18n import N_
from api.pages.web import OfficialPage, Page, StaffPage, VillagerPage, page_allow
from api.pages.web import reason as refusal_reason
from api.photos import SERVED_SAFELY, served
from api.presentation import concern_codes
from api.presentation.concerns import concern_out, concerns_out
from api.problems import status_of
from api.schemas.concerns import ConcernOut
from ledger.activities import codes
from ledger.claims import evidence
from ledger.claims.models import EvidenceFile
from ledger.concerns import access, setup, voice
from ledger.concerns import errors as concern_errors
from ledger.concerns import service as concerns
from ledger.concerns.models import Concern, ConcernHandlerMember, ConcernKind, ConcernPhoto, ConcernStatus
from ledger.core import paging
from ledger.core.base import row_id
from ledger.core.errors import DomainError, Invalid, Unauthenticated
from ledger.core.idempotency import IdempotencyRecord
from ledger.identity.models import Role, User
from ledger.identity.principal import Principal, managed_village, visible_household, visible_villages
from ledger.people import households
from ledger.tenancy import Township, TownshipNotFound, Village, VillageNotFound

router = APIRouter()
KINDS = (ConcernKind.HAZARD, ConcernKind.COMPLAINT, ConcernKind.QUESTION, ConcernKind.SUGGESTION)


def _keys(page: Page) -> codes.Keys:
    keys: codes.Keys = page.request.app.state.code_keys
    return keys


def _who(page: Page) -> Principal:
    assert page.principal is not None
    return page.principal


# --- the village's concern code and its poster ----------------------------------------------------------------


def _townships(page: Page) -> list[Township]:
    """The townships whose own code I may print: a supervisor's, or every one of the county for its admin."""
    who = _who(page)
    query = select(Township).where(col(Township.county_id) == who.county_id).order_by(col(Township.id))
    if who.role != Role.COUNTY_ADMIN:
        query = query.where(col(Township.id).in_(sorted(who.township_ids)))
    return list(page.session.scalars(query).all())


def _coded_place(page: Page, village_id: int | None, township_id: int | None) -> Village | Township:
    """The village (managed by me) or the township (mine) whose concern code is asked for."""
    if (village_id is None) == (township_id is None):
        raise Invalid("Name the village or the township.", field="village_id")
    if village_id is not None:
        return managed_village(page.session, _who(page), village_id)
    township = next((t for t in _townships(page) if t.id == township_id), None)
    if township is None:
        raise TownshipNotFound("No such township among yours.", township_id=township_id)
    return township


@router.get("/office/concerns/poster")
def poster_page(page: OfficialPage) -> Response:
    """The concern code of each of my villages (and of my township, for a supervisor): its poster to print and
    the QR code alone."""
    villages = [
        managed_village(page.session, _who(page), row_id(v.id)) for v in visible_villages(page.session, _who(page))
    ]
    return page.render("concerns/poster.html", villages=villages, townships=_townships(page))


@router.get("/office/concerns/poster.svg")
def poster_svg(
    page: OfficialPage,
    village_id: Annotated[int | None, Query(gt=0)] = None,
    township_id: Annotated[int | None, Query(gt=0)] = None,
) -> Response:
    """The A4 poster of a village's (or township's) concern code (随手拍·有事您说), in the reader's language."""
    place = _coded_place(page, village_id, township_id)
    svg = concern_codes.poster_svg(_keys(page), page.settings, place, page.locale)
    return page.respond(Response(svg, media_type="image/svg+xml"))


@router.get("/office/concerns/poster.png")
def poster_png(
    page: OfficialPage,
    village_id: Annotated[int | None, Query(gt=0)] = None,
    township_id: Annotated[int | None, Query(gt=0)] = None,
) -> Response:
    """The concern QR code alone, as a picture."""
    place = _coded_place(page, village_id, township_id)
    return page.respond(Response(concern_codes.qr_png(_keys(page), page.settings, place), media_type="image/png"))


# --- reporting ------------------------------------------------------------------------------------------------

Key = Annotated[str, Form(min_length=8, max_length=64)]
Text = Annotated[str, Form(max_length=2000)]
Short = Annotated[str, Form(max_length=64)]
Photos = Annotated[list[UploadFile] | None, File()]
Voice = Annotated[UploadFile | None, File()]
MOST_PHOTOS = 3


def _files_taken(photos: int, voice_note: bool = False) -> dict[str, Any]:
    """A form's files as api/limits.py reads them (a route taking several may carry each at the upload size)."""
    fields: dict[str, Any] = {"photo": {"type": "array", "items": {"format": "binary"}, "maxItems": photos}}
    if voice_note:
        fields["voice"] = {"format": "binary"}
    return {"requestBody": {"content": {"multipart/form-data": {"schema": {"properties": fields}}}}}


REPORT_FILES = _files_taken(MOST_PHOTOS, voice_note=True)  # a report: three photos and a voice note
RESOLUTION_FILES = _files_taken(MOST_PHOTOS)
LIST_SIZE = 20  # concerns on a list page at once (a link shows the next ones)


def _place_of_code(page: Page, token: str) -> tuple[Village | None, Township]:
    """The village (or township) a scanned concern code names, in the reader's county; any other is not ours."""
    code = codes.read_concern_place(_keys(page), codes.scanned(token))
    who = _who(page)
    village = page.session.get(Village, code.village_id) if code.village_id is not None else None
    township_id = village.township_id if village is not None else code.township_id
    township = page.session.get(Township, township_id) if township_id is not None else None
    if township is None or township.county_id != who.county_id:
        raise VillageNotFound("This code belongs to another county.")
    return village, township


def _home(page: Page) -> tuple[Village, Township]:
    who = _who(page)
    village = page.session.get(Village, who.home_village_id) if who.home_village_id is not None else None
    township = page.session.get(Township, village.township_id) if village is not None else None
    if village is None or township is None:
        raise VillageNotFound("Your household has no village.")
    return village, township


def _report_form(
    page: Page,
    village: Village | None,
    township: Township,
    *,
    action: str,
    template: str = "concerns/report.html",
    status_code: int = 200,
    **context: Any,
) -> Response:
    who = _who(page)
    context.setdefault("sent", {})
    return page.render(
        template,
        status_code=status_code,
        village=village,
        township=township,
        kinds=KINDS,
        categories=setup.categories(page.session, who.county_id, active_only=True),
        places=setup.places(page.session, village.id) if village is not None and village.id is not None else [],
        action=action,
        key=context.pop("key", None) or secrets.token_urlsafe(16),
        **context,
    )


def _files(files: Sequence[UploadFile] | None) -> list[UploadFile]:
    """The files a form really carried (a browser sends an empty part for each file input left empty)."""
    return [f for f in files or () if f is not None and f.filename]


def _coordinate(value: str | None, field: str) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        raise Invalid("The location sent is not valid.", field=field) from None


def _number(value: str | None, field: str) -> int | None:
    if value is None or not value.strip():
        return None
    if not value.strip().isdigit() or int(value) <= 0:
        raise Invalid("Not a number.", field=field)
    return int(value)


def _earlier(page: Page, key: str) -> Concern | None:
    """The concern a form with this key already reported (a double tap, or a resend on a bad connection): its
    photos would be stored again as new records, so the form is answered with the first report instead."""
    result = page.session.scalar(
        select(col(IdempotencyRecord.result)).where(
            col(IdempotencyRecord.scope) == _who(page).actor, col(IdempotencyRecord.key) == key
        )
    )
    concern_id = result.get("concern") if isinstance(result, dict) else None
    return page.session.get(Concern, concern_id) if isinstance(concern_id, int) else None


def _store_photos(page: Page, files: Sequence[UploadFile], village_id: int, household_id: int | None) -> list[int]:
    if len(files) > MOST_PHOTOS:
        raise concern_errors.ConcernTooManyPhotos(f"At most {MOST_PHOTOS} photos.", field="photo")
    who = _who(page)
    saved = [
        evidence.save(
            page.session,
            file.file,
            root=page.settings.upload_dir,
            county_id=who.county_id,
            village_id=village_id,
            household_id=household_id,
            actor=who.actor,
            max_pixels=page.settings.evidence_max_pixels,
        )
        for file in files
    ]
    return [int(p.id or 0) for p in saved]


def _store_voice(page: Page, file: UploadFile | None, village_id: int | None) -> int | None:
    if file is None or not file.filename:
        return None
    who = _who(page)
    note = voice.save(
        page.session,
        file.file,
        root=page.settings.upload_dir,
        county_id=who.county_id,
        village_id=village_id,
        actor=who.actor,
    )
    return note.id


def _sent(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, "")}


def _refused(page: Page, error: DomainError, words: dict[str, str] | None = None) -> str:
    text = (words or {}).get(error.code)
    return page._(text) if text else refusal_reason(page, error)


def _send_report(
    page: Page,
    *,
    village: Village | None,
    township: Township,
    action: str,
    form: dict[str, Any],
    photo: Sequence[UploadFile] | None,
    voice_note: UploadFile | None,
    again: Callable[..., Response],
) -> Response:
    """Report through the concerns' service, as the API does; a refusal is shown on the form in words, and
    nothing is written (its photos included)."""
    who = _who(page)
    key = f"page:concern:{form['key']}"
    earlier = _earlier(page, key)
    if earlier is not None:
        return page.redirect(f"/me/concerns/{earlier.id}", done="concern_reported")
    sent = _sent(**{k: v for k, v in form.items() if k != "key"})
    home_village = village.id if village is not None else None
    try:
        with page.session.begin_nested():
            photo_village = home_village if home_village is not None else who.home_village_id
            assert photo_village is not None
            stored = _store_photos(page, _files(photo), photo_village, who.household_id)
            voice_id = _store_voice(page, voice_note, home_village)
            made = concerns.Report(
                category_code=form["category"],
                kind=form["kind"],
                text=form["text"],
                anonymous=form["anonymous"] == "true",
                village_id=home_village,
                township_id=township.id if village is None else None,
                place_id=_number(form["place_id"], "place_id"),
                lat=_coordinate(form["lat"], "lat"),
                lon=_coordinate(form["lon"], "lon"),
                evidence_ids=tuple(stored),
                voice_id=voice_id,
            )
            result = concerns.report(page.session, who, made, idempotency_key=key)
    except DomainError as refused:
        if isinstance(refused, Unauthenticated):
            raise
        return again(
            status_code=status_of(refused),
            refusal=refused.code,
            reason=_refused(page, refused, REPORT_REFUSALS),
            sent=sent,
        )
    concern = result.value
    done = "concern_merged" if concern.status == ConcernStatus.MERGED else "concern_reported"
    target = concern.merged_into_id if concern.merged_into_id is not None else concern.id
    return page.redirect(f"/me/concerns/{target}", done=done)


REPORT_REFUSALS = {  # a report's refusals, in the villager's words
    "concern_text_required": N_("Say in a few words what is wrong, then send again."),
    "concern_too_many_photos": N_("Three photos at most. Leave one out and send again."),
    "category_not_found": N_("Choose what it is about from the list, then send again."),
    "place_not_found": N_("That place is not on the village's list. Choose another, or say where in your words."),
}


@router.get("/r/{token}")
def scanned_code(page: VillagerPage, token: str) -> Response:
    """What scanning a village's concern code opens: the report form for that village (after signing in: the
    sign-in page comes back here)."""
    village, township = _place_of_code(page, token)
    return _report_form(page, village, township, action=f"/r/{token}")


def _form(
    kind: Short, category: Short, text: Text, key: Key, anonymous: Short, place_id: Short, lat: Short, lon: Short
) -> dict[str, Any]:
    return {
        "kind": kind,
        "category": category,
        "text": text,
        "key": key,
        "anonymous": anonymous,
        "place_id": place_id,
        "lat": lat,
        "lon": lon,
    }


@router.post("/r/{token}", openapi_extra=REPORT_FILES)
def report_from_code(
    page: VillagerPage,
    token: str,
    key: Key,
    kind: Annotated[str, Form(max_length=64)] = "",
    category: Annotated[str, Form(max_length=64)] = "",
    text: Text = "",
    anonymous: Annotated[str, Form(max_length=8)] = "",
    place_id: Annotated[str, Form(max_length=12)] = "",
    lat: Annotated[str, Form(max_length=32)] = "",
    lon: Annotated[str, Form(max_length=32)] = "",
    photo: Photos = None,
    voice: Voice = None,
) -> Response:
    """Send the report for the scanned code's village."""
    village, township = _place_of_code(page, token)
    action = f"/r/{token}"
    return _send_report(
        page,
        village=village,
        township=township,
        action=action,
        form=_form(kind, category, text, key, anonymous, place_id, lat, lon),
        photo=photo,
        voice_note=voice,
        again=lambda **context: _report_form(page, village, township, action=action, **context),
    )


@router.get("/me/concerns/new")
def new_report(page: VillagerPage) -> Response:
    """Report a problem of my own village (the same form as the village's code opens)."""
    village, township = _home(page)
    return _report_form(page, village, township, action="/me/concerns/new")


@router.post("/me/concerns/new", openapi_extra=REPORT_FILES)
def send_new_report(
    page: VillagerPage,
    key: Key,
    kind: Annotated[str, Form(max_length=64)] = "",
    category: Annotated[str, Form(max_length=64)] = "",
    text: Text = "",
    anonymous: Annotated[str, Form(max_length=8)] = "",
    place_id: Annotated[str, Form(max_length=12)] = "",
    lat: Annotated[str, Form(max_length=32)] = "",
    lon: Annotated[str, Form(max_length=32)] = "",
    photo: Photos = None,
    voice: Voice = None,
) -> Response:
    village, township = _home(page)
    action = "/me/concerns/new"
    return _send_report(
        page,
        village=village,
        township=township,
        action=action,
        form=_form(kind, category, text, key, anonymous, place_id, lat, lon),
        photo=photo,
        voice_note=voice,
        again=lambda **context: _report_form(page, village, township, action=action, **context),
    )


# --- following: my reports and the parcel view ----------------------------------------------------------------


@router.get("/me/concerns")
def my_concerns(page: VillagerPage, cursor: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """The concerns my household reported or follows, newest first, a page at a time."""
    who = _who(page)
    found = access.concern_page(page.session, who, cursor=cursor, limit=LIST_SIZE)
    return page.render(
        "concerns/mine.html", concerns=concerns_out(page.session, who, found.rows), next_cursor=found.next_cursor
    )


def _parcel(page: Page, concern_id: int, *, status_code: int = 200, **context: Any) -> Response:
    who = _who(page)
    shown = concern_out(page.session, who, access.visible_concern(page.session, who, concern_id))
    return page.render("concerns/parcel.html", status_code=status_code, concern=shown, **_words(), **context)


@router.get("/me/concerns/{concern_id}")
def my_concern(page: VillagerPage, concern_id: int) -> Response:
    """The parcel view: each step, who took it (by role), when, the current step's deadline in plain words,
    photos, the resolution, the evaluation form once resolved, and the points once earned."""
    return _parcel(page, concern_id)


EVALUATION_REFUSALS = {
    "concern_wrong_step": N_("This concern is no longer waiting for your word. Open it again to see where it is."),
    "not_the_reporter": N_("Only the household that reported it can say whether it is done well."),
}


@router.post("/me/concerns/{concern_id}/evaluate")
def evaluate_mine(
    page: VillagerPage,
    concern_id: int,
    satisfied: Annotated[str, Form(max_length=8)] = "",
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Satisfied closes it; not satisfied sends it back once, to the township supervisor."""
    return _evaluate(page, concern_id, satisfied, comment, again=_parcel, back=f"/me/concerns/{concern_id}")


def _evaluate(
    page: Page, concern_id: int, satisfied: str, comment: str, *, again: Callable[..., Response], back: str
) -> Response:
    if satisfied not in ("yes", "no"):
        return again(page, concern_id, status_code=400, refusal="invalid", reason=page._(CHOOSE_SATISFIED))
    try:
        with page.session.begin_nested():
            moved = concerns.evaluate(
                page.session, _who(page), concern_id, satisfied=satisfied == "yes", comment=comment.strip() or None
            )
    except DomainError as refused:
        if isinstance(refused, Unauthenticated):
            raise
        reason = _refused(page, refused, EVALUATION_REFUSALS)
        return again(page, concern_id, status_code=status_of(refused), refusal=refused.code, reason=reason)
    done = "concern_reopened" if moved.status == ConcernStatus.REOPENED else "concern_closed"
    return page.redirect(back, done=done)


CHOOSE_SATISFIED = N_("Say whether you are satisfied: press one of the two buttons.")

# --- photos and the voice note of a concern, to whoever sees it ----------------------------------------------

Seer = Annotated[Page, page_allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]


@router.get("/concerns/{concern_id}/photos/{evidence_id}")
def concern_photo(page: Seer, concern_id: int, evidence_id: int) -> Response:
    """A photo of a concern (of the report or of its resolution), to whoever may see the concern."""
    concern = access.visible_concern(page.session, _who(page), concern_id)
    linked = page.session.get(ConcernPhoto, (concern.id, evidence_id))
    photo = page.session.get(EvidenceFile, evidence_id) if linked is not None else None
    if photo is None:
        raise evidence.EvidenceNotFound("No such photo of this concern.", evidence_id=evidence_id)
    if photo.purged_at is not None:
        raise evidence.EvidenceDeleted("This photo was deleted: its keeping period ended.")
    response = page.respond(served(page.settings, photo))
    response.headers.update(SERVED_SAFELY)
    return response


@router.get("/concerns/{concern_id}/voice")
def concern_voice(page: Seer, concern_id: int) -> Response:
    """The report's voice note, to whoever may see the concern."""
    concern = access.visible_concern(page.session, _who(page), concern_id)
    note = voice.kept(page.session, concern_id=int(concern.id or 0))
    response = page.respond(
        FileResponse(voice.path_of(page.settings.upload_dir, note.sha256), media_type=note.content_type)
    )
    response.headers.update({"Cache-Control": "private, no-store", **SERVED_SAFELY})
    return response


def page_photo(url: str) -> str:
    """The page's address of a photo the presenter names by its API address (a page signs in by cookie)."""
    return url.removeprefix("/api/v1")


def _words() -> dict[str, Any]:
    return {"photo_link": page_photo}


# --- the office: the queue, a concern's page and its actions ----------------------------------------------------

HandlerPage = Annotated[Page, page_allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]


def _my_handlers(page: Page) -> list[int]:
    who = _who(page)
    if who.user_id is None:
        return []
    return [
        int(h)
        for h in page.session.scalars(
            select(col(ConcernHandlerMember.handler_id)).where(col(ConcernHandlerMember.user_id) == who.user_id)
        ).all()
    ]


@router.get("/office/concerns")
def concern_queue(
    page: StaffPage,
    status: Annotated[str | None, Query(max_length=16)] = None,
    overdue: Annotated[str | None, Query(max_length=8)] = None,
    village_id: Annotated[str | None, Query(max_length=12)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The concerns of my villages (a supervisor: the township's; the county admin and auditor: the county's),
    those late first, then the others newest first, a page at a time; filtered by state, lateness and village."""
    who = _who(page)
    wanted = status if status in {s.value for s in ConcernStatus} else None
    late_only = overdue == "true"
    village = _number(village_id, "village_id")
    late: list[ConcernOut] = []
    if cursor is None and not late_only:
        late_rows = access.concern_page(
            page.session, who, status=wanted, overdue=True, village_id=village, limit=paging.MOST
        ).rows
        late = concerns_out(page.session, who, late_rows)
    found = access.concern_page(
        page.session, who, status=wanted, overdue=late_only, village_id=village, cursor=cursor, limit=paging.PAGE
    )
    late_ids = {c.id for c in late}
    villages = visible_villages(page.session, who)
    rows = [c for c in concerns_out(page.session, who, found.rows) if c.id not in late_ids]
    return page.render(
        "concerns/queue.html",
        late=late,
        rows=rows,
        next_cursor=found.next_cursor,
        statuses=[s.value for s in ConcernStatus],
        status=wanted,
        overdue=late_only,
        village_id=village,
        villages=villages,
        village_names={v.id: v.name for v in villages},
        handles=bool(_my_handlers(page)),
        manages=who.role in (Role.OFFICIAL, Role.COUNTY_ADMIN),
        **_words(),
    )


@router.get("/office/concerns/assigned")
def assigned_to_me(page: HandlerPage, cursor: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """The concerns with the handlers I act for, waiting for me to resolve or return them."""
    who = _who(page)
    rows: list[ConcernOut] = []
    for handler_id in _my_handlers(page):
        found = access.concern_page(
            page.session, who, status=ConcernStatus.DISPATCHED.value, handler_id=handler_id, limit=paging.MOST
        )
        rows += concerns_out(page.session, who, found.rows)
    rows.sort(key=lambda c: (c.step_due_at is None, c.step_due_at or c.created_at, c.id))
    return page.render("concerns/assigned.html", rows=rows, **_words())


@router.get("/office/concerns/new")
def record_form(
    page: OfficialPage,
    household_id: Annotated[str | None, Query(max_length=12)] = None,
    q: Annotated[str, Query(max_length=100)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Record a report told in person or by phone: for a household found by its number, house number or a name,
    or for someone with no household here (a name and a phone)."""
    return _record_form(page, _number(household_id, "household_id"), q=q, cursor=cursor)


def _record_form(
    page: Page,
    household_id: int | None,
    *,
    q: str = "",
    cursor: str | None = None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    who = _who(page)
    picked = visible_household(page.session, who, household_id) if household_id is not None else None
    found = None
    if picked is None and q.strip():
        found = households.listing(page.session, who, q=q, cursor=cursor, limit=LIST_SIZE)
    context.setdefault("sent", {})
    return page.render(
        "concerns/record.html",
        status_code=status_code,
        picked=picked,
        q=q.strip(),
        found=found,
        villages=visible_villages(page.session, who),
        kinds=KINDS,
        categories=setup.categories(page.session, who.county_id, active_only=True),
        key=context.pop("key", None) or secrets.token_urlsafe(16),
        **context,
    )


@router.post("/office/concerns/new")
def record_report(
    page: OfficialPage,
    key: Key,
    channel: Annotated[str, Form(max_length=16)] = "",
    household_id: Annotated[str, Form(max_length=12)] = "",
    village_id: Annotated[str, Form(max_length=12)] = "",
    reporter_name: Annotated[str, Form(max_length=200)] = "",
    reporter_phone: Annotated[str, Form(max_length=40)] = "",
    kind: Annotated[str, Form(max_length=64)] = "",
    category: Annotated[str, Form(max_length=64)] = "",
    text: Text = "",
    anonymous: Annotated[str, Form(max_length=8)] = "",
    photo: Photos = None,
) -> Response:
    who = _who(page)
    number = _number(household_id, "household_id")
    idempotency_key = f"page:concern:{key}"
    earlier = _earlier(page, idempotency_key)
    if earlier is not None:
        return page.redirect(f"/office/concerns/{earlier.id}", done="concern_recorded")
    sent = _sent(
        channel=channel,
        village_id=village_id,
        reporter_name=reporter_name,
        reporter_phone=reporter_phone,
        kind=kind,
        category=category,
        text=text,
        anonymous=anonymous,
    )
    try:
        with page.session.begin_nested():
            village = _number(village_id, "village_id")
            if number is not None:
                household = visible_household(page.session, who, number)
                village = village or household.village_id
            if village is None:
                raise Invalid("Say which village it is in.", field="village_id")
            managed_village(page.session, who, village)
            stored = _store_photos(page, _files(photo), village, None)
            made = concerns.Report(
                category_code=category,
                kind=kind,
                text=text,
                anonymous=anonymous == "true",
                village_id=village,
                evidence_ids=tuple(stored),
                reporter_household_id=number,
                reporter_name=reporter_name.strip() or None if number is None else None,
                reporter_phone=reporter_phone.strip() or None if number is None else None,
                channel=channel,
            )
            result = concerns.report(page.session, who, made, idempotency_key=idempotency_key)
    except DomainError as refused:
        if isinstance(refused, Unauthenticated):
            raise
        return _record_form(
            page,
            number,
            status_code=status_of(refused),
            refusal=refused.code,
            reason=_refused(page, refused, RECORD_REFUSALS),
            sent=sent,
        )
    return page.redirect(f"/office/concerns/{result.value.id}", done="concern_recorded")


RECORD_REFUSALS = {
    "concern_text_required": N_("Write down in a few words what the person said, then send again."),
    "category_not_found": N_("Choose what it is about from the list, then send again."),
}


def _staff_names(page: Page, actors: Sequence[str]) -> dict[str, str]:
    """The staff accounts the timeline names (as "user:N", shown to staff only), by their display names."""
    ids = {int(a.removeprefix("user:")) for a in actors if a.startswith("user:") and a[5:].isdigit()}
    if not ids:
        return {}
    rows = page.session.scalars(select(User).where(col(User.id).in_(sorted(ids)))).all()
    return {f"user:{u.id}": u.display_name for u in rows}


def _office_concern(page: Page, concern_id: int, *, status_code: int = 200, **context: Any) -> Response:
    who = _who(page)
    concern = access.visible_concern(page.session, who, concern_id)
    shown = concern_out(page.session, who, concern)
    handlers = setup.handlers(page.session, who.county_id, active_only=True) if "dispatch" in shown.actions else []
    return page.render(
        "concerns/office_concern.html",
        status_code=status_code,
        concern=shown,
        handlers=handlers,
        staff_names=_staff_names(page, [step.actor for step in shown.timeline or [] if step.actor]),
        **_words(),
        **context,
    )


@router.get("/office/concerns/{concern_id}")
def office_concern(page: StaffPage, concern_id: int) -> Response:
    """A concern and its timeline, with what I may do with it now: accept, dispatch to a handler, merge into
    another; for a member of its handler, return it or resolve it; for a report told in person, record the
    reporter's word."""
    return _office_concern(page, concern_id)


def _act(page: Page, concern_id: int, act: Callable[[], Any], done: str) -> Response:
    """One step through the concerns' service; a refusal is shown on the concern's page, in words, and changes
    nothing."""
    try:
        with page.session.begin_nested():
            act()
    except DomainError as refused:
        if isinstance(refused, Unauthenticated):
            raise
        return _office_concern(
            page,
            concern_id,
            status_code=status_of(refused),
            refusal=refused.code,
            reason=_refused(page, refused, OFFICE_REFUSALS),
        )
    return page.redirect(f"/office/concerns/{concern_id}", done=done)


OFFICE_REFUSALS = {
    "concern_wrong_step": N_("Someone took this step already, or the concern has moved on. Look at where it is now."),
    "conflict_of_interest": N_(
        "Your own household reported this concern: another official of the village, the township supervisor or "
        "the county admin handles it."
    ),
    "not_the_handler": N_("Only a member of the handler it was sent to can return or resolve it."),
    "concern_photo_required": N_("Add one to three photos of what was done, then send again."),
}


@router.post("/office/concerns/{concern_id}/accept")
def accept(page: OfficialPage, concern_id: int) -> Response:
    return _act(page, concern_id, lambda: concerns.accept(page.session, _who(page), concern_id), "concern_accepted")


@router.post("/office/concerns/{concern_id}/dispatch")
def dispatch(
    page: OfficialPage,
    concern_id: int,
    handler_id: Annotated[str, Form(max_length=12)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    def act() -> Any:
        handler = _number(handler_id, "handler_id")
        if handler is None:
            raise Invalid("Choose a handler.", field="handler_id")
        return concerns.dispatch(page.session, _who(page), concern_id, handler_id=handler, note=note.strip() or None)

    return _act(page, concern_id, act, "concern_dispatched")


@router.post("/office/concerns/{concern_id}/merge")
def merge(page: OfficialPage, concern_id: int, into_id: Annotated[str, Form(max_length=12)] = "") -> Response:
    def act() -> Any:
        into = _number(into_id.strip().lstrip("#"), "into_id")
        if into is None:
            raise Invalid("Give the number of the concern it repeats.", field="into_id")
        return concerns.merge(page.session, _who(page), concern_id, into_id=into)

    return _act(page, concern_id, act, "concern_merged_by_staff")


@router.post("/office/concerns/{concern_id}/return")
def return_concern(page: HandlerPage, concern_id: int, reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    return _act(
        page,
        concern_id,
        lambda: concerns.return_(page.session, _who(page), concern_id, reason=reason),
        "concern_returned",
    )


@router.post("/office/concerns/{concern_id}/resolve", openapi_extra=RESOLUTION_FILES)
def resolve(
    page: HandlerPage,
    concern_id: int,
    note: Annotated[str, Form(max_length=1000)] = "",
    judgement: Annotated[str, Form(max_length=16)] = "",
    photo: Photos = None,
) -> Response:
    def act() -> Any:
        who = _who(page)
        concern = access.visible_concern(page.session, who, concern_id)
        files = _files(photo)
        stored = _store_photos(page, files, _photo_village(page, concern), None) if files else []
        return concerns.resolve(
            page.session, who, concern_id, note=note, judgement=judgement, evidence_ids=tuple(stored)
        )

    return _act(page, concern_id, act, "concern_resolved")


def _photo_village(page: Page, concern: Concern) -> int:
    """The village a resolution photo is kept under: the concern's, or for a township's concern the township's
    first village (who sees the photo is the concern's business)."""
    if concern.village_id is not None:
        return concern.village_id
    first = page.session.scalar(
        select(col(Village.id)).where(col(Village.township_id) == concern.township_id).order_by(col(Village.id))
    )
    assert first is not None
    return int(first)


@router.post("/office/concerns/{concern_id}/evaluate")
def record_evaluation(
    page: Annotated[Page, page_allow(Role.OFFICIAL)],
    concern_id: int,
    satisfied: Annotated[str, Form(max_length=8)] = "",
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """What the reporter of a report told in person or by phone said of the resolution, recorded by an official."""
    return _evaluate(page, concern_id, satisfied, comment, again=_office_concern, back=f"/office/concerns/{concern_id}")
