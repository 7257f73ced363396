"""accent-folded search keys (issue 5)

Revision ID: 0006_search
Revises: 0005_jobs
"""

revision = "0006_search"
down_revision = "0005_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
