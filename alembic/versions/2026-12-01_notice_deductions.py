"""the county decides how deductions show on the village notice board: unnamed (一户村民) or not at all

Revision ID: 5b8e2d4c1a73
Revises: 7a1c0f3e9b25
Create Date: 2026-12-01 10:00:00

A deduction on the notice board never names the household: it reads 一户村民, or, where the county admin chooses
"hidden", it is not on the board at all. Approved claims keep following the village's notice_privacy.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "5b8e2d4c1a73"
down_revision: str | None = "7a1c0f3e9b25"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("county", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notice_deductions", sa.String(length=16), server_default="unnamed", nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_county_notice_deductions"), "notice_deductions in ('unnamed', 'hidden')"
        )


def downgrade() -> None:
    with op.batch_alter_table("county", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_county_notice_deductions"), type_="check")
        batch_op.drop_column("notice_deductions")
