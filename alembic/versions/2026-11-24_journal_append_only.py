"""journal append only: the database refuses UPDATE and DELETE of transactions and postings

Revision ID: 35dcc1f6b8bd
Revises: 184d26d48a9f
Create Date: 2026-11-24 09:12:40.118503

The code never updates or deletes a journal row; these triggers make the database say so too, so a stray
statement (a script, a console session, a bug) fails loudly instead of changing history. Someone who owns the
database can still drop them: that is what `shanzhi verify` and the signed chain head are for.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "35dcc1f6b8bd"
down_revision: str | None = "184d26d48a9f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("journal_transaction", "posting")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'journal rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'restrict_violation',
                          HINT = 'correct a transaction with a reversal transaction';
            END $$
        """)
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION journal_append_only()"
            )
        return
    for table in TABLES:
        for action in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only_{action} BEFORE {action.upper()} ON {table}"
                f" BEGIN SELECT RAISE(ABORT, 'journal rows are append-only: {action} on {table} refused');"
                " END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION journal_append_only()")
        return
    for table in TABLES:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER {table}_append_only_{action}")
