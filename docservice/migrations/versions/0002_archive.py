"""archive tables (issue 6)

Revision ID: 0002_archive
Revises: 40f160ebb7d5
"""

revision = "0002_archive"
down_revision = "40f160ebb7d5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
