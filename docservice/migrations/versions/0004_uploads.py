"""signing with one's own certificate (issue 4)

Revision ID: 0004_uploads
Revises: 0003_desk
"""

import sqlalchemy as sa
from alembic import op

import docservice.models

revision = "0004_uploads"
down_revision = "0003_desk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "external_signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signature_request_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("base_sha256", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("signer_name", sa.String(length=200), nullable=False),
        sa.Column("certificate_subject", sa.String(length=400), nullable=False),
        sa.Column("qualified", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("uploaded_at", docservice.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", docservice.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"]),
        sa.ForeignKeyConstraint(["signature_request_id"], ["signature_requests.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_external_signatures_signature_request_id", "external_signatures",
                    ["signature_request_id"])


def downgrade() -> None:
    op.drop_index("ix_external_signatures_signature_request_id", "external_signatures")
    op.drop_table("external_signatures")
