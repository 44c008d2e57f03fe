"""The concern routes as their users take them: a villager reports a hazard with a photo and a voice note, the
official accepts and dispatches it, the handler resolves it with a photo, the reporter follows the timeline and
evaluates; a replayed report answers the first; bad bodies are named, never a server error."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, func, select
from sqlmodel import col
from starlette.datastructures import UploadFile

from api.routes import concerns as concern_routes
from api.schemas.concerns import ConcernIn
from ledger.claims.models import EvidenceFile
from ledger.concerns.models import Concern, ConcernVoice
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings
from tests.api import concerning
from tests.api.concerning import OGG, WAV, Concerns, photo
from tests.api.conftest import World, bearer, password_token, villager_token
from tests.concurrently import run_together


@pytest.fixture
def concerns(engine: Engine, world: World) -> Concerns:
    return concerning.set_up(engine, world)


def report_form(client: TestClient, token: str, key: str, files: list[tuple[str, Any]], **fields: str) -> Any:
    data = {"category": "road_hazard", "kind": "hazard", "text": "A hole in the road by the bridge"} | fields
    return client.post("/api/v1/concerns", data=data, files=files, headers=bearer(token) | {"Idempotency-Key": key})


def test_a_hazard_from_report_to_evaluation(
    client: TestClient, world: World, concerns: Concerns, settings: Settings, engine: Engine
) -> None:
    villager = villager_token(client, world.villager_phone)
    official = password_token(client, "official-a")
    grid = password_token(client, "grid-1")
    files = [("photo", ("hole.png", photo(), "image/png")), ("voice", ("note.ogg", OGG, "audio/ogg"))]

    sent = report_form(client, villager, "r-1", files, village_id=str(world.village_a.village_id))
    assert sent.status_code == 201, sent.text
    concern = sent.json()
    assert concern["status"] == "submitted"
    assert concern["category"]["code"] == "road_hazard"
    assert concern["step_due_at"] is not None and concern["overdue"] is False
    assert [p["purpose"] for p in concern["photos"]] == ["report"]
    assert concern["voice_url"] == f"/api/v1/concerns/{concern['id']}/voice"
    assert [s["action"] for s in concern["timeline"]] == ["submit"]
    assert concern["reporter"]["household_id"] == world.household_a1  # the reporter sees themself

    again = report_form(client, villager, "r-1", files, village_id=str(world.village_a.village_id))
    assert again.status_code == 200 and again.headers["Idempotency-Replayed"] == "true"
    assert again.json()["id"] == concern["id"]
    with unit_of_work(engine) as session:  # the replay kept nothing of its own
        assert session.scalar(select(func.count()).select_from(Concern)) == 1
        assert session.scalar(select(func.count()).select_from(EvidenceFile)) == 1
        assert session.scalar(select(func.count()).select_from(ConcernVoice)) == 1

    cid = concern["id"]
    heard = client.get(f"/api/v1/concerns/{cid}/voice", headers=bearer(official))
    assert heard.status_code == 200 and heard.content == OGG
    assert heard.headers["content-type"] == "audio/ogg"
    assert heard.headers["x-content-type-options"] == "nosniff"
    seen = client.get(concern["photos"][0]["url"], headers=bearer(official))
    assert seen.status_code == 200 and seen.headers["content-type"] == "image/png"

    queue = client.get("/api/v1/concerns?status=submitted", headers=bearer(official))
    assert [c["id"] for c in queue.json()] == [cid]
    assert queue.json()[0]["actions"] == ["accept", "merge"]

    accepted = client.post(f"/api/v1/concerns/{cid}/accept", headers=bearer(official))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
    twice = client.post(f"/api/v1/concerns/{cid}/accept", headers=bearer(official))
    assert twice.status_code == 409
    assert twice.json()["code"] == "concern_wrong_step" and twice.json()["concern_status"] == "accepted"

    sent_on = client.post(
        f"/api/v1/concerns/{cid}/dispatch", json={"handler_id": concerns.handler_id}, headers=bearer(official)
    )
    assert sent_on.status_code == 200, sent_on.text
    assert sent_on.json()["handler"] == {"id": concerns.handler_id, "name": "Grid A", "kind": "grid"}

    mine = client.get("/api/v1/concerns", headers=bearer(grid)).json()
    assert [c["id"] for c in mine] == [cid] and mine[0]["actions"] == ["return", "resolve"]
    done = client.post(
        f"/api/v1/concerns/{cid}/resolve",
        data={"note": "Filled the hole", "judgement": "real"},
        files=[("photo", ("after.png", photo((30, 200, 30)), "image/png"))],
        headers=bearer(grid),
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "resolved" and done.json()["judgement"] == "real"
    assert sorted(p["purpose"] for p in done.json()["photos"]) == ["report", "resolution"]
    after = next(p["url"] for p in done.json()["photos"] if p["purpose"] == "resolution")
    assert client.get(after, headers=bearer(villager)).status_code == 200  # the reporter sees the result

    followed = client.get(f"/api/v1/concerns/{cid}", headers=bearer(villager)).json()
    steps = [(s["action"], s["status"], s["by"]) for s in followed["timeline"] if s["action"] != "reward"]
    assert steps == [
        ("submit", "submitted", "villager"),
        ("accept", "accepted", "official"),
        ("dispatch", "dispatched", "official"),
        ("resolve", "resolved", "handler"),
    ]
    assert all(s["actor"] is None and s["note"] is None for s in followed["timeline"])  # roles, never names
    assert followed["actions"] == ["evaluate"]
    staff_view = client.get(f"/api/v1/concerns/{cid}", headers=bearer(official)).json()
    actors = [s["actor"] for s in staff_view["timeline"]]
    assert actors[0] is None and all(a is not None and a.startswith("user:") for a in actors[1:4])

    closed = client.post(
        f"/api/v1/concerns/{cid}/evaluate", json={"satisfied": True, "comment": "Thank you"}, headers=bearer(villager)
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed" and closed.json()["closed_by"] == "evaluation"
    assert closed.json()["satisfied"] is True


def test_a_report_as_json_with_a_photo_sent_before(client: TestClient, world: World, concerns: Concerns) -> None:
    villager = villager_token(client, world.villager_phone)
    uploaded = client.post(
        "/api/v1/evidence", files={"file": ("a.png", photo(), "image/png")}, headers=bearer(villager)
    )
    assert uploaded.status_code == 201
    sent = client.post(
        "/api/v1/concerns",
        json={
            "category": "environment",
            "kind": "complaint",
            "text": "Rubbish by the pond",
            "evidence_ids": [uploaded.json()["id"]],
            "lat": 30.1,
            "lon": 120.2,
        },
        headers=bearer(villager) | {"Idempotency-Key": "j-1"},
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["village_id"] == world.village_a.village_id  # their own village, with no code scanned
    assert len(sent.json()["photos"]) == 1 and sent.json()["voice_url"] is None


def test_a_return_then_a_dispatch_to_another_handler(
    client: TestClient, world: World, concerns: Concerns, engine: Engine
) -> None:
    cid = concerning.concern_in(engine, world, concerns, "dispatched")
    grid = password_token(client, "grid-1")
    official = password_token(client, "official-a")
    back = client.post(f"/api/v1/concerns/{cid}/return", json={"reason": "A road matter"}, headers=bearer(grid))
    assert back.status_code == 200, back.text
    assert back.json()["status"] == "returned" and back.json()["handler"] is None
    again = client.post(
        f"/api/v1/concerns/{cid}/dispatch",
        json={"handler_id": concerns.other_handler_id},
        headers=bearer(official),
    )
    assert again.status_code == 200 and again.json()["handler"]["name"] == "Roads office"
    # grid-1 still sees what it once had, and may no longer act on it
    seen = client.get(f"/api/v1/concerns/{cid}", headers=bearer(grid))
    assert seen.status_code == 200 and seen.json()["actions"] == []
    refused = client.post(
        f"/api/v1/concerns/{cid}/resolve",
        json={"note": "done", "judgement": "real", "evidence_ids": [1]},
        headers=bearer(grid),
    )
    assert refused.status_code == 403 and refused.json()["code"] == "not_the_handler"


def test_not_satisfied_reopens_once_to_the_supervisor_then_closes(
    client: TestClient, world: World, concerns: Concerns, engine: Engine
) -> None:
    cid = concerning.concern_in(engine, world, concerns, "reopened")
    villager = villager_token(client, world.villager_phone)
    supervisor = password_token(client, "supervisor")
    seen = client.get(f"/api/v1/concerns/{cid}", headers=bearer(villager)).json()
    assert seen["status"] == "reopened" and seen["level"] == 1 and seen["reopened"] is True
    assert "dispatch" in client.get(f"/api/v1/concerns/{cid}", headers=bearer(supervisor)).json()["actions"]


def test_merge_into_an_open_concern(client: TestClient, world: World, concerns: Concerns, engine: Engine) -> None:
    first = concerning.concern_in(engine, world, concerns, "accepted")
    second = concerning.concern_in(engine, world, concerns, "submitted")
    official = password_token(client, "official-a")
    itself = client.post(f"/api/v1/concerns/{second}/merge", json={"into_id": second}, headers=bearer(official))
    assert itself.status_code == 409 and itself.json()["code"] == "merge_into_self"
    merged = client.post(f"/api/v1/concerns/{second}/merge", json={"into_id": first}, headers=bearer(official))
    assert merged.status_code == 200, merged.text
    assert merged.json()["status"] == "merged" and merged.json()["merged_into_id"] == first
    closed = concerning.concern_in(engine, world, concerns, "closed")
    third = concerning.concern_in(engine, world, concerns, "submitted")
    late = client.post(f"/api/v1/concerns/{third}/merge", json={"into_id": closed}, headers=bearer(official))
    assert late.status_code == 409 and late.json()["code"] == "merge_target_closed"


def test_an_official_records_a_report_told_in_person(client: TestClient, world: World, concerns: Concerns) -> None:
    official = password_token(client, "official-a")
    sent = client.post(
        "/api/v1/concerns",
        json={
            "category": "public_service",
            "kind": "question",
            "text": "When is the clinic open?",
            "channel": "in_person",
            "village_id": world.village_a.village_id,
            "reporter_name": "Old Wang",
            "reporter_phone": "13912345678",
        },
        headers=bearer(official) | {"Idempotency-Key": "p-1"},
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["channel"] == "in_person"
    assert sent.json()["reporter"]["name"] == "Old Wang"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"category": "road_hazard", "kind": "hazard", "text": "   "}, 422, "concern_text_required"),
        ({"category": "road_hazard", "kind": "hazard", "text": "x" * 1001}, 422, "invalid_request"),
        ({"category": "road_hazard", "kind": "rumour", "text": "x"}, 422, "invalid_request"),
        ({"category": "no_such", "kind": "hazard", "text": "x"}, 422, "category_not_found"),
        ({"category": "road_hazard", "kind": "hazard", "text": "x", "lat": 91, "lon": 0}, 422, "invalid_request"),
        ({"category": "road_hazard", "kind": "hazard", "text": "x", "place_id": 999}, 422, "place_not_found"),
        ({"category": "road_hazard", "kind": "hazard", "text": "x", "village_id": 10**6}, 404, "village_not_found"),
        ({"category": "road_hazard", "kind": "hazard", "text": "x", "evidence_ids": [1, 2, 3, 4]}, 422, None),
        ({"category": "road_hazard", "kind": "hazard", "text": ["x"]}, 422, "invalid_request"),
        ({"category": "road_hazard", "kind": "hazard", "text": "x", "extra": 1}, 422, "invalid_request"),
        ([1, 2], 422, "invalid_request"),
    ],
)
def test_bad_reports_are_named_and_write_nothing(
    client: TestClient, world: World, concerns: Concerns, engine: Engine, body: Any, status: int, code: str | None
) -> None:
    villager = villager_token(client, world.villager_phone)
    answer = client.post("/api/v1/concerns", json=body, headers=bearer(villager) | {"Idempotency-Key": "bad"})
    assert answer.status_code == status, answer.text
    if code is not None:
        assert answer.json()["code"] == code
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Concern)) == 0


def test_bad_bodies_and_files_are_named(client: TestClient, world: World, concerns: Concerns, engine: Engine) -> None:
    villager = villager_token(client, world.villager_phone)
    headers = bearer(villager) | {"Idempotency-Key": "f"}
    not_json = client.post("/api/v1/concerns", content=b"{nope", headers=headers | {"Content-Type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["code"] == "invalid_json"
    four = [("photo", (f"{i}.png", photo((i, 0, 0)), "image/png")) for i in range(4)]
    too_many = report_form(client, villager, "f-1", four)
    assert too_many.status_code == 422 and too_many.json()["code"] == "concern_too_many_photos"
    not_a_photo = report_form(client, villager, "f-2", [("photo", ("x.png", b"not an image", "image/png"))])
    assert not_a_photo.status_code == 415 and not_a_photo.json()["code"] == "evidence_type"
    big_voice = report_form(
        client, villager, "f-3", [("voice", ("v.ogg", b"OggS" + b"\0" * (1024 * 1024), "audio/ogg"))]
    )
    assert big_voice.status_code == 413 and big_voice.json()["code"] == "concern_voice_too_large"
    not_audio = report_form(client, villager, "f-4", [("voice", ("v.ogg", b"MZ\x90\x00" + b"\0" * 64, "audio/ogg"))])
    assert not_audio.status_code == 415 and not_audio.json()["code"] == "concern_voice_type"
    two_voices = report_form(client, villager, "f-5", [("voice", ("a.wav", WAV, "audio/wav"))] * 2)
    assert two_voices.status_code == 422
    stray = report_form(client, villager, "f-6", [("document", ("a.pdf", b"%PDF", "application/pdf"))])
    assert stray.status_code == 422
    bad_field = report_form(client, villager, "f-7", [], anonymous="perhaps")
    assert bad_field.status_code == 422 and bad_field.json()["code"] == "invalid_request"
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Concern)) == 0
        assert session.scalar(select(func.count()).select_from(ConcernVoice)) == 0


def test_three_photos_and_a_voice_note_fit_the_body_limit(
    client: TestClient, world: World, concerns: Concerns, settings: Settings
) -> None:
    """The report route admits a body of three photos near their 5 MB and a voice note near its 1 MB; a body
    beyond four uploads' worth is refused before it is read."""
    villager = villager_token(client, world.villager_phone)
    big = bytearray(photo())  # a valid PNG, padded after its end to near 5 MB (Pillow stops at IEND)
    big += b"\0" * (5 * 1024 * 1024 - len(big) - 10)
    files = [("photo", (f"{i}.png", bytes(big), "image/png")) for i in range(3)]
    files.append(("voice", ("v.wav", WAV + b"\0" * (1024 * 1024 - len(WAV) - 10), "audio/wav")))
    sent = report_form(client, villager, "big", files)
    assert sent.status_code == 201, sent.text[:300]
    assert len(sent.json()["photos"]) == 3
    limit = settings.upload_body_bytes * 4
    huge = client.post(
        "/api/v1/concerns",
        content=b"x" * (limit + 1),
        headers=bearer(villager) | {"Idempotency-Key": "h", "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert huge.status_code == 413 and huge.json()["code"] == "body_too_large"
    head = b'--x\r\nContent-Disposition: form-data; name="photo"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
    streamed = client.post(  # no Content-Length: counted as it streams, and refused at the limit
        "/api/v1/concerns",
        content=iter([head, *([b"\0" * (1 << 20)] * (limit // (1 << 20) + 2))]),
        headers=bearer(villager) | {"Idempotency-Key": "s", "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert streamed.status_code == 413 and streamed.json()["code"] == "body_too_large"


def test_the_list_pages_and_filters(client: TestClient, world: World, concerns: Concerns, engine: Engine) -> None:
    ids = [concerning.concern_in(engine, world, concerns, "submitted") for _ in range(3)]
    ids.append(concerning.concern_in(engine, world, concerns, "dispatched"))
    official = password_token(client, "official-a")
    first = client.get("/api/v1/concerns?limit=2", headers=bearer(official))
    assert [c["id"] for c in first.json()] == ids[::-1][:2]
    assert 'rel="next"' in first.headers["link"]
    second = client.get(first.headers["link"].split(">")[0].lstrip("<"), headers=bearer(official))
    assert [c["id"] for c in second.json()] == ids[::-1][2:]
    assert "link" not in second.headers
    assert [c["id"] for c in client.get("/api/v1/concerns?status=dispatched", headers=bearer(official)).json()] == [
        ids[3]
    ]
    by_handler = client.get(f"/api/v1/concerns?handler_id={concerns.handler_id}", headers=bearer(official)).json()
    assert [c["id"] for c in by_handler] == [ids[3]]
    assert client.get("/api/v1/concerns?overdue=true", headers=bearer(official)).json() == []
    assert client.get("/api/v1/concerns?cursor=garbage", headers=bearer(official)).status_code == 422


def test_set_up_routes(client: TestClient, world: World, concerns: Concerns) -> None:
    admin = password_token(client, "admin")
    official = password_token(client, "official-a")
    villager = villager_token(client, world.villager_phone)
    codes = [c["code"] for c in client.get("/api/v1/concern-categories", headers=bearer(villager)).json()]
    assert "road_hazard" in codes and "other" in codes
    added = client.post(
        "/api/v1/concern-categories",
        json={"code": "stray_dogs", "name_zh": "流浪狗", "name_en": "Stray dogs", "urgent": True},
        headers=bearer(admin),
    )
    assert added.status_code == 201, added.text
    assert added.json()["resolve_working"] is False  # an urgent one runs on the clock
    assert (
        client.post(
            "/api/v1/concern-categories",
            json={"code": "x_y", "name_zh": "x", "name_en": "x"},
            headers=bearer(official),
        ).status_code
        == 403
    )
    off = client.patch(
        f"/api/v1/concern-categories/{added.json()['id']}", json={"active": False}, headers=bearer(admin)
    )
    assert off.status_code == 200 and off.json()["active"] is False
    assert "stray_dogs" not in [
        c["code"] for c in client.get("/api/v1/concern-categories", headers=bearer(villager)).json()
    ]

    place = client.post(
        "/api/v1/concern-places",
        json={"village_id": world.village_a.village_id, "name": "Stone bridge", "lat": 30.0, "lon": 120.0},
        headers=bearer(official),
    )
    assert place.status_code == 201, place.text
    elsewhere = client.post(
        "/api/v1/concern-places", json={"village_id": world.village_b.village_id, "name": "X"}, headers=bearer(official)
    )
    assert elsewhere.status_code == 404
    listed = client.get(
        f"/api/v1/concern-places?village_id={world.village_a.village_id}", headers=bearer(villager)
    ).json()
    assert [p["name"] for p in listed] == ["Stone bridge"]
    gone = client.patch(
        f"/api/v1/concern-places/{place.json()['id']}", json={"active": False}, headers=bearer(official)
    )
    assert gone.status_code == 200 and gone.json()["active"] is False

    handler = client.post(
        "/api/v1/concern-handlers",
        json={"kind": "department", "name": "Water company"},
        headers=bearer(admin),
    )
    assert handler.status_code == 201, handler.text
    hid = handler.json()["id"]
    grid = client.get("/api/v1/concern-handlers", headers=bearer(official)).json()
    assert all(h["member_ids"] is None for h in grid)  # members: the county admin's business
    members = client.put(f"/api/v1/concern-handlers/{hid}/members", json={"user_ids": []}, headers=bearer(admin))
    assert members.status_code == 200 and members.json()["member_ids"] == []
    assert client.get("/api/v1/concern-handlers", headers=bearer(villager)).status_code == 403
    stopped = client.patch(f"/api/v1/concern-handlers/{hid}", json={"active": False}, headers=bearer(admin))
    assert stopped.status_code == 200 and stopped.json()["active"] is False


def test_a_dispatch_to_a_handler_that_stopped_or_is_not_there(
    client: TestClient, world: World, concerns: Concerns, engine: Engine
) -> None:
    cid = concerning.concern_in(engine, world, concerns, "accepted")
    official = password_token(client, "official-a")
    admin = password_token(client, "admin")
    missing = client.post(f"/api/v1/concerns/{cid}/dispatch", json={"handler_id": 10**6}, headers=bearer(official))
    assert missing.status_code == 422 and missing.json()["code"] == "handler_not_found"
    client.patch(f"/api/v1/concern-handlers/{concerns.handler_id}", json={"active": False}, headers=bearer(admin))
    stopped = client.post(
        f"/api/v1/concerns/{cid}/dispatch", json={"handler_id": concerns.handler_id}, headers=bearer(official)
    )
    assert stopped.status_code == 409 and stopped.json()["code"] == "handler_inactive"
    assert concerning.snapshot(engine, cid)[0] == "accepted"
    with unit_of_work(engine) as session:
        assert session.scalars(select(col(Concern.handler_id)).where(col(Concern.id) == cid)).one() is None


def test_the_reward_is_shown_to_the_reporter_only(
    client: TestClient, world: World, concerns: Concerns, engine: Engine
) -> None:
    cid = concerning.concern_in(engine, world, concerns, "dispatched")
    grid = password_token(client, "grid-1")
    done = client.post(
        f"/api/v1/concerns/{cid}/resolve",
        data={"note": "Filled", "judgement": "real"},
        files=[("photo", ("r.png", photo((9, 9, 9)), "image/png"))],
        headers=bearer(grid),
    )
    assert done.status_code == 200, done.text
    assert done.json()["reward"] is None  # the handler is not told
    mine = client.get(f"/api/v1/concerns/{cid}", headers=bearer(villager_token(client, world.villager_phone)))
    reward = mine.json()["reward"]
    assert reward is not None and reward["points"] == 3  # report_hazard, 随手拍·隐患
    assert "reward" in [s["action"] for s in mine.json()["timeline"]]
    for staff in ("official-a", "admin", "auditor"):
        assert (
            client.get(f"/api/v1/concerns/{cid}", headers=bearer(password_token(client, staff))).json()["reward"]
            is None
        )


def test_a_neighbour_whose_report_was_merged_follows_the_first_without_learning_who_made_it(
    client: TestClient, world: World, concerns: Concerns
) -> None:
    first_reporter = villager_token(client, world.villager_phone)
    neighbour = villager_token(client, "13900000002")
    where = {"lat": 30.25, "lon": 120.17, "village_id": world.village_a.village_id}
    first = client.post(
        "/api/v1/concerns",
        json={"category": "road_hazard", "kind": "hazard", "text": "A hole", **where},
        headers=bearer(first_reporter) | {"Idempotency-Key": "m-1"},
    )
    again = client.post(
        "/api/v1/concerns",
        json={"category": "road_hazard", "kind": "hazard", "text": "The same hole", **where},
        headers=bearer(neighbour) | {"Idempotency-Key": "m-2"},
    )
    assert first.status_code == 201 and again.status_code == 201, again.text
    assert again.json()["status"] == "merged" and again.json()["merged_into_id"] == first.json()["id"]
    followed = client.get(f"/api/v1/concerns/{first.json()['id']}", headers=bearer(neighbour))
    assert followed.status_code == 200
    assert followed.json()["reporter"] is None and followed.json()["actions"] == []
    listed = [c["id"] for c in client.get("/api/v1/concerns", headers=bearer(neighbour)).json()]
    assert sorted(listed) == sorted([first.json()["id"], again.json()["id"]])


def test_an_official_records_the_evaluation_of_a_report_told_in_person(
    client: TestClient, world: World, concerns: Concerns
) -> None:
    official = password_token(client, "official-a")
    grid = password_token(client, "grid-1")
    told = client.post(
        "/api/v1/concerns",
        json={
            "category": "environment",
            "kind": "complaint",
            "text": "Rubbish by the well",
            "channel": "phone",
            "reporter_household_id": world.household_a1,
        },
        headers=bearer(official) | {"Idempotency-Key": "t-1"},
    )
    assert told.status_code == 201, told.text
    cid = told.json()["id"]
    assert client.post(f"/api/v1/concerns/{cid}/accept", headers=bearer(official)).status_code == 200
    client.post(f"/api/v1/concerns/{cid}/dispatch", json={"handler_id": concerns.handler_id}, headers=bearer(official))
    done = client.post(
        f"/api/v1/concerns/{cid}/resolve",
        data={"note": "Cleared", "judgement": "real"},
        files=[("photo", ("r.png", photo((1, 2, 3)), "image/png"))],
        headers=bearer(grid),
    )
    assert done.status_code == 200, done.text
    by_handler = client.post(f"/api/v1/concerns/{cid}/evaluate", json={"satisfied": True}, headers=bearer(grid))
    assert by_handler.status_code == 403 and by_handler.json()["code"] == "not_the_reporter"
    heard = client.post(
        f"/api/v1/concerns/{cid}/evaluate",
        json={"satisfied": False, "comment": "Still smells"},
        headers=bearer(official),
    )
    assert heard.status_code == 200, heard.text
    assert heard.json()["status"] == "reopened" and heard.json()["level"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/concerns/99999999999999999999999999", None),
        ("POST", "/api/v1/concerns/99999999999999999999999999/accept", None),
        ("POST", "/api/v1/concerns/1/dispatch", {"handler_id": 10**30}),
        ("POST", "/api/v1/concerns/1/merge", {"into_id": "one"}),
        ("POST", "/api/v1/concerns/1/evaluate", {"satisfied": "maybe"}),
        ("POST", "/api/v1/concerns/1/return", {"reason": "x" * 1001}),
        ("GET", "/api/v1/concerns/1/photos/99999999999999999999999", None),
        ("GET", "/api/v1/concerns?status=lost", None),
        ("GET", "/api/v1/concerns?limit=100000", None),
    ],
)
def test_odd_ids_and_values_are_named_never_a_server_error(
    client: TestClient, world: World, concerns: Concerns, engine: Engine, method: str, path: str, body: Any
) -> None:
    concerning.concern_in(engine, world, concerns, "submitted")
    official = password_token(client, "official-a")
    answer = client.request(method, path, json=body, headers=bearer(official))
    assert answer.status_code in (404, 409, 422), answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert concerning.snapshot(engine, 1)[:2] == ("submitted", 1)


def _send_form(engine: Engine, arg: tuple[Settings, int]) -> str:
    """The report route's work for one form with a photo and a voice note, key "same" (as a retrying phone)."""
    settings, user_id = arg
    body = concern_routes.Body(
        ConcernIn(category="road_hazard", kind="hazard", text="A hole"),
        [UploadFile(io.BytesIO(photo((5, 5, 5))), filename="a.png")],
        UploadFile(io.BytesIO(OGG), filename="v.ogg"),
        None,
    )
    with unit_of_work(engine) as session:
        who = concerning.principal(session, user_id=user_id)
        out = concern_routes._report(session, who, settings, body, "same")
        return "replayed" if out.replayed else "created"


def test_a_form_sent_several_times_at_once_makes_one_report(
    world: World, concerns: Concerns, engine: Engine, settings: Settings, database_url: str
) -> None:
    """Six sends of the same form with one Idempotency-Key at once (a phone retrying on a bad line): one report,
    the others answer it again; one photo row, one voice note."""
    outcomes = run_together(database_url, _send_form, [(settings, concerns.reporter_user)] * 6)
    assert sorted(outcomes) == ["created"] + ["replayed"] * 5, outcomes
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count()).select_from(Concern)) == 1
        assert session.scalar(select(func.count()).select_from(EvidenceFile)) == 1
        assert session.scalar(select(func.count()).select_from(ConcernVoice)) == 1


def test_a_township_concern_goes_to_the_supervisor_not_the_villages(
    client: TestClient, world: World, concerns: Concerns
) -> None:
    villager = villager_token(client, world.villager_phone)
    supervisor = password_token(client, "supervisor")
    official = password_token(client, "official-a")
    office = password_token(client, "grid-2")
    sent = client.post(
        "/api/v1/concerns",
        json={"category": "public_facility", "kind": "complaint", "text": "The bus stop roof leaks",
              "township_id": world.village_a.township_id},
        headers=bearer(villager) | {"Idempotency-Key": "t"},
    )  # fmt: skip
    assert sent.status_code == 201, sent.text
    cid = sent.json()["id"]
    assert sent.json()["village_id"] is None
    assert client.get(f"/api/v1/concerns/{cid}", headers=bearer(official)).status_code == 404
    assert client.post(f"/api/v1/concerns/{cid}/accept", headers=bearer(supervisor)).status_code == 200
    sent_on = client.post(
        f"/api/v1/concerns/{cid}/dispatch", json={"handler_id": concerns.other_handler_id}, headers=bearer(supervisor)
    )
    assert sent_on.status_code == 200, sent_on.text
    done = client.post(
        f"/api/v1/concerns/{cid}/resolve",
        data={"note": "Roof mended", "judgement": "real"},
        files=[("photo", ("roof.png", photo((4, 4, 4)), "image/png"))],
        headers=bearer(office),
    )
    assert done.status_code == 200, done.text
    shown = client.get(done.json()["photos"][0]["url"], headers=bearer(villager))
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"


def test_a_step_past_its_deadline_is_listed_as_overdue(
    client: TestClient, world: World, concerns: Concerns, engine: Engine
) -> None:
    late = concerning.concern_in(engine, world, concerns, "accepted")
    on_time = concerning.concern_in(engine, world, concerns, "accepted")
    with unit_of_work(engine) as session:
        row = session.get(Concern, late)
        assert row is not None and row.step_due_at is not None
        row.step_due_at = row.step_due_at.replace(year=2020)
    official = password_token(client, "official-a")
    listed = client.get("/api/v1/concerns?overdue=true", headers=bearer(official)).json()
    assert [c["id"] for c in listed] == [late] and listed[0]["overdue"] is True
    assert client.get(f"/api/v1/concerns/{on_time}", headers=bearer(official)).json()["overdue"] is False
    villager = villager_token(client, world.villager_phone)
    assert client.get("/api/v1/concerns?overdue=true", headers=bearer(villager)).json() == []


def test_a_page_of_concerns_reads_the_same_few_statements_however_many_rows(
    client: TestClient, world: World, concerns: Concerns, engine: Engine
) -> None:
    """The list reads categories, handlers, places, photos, voice notes and reporting households once for the
    page: ten rows and forty cost the county admin and the reporter the same number of statements."""
    tokens = {"admin": password_token(client, "admin"), "villager": villager_token(client, world.villager_phone)}
    statements: list[str] = []

    def seen(*args: Any, **kwargs: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", seen)

    def counted(token: str) -> int:
        statements.clear()
        assert client.get("/api/v1/concerns?limit=200", headers=bearer(token)).status_code == 200
        return len(statements)

    try:
        for _ in range(10):
            concerning.concern_in(engine, world, concerns, "closed")
        few = {who: counted(token) for who, token in tokens.items()}
        for _ in range(30):
            concerning.concern_in(engine, world, concerns, "closed")
        many = {who: counted(token) for who, token in tokens.items()}
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert many == few, (few, many)
