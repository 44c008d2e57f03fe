"""What someone with owner access to the database could do: get past the journal's append-only triggers and
change history by hand. The tests use it to show that `verify` still catches it."""

from __future__ import annotations

from sqlalchemy import Connection, text


def drop_append_only_guard(conn: Connection) -> None:
    """Within this transaction (PostgreSQL: a superuser skipping triggers) or for good (SQLite: the test's own
    file), let UPDATE and DELETE reach the journal tables."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        return
    for table in ("journal_transaction", "posting"):
        for action in ("update", "delete"):
            conn.execute(text(f"DROP TRIGGER {table}_append_only_{action}"))
