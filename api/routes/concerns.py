"""Village concerns (docs/concerns.md): a report made by a villager (or recorded by an official for someone who
told them in person or by phone), accepted and dispatched by the village's officials, returned or resolved by the
handler it went to, evaluated by the reporter; each step on a timeline everyone involved follows like a parcel.

Who may see and do what, ledger/concerns/access.py decides (the services ask it too); a route only says which
roles may call it at all. Someone else's concern looks missing (404 `concern_not_found`).

A report, and a resolution, is JSON or a multipart form: the same fields, and with a form the photos themselves
(`photo`, 3 at most, each a JPEG, PNG or WebP of at most 5 MB) and, for a report, a voice note (`voice`, at most
1 MB: WebM, Ogg, MP3, MP4, WAV or AMR) instead of ids sent before."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlmodel import Session, col
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from api.deps import (
    REPLAY_RESPONSES,
    Caller,
    IdempotencyKey,
    SessionDep,
    SettingsDep,
    allow,
    allow_caller,
    json_answer,
    run,
    written_answer,
)
from api.paging import Cursor, Limit, link_next
from api.photos import SERVED_SAFELY, served
from api.photos import keep as keep_photo
from api.presentation.concerns import concern_out, concerns_out
from api.schemas.concerns import (
    ConcernIn,
    ConcernOut,
    DispatchIn,
    EvaluateIn,
    MergeIn,
    ResolveIn,
    ReturnIn,
)
from ledger.claims import evidence as photos
from ledger.claims.models import EvidenceFile
from ledger.concerns import access, service, voice
from ledger.concerns.errors import ConcernTooManyPhotos
from ledger.concerns.models import Concern, ConcernPhoto, ConcernStatus, ConcernVoice
from ledger.core import paging
from ledger.core.idempotency import IdempotencyRecord
from ledger.core.settings import Settings
from ledger.identity.models import Role, User
from ledger.identity.principal import Principal
from ledger.tenancy import Village

router = APIRouter(prefix="/api/v1/concerns", tags=["concerns"])
ReporterCaller = Annotated[Caller, allow_caller(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN)]
Reader = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL, Role.COUNTY_ADMIN, Role.AUDITOR)]
Staff = Annotated[Principal, allow(Role.OFFICIAL, Role.COUNTY_ADMIN)]
StaffCaller = Annotated[Caller, allow_caller(Role.OFFICIAL, Role.COUNTY_ADMIN)]
Evaluator = Annotated[Principal, allow(Role.VILLAGER, Role.OFFICIAL)]

MOST_PHOTOS = 3
M = TypeVar("M", bound=BaseModel)


# --- bodies: JSON, or a multipart form with the files --------------------------------------------------------


def _as_text(field: dict[str, Any]) -> dict[str, Any]:
    """A JSON body's field as a form field: text on the wire (a number as its digits, a flag as true or false)."""
    described = {"description": field["description"]} if "description" in field else {}
    kinds = [f for f in field.get("anyOf", [field]) if f.get("type") != "null"]
    kind = kinds[0] if kinds else {}
    if kind.get("type") == "array":
        return {"type": "array", "items": _as_text(kind.get("items", {})), **described}
    if "enum" in kind:
        return {"type": "string", "enum": [str(v) for v in kind["enum"]], **described}
    if kind.get("type") == "boolean":
        return {"type": "string", "enum": ["true", "false"], **described}
    if kind.get("type") == "integer":
        return {"type": "string", "pattern": "^[1-9][0-9]{0,9}$", **described}
    if kind.get("type") == "number":
        return {"type": "string", "pattern": "^-?[0-9]{1,3}(\\.[0-9]{1,8})?$", **described}
    text = {k: kind[k] for k in ("minLength", "maxLength", "pattern") if k in kind}
    return {"type": "string", **text, **described}


def _form_schema(model: type[BaseModel], files: dict[str, Any]) -> dict[str, Any]:
    """The multipart form of a body: the JSON body's fields as text (lists as repeated fields) and the files."""
    schema = model.model_json_schema()
    fields = {name: _as_text(field) for name, field in schema.get("properties", {}).items()}
    return {
        "type": "object",
        "properties": {**fields, **files},
        "required": schema.get("required", []),
        "additionalProperties": False,
    }


