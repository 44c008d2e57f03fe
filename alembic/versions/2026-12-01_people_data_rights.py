"""people's data rights: erasing a person, deleting photos, purging the bank access log after its period

Revision ID: 7a1d3e5f9b42
Revises: 4c2e8b1d9f35
Create Date: 2026-12-01 14:00:00

- person.erased_at: the county admin erased this person's data (their name is a pseudonym from then on).
- evidence.purged_at: the photo's file was deleted (retention, or its uploader erased); the row stays.
- purge_permit: the bank access log (credit_lookup) stays append-only, except that a transaction holding a permit
  for it may delete its rows older than the permit's cut-off (the scheduled purge, ledger/core/purge.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7a1d3e5f9b42"
down_revision: str | None = "4c2e8b1d9f35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PERMITTED = (
    "EXISTS (SELECT 1 FROM purge_permit WHERE purge_permit.table_name = 'credit_lookup'"
    " AND OLD.looked_at < purge_permit.before)"
)


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "purge_permit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(length=40), nullable=False),
        sa.Column("before", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purge_permit")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER credit_lookup_append_only ON credit_lookup")
        op.execute(
            "CREATE TRIGGER credit_lookup_append_only BEFORE UPDATE ON credit_lookup"
            " FOR EACH ROW EXECUTE FUNCTION append_only()"
        )
        op.execute(f"""
            CREATE FUNCTION credit_lookup_purge_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF {PERMITTED} THEN
                    RETURN OLD;
                END IF;
                RAISE EXCEPTION 'rows of credit_lookup are append-only: DELETE refused'
                    USING ERRCODE = 'restrict_violation';
            END $$
        """)
        op.execute(
            "CREATE TRIGGER credit_lookup_purge_only BEFORE DELETE ON credit_lookup"
            " FOR EACH ROW EXECUTE FUNCTION credit_lookup_purge_only()"
        )
    else:
        op.execute("DROP TRIGGER credit_lookup_append_only_delete")
        op.execute(
            "CREATE TRIGGER credit_lookup_append_only_delete BEFORE DELETE ON credit_lookup"
            f" WHEN NOT {PERMITTED}"
            " BEGIN SELECT RAISE(ABORT, 'rows of credit_lookup are append-only: delete refused'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER credit_lookup_purge_only ON credit_lookup")
        op.execute("DROP FUNCTION credit_lookup_purge_only()")
        op.execute("DROP TRIGGER credit_lookup_append_only ON credit_lookup")
        op.execute(
            "CREATE TRIGGER credit_lookup_append_only BEFORE UPDATE OR DELETE ON credit_lookup"
            " FOR EACH ROW EXECUTE FUNCTION append_only()"
        )
    else:
        op.execute("DROP TRIGGER credit_lookup_append_only_delete")
        op.execute(
            "CREATE TRIGGER credit_lookup_append_only_delete BEFORE DELETE ON credit_lookup"
            " BEGIN SELECT RAISE(ABORT, 'rows of credit_lookup are append-only: delete refused'); END"
        )
    op.drop_table("purge_permit")
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_column("purged_at")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
