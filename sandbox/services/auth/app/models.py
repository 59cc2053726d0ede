"""auth_db tables (schema created by Alembic: ENUM types are create_type=False)."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ENUM, UUID

from yemma_common.sqltypes import CIText

metadata = sa.MetaData()

UserStatus = ENUM("pending", "active", "suspended", "deleted", name="userstatus", create_type=False)

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", CIText, nullable=False),
    sa.Column("hashed_password", sa.Text, nullable=False),
    sa.Column("full_name", sa.Text),
    sa.Column("status", UserStatus, nullable=False, server_default="pending"),
    sa.Column("is_superuser", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

roles = sa.Table(
    "roles", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False, unique=True),
    sa.Column("description", sa.Text),
)

user_roles = sa.Table(
    "user_roles", metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role_id", sa.Integer, sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)

refresh_tokens = sa.Table(
    "refresh_tokens", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(always=False), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("token", sa.String(128), nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

admin_invitation_tokens = sa.Table(
    "admin_invitation_tokens", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
    sa.Column("email", CIText, nullable=False),
    sa.Column("invited_by", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("used_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
