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
