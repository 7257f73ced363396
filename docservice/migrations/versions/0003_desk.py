"""coordinator's desk tables (issue 5)

Revision ID: 0003_desk
Revises: 0002_archive
"""

revision = "0003_desk"
down_revision = "0002_archive"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
