"""job queue: transactional mail outbox and job runs (issue 7)

Revision ID: 0005_jobs
Revises: 0004_uploads
"""

import sqlalchemy as sa
from alembic import op

import docservice.models

revision = "0005_jobs"
down_revision = "0004_uploads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=120), nullable=True),
        sa.Column("created_at", docservice.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", docservice.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", docservice.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", docservice.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_runs_name", "job_runs", ["name"])
    op.create_index("ix_job_runs_key", "job_runs", ["key"])
    op.create_index("ix_job_runs_status", "job_runs", ["status"])
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", docservice.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", docservice.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", docservice.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mail_outbox_status", "mail_outbox", ["status"])


def downgrade() -> None:
    op.drop_index("ix_mail_outbox_status", "mail_outbox")
    op.drop_table("mail_outbox")
    op.drop_index("ix_job_runs_status", "job_runs")
    op.drop_index("ix_job_runs_key", "job_runs")
    op.drop_index("ix_job_runs_name", "job_runs")
    op.drop_table("job_runs")
