"""audit: access_logs, partitioned by year (range on created_at)

schema.sql's audit section (access_logs has no foreign key).  Touches only
audit's objects: logs_db is shared with notification (own version table
alembic_version_audit).

Revision ID: 0d3f5b7a9c12
Revises:
Create Date: 2025-01-06 09:00:00
"""
from alembic import op

revision = "0d3f5b7a9c12"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute("""
        CREATE TABLE access_logs (
            id         bigserial,
            user_id    integer,
            method     varchar(8) NOT NULL,
            path       text NOT NULL,
            status     smallint NOT NULL,
            ip         inet,
            user_agent text,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (id, created_at)
        ) PARTITION BY RANGE (created_at)
    """)
    op.execute("""
        CREATE TABLE access_logs_2025 PARTITION OF access_logs
            FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')
    """)
    op.execute("""
        CREATE TABLE access_logs_2026 PARTITION OF access_logs
            FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
    """)
    # Rows outside the yearly partitions (older or future dates) land here.
    op.execute("CREATE TABLE access_logs_default PARTITION OF access_logs DEFAULT")


def downgrade():
    op.execute("DROP TABLE access_logs")  # drops its partitions too
