"""Sign-in that neither races nor locks people out (issue 13 §4, §8).

Code requests are limited per phone and per address, each on its own, atomically; guessing is slowed per
(account, address); an account is locked only at a much higher count, and its holder is told; the client address
comes from the socket, or from X-Forwarded-For behind a trusted proxy; argon2 runs outside any transaction."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, QueuePool, func, select
from sqlmodel import col
from starlette.requests import Request

from api import signin
from api.app import create_app
from api.schemas import OtpVerifyIn
from ledger.core.db import unit_of_work
from ledger.core.outbox import Notification
from ledger.core.settings import Settings
from ledger.identity import passwords
from ledger.identity.models import OtpChallenge
from tests.api.conftest import PASSWORD, World, app_of, bearer, make_settings, password_token
from tests.concurrently import run_together

TOKEN = "/api/v1/auth/token"
PHONE_CODE, CHECK_CODE = "/api/v1/auth/otp/request", "/api/v1/auth/otp/verify"


def from_address(app: FastAPI, address: str) -> TestClient:
    """A client whose requests come from `address` (the socket peer the app sees)."""
    return TestClient(app, client=(address, 40000))


def wrong_password(client: TestClient, username: str = "admin", **headers: str) -> Any:
    return client.post(
        TOKEN, data={"grant_type": "password", "username": username, "password": "wrong"}, headers=headers
    )


def right_password(client: TestClient, username: str = "admin", **headers: str) -> Any:
    return client.post(
        TOKEN, data={"grant_type": "password", "username": username, "password": PASSWORD}, headers=headers
    )


def assert_limited(response: Any, code: str) -> None:
    """A 429 that names its limit and says when it lifts, in the header and in the body."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["code"] == code
    wait = int(response.headers["Retry-After"])
    assert wait > 0 and body["retry_after"] == wait


# --- code requests --------------------------------------------------------------------------------------------


def _request_code(engine: Engine, phone: str) -> str:
    app = SimpleNamespace(state=SimpleNamespace(otp_sender=lambda _phone, _code: None))
    request = Request({"type": "http", "client": ("192.0.2.10", 5000), "app": app, "headers": [], "path": "/"})
    settings = Settings(env="dev", jwt_secret="x" * 40)
    with unit_of_work(engine) as session:
        signin.send_code(session, request, settings, phone)
    return "sent"


def test_concurrent_code_requests_for_one_phone_send_at_most_the_limit(
    database_url: str, engine: Engine, world: World
) -> None:
    results = run_together(database_url, _request_code, [world.villager_phone] * 30)
    assert results.count("sent") == 5
    with unit_of_work(engine) as session:
        sent = session.scalar(
            select(func.count()).select_from(OtpChallenge).where(col(OtpChallenge.phone) == world.villager_phone)
        )
    assert sent == 5


def test_a_refused_code_request_names_the_phone_limit_not_failures(client: TestClient, world: World) -> None:
    for _ in range(5):
        assert client.post(PHONE_CODE, json={"phone": world.villager_phone}).status_code == 202
    refused = client.post(PHONE_CODE, json={"phone": world.villager_phone})
    assert_limited(refused, "code_requests_phone_limited")
    assert "fail" not in refused.json()["detail"].lower()


def test_code_requests_from_one_address_are_limited_on_their_own(
    tmp_path: Path, database_url: str, engine: Engine, world: World
) -> None:
    settings = make_settings(tmp_path, database_url, code_requests_per_address=3)
    app = create_app(settings, engine=engine)
    village_nat = from_address(app, "203.0.113.7")
    phones = ["13900000001", "13900000002", "13900000003", "13900000004"]
    answers = [village_nat.post(PHONE_CODE, json={"phone": phone}) for phone in phones]
    assert [a.status_code for a in answers[:3]] == [202] * 3
    assert_limited(answers[3], "code_requests_address_limited")
    # another address is not affected
    assert from_address(app, "203.0.113.8").post(PHONE_CODE, json={"phone": phones[3]}).status_code == 202


