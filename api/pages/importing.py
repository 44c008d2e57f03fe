"""The county admin's page for importing the roster (`/county/roster`): the template, an upload that is checked
first (a preview of the counts and of every problem by row and column, in the clerk's words), then applied on
confirmation, all or nothing (ledger/roster).

The file between preview and confirmation. The file uploaded for the preview is kept on the server for
`HELD_FOR`, under a random name, with who uploaded it (the account and the browser session, by their hashes) and
its SHA-256; the confirmation names it and its SHA-256, and only the same session of the same account may apply
it. It is deleted once applied; copies older than `HELD_FOR` are swept at each upload.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import Response

from api.i18n import N_
from api.pages import county_setup as setup
from api.pages.county_setup import AdminPage
from api.pages.web import SESSION_COOKIE, Page, hash_key
from ledger import roster
from ledger.core.errors import DomainError, Invalid, NotFound
from ledger.roster.files import XLSX_MEDIA

router = APIRouter()
HELD_FOR = 30 * 60  # seconds a roster file waits between its preview and its confirmation
PROBLEMS_SHOWN = 500  # the preview lists this many problems; the rest are counted by kind
TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")
SHA256 = re.compile(r"[0-9a-f]{64}")

# A roster problem, in the clerk's words, by its code (the report's own message is English)
ROSTER_PROBLEMS: dict[str, str] = {
    "column_missing": N_("The header row lacks this column. Start from the template and keep its headers."),
    "unknown_township": N_("There is no township of this name. Add it under Places, or tick “add new places”."),
    "unknown_village": N_("There is no village of this name. Add it under Places, or tick “add new places”."),
    "phone_malformed": N_("This is not an 11-digit mainland mobile number."),
    "phone_repeated": N_("This phone is listed twice in the file. Each member has their own phone, or none."),
    "phone_taken": N_("This phone belongs to a member of another household. Check the number."),
    "no_head": N_("This household has no head: mark one member 户主."),
    "two_heads": N_("This household has more than one head: mark only one member 户主."),
    "member_in_two_households": N_("This member is listed in two households. Keep them in one."),
    "name_missing": N_("The name is missing."),
    "code_missing": N_("The household number is missing."),
    "too_long": N_("This is longer than the roster keeps. Shorten it."),
    "village_in_two_townships": N_("This village is listed under two townships. Keep it under one."),
    "household_in_two_villages": N_("This household is listed in two villages. Keep it in one."),
    "household_closed": N_("This household was closed. A family that comes back is a new household."),
}


class RosterFileGone(NotFound):
    code = "roster_file_gone"  # the preview's file is no longer held (too old, applied, or another session's)


class NoFile(Invalid):
    code = "roster_file_missing"


# --- the roster --------------------------------------------------------------------------------------------------


def _roster_page(page: Page, status_code: int = 200, **context: Any) -> Response:
    return page.render("people/roster.html", status_code=status_code, columns=roster.COLUMNS, **context)


@router.get("/county/roster")
def roster_page(page: AdminPage) -> Response:
    """Import the roster: the template, and the upload that is checked before anything changes."""
    return _roster_page(page)


def _template(page: Page, format: str) -> Response:  # noqa: A002 - as the API names it
    media = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_MEDIA}[format]
    name = page._("roster-template")
    response = Response(
        roster.template(format),  # type: ignore[arg-type]  # one of the two
        media_type=media,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quoted(name)}.{format}"},
    )
    return page.respond(response)


def _quoted(name: str) -> str:
    return quote(name, safe="")


@router.get("/county/roster/template.xlsx")
def roster_template_xlsx(page: AdminPage) -> Response:
    return _template(page, "xlsx")


@router.get("/county/roster/template.csv")
def roster_template_csv(page: AdminPage) -> Response:
    return _template(page, "csv")


def _held_folder(page: Page) -> Path:
    folder = page.settings.upload_dir / "roster"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _session_hash(page: Page) -> str:
    return hash_key(page.request.cookies.get(SESSION_COOKIE, ""))


def _hold(page: Page, content: bytes, filename: str) -> str:
    """Keep the uploaded file until it is confirmed (or for `HELD_FOR`); the name it is kept under."""
    folder = _held_folder(page)
    now = time.time()
    for old in folder.glob("*.json"):  # sweep what was never confirmed
        if now - old.stat().st_mtime > HELD_FOR:
            old.unlink(missing_ok=True)
            old.with_suffix(".bin").unlink(missing_ok=True)
    token = secrets.token_urlsafe(24)
    meta = {
        "user_id": setup.who(page).user_id,
        "county_id": setup.who(page).county_id,
        "session": _session_hash(page),
        "filename": filename,
        "sha256": hashlib.sha256(content).hexdigest(),
        "at": now,
    }
    (folder / f"{token}.bin").write_bytes(content)
    (folder / f"{token}.json").write_text(json.dumps(meta))
    return token


def _held(page: Page, token: str, sha256: str) -> tuple[bytes, str]:
    """The file kept for this session under `token`, if its SHA-256 is `sha256` and it is not too old."""
    gone = RosterFileGone("The uploaded file is no longer kept; upload it again.")
    if not TOKEN.fullmatch(token) or not SHA256.fullmatch(sha256):
        raise gone
    folder = _held_folder(page)
    try:
        meta = json.loads((folder / f"{token}.json").read_text())
        content = (folder / f"{token}.bin").read_bytes()
    except (OSError, ValueError) as error:
        raise gone from error
    who = setup.who(page)
    if (
        meta.get("user_id") != who.user_id
        or meta.get("county_id") != who.county_id
        or meta.get("session") != _session_hash(page)
        or time.time() - float(meta.get("at", 0)) > HELD_FOR
        or meta.get("sha256") != sha256
        or hashlib.sha256(content).hexdigest() != sha256
    ):
        raise gone
    return content, str(meta.get("filename") or "roster")


def _drop(page: Page, token: str) -> None:
    folder = _held_folder(page)
    (folder / f"{token}.json").unlink(missing_ok=True)
    (folder / f"{token}.bin").unlink(missing_ok=True)


def _check(page: Page, content: bytes, filename: str, *, create_places: bool, dry_run: bool) -> roster.Report:
    table = roster.read_file(content, filename)
    who = setup.who(page)
    return roster.apply(
        page.session,
        county_id=who.county_id,
        table=table,
        dry_run=dry_run,
        create_places=create_places,
        actor=who.actor,
        by=who,
    )


def _problems(page: Page, report: roster.Report) -> dict[str, Any]:
    """The problems as the preview shows them: the first `PROBLEMS_SHOWN` by row, and how many of each kind."""
    counted: dict[str, int] = {}
    for problem in report.problems:
        counted[str(problem.get("code"))] = counted.get(str(problem.get("code")), 0) + 1
    shown = [
        {
            **problem,
            "text": page._(ROSTER_PROBLEMS[str(problem.get("code"))])
            if str(problem.get("code")) in ROSTER_PROBLEMS
            else str(problem.get("message", "")),
        }
        for problem in report.problems[:PROBLEMS_SHOWN]
    ]
    kinds = [
        {
            "code": code,
            "count": count,
            "text": page._(ROSTER_PROBLEMS.get(code, "")) if code in ROSTER_PROBLEMS else code,
        }
        for code, count in sorted(counted.items(), key=lambda item: -item[1])
    ]
    return {"problems": shown, "more_problems": max(0, len(report.problems) - PROBLEMS_SHOWN), "kinds": kinds}


@router.post("/county/roster/preview")
def preview_roster(
    page: AdminPage,
    file: Annotated[UploadFile | None, File()] = None,
    create_places: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Check the uploaded roster against the county's records and show what importing it would do; nothing is
    written. The file is kept for the confirmation."""
    places_too = create_places == "yes"
    try:
        if file is None or not file.filename:
            raise NoFile("Pick the roster file to upload.", field="file")
        content = file.file.read()
        filename = file.filename
        with setup.attempt(page):
            report = _check(page, content, filename, create_places=places_too, dry_run=True)
    except DomainError as error:
        if not setup.refused(error):
            raise
        return _roster_page(page, **setup.refused_as(page, error))
    token = _hold(page, content, filename) if report.ok else None
    return page.render(
        "people/roster_preview.html",
        status_code=200 if report.ok else 422,
        report=report.as_dict(),
        token=token,
        filename=filename,
        create_places=places_too,
        **_problems(page, report),
    )


@router.post("/county/roster/apply")
def apply_roster(
    page: AdminPage,
    token: Annotated[str, Form(max_length=64)],
    sha256: Annotated[str, Form(max_length=64)],
    create_places: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Apply the roster checked in the preview: all of it, or (with a problem found now) nothing."""
    places_too = create_places == "yes"
    try:
        content, filename = _held(page, token, sha256)
        with setup.attempt(page):
            report = _check(page, content, filename, create_places=places_too, dry_run=False)
    except DomainError as error:
        if not setup.refused(error):
            raise
        return _roster_page(page, **setup.refused_as(page, error))
    if not report.ok:  # the records changed since the preview: nothing was written
        return page.render(
            "people/roster_preview.html",
            status_code=422,
            report=report.as_dict(),
            token=None,
            filename=filename,
            create_places=places_too,
            **_problems(page, report),
        )
    _drop(page, token)
    return page.render("people/roster_done.html", report=report.as_dict(), filename=filename)