PHOTO_FILES = {
    "photo": {
        "type": "array",
        "maxItems": MOST_PHOTOS,
        "items": {"type": "string", "format": "binary"},
        "description": "Photos (JPEG, PNG or WebP, 5 MB each at most), instead of `evidence_ids`.",
    }
}
VOICE_FILE = {
    "voice": {
        "type": "string",
        "format": "binary",
        "description": "A voice note of at most 1 MB: WebM, Ogg, MP3, MP4 (M4A), WAV or AMR.",
    }
}


def json_or_form(model: type[BaseModel], files: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of a route taking `model` as JSON or as a multipart form with `files` (read by
    api/limits.py too: such a route may carry each of its files at the upload size)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema()},
                "multipart/form-data": {"schema": _form_schema(model, files)},
            },
        }
    }


@dataclass(frozen=True)
class Body:
    fields: Any  # the model
    photos: list[UploadFile]
    voice: UploadFile | None
    form: FormData | None


def _invalid(error: ValidationError, body: object) -> RequestValidationError:
    return RequestValidationError(
        [{**e, "loc": ("body", *e.get("loc", ()))} for e in error.errors(include_url=False)], body=body
    )


async def read_body(request: Request, model: type[M], *, files: Sequence[str]) -> Body:
    """The body as `model`, from JSON or from a multipart form (then also its files): a body that cannot be read
    is 400 (`invalid_json`, `bad_request`), fields that do not fit 422 `invalid_request`, as a JSON body of a
    plain route would be."""
    kind = request.headers.get("content-type", "")
    if not kind.lower().startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        return _from_json(await request.body(), model)
    try:
        form = await request.form(max_files=10, max_fields=40)
    except HTTPException as error:
        if error.status_code != 400:  # a streamed body past its limit (api/limits.py) stays a 413
            raise
        raise HTTPException(400, "The body cannot be read as a form: " + str(error.detail)) from error
    except (ValueError, AssertionError, KeyError) as error:
        raise HTTPException(400, "The body cannot be read as a form.") from error
    try:
        return _from_form(form, model, files)
    except BaseException:
        await form.close()  # its files are not kept past a refusal
        raise


def _refused_field(key: str, problem: str, value: object) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("body", key), "msg": problem, "input": value}])


def _from_form(form: FormData, model: type[M], files: Sequence[str]) -> Body:
    data: dict[str, Any] = {}
    uploads: dict[str, list[UploadFile]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            if key == "evidence_ids":
                data.setdefault(key, []).append(value)
            elif key in data:
                raise _refused_field(key, "Given more than once", value)
            else:
                data[key] = value
        elif key in files:
            uploads.setdefault(key, []).append(value)
        else:
            raise _refused_field(key, "No file is taken here", key)
    if len(uploads.get("voice", [])) > 1:
        raise _refused_field("voice", "One voice note at most", None)
    try:
        fields = model.model_validate(data)
    except ValidationError as error:
        raise _invalid(error, data) from error
    voice_files = uploads.get("voice", [])
    return Body(fields, uploads.get("photo", []), voice_files[0] if voice_files else None, form)


def _from_json(raw: bytes, model: type[M]) -> Body:
    try:
        decoded = json.loads(raw)
    except UnicodeDecodeError as error:
        raise HTTPException(400, "The body is not valid JSON: it is not UTF-8 text.") from error
    except json.JSONDecodeError as error:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", error.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": error.msg},
                }
            ],
            body=raw.decode("utf-8", "replace"),
        ) from error
    try:
        fields = model.model_validate(decoded)
    except ValidationError as error:
        raise _invalid(error, decoded) from error
    return Body(fields, [], None, None)


async def _closed(body: Body) -> None:
    if body.form is not None:
        await body.form.close()


def _store_photos(
    session: Session, settings: Settings, who: Principal, files: Sequence[UploadFile], village_id: int | None
) -> list[EvidenceFile]:
    if len(files) > MOST_PHOTOS:
        raise ConcernTooManyPhotos(f"At most {MOST_PHOTOS} photos.", limit=MOST_PHOTOS, field="photo")
    return [keep_photo(session, settings, who, file, village_id) for file in files]


