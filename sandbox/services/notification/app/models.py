"""logs_db: notification's table (schema by Alembic, version table
alembic_version_notification).  user_id is a plain integer (users live in auth_db)."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ENUM, JSONB

metadata = sa.MetaData()

NotificationChannel = ENUM("email", "sms", "in_app", name="notificationchannel", create_type=False)

notifications = sa.Table(
    "notifications", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("channel", NotificationChannel, nullable=False, server_default="email"),
    sa.Column("subject", sa.Text),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("payload", JSONB),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("read_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
