"""desk: revisions whose verification is queued for the background job

Revision ID: 0006_verification_queue
Revises: 0005_jobs
"""

import sqlalchemy as sa
from alembic import op

import docservice.models

revision = "0006_verification_queue"
down_revision = "0005_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_verification_queue",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("queued_at", docservice.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )


def downgrade() -> None:
    op.drop_table("desk_verification_queue")
