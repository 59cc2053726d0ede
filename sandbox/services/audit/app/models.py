"""logs_db: audit's partitioned table (schema by Alembic, version table alembic_version_audit)."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import INET

metadata = sa.MetaData()

# PARTITION BY RANGE (created_at): access_logs_2025, _2026 and _default (see migrations).
access_logs = sa.Table(
    "access_logs", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True),  # bigserial
    sa.Column("user_id", sa.Integer),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("status", sa.SmallInteger, nullable=False),
    sa.Column("ip", INET),
    sa.Column("user_agent", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), primary_key=True, server_default=sa.func.now()),
)
