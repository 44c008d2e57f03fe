"""Helpers for the claim tests: activities, photos and claims through the API, as the apps would send them."""

from __future__ import annotations

import io
import itertools
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from PIL import Image

from ledger.core.base import utcnow
from tests.api.conftest import bearer

_keys = itertools.count(1)


def picture(
    kind: str = "JPEG", colour: tuple[int, int, int] = (90, 140, 60), size: tuple[int, int] = (32, 24)
) -> bytes:
    """A small real photo (photos are decoded, so a few magic bytes no longer pass)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, kind)
    return buffer.getvalue()


JPEG = picture()
PNG = picture("PNG", (200, 180, 40))


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"key-{next(_keys)}"}


def new_activity(
    client: TestClient, token: str, village_id: int, matter: str = "volunteering", **overrides: Any
) -> dict[str, Any]:
    now = utcnow()
    body = {
        "village_id": village_id,
        "matter_code": matter,
        "title": f"Activity for {matter}",
        "place": "Village hall",
        "starts_at": (now - timedelta(hours=1)).isoformat(),
        "ends_at": (now + timedelta(days=2)).isoformat(),
        **overrides,
    }
    response = client.post("/api/v1/activities", json=body, headers=bearer(token))
    assert response.status_code == 201, response.text
    activity: dict[str, Any] = response.json()
    return activity


def code_of(activity: dict[str, Any]) -> str:
    return str(activity["claim_url"]).rsplit("/", 1)[-1]


def live_code(client: TestClient, token: str, activity_id: int) -> str:
    response = client.get(f"/api/v1/activities/{activity_id}/live", headers=bearer(token))
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def upload(
    client: TestClient, token: str, content: bytes = JPEG, *, name: str = "photo.jpg", village_id: int | None = None
) -> Response:
    params = {"village_id": village_id} if village_id else None
    response: Response = client.post(
        "/api/v1/evidence", files={"file": (name, content, "image/jpeg")}, params=params, headers=bearer(token)
    )
    return response


def photo(client: TestClient, token: str, content: bytes = JPEG, **kw: Any) -> int:
    response = upload(client, token, content, **kw)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def claim(client: TestClient, token: str, code: str, *, headers: dict[str, str] | None = None, **body: Any) -> Response:
    response: Response = client.post(
        "/api/v1/claims", json={"token": code, **body}, headers={**bearer(token), **key(), **(headers or {})}
    )
    return response


def decide(client: TestClient, token: str, claim_id: int, action: str = "approve", **body: Any) -> Response:
    response: Response = client.post(
        f"/api/v1/claims/{claim_id}/{action}", json=body or None, headers={**bearer(token), **key()}
    )
    return response


def balance(client: TestClient, token: str, household_id: int) -> dict[str, int]:
    response = client.get(f"/api/v1/households/{household_id}/balance", headers=bearer(token))
    assert response.status_code == 200, response.text
    found: dict[str, int] = response.json()
    return found
