"""household_month: the points each household was awarded per calendar month and reason, kept by the journal

Revision ID: 6f2a9c4e8d13
Revises: 7a1d3e5f9b42
Create Date: 2026-12-01 16:00:00

Rescoring a county read every posting joined to its transaction and account and sorted them; it now reads this
summary, which the journal adds to in the same transaction as the postings. Filled here from the journal as it
stands (the same figures `shanzhi verify` recomputes: ledger/journal/months.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6f2a9c4e8d13"
down_revision: str | None = "7a1d3e5f9b42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
INSERT INTO household_month (county_id, household_id, month, reason, points, postings)
SELECT account.county_id, account.household_id, {month}, journal_transaction.reason, SUM(posting.amount), COUNT(*)
FROM posting
JOIN journal_transaction ON journal_transaction.id = posting.transaction_id
JOIN account ON account.id = posting.account_id
WHERE account.kind = 'household' AND journal_transaction.kind IN ('transfer', 'post_pending') AND posting.amount > 0
GROUP BY account.county_id, account.household_id, {month}, journal_transaction.reason
"""


def upgrade() -> None:
    op.create_table(
        "household_month",
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("postings", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_household_month_county_id_county")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"], name=op.f("fk_household_month_household_id_household")
        ),
        sa.PrimaryKeyConstraint("county_id", "household_id", "month", "reason", name=op.f("pk_household_month")),
        sqlite_with_rowid=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        month = "to_char(timezone('UTC', journal_transaction.effective_at), 'YYYY-MM')"
    else:
        month = "substr(journal_transaction.effective_at, 1, 7)"
    op.execute(BACKFILL.format(month=month))


def downgrade() -> None:
    op.drop_table("household_month")
