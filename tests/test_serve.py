"""`shanzhi serve` as an operator runs it: what its log says about the requests it served."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.demo_server import SHANZHI, came_up, environment, free_port

SECRETS = {
    "/c/{token}": "QQJrMQAAAAEAN35HADeJw2C5GuHKQK7vEVrxTw",
    "/api/v1/vouchers/{code}": "R2BRN8NE55VSKF36",
    "/api/v1/consents/{consent_id}/revoke": "cns_8f2b6c1d9e0a4f7b",
}


@pytest.mark.parametrize("workers", [1, 2])
def test_the_served_log_has_one_json_line_per_request_naming_its_route_not_its_codes(
    demo_db: Path, tmp_path: Path, workers: int
) -> None:
    port = free_port()
    env = environment(demo_db, SHANZHI_TICK_SECONDS="0")
    server = subprocess.Popen(
        [SHANZHI, "serve", "--port", str(port), "--workers", str(workers)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not came_up(base, server, seconds=60):
            pytest.fail("the server did not come up")
        httpx.get(f"{base}/c/{SECRETS['/c/{token}']}?lang=en")
        httpx.get(f"{base}/api/v1/vouchers/{SECRETS['/api/v1/vouchers/{code}']}")
        httpx.post(f"{base}/api/v1/consents/{SECRETS['/api/v1/consents/{consent_id}/revoke']}/revoke")
        time.sleep(0.5)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert [s for s in [*SECRETS.values(), "lang=en"] if s in output] == [], output
    routes = [line.get("route") for line in _json_lines(output) if line.get("logger") == "shanzhi.access"]
    assert set(SECRETS) <= set(routes), output


def _json_lines(output: str) -> list[dict[str, object]]:
    lines = []
    for text in output.splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue
    return lines


def test_with_several_workers_every_scrape_adds_up_what_all_of_them_counted(demo_db: Path, tmp_path: Path) -> None:
    """Each request may land on either worker process; /metrics, whichever answers it, shows the sum."""
    port = free_port()
    shared = tmp_path / "metrics"
    env = environment(demo_db, SHANZHI_TICK_SECONDS="0", SHANZHI_METRICS_DIR=str(shared))
    server = subprocess.Popen(
        [SHANZHI, "serve", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not came_up(base, server, seconds=60):
            pytest.fail("the server did not come up")
        for n in range(20):  # a new connection each: the workers take them as they come
            refused = httpx.post(
                f"{base}/api/v1/auth/token",
                data={"grant_type": "password", "username": f"nobody-{n}", "password": "wrong password"},
            )
            assert refused.status_code == 401
        scraped = [httpx.get(f"{base}/metrics").text for _ in range(8)]
        processes = {path.stem.rsplit("_", 1)[-1] for path in shared.glob("*.db")}
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert len(processes) == 2  # both workers count into the shared directory
    for text in scraped:
        wrong = [
            line
            for line in text.splitlines()
            if line.startswith('shanzhi_sign_in_refusals_total{cause="wrong_password"}')
        ]
        assert len(wrong) == 1 and float(wrong[0].split()[-1]) == 20, wrong
        assert "shanzhi_settlement_backlog " in text  # and what waits in the database, read at the scrape