# --- reporting ---------------------------------------------------------------------------------------------------


@router.post(
    "",
    response_model=ConcernOut,
    status_code=201,
    responses=REPLAY_RESPONSES,
    openapi_extra=json_or_form(ConcernIn, {**PHOTO_FILES, **VOICE_FILE}),
)
async def report(
    request: Request, idempotency_key: IdempotencyKey, caller: ReporterCaller, settings: SettingsDep
) -> Response:
    """Report a complaint, a question, a suggestion or a hazard. A villager reports for their household, from the
    village code they scanned (`village_id`, or `township_id` for a township's code) or their own village; an
    official or county admin records one made in person or by phone (`channel`), for a household of their
    villages (`reporter_household_id`) or for someone with none (`reporter_name`, `reporter_phone`).
    `anonymous`: officials, handlers and clients never see who reported. A report like an open one (same
    category, same place or near it, in the last 30 days) is merged into it at once (`status` merged,
    `merged_into_id`): its reporter follows that one. Idempotent: the same key answers the first report again."""
    body = await read_body(request, ConcernIn, files=("photo", "voice"))
    try:
        out: ConcernOut = await run(request, caller, _report, settings, body, idempotency_key)
    finally:
        await _closed(body)
    return written_answer(out, out.replayed)


def _report(session: Session, who: Principal, settings: Settings, body: Body, idempotency_key: str) -> ConcernOut:
    fields: ConcernIn = body.fields
    stored: list[int] = []
    voice_id: int | None = None
    earlier = None
    if body.photos or body.voice:
        if who.user_id is not None:  # the same form sent twice at once: the second waits here, then replays
            session.scalar(select(col(User.id)).where(col(User.id) == who.user_id).with_for_update())
        earlier = _earlier_report(session, who, idempotency_key)
    if earlier is not None:
        # A form sent again with its key: its files are those the first one kept (sent again, they would be new
        # rows, and the request another), so the same request replays the first answer and nothing is stored.
        stored, voice_id = _files_of(session, earlier)
    else:
        stored = [photos_id(p) for p in _store_photos(session, settings, who, body.photos, fields.village_id)]
        if body.voice is not None:
            village = fields.village_id if fields.village_id is not None else who.home_village_id
            note = voice.save(
                session,
                body.voice.file,
                root=settings.upload_dir,
                county_id=who.county_id,
                village_id=village,
                actor=who.actor,
            )
            voice_id = note.id
    made = service.Report(
        category_code=fields.category,
        kind=fields.kind,
        text=fields.text,
        anonymous=fields.anonymous,
        village_id=fields.village_id,
        township_id=fields.township_id,
        place_id=fields.place_id,
        lat=fields.lat,
        lon=fields.lon,
        evidence_ids=tuple(sorted({*fields.evidence_ids, *stored})),
        voice_id=voice_id,
        reporter_household_id=fields.reporter_household_id,
        reporter_name=fields.reporter_name,
        reporter_phone=fields.reporter_phone,
        channel=fields.channel,
    )
    result = service.report(session, who, made, idempotency_key=idempotency_key)
    return concern_out(session, who, result.value, replayed=result.replayed)


def _earlier_report(session: Session, who: Principal, key: str) -> Concern | None:
    """The concern a first request with this key made, if any."""
    result = session.scalar(
        select(col(IdempotencyRecord.result)).where(
            col(IdempotencyRecord.scope) == who.actor, col(IdempotencyRecord.key) == key
        )
    )
    concern_id = result.get("concern") if isinstance(result, dict) else None
    return session.get(Concern, concern_id) if isinstance(concern_id, int) else None


def _files_of(session: Session, concern: Concern) -> tuple[list[int], int | None]:
    """The report's photos and voice note."""
    ids = session.scalars(
        select(col(ConcernPhoto.evidence_id)).where(
            col(ConcernPhoto.concern_id) == concern.id, col(ConcernPhoto.purpose) == "report"
        )
    ).all()
    note = session.scalar(
        select(col(ConcernVoice.id)).where(col(ConcernVoice.concern_id) == concern.id).order_by(col(ConcernVoice.id))
    )
    return [int(i) for i in ids], None if note is None else int(note)


