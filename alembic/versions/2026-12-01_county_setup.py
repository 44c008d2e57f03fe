"""a county sets itself up: the administrative change log, roster fields, sign-ins that can be ended

Revision ID: 9d4f6a2b7c10
Revises: 5b8e2d4c1a73
Create Date: 2026-12-01 12:00:00

- admin_change: every administrative change (who, when, what, before and after), append-only like the journal.
- household.address and household.closed_at (a closed household keeps its history and earns nothing more);
  person.relation (与户主关系); village.centre_lat/centre_lon (an optional centre for geofences).
- app_user.must_change_password (a reset password is changed at first sign-in) and sign_ins_valid_from (tokens
  and sessions issued before it are refused: disabling an account or changing a phone ends them at once).
- A person may have one villager sign-in and one staff account (an official who lives in the village): the one
  unique index on app_user.person_id becomes one per kind.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d4f6a2b7c10"
down_revision: str | None = "5b8e2d4c1a73"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target_type", sa.String(length=30), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["county_id"], ["county.id"], name=op.f("fk_admin_change_county_id_county")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_change")),
    )
    op.create_index("ix_admin_change_county_at", "admin_change", ["county_id", "at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER admin_change_append_only BEFORE UPDATE OR DELETE ON admin_change"
            " FOR EACH ROW EXECUTE FUNCTION append_only()"
        )
    else:
        for action in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER admin_change_append_only_{action} BEFORE {action.upper()} ON admin_change"
                f" BEGIN SELECT RAISE(ABORT, 'rows of admin_change are append-only: {action} refused'); END"
            )

    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relation", sa.String(length=20), nullable=True))
    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.add_column(sa.Column("centre_lat", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("centre_lon", sa.Float(), nullable=True))
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("sign_ins_valid_from", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("uq_app_user_person_id"), type_="unique")
    op.create_index(
        "uq_app_user_villager_person",
        "app_user",
        ["person_id"],
        unique=True,
        sqlite_where=sa.text("role = 'villager'"),
        postgresql_where=sa.text("role = 'villager'"),
    )
    op.create_index(
        "uq_app_user_staff_person",
        "app_user",
        ["person_id"],
        unique=True,
        sqlite_where=sa.text("role <> 'villager'"),
        postgresql_where=sa.text("role <> 'villager'"),
    )


def downgrade() -> None:
    op.drop_index("uq_app_user_staff_person", table_name="app_user")
    op.drop_index("uq_app_user_villager_person", table_name="app_user")
    with op.batch_alter_table("app_user", schema=None) as batch_op:
        batch_op.create_unique_constraint(op.f("uq_app_user_person_id"), ["person_id"])
        batch_op.drop_column("sign_ins_valid_from")
        batch_op.drop_column("must_change_password")
    with op.batch_alter_table("village", schema=None) as batch_op:
        batch_op.drop_column("centre_lon")
        batch_op.drop_column("centre_lat")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_column("relation")
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.drop_column("closed_at")
        batch_op.drop_column("address")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER admin_change_append_only ON admin_change")
    else:
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER admin_change_append_only_{action}")
    op.drop_index("ix_admin_change_county_at", table_name="admin_change")
    op.drop_table("admin_change")
