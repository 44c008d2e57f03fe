"""The demo county, seeded by `shanzhi demo --no-serve` once per module, and served by `shanzhi demo` on a free
port: the installed console script in a child process on a SQLite file of its own, as an operator runs it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

SHANZHI = str(Path(sys.executable).parent / "shanzhi")
# Dev mode is explicit (production is the default), and one secret for the seeding and the serving process, so
# the QR codes the seed printed are valid on the served demo.
DEMO_SECRET = "1hXWbYMl3sdZ7Ki8rlGvT1Vnx2uBvZ9ytd-VSZ5VgcY"


def environment(database: Path, **overrides: str | None) -> dict[str, str]:
    """The demo's environment for a child process; an override of None removes that variable."""
    env = {
        **os.environ,
        "SHANZHI_ENV": "dev",
        "SHANZHI_JWT_SECRET": DEMO_SECRET,
        "SHANZHI_DATABASE_URL": f"sqlite:///{database}",
        **overrides,
    }
    return {name: value for name, value in env.items() if value is not None}


def shanzhi(
    *args: str, cwd: Path, database: Path, check: bool = False, timeout: float = 300, **env: str | None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [SHANZHI, *args],
        cwd=cwd,
        env=environment(database, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo county, seeded once by `shanzhi demo --no-serve`, and what it printed."""
    home = tmp_path_factory.mktemp("demo")
    result = shanzhi("demo", "--no-serve", cwd=home, database=home / "demo.db", check=True)
    assert "seeded the demo county" in result.stdout
    return home / "demo.db", result.stdout


@pytest.fixture
def demo_db(seeded: tuple[Path, str], tmp_path: Path) -> Path:
    copy = tmp_path / "demo.db"
    shutil.copyfile(seeded[0], copy)
    return copy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def came_up(base: str, server: subprocess.Popen[str], *, seconds: float) -> bool:
    """Wait until the server at `base` answers /healthz: True, or False when it exited or `seconds` passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(0.2)
    return False


@contextmanager
def serving(database: Path, cwd: Path) -> Iterator[str]:
    """`shanzhi demo` serving this database on a free port, until the block ends; yields its base URL."""
    port = free_port()
    server = subprocess.Popen(
        [SHANZHI, "demo", "--port", str(port)],
        cwd=cwd,
        env=environment(database),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        if not came_up(base, server, seconds=60):
            pytest.fail("the demo server did not come up")
        yield base
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "Villagers sign in with their phone" in output  # the sign-in help was printed
    assert "Traceback" not in output, output  # no request ended in an unhandled error


@pytest.fixture
def served(demo_db: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The demo served on a copy of the seeded database of this test's own."""
    with serving(demo_db, tmp_path) as base:
        yield base, demo_db


@pytest.fixture(scope="module")
def served_for_reading(
    seeded: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """One served copy of the demo for a whole module of tests that only look (and change nothing another test
    of the module relies on)."""
    home = tmp_path_factory.mktemp("served")
    shutil.copyfile(seeded[0], home / "demo.db")
    with serving(home / "demo.db", home) as base:
        yield base, home / "demo.db"
