"""tenancy identity journal

Revision ID: 184d26d48a9f
Revises: (none: the first revision)
Create Date: 2026-11-23 02:54:51.574401
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "184d26d48a9f"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "county",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_county")),
        sa.UniqueConstraint("code", name=op.f("uq_county_code")),
    )
    op.create_table(
        "otp_challenge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otp_challenge")),
    )
    with op.batch_alter_table("otp_challenge", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_otp_challenge_phone"), ["phone"], unique=False)

    op.create_table(
        "sign_in_throttle",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_throttle")),
    )
    op.create_table(
        "partner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind in ('bank', 'merchant', 'clinic')", name=op.f("ck_partner_kind")),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_partner_county_id_county")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner")),
        sa.UniqueConstraint("code", name=op.f("uq_partner_code")),
    )
    with op.batch_alter_table("partner", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_county_id"), ["county_id"], unique=False)

    op.create_table(
        "township",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_township_county_id_county")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_township")),
        sa.UniqueConstraint("code", name=op.f("uq_township_code")),
    )
    with op.batch_alter_table("township", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_township_county_id"), ["county_id"], unique=False)

    op.create_table(
        "partner_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("secret_hash", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("scopes", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], name=op.f("fk_partner_client_partner_id_partner")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_client")),
        sa.UniqueConstraint("client_id", name=op.f("uq_partner_client_client_id")),
    )
    with op.batch_alter_table("partner_client", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_client_partner_id"), ["partner_id"], unique=False)

    op.create_table(
        "village",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("township_id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_village_county_id_county")),
        sa.ForeignKeyConstraint(["township_id"], ["township.id"], name=op.f("fk_village_township_id_township")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_village")),
        sa.UniqueConstraint("code", name=op.f("uq_village_code")),
    )
    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_village_county_id"), ["county_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_village_township_id"), ["township_id"], unique=False)

    op.create_table(
        "chain_head",
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_chain_head_county_id_county")),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"], name=op.f("fk_chain_head_village_id_village")),
        sa.PrimaryKeyConstraint("village_id", name=op.f("pk_chain_head")),
    )
    with op.batch_alter_table("chain_head", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chain_head_county_id"), ["county_id"], unique=False)

    op.create_table(
        "household",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_household_county_id_county")),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"], name=op.f("fk_household_village_id_village")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_household")),
        sa.UniqueConstraint("code", name=op.f("uq_household_code")),
    )
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_household_county_id"), ["county_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_household_village_id"), ["village_id"], unique=False)

    op.create_table(
        "journal_transaction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("chain_seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pending_id", sa.Integer(), nullable=True),
        sa.Column("reverses_id", sa.Integer(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timeout_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.CheckConstraint(
            "(pending_id is not null) = (kind in ('post_pending', 'void_pending', 'expire_pending'))",
            name=op.f("ck_journal_transaction_resolution_names_pending"),
        ),
        sa.CheckConstraint(
            "(reverses_id is not null) = (kind = 'reversal')",
            name=op.f("ck_journal_transaction_reversal_names_original"),
        ),
        sa.CheckConstraint(
            "kind in ('transfer', 'pending', 'post_pending', 'void_pending', 'expire_pending', 'reversal')",
            name=op.f("ck_journal_transaction_kind"),
        ),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_journal_transaction_county_id_county")),
        sa.ForeignKeyConstraint(
            ["pending_id"],
            ["journal_transaction.id"],
            name=op.f("fk_journal_transaction_pending_id_journal_transaction"),
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["journal_transaction.id"],
            name=op.f("fk_journal_transaction_reverses_id_journal_transaction"),
        ),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"], name=op.f("fk_journal_transaction_village_id_village")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_transaction")),
        sa.UniqueConstraint("pending_id", name=op.f("uq_journal_transaction_pending_id")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_journal_transaction_reverses_id")),
        sa.UniqueConstraint("village_id", "chain_seq", name="uq_journal_transaction_village_seq"),
    )
    with op.batch_alter_table("journal_transaction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journal_transaction_county_id"), ["county_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_journal_transaction_effective_at"), ["effective_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_journal_transaction_reason"), ["reason"], unique=False)
        batch_op.create_index("ix_journal_transaction_timeout", ["kind", "timeout_at"], unique=False)

    op.create_table(
        "account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind <> 'household' or household_id is not null", name=op.f("ck_account_household_has_owner")
        ),
        sa.CheckConstraint(
            "kind <> 'partner_clearing' or partner_id is not null", name=op.f("ck_account_clearing_has_partner")
        ),
        sa.CheckConstraint(
            "kind in ('issuance', 'household', 'partner_clearing', 'expiry', 'penalty')", name=op.f("ck_account_kind")
        ),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_account_county_id_county")),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], name=op.f("fk_account_household_id_household")),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], name=op.f("fk_account_partner_id_partner")),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"], name=op.f("fk_account_village_id_village")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account")),
        sa.UniqueConstraint("code", name=op.f("uq_account_code")),
        sa.UniqueConstraint("household_id", name=op.f("uq_account_household_id")),
    )
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_county_id"), ["county_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_partner_id"), ["partner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_village_id"), ["village_id"], unique=False)

    op.create_table(
        "idempotency_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("request_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["journal_transaction.id"],
            name=op.f("fk_idempotency_record_transaction_id_journal_transaction"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_record")),
        sa.UniqueConstraint("scope", "key", name="uq_idempotency_record_scope_key"),
    )
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("is_head", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], name=op.f("fk_person_household_id_household")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("phone", name=op.f("uq_person_phone")),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_household_id"), ["household_id"], unique=False)
        batch_op.create_index(
            "uq_person_one_head_per_household",
            ["household_id"],
            unique=True,
            sqlite_where=sa.text("is_head"),
            postgresql_where=sa.text("is_head"),
        )

    op.create_table(
        "account_balance",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("posted", sa.BigInteger(), nullable=False),
        sa.Column("pending_debit", sa.BigInteger(), nullable=False),
        sa.Column("pending_credit", sa.BigInteger(), nullable=False),
        sa.Column("earned", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], name=op.f("fk_account_balance_account_id_account")),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_balance")),
    )
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("password_is_default", sa.Boolean(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role <> 'villager' or person_id is not null", name=op.f("ck_app_user_villager_is_a_person")
        ),
        sa.CheckConstraint(
            "role in ('villager', 'official', 'county_admin', 'auditor')", name=op.f("ck_app_user_role")
        ),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_app_user_county_id_county")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_app_user_person_id_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_user")),
        sa.UniqueConstraint("person_id", name=op.f("uq_app_user_person_id")),
        sa.UniqueConstraint("username", name=op.f("uq_app_user_username")),
    )
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_user_county_id"), ["county_id"], unique=False)

    op.create_table(
        "posting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transaction_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_posting_nonzero")),
        sa.ForeignKeyConstraint(["account_id"], ["account.id"], name=op.f("fk_posting_account_id_account")),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_posting_county_id_county")),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["journal_transaction.id"], name=op.f("fk_posting_transaction_id_journal_transaction")
        ),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"], name=op.f("fk_posting_village_id_village")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posting")),
    )
    with op.batch_alter_table("posting", schema=None) as batch_op:
        batch_op.create_index("ix_posting_account_transaction", ["account_id", "transaction_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_posting_transaction_id"), ["transaction_id"], unique=False)

    op.create_table(
        "official_scope",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=True),
        sa.Column("township_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(village_id is null) <> (township_id is null)", name=op.f("ck_official_scope_village_or_township")
        ),
        sa.ForeignKeyConstraint(["township_id"], ["township.id"], name=op.f("fk_official_scope_township_id_township")),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_official_scope_user_id_app_user")),
        sa.ForeignKeyConstraint(["village_id"], ["village.id"], name=op.f("fk_official_scope_village_id_village")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_official_scope")),
    )
    with op.batch_alter_table("official_scope", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_official_scope_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("official_scope", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_official_scope_user_id"))

    op.drop_table("official_scope")
    with op.batch_alter_table("posting", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_posting_transaction_id"))
        batch_op.drop_index("ix_posting_account_transaction")

    op.drop_table("posting")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_user_county_id"))

    op.drop_table("app_user")
    op.drop_table("account_balance")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_person_one_head_per_household", sqlite_where=sa.text("is_head"), postgresql_where=sa.text("is_head")
        )
        batch_op.drop_index(batch_op.f("ix_person_household_id"))

    op.drop_table("person")
    op.drop_table("idempotency_record")
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_village_id"))
        batch_op.drop_index(batch_op.f("ix_account_partner_id"))
        batch_op.drop_index(batch_op.f("ix_account_county_id"))

    op.drop_table("account")
    with op.batch_alter_table("journal_transaction", schema=None) as batch_op:
        batch_op.drop_index("ix_journal_transaction_timeout")
        batch_op.drop_index(batch_op.f("ix_journal_transaction_reason"))
        batch_op.drop_index(batch_op.f("ix_journal_transaction_effective_at"))
        batch_op.drop_index(batch_op.f("ix_journal_transaction_county_id"))

    op.drop_table("journal_transaction")
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_household_village_id"))
        batch_op.drop_index(batch_op.f("ix_household_county_id"))

    op.drop_table("household")
    with op.batch_alter_table("chain_head", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_head_county_id"))

    op.drop_table("chain_head")
    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_village_township_id"))
        batch_op.drop_index(batch_op.f("ix_village_county_id"))

    op.drop_table("village")
    with op.batch_alter_table("partner_client", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_client_partner_id"))

    op.drop_table("partner_client")
    with op.batch_alter_table("township", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_township_county_id"))

    op.drop_table("township")
    with op.batch_alter_table("partner", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_county_id"))

    op.drop_table("partner")
    op.drop_table("sign_in_throttle")
    with op.batch_alter_table("otp_challenge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_otp_challenge_phone"))

    op.drop_table("otp_challenge")
    op.drop_table("county")
