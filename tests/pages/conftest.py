"""Fixtures for page tests: a browser-like client (HTTPS, so Secure cookies travel) and signing in by form."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from api.app import create_app
from ledger.core.settings import Settings
from tests.api.conftest import PASSWORD, World, settings, world  # noqa: F401 - fixtures used by page tests

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


@pytest.fixture
def browser(settings: Settings, engine: Engine) -> Iterator[TestClient]:  # noqa: F811
    """A client that behaves like a browser on https: cookies kept, redirects not followed by itself."""
    with TestClient(
        create_app(settings, engine=engine), base_url="https://testserver", follow_redirects=False
    ) as client:
        yield client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def form_post(
    client: TestClient,
    path: str,
    data: dict[str, str],
    *,
    from_page: str | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> Response:
    """Send a form as a browser would: with the CSRF token of the page it is on."""
    page = client.get(from_page or path)
    assert page.status_code == 200, page.text
    response: Response = client.post(path, data={"csrf": csrf_of(page.text), **data}, files=files)
    return response


def sign_in_villager(client: TestClient, phone: str, next_path: str = "") -> None:
    sent = form_post(client, "/signin/phone", {"phone": phone, "next": next_path}, from_page="/signin")
    assert sent.status_code == 200, sent.text
    code = re.search(r"<strong class=\"dev-code\">(\d{6})</strong>", sent.text)
    assert code, "dev mode shows the code on the page"
    done = client.post(
        "/signin/code", data={"csrf": csrf_of(sent.text), "phone": phone, "code": code.group(1), "next": next_path}
    )
    assert done.status_code == 303, done.text


def sign_in_staff(client: TestClient, username: str, password: str = PASSWORD) -> None:
    done = form_post(client, "/signin/password", {"username": username, "password": password}, from_page="/signin")
    assert done.status_code == 303, done.text
