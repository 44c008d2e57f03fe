"""claims catalogue activities notice: matters, activities, evidence, claims, deductions, disputes, notifications;
a second account per household for points in notice; county and village settings

Revision ID: 2ed9b2ea11af
Revises: 35dcc1f6b8bd
Create Date: 2026-11-24 23:23:51.435328

Existing households get their notice account here (zero balance); a downgrade removes notice accounts and fails,
as it should, when one of them has postings.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "2ed9b2ea11af"
down_revision: str | None = "35dcc1f6b8bd"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "matter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=True),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name_zh", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("name_en", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("evidence", sa.String(length=10), nullable=False),
        sa.Column("review", sa.String(length=10), nullable=False),
        sa.Column("cap_day", sa.Integer(), nullable=True),
        sa.Column("cap_week", sa.Integer(), nullable=True),
        sa.Column("cap_month", sa.Integer(), nullable=True),
        sa.Column("cap_year", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("evidence in ('none', 'photo', 'witness')", name=op.f("ck_matter_evidence")),
        sa.CheckConstraint("review in ('official', 'auto')", name=op.f("ck_matter_review")),
        sa.CheckConstraint("points <> 0", name=op.f("ck_matter_points_nonzero")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_matter_version_positive")),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_matter_county_id_county")),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"], name=op.f("fk_matter_village_id_village")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matter")),
    )
    with op.batch_alter_table("matter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_matter_county_id"), ["county_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_matter_village_id"), ["village_id"], unique=False)
        batch_op.create_index(
            "uq_matter_county_version",
            ["county_id", "code", "version"],
            unique=True,
            sqlite_where=sa.text("village_id IS NULL"),
            postgresql_where=sa.text("village_id IS NULL"),
        )
        batch_op.create_index(
            "uq_matter_village_version",
            ["village_id", "code", "version"],
            unique=True,
            sqlite_where=sa.text("village_id IS NOT NULL"),
            postgresql_where=sa.text("village_id IS NOT NULL"),
        )

    op.create_table(
        "activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("place", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("radius_m", sa.Integer(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("rotating", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("period in ('once', 'day', 'week', 'month')", name=op.f("ck_activity_period")),
        sa.CheckConstraint(
            "(lat is null) = (lon is null) and (radius_m is null or lat is not null)", name=op.f("ck_activity_geofence")
        ),
        sa.CheckConstraint("capacity is null or capacity > 0", name=op.f("ck_activity_capacity_positive")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_activity_window")),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_activity_county_id_county")),
        sa.ForeignKeyConstraint(["matter_id"], ["matter.id"], name=op.f("fk_activity_matter_id_matter")),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"], name=op.f("fk_activity_village_id_village")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity")),
    )
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_county_id"), ["county_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_activity_village_id"), ["village_id"], unique=False)

    op.create_table(
        "deduction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("posted", sa.Integer(), nullable=False),
        sa.Column("unpaid", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("reversal_tx_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status in ('in_force', 'revoked')", name=op.f("ck_deduction_status")),
        sa.CheckConstraint("(posted = 0) = (transaction_id is null)", name=op.f("ck_deduction_posted_has_transaction")),
        sa.CheckConstraint(
            "points > 0 and posted >= 0 and unpaid >= 0 and posted + unpaid = points",
            name=op.f("ck_deduction_points_split"),
        ),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_deduction_county_id_county")),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], name=op.f("fk_deduction_household_id_household")),
        sa.ForeignKeyConstraint(["matter_id"], ["matter.id"], name=op.f("fk_deduction_matter_id_matter")),
        sa.ForeignKeyConstraint(
            ["reversal_tx_id"], ["journal_transaction.id"], name=op.f("fk_deduction_reversal_tx_id_journal_transaction")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["journal_transaction.id"], name=op.f("fk_deduction_transaction_id_journal_transaction")
        ),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"], name=op.f("fk_deduction_village_id_village")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deduction")),
    )
    with op.batch_alter_table("deduction", schema=None) as batch_op:
        batch_op.create_index("ix_deduction_household", ["household_id", "recorded_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_deduction_village_id"), ["village_id"], unique=False)

    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_evidence_county_id_county")),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], name=op.f("fk_evidence_household_id_household")),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"], name=op.f("fk_evidence_village_id_village")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence")),
    )
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_household_id"), ["household_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_sha256"), ["sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_village_id"), ["village_id"], unique=False)

    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_notification_county_id_county")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"], name=op.f("fk_notification_household_id_household")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
    )
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.create_index("ix_notification_due", ["delivered_at", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_household_id"), ["household_id"], unique=False)

    op.create_table(
        "claim",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("matter_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("period_key", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("proxy", sa.Boolean(), nullable=False),
        sa.Column("entered_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("reject_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("notice_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending_tx_id", sa.Integer(), nullable=True),
        sa.Column("approval_tx_id", sa.Integer(), nullable=True),
        sa.Column("settlement_tx_id", sa.Integer(), nullable=True),
        sa.Column("reversal_tx_id", sa.Integer(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("device", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "status <> 'rejected' or reject_reason is not null", name=op.f("ck_claim_rejection_has_reason")
        ),
        sa.CheckConstraint(
            "status in ('pending', 'approved', 'settled', 'rejected', 'expired', 'revoked')",
            name=op.f("ck_claim_status"),
        ),
        sa.CheckConstraint("points > 0", name=op.f("ck_claim_points_positive")),
        sa.ForeignKeyConstraint(["activity_id"], ["activity.id"], name=op.f("fk_claim_activity_id_activity")),
        sa.ForeignKeyConstraint(
            ["approval_tx_id"], ["journal_transaction.id"], name=op.f("fk_claim_approval_tx_id_journal_transaction")
        ),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_claim_county_id_county")),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], name=op.f("fk_claim_household_id_household")),
        sa.ForeignKeyConstraint(["matter_id"], ["matter.id"], name=op.f("fk_claim_matter_id_matter")),
        sa.ForeignKeyConstraint(
            ["pending_tx_id"], ["journal_transaction.id"], name=op.f("fk_claim_pending_tx_id_journal_transaction")
        ),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_claim_person_id_person")),
        sa.ForeignKeyConstraint(
            ["reversal_tx_id"], ["journal_transaction.id"], name=op.f("fk_claim_reversal_tx_id_journal_transaction")
        ),
        sa.ForeignKeyConstraint(
            ["settlement_tx_id"], ["journal_transaction.id"], name=op.f("fk_claim_settlement_tx_id_journal_transaction")
        ),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"], name=op.f("fk_claim_village_id_village")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim")),
        sa.UniqueConstraint("activity_id", "household_id", "period_key", name="uq_claim_activity_household_period"),
    )
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.create_index("ix_claim_household", ["household_id", "submitted_at"], unique=False)
        batch_op.create_index("ix_claim_notice", ["status", "notice_until"], unique=False)
        batch_op.create_index("ix_claim_queue", ["village_id", "status", "submitted_at"], unique=False)

    op.create_table(
        "deduction_evidence",
        sa.Column("deduction_id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deduction_id"], ["deduction.id"], name=op.f("fk_deduction_evidence_deduction_id_deduction")
        ),
        sa.ForeignKeyConstraint(
            ["evidence_id"], ["evidence.id"], name=op.f("fk_deduction_evidence_evidence_id_evidence")
        ),
        sa.PrimaryKeyConstraint("deduction_id", "evidence_id", name=op.f("pk_deduction_evidence")),
    )
    with op.batch_alter_table("deduction_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deduction_evidence_evidence_id"), ["evidence_id"], unique=False)

    op.create_table(
        "claim_evidence",
        sa.Column("claim_id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claim.id"], name=op.f("fk_claim_evidence_claim_id_claim")),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence.id"], name=op.f("fk_claim_evidence_evidence_id_evidence")),
        sa.PrimaryKeyConstraint("claim_id", "evidence_id", name=op.f("pk_claim_evidence")),
    )
    with op.batch_alter_table("claim_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_evidence_evidence_id"), ["evidence_id"], unique=False)

    op.create_table(
        "dispute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sa.Integer(), nullable=True),
        sa.Column("deduction_id", sa.Integer(), nullable=True),
        sa.Column("raised_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("raised_by_household_id", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("resolution_note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.CheckConstraint("kind = 'appeal' or claim_id is not null", name=op.f("ck_dispute_objection_on_claim")),
        sa.CheckConstraint("kind in ('objection', 'appeal')", name=op.f("ck_dispute_kind")),
        sa.CheckConstraint("status in ('open', 'upheld', 'dismissed')", name=op.f("ck_dispute_status")),
        sa.CheckConstraint("(claim_id is null) <> (deduction_id is null)", name=op.f("ck_dispute_one_target")),
        sa.ForeignKeyConstraint(["claim_id"], ["claim.id"], name=op.f("fk_dispute_claim_id_claim")),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_dispute_county_id_county")),
        sa.ForeignKeyConstraint(["deduction_id"], ["deduction.id"], name=op.f("fk_dispute_deduction_id_deduction")),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], name=op.f("fk_dispute_household_id_household")),
        sa.ForeignKeyConstraint(
            ["raised_by_household_id"], ["household.id"], name=op.f("fk_dispute_raised_by_household_id_household")
        ),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"], name=op.f("fk_dispute_village_id_village")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute")),
    )
    with op.batch_alter_table("dispute", schema=None) as batch_op:
        batch_op.create_index("ix_dispute_queue", ["village_id", "status", "opened_at"], unique=False)
        batch_op.create_index(
            "uq_dispute_claim_appeal",
            ["claim_id"],
            unique=True,
            sqlite_where=sa.text("kind = 'appeal' AND claim_id IS NOT NULL"),
            postgresql_where=sa.text("kind = 'appeal' AND claim_id IS NOT NULL"),
        )
        batch_op.create_index(
            "uq_dispute_deduction_appeal",
            ["deduction_id"],
            unique=True,
            sqlite_where=sa.text("kind = 'appeal' AND deduction_id IS NOT NULL"),
            postgresql_where=sa.text("kind = 'appeal' AND deduction_id IS NOT NULL"),
        )
        batch_op.create_index(
            "uq_dispute_objection",
            ["claim_id", "raised_by_household_id"],
            unique=True,
            sqlite_where=sa.text("kind = 'objection'"),
            postgresql_where=sa.text("kind = 'objection'"),
        )

    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_account_household_id"), type_="unique")
        batch_op.create_unique_constraint("uq_account_household_kind", ["household_id", "kind"])
        batch_op.drop_constraint(op.f("ck_account_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_account_kind"),
            "kind in ('issuance', 'household', 'notice', 'partner_clearing', 'expiry', 'penalty')",
        )
        batch_op.drop_constraint(op.f("ck_account_household_has_owner"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_account_household_has_owner"), "kind not in ('household', 'notice') or household_id is not null"
        )
    op.execute("""
        INSERT INTO account (code, kind, county_id, village_id, household_id, created_at)
        SELECT h.code || ':' || 'notice', 'notice', h.county_id, h.village_id, h.id, CURRENT_TIMESTAMP FROM household h
        WHERE NOT EXISTS (SELECT 1 FROM account a WHERE a.household_id = h.id AND a.kind = 'notice')
    """)
    op.execute("""
        INSERT INTO account_balance (account_id, posted, pending_debit, pending_credit, earned, updated_at)
        SELECT a.id, 0, 0, 0, 0, CURRENT_TIMESTAMP FROM account a
        WHERE NOT EXISTS (SELECT 1 FROM account_balance b WHERE b.account_id = a.id)
    """)

    with op.batch_alter_table("county", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "timezone", sqlmodel.sql.sqltypes.AutoString(length=40), server_default="Asia/Shanghai", nullable=False
            )
        )
        batch_op.add_column(sa.Column("notice_days", sa.Integer(), server_default="7", nullable=False))
        batch_op.add_column(sa.Column("review_days", sa.Integer(), server_default="7", nullable=False))
        batch_op.add_column(sa.Column("appeal_days", sa.Integer(), server_default="7", nullable=False))
        batch_op.add_column(sa.Column("overdue_hours", sa.Integer(), server_default="24", nullable=False))
        batch_op.add_column(sa.Column("village_max_rewards", sa.Integer(), server_default="5", nullable=False))
        batch_op.add_column(sa.Column("village_max_deductions", sa.Integer(), server_default="5", nullable=False))
        batch_op.add_column(sa.Column("village_max_points", sa.Integer(), server_default="2", nullable=False))

    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.add_column(sa.Column("house_number", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True))

    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("result", sa.JSON(), nullable=True))

    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notice_privacy", sa.String(length=16), server_default="surname_house", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.drop_column("notice_privacy")

    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.drop_column("result")

    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.drop_column("house_number")

    with op.batch_alter_table("county", schema=None) as batch_op:
        batch_op.drop_column("village_max_points")
        batch_op.drop_column("village_max_deductions")
        batch_op.drop_column("village_max_rewards")
        batch_op.drop_column("overdue_hours")
        batch_op.drop_column("appeal_days")
        batch_op.drop_column("review_days")
        batch_op.drop_column("notice_days")
        batch_op.drop_column("timezone")

    op.execute("DELETE FROM account_balance WHERE account_id IN (SELECT id FROM account WHERE kind = 'notice')")
    op.execute("DELETE FROM account WHERE kind = 'notice'")
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_constraint("uq_account_household_kind", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_account_household_id"), ["household_id"])
        batch_op.drop_constraint(op.f("ck_account_kind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_account_kind"), "kind in ('issuance', 'household', 'partner_clearing', 'expiry', 'penalty')"
        )
        batch_op.drop_constraint(op.f("ck_account_household_has_owner"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_account_household_has_owner"), "kind <> 'household' or household_id is not null"
        )

    with op.batch_alter_table("dispute", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_dispute_objection",
            sqlite_where=sa.text("kind = 'objection'"),
            postgresql_where=sa.text("kind = 'objection'"),
        )
        batch_op.drop_index(
            "uq_dispute_deduction_appeal",
            sqlite_where=sa.text("kind = 'appeal' AND deduction_id IS NOT NULL"),
            postgresql_where=sa.text("kind = 'appeal' AND deduction_id IS NOT NULL"),
        )
        batch_op.drop_index(
            "uq_dispute_claim_appeal",
            sqlite_where=sa.text("kind = 'appeal' AND claim_id IS NOT NULL"),
            postgresql_where=sa.text("kind = 'appeal' AND claim_id IS NOT NULL"),
        )
        batch_op.drop_index("ix_dispute_queue")

    op.drop_table("dispute")
    with op.batch_alter_table("claim_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_evidence_evidence_id"))

    op.drop_table("claim_evidence")
    with op.batch_alter_table("deduction_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deduction_evidence_evidence_id"))

    op.drop_table("deduction_evidence")
    with op.batch_alter_table("claim", schema=None) as batch_op:
        batch_op.drop_index("ix_claim_queue")
        batch_op.drop_index("ix_claim_notice")
        batch_op.drop_index("ix_claim_household")

    op.drop_table("claim")
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_household_id"))
        batch_op.drop_index("ix_notification_due")

    op.drop_table("notification")
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_village_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_sha256"))
        batch_op.drop_index(batch_op.f("ix_evidence_household_id"))

    op.drop_table("evidence")
    with op.batch_alter_table("deduction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deduction_village_id"))
        batch_op.drop_index("ix_deduction_household")

    op.drop_table("deduction")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_village_id"))
        batch_op.drop_index(batch_op.f("ix_activity_county_id"))

    op.drop_table("activity")
    with op.batch_alter_table("matter", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_matter_village_version",
            sqlite_where=sa.text("village_id IS NOT NULL"),
            postgresql_where=sa.text("village_id IS NOT NULL"),
        )
        batch_op.drop_index(
            "uq_matter_county_version",
            sqlite_where=sa.text("village_id IS NULL"),
            postgresql_where=sa.text("village_id IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_matter_village_id"))
        batch_op.drop_index(batch_op.f("ix_matter_county_id"))

    op.drop_table("matter")
