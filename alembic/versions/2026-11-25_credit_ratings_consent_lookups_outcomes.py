"""credit ratings consent lookups outcomes

Revision ID: 20e568acb50c
Revises: 2ed9b2ea11af
Create Date: 2026-11-25 00:26:01.499203

Ratings, the access log, loan outcome events and scorecard activations are append-only, like the journal: the
database refuses UPDATE and DELETE on them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "20e568acb50c"
down_revision: str | None = "2ed9b2ea11af"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY = ("rating", "credit_lookup", "loan_outcome", "scorecard_activation")


def upgrade() -> None:
    op.create_table(
        "rate_window",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_window")),
    )
    op.create_table(
        "scorecard",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("origin", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("parent_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["scorecard.id"], name=op.f("fk_scorecard_parent_id_scorecard")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scorecard")),
    )
    op.create_table(
        "scorecard_activation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("scorecard_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("activated_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_scorecard_activation_county_id_county")),
        sa.ForeignKeyConstraint(
            ["scorecard_id"], ["scorecard.id"], name=op.f("fk_scorecard_activation_scorecard_id_scorecard")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scorecard_activation")),
    )
    with op.batch_alter_table("scorecard_activation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scorecard_activation_county_id"), ["county_id"], unique=False)

    op.create_table(
        "consent",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("granted_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.CheckConstraint(
            "purpose in ('loan_preapproval', 'loan_application', 'credit_review')", name=op.f("ck_consent_purpose")
        ),
        sa.CheckConstraint("scope in ('grade', 'score', 'summary')", name=op.f("ck_consent_scope")),
        sa.CheckConstraint("expires_at > granted_at", name=op.f("ck_consent_expires_after_grant")),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_consent_county_id_county")),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], name=op.f("fk_consent_household_id_household")),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], name=op.f("fk_consent_partner_id_partner")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index("ix_consent_household", ["household_id", "granted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_consent_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("scorecard_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("grade", sa.String(length=3), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record_seq", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("sufficiency", sa.JSON(), nullable=False),
        sa.CheckConstraint("(grade = 'NR') = (score is null)", name=op.f("ck_rating_score_unless_not_rated")),
        sa.CheckConstraint("grade in ('AAA', 'AA', 'A', 'B', 'C', 'NR')", name=op.f("ck_rating_grade")),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_rating_county_id_county")),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], name=op.f("fk_rating_household_id_household")),
        sa.ForeignKeyConstraint(["scorecard_id"], ["scorecard.id"], name=op.f("fk_rating_scorecard_id_scorecard")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating")),
    )
    with op.batch_alter_table("rating", schema=None) as batch_op:
        batch_op.create_index("ix_rating_household", ["household_id", "id"], unique=False)

    op.create_table(
        "credit_lookup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("consent_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("rating_id", sa.Integer(), nullable=False),
        sa.Column("looked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["consent_id"], ["consent.id"], name=op.f("fk_credit_lookup_consent_id_consent")),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_credit_lookup_county_id_county")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"], name=op.f("fk_credit_lookup_household_id_household")
        ),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], name=op.f("fk_credit_lookup_partner_id_partner")),
        sa.ForeignKeyConstraint(["rating_id"], ["rating.id"], name=op.f("fk_credit_lookup_rating_id_rating")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_lookup")),
    )
    with op.batch_alter_table("credit_lookup", schema=None) as batch_op:
        batch_op.create_index("ix_credit_lookup_household", ["household_id", "looked_at"], unique=False)

    op.create_table(
        "loan_outcome",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("loan_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("rating_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "event in ('disbursed', 'repaid', 'dpd30', 'dpd90', 'default')", name=op.f("ck_loan_outcome_event")
        ),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_loan_outcome_county_id_county")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"], name=op.f("fk_loan_outcome_household_id_household")
        ),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], name=op.f("fk_loan_outcome_partner_id_partner")),
        sa.ForeignKeyConstraint(["rating_id"], ["rating.id"], name=op.f("fk_loan_outcome_rating_id_rating")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_outcome")),
        sa.UniqueConstraint("partner_id", "loan_ref", "event", name="uq_loan_outcome_event"),
    )
    with op.batch_alter_table("loan_outcome", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loan_outcome_household_id"), ["household_id"], unique=False)
        batch_op.create_index("ix_loan_outcome_loan", ["partner_id", "loan_ref"], unique=False)

    op.create_table(
        "review_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("rating_id", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("answer", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column("answered_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status in ('open', 'answered')", name=op.f("ck_review_request_status")),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_review_request_county_id_county")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["household.id"], name=op.f("fk_review_request_household_id_household")
        ),
        sa.ForeignKeyConstraint(["rating_id"], ["rating.id"], name=op.f("fk_review_request_rating_id_rating")),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"], name=op.f("fk_review_request_village_id_village")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_request")),
    )
    with op.batch_alter_table("review_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_request_village_id"), ["village_id"], unique=False)

    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_seq", sa.Integer(), server_default="0", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'rows of % are append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'restrict_violation';
            END $$
        """)
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION append_only()"
            )
    else:
        for table in APPEND_ONLY:
            for action in ("update", "delete"):
                op.execute(
                    f"CREATE TRIGGER {table}_append_only_{action} BEFORE {action.upper()} ON {table}"
                    f" BEGIN SELECT RAISE(ABORT, 'rows of {table} are append-only: {action} refused'); END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP FUNCTION append_only()")
    else:
        for table in APPEND_ONLY:
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_append_only_{action}")
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.drop_column("record_seq")

    with op.batch_alter_table("review_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_request_village_id"))

    op.drop_table("review_request")
    with op.batch_alter_table("loan_outcome", schema=None) as batch_op:
        batch_op.drop_index("ix_loan_outcome_loan")
        batch_op.drop_index(batch_op.f("ix_loan_outcome_household_id"))

    op.drop_table("loan_outcome")
    with op.batch_alter_table("credit_lookup", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_lookup_household")

    op.drop_table("credit_lookup")
    with op.batch_alter_table("rating", schema=None) as batch_op:
        batch_op.drop_index("ix_rating_household")

    op.drop_table("rating")
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_partner_id"))
        batch_op.drop_index("ix_consent_household")

    op.drop_table("consent")
    with op.batch_alter_table("scorecard_activation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scorecard_activation_county_id"))

    op.drop_table("scorecard_activation")
    op.drop_table("scorecard")
    op.drop_table("rate_window")
