"""officials' powers: an award is a claim entered by an official; the county's second-official threshold

Revision ID: 7a1c0f3e9b25
Revises: 9a3f6b1c0d27
Create Date: 2026-11-30 14:30:00

An official's award is a claim without an activity that says why (claim.award_reason); every other claim names
its activity. Awards worth more than the county's award_second_official_points (5 unless the county admin sets
another figure) wait for a second official.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "7a1c0f3e9b25"
down_revision: str | None = "9a3f6b1c0d27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("county", schema=None) as batch_op:
        batch_op.add_column(sa.Column("award_second_official_points", sa.Integer(), nullable=False, server_default="5"))
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.add_column(sa.Column("award_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.alter_column("activity_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_check_constraint(
            op.f("ck_claim_award_or_activity"), "(activity_id is null) = (award_reason is not null)"
        )


def downgrade() -> None:
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_claim_award_or_activity"), type_="check")
        batch_op.alter_column("activity_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("award_reason")
    with op.batch_alter_table("county", schema=None) as batch_op:
        batch_op.drop_column("award_second_official_points")
