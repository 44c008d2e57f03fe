"""partner webhooks: a rotated secret keeps signing for an overlap window; a delivery may be sent again by hand

Revision ID: 4c2e8b1d9f35
Revises: 3e7c1a9d5b20
Create Date: 2026-12-01 13:00:00

- partner.webhook_previous_secret and webhook_previous_until: after a rotation the secret before it signs too
  (a second v1 in Shanzhi-Signature) until then, so the partner's receiver can change over without losing events.
- webhook_delivery.retry_requested_at: the partner pressed "send again"; the delivery is due at once and gets one
  more attempt even after the last scheduled one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4c2e8b1d9f35"
down_revision: str | None = "3e7c1a9d5b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("partner", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_previous_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("webhook_previous_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retry_requested_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_column("retry_requested_at")
    with op.batch_alter_table("partner", schema=None) as batch_op:
        batch_op.drop_column("webhook_previous_until")
        batch_op.drop_column("webhook_previous_secret")
