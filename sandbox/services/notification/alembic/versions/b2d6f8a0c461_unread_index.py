"""notification: partial index for the inbox (unread notifications)

Revision ID: b2d6f8a0c461
Revises: 9a4c1e7b3d50
Create Date: 2025-02-03 09:00:00
"""
from alembic import op

revision = "b2d6f8a0c461"
down_revision = "9a4c1e7b3d50"
branch_labels = None
depends_on = None


def upgrade():
    # The inbox query only looks at unread notifications.
    op.execute("CREATE INDEX ix_notifications_unread ON notifications (user_id) WHERE read_at IS NULL")


def downgrade():
    op.execute("DROP INDEX ix_notifications_unread")
