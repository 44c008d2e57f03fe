"""Partner webhooks: signing, the receiver in docs/webhooks.md, delivery to a real HTTP endpoint with retries, and
who may use the routes."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from ledger.core import audit
from ledger.core.base import as_utc, utcnow
from ledger.core.db import unit_of_work
from ledger.core.settings import Settings, get_settings
from ledger.identity.models import Partner
from redemption import schedule, webhooks
from redemption.models import WebhookDelivery
from tests.api.conftest import World, bearer, client_token, make_settings, password_token, villager_token
from tests.factories import id_of, not_none

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SECRET = "whsec_" + "ab" * 24
LOOPBACK = '["127.0.0.1/32"]'  # the test receivers listen on 127.0.0.1: the allow-list lets them in


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, webhook_allowed_networks=json.loads(LOOPBACK))


@pytest.fixture(autouse=True)
def partners_on_the_internet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Names under .example resolve to a public address (nothing connects to it: those tests send by hand); the
    scheduled delivery, which reads the service's settings, runs in dev mode with the receivers allowed."""
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host).endswith(".example"):
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("93.184.215.14", int(port or 0)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setenv("SHANZHI_ENV", "dev")
    monkeypatch.setenv("SHANZHI_WEBHOOK_ALLOWED_NETWORKS", LOOPBACK)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def partner_id(engine: Engine, code: str) -> int:
    with Session(engine) as session:
        return id_of(session.scalars(select(Partner).where(col(Partner.code) == code)).one())


def set_webhook(engine: Engine, code: str, url: str) -> None:
    """Set a partner's URL and secret straight in the database (the routes are tested below)."""
    with unit_of_work(engine) as session:
        partner = session.scalars(select(Partner).where(col(Partner.code) == code)).one()
        partner.webhook_url, partner.webhook_secret = url, SECRET


def enqueue(
    engine: Engine, world: World, code: str, event: str = "voucher.consumed", data: dict[str, Any] | None = None
) -> str:
    partner = partner_id(engine, code)
    with unit_of_work(engine) as session:
        return webhooks.enqueue(
            session,
            partner_id=partner,
            county_id=world.village_a.county_id,
            event=event,
            data=data if data is not None else {"voucher_id": 7},
        )


def delivery(engine: Engine, delivery_id: str) -> WebhookDelivery:
    with Session(engine) as session:
        row = session.get(WebhookDelivery, delivery_id)
        assert row is not None
        return row


def signed(payload: dict[str, Any], *, secret: str = SECRET, at: float | None = None) -> tuple[dict[str, str], bytes]:
    body = webhooks.body_of(payload)
    t = int(time.time() if at is None else at)
    return {
        "Content-Type": "application/json",
        "Shanzhi-Delivery": payload["id"],
        "Shanzhi-Event": payload["event"],
        "Shanzhi-Signature": webhooks.sign(secret, t, body),
    }, body


# --- signing ---------------------------------------------------------------------------------------------------


def test_sign_and_verify_round_trip() -> None:
    body = webhooks.body_of({"id": "a" * 32, "event": "voucher.consumed", "data": {"title": "大米 5 斤"}})
    assert "大米".encode() in body  # UTF-8, not \u escapes
    now = 1_767_225_600
    header = webhooks.sign(SECRET, now, body)
    assert re.fullmatch(r"t=1767225600,v1=[0-9a-f]{64}", header)
    assert webhooks.verify(SECRET, header, body, now=now)
    assert webhooks.verify(SECRET, header, body, now=now + 300)
    assert webhooks.verify(
        SECRET, header, body, now=utcnow().replace(year=2026, month=1, day=1, hour=0, minute=4, second=0, microsecond=0)
    )
    assert not webhooks.verify(SECRET, header, body + b" ", now=now)  # tampered body
    assert not webhooks.verify(SECRET, header, body.replace(b"5", b"9"), now=now)
    assert not webhooks.verify("whsec_other", header, body, now=now)  # wrong secret
    assert not webhooks.verify(SECRET, header, body, now=now + 301)  # stale
    assert not webhooks.verify(SECRET, header, body, now=now - 301)  # from the future
    assert not webhooks.verify(SECRET, header.replace("t=1767225600", "t=1767225601"), body, now=now)
    assert not webhooks.verify(SECRET, "", body, now=now)
    assert not webhooks.verify(SECRET, "t=1767225600", body, now=now)
    assert not webhooks.verify(SECRET, "t=1767225600,v1=zz\u00e9", body, now=now)
    # a header with more signatures (a later scheme, another v1) still verifies by any matching v1
    assert webhooks.verify(SECRET, f"{header},v1={'0' * 64},v2=whatever", body, now=now)


def test_new_secret_fits_the_column() -> None:
    made = {webhooks.new_secret() for _ in range(10)}
    assert len(made) == 10
    assert all(s.startswith("whsec_") and len(s) <= 64 for s in made)


# --- the receiver of docs/webhooks.md --------------------------------------------------------------------------


def docs_receiver() -> dict[str, Any]:
    block = re.search(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None, "docs/webhooks.md has no python block"
    namespace: dict[str, Any] = {"__name__": "webhook_receiver"}
    exec(compile(block.group(1), str(DOCS), "exec"), namespace)  # our own documentation, run as written
    handled: list[dict[str, Any]] = []
    namespace["SECRET"] = SECRET
    namespace["handle"] = handled.append
    namespace["handled"] = handled
    return namespace


def test_docs_receiver_accepts_signed_and_rejects_replayed_tampered_and_old_deliveries() -> None:
    receiver = docs_receiver()
    receive = receiver["receive"]
    payload = {
        "id": "c" * 32,
        "event": "booking.created",
        "created_at": "2026-01-01T00:00:00+00:00",
        "data": {"booking_id": 3, "place": "卫生院"},
    }
    headers, body = signed(payload)

    assert receive(headers, body) == (200, "ok")
    assert [e["id"] for e in receiver["handled"]] == ["c" * 32]

    status, message = receive(headers, body)  # the same delivery again: not acted on twice
    assert status == 200 and message.startswith("duplicate")
    again_headers, again_body = signed(payload, at=time.time() + 1)  # a retry: same id, fresh signature
    assert receive(again_headers, again_body)[1].startswith("duplicate")
    assert len(receiver["handled"]) == 1

    fresh = {**payload, "id": "d" * 32}
    headers, body = signed(fresh)
    assert receive(headers, body.replace(b"\xe5\x8d\xab", b"X"))[0] == 401  # tampered body
    assert receive({k.lower(): v for k, v in signed(fresh, secret="whsec_wrong")[0].items()}, body)[0] == 401
    old_headers, old_body = signed(fresh, at=time.time() - 6 * 60)
    status, message = receive(old_headers, old_body)
    assert status == 401 and "old" in message
    assert receive({**headers, "Shanzhi-Delivery": "e" * 32}, body)[0] == 400  # header and body disagree
    assert len(receiver["handled"]) == 1
    assert receive(headers, body) == (200, "ok")  # the genuine one, untouched, still goes through
    assert len(receiver["handled"]) == 2


def test_docs_receiver_verifies_what_the_service_signs(engine: Engine, world: World) -> None:
    receiver = docs_receiver()
    set_webhook(engine, "mart", "https://mart.example/hooks")
    enqueue(engine, world, "mart", data={"voucher_id": 9, "title": "菜籽油"})
    answers: list[tuple[int, str]] = []

    def send(url: str, headers: dict[str, str], body: bytes) -> int:
        assert url == "https://mart.example/hooks"
        answers.append(receiver["receive"](headers, body))
        return answers[-1][0]

    assert webhooks.deliver_due(engine, utcnow(), send=send) == 1
    assert answers == [(200, "ok")]
    assert receiver["handled"][0]["data"] == {"voucher_id": 9, "title": "菜籽油"}


# --- delivery to a real endpoint -------------------------------------------------------------------------------


class Endpoint:
    """A partner's HTTP receiver: fails the first request with 500, then accepts; checks every signature."""

    def __init__(self) -> None:
        self.secret = ""
        self.requests: list[dict[str, Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                        "valid": webhooks.verify(
                            endpoint.secret, self.headers.get("Shanzhi-Signature", ""), body, now=time.time()
                        ),
                    }
                )
                self.send_response(500 if len(endpoint.requests) == 1 else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/shanzhi"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    served = Endpoint()
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()
    served.thread.join(timeout=5)


def test_delivery_to_a_real_endpoint_is_signed_and_retried_with_backoff(
    client: TestClient, engine: Engine, world: World, endpoint: Endpoint
) -> None:
    token = client_token(client, "clinic")
    put = client.put("/api/v1/partners/me/webhook", json={"url": endpoint.url}, headers=bearer(token))
    assert put.status_code == 200, put.text
    assert put.json()["webhook_url"] == endpoint.url
    endpoint.secret = put.json()["secret"]
    assert endpoint.secret.startswith("whsec_")

    delivery_id = enqueue(engine, world, "clinic", "booking.created", {"booking_id": 5, "place": "镇卫生院"})
    t0 = utcnow()
    report = schedule.tick(engine, now=t0)
    assert report.done["deliver_webhooks"] == 0
    assert len(endpoint.requests) == 1
    row = delivery(engine, delivery_id)
    assert (row.attempts, row.last_status, row.delivered_at) == (1, 500, None)
    assert as_utc(row.next_attempt_at) == t0 + timedelta(seconds=30)

    assert schedule.tick(engine, now=t0 + timedelta(seconds=29)).done["deliver_webhooks"] == 0  # not before its time
    assert len(endpoint.requests) == 1

    assert schedule.tick(engine, now=t0 + timedelta(seconds=30)).done["deliver_webhooks"] == 1
    assert len(endpoint.requests) == 2
    row = delivery(engine, delivery_id)
    assert (row.attempts, row.last_status, row.last_error) == (2, 204, None)
    assert as_utc(not_none(row.delivered_at)) == t0 + timedelta(seconds=30)

    first, second = endpoint.requests
    for request in endpoint.requests:
        assert request["valid"], "the signature checks with the secret the PUT route returned"
        assert request["path"] == "/hooks/shanzhi"
        assert request["headers"]["Shanzhi-Delivery"] == delivery_id
        assert request["headers"]["Shanzhi-Event"] == "booking.created"
        assert request["headers"]["Content-Type"] == "application/json"
    assert first["body"] == second["body"]
    envelope = json.loads(second["body"])
    assert envelope["id"] == delivery_id and envelope["event"] == "booking.created"
    assert envelope["data"] == {"booking_id": 5, "place": "镇卫生院"}
    assert set(envelope) == {"id", "event", "created_at", "data"}

    assert schedule.tick(engine, now=t0 + timedelta(hours=1)).done["deliver_webhooks"] == 0  # delivered: never again
    assert len(endpoint.requests) == 2

    listed = client.get("/api/v1/partners/me/webhook/deliveries", headers=bearer(token)).json()
    assert [(d["id"], d["attempts"], d["last_status"], d["next_attempt_at"]) for d in listed] == [
        (delivery_id, 2, 204, None)
    ]
    assert listed[0]["delivered_at"] is not None


def test_failures_back_off_and_stop_after_the_last_attempt(engine: Engine, world: World) -> None:
    set_webhook(engine, "bank", "https://bank.example/h")
    delivery_id = enqueue(engine, world, "bank", "loan_application.created")
    calls = 0

    def unreachable(url: str, headers: dict[str, str], body: bytes) -> int:
        nonlocal calls
        calls += 1
        raise OSError("connection refused")

    now = utcnow()
    waits = []
    for _ in range(webhooks.MAX_ATTEMPTS):
        assert webhooks.deliver_due(engine, now, send=unreachable) == 0
        row = delivery(engine, delivery_id)
        waits.append(as_utc(row.next_attempt_at) - now)
        now = as_utc(row.next_attempt_at)
    assert calls == webhooks.MAX_ATTEMPTS
    assert waits[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert waits[-1] == timedelta(hours=6)
    assert (row.attempts, row.last_status, row.last_error) == (12, None, "could not connect")  # not the error text
    assert webhooks.deliver_due(engine, now + timedelta(days=1), send=unreachable) == 0  # given up: never again
    assert calls == webhooks.MAX_ATTEMPTS


def test_a_partner_without_a_url_waits_without_using_attempts(client: TestClient, engine: Engine, world: World) -> None:
    delivery_id = enqueue(engine, world, "mart2", "voucher.expired")
    sent: list[tuple[str, dict[str, str], bytes]] = []

    def send(url: str, headers: dict[str, str], body: bytes) -> int:
        sent.append((url, headers, body))
        return 200

    assert webhooks.deliver_due(engine, utcnow() + timedelta(hours=1), send=send) == 0
    row = delivery(engine, delivery_id)
    assert (row.attempts, row.delivered_at, sent) == (0, None, [])

    token = password_token(client, "mart2-staff")
    secret = client.put(
        "/api/v1/partners/me/webhook", json={"url": "https://mart2.example/in"}, headers=bearer(token)
    ).json()["secret"]
    assert webhooks.deliver_due(engine, utcnow(), send=send) == 1
    ((url, headers, body),) = sent
    assert url == "https://mart2.example/in"
    assert webhooks.verify(secret, headers["Shanzhi-Signature"], body, now=time.time())
    assert delivery(engine, delivery_id).attempts == 1


def test_a_non_2xx_answer_is_a_failure_and_other_partners_still_go(engine: Engine, world: World) -> None:
    for code in ("bank", "bank2"):
        set_webhook(engine, code, f"https://{code}.example/h")
    failing = enqueue(engine, world, "bank", "loan_application.decided")
    fine = enqueue(engine, world, "bank2", "loan_application.decided")

    def send(url: str, headers: dict[str, str], body: bytes) -> int:
        return 302 if url.startswith("https://bank.") else 200

    now = utcnow()
    assert webhooks.deliver_due(engine, now, send=send) == 1
    row = delivery(engine, failing)
    assert (row.attempts, row.last_status, row.last_error, row.delivered_at) == (1, 302, "HTTP 302", None)
    assert delivery(engine, fine).delivered_at is not None


def test_a_delivery_is_sent_outside_any_transaction_and_only_by_one_worker(engine: Engine, world: World) -> None:
    """While a partner's endpoint takes its time, the database is free (on SQLite a held transaction would stop
    every write), and a second worker passes the leased delivery by."""
    set_webhook(engine, "clinic", "https://clinic.example/h")
    enqueue(engine, world, "clinic", "booking.cancelled")
    sent_by_other: list[bytes] = []
    other_delivered: list[int] = []

    def send_by_other(url: str, headers: dict[str, str], body: bytes) -> int:
        sent_by_other.append(body)
        return 200

    def send(url: str, headers: dict[str, str], body: bytes) -> int:
        enqueue(engine, world, "mart", "voucher.consumed")  # someone else writes meanwhile
        other_delivered.append(
            webhooks.deliver_due(engine, utcnow(), send=send_by_other)  # a second worker, while the first is sending
        )
        return 200

    assert webhooks.deliver_due(engine, utcnow(), send=send) == 1
    assert (other_delivered, sent_by_other) == ([0], [])


# --- the routes ------------------------------------------------------------------------------------------------


ROUTES = [
    ("GET", "/api/v1/partners/me", None),
    ("PUT", "/api/v1/partners/me/webhook", {"url": "https://x.example"}),
    ("POST", "/api/v1/partners/me/webhook/secret", None),
    ("GET", "/api/v1/partners/me/webhook/deliveries", None),
    ("POST", "/api/v1/partners/me/webhook/deliveries/" + "0" * 32 + "/retry", None),
]


def test_villagers_and_officials_may_not_use_the_partner_routes(client: TestClient, world: World) -> None:
    for token in (
        villager_token(client, world.villager_phone),
        password_token(client, "official-a"),
        password_token(client, "admin"),
    ):
        for method, path, body in ROUTES:
            response = client.request(method, path, json=body, headers=bearer(token))
            assert response.status_code == 403, (method, path, response.text)
    for method, path, body in ROUTES:
        assert client.request(method, path, json=body).status_code == 401


def test_changing_the_webhook_needs_offers_manage(client: TestClient, world: World) -> None:
    token = client_token(client, "bank", scope="credit:read")
    assert client.get("/api/v1/partners/me", headers=bearer(token)).status_code == 200
    assert client.get("/api/v1/partners/me/webhook/deliveries", headers=bearer(token)).status_code == 200
    assert (
        client.put("/api/v1/partners/me/webhook", json={"url": "https://x.example"}, headers=bearer(token)).status_code
        == 403
    )
    assert client.post("/api/v1/partners/me/webhook/secret", headers=bearer(token)).status_code == 403
    retry = client.post(f"/api/v1/partners/me/webhook/deliveries/{'0' * 32}/retry", headers=bearer(token))
    assert retry.status_code == 403


def test_the_secret_is_shown_only_when_made(client: TestClient, world: World) -> None:
    staff = bearer(password_token(client, "bank-staff"))
    machine = bearer(client_token(client, "bank"))
    me = client.get("/api/v1/partners/me", headers=staff)
    assert me.status_code == 200
    assert me.json() == {"id": me.json()["id"], "kind": "bank", "code": "bank", "name": "bank", "webhook_url": None}

    first = client.put("/api/v1/partners/me/webhook", json={"url": "https://bank.example/hooks"}, headers=machine)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    secret = first.json()["secret"]
    assert secret.startswith("whsec_")
    again = client.put("/api/v1/partners/me/webhook", json={"url": "https://bank.example/v2"}, headers=staff)
    assert again.json() == {"webhook_url": "https://bank.example/v2", "secret": None}
    rotated = client.post("/api/v1/partners/me/webhook/secret", headers=staff).json()
    assert rotated["webhook_url"] == "https://bank.example/v2"
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != secret

    for headers in (staff, machine):
        for path in ("/api/v1/partners/me", "/api/v1/partners/me/webhook/deliveries"):
            text = client.get(path, headers=headers).text
            assert secret not in text and rotated["secret"] not in text and "whsec_" not in text
    assert client.get("/api/v1/partners/me", headers=machine).json()["webhook_url"] == "https://bank.example/v2"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://bank.example/h",
        "bank.example/h",
        "https://",
        "https:///path",
        "javascript:alert(1)",
        "https://user:pass@bank.example/h",
        "https://bank.example:99999/h",
        "https://bank.example/a b",
        "https://bank.example/" + "a" * 480,
        "",
    ],
)
def test_a_bad_url_is_refused(client: TestClient, world: World, url: str) -> None:
    token = bearer(client_token(client, "mart"))
    response = client.put("/api/v1/partners/me/webhook", json={"url": url}, headers=token)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_webhook_url"
    assert client.get("/api/v1/partners/me", headers=token).json()["webhook_url"] is None


def test_a_url_of_500_characters_is_fine(client: TestClient, world: World) -> None:
    url = "http://mart.example/" + "a" * 480
    assert len(url) == 500
    token = bearer(client_token(client, "mart"))
    response = client.put("/api/v1/partners/me/webhook", json={"url": url}, headers=token)
    assert response.status_code == 200 and response.json()["webhook_url"] == url


def test_a_partner_sees_only_its_own_deliveries(client: TestClient, engine: Engine, world: World) -> None:
    mine = [enqueue(engine, world, "mart", event) for event in ("voucher.consumed", "voucher.cancelled")]
    enqueue(engine, world, "mart2", "voucher.consumed")
    enqueue(engine, world, "bank", "loan_application.created")

    listed = client.get(
        "/api/v1/partners/me/webhook/deliveries", headers=bearer(password_token(client, "mart-staff"))
    ).json()
    assert sorted(d["id"] for d in listed) == sorted(mine)
    assert {d["event"] for d in listed} == {"voucher.consumed", "voucher.cancelled"}
    assert set(listed[0]) == {
        "id",
        "event",
        "created_at",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "last_status",
        "last_error",
    }
    one = client.get(
        "/api/v1/partners/me/webhook/deliveries?limit=1", headers=bearer(client_token(client, "mart"))
    ).json()
    assert len(one) == 1 and one[0]["id"] in mine
    assert (
        client.get("/api/v1/partners/me/webhook/deliveries", headers=bearer(client_token(client, "clinic"))).json()
        == []
    )


# --- rotating the secret: the old one keeps signing for the overlap ------------------------------------------


def test_after_a_rotation_deliveries_verify_with_the_old_and_the_new_secret_until_the_overlap_ends(
    client: TestClient, engine: Engine, world: World
) -> None:
    staff = bearer(password_token(client, "mart-staff"))
    old = client.put("/api/v1/partners/me/webhook", json={"url": "https://mart.example/in"}, headers=staff)
    old_secret = old.json()["secret"]
    before = utcnow()
    rotated = client.post("/api/v1/partners/me/webhook/secret", headers=staff)
    assert rotated.status_code == 200 and rotated.headers["Cache-Control"] == "no-store"
    new_secret = rotated.json()["secret"]
    until = as_utc(datetime.fromisoformat(rotated.json()["previous_secret_valid_until"]))
    assert new_secret != old_secret
    assert before + webhooks.OVERLAP <= until <= utcnow() + webhooks.OVERLAP
    sent: list[tuple[dict[str, str], bytes]] = []

    def send(url: str, headers: dict[str, str], body: bytes) -> int:
        sent.append((headers, body))
        return 200

    def deliver_at(moment: datetime | None) -> tuple[dict[str, str], bytes]:
        enqueue(engine, world, "mart")
        assert webhooks.deliver_due(engine, moment or utcnow(), send=send) == 1
        return sent[-1]

    receiver = docs_receiver()  # an integrator's receiver, not yet changed over: it has the old secret
    receiver["SECRET"] = old_secret
    for moment in (None, until - timedelta(seconds=1)):  # within the window (None: now): both sign
        headers, body = deliver_at(moment)
        assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}", headers["Shanzhi-Signature"])
        assert webhooks.verify(new_secret, headers["Shanzhi-Signature"], body, now=time.time())
        assert webhooks.verify(old_secret, headers["Shanzhi-Signature"], body, now=time.time())
        assert receiver["receive"](headers, body) == (200, "ok")

    for moment in (until, until + timedelta(days=3)):  # the window is over: only the new secret signs
        headers, body = deliver_at(moment)
        assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", headers["Shanzhi-Signature"])
        assert webhooks.verify(new_secret, headers["Shanzhi-Signature"], body, now=time.time())
        assert not webhooks.verify(old_secret, headers["Shanzhi-Signature"], body, now=time.time())
        assert receiver["receive"](headers, body)[0] == 401

    # rotating again within a window ends the oldest secret at once; the one it replaces gets its own window
    newest = client.post("/api/v1/partners/me/webhook/secret", headers=staff).json()["secret"]
    headers, body = deliver_at(None)
    assert webhooks.verify(newest, headers["Shanzhi-Signature"], body, now=time.time())
    assert webhooks.verify(new_secret, headers["Shanzhi-Signature"], body, now=time.time())
    assert not webhooks.verify(old_secret, headers["Shanzhi-Signature"], body, now=time.time())


def test_the_first_secret_has_no_overlap_and_no_secret_is_in_the_change_log(
    client: TestClient, engine: Engine, world: World
) -> None:
    machine = bearer(client_token(client, "clinic"))
    first = client.post("/api/v1/partners/me/webhook/secret", headers=machine).json()  # before any URL
    assert first["secret"].startswith("whsec_") and first["previous_secret_valid_until"] is None
    made = client.put("/api/v1/partners/me/webhook", json={"url": "https://clinic.example/in"}, headers=machine)
    assert made.json()["secret"] is None  # it has one already
    second = client.post("/api/v1/partners/me/webhook/secret", headers=machine).json()
    assert second["previous_secret_valid_until"] is not None

    clinic = partner_id(engine, "clinic")
    with Session(engine) as session:
        rows = session.scalars(
            select(audit.AdminChange).where(
                col(audit.AdminChange.target_type) == "partner", col(audit.AdminChange.target_id) == str(clinic)
            )
        ).all()
    assert [r.action for r in rows] == ["partner.webhook_secret", "partner.webhook_url", "partner.webhook_secret"]
    assert {r.actor for r in rows} == {"client:clinic"}
    assert "https://clinic.example/in" in not_none(rows[1].after)
    logged = " ".join(f"{r.before} {r.after}" for r in rows)
    assert "whsec_" not in logged and first["secret"] not in logged and second["secret"] not in logged


# --- sending a delivery again by hand --------------------------------------------------------------------------


def test_a_failed_delivery_sent_again_by_hand_reaches_the_endpoint_and_then_cannot_be_sent_again(
    client: TestClient, engine: Engine, world: World, endpoint: Endpoint
) -> None:
    staff = bearer(password_token(client, "clinic-staff"))
    endpoint.secret = client.put("/api/v1/partners/me/webhook", json={"url": endpoint.url}, headers=staff).json()[
        "secret"
    ]
    delivery_id = enqueue(engine, world, "clinic", "booking.created", {"booking_id": 8})
    t0 = utcnow()
    assert webhooks.deliver_due(engine, t0) == 0  # the endpoint answers 500 the first time
    listed = client.get("/api/v1/partners/me/webhook/deliveries", headers=staff).json()
    assert [(d["id"], d["attempts"], d["last_status"], d["last_error"]) for d in listed] == [
        (delivery_id, 1, 500, "HTTP 500")
    ]
    assert as_utc(datetime.fromisoformat(listed[0]["next_attempt_at"])) == t0 + timedelta(seconds=30)

    url = f"/api/v1/partners/me/webhook/deliveries/{delivery_id}/retry"
    for other in (bearer(password_token(client, "mart-staff")), bearer(client_token(client, "bank"))):
        refused = client.post(url, headers=other)  # another partner's delivery looks missing
        assert refused.status_code == 404 and refused.json()["code"] == "webhook_delivery_not_found"
    assert client.post(url, headers=bearer(villager_token(client, world.villager_phone))).status_code == 403
    assert client.post(url, headers=bearer(password_token(client, "official-a"))).status_code == 403
    assert delivery(engine, delivery_id).retry_requested_at is None

    again = client.post(url, headers=staff)
    assert again.status_code == 200, again.text
    asked = utcnow()
    assert again.json()["id"] == delivery_id and again.json()["delivered_at"] is None
    assert t0 <= as_utc(datetime.fromisoformat(again.json()["next_attempt_at"])) <= asked  # due now, not in 30 s
    assert schedule.tick(engine, now=asked).done["deliver_webhooks"] == 1  # the next run sends it
    assert len(endpoint.requests) == 2 and all(r["valid"] for r in endpoint.requests)
    assert endpoint.requests[1]["headers"]["Shanzhi-Delivery"] == delivery_id
    row = delivery(engine, delivery_id)
    assert (row.attempts, row.last_status, row.retry_requested_at) == (2, 204, None)
    assert row.delivered_at is not None

    delivered = client.post(url, headers=staff)
    assert delivered.status_code == 409 and delivered.json()["code"] == "webhook_delivery_delivered"
    assert schedule.tick(engine, now=asked + timedelta(hours=1)).done["deliver_webhooks"] == 0
    assert len(endpoint.requests) == 2
    missing = client.post(f"/api/v1/partners/me/webhook/deliveries/{'f' * 32}/retry", headers=staff)
    assert missing.status_code == 404 and missing.json()["code"] == "webhook_delivery_not_found"


def test_a_delivery_given_up_gets_one_more_attempt_each_time_it_is_sent_again_by_hand(
    client: TestClient, engine: Engine, world: World
) -> None:
    set_webhook(engine, "bank", "https://bank.example/h")
    delivery_id = enqueue(engine, world, "bank", "loan_application.created")
    answers = [None] * (webhooks.MAX_ATTEMPTS + 1) + [200]
    calls: list[int | None] = []

    def send(url: str, headers: dict[str, str], body: bytes) -> int:
        calls.append(answer := answers[len(calls)])
        if answer is None:
            raise OSError("connection refused")
        return answer

    now = utcnow()
    for _ in range(webhooks.MAX_ATTEMPTS):
        webhooks.deliver_due(engine, now, send=send)
        now = as_utc(delivery(engine, delivery_id).next_attempt_at)
    staff = bearer(password_token(client, "bank-staff"))
    (listed,) = client.get("/api/v1/partners/me/webhook/deliveries", headers=staff).json()
    assert (listed["attempts"], listed["next_attempt_at"]) == (webhooks.MAX_ATTEMPTS, None)  # given up
    assert webhooks.deliver_due(engine, now + timedelta(days=1), send=send) == 0

    url = f"/api/v1/partners/me/webhook/deliveries/{delivery_id}/retry"
    assert client.post(url, headers=staff).status_code == 200
    assert webhooks.deliver_due(engine, utcnow(), send=send) == 0  # still unreachable: one attempt more, no more
    assert webhooks.deliver_due(engine, utcnow() + timedelta(days=1), send=send) == 0
    assert len(calls) == webhooks.MAX_ATTEMPTS + 1
    assert client.post(url, headers=staff).status_code == 200
    assert webhooks.deliver_due(engine, utcnow(), send=send) == 1
    assert delivery(engine, delivery_id).attempts == len(calls) == webhooks.MAX_ATTEMPTS + 2
