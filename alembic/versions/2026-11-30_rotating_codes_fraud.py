"""rotating codes and fraud flags: perceptual hash of photos, the scanned step of a claim, used scan tickets

Revision ID: 9a3f6b1c0d27
Revises: 7c1e5a9d2f40
Create Date: 2026-11-30 14:50:00.000000

`evidence.phash`: the perceptual hash of a photo (64 bits in hex), so that a photo sent again after being
re-encoded is still recognised; photos stored before have none (NULL) and are matched by SHA-256 only.
`claim.code_step`: the 30-second step of the rotating code a claim was made with (the scan's time).
`scan_ticket_use`: one row per scan ticket used; its primary key makes a ticket usable once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "9a3f6b1c0d27"
down_revision: str | None = "7c1e5a9d2f40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scan_ticket_use",
        sa.Column("ticket_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["activity_id"], ["activity.id"], name=op.f("fk_scan_ticket_use_activity_id_activity")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"], name=op.f("fk_scan_ticket_use_household_id_household")
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_scan_ticket_use")),
    )
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phash", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))

    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code_step", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.drop_column("code_step")

    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_column("phash")

    op.drop_table("scan_ticket_use")
