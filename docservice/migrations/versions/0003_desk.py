"""coordinator's desk tables (issue 5)

Revision ID: 0003_desk
Revises: 0002_archive
"""

import sqlalchemy as sa
from alembic import op

import docservice.models

revision = "0003_desk"
down_revision = "0002_archive"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("placement_id", sa.Integer(), nullable=False),
        sa.Column("envelope_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("anchor", sa.String(length=20), nullable=True),
        sa.Column("anchor_date", sa.Date(), nullable=True),
        sa.Column("offset_days", sa.Integer(), nullable=True),
        sa.Column("sent_at", docservice.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(["envelope_id"], ["envelopes.id"]),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("desk_reminders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desk_reminders_placement_id"), ["placement_id"],
                              unique=False)

    op.create_table(
        "desk_api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", docservice.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", docservice.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", docservice.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("desk_api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desk_api_tokens_user_id"), ["user_id"],
                              unique=False)

    op.create_table(
        "desk_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("engine", sa.String(length=40), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("student_ok", sa.Boolean(), nullable=False),
        sa.Column("company_ok", sa.Boolean(), nullable=False),
        sa.Column("school_ok", sa.Boolean(), nullable=False),
        sa.Column("indication", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("verified_at", docservice.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256", "engine"),
    )
    with op.batch_alter_table("desk_verifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desk_verifications_verified_at"), ["verified_at"],
                              unique=False)

    op.create_table(
        "desk_file_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("found_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("checked_at", docservice.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    with op.batch_alter_table("desk_file_checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desk_file_checks_checked_at"), ["checked_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("desk_file_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_file_checks_checked_at"))
    op.drop_table("desk_file_checks")
    with op.batch_alter_table("desk_verifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_verifications_verified_at"))
    op.drop_table("desk_verifications")
    with op.batch_alter_table("desk_api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_api_tokens_user_id"))
    op.drop_table("desk_api_tokens")
    with op.batch_alter_table("desk_reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_reminders_placement_id"))
    op.drop_table("desk_reminders")
