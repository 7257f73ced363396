"""archive tables (issue 6)

Revision ID: 0002_archive
Revises: 40f160ebb7d5
"""

import sqlalchemy as sa
from alembic import op

import docservice.models

revision = "0002_archive"
down_revision = "40f160ebb7d5"
branch_labels = None
depends_on = None

UTC = docservice.models.UTCDateTime(timezone=True)
INDEXED = ("document_id", "placement_id", "source_sha256", "student_number", "company_number",
           "signed_first_at", "signed_last_at", "retention_until", "last_timestamp_expires_at")
COMPOSITE = {
    "ix_archive_entries_year_signed": ["academic_year", "signed_last_at"],
    "ix_archive_entries_kind_signed": ["document_kind", "signed_last_at"],
    "ix_archive_entries_year_kind": ["academic_year", "document_kind", "signed_last_at"],
}


def upgrade() -> None:
    op.create_table(
        "archive_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("placement_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("report_sha256", sa.String(length=64), nullable=False),
        sa.Column("academic_year", sa.String(length=9), nullable=False),
        sa.Column("document_kind", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("student_number", sa.String(length=20), nullable=False),
        sa.Column("student_name", sa.String(length=201), nullable=False),
        sa.Column("company_name", sa.String(length=200), nullable=False),
        sa.Column("company_number", sa.String(length=12), nullable=False),
        sa.Column("signed_first_at", UTC, nullable=False),
        sa.Column("signed_last_at", UTC, nullable=False),
        sa.Column("archived_at", UTC, nullable=False),
        sa.Column("retention_until", sa.Date(), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("long_term_ok", sa.Boolean(), nullable=False),
        sa.Column("last_timestamp_at", UTC, nullable=False),
        sa.Column("last_timestamp_expires_at", UTC, nullable=False),
        sa.Column("retention_locked", sa.Boolean(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("superseded_at", UTC, nullable=True),
        sa.Column("last_verified_at", UTC, nullable=True),
        sa.Column("last_verified_ok", sa.Boolean(), nullable=True),
        sa.Column("purged_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"]),
        sa.ForeignKeyConstraint(["placement_id"], ["placements.id"]),
        sa.ForeignKeyConstraint(["supersedes_id"], ["archive_entries.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "version"),
        sa.UniqueConstraint("sha256"),
    )
    for column in INDEXED:
        op.create_index(f"ix_archive_entries_{column}", "archive_entries", [column])
    for name, columns in COMPOSITE.items():
        op.create_index(name, "archive_entries", columns)

    op.create_table(
        "archive_terms",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=10), nullable=False),
        sa.Column("term", sa.String(length=100).with_variant(
            sa.String(length=100, collation="C"), "postgresql"), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["archive_entries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("entry_id", "field", "term"),
    )
    op.create_index("ix_archive_terms_lookup", "archive_terms", ["field", "term", "entry_id"])

    op.create_table(
        "archive_states",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"]),
        sa.ForeignKeyConstraint(["entry_id"], ["archive_entries.id"]),
        sa.PrimaryKeyConstraint("document_id"),
    )


def downgrade() -> None:
    op.drop_table("archive_states")
    op.drop_index("ix_archive_terms_lookup", table_name="archive_terms")
    op.drop_table("archive_terms")
    for name in COMPOSITE:
        op.drop_index(name, table_name="archive_entries")
    for column in INDEXED:
        op.drop_index(f"ix_archive_entries_{column}", table_name="archive_entries")
    op.drop_table("archive_entries")
