"""audit: index access_logs by user (cascades to every partition)

Revision ID: 4e6a8c0b2d93
Revises: 0d3f5b7a9c12
Create Date: 2025-02-03 09:00:00
"""
from alembic import op

revision = "4e6a8c0b2d93"
down_revision = "0d3f5b7a9c12"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("CREATE INDEX ix_access_logs_user_id ON access_logs (user_id)")


def downgrade():
    op.execute("DROP INDEX ix_access_logs_user_id")