def test_failed_sign_ins_do_not_spend_the_addresses_code_requests(client: TestClient, world: World) -> None:
    """One NAT, many people: wrong passwords for many accounts do not stop villagers asking for codes."""
    for i in range(35):
        wrong_password(client, username=f"someone-{i}")
    assert client.post(PHONE_CODE, json={"phone": world.villager_phone}).status_code == 202


def test_in_dev_mode_an_unknown_phone_gets_an_answer_of_the_same_shape(client: TestClient, world: World) -> None:
    known = client.post(PHONE_CODE, json={"phone": world.villager_phone})
    unknown = client.post(PHONE_CODE, json={"phone": "13712345678"})
    assert known.status_code == unknown.status_code == 202
    assert known.json().keys() == unknown.json().keys()
    assert len(known.json()["dev_code"]) == len(unknown.json()["dev_code"]) == 6
    assert unknown.json()["dev_code"].isdigit()
    # and the made-up code signs nobody in
    tried = client.post(CHECK_CODE, json={"phone": "13712345678", "code": unknown.json()["dev_code"]})
    assert tried.status_code == 401


# --- guessing: slowed per (account, address), locked only much later --------------------------------------------


def test_wrong_codes_from_elsewhere_do_not_lock_the_villager_out(client: TestClient, world: World) -> None:
    app = app_of(client)
    villager, attacker = from_address(app, "198.51.100.1"), from_address(app, "198.51.100.66")
    code = villager.post(PHONE_CODE, json={"phone": world.villager_phone}).json()["dev_code"]
    wrong = "000000" if code != "000000" else "111111"
    answers = [attacker.post(CHECK_CODE, json={"phone": world.villager_phone, "code": wrong}) for _ in range(8)]
    assert answers[0].status_code == 401 and answers[0].json()["code"] == "invalid_code"
    assert_limited(answers[-1], "sign_in_slowed")  # the guesser is slowed down
    signed_in = villager.post(CHECK_CODE, json={"phone": world.villager_phone, "code": code})
    assert signed_in.status_code == 200, signed_in.text


def test_wrong_passwords_from_elsewhere_do_not_lock_the_official_out(client: TestClient, world: World) -> None:
    app = app_of(client)
    attacker = from_address(app, "198.51.100.66")
    answers = [wrong_password(attacker) for _ in range(8)]
    assert [a.status_code for a in answers[:3]] == [401] * 3
    assert_limited(answers[-1], "sign_in_slowed")
    assert right_password(from_address(app, "198.51.100.2")).status_code == 200


def test_guesses_are_slowed_with_growing_delays(client: TestClient, world: World) -> None:
    waits = []
    for _ in range(4):
        while (answer := wrong_password(client)).status_code == 401:
            pass
        waits.append(int(answer.headers["Retry-After"]))
        with unit_of_work(app_of(client).state.engine) as session:
            _let_time_pass(session)
    assert waits == sorted(waits) and waits[-1] > waits[0]


def _let_time_pass(session: Any) -> None:
    """The delay ends (as if its seconds had passed): only the pair's next allowed moment moves."""
    from ledger.identity.models import SignInThrottle

    for row in session.scalars(select(SignInThrottle)).all():
        if row.key.startswith("pair:"):
            row.blocked_until = None


def test_a_banks_valid_credentials_work_while_others_fail_from_its_nat(client: TestClient, world: World) -> None:
    app = app_of(client)
    nat = from_address(app, "203.0.113.50")
    for i in range(40):
        wrong_password(nat, username=f"guess-{i}")
        nat.post(TOKEN, data={"grant_type": "client_credentials"}, auth=("mart", f"nope-{i}"))
    bank = nat.post(TOKEN, data={"grant_type": "client_credentials"}, auth=("bank", "bank-secret"))
    assert bank.status_code == 200, bank.text


