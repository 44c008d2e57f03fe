"""`shanzhi worker` as an operator runs it: a process of its own that refuses to start on a database it cannot use,
logs a JSON line per tick and stops cleanly when told; and the API, which no longer runs the schedule in
production."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, inspect

from api.app import create_app
from ledger.claims import notice
from ledger.core import migrations, outbox
from ledger.core.db import make_engine
from tests.api.conftest import make_settings
from tests.demo_server import SHANZHI, environment, free_port, shanzhi

PROD_SECRET = "p9Xq2vK7sLm4Rt8Wz1Yb6Nc3Hd5Fg0Ja-Ue7Io2PkQ"


def _prod(database: Path, **more: str) -> dict[str, str]:
    return environment(database, SHANZHI_ENV="prod", SHANZHI_JWT_SECRET=PROD_SECRET, SHANZHI_TICK_SECONDS="1", **more)


def _lines(output: str) -> list[dict[str, object]]:
    found = []
    for text in output.splitlines():
        try:
            found.append(json.loads(text))
        except ValueError:
            continue
    return found


def _until_ticks(worker: subprocess.Popen[str], ticks: int) -> list[str]:
    """Read the worker's output until it has logged `ticks` ticks (or ended); the lines read so far."""
    assert worker.stdout is not None
    read: list[str] = []
    while sum('"msg": "tick"' in line for line in read) < ticks:
        line = worker.stdout.readline()
        if not line:
            break
        read.append(line)
    return read


def test_the_worker_refuses_to_start_when_the_database_does_not_answer(tmp_path: Path) -> None:
    result = shanzhi(
        "worker",
        cwd=tmp_path,
        database=tmp_path / "x.db",
        timeout=60,
        SHANZHI_DATABASE_URL="postgresql+psycopg://shanzhi:hidden-pw@127.0.0.1:1/shanzhi",
    )
    assert result.returncode == 2
    hidden = "postgresql+psycopg://shanzhi:***@127.0.0.1:1/shanzhi"
    assert f"refusing to start: the database at {hidden} does not answer" in result.stderr
    assert "hidden-pw" not in result.stdout + result.stderr


def test_the_worker_refuses_a_schema_behind_this_version_and_does_not_migrate_it(tmp_path: Path) -> None:
    database = tmp_path / "behind.db"
    engine = make_engine(f"sqlite:///{database}")
    migrations.upgrade(engine)
    migrations.downgrade(engine, "-1")  # one migration short of head
    before = set(inspect(engine).get_table_names())
    result = shanzhi("worker", cwd=tmp_path, database=database, timeout=60)
    assert result.returncode == 2
    assert "run `shanzhi db upgrade` first" in result.stderr
    engine.dispose()
    engine = make_engine(f"sqlite:///{database}")
    assert set(inspect(engine).get_table_names()) == before
    engine.dispose()


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    database = tmp_path / "worker.db"
    shanzhi("db", "upgrade", cwd=tmp_path, database=database, check=True)
    return database


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_the_worker_ticks_logging_json_lines_and_stops_cleanly_when_told(
    migrated: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    worker = subprocess.Popen(
        [SHANZHI, "worker"],
        cwd=tmp_path,
        env=_prod(migrated),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    before = _until_ticks(worker, 2)
    worker.send_signal(stop)
    output = "".join(before) + worker.communicate(timeout=30)[0]
    assert worker.returncode == 0, output
    lines = _lines(output)
    ticks = [line for line in lines if line.get("msg") == "tick" and line.get("logger") == "shanzhi.worker"]
    assert len(ticks) >= 2, output
    assert {"settled_claims", "delivered", "failed_steps", "seconds"} <= set(ticks[0])
    assert lines[-1]["msg"] == "worker stopped" and lines[-1]["ticks"] == len(ticks)
    assert any(line.get("signal") == stop.name for line in lines)


def test_days_ahead_outside_dev_mode_needs_the_test_clock_which_warns_on_every_tick(
    migrated: Path, tmp_path: Path
) -> None:
    refused = subprocess.run(
        [SHANZHI, "worker", "--days-ahead", "8"], cwd=tmp_path, env=_prod(migrated), capture_output=True, text=True
    )
    assert refused.returncode == 2 and "SHANZHI_TEST_CLOCK" in refused.stderr
    worker = subprocess.Popen(
        [SHANZHI, "worker", "--days-ahead", "8"],
        cwd=tmp_path,
        env=_prod(migrated, SHANZHI_TEST_CLOCK="true"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    before = _until_ticks(worker, 1)
    worker.terminate()
    output = "".join(before) + worker.communicate(timeout=30)[0]
    lines = _lines(output)
    warnings = [line for line in lines if str(line.get("msg", "")).startswith("TEST CLOCK")]
    ticks = [line for line in lines if line.get("msg") == "tick"]
    assert ticks and len(warnings) == len(ticks) and all(w["level"] == "warning" for w in warnings), output


def test_serve_in_production_says_the_schedule_runs_as_a_worker(migrated: Path, tmp_path: Path) -> None:
    from tests.demo_server import came_up, free_port

    port = free_port()
    server = subprocess.Popen(
        [SHANZHI, "serve", "--port", str(port), "--no-migrate"],
        cwd=tmp_path,
        env=_prod(migrated),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert came_up(f"http://127.0.0.1:{port}", server, seconds=60)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "run `shanzhi worker` as a process of its own" in output


def _loop_running() -> bool:
    return any(thread.name == "shanzhi-tick" for thread in threading.enumerate())


@pytest.mark.parametrize(
    ("env", "schedule_in_api", "runs"),
    [("prod", None, False), ("dev", None, True), ("dev", False, False), ("prod", True, True)],
)
def test_the_api_runs_the_schedule_itself_in_dev_mode_only_unless_told(
    tmp_path: Path, database_url: str, engine: Engine, env: str, schedule_in_api: bool | None, runs: bool
) -> None:
    settings = make_settings(tmp_path, database_url, env=env, tick_seconds=60, schedule_in_api=schedule_in_api)
    with TestClient(create_app(settings, engine=engine)):
        assert _loop_running() is runs
    assert not _loop_running()


def test_the_worker_shows_its_metrics_on_a_port_of_its_own(migrated: Path, tmp_path: Path) -> None:
    """The API's /metrics does not see the worker's process: Prometheus scrapes the worker's own port."""
    port = free_port()
    worker = subprocess.Popen(
        [SHANZHI, "worker"],
        cwd=tmp_path,
        env=_prod(migrated, SHANZHI_WORKER_METRICS_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _until_ticks(worker, 2)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    steps = {
        sample.labels["step"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "shanzhi_tick_step_seconds_count"
    }
    assert steps.get(notice.STEP, 0) >= 2 and steps.get(outbox.STEP, 0) >= 2, text  # each step of both ticks
    assert "shanzhi_job_failures_total" in text and "shanzhi_sms_sent_total" in text


def test_tick_days_ahead_outside_dev_mode_needs_the_test_clock_too(migrated: Path, tmp_path: Path) -> None:
    refused = subprocess.run(
        [SHANZHI, "tick", "--days-ahead", "8"], cwd=tmp_path, env=_prod(migrated), capture_output=True, text=True
    )
    assert refused.returncode == 2 and "SHANZHI_TEST_CLOCK" in refused.stderr
    ahead = subprocess.run(
        [SHANZHI, "tick", "--days-ahead", "8"],
        cwd=tmp_path,
        env=_prod(migrated, SHANZHI_TEST_CLOCK="true"),
        capture_output=True,
        text=True,
    )
    assert ahead.returncode == 0 and "TEST CLOCK" in ahead.stderr, ahead.stderr
