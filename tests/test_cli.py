"""The `shanzhi` command as an operator runs it: the demo county, `verify` on it, and the served demo.

These run the installed console script in a child process on a SQLite file of their own.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SHANZHI = str(Path(sys.executable).parent / "shanzhi")


def shanzhi(*args: str, cwd: Path, database: Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHANZHI_ENV": "dev", "SHANZHI_DATABASE_URL": f"sqlite:///{database}"}
    result = subprocess.run([SHANZHI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                            check=False)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo county, seeded once by `shanzhi demo --no-serve`."""
    home = tmp_path_factory.mktemp("demo")
    result = shanzhi("demo", "--no-serve", cwd=home, database=home / "demo.db", check=True)
    assert "seeded the demo county" in result.stdout
    return home / "demo.db"


@pytest.fixture
def demo_db(seeded: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "demo.db"
    shutil.copyfile(seeded, copy)
    return copy


def edit_by_hand(database: Path, sql: str) -> subprocess.CompletedProcess[str]:
    """What an operator with a shell would do: the sqlite3 command line tool (or, without it, Python's)."""
    if shutil.which("sqlite3"):
        return subprocess.run(["sqlite3", str(database), sql], capture_output=True, text=True, check=False)
    try:
        with sqlite3.connect(database) as conn:
            conn.executescript(sql)
    except sqlite3.DatabaseError as error:
        return subprocess.CompletedProcess([], 1, "", str(error))
    return subprocess.CompletedProcess([], 0, "", "")


def test_every_command_explains_itself(tmp_path: Path) -> None:
    for command in (["--help"], ["serve", "--help"], ["demo", "--help"], ["db", "upgrade", "--help"],
                    ["db", "downgrade", "--help"], ["verify", "--help"], ["create-admin", "--help"],
                    ["create-partner-client", "--help"], ["head", "--help"], ["tick", "--help"]):
        result = shanzhi(*command, cwd=tmp_path, database=tmp_path / "x.db")
        assert result.returncode == 0 and "Usage" in result.stdout, command


def test_verify_passes_on_the_demo_and_names_a_hand_edited_transaction(demo_db: Path, tmp_path: Path) -> None:
    ok = shanzhi("verify", cwd=tmp_path, database=demo_db)
    assert ok.returncode == 0, ok.stderr
    assert "ledger verified" in ok.stdout

    with sqlite3.connect(demo_db) as conn:
        victim = conn.execute("SELECT id FROM journal_transaction ORDER BY id LIMIT 1 OFFSET 99").fetchone()[0]
    edit = f"UPDATE posting SET amount = amount + 10 WHERE transaction_id = {victim} AND amount > 0;"

    refused = edit_by_hand(demo_db, edit)  # the database itself refuses first
    assert refused.returncode != 0 and "append-only" in refused.stdout + refused.stderr
    assert shanzhi("verify", cwd=tmp_path, database=demo_db).returncode == 0

    forced = edit_by_hand(demo_db, "DROP TRIGGER posting_append_only_update; " + edit)
    assert forced.returncode == 0, forced.stderr
    bad = shanzhi("verify", cwd=tmp_path, database=demo_db)
    assert bad.returncode == 1
    assert f"first bad transaction {victim} " in bad.stderr


def test_create_admin_and_partner_client(demo_db: Path, tmp_path: Path) -> None:
    weak = shanzhi("create-admin", "--username", "root", "--county", "demo", "--password", "admin",
                   cwd=tmp_path, database=demo_db)
    assert weak.returncode == 2 and "12 characters" in weak.stderr
    shanzhi("create-admin", "--username", "root", "--county", "demo", "--password", "a long passphrase 42",
            cwd=tmp_path, database=demo_db, check=True)
    created = shanzhi("create-partner-client", "--partner", "demo-bank", "--county", "demo", "--scopes",
                      "credit:read", cwd=tmp_path, database=demo_db, check=True)
    issued = json.loads(created.stdout.splitlines()[0])
    assert issued["client_id"].startswith("demo-bank-") and len(issued["client_secret"]) >= 40
    with sqlite3.connect(demo_db) as conn:
        stored = conn.execute("SELECT secret_hash FROM partner_client WHERE client_id = ?",
                              (issued["client_id"],)).fetchone()[0]
    assert stored.startswith("$argon2") and issued["client_secret"] not in stored


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(demo_db: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    port = _free_port()
    env = {**os.environ, "SHANZHI_ENV": "dev", "SHANZHI_DATABASE_URL": f"sqlite:///{demo_db}"}
    server = subprocess.Popen([SHANZHI, "demo", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the demo server did not come up")
        yield base, ""
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "Villagers sign in with their phone" in output  # the sign-in help was printed


def test_the_demo_serves_docs_health_and_a_signed_in_balance(served: tuple[str, str]) -> None:
    base, _ = served
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    docs = httpx.get(f"{base}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    phone = "13800000001"  # as the printed help says: the head of household 1
    code = httpx.post(f"{base}/api/v1/auth/otp/request", json={"phone": phone}).json()["dev_code"]
    token = httpx.post(f"{base}/api/v1/auth/otp/verify", json={"phone": phone, "code": code}).json()["access_token"]
    balance = httpx.get(f"{base}/api/v1/households/1/balance", headers={"Authorization": f"Bearer {token}"})
    assert balance.status_code == 200, balance.text
    body = balance.json()
    assert body["household_id"] == 1 and body["available"] == body["posted"] - body["held"]
    assert body["earned"] >= body["posted"] > 0
    other = httpx.get(f"{base}/api/v1/households/2/balance", headers={"Authorization": f"Bearer {token}"})
    assert other.status_code == 404  # another household is not this villager's to see