def photos_id(photo: EvidenceFile) -> int:
    assert photo.id is not None
    return photo.id


# --- reading -----------------------------------------------------------------------------------------------------


@router.get("", response_model=list[ConcernOut])
def list_concerns(
    session: SessionDep,
    who: Reader,
    request: Request,
    response: Response,
    status: ConcernStatus | None = None,
    overdue: Annotated[bool, Query(description="Only those whose current step is past its deadline.")] = False,
    village_id: Annotated[int | None, Query(gt=0)] = None,
    handler_id: Annotated[int | None, Query(gt=0)] = None,
    cursor: Cursor = None,
    limit: Limit = paging.PAGE,
) -> list[ConcernOut]:
    """A villager: the concerns their household reported or follows. An official: their villages' (a township
    supervisor: the township's, township concerns too); a handler's member: those dispatched to their handler;
    the county admin and the auditor: the county's. A page at a time, newest first: the `Link` header names the
    next page (README, "Lists"). Without the timeline: ask for one concern for it."""
    page = access.concern_page(
        session,
        who,
        status=status,
        overdue=overdue,
        village_id=village_id,
        handler_id=handler_id,
        cursor=cursor,
        limit=limit,
    )
    link_next(request, response, page.next_cursor)
    return concerns_out(session, who, page.rows)


@router.get("/{concern_id}", response_model=ConcernOut)
def get_concern(concern_id: int, session: SessionDep, who: Reader) -> ConcernOut:
    """One concern and its timeline: every step, who took it by role, when, and the deadline it opened."""
    return concern_out(session, who, access.visible_concern(session, who, concern_id))


@router.get(
    "/{concern_id}/photos/{evidence_id}",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}},
)
def concern_photo(
    concern_id: int, evidence_id: int, session: SessionDep, settings: SettingsDep, who: Reader
) -> FileResponse:
    """A photo of the concern (of the report or of its resolution), to whoever may see the concern."""
    concern = access.visible_concern(session, who, concern_id)
    found = session.scalar(
        select(col(ConcernPhoto.evidence_id)).where(
            col(ConcernPhoto.concern_id) == concern.id, col(ConcernPhoto.evidence_id) == evidence_id
        )
    )
    photo = session.get(EvidenceFile, evidence_id) if found is not None else None
    if photo is None:
        raise photos.EvidenceNotFound("No such photo of this concern.", evidence_id=evidence_id)
    if photo.purged_at is not None:
        raise photos.EvidenceDeleted("This photo was deleted: its keeping period ended.")
    return served(settings, photo)


@router.get(
    "/{concern_id}/voice",
    response_class=FileResponse,
    responses={200: {"content": {content: {} for content in voice.EXTENSIONS}}},
)
def concern_voice(concern_id: int, session: SessionDep, settings: SettingsDep, who: Reader) -> FileResponse:
    """The report's voice note, to whoever may see the concern; 404 `concern_voice_not_found` when it has none."""
    concern = access.visible_concern(session, who, concern_id)
    note = voice.kept(session, concern_id=int(concern.id or 0))
    return FileResponse(
        voice.path_of(settings.upload_dir, note.sha256),
        media_type=note.content_type,
        headers={
            "Cache-Control": "private, no-store",
            **SERVED_SAFELY,
            "Content-Disposition": f'inline; filename="voice-{note.id}.{voice.EXTENSIONS[note.content_type]}"',
        },
    )


# --- handling ----------------------------------------------------------------------------------------------------


@router.post("/{concern_id}/accept", response_model=ConcernOut)
def accept(concern_id: int, session: SessionDep, who: Staff) -> ConcernOut:
    """Take the concern on (an official of its village, its township's supervisor, the county admin): the
    dispatch deadline starts. Pressed twice, or by two at once: the second is 409 `concern_wrong_step`."""
    return concern_out(session, who, service.accept(session, who, concern_id))


