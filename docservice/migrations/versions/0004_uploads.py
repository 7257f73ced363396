"""signing with one's own certificate (issue 4)

Revision ID: 0004_uploads
Revises: 0003_desk
"""

revision = "0004_uploads"
down_revision = "0003_desk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