def test_many_failures_lock_the_account_and_its_holder_is_told(
    client: TestClient, engine: Engine, world: World
) -> None:
    app = app_of(client)
    limit = app.state.settings.account_lock_failures
    assert limit >= 15  # much higher than the per-address slowing
    for i in range(limit):
        answer = from_address(app, f"198.18.0.{i + 1}").post(
            CHECK_CODE, json={"phone": world.villager_phone, "code": "000000"}
        )
        assert answer.status_code == 401, (i, answer.text)
    fresh = from_address(app, "198.18.1.1")
    assert_limited(fresh.post(CHECK_CODE, json={"phone": world.villager_phone, "code": "000000"}), "account_locked")
    assert_limited(fresh.post(PHONE_CODE, json={"phone": world.villager_phone}), "account_locked")  # no new SMS
    with unit_of_work(engine) as session:
        told = session.scalars(
            select(Notification).where(
                col(Notification.household_id) == world.household_a1, col(Notification.kind) == "sign_in_locked"
            )
        ).all()
    assert len(told) == 1


def test_a_locked_staff_account_is_told_and_refused_with_its_code(
    client: TestClient, engine: Engine, world: World
) -> None:
    app = app_of(client)
    for i in range(app.state.settings.account_lock_failures):
        assert wrong_password(from_address(app, f"198.18.2.{i + 1}"), username="official-a").status_code == 401
    assert_limited(right_password(from_address(app, "198.18.3.1"), username="official-a"), "account_locked")
    with unit_of_work(engine) as session:
        told = [
            n.payload.get("username")
            for n in session.scalars(select(Notification).where(col(Notification.kind) == "sign_in_locked")).all()
        ]
    assert told == ["official-a"]


# --- the client address ---------------------------------------------------------------------------------------


def test_behind_a_trusted_proxy_the_forwarded_address_counts(
    tmp_path: Path, database_url: str, engine: Engine, world: World
) -> None:
    settings = make_settings(tmp_path, database_url, trusted_proxies=["10.0.0.0/8"])
    proxy = from_address(create_app(settings, engine=engine), "10.1.2.3")
    for _ in range(8):
        wrong_password(proxy, **{"X-Forwarded-For": "203.0.113.9, 10.9.9.9"})
    assert_limited(wrong_password(proxy, **{"X-Forwarded-For": "203.0.113.9"}), "sign_in_slowed")
    # a villager behind the same proxy, at another address, is not slowed by it
    other = right_password(proxy, **{"X-Forwarded-For": "1.2.3.4, 203.0.113.10"})
    assert other.status_code == 200, other.text


def test_an_untrusted_peer_cannot_choose_its_address(client: TestClient, world: World) -> None:
    for i in range(8):
        wrong_password(client, **{"X-Forwarded-For": f"203.0.113.{i}"})
    assert_limited(wrong_password(client, **{"X-Forwarded-For": "203.0.113.200"}), "sign_in_slowed")


# --- argon2 outside the database transaction ---------------------------------------------------------------------


class BlockingHasher:
    """Wraps the real hasher: `verify` says it started, records the connections held, and waits to be let go."""

    def __init__(self, real: Any, engine: Engine) -> None:
        self.real, self.engine = real, engine
        self.entered, self.release = threading.Event(), threading.Event()
        self.connections_held: list[int] = []

    def verify(self, stored: str, secret: str) -> bool:
        self.connections_held.append(cast(QueuePool, self.engine.pool).checkedout())
        self.entered.set()
        self.release.wait(30)
        return bool(self.real.verify(stored, secret))

    def hash(self, secret: str) -> str:
        return str(self.real.hash(secret))