@router.post("/{concern_id}/dispatch", response_model=ConcernOut)
def dispatch(concern_id: int, body: DispatchIn, session: SessionDep, who: Staff) -> ConcernOut:
    """Send an accepted (or returned, or reopened) concern to a handler of the county: its members are told, and
    the resolve deadline starts."""
    moved = service.dispatch(session, who, concern_id, handler_id=body.handler_id, note=body.note)
    return concern_out(session, who, moved)


@router.post("/{concern_id}/return", response_model=ConcernOut)
def return_(concern_id: int, body: ReturnIn, session: SessionDep, who: Staff) -> ConcernOut:
    """A member of the handler sends it back, saying why (not theirs): it waits to be dispatched again."""
    return concern_out(session, who, service.return_(session, who, concern_id, reason=body.reason))


@router.post(
    "/{concern_id}/resolve",
    response_model=ConcernOut,
    openapi_extra=json_or_form(ResolveIn, PHOTO_FILES),
)
async def resolve(concern_id: int, request: Request, caller: StaffCaller, settings: SettingsDep) -> Response:
    """A member of the handler says it is done: a note, 1 to 3 photos of the result (ids sent before, or the
    photos themselves in a form) and a judgement. A hazard or problem found real may earn the reporter points
    (a claim, on the village notice board like any); the reporter is told and evaluates."""
    body = await read_body(request, ResolveIn, files=("photo",))
    try:
        out: ConcernOut = await run(request, caller, _resolve, settings, concern_id, body)
    finally:
        await _closed(body)
    return json_answer(out)


def _resolve(session: Session, who: Principal, settings: Settings, concern_id: int, body: Body) -> ConcernOut:
    fields: ResolveIn = body.fields
    concern = access.visible_concern(session, who, concern_id)
    stored: list[EvidenceFile] = []
    if body.photos:
        if len(body.photos) > MOST_PHOTOS:
            raise ConcernTooManyPhotos(f"At most {MOST_PHOTOS} photos.", limit=MOST_PHOTOS, field="photo")
        village = _photo_village(session, concern)
        stored = [
            photos.save(
                session,
                file.file,
                root=settings.upload_dir,
                county_id=concern.county_id,
                village_id=village,
                household_id=None,
                actor=who.actor,
                max_pixels=settings.evidence_max_pixels,
            )
            for file in body.photos
        ]
    moved = service.resolve(
        session,
        who,
        concern_id,
        note=fields.note,
        judgement=fields.judgement,
        evidence_ids=(*fields.evidence_ids, *(photos_id(p) for p in stored)),
    )
    return concern_out(session, who, moved)


def _photo_village(session: Session, concern: Concern) -> int:
    """The village a resolution photo is kept under: the concern's, or for a township's concern the township's
    first village (a photo belongs to a village; who sees it is the concern's business)."""
    if concern.village_id is not None:
        return concern.village_id
    first = session.scalar(
        select(col(Village.id)).where(col(Village.township_id) == concern.township_id).order_by(col(Village.id))
    )
    assert first is not None
    return int(first)


@router.post("/{concern_id}/evaluate", response_model=ConcernOut)
def evaluate(concern_id: int, body: EvaluateIn, session: SessionDep, who: Evaluator) -> ConcernOut:
    """The reporter's household says whether it is satisfied: satisfied closes it; not satisfied reopens it once,
    to the township supervisor; not satisfied again closes it. For a report made in person or by phone, an
    official of the village (not of the handler that resolved it) records what the reporter said."""
    moved = service.evaluate(session, who, concern_id, satisfied=body.satisfied, comment=body.comment)
    return concern_out(session, who, moved)


@router.post("/{concern_id}/merge", response_model=ConcernOut)
def merge(concern_id: int, body: MergeIn, session: SessionDep, who: Staff) -> ConcernOut:
    """This concern repeats an open one of the county: it is merged into it (`into_id`), and its reporter follows
    that one (and is told). Not into itself (409 `merge_into_self`), nor into a concern that is done (409
    `merge_target_closed`)."""
    return concern_out(session, who, service.merge(session, who, concern_id, into_id=body.into_id))
