"""claims not decided in time go to the township supervisor: claim.escalated_at

Revision ID: 3e7c1a9d5b20
Revises: 9d4f6a2b7c10
Create Date: 2026-12-01 13:00:00

- claim.escalated_at: when the schedule sent a claim nobody had decided within the county's overdue hours to the
  township supervisor's queue (set once; it stays after the claim is decided, for the dashboard's figures).
- ix_claim_escalated (village_id, escalated_at): the dashboard counts a village's escalations in a month.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3e7c1a9d5b20"
down_revision: str | None = "9d4f6a2b7c10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_claim_escalated", ["village_id", "escalated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.drop_index("ix_claim_escalated")
        batch_op.drop_column("escalated_at")