def test_argon2_runs_outside_the_database_transaction(
    client: TestClient, engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = password_token(client, "admin")
    hasher = BlockingHasher(passwords._hasher, engine)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    signing_in: dict[str, int] = {}
    reading: dict[str, int] = {}
    sign_in = threading.Thread(target=lambda: signing_in.update(status=wrong_password(client).status_code))
    sign_in.start()
    try:
        assert hasher.entered.wait(10)
        read = threading.Thread(
            target=lambda: reading.update(
                status=client.get(f"/api/v1/households/{world.household_a1}/balance", headers=bearer(admin)).status_code
            )
        )
        read.start()
        read.join(timeout=10)  # while the hash is still running: the read must not wait for it
        assert reading == {"status": 200}
    finally:
        hasher.release.set()
        sign_in.join(30)
    assert signing_in == {"status": 401}
    assert hasher.connections_held == [0]


def test_no_more_hashes_run_at_once_than_the_setting_allows(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = BlockingHasher(passwords._hasher, engine)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    monkeypatch.setattr(passwords, "_slots", threading.BoundedSemaphore(2))
    inside = threading.Semaphore(0)
    counting = SimpleNamespace(now=0, most=0)
    lock = threading.Lock()
    real_verify = BlockingHasher.verify

    def counted(self: BlockingHasher, stored: str, secret: str) -> bool:
        with lock:
            counting.now += 1
            counting.most = max(counting.most, counting.now)
        inside.release()
        try:
            return real_verify(self, stored, secret)
        finally:
            with lock:
                counting.now -= 1

    monkeypatch.setattr(BlockingHasher, "verify", counted)
    stored = passwords.hash_secret("s")
    threads = [threading.Thread(target=passwords.check_secret, args=(stored, "s")) for _ in range(3)]
    for thread in threads:
        thread.start()
    assert inside.acquire(timeout=10) and inside.acquire(timeout=10)  # two are hashing
    assert not inside.acquire(timeout=0.5)  # the third waits for a slot
    hasher.release.set()
    assert inside.acquire(timeout=10)  # and gets one when a hash ends
    for thread in threads:
        thread.join(10)
    assert counting.most == 2


# --- guesses at the same moment --------------------------------------------------------------------------------


def _guess_code(engine: Engine, phone: str) -> str:
    app = SimpleNamespace(state=SimpleNamespace(otp_sender=lambda _phone, _code: None))
    request = Request({"type": "http", "client": ("192.0.2.20", 5000), "app": app, "headers": [], "path": "/"})
    settings = Settings(env="dev", jwt_secret="x" * 40)
    with unit_of_work(engine) as session:
        found = signin.code_sign_in(session, request, settings, OtpVerifyIn(phone=phone, code="000000"))
    return "wrong" if found is None else "signed in"


def test_guesses_at_the_same_moment_cannot_all_slip_past_the_slowing(database_url: str, world: World) -> None:
    results = run_together(database_url, _guess_code, [world.villager_phone] * 20)
    assert results.count("wrong") <= 3 + 1  # the free tries (3 by default), and one more that starts the delay
    assert set(results) == {"wrong", "sign_in_slowed"}


# --- the access log ---------------------------------------------------------------------------------------------


def test_the_access_log_names_the_same_client_address(
    tmp_path: Path, database_url: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, database_url, trusted_proxies=["10.0.0.0/8"])
    proxy = from_address(create_app(settings, engine=engine), "10.1.2.3")
    with caplog.at_level("INFO", logger="shanzhi.access"):
        proxy.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9, 10.9.9.9"})
        from_address(app_of(proxy), "198.51.100.3").get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
    clients = [r.fields["client"] for r in caplog.records if r.name == "shanzhi.access"]  # type: ignore[attr-defined]  # set by the access log's extra=
    assert clients == ["203.0.113.9", "198.51.100.3"]


def test_wrong_secrets_from_everywhere_never_lock_a_banks_client(client: TestClient, world: World) -> None:
    app = app_of(client)
    for i in range(25):  # more than the account-wide lock (20 by default)
        wrong = from_address(app, f"198.18.7.{i + 1}").post(
            TOKEN, data={"grant_type": "client_credentials"}, auth=("bank", "guess")
        )
        assert wrong.status_code == 401
    bank = from_address(app, "203.0.113.77").post(
        TOKEN, data={"grant_type": "client_credentials"}, auth=("bank", "bank-secret")
    )
    assert bank.status_code == 200, bank.text
