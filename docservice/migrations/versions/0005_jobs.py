"""job queue: transactional mail outbox and job runs (issue 7)

Revision ID: 0005_jobs
Revises: 0004_uploads
"""

revision = "0005_jobs"
down_revision = "0004_uploads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
