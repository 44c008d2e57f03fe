"""an Open311 request's media_url is kept with its concern, as text

Revision ID: 3e7b9d2f5a14
Revises: 8c4d2f6a1e37
Create Date: 2026-12-01 14:00:00

GeoReport v2 lets a client send `media_url`, the address of a photo it holds. The concern keeps that address as
sent (at most 500 characters) for the staff who read it; the service never fetches it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "3e7b9d2f5a14"
down_revision: str | None = "8c4d2f6a1e37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("concern", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media_url", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("concern", schema=None) as batch_op:
        batch_op.drop_column("media_url")
