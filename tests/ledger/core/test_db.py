"""How the service opens a SQLite file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from ledger.core.db import make_engine, unit_of_work


def test_a_sqlite_file_is_synced_at_every_commit_so_an_acknowledged_write_survives_an_os_crash(tmp_path: Path) -> None:
    """WAL with synchronous=NORMAL acknowledges a commit before it is on disk: an OS crash or a power cut can take
    the last posted points with it. FULL syncs the log at every commit. Every connection of the pool runs so."""
    engine = make_engine(f"sqlite:///{tmp_path / 'shanzhi.db'}", pool_size=2, max_overflow=0)
    try:
        first, second = engine.raw_connection(), engine.raw_connection()  # two connections, no transaction
        for conn in (first, second):
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
            conn.close()
        with unit_of_work(engine) as session:
            assert session.execute(text("PRAGMA synchronous")).scalar() == 2
    finally:
        engine.dispose()
