"""The production profile, as a county runs it: `shanzhi serve --workers 2` and one `shanzhi worker`, separate OS
processes in production mode (a real signing secret, a metrics token, text messages through the HTTP gateway, here a
fake one on 127.0.0.1), on a fresh PostgreSQL database. The county is set up from nothing through the command line
and the API; then a villager signs in with the code texted to her phone, claims, an official approves, two workers
(run as of after the notice period, SHANZHI_TEST_CLOCK) settle it once, she redeems her points for a voucher, the
merchant's till uses it, and her balance and statement show it. `shanzhi verify` passes at the end."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ledger.core.base import utcnow
from ledger.core.db import make_engine
from tests.conftest import ON_POSTGRES, TEST_DATABASE_URL
from tests.demo_server import SHANZHI, came_up, free_port
from tests.fake_sms import FakeSms

pytestmark = [
    pytest.mark.db,
    pytest.mark.skipif(not ON_POSTGRES, reason="the production profile runs on PostgreSQL only"),
]

SECRET = "Zk3xQ8vN1pLr6Tb0Wy5Hc2Jd7Fg4Ms9Ae-Ru8Io1KqU"  # random, as production needs
METRICS_TOKEN = "mT4nB8vC2xZ6lK0jH3gF7dS1aQ9wE5rT-yU2iO6pLk"
ADMIN_PASSWORD = "county office long passphrase 2026"
OFFICIAL_PASSWORD = "village official own passphrase 77"
PHONE = "13912345678"
COUNTY = "QX"
VILLAGE = f"{COUNTY}-v001"  # the code the roster import gives the county's first new village


@pytest.fixture
def database() -> Iterator[str]:
    """A PostgreSQL database of its own, created empty and dropped afterwards."""
    name = f"shanzhi_prod_{uuid.uuid4().hex[:12]}"
    admin = make_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class County:
    home: Path
    env: dict[str, str]

    def run(self, *args: str, **more: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [SHANZHI, *args],
            cwd=self.home,
            env={**self.env, **more},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def start(self, *args: str, log: Path | None = None, **more: str) -> subprocess.Popen[str]:
        """A long-running command; its output on a pipe, or in `log` to read while it runs."""
        return subprocess.Popen(
            [SHANZHI, *args],
            cwd=self.home,
            env={**self.env, **more},
            stdout=subprocess.PIPE if log is None else log.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
        )


def _stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return process.returncode, output


def _ticks(output: str) -> list[dict[str, Any]]:
    found = []
    for line in output.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("logger") == "shanzhi.worker" and entry.get("msg") == "tick":
            found.append(entry)
    return found


def _roster() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["乡镇", "村", "户号", "门牌号", "地址", "姓名", "与户主关系", "手机号"])
    writer.writerow(["青山镇", "青山村", "QS-001", "12", "青山村一组", "王秀兰", "户主", PHONE])
    writer.writerow(["青山镇", "青山村", "QS-001", "12", "", "李建国", "配偶", ""])
    writer.writerow(["青山镇", "青山村", "QS-002", "13", "青山村一组", "赵德明", "户主", "13912345679"])
    return out.getvalue().encode()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (80, 140, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


def _bearer(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


def _password_token(api: httpx.Client, username: str, password: str) -> str:
    answer = _ok(
        api.post("/api/v1/auth/token", data={"grant_type": "password", "username": username, "password": password})
    )
    return str(answer["access_token"])


def test_the_production_profile_walks_from_sign_in_to_a_voucher_used_at_a_till(database: str, tmp_path: Path) -> None:
    with FakeSms() as sms:
        port = free_port()
        county = County(
            home=tmp_path,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("SHANZHI_")},
                "SHANZHI_ENV": "prod",
                "SHANZHI_DATABASE_URL": database,
                "SHANZHI_JWT_SECRET": SECRET,
                "SHANZHI_METRICS_TOKEN": METRICS_TOKEN,
                "SHANZHI_BASE_URL": f"http://127.0.0.1:{port}",
                "SHANZHI_UPLOAD_DIR": str(tmp_path / "uploads"),
                "SHANZHI_HEAD_SIGNING_KEY_PATH": str(tmp_path / "head.pem"),
                "SHANZHI_METRICS_DIR": str(tmp_path / "metrics"),
                "SHANZHI_TICK_SECONDS": "1",
                **sms.env("http"),
            },
        )
        # The county from nothing, through the command line.
        county.run("db", "upgrade")
        # The API and the scheduler start as soon as the schema is there (the county is set up meanwhile).
        server = county.start("serve", "--port", str(port), "--workers", "2", "--no-migrate")
        worker = county.start("worker")
        ahead: list[subprocess.Popen[str]] = []
        base = f"http://127.0.0.1:{port}"
        try:
            county.run(
                "create-admin",
                "--username",
                "county-admin",
                "--county",
                COUNTY,
                "--county-name",
                "青溪县",
                SHANZHI_ADMIN_PASSWORD=ADMIN_PASSWORD,
            )
            (tmp_path / "roster.csv").write_bytes(_roster())
            county.run("roster-import", "roster.csv", "--county", COUNTY, "--create-places", "--quiet")
            added = county.run(
                "staff",
                "add",
                "--county",
                COUNTY,
                "--username",
                "official-wang",
                "--role",
                "official",
                "--village",
                VILLAGE,
            ).stdout
            first_password = added.rsplit(":", 1)[-1].strip()
            till = json.loads(
                county.run(
                    "create-partner-client",
                    "--partner",
                    "qx-mart",
                    "--county",
                    COUNTY,
                    "--kind",
                    "merchant",
                    "--name",
                    "青溪超市",
                ).stdout
            )

            assert came_up(base, server, seconds=90), _stop(server)[1]
            with httpx.Client(base_url=base, timeout=30) as api:
                assert _ok(api.get("/readyz"))["status"] == "ready"
                # The official sets a password of their own, then runs an activity in the village.
                official = _password_token(api, "official-wang", first_password)
                _ok(
                    api.post(
                        "/api/v1/auth/password",
                        headers=_bearer(official),
                        json={"current_password": first_password, "new_password": OFFICIAL_PASSWORD},
                    ),
                    204,
                )
                now = utcnow()
                villages = _ok(api.get("/api/v1/villages", headers=_bearer(official)))
                village_id = next(v["id"] for v in villages if v["code"] == VILLAGE)
                activity = _ok(
                    api.post(
                        "/api/v1/activities",
                        headers=_bearer(official),
                        json={
                            "village_id": village_id,
                            "matter_code": "courtyard_hygiene",
                            "title": "庭院整洁评比",
                            "place": "村委会",
                            "starts_at": (now - timedelta(hours=1)).isoformat(),
                            "ends_at": (now + timedelta(days=2)).isoformat(),
                        },
                    ),
                    201,
                )

                # The villager asks for a code; it reaches her phone through the gateway; she signs in.
                asked = _ok(api.post("/api/v1/auth/otp/request", json={"phone": PHONE}), 202)
                assert asked.get("dev_code") is None  # production never shows the code
                code = sms.last_code(PHONE)
                assert code is not None
                villager = str(
                    _ok(api.post("/api/v1/auth/otp/verify", json={"phone": PHONE, "code": code}))["access_token"]
                )

                # She scans the activity's code and claims, with a photo.
                evidence = _ok(
                    api.post(
                        "/api/v1/evidence",
                        headers=_bearer(villager),
                        files={"file": ("photo.jpg", _jpeg(), "image/jpeg")},
                    ),
                    201,
                )
                token = str(activity["claim_url"]).rsplit("/", 1)[-1]
                claim = _ok(
                    api.post(
                        "/api/v1/claims",
                        headers=_bearer(villager, **_key()),
                        json={"token": token, "evidence_ids": [evidence["id"]]},
                    ),
                    201,
                )
                household, points = claim["household_id"], claim["points"]
                _ok(api.post(f"/api/v1/claims/{claim['id']}/approve", headers=_bearer(official, **_key())), 201)
                balance = _ok(api.get(f"/api/v1/households/{household}/balance", headers=_bearer(villager)))
                assert balance["posted"] == 0 and balance["in_notice"] == points

                # Two workers, as of after the notice period, settle it: once. The worker of today is stopped
                # first (it exits 0), as an operator would restart it.
                code_of_worker, worker_log = _stop(worker)
                assert code_of_worker == 0, worker_log
                assert _ticks(worker_log), worker_log
                logs = [tmp_path / "ahead-1.log", tmp_path / "ahead-2.log"]
                ahead = [
                    county.start("worker", "--days-ahead", "15", log=log, SHANZHI_TEST_CLOCK="true") for log in logs
                ]
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline and not all(len(_ticks(log.read_text())) >= 2 for log in logs):
                    time.sleep(0.5)
                for process in ahead:
                    assert _stop(process)[0] == 0
                ticks = [_ticks(log.read_text()) for log in logs]
                assert all(len(each) >= 2 for each in ticks), [log.read_text() for log in logs]
                assert sum(t["settled_claims"] for each in ticks for t in each) == 1, ticks
                assert all("TEST CLOCK" in log.read_text() for log in logs)
                balance = _ok(api.get(f"/api/v1/households/{household}/balance", headers=_bearer(villager)))
                assert balance["posted"] == points and balance["in_notice"] == 0, balance
                # She was told by text message that her points settled, once (the outbox through the gateway).
                texts = [m.template for m in sms.messages_to(PHONE)]
                assert texts.count("claim_settled") == 1, texts

                # The merchant offers a voucher, the county admin approves it, she redeems her points for it.
                shop = str(
                    _ok(
                        api.post(
                            "/api/v1/auth/token",
                            data={
                                "grant_type": "client_credentials",
                                "client_id": till["client_id"],
                                "client_secret": till["client_secret"],
                            },
                        )
                    )["access_token"]
                )
                offer = _ok(
                    api.post(
                        "/api/v1/offers",
                        headers=_bearer(shop),
                        json={
                            "kind": "voucher",
                            "title": "超市代金券 10元",
                            "value_yuan": "10.00",
                            "cost_points": points,
                            "valid_from": (now - timedelta(days=1)).isoformat(),
                            "valid_until": (now + timedelta(days=90)).isoformat(),
                        },
                    ),
                    201,
                )
                admin = _password_token(api, "county-admin", ADMIN_PASSWORD)
                _ok(api.post(f"/api/v1/offers/{offer['id']}/decision", headers=_bearer(admin), json={"approve": True}))
                voucher = _ok(
                    api.post(
                        "/api/v1/redemptions", headers=_bearer(villager, **_key()), json={"offer_id": offer["id"]}
                    ),
                    201,
                )

                # The till uses it with her PIN.
                used = _ok(
                    api.post(
                        f"/api/v1/vouchers/{voucher['code']}/consume",
                        headers=_bearer(shop),
                        json={"pin": voucher["pin"]},
                    )
                )
                assert used["status"] == "used", used
                balance = _ok(api.get(f"/api/v1/households/{household}/balance", headers=_bearer(villager)))
                assert balance["posted"] == 0, balance
                statement = _ok(api.get(f"/api/v1/households/{household}/statement", headers=_bearer(villager)))
                posted = sorted(e["amount"] for e in statement["entries"] if e["status"] == "posted")
                assert posted == [-points, points], statement  # settled, then spent on the voucher

                # The operator's view: both API workers' counts, for the scraper's token only.
                assert api.get("/metrics").status_code == 401
                scraped = api.get("/metrics", headers=_bearer(METRICS_TOKEN))
                assert scraped.status_code == 200 and "shanzhi_http_requests_total" in scraped.text
        finally:
            for process in (server, worker, *ahead):
                _stop(process)
        county.run("verify")  # exits 1 on any problem
