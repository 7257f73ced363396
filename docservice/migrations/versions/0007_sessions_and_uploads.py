"""security, second round: revocable login sessions; own-certificate uploads grouped

Revision ID: 0007_sessions_and_uploads
Revises: 0006_verification_queue
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0007_sessions_and_uploads"
down_revision = "0006_verification_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), nullable=False,
                                      server_default="0"))
    with op.batch_alter_table("external_signatures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upload_id", sa.String(length=32), nullable=True))
    # Rows of one submission were written together: one request, one upload time.
    table = sa.table("external_signatures", sa.column("id", sa.Integer()),
                     sa.column("signature_request_id", sa.Integer()),
                     sa.column("uploaded_at", sa.DateTime()),
                     sa.column("upload_id", sa.String()), sa.column("status", sa.String()))
    connection = op.get_bind()
    groups: dict[tuple[int, object], list[int]] = {}
    waiting: dict[int, list[tuple[int, object]]] = {}  # request: its waiting uploads, oldest first
    rows = connection.execute(sa.select(table.c.id, table.c.signature_request_id,
                                        table.c.uploaded_at, table.c.status)
                              .order_by(table.c.uploaded_at, table.c.id)).all()
    for row_id, request_id, uploaded_at, status in rows:
        group = (request_id, uploaded_at)
        if group not in groups and status == "awaiting_confirmation":
            waiting.setdefault(request_id, []).append(group)
        groups.setdefault(group, []).append(row_id)
    for ids in groups.values():
        connection.execute(table.update().where(table.c.id.in_(ids))
                           .values(upload_id=uuid.uuid4().hex))
    # Of several uploads waiting for one signer, only the newest can still be accepted.
    for uploads in waiting.values():
        for group in uploads[:-1]:
            connection.execute(table.update().where(
                table.c.id.in_(groups[group]), table.c.status == "awaiting_confirmation",
            ).values(status="superseded"))
    with op.batch_alter_table("external_signatures", schema=None) as batch_op:
        batch_op.alter_column("upload_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index("ix_external_signatures_upload_id", ["upload_id"])


def downgrade() -> None:
    with op.batch_alter_table("external_signatures", schema=None) as batch_op:
        batch_op.drop_index("ix_external_signatures_upload_id")
        batch_op.drop_column("upload_id")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
