"""Request bodies, limited before routing and sign-in: pure ASGI middleware.

Each request falls in one class by its method and path: a county's roster (the roster import, API and page: a
whole county in one file), a route that takes a file (a photo: the evidence upload and the page forms with a
photo; a route taking several, the upload limit for each: a concern's report with 3 photos and a voice note),
any other API route (JSON), any other page form. A body whose Content-Length
is over its class's limit is answered 413 at once, unread; a body without one (chunked) is counted as it
streams, and reading stops at the limit. Either way the answer is the problem `body_too_large`, naming the limit.
The limits are settings (SHANZHI_ROSTER_BODY_BYTES, SHANZHI_UPLOAD_BODY_BYTES, SHANZHI_API_BODY_BYTES,
SHANZHI_FORM_BODY_BYTES).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from fastapi import params
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic.fields import FieldInfo
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem
from ledger.core.settings import Settings

CODE = "body_too_large"
ROSTER_IMPORTS = re.compile(r"^/(api/v1/roster/imports|county/roster/preview)$")  # POST: a county's roster file


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a streamed body passes its limit; api/problems.py answers it as it answers any
    HTTPException, with this one's code and limit. An HTTPException, so that FastAPI's body parsing lets it through
    instead of calling it a malformed body."""

    code = CODE

    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=describe(limit), headers={"Connection": "close"})
        self.limit = limit
        self.extra = {"limit": limit}


def describe(limit: int) -> str:
    return f"The request body is larger than this route accepts ({limit} bytes at most)."


@dataclass(frozen=True)
class Upload:
    """A route that takes a file: its methods, its path pattern and how many files one request may carry."""

    methods: frozenset[str]
    path: re.Pattern[str]
    files: int = 1


def body_fields(dependant: Dependant) -> Iterator[FieldInfo]:
    """The body fields of a route and of everything it depends on."""
    yield from (field.field_info for field in dependant.body_params)
    for sub in dependant.dependencies:
        yield from body_fields(sub)


def takes_a_file(route: APIRoute) -> bool:
    return any(isinstance(info, params.File) for info in body_fields(route.dependant))


def form_files(route: APIRoute) -> int:
    """How many files a route reading its own body takes at most (0: none), as its documented multipart form
    says: a binary field is one, a list of them as many as its `maxItems` (a concern's report: 3 photos and a
    voice note; api/routes/concerns.py)."""
    content = (route.openapi_extra or {}).get("requestBody", {}).get("content", {})
    fields = content.get("multipart/form-data", {}).get("schema", {}).get("properties", {})
    count = 0
    for field in fields.values():
        if field.get("format") == "binary":
            count += 1
        elif field.get("type") == "array" and field.get("items", {}).get("format") == "binary":
            count += int(field.get("maxItems", 1))
    return count


def uploads_of(routes: Iterable[BaseRoute]) -> list[Upload]:
    """The routes that take a photo: every route taking a file but the roster's (a class of its own); a route
    taking several files (its own form) may carry each at the upload size."""
    found = []
    for route in routes:
        if not isinstance(route, APIRoute) or ROSTER_IMPORTS.match(route.path):
            continue
        if files := form_files(route):
            found.append(Upload(frozenset(route.methods or ()), route.path_regex, files))
        elif takes_a_file(route):
            found.append(Upload(frozenset(route.methods or ()), route.path_regex))
    return found


class BodyLimit:
    def __init__(self, app: ASGIApp, *, settings: Settings, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.uploads = uploads_of(routes)
        self.roster_bytes, self.upload_bytes, self.api_bytes, self.form_bytes = (
            settings.roster_body_bytes,
            settings.upload_body_bytes,
            settings.api_body_bytes,
            settings.form_body_bytes,
        )

    def limit_for(self, method: str, path: str) -> int:
        if method == "POST" and ROSTER_IMPORTS.match(path):
            return self.roster_bytes
        for upload in self.uploads:
            if method in upload.methods and upload.path.match(path):
                return self.upload_bytes * upload.files
        return self.api_bytes if path.startswith("/api/") else self.form_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self.refuse(scope, receive, send, limit)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)

    async def refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """The problem, or on a page path the page that says so in the visitor's language (the pages install
        `app.state.status_page`); either way the connection closes, as the body is never read."""
        render = getattr(scope["app"].state, "status_page", None) if "app" in scope else None
        page = await render(Request(scope, receive), 413) if render is not None else None
        if page is None:
            await refuse(limit)(scope, receive, send)
            return
        page.headers["Connection"] = "close"
        await page(scope, receive, send)


def refuse(limit: int) -> ASGIApp:
    return problem(413, CODE, describe(limit), {"Connection": "close"}, limit=limit)
