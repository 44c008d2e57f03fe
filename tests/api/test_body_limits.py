"""Request bodies are limited before routing and sign-in (api/limits.py): a body declared too large is refused
before a byte of it is read, and a body sent in chunks is cut off once it passes the limit of its route's class."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledger.core.settings import Settings
from tests.api.claiming import JPEG, upload
from tests.api.conftest import World, app_of, bearer, villager_token

MB = 1024 * 1024
CHUNK = 64 * 1024
BOUNDARY = "shanzhi-test-boundary"


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    consumed: int  # bytes of the body the app took from the connection
    text: str = ""  # the answer as text (a page)


def call(app: FastAPI, method: str, path: str, chunks: Iterator[bytes], *, headers: dict[str, str]) -> Answer:
    """One request straight into the ASGI app, the body taken from `chunks` only as the app asks for it."""
    consumed = 0
    started: dict[str, Any] = {}
    parts: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal consumed
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        consumed += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.update(message)
        else:
            parts.append(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": "testserver", **headers}.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    body = b"".join(parts)
    return Answer(started["status"], json.loads(body) if body.startswith(b"{") else {}, consumed, body.decode())


def photo_upload(size: int) -> Iterator[bytes]:
    """A multipart form with one file of `size` bytes, made as it is read."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n"
    ).encode() + b"\xff\xd8\xff"
    sent = 3
    while sent < size:
        step = min(CHUNK, size - sent)
        sent += step
        yield bytes(step)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def multipart(length: int | None = None) -> dict[str, str]:
    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    return headers if length is None else {**headers, "content-length": str(length)}


def test_an_unauthenticated_50_mb_upload_is_413_before_the_body_is_read(client: TestClient, settings: Settings) -> None:
    app = app_of(client)
    size = 50 * MB
    declared = call(app, "POST", "/api/v1/evidence", photo_upload(size), headers=multipart(size + 300))
    assert declared.status == 413
    assert declared.body["code"] == "body_too_large" and declared.body["limit"] == settings.upload_body_bytes
    assert declared.consumed == 0  # refused on its Content-Length alone

    streamed = call(app, "POST", "/api/v1/evidence", photo_upload(size), headers=multipart())  # chunked
    assert streamed.status == 413 and streamed.body["code"] == "body_too_large"
    assert streamed.consumed <= settings.upload_body_bytes + CHUNK  # cut off at the limit, not read to the end


def test_json_and_page_forms_have_small_limits(client: TestClient, settings: Settings) -> None:
    app = app_of(client)
    json_body = iter([b'{"phone": "' + b"1" * CHUNK] * 40)
    api = call(app, "POST", "/api/v1/auth/otp/request", json_body, headers={"content-type": "application/json"})
    assert api.status == 413 and api.body["limit"] == settings.api_body_bytes
    assert api.consumed <= settings.api_body_bytes + CHUNK

    form = iter([b"csrf=" + b"a" * CHUNK] * 40)
    page = call(app, "POST", "/signin/password", form, headers={"content-type": "application/x-www-form-urlencoded"})
    assert page.status == 413 and page.consumed <= settings.form_body_bytes + CHUNK
    assert "发送的内容太大了" in page.text  # a page path is told on a page, in the visitor's words
    photo_form = {"content-type": "multipart/form-data", "content-length": str(settings.upload_body_bytes + 1)}
    too_big_photo = call(app, "POST", "/office/proxy", iter([b""]), headers=photo_form)
    assert (too_big_photo.status, too_big_photo.consumed) == (413, 0) and "发送的内容太大了" in too_big_photo.text

    declared = call(
        app,
        "POST",
        "/api/v1/auth/otp/request",
        iter([b"{}"]),
        headers={"content-type": "application/json", "content-length": str(settings.api_body_bytes + 1)},
    )
    assert (declared.status, declared.consumed) == (413, 0)


def test_a_body_within_its_limit_goes_through(client: TestClient, world: World) -> None:
    token = villager_token(client, world.villager_phone)
    assert upload(client, token, JPEG + bytes(4 * MB)).status_code == 201  # a 4 MB photo: fine
    app = app_of(client)
    small = call(app, "POST", "/api/v1/evidence", photo_upload(MB), headers=multipart())
    assert small.status == 401  # read in full (1 MB is allowed), then refused for want of a sign-in
    assert (
        client.post(
            "/api/v1/auth/otp/request", content=b"{", headers={"content-type": "application/json", **bearer(token)}
        ).status_code
        == 400
    )


def test_every_route_that_takes_a_photo_has_the_upload_limit_and_only_those() -> None:
    from api import pages
    from api.app import ROUTERS
    from api.limits import uploads_of

    found = {
        upload.path.pattern: upload.files
        for upload in uploads_of(r for x in (*ROUTERS, *pages.ROUTERS) for r in x.routes)
    }
    assert found == {
        "^/api/v1/evidence$": 1,
        "^/c/(?P<token>[^/]+)$": 1,
        "^/office/proxy$": 1,
        "^/office/deductions$": 1,
        "^/office/awards$": 1,
        "^/api/v1/concerns$": 4,  # a report's form: three photos and a voice note, each at the upload size
        "^/api/v1/concerns/(?P<concern_id>[^/]+)/resolve$": 3,  # a resolution's three photos
        "^/r/(?P<token>[^/]+)$": 4,  # the report form a concern code opens: three photos and a voice note
        "^/me/concerns/new$": 4,
        "^/office/concerns/new$": 1,  # a report told in person: one photo
        "^/office/concerns/(?P<concern_id>[^/]+)/resolve$": 3,
    }
